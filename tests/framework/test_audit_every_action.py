"""G1 (docs/guarantees.md, row A11): every staff action is in the audit log.

Every POST route of the admin app — read from the app's router, so a route added later is met
here — is performed once (or once per variant: each hardship decision, each bulk action) by a
logged-in admin, over HTTP with the form's CSRF token, with a valid payload, on the real test
database. After each one, exactly the expected audit row(s) appeared (action, target, the staff
member who did it, not refused), and the action had its effect (the record changed).

A POST route that is neither in `CASES` nor in `NOT_ACTIONS` fails the test, named: add how to
perform it (and what it must record) to `CASES`, or say in `NOT_ACTIONS` why it is no action.

Refusals (an account whose role doesn't allow the route) are walked for every route and every
role by `tests/framework/test_permissions.py::test_every_route_with_every_role`, which requires
one refused audit row per refusal: not repeated here.
"""
from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from sqlalchemy import func, select

from bot.admin import staff as staff_ops
from bot.admin.sessions import COOKIE
from bot.db.models.chairs import Chair, ChairBindCode, ChairReport
from bot.db.models.core import AuditLog, Member, Outbox, Staff, StaffSession
from bot.db.models.hardship import HardshipRequest
from bot.db.models.inbox import FaqEntry, InboxMessage, InboxSnippet, InboxThread
from bot.db.models.quiz import QuizPeriod, QuizPeriodQuestion, QuizQuestion
from bot.db.models.signup import Activity, Signup
from bot.keys import CLOCK
from handlers.hardship import ops as hardship_ops
from handlers.signup import ops as signup_ops
from tests.common.test_menu_editor import VALID, form_of
from tests.framework.test_permissions import admin_app
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, login
from tests.support.chairs import make_chair
from tests.support.hardship import ops_ctx as hardship_ctx
from tests.support.inbox import add_member, add_thread, open_thread
from tests.support.quiz import add_bank, add_period
from tests.support.settings import make_settings
from tests.support.signup import make_activity, ops_ctx as signup_ctx

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
COMMUNITIES = ["幸福社区", "和平社区"]

# POST routes that are no staff action (nothing recorded, by design), each with why. Login and
# logout are actions here (auth.login / auth.logout rows), so they are walked like the others.
NOT_ACTIONS: dict[str, str] = {}


@pytest.fixture
def settings(db_url, tmp_path, fake_wechat):  # noqa: ANN001, ANN201
    """Online (the fake WeChat API: 签到二维码 and 发布菜单 call it) with two communities."""
    return make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config(),
                         federation={"communities": COMMUNITIES})


@dataclass
class Case:
    """One POST: where, what, the audit rows it must add ((action, target) in order; target
    None: not checked) and its effect (an async check that fails when nothing changed)."""

    label: str
    url: str
    data: dict[str, Any] | list[tuple[str, str]] | None = None
    audit: list[tuple[str, str | None]] = field(default_factory=list)
    effect: Callable[[], Awaitable[None]] | None = None
    client: Any = None  # default: the admin's client
    staff_id: int | None = None  # default: the admin's id
    upload: tuple[str, bytes] | None = None  # (file name, content) for a `file` field
    status: tuple[int, ...] = (200, 303)


@dataclass
class World:
    app: Any
    db: Any
    clock: Any
    settings: Any
    server: Any
    aiohttp_client: Any
    client: Any
    admin: Staff
    app_admin: Any = None  # the admin sub-application (its router)
    n: int = 0

    def next(self) -> int:
        self.n += 1
        return self.n

    async def get(self, model: Any, id_: int) -> Any:
        async with self.db() as s:
            return await s.get(model, id_)

    async def count(self, stmt: Any) -> int:
        async with self.db() as s:
            return await s.scalar(select(func.count()).select_from(stmt.subquery()))

    async def new_client(self, username: str = "staff1", password: str = DEFAULT_PASSWORD) -> Any:
        c = await self.aiohttp_client(self.server)
        await login(c, username, password)
        return c

    # --- records ---
    async def member(self, **kw: Any) -> Member:
        i = self.next()
        openid = f"oW{i}"
        await add_member(self.db, self.clock, openid, name=kw.get("name", "王小明"),
                         phone=kw.get("phone", f"1380000{i:04d}"), community=kw.get("community"))
        async with self.db() as s:
            return await s.scalar(select(Member).where(Member.openid == openid))

    async def hardship(self, *steps: str) -> HardshipRequest:
        """A request moved through `steps` (ops names) by the admin."""
        m = await self.member()
        ctx = hardship_ctx(self.app, staff_id=self.admin.id)
        async with self.db() as s, s.begin():
            req = await hardship_ops.submit_request(
                s, hardship_ctx(self.app), openid=m.openid, consent_version="2026-1",
                data={"kind": "因病", "description": "母亲住院做手术，自付医药费很多。", "household": 3,
                      "income": 4500, "expenses": 1500, "name": "王小明", "phone": m.phone,
                      "employer": "环卫所", "id_number": "11010519491231002X", "photos": []})
            for step in steps:
                if step == "reject":
                    await hardship_ops.reject(s, ctx, req.id, reason="收入超过标准。")
                elif step == "deliver":
                    await hardship_ops.deliver(s, ctx, req.id, amount=500.0, aid_kind="", aid_date=date(2026, 11, 24))
                else:
                    await getattr(hardship_ops, step)(s, ctx, req.id)
            return req

    async def activity(self) -> Activity:
        return await make_activity(self.db, self.clock, title=f"培训{self.next()}", capacity=5)

    async def signup(self, *, checked_in: bool = False) -> tuple[int, int]:
        act = await self.activity()
        m = await self.member()
        async with self.db() as s, s.begin():
            member = await s.get(Member, m.id)
            res = await signup_ops.sign_up(s, signup_ctx(self.clock), act.id, member, name="王小明",
                                           phone=m.phone, employer="环卫所")
            sid = res.signup.id
            if checked_in:
                await signup_ops.staff_check_in(s, signup_ctx(self.clock), act.id, sid)
        return act.id, sid

    async def chair(self) -> Chair:
        i = self.next()
        return await make_chair(self.db, self.clock, self.settings, name="王建国", org=f"第{i}工会",
                                community="东湖社区", mobile=f"1370000{i:04d}")

    async def thread(self, status: str = "open") -> int:
        m = await self.member()
        return await add_thread(self.db, self.clock, m.openid, [("worker", "你好，想问一下工伤认定。")], status=status)

    async def other_staff(self, *, logged_in: bool = False) -> tuple[Staff, Any]:
        i = self.next()
        st = await create_staff_user(self.db, f"colleague{i}", display_name=f"同事{i}", roles=("events",))
        return st, (await self.new_client(st.username) if logged_in else None)

    async def live_sessions(self, staff_id: int) -> set[str]:
        async with self.db() as s:
            return set(await s.scalars(select(StaffSession.id).where(
                StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))))


