"""Roles on the staff site: every admin route, walked with every role, allowed or refused as the
table below says (bot/admin/permissions.py decides; this table is the specification).

The table names every route of the admin app: a route added without an entry here fails the
test, so each new page is classified once — whose role it needs, and whether it reveals,
exports or serves a file. Path parameters are filled with the ids of real seeded records.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.db.models.core import AuditLog, Member, Outbox, Staff
from bot.db.models.hardship import HardshipPhoto
from bot.keys import SERVICES
from handlers.hardship import ops as hardship_ops
from handlers.signup import ops as signup_ops
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, login
from tests.support.hardship import ops_ctx
from tests.support.chairs import make_chair
from tests.support.quiz import add_bank, add_period
from tests.support.settings import make_settings
from tests.support.signup import make_activity, ops_ctx as signup_ctx

# --- the specification --------------------------------------------------------------------------
CORE = "core"  # any logged-in account
CORE_REVEAL = "core_reveal"  # any account but a read-only one
ADMIN_ONLY = "admin_only"  # staff management, the audit log
READ, WRITE, REVEAL, EXPORT, FILE = "read", "write", "reveal", "export", "file"

H, E, Q, C, I, A = "hardship", "events", "quiz", "chairs", "inbox", "admin"

TABLE: dict[str, object] = {
    # the site's own pages
    "home": CORE, "logout": CORE,
    "me": CORE, "me.password": CORE, "me.end_others": CORE, "me.end_session": CORE,
    "home.reveal_contact": CORE_REVEAL,
    "home.follow_up_done": CORE_REVEAL, "home.follow_up_undo": CORE_REVEAL,  # actions: not read-only accounts
    "staff.list": ADMIN_ONLY, "staff.add": ADMIN_ONLY, "staff.detail": ADMIN_ONLY, "staff.update": ADMIN_ONLY,
    "staff.active": ADMIN_ONLY, "staff.reset": ADMIN_ONLY, "staff.end_sessions": ADMIN_ONLY,
    "audit": ADMIN_ONLY, "audit.export": ADMIN_ONLY,
    # 帮扶审核
    "hardship.list": (H, READ), "hardship.export": (H, EXPORT), "hardship.bulk": (H, WRITE),
    "hardship.new": (H, READ), "hardship.create": (H, WRITE), "hardship.detail": (H, READ),
    "hardship.act": (H, WRITE), "hardship.note": (H, WRITE), "hardship.assign": (H, WRITE),
    "hardship.community": (H, WRITE), "hardship.reveal": (H, REVEAL), "hardship.photo": (H, FILE),
    "hardship.correct": (H, WRITE),
    # 活动报名 / 培训台账
    "signup.list": (E, READ), "signup.list_download": (E, READ), "signup.new": (E, READ),
    "signup.create": (E, WRITE), "signup.record": (E, READ), "signup.record_export": (E, EXPORT),
    "signup.detail": (E, READ), "signup.edit": (E, READ), "signup.save": (E, WRITE), "signup.cancel": (E, WRITE),
    "signup.qr": (E, WRITE), "signup.export": (E, EXPORT), "signup.checkin": (E, WRITE),
    "signup.cancel_one": (E, WRITE), "signup.reveal": (E, REVEAL), "signup.enrol": (E, READ),
    "signup.enrol_save": (E, WRITE), "signup.checkin_bulk": (E, WRITE), "signup.checkin_undo": (E, WRITE),
    # 每月一题
    "quiz.index": (Q, READ), "quiz.period_create": (Q, WRITE), "quiz.period": (Q, READ),
    "quiz.period_edit": (Q, WRITE), "quiz.period_delete": (Q, "form"), "quiz.period_questions": (Q, WRITE),
    "quiz.questions": (Q, READ),
    "quiz.bank_download": (Q, READ), "quiz.bank_bulk": (Q, WRITE), "quiz.upload": (Q, WRITE),
    "quiz.template": (Q, READ), "quiz.question_new": (Q, "form"), "quiz.question": (Q, "form"),
    "quiz.question_delete": (Q, WRITE), "quiz.question_restore": (Q, WRITE), "quiz.scores": (Q, READ),
    "quiz.export": (Q, EXPORT),
    # 主席报送 / 指标看板
    "chairs.grid": (C, READ), "chairs.export": (C, EXPORT), "chairs.dashboard": (C, READ),
    "chairs.registry": (C, READ), "chairs.registry_export": (C, EXPORT), "chairs.add": (C, WRITE),
    "chairs.upload": (C, WRITE), "chairs.detail": (C, READ), "chairs.edit": (C, WRITE), "chairs.toggle": (C, WRITE),
    "chairs.code": (C, WRITE), "chairs.received": (C, WRITE), "chairs.reveal": (C, REVEAL),
    "chairs.received_undo": (C, WRITE), "chairs.grid_bulk": (C, WRITE),
    # 留言咨询 / 常见问题
    "inbox.list": (I, READ), "inbox.snippets": (I, READ), "inbox.snippet_add": (I, WRITE),
    "inbox.snippet_edit": (I, READ), "inbox.snippet_save": (I, WRITE), "inbox.snippet_delete": (I, WRITE),
    "inbox.photo": (I, FILE), "inbox.thread": (I, READ), "inbox.reply": (I, WRITE), "inbox.note": (I, WRITE),
    "inbox.assign": (I, WRITE), "inbox.close": (I, WRITE), "inbox.reopen": (I, WRITE), "inbox.reveal": (I, REVEAL),
    "inbox.bulk": (I, WRITE), "inbox.list_export": (I, EXPORT),
    "faq.list": (I, READ), "faq.download": (I, READ), "faq.preview": (I, READ), "faq.new": (I, READ),
    "faq.create": (I, WRITE), "faq.edit": (I, READ), "faq.save": (I, WRITE), "faq.delete_confirm": (I, READ),
    "faq.delete": (I, WRITE), "faq.bulk": (I, WRITE),
    # 公众号设置 (menu, welcome, 帮助): admins
    "account": (A, READ), "account.menu_alias": (A, READ), "account.menu": (A, READ), "account.menu_save": (A, WRITE),
    "account.menu_reset": (A, WRITE), "account.texts": (A, READ), "account.texts_save": (A, WRITE),
    "account.texts_reset": (A, WRITE),
}
# Names that may or may not exist (built by other parts of the site as they grow): classified
# above, but their absence is no failure.
OPTIONAL = {"chairs.reveal", "inbox.bulk", "inbox.list_export", "faq.bulk", "account.menu_alias",
            "account.menu", "account.menu_save", "account.menu_reset", "account.texts", "account.texts_save",
            "account.texts_reset"}

ACCOUNTS: dict[str, tuple[str, ...]] = {
    "admin": ("admin",), "hardship": ("hardship",), "events": ("events",), "quiz": ("quiz",),
    "chairs": ("chairs",), "inbox": ("inbox",), "viewer": ("viewer",), "none": (),
    "two": ("hardship", "events"), "viewer_chairs": ("viewer", "chairs"),
    "community": ("hardship", "events", "quiz", "chairs", "inbox"),  # of 幸福社区 (below)
}
HOME = "幸福社区"
SCOPED = {"community": HOME}
# Routes the federation's accounts only use (a rule of the handler: community accounts don't move
# a request to another community).
FEDERATION_ROUTES = {"hardship.community"}
FEDERATION_ONLY = {Q, A}  # features without a community: community accounts never open them
# The federation's shared content (the FAQ, the inbox's quick replies): community accounts read it
# and use it, never change it.
FEDERATION_CONTENT = ("faq.", "inbox.snippet")


def expected(name: str, category: object, roles: frozenset[str], method: str, scoped: bool = False) -> bool:
    """Allowed? — the rules of bot/admin/roles.py's docstring, applied to the table's category."""
    if category == CORE:
        return True
    if category == CORE_REVEAL:
        return bool(roles - {"viewer"})
    if category == ADMIN_ONLY:
        return "admin" in roles
    role, kind = category  # type: ignore[misc]
    if scoped and (role in FEDERATION_ONLY or name in FEDERATION_ROUTES):
        return False
    if kind == "form":
        kind = READ if method == "GET" else WRITE
    if scoped and kind != READ and name.startswith(FEDERATION_CONTENT):
        return False
    if "admin" in roles or role in roles:
        return True
    return "viewer" in roles and kind == READ


# --- the walk -----------------------------------------------------------------------------------
@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": ["幸福社区", "和平社区"]})


def admin_app(app: web.Application) -> web.Application:
    for resource in app.router.resources():
        info = resource.get_info()
        if info.get("prefix") == "/admin":
            return info["app"]
    raise AssertionError("no admin sub-application at /admin")


async def first_id(db, model) -> int:  # noqa: ANN001
    async with db() as s:
        return await s.scalar(select(func.min(model.id))) or 1


async def seed(app, db, clock, settings, tmp_path: Path) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """One record of every kind an admin URL names (of the community account's community, so what
    it meets is the route's rule, not the record's scope); the path parameters by route-name prefix."""
    now = clock.now()
    media = Path(app[SERVICES].get("media_dir") or tmp_path / "media")
    async with db() as s, s.begin():
        s.add(Member(openid="oWorker", first_seen=now, last_seen=now, name="王小明", phone="13800138000",
                     community=HOME))
        await s.flush()
        req = await hardship_ops.submit_request(
            s, ops_ctx(app), openid="oWorker", consent_version="2026-1",
            data={"kind": "因病", "description": "母亲住院做手术，自付医药费很多。", "household": 3, "income": 4500,
                  "expenses": 1500, "name": "王小明", "phone": "13800138000", "employer": "环卫所",
                  "id_number": None, "photos": ["MEDIA1"], "community": HOME})
        photo = req.photos[0]
        photo.status, photo.path, photo.content_type = "fetched", "p1.jpg", "image/jpeg"
        s.add(Outbox(key="t:1", openid="oWorker", purpose=hardship_ops.NOTIFY_PURPOSE, payload={"text": "x"},
                     status="unreachable", next_attempt_at=now, created_at=now))
    media.mkdir(parents=True, exist_ok=True)
    (media / "p1.jpg").write_bytes(b"\xff\xd8\xff")
    act = await make_activity(db, clock, community=HOME)
    async with db() as s, s.begin():
        member = await s.scalar(select(Member).where(Member.openid == "oWorker"))
        res = await signup_ops.sign_up(s, signup_ctx(clock), act.id, member, name="王小明", phone="13800138000",
                                       employer="环卫所")
        signup_id = res.signup.id
    other_id = (await create_staff_user(db, "someone", display_name="另一位", roles=("hardship",))).id
    chair = await make_chair(db, clock, settings, community=HOME)
    qids = await add_bank(db, clock, 3)
    period = await add_period(db, clock, "2026-11", qids[:1])
    from tests.support.inbox import add_thread  # the inbox's own helper
    thread_id = await add_thread(db, clock, "oWorker", [("worker", "你好，想问一下工伤认定。")])
    from bot.db.models.inbox import FaqEntry, InboxMessage, InboxSnippet

    async with db() as s:
        outbox_id = await s.scalar(select(Outbox.id).where(Outbox.key == "t:1"))
        photo_id = await s.scalar(select(func.min(HardshipPhoto.id)))
    return {
        "hardship": {"id": str(req.id), "photo_id": str(photo_id), "action": "start_review", "fmt": "csv"},
        "signup": {"activity_id": str(act.id), "signup_id": str(signup_id), "fmt": "csv"},
        "chairs": {"chair_id": str(chair.id), "fmt": "csv"},
        "quiz": {"code": period.code, "qid": str(qids[0]), "fmt": "csv"},
        "inbox": {"id": str(thread_id), "snippet_id": str(await first_id(db, InboxSnippet)),
                  "message_id": str(await first_id(db, InboxMessage)), "fmt": "csv"},
        "faq": {"entry_id": str(await first_id(db, FaqEntry)), "fmt": "csv"},
        "home": {"outbox_id": str(outbox_id)},
        "staff": {"staff_id": str(other_id)},
        "me": {"sid": "0" * 64},
        "audit": {"fmt": "csv"},
    }


def routes(admin: web.Application) -> list[tuple[str, str, object]]:
    """(route name, method, resource) of every admin route but the public ones; a `*` route twice."""
    out = []
    for resource in admin.router.resources():
        if resource.name in ("login", "static"):
            continue
        for route in resource:
            methods = ["GET", "POST"] if route.method == "*" else [route.method]
            out += [(resource.name, m, resource) for m in methods if m != "HEAD"]
    return out


def url_of(resource, name: str, params: dict[str, dict[str, str]]) -> str:  # noqa: ANN001
    info = resource.get_info()
    if "formatter" not in info:
        return info.get("path") or str(resource.url_for())
    wanted = set(resource._pattern.groupindex)  # noqa: SLF001  (the names in {…})
    given = params.get(name.split(".")[0], {})
    missing = wanted - set(given)
    assert not missing, f"no seeded value for {name}'s {sorted(missing)}: add it to seed()"
    return str(resource.url_for(**{k: given[k] for k in wanted}))


async def test_every_route_with_every_role(aiohttp_server, aiohttp_client, app, db, clock, settings,
                                           tmp_path):  # noqa: ANN001
    admin = admin_app(app)
    table_routes = routes(admin)
    names = {n for n, _, _ in table_routes}
    unclassified = names - set(TABLE)
    assert not unclassified, f"admin routes missing from the permission table: {sorted(unclassified)}"
    gone = set(TABLE) - names - OPTIONAL
    assert not gone, f"routes in the table that the site no longer has: {sorted(gone)}"

    params = await seed(app, db, clock, settings, tmp_path)
    server = await aiohttp_server(app)
    ids: dict[str, int] = {}
    for account, roles in ACCOUNTS.items():
        ids[account] = (await create_staff_user(db, f"u_{account}", roles=roles or ("viewer",),
                                                community=SCOPED.get(account))).id
    async with db() as s, s.begin():  # no role at all (the staff page never makes one): the site's own pages only
        (await s.get(Staff, ids["none"])).roles = []

    mismatches: list[str] = []
    denied_count: dict[str, int] = {}
    for account, roles in ACCOUNTS.items():
        client = await aiohttp_client(server)
        await login(client, f"u_{account}", DEFAULT_PASSWORD)
        token = await csrf_at(client, "/admin/")
        denied_count[account] = 0
        walk = sorted(table_routes, key=lambda r: r[0] == "logout")  # logging out last
        for name, method, resource in walk:
            url = url_of(resource, name, params)
            if method == "GET":
                resp = await client.get(url, allow_redirects=False)
            else:
                resp = await client.post(url, data={"_csrf": token}, allow_redirects=False)
            body = (await resp.read()).decode("utf-8", "replace")
            if resp.status in (302, 303) and "/admin/login" in resp.headers.get("Location", ""):
                await login(client, f"u_{account}", DEFAULT_PASSWORD)  # an allowed action ended the session
                token = await csrf_at(client, "/admin/")
            refused = resp.status == 403 and "没有权限" in body
            assert not (resp.status == 403 and not refused), f"{account} {method} {url}: 403 without 没有权限"
            assert resp.status < 500, f"{account} {method} {url}: {resp.status}"
            want = expected(name, TABLE[name], frozenset(roles), method, scoped=account in SCOPED)
            if refused == want:
                mismatches.append(f"{account:14} {method:4} {name:28} {'refused' if refused else 'allowed'}"
                                  f" (expected {'allowed' if want else 'refused'})")
            denied_count[account] += refused
    assert not mismatches, "permission table violated:\n" + "\n".join(mismatches)

    # every refusal is in the audit log, marked refused, as the account that asked
    async with db() as s:
        for account, n in denied_count.items():
            rows = list(await s.scalars(select(AuditLog).where(AuditLog.staff_id == ids[account])))
            refused_rows = [r for r in rows if (getattr(r, "refused", False) or r.detail.get("refused"))
                            and r.detail.get("reason") in ("role", "read_only", "admin_only", "federation_only",
                                                          "federation_content", "scope")
                            and r.target.startswith("/admin") and r.detail.get("method")]
            assert len(refused_rows) == n, (account, len(refused_rows), n)
    assert denied_count["admin"] == 0 and denied_count["viewer"] > 0 and denied_count["none"] > 0


async def test_navigation_and_todos_follow_the_roles(client, db, app, clock):  # noqa: ANN001
    async with db() as s, s.begin():
        s.add(Member(openid="oW", first_seen=clock.now(), last_seen=clock.now()))
        await s.flush()
        await hardship_ops.submit_request(
            s, ops_ctx(app), openid="oW", consent_version="2026-1",
            data={"kind": "因病", "description": "母亲住院做手术，自付医药费很多。", "household": 3, "income": 4500,
                  "expenses": 1500, "name": "王小明", "phone": "13800138000", "employer": "环卫所"})
    await create_staff_user(db, "chairsonly", roles=("chairs",))
    await login(client, "chairsonly", DEFAULT_PASSWORD)
    page = await (await client.get("/admin/")).text()
    nav = page.split('<nav class="nav"', 1)[1].split("</nav>", 1)[0]
    assert "主席报送" in nav and "指标看板" in nav
    assert "帮扶审核" not in nav and "活动报名" not in nav and "工作人员" not in nav and "审计" not in nav
    assert "待审核的帮扶申请" not in page  # the to-dos of a feature the account doesn't hold

    client.session.cookie_jar.clear()
    await create_staff_user(db, "hardshiponly", roles=("hardship",))
    await login(client, "hardshiponly", DEFAULT_PASSWORD)
    page = await (await client.get("/admin/")).text()
    nav = page.split('<nav class="nav"', 1)[1].split("</nav>", 1)[0]
    assert "帮扶审核" in nav and "主席报送" not in nav
    assert "待审核的帮扶申请" in page


async def test_viewer_reads_but_sees_no_buttons_and_is_refused_on_post(client, db, app, clock):  # noqa: ANN001
    async with db() as s, s.begin():
        s.add(Member(openid="oW", first_seen=clock.now(), last_seen=clock.now()))
        await s.flush()
        req = await hardship_ops.submit_request(
            s, ops_ctx(app), openid="oW", consent_version="2026-1",
            data={"kind": "因病", "description": "母亲住院做手术，自付医药费很多。", "household": 3, "income": 4500,
                  "expenses": 1500, "name": "王小明", "phone": "13800138000", "employer": "环卫所",
                  "id_number": "11010519491231002X"})
    await create_staff_user(db, "reader", roles=("viewer",))
    await login(client, "reader", DEFAULT_PASSWORD)
    listing = await (await client.get("/admin/hardship")).text()
    assert "王小明" in listing and "导出" not in listing and "批量开始审核" not in listing and "代办录入" not in listing
    detail = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert "138****8000" in detail and "查看完整号码" not in detail and "审核操作" not in detail
    token = await csrf_at(client, f"/admin/hardship/{req.id}")
    resp = await client.post(f"/admin/hardship/{req.id}/reveal", data={"_csrf": token, "field": "id"})
    assert resp.status == 403
    text = await resp.text()
    assert "只读账号不能查看完整的个人信息" in text and "11010519491231002X" not in text
    resp = await client.get("/admin/hardship/export.csv")
    assert resp.status == 403 and "只读账号不能导出个人信息" in await resp.text()
    resp = await client.post(f"/admin/hardship/{req.id}/act/start_review", data={"_csrf": token})
    assert resp.status == 403
    async with db() as s:
        assert (await hardship_ops.get_request(s, req.id)).status == "submitted"
        refused = list(await s.scalars(select(AuditLog).where(AuditLog.action == "hardship.reveal_id")))
    # named as the reveal it would have been (bot/admin/permissions.py REFUSED_AS), marked refused
    assert len(refused) == 1 and refused[0].detail["reason"] == "read_only" and refused[0].refused
    assert refused[0].detail["route"] == "hardship.reveal"