def _sid(client: Any) -> str:
    """The session id (SHA-256 of the cookie's token) of a logged-in client."""
    token = next(c.value for c in client.session.cookie_jar if c.key == COOKIE)
    return hashlib.sha256(token.encode("ascii")).hexdigest()


async def _logged_out(client: Any) -> None:
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status in (302, 303) and "/admin/login" in resp.headers["Location"], resp.status


def check(cond: Callable[[], Awaitable[bool]], what: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        assert await cond(), f"no effect: {what}"
    return run


# ---------------------------------------------------------------------------------- the table
Builder = Callable[[World], Awaitable[list[Case]]]
CASES: dict[str, Builder] = {}


def case(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        CASES[name] = fn
        return fn
    return register


# --- the site's own ---
@case("login")
async def _login(w: World) -> list[Case]:
    c = await w.aiohttp_client(w.server)
    token = await csrf_at(c, "/admin/login")
    return [Case("login", "/admin/login", {"_csrf": token, "username": "staff1", "password": DEFAULT_PASSWORD,
                                            "next": "/admin/"}, [("auth.login", "staff1")], client=c,
                 effect=check(lambda: _ok(c), "logged in"))]


async def _ok(c: Any) -> bool:
    return (await c.get("/admin/", allow_redirects=False)).status == 200


@case("logout")
async def _logout(w: World) -> list[Case]:
    c = await w.new_client()
    return [Case("logout", "/admin/logout", {}, [("auth.logout", "staff1")], client=c, effect=lambda: _logged_out(c))]


@case("home.reveal_contact")
async def _reveal_contact(w: World) -> list[Case]:
    oid = await _unreachable(w)
    return [Case("reveal", f"/admin/outbox/{oid}/contact", {}, [("member.reveal_phone", f"outbox:{oid}")])]


async def _unreachable(w: World, followed: bool = False) -> int:
    m = await w.member()
    now = w.clock.now()
    async with w.db() as s, s.begin():
        row = Outbox(key=f"t:{w.next()}", openid=m.openid, purpose=hardship_ops.NOTIFY_PURPOSE, payload={"text": "x"},
                     status="unreachable", next_attempt_at=now, created_at=now,
                     followed_up_at=now if followed else None, followed_up_by=w.admin.id if followed else None)
        s.add(row)
        await s.flush()
        return row.id


@case("home.follow_up_done")
async def _follow_done(w: World) -> list[Case]:
    oid = await _unreachable(w)
    return [Case("done", f"/admin/outbox/{oid}/followed-up", {}, [("member.follow_up_done", f"outbox:{oid}")],
                 effect=check(lambda: _followed(w, oid, True), "marked followed up"))]


async def _followed(w: World, oid: int, done: bool) -> bool:
    return ((await w.get(Outbox, oid)).followed_up_at is not None) == done


@case("home.follow_up_undo")
async def _follow_undo(w: World) -> list[Case]:
    oid = await _unreachable(w, followed=True)
    return [Case("undo", f"/admin/outbox/{oid}/follow-up/undo", {}, [("member.follow_up_undo", f"outbox:{oid}")],
                 effect=check(lambda: _followed(w, oid, False), "back on the list"))]


@case("me.password")
async def _password(w: World) -> list[Case]:
    # Another admin (a password change ends the changer's other sessions: not the walk's client).
    st = await create_staff_user(w.db, "admin2", display_name="管理员二", roles=("admin",))
    c = await w.new_client("admin2")

    async def changed() -> bool:
        row = await w.get(Staff, st.id)
        return staff_ops.verify_password(row.password_hash, "another-horse-42")
    return [Case("password", "/admin/me/password", {"current": DEFAULT_PASSWORD, "new": "another-horse-42",
                                                     "again": "another-horse-42"},
                 [("auth.password_change", "admin2")], client=c, staff_id=st.id, effect=check(changed, "new password"))]


@case("me.end_others")
async def _end_others(w: World) -> list[Case]:
    other = await w.new_client()
    sid = _sid(other)
    return [Case("end others", "/admin/me/sessions/end-others", {}, [("staff.end_sessions", "staff1")],
                 effect=check(lambda: _revoked(w, sid), "other session ended"))]


async def _revoked(w: World, sid: str) -> bool:
    return (await w.get(StaffSession, sid)).revoked_at is not None


@case("me.end_session")
async def _end_session(w: World) -> list[Case]:
    other = await w.new_client()
    sid = _sid(other)
    return [Case("end one", f"/admin/me/sessions/{sid}/end", {}, [("staff.end_sessions", "staff1")],
                 effect=check(lambda: _revoked(w, sid), "that session ended"))]


@case("staff.add")
async def _staff_add(w: World) -> list[Case]:
    async def exists() -> bool:
        return await w.count(select(Staff).where(Staff.username == "newcomer")) == 1
    return [Case("add", "/admin/staff/add", [("username", "newcomer"), ("display_name", "新同事"), ("roles", "events"),
                                              ("community", "")],
                 [("staff.create", "newcomer")], effect=check(exists, "account created"))]


@case("staff.update")
async def _staff_update(w: World) -> list[Case]:
    st, _ = await w.other_staff()

    async def renamed() -> bool:
        return (await w.get(Staff, st.id)).display_name == "改名同事"
    return [Case("update", f"/admin/staff/{st.id}/update", [("display_name", "改名同事"), ("roles", "events"),
                                                             ("community", "")],
                 [("staff.update", st.username)], effect=check(renamed, "renamed"))]


@case("staff.active")
async def _staff_active(w: World) -> list[Case]:
    st, _ = await w.other_staff()

    def active(want: bool) -> Callable[[], Awaitable[None]]:
        return check(lambda: _is_active(w, st.id, want), f"active={want}")
    return [Case("deactivate", f"/admin/staff/{st.id}/active", {"active": "0"}, [("staff.deactivate", st.username)],
                 effect=active(False)),
            Case("reactivate", f"/admin/staff/{st.id}/active", {"active": "1"}, [("staff.reactivate", st.username)],
                 effect=active(True))]


async def _is_active(w: World, staff_id: int, want: bool) -> bool:
    return (await w.get(Staff, staff_id)).active == want


@case("staff.reset")
async def _staff_reset(w: World) -> list[Case]:
    st, _ = await w.other_staff()

    async def must_change() -> bool:
        return (await w.get(Staff, st.id)).must_change_password
    return [Case("reset", f"/admin/staff/{st.id}/reset", {}, [("staff.reset_password", st.username)],
                 effect=check(must_change, "temporary password"))]


@case("staff.end_sessions")
async def _staff_end(w: World) -> list[Case]:
    st, c = await w.other_staff(logged_in=True)
    return [Case("end sessions", f"/admin/staff/{st.id}/end-sessions", {}, [("staff.end_sessions", st.username)],
                 effect=lambda: _logged_out(c))]


# --- 公众号设置 ---
async def _menu_stored(w: World) -> bool:
    from bot import menu
    async with w.db() as s:
        return await menu.stored_menu(s) is not None


@case("account.menu_save")
async def _menu_save(w: World) -> list[Case]:
    def form(action: str) -> dict[str, str]:
        return {k: v for k, v in form_of(VALID, action).items() if k != "_csrf"}
    return [Case("save", "/admin/account/menu", form("save"), [("menu.save", "menu")],
                 effect=check(lambda: _menu_stored(w), "menu stored")),
            Case("publish", "/admin/account/menu", form("publish"), [("menu.save", "menu"), ("menu.publish", "menu")],
                 effect=check(lambda: _menu_stored(w), "menu stored"))]


@case("account.menu_reset")
async def _menu_reset(w: World) -> list[Case]:
    async def cleared() -> bool:
        return not await _menu_stored(w)
    from bot import menu
    from tests.common.test_menu_editor import VALID_JSON
    async with w.db() as s, s.begin():
        await menu.save_menu(s, VALID_JSON, now=w.clock.now(), staff_id=w.admin.id)
    return [Case("reset", "/admin/account/menu/reset", {}, [("menu.reset", "menu")], effect=check(cleared, "cleared"))]


async def _text(w: World, key: str) -> str | None:
    from handlers.common import texts
    async with w.db() as s:
        return await texts.stored_text(s, key, fresh=True)


@case("account.texts_save")
async def _texts_save(w: World) -> list[Case]:
    from handlers.common import texts
    welcome = "欢迎关注幸福街道总工会！有困难，找工会。"

    async def saved() -> bool:
        return await _text(w, "welcome") == welcome
    return [Case("save", "/admin/account/texts", {"welcome": welcome, "help": texts.default_text("help", w.settings),
                                                  "action": "save"},
                 [("texts.edit", "welcome")], effect=check(saved, "welcome stored"))]


@case("account.texts_reset")
async def _texts_reset(w: World) -> list[Case]:
    async def reset() -> bool:
        return await _text(w, "welcome") is None
    from handlers.common import texts
    async with w.db() as s, s.begin():
        await texts.set_text(s, "welcome", "一段改过的欢迎语。", w.admin.id, w.clock.now())
    return [Case("reset", "/admin/account/texts/reset", {"key": "welcome"}, [("texts.reset", "welcome")],
                 effect=check(reset, "welcome back to default"))]


# --- 帮扶审核 ---
def _status(w: World, req_id: int, want: str) -> Callable[[], Awaitable[None]]:
    async def ok() -> bool:
        return (await w.get(HardshipRequest, req_id)).status == want
    return check(ok, f"request {req_id} {want}")


@case("hardship.bulk")
async def _hardship_bulk(w: World) -> list[Case]:
    view = w.app_admin.router["hardship.bulk"]
    names = _bulk_names(view)
    assert names == ["start_review"], f"hardship's bulk actions changed ({names}): add each one here"
    req = await w.hardship()
    return [Case("start_review", "/admin/hardship/bulk", [("action", "start_review"), ("ids", str(req.id)),
                                                           ("back", "/admin/hardship")],
                 [("hardship.start_review", req.ref)], effect=_status(w, req.id, "reviewing"))]


def _bulk_names(resource: Any) -> list[str]:
    route = next(iter(resource))
    return [a.name for a in route.handler.__self__.actions]


@case("hardship.create")
async def _hardship_create(w: World) -> list[Case]:
    async def created() -> bool:
        return await w.count(select(HardshipRequest).where(HardshipRequest.name == "代办人")) == 1
    data = {"openid": "", "kind": "因病", "description": "母亲住院做手术，自付医药费很多。", "household": "3",
            "income": "4500", "expenses": "1500", "name": "代办人", "phone": "13700009999", "employer": "环卫所",
            "id_number": "", "community": "", "consent": "1"}
    return [Case("submit_for", "/admin/hardship/new", data, [("hardship.submit_for", None)],
                 effect=check(created, "request recorded"))]


HARDSHIP_ACTS: dict[str, tuple[tuple[str, ...], dict[str, str], str]] = {
    # action: (the steps before it, the form, the status after it)
    "start_review": ((), {}, "reviewing"),
    "request_more": (("start_review",), {"message": "请补充医院的费用清单。"}, "waiting"),
    "approve": (("start_review",), {"message": ""}, "approved"),
    "reject": (("start_review",), {"message": "收入超过标准。"}, "rejected"),
    "deliver": (("start_review", "approve"), {"amount": "500", "aid_kind": "", "aid_date": "2026-11-24"}, "delivered"),
    "close": (("start_review", "reject"), {}, "closed"),
}


@case("hardship.act")
async def _hardship_act(w: World) -> list[Case]:
    assert set(HARDSHIP_ACTS) == set(hardship_ops.STAFF_ACTIONS), "a hardship decision without a case here"
    out = []
    for action, (steps, form, after) in HARDSHIP_ACTS.items():
        req = await w.hardship(*steps)
        out.append(Case(action, f"/admin/hardship/{req.id}/act/{action}", form, [(f"hardship.{action}", req.ref)],
                        effect=_status(w, req.id, after)))
    return out


@case("hardship.note")
async def _hardship_note(w: World) -> list[Case]:
    req = await w.hardship()

    async def noted() -> bool:
        from bot.db.models.hardship import HardshipEvent
        return await w.count(select(HardshipEvent).where(HardshipEvent.request_id == req.id,
                                                         HardshipEvent.action == "note")) == 1
    return [Case("note", f"/admin/hardship/{req.id}/note", {"text": "已电话核实。"}, [("hardship.note", req.ref)],
                 effect=check(noted, "note on the timeline"))]


@case("hardship.assign")
async def _hardship_assign(w: World) -> list[Case]:
    req = await w.hardship()

    async def assigned() -> bool:
        return (await w.get(HardshipRequest, req.id)).assigned_staff_id == w.admin.id
    return [Case("assign", f"/admin/hardship/{req.id}/assign", {"assignee": str(w.admin.id)},
                 [("hardship.assign", req.ref)], effect=check(assigned, "assigned"))]


@case("hardship.community")
async def _hardship_community(w: World) -> list[Case]:
    req = await w.hardship()

    async def moved() -> bool:
        return (await w.get(HardshipRequest, req.id)).community == "和平社区"
    return [Case("community", f"/admin/hardship/{req.id}/community", {"community": "和平社区"},
                 [("hardship.set_community", req.ref)], effect=check(moved, "community set"))]


@case("hardship.correct")
async def _hardship_correct(w: World) -> list[Case]:
    req = await w.hardship("start_review", "reject")
    return [Case("reopen", f"/admin/hardship/{req.id}/correct", {"kind": "reopen", "reason": "误点了不予通过。"},
                 [("hardship.correct", req.ref)], effect=_status(w, req.id, "reviewing"))]


@case("hardship.reveal")
async def _hardship_reveal(w: World) -> list[Case]:
    req = await w.hardship()
    # A reveal changes nothing but the page, which shows the value after the audit row.
    return [Case(f"reveal {field_}", f"/admin/hardship/{req.id}/reveal", {"field": field_}, [(action, req.ref)],
                 effect=check(lambda value=value: _shown(w, f"/admin/hardship/{req.id}", value), "value shown"))
            for field_, action, value in (("id", "hardship.reveal_id", "11010519491231002X"),
                                          ("phone", "hardship.reveal_phone", req.phone))]


async def _shown(w: World, page: str, value: str) -> bool:
    return value in await (await w.client.get(page)).text()


# --- 活动报名 ---
ACTIVITY_FORM = {"kind": "training", "title": "安全生产培训", "description": "持证上岗复训", "place": "街道职工之家",
                 "starts_at": "2026-12-10 14:00", "ends_at": "2026-12-10 16:00", "deadline": "", "capacity": "30",
                 "waitlist": "1", "audience": "辖区企业职工", "community": ""}


@case("signup.create")
async def _signup_create(w: World) -> list[Case]:
    async def created() -> bool:
        return await w.count(select(Activity).where(Activity.title == "安全生产培训")) == 1
    return [Case("create", "/admin/signup/new", ACTIVITY_FORM, [("signup.create", None)],
                 effect=check(created, "activity created"))]


@case("signup.save")
async def _signup_save(w: World) -> list[Case]:
    act = await w.activity()

    async def edited() -> bool:
        return (await w.get(Activity, act.id)).title == "安全生产培训（改期）"
    return [Case("edit", f"/admin/signup/{act.id}/edit", {**ACTIVITY_FORM, "title": "安全生产培训（改期）"},
                 [("signup.edit", f"activity:{act.id}")], effect=check(edited, "activity edited"))]


@case("signup.cancel")
async def _signup_cancel(w: World) -> list[Case]:
    act = await w.activity()

    async def cancelled() -> bool:
        return (await w.get(Activity, act.id)).status == "cancelled"
    return [Case("cancel", f"/admin/signup/{act.id}/cancel", {"reason": "场地维修"}, [("signup.cancel", f"activity:{act.id}")],
                 effect=check(cancelled, "activity cancelled"))]


@case("signup.qr")
async def _signup_qr(w: World) -> list[Case]:
    act = await w.activity()

    async def made() -> bool:
        return bool((await w.get(Activity, act.id)).qr_ticket)
    return [Case("qr", f"/admin/signup/{act.id}/qr", {}, [("signup.qr", f"activity:{act.id}")],
                 effect=check(made, "QR code ticket stored"))]


@case("signup.enrol_save")
async def _signup_enrol(w: World) -> list[Case]:
    act = await w.activity()

    async def enrolled() -> bool:
        return await w.count(select(Signup).where(Signup.activity_id == act.id, Signup.name == "赵代报")) == 1
    return [Case("enrol", f"/admin/signup/{act.id}/add", {"name": "赵代报", "phone": "13600001111", "employer": "纺织厂"},
                 [("signup.enrol", None)], effect=check(enrolled, "signed up on behalf"))]


def _attended(w: World, sid: int, want: bool) -> Callable[[], Awaitable[None]]:
    async def ok() -> bool:
        return ((await w.get(Signup, sid)).attended_at is not None) == want
    return check(ok, f"signup {sid} attended={want}")


@case("signup.checkin_bulk")
async def _signup_checkin_bulk(w: World) -> list[Case]:
    aid, sid = await w.signup()
    return [Case("checkin batch", f"/admin/signup/{aid}/checkin", [("ids", str(sid))], [("signup.checkin", f"signup:{sid}")],
                 effect=_attended(w, sid, True))]


@case("signup.checkin")
async def _signup_checkin(w: World) -> list[Case]:
    aid, sid = await w.signup()
    return [Case("checkin", f"/admin/signup/{aid}/signups/{sid}/checkin", {}, [("signup.checkin", f"signup:{sid}")],
                 effect=_attended(w, sid, True))]


@case("signup.checkin_undo")
async def _signup_checkin_undo(w: World) -> list[Case]:
    aid, sid = await w.signup(checked_in=True)
    return [Case("undo", f"/admin/signup/{aid}/signups/{sid}/uncheckin", {}, [("signup.checkin_undo", f"signup:{sid}")],
                 effect=_attended(w, sid, False))]


@case("signup.cancel_one")
async def _signup_cancel_one(w: World) -> list[Case]:
    aid, sid = await w.signup()

    async def cancelled() -> bool:
        return (await w.get(Signup, sid)).status == "cancelled"
    return [Case("cancel one", f"/admin/signup/{aid}/signups/{sid}/cancel", {}, [("signup.cancel_one", f"signup:{sid}")],
                 effect=check(cancelled, "sign-up cancelled"))]


@case("signup.reveal")
async def _signup_reveal(w: World) -> list[Case]:
    aid, sid = await w.signup()
    phone = (await w.get(Signup, sid)).phone
    return [Case("reveal", f"/admin/signup/{aid}/signups/{sid}/contact", {}, [("signup.reveal_phone", f"signup:{sid}")],
                 effect=check(lambda: _shown(w, f"/admin/signup/{aid}", phone), "phone shown"))]


# --- 每月一题 ---
@case("quiz.period_create")
async def _quiz_create(w: World) -> list[Case]:
    await add_bank(w.db, w.clock, 3)

    async def created() -> bool:
        return await w.count(select(QuizPeriod).where(QuizPeriod.code == "2027-01")) == 1
    return [Case("create", "/admin/quiz/periods", {"code": "2027-01", "count": "1", "opens_at": "", "closes_at": "",
                                                   "reveal": "immediate"},
                 [("quiz.period_create", "2027-01")], effect=check(created, "period created"))]


async def _period(w: World, code: str) -> tuple[str, list[int]]:
    qids = await add_bank(w.db, w.clock, 2)
    await add_period(w.db, w.clock, code, qids[:1])
    return code, qids


@case("quiz.period_edit")
async def _quiz_edit(w: World) -> list[Case]:
    code, _ = await _period(w, "2027-02")

    async def edited() -> bool:
        async with w.db() as s:
            return (await s.scalar(select(QuizPeriod).where(QuizPeriod.code == code))).reveal == "after_close"
    return [Case("edit", f"/admin/quiz/periods/{code}/edit", {"opens_at": "", "closes_at": "", "reveal": "after_close"},
                 [("quiz.period_edit", code)], effect=check(edited, "reveal changed"))]


@case("quiz.period_questions")
async def _quiz_questions(w: World) -> list[Case]:
    code, qids = await _period(w, "2027-03")

    async def chosen() -> bool:
        async with w.db() as s:
            pid = await s.scalar(select(QuizPeriod.id).where(QuizPeriod.code == code))
            return list(await s.scalars(select(QuizPeriodQuestion.question_id).where(
                QuizPeriodQuestion.period_id == pid))) == [qids[1]]
    return [Case("choose", f"/admin/quiz/periods/{code}/questions", {"ids": str(qids[1])},
                 [("quiz.period_questions", code)], effect=check(chosen, "questions set"))]


@case("quiz.period_delete")
async def _quiz_delete(w: World) -> list[Case]:
    code, _ = await _period(w, "2027-04")

    async def gone() -> bool:
        return await w.count(select(QuizPeriod).where(QuizPeriod.code == code)) == 0
    return [Case("delete", f"/admin/quiz/periods/{code}/delete", {}, [("quiz.period_delete", code)],
                 effect=check(gone, "period deleted"))]


def _removed(w: World, qid: int, want: bool) -> Callable[[], Awaitable[None]]:
    async def ok() -> bool:
        return ((await w.get(QuizQuestion, qid)).deleted_at is not None) == want
    return check(ok, f"question {qid} removed={want}")


@case("quiz.bank_bulk")
async def _quiz_bulk(w: World) -> list[Case]:
    names = _bulk_names(w.app_admin.router["quiz.bank_bulk"])
    assert names == ["remove", "restore"], f"the bank's bulk actions changed ({names}): add each one here"
    (qid,) = await add_bank(w.db, w.clock, 1)
    return [Case("remove", "/admin/quiz/questions/bulk", [("action", "remove"), ("ids", str(qid))],
                 [("quiz.question_delete", f"question:{qid}")], effect=_removed(w, qid, True)),
            Case("restore", "/admin/quiz/questions/bulk", [("action", "restore"), ("ids", str(qid))],
                 [("quiz.question_restore", f"question:{qid}")], effect=_removed(w, qid, False))]


@case("quiz.upload")
async def _quiz_upload(w: World) -> list[Case]:
    before = await w.count(select(QuizQuestion))

    async def added() -> bool:
        return await w.count(select(QuizQuestion)) > before
    data = (SAMPLES / "quiz-questions.csv").read_bytes()
    return [Case("import", "/admin/quiz/questions/import", None, [("quiz.import", "quiz-questions.csv")],
                 upload=("quiz-questions.csv", data), effect=check(added, "questions imported"))]


QUESTION_FORM = {"stem": "工会会员大会多久至少召开一次？", "optA": "每年", "optB": "每五年", "optC": "", "optD": "",
                 "optE": "", "optF": "", "answer": "A", "explanation": "每年至少一次。", "topic": "工会法",
                 "difficulty": "2"}


@case("quiz.question_new")
async def _quiz_new(w: World) -> list[Case]:
    async def created() -> bool:
        return await w.count(select(QuizQuestion).where(QuizQuestion.stem == QUESTION_FORM["stem"])) == 1
    return [Case("create", "/admin/quiz/questions/new", QUESTION_FORM, [("quiz.question_create", None)],
                 effect=check(created, "question created"))]


@case("quiz.question")
async def _quiz_edit_question(w: World) -> list[Case]:
    (qid,) = await add_bank(w.db, w.clock, 1)

    async def edited() -> bool:
        return (await w.get(QuizQuestion, qid)).stem == "改过的题干：工会会员大会多久开一次？"
    return [Case("edit", f"/admin/quiz/questions/{qid}", {**QUESTION_FORM, "stem": "改过的题干：工会会员大会多久开一次？"},
                 [("quiz.question_edit", f"question:{qid}")], effect=check(edited, "question edited"))]


@case("quiz.question_delete")
async def _quiz_question_delete(w: World) -> list[Case]:
    (qid,) = await add_bank(w.db, w.clock, 1)
    return [Case("remove", f"/admin/quiz/questions/{qid}/delete", {}, [("quiz.question_delete", f"question:{qid}")],
                 effect=_removed(w, qid, True))]


@case("quiz.question_restore")
async def _quiz_question_restore(w: World) -> list[Case]:
    (qid,) = await add_bank(w.db, w.clock, 1)
    async with w.db() as s, s.begin():
        (await s.get(QuizQuestion, qid)).deleted_at = w.clock.now()
    return [Case("restore", f"/admin/quiz/questions/{qid}/restore", {}, [("quiz.question_restore", f"question:{qid}")],
                 effect=_removed(w, qid, False))]


# --- 主席报送 ---
def _received(w: World, chair_id: int, want: bool) -> Callable[[], Awaitable[None]]:
    async def ok() -> bool:
        n = await w.count(select(ChairReport).where(ChairReport.chair_id == chair_id, ChairReport.quarter == "2026Q4"))
        return (n == 1) == want
    return check(ok, f"chair {chair_id} received={want}")


@case("chairs.grid_bulk")
async def _chairs_bulk(w: World) -> list[Case]:
    names = _bulk_names(w.app_admin.router["chairs.grid_bulk"])
    assert names == ["received"], f"the grid's bulk actions changed ({names}): add each one here"
    chair = await w.chair()
    return [Case("received", "/admin/chairs/bulk", [("action", "received"), ("ids", str(chair.id)),
                                                     ("back", "/admin/chairs?quarter=2026Q4")],
                 [("chairs.received", f"chair:{chair.id}")], effect=_received(w, chair.id, True))]


@case("chairs.add")
async def _chairs_add(w: World) -> list[Case]:
    async def added() -> bool:
        return await w.count(select(Chair).where(Chair.organisation == "新成立工会")) == 1
    return [Case("add", "/admin/chairs/registry", {"name": "钱新", "organisation": "新成立工会", "community": "东湖社区",
                                                   "mobile": "13500001234"},
                 [("chairs.add", None)], effect=check(added, "chair added"))]


@case("chairs.upload")
async def _chairs_upload(w: World) -> list[Case]:
    async def imported() -> bool:
        return await w.count(select(Chair).where(Chair.mobile == "13800138001")) == 1
    return [Case("import", "/admin/chairs/registry/import", None, [("chairs.import", "chairs.csv")],
                 upload=("chairs.csv", (SAMPLES / "chairs.csv").read_bytes()), effect=check(imported, "chairs imported"))]


@case("chairs.edit")
async def _chairs_edit(w: World) -> list[Case]:
    chair = await w.chair()

    async def edited() -> bool:
        return (await w.get(Chair, chair.id)).organisation == "改名工会"
    return [Case("edit", f"/admin/chairs/{chair.id}/edit", {"name": chair.name, "organisation": "改名工会",
                                                            "community": "东湖社区", "mobile": ""},
                 [("chairs.edit", f"chair:{chair.id}")], effect=check(edited, "chair edited"))]


@case("chairs.reveal")
async def _chairs_reveal(w: World) -> list[Case]:
    chair = await w.chair()
    return [Case("reveal", f"/admin/chairs/{chair.id}/reveal", {}, [("chairs.reveal_mobile", f"chair:{chair.id}")],
                 effect=check(lambda: _shown(w, f"/admin/chairs/{chair.id}", chair.mobile), "mobile shown"))]


@case("chairs.toggle")
async def _chairs_toggle(w: World) -> list[Case]:
    chair = await w.chair()

    def active(want: bool) -> Callable[[], Awaitable[None]]:
        async def ok() -> bool:
            return (await w.get(Chair, chair.id)).active == want
        return check(ok, f"chair active={want}")
    return [Case("deactivate", f"/admin/chairs/{chair.id}/active", {"active": "0"},
                 [("chairs.deactivate", f"chair:{chair.id}")], effect=active(False)),
            Case("activate", f"/admin/chairs/{chair.id}/active", {"active": "1"},
                 [("chairs.activate", f"chair:{chair.id}")], effect=active(True))]


@case("chairs.code")
async def _chairs_code(w: World) -> list[Case]:
    chair = await w.chair()

    async def issued() -> bool:
        return await w.count(select(ChairBindCode).where(ChairBindCode.chair_id == chair.id)) == 1
    return [Case("code", f"/admin/chairs/{chair.id}/code", {}, [("chairs.bind_code", f"chair:{chair.id}")],
                 effect=check(issued, "code issued"))]


@case("chairs.received")
async def _chairs_received(w: World) -> list[Case]:
    chair = await w.chair()
    return [Case("received", f"/admin/chairs/{chair.id}/received", {"quarter": "2026Q4", "note": "纸质报送"},
                 [("chairs.received", f"chair:{chair.id}")], effect=_received(w, chair.id, True))]


@case("chairs.received_undo")
async def _chairs_received_undo(w: World) -> list[Case]:
    from bot.operations import OpsContext
    from handlers.chairs import ops as chairs_ops
    from handlers.chairs.quarters import Quarter
    chair = await w.chair()
    async with w.db() as s, s.begin():
        await chairs_ops.mark_received(s, OpsContext(w.clock, w.settings, staff_id=w.admin.id), chair.id, Quarter(2026, 4))
    return [Case("undo", f"/admin/chairs/{chair.id}/received/undo", {"quarter": "2026Q4"},
                 [("chairs.received_undo", f"chair:{chair.id}")], effect=_received(w, chair.id, False))]


# --- 留言咨询 / 常见问题 ---
async def _snippet(w: World) -> int:
    async with w.db() as s, s.begin():
        row = InboxSnippet(title=f"常用{w.next()}", text="您好，已收到。", created_at=w.clock.now(), updated_at=w.clock.now())
        s.add(row)
        await s.flush()
        return row.id


@case("inbox.snippet_add")
async def _snippet_add(w: World) -> list[Case]:
    async def added() -> bool:
        return await w.count(select(InboxSnippet).where(InboxSnippet.title == "工伤认定")) == 1
    return [Case("add", "/admin/inbox/snippets", {"title": "工伤认定", "text": "工伤认定请在一年内向人社局申请。"},
                 [("inbox.snippet_save", None)], effect=check(added, "snippet added"))]


@case("inbox.snippet_save")
async def _snippet_save(w: World) -> list[Case]:
    sid = await _snippet(w)

    async def saved() -> bool:
        return (await w.get(InboxSnippet, sid)).title == "改过的常用回复"
    return [Case("edit", f"/admin/inbox/snippets/{sid}", {"title": "改过的常用回复", "text": "您好，已收到。"},
                 [("inbox.snippet_save", f"snippet:{sid}")], effect=check(saved, "snippet saved"))]


@case("inbox.snippet_delete")
async def _snippet_delete(w: World) -> list[Case]:
    sid = await _snippet(w)

    async def gone() -> bool:
        return await w.get(InboxSnippet, sid) is None
    return [Case("delete", f"/admin/inbox/snippets/{sid}/delete", {}, [("inbox.snippet_delete", f"snippet:{sid}")],
                 effect=check(gone, "snippet deleted"))]


@case("inbox.reply")
async def _inbox_reply(w: World) -> list[Case]:
    tid = await w.thread()
    _, form = await open_thread(w.client, tid)  # (its inbox.view row comes before the walk counts)
    form.pop("_csrf")

    async def sent() -> bool:
        return await w.count(select(InboxMessage).where(InboxMessage.thread_id == tid, InboxMessage.sender == "staff")) == 1
    return [Case("reply", f"/admin/inbox/{tid}/reply", {**form, "text": "您好，工伤认定请带上医院证明。"},
                 [("inbox.reply", f"inbox:{tid}")], effect=check(sent, "reply stored"))]


def _thread(w: World, tid: int, what: str, pred: Callable[[InboxThread], bool]) -> Callable[[], Awaitable[None]]:
    async def ok() -> bool:
        return pred(await w.get(InboxThread, tid))
    return check(ok, what)


@case("inbox.note")
async def _inbox_note(w: World) -> list[Case]:
    tid = await w.thread()

    async def noted() -> bool:
        return await w.count(select(InboxMessage).where(InboxMessage.thread_id == tid, InboxMessage.sender == "note")) == 1
    return [Case("note", f"/admin/inbox/{tid}/note", {"text": "已转法律援助。"}, [("inbox.note", f"inbox:{tid}")],
                 effect=check(noted, "note stored"))]


@case("inbox.assign")
async def _inbox_assign(w: World) -> list[Case]:
    tid = await w.thread()
    return [Case("assign", f"/admin/inbox/{tid}/assign", {"assignee": "me"}, [("inbox.assign", f"inbox:{tid}")],
                 effect=_thread(w, tid, "assigned", lambda t: t.assigned_to == w.admin.id))]


@case("inbox.close")
async def _inbox_close(w: World) -> list[Case]:
    tid = await w.thread()
    return [Case("close", f"/admin/inbox/{tid}/close", {}, [("inbox.close", f"inbox:{tid}")],
                 effect=_thread(w, tid, "closed", lambda t: t.status == "closed"))]


@case("inbox.reopen")
async def _inbox_reopen(w: World) -> list[Case]:
    tid = await w.thread(status="closed")
    return [Case("reopen", f"/admin/inbox/{tid}/reopen", {}, [("inbox.reopen", f"inbox:{tid}")],
                 effect=_thread(w, tid, "reopened", lambda t: t.status != "closed"))]


@case("inbox.reveal")
async def _inbox_reveal(w: World) -> list[Case]:
    tid = await w.thread()
    phone = (await w.get(Member, (await w.get(InboxThread, tid)).member_id)).phone
    return [Case("reveal", f"/admin/inbox/{tid}/reveal", {}, [("inbox.reveal_phone", f"inbox:{tid}")],
                 effect=check(lambda: _shown(w, f"/admin/inbox/{tid}", phone), "phone shown"))]


FAQ_FORM = {"keywords": "年休假、带薪年假", "answer": "职工连续工作一年以上的，享受带薪年休假。", "link": "",
            "topic": "", "to_inbox": "", "active": "1", "priority": "0"}


async def _faq(w: World) -> int:
    async with w.db() as s, s.begin():
        row = FaqEntry(keywords=[f"测试问题{w.next()}"], answer="测试回答。", created_at=w.clock.now(),
                       updated_at=w.clock.now())
        s.add(row)
        await s.flush()
        return row.id


@case("faq.create")
async def _faq_create(w: World) -> list[Case]:
    async def created() -> bool:
        return await w.count(select(FaqEntry).where(FaqEntry.answer == FAQ_FORM["answer"])) == 1
    return [Case("create", "/admin/faq/new", FAQ_FORM, [("faq.create", None)], effect=check(created, "entry created"))]


@case("faq.save")
async def _faq_save(w: World) -> list[Case]:
    fid = await _faq(w)

    async def saved() -> bool:
        return (await w.get(FaqEntry, fid)).answer == "改过的回答：请拨打 12351。"
    return [Case("edit", f"/admin/faq/{fid}", {**FAQ_FORM, "keywords": "维权热线", "answer": "改过的回答：请拨打 12351。"},
                 [("faq.edit", f"faq:{fid}")], effect=check(saved, "entry saved"))]


@case("faq.delete")
async def _faq_delete(w: World) -> list[Case]:
    fid = await _faq(w)

    async def gone() -> bool:
        return await w.get(FaqEntry, fid) is None
    return [Case("delete", f"/admin/faq/{fid}/delete", {}, [("faq.delete", f"faq:{fid}")], effect=check(gone, "deleted"))]


# ---------------------------------------------------------------------------------- the walk
def post_routes(admin: Any) -> dict[str, Any]:
    """Route name → resource, for every route of the admin app that takes a POST (`*` included)."""
    out = {}
    for resource in admin.router.resources():
        if any(route.method in ("POST", "*") for route in resource):
            assert resource.name, f"an unnamed POST route: {resource.canonical}"
            out[resource.name] = resource
    return out


async def _last_audit_id(db: Any) -> int:  # noqa: ANN001
    async with db() as s:
        return await s.scalar(select(func.max(AuditLog.id))) or 0


async def test_every_post_route_is_an_audited_action(aiohttp_server, aiohttp_client, app, db, settings) -> None:  # noqa: ANN001
    admin_sub = admin_app(app)
    posts = post_routes(admin_sub)
    unknown = sorted(set(posts) - set(CASES) - set(NOT_ACTIONS))
    assert not unknown, (f"POST routes of the admin site with no case in {__name__}.CASES (how to perform "
                         f"them and the audit rows they must add) nor a reason in NOT_ACTIONS: {unknown}")
    gone = sorted((set(CASES) | set(NOT_ACTIONS)) - set(posts))
    assert not gone, f"cases for routes the site no longer has: {gone}"
    assert len(posts) >= 60  # (the walk reads the real router)

    server = await aiohttp_server(app)
    staff = await create_staff_user(db)
    client = await aiohttp_client(server)
    await login(client)
    w = World(app=app, db=db, clock=app[CLOCK], settings=settings, server=server, aiohttp_client=aiohttp_client,
              client=client, admin=staff, app_admin=admin_sub)

    problems: list[str] = []
    walked = 0
    for name in sorted(posts):
        if name in NOT_ACTIONS:
            continue
        for c in await CASES[name](w):
            walked += 1
            who = c.client or client
            # (the login form's token is the one its page gave: it is in the case's data)
            token = c.data["_csrf"] if name == "login" else await csrf_at(who, "/admin/")  # type: ignore[index]
            before = await _last_audit_id(db)
            if c.upload is not None:
                body: Any = FormData()
                body.add_field("_csrf", token)
                body.add_field("file", c.upload[1], filename=c.upload[0], content_type="application/octet-stream")
            else:
                pairs = list(c.data.items()) if isinstance(c.data, dict) else list(c.data or [])
                body = [("_csrf", token), *[(k, v) for k, v in pairs if k != "_csrf"]]
            resp = await who.post(c.url, data=body, allow_redirects=False)
            text = await resp.text()
            where = f"{name} [{c.label}] POST {c.url}"
            if resp.status not in c.status:
                problems.append(f"{where}: HTTP {resp.status} {text[:300]!r}")
                continue
            async with db() as s:
                rows = list(await s.scalars(select(AuditLog).where(AuditLog.id > before).order_by(AuditLog.id)))
            got = [(r.action, r.target, r.staff_id, r.refused) for r in rows]
            sid = c.staff_id or staff.id
            want_ok = len(rows) == len(c.audit) and all(
                g[0] == a and (t is None or g[1] == t) and g[2] == sid and not g[3]
                for g, (a, t) in zip(got, c.audit))
            if not want_ok:
                problems.append(f"{where}: audit rows {got}, expected {[(a, t, sid, False) for a, t in c.audit]}")
                continue
            if c.effect is not None:
                try:
                    await c.effect()
                except AssertionError as exc:
                    problems.append(f"{where}: {exc}")
    assert not problems, "staff actions and their audit rows:\n" + "\n".join(problems)
    assert walked >= len(posts)


async def test_the_walk_fails_on_a_new_post_route(app) -> None:  # noqa: ANN001
    """The guard itself: a POST route added to the admin app without a case is named."""
    from aiohttp import web

    admin_sub = admin_app(app)

    async def handler(request: web.Request) -> web.Response:  # pragma: no cover - never called
        return web.Response()

    admin_sub.router._frozen = False  # noqa: SLF001  (the app is frozen once built)
    try:
        admin_sub.router.add_post("/brand-new-action", handler, name="feature.brand_new")
        unknown = sorted(set(post_routes(admin_sub)) - set(CASES) - set(NOT_ACTIONS))
    finally:
        admin_sub.router._frozen = True  # noqa: SLF001
    assert unknown == ["feature.brand_new"]
