"""Sharper tests for handlers/signup/ops.py (mutation group `ops-signup`), the staff side: the
admin list (filters, order, search, counts, phase), the training record (`attended`), the
check-in QR, check-in (worker, staff, batch) and its correction, cancelling and editing an
activity (who is told what) — direct calls of the operations on the real test database,
asserting the stored rows, the outbox rows and the Chinese refusals staff see."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import build_settings
from bot.db.models.core import Member, Outbox
from bot.db.models.signup import Activity, Signup
from bot.operations import OpsContext
from handlers.signup import ops
from tests.support.signup import TZ, at, make_activity, ops_ctx, outbox_of, signup_row


@pytest.fixture
def db(sessionmaker):  # noqa: ANN001, ANN201
    """The test database without the app (these tests call the operations directly)."""
    return sessionmaker


def local_dt(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


async def new_member(db, clock, openid: str, name: str | None = None, phone: str | None = None) -> int:  # noqa: ANN001
    async with db() as s, s.begin():
        m = Member(openid=openid, first_seen=clock.now(), last_seen=clock.now(), name=name, phone=phone)
        s.add(m)
        await s.flush()
        return m.id


async def chat_sign_up(db, clock, act_id: int, openid: str, name: str, phone: str) -> int:  # noqa: ANN001
    """A worker signs up in the chat (a new follower); returns the sign-up's id."""
    mid = await new_member(db, clock, openid, name, phone)
    async with db() as s, s.begin():
        r = await ops.sign_up(s, ops_ctx(clock), act_id, await s.get(Member, mid), name=name, phone=phone)
        assert r.signup is not None, r
        return r.signup.id


async def refusal_of(db, fn, *args, **kw) -> str:  # noqa: ANN001, ANN002, ANN003
    """The Chinese sentence staff see when the operation refuses (nothing is stored)."""
    async with db() as s:
        with pytest.raises(ops.SignupError) as e:
            async with s.begin():
                await fn(s, *args, **kw)
    return str(e.value)




async def cancel(db, clock, act_id: int, reason: str = "") -> int:  # noqa: ANN001
    async with db() as s, s.begin():
        return await ops.cancel_activity(s, ops_ctx(clock), act_id, reason)


# ---- the staff list: filters and order, search, counts, phase ---------------------------------------

async def test_list_query_kinds_states_boundaries_and_order(db, clock) -> None:  # noqa: ANN001
    now = at(26, 16)
    await make_activity(db, clock, title="一", kind="training", starts_at=at(26, 14), ends_at=at(26, 16))
    await make_activity(db, clock, title="二", kind="event", starts_at=at(26, 14), ends_at=at(26, 16, 1))
    a3 = await make_activity(db, clock, title="三", kind="training", starts_at=at(27, 10), ends_at=at(27, 12))
    a4 = await make_activity(db, clock, title="四", kind="event", starts_at=at(20, 10), ends_at=at(20, 12))
    await make_activity(db, clock, title="五", kind="training", starts_at=at(25, 9), ends_at=at(25, 10))
    await make_activity(db, clock, title="六", kind="event", starts_at=at(28, 9), ends_at=at(28, 10))
    await cancel(db, clock, a3.id)
    await cancel(db, clock, a4.id)

    async def listed(**kw) -> list[str]:  # noqa: ANN003
        async with db() as s:
            return [a.title for a in await s.scalars(ops.list_query(now=now, **kw))]

    assert await listed() == ["六", "三", "二", "一", "五", "四"]  # newest start first, then newest id
    assert await listed(kind="training") == ["三", "一", "五"]
    assert await listed(kind="event") == ["六", "二", "四"]
    assert await listed(state="cancelled") == ["三", "四"]
    assert await listed(state="upcoming") == ["六", "二"]  # ends a minute after now: not over yet
    assert await listed(state="past") == ["一", "五"]  # ends exactly now: over
    assert await listed(kind="training", state="past") == ["一", "五"]
    assert await listed(kind="event", state="upcoming") == ["六", "二"]
    assert await listed(kind="training", state="cancelled") == ["三"]
    async with db() as s:  # composed with a filter that sorts without the start index: still newest id first
        ids = list(await s.scalars(select(Activity.id).where(Activity.title.in_(["一", "二"]))))
        q = ops.list_query(now=now).where(Activity.id.in_(ids))
        assert [a.title for a in await s.scalars(q)] == ["二", "一"]


async def test_list_search_by_title_or_place_with_literal_wildcards(db, clock) -> None:  # noqa: ANN001
    await make_activity(db, clock, title="100%安全培训", place="街道职工之家")
    await make_activity(db, clock, title="读书会", place="二楼_活动室")
    await make_activity(db, clock, title="电工技能培训", place="街道职工之家")

    async def found(term: str) -> list[str]:
        async with db() as s:
            return sorted(a.title for a in await s.scalars(select(Activity).where(ops.list_search(term))))

    assert await found("读书") == ["读书会"]  # a word of the title
    assert await found("二楼") == ["读书会"]  # a word of the place
    assert await found("职工之家") == ["100%安全培训", "电工技能培训"]
    assert await found("%") == ["100%安全培训"]  # a literal percent sign in the title, not a wildcard
    assert await found("_") == ["读书会"]  # a literal underscore in the place, not a wildcard
    assert await found("没有") == []


async def test_list_counts_waitlist_and_checked_in(db, clock) -> None:  # noqa: ANN001
    c1 = await make_activity(db, clock, title="一", capacity=2)
    c2 = await make_activity(db, clock, title="二")
    c3 = await make_activity(db, clock, title="三", capacity=3)
    a = await chat_sign_up(db, clock, c1.id, "oA", "王一", "13800000001")
    await chat_sign_up(db, clock, c1.id, "oB", "王二", "13800000002")
    await chat_sign_up(db, clock, c1.id, "oC", "王三", "13800000003")  # waitlist
    await chat_sign_up(db, clock, c1.id, "oD", "王四", "13800000004")  # waitlist
    e = await chat_sign_up(db, clock, c1.id, "oE", "王五", "13800000005")  # waitlist, then cancelled
    async with db() as s, s.begin():
        assert (await ops.cancel_signup(s, ops_ctx(clock), e)).ok
    f = await chat_sign_up(db, clock, c3.id, "oF", "赵一", "13900000001")
    g = await chat_sign_up(db, clock, c3.id, "oG", "赵二", "13900000002")
    async with db() as s, s.begin():
        for act_id, sid in ((c1.id, a), (c3.id, f), (c3.id, g)):
            await ops.staff_check_in(s, ops_ctx(clock), act_id, sid)
    async with db() as s:
        counts = await ops.list_counts(s, [c1.id, c2.id, c3.id])
        assert await ops.list_counts(s, []) == {}
    assert {k: (v.waiting, v.came) for k, v in counts.items()} == {c1.id: (2, 1), c2.id: (0, 0), c3.id: (0, 2)}


def test_phase_labels_and_boundaries() -> None:
    def act(**kw) -> Activity:  # noqa: ANN003
        f = dict(status="open", starts_at=at(26, 14), ends_at=at(26, 16), deadline=at(25, 18))
        f.update(kw)
        return Activity(**f)

    sec = timedelta(seconds=1)
    assert ops.phase(act(status="cancelled"), at(24, 10)) == ("已取消", "muted")
    assert ops.phase(act(), at(26, 16)) == ("已结束", "muted")
    assert ops.phase(act(), at(26, 16) - sec) == ("进行中", "ok")
    assert ops.phase(act(), at(26, 14)) == ("进行中", "ok")
    assert ops.phase(act(), at(26, 14) - sec) == ("报名截止", "wait")
    assert ops.phase(act(), at(25, 18)) == ("报名截止", "wait")
    assert ops.phase(act(), at(25, 18) - sec) == ("报名中", "ok")


async def test_attended_lists_the_members_check_ins_newest_first(db, clock) -> None:  # noqa: ANN001
    m = await new_member(db, clock, "oM", "王一", "13800000001")
    n = await new_member(db, clock, "oN", "王二", "13800000002")
    acts = [await make_activity(db, clock, title=f"第{d}日培训", starts_at=at(d, 9), ends_at=at(d, 11))
            for d in (10, 12, 11, 14, 13, 15, 16)]
    future = await make_activity(db, clock, title="将来的培训", starts_at=at(28, 9), ends_at=at(28, 11))
    async with db() as s, s.begin():
        await ops.staff_sign_up(s, ops_ctx(clock), future.id, name="王一", phone="13800000001",
                                member=await s.get(Member, m))
    clock.set(at(20, 9))
    async with db() as s, s.begin():
        for a in acts[:6]:
            await ops.record_attendance(s, ops_ctx(clock), a.id, name="王一", phone="13800000001",
                                        member=await s.get(Member, m))
        await ops.record_attendance(s, ops_ctx(clock), acts[6].id, name="王二", phone="13800000002",
                                    member=await s.get(Member, n))
    async with db() as s:
        five = await ops.attended(s, m)
        assert all(sg.activity_id == a.id and sg.member_id == m for sg, a in five)
        assert [a.title for _, a in five] == ["第15日培训", "第14日培训", "第13日培训", "第12日培训", "第11日培训"]
        assert [a.title for _, a in await ops.attended(s, m, limit=10)] == [
            "第15日培训", "第14日培训", "第13日培训", "第12日培训", "第11日培训", "第10日培训"]
        assert [a.title for _, a in await ops.attended(s, n)] == ["第16日培训"]


# ---- the check-in QR code -----------------------------------------------------------------------------

class FakeApi:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.scenes = fail, []

    async def create_qrcode(self, scene: str) -> dict[str, str]:
        self.scenes.append(scene)
        if self.fail:
            raise RuntimeError("errcode 45009")
        return {"ticket": "gQH47joAAAAAAAAAASxodHRw", "url": "http://weixin.qq.com/q/02abc"}


async def test_checkin_qr_made_stored_and_refusals(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock)
    settings = build_settings({}, env={})

    async def make(api, act_id: int = act.id) -> Activity:  # noqa: ANN001
        async with db() as s, s.begin():
            return await ops.create_checkin_qr(s, OpsContext(clock, settings, {"api": api} if api else {}), act_id)

    with pytest.raises(ops.SignupError) as e:
        await make(None)
    assert str(e.value) == "当前为离线模式，无法生成二维码，请使用签到码。"
    failing = FakeApi(fail=True)
    with pytest.raises(ops.SignupError) as e:
        await make(failing)
    assert str(e.value) == "生成二维码失败，请稍后再试；现场可先使用签到码。"
    assert failing.scenes == [f"checkin:{act.id}"]
    async with db() as s:
        stored = await s.get(Activity, act.id)
        assert (stored.qr_ticket, stored.qr_url) == (None, None)
    with pytest.raises(ops.SignupError) as e:
        await make(FakeApi(), 999999)
    assert str(e.value) == "没有这个活动。"
    api = FakeApi()
    await make(api)
    assert api.scenes == [f"checkin:{act.id}"]
    async with db() as s:
        stored = await s.get(Activity, act.id)
        assert (stored.qr_ticket, stored.qr_url) == ("gQH47joAAAAAAAAAASxodHRw", "http://weixin.qq.com/q/02abc")


# ---- check-in: the worker's code, staff one by one and in a batch ----------------------------------

async def test_check_in_outcomes_and_window_close(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)
    a = await chat_sign_up(db, clock, act.id, "oA", "王一", "13800000001")
    b = await chat_sign_up(db, clock, act.id, "oB", "王二", "13800000002")  # waitlist
    c = await chat_sign_up(db, clock, act.id, "oC", "王三", "13800000003")
    async with db() as s, s.begin():
        await ops.cancel_signup(s, ops_ctx(clock), c)
    ids = {}
    for sid in (a, b, c):
        ids[sid] = (await signup_row(db, sid)).member_id

    async def check(sid: int) -> ops.CheckinResult:
        async with db() as s, s.begin():
            got = await s.get(Activity, act.id)
            r = await ops.check_in(s, ops_ctx(clock), got, ids[sid], via="code")
            assert r.activity is got
            return r

    clock.set(at(26, 16))  # the window closes at the end (no minutes after, by default): still open
    r = await check(b)
    assert (r.outcome, r.signup.id) == ("waitlist", b)
    r = await check(c)
    assert (r.outcome, r.signup.id) == ("not_signed", c)
    r = await check(a)
    assert (r.outcome, r.signup.id) == ("ok", a)
    clock.set(at(26, 16) + timedelta(seconds=1))
    assert (await check(b)).outcome == "late"
    await cancel(db, clock, act.id)
    clock.set(at(26, 14))
    assert (await check(b)).outcome == "cancelled"


async def test_staff_check_in_refusals_name_the_person(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)
    other = await make_activity(db, clock, title="读书会")
    a = await chat_sign_up(db, clock, act.id, "oA", "王一", "13800000001")
    b = await chat_sign_up(db, clock, act.id, "oB", "王二", "13800000002")
    c = await chat_sign_up(db, clock, act.id, "oC", "", "13800000003")
    d = await chat_sign_up(db, clock, act.id, "oD", "王四", "13800000004")
    async with db() as s, s.begin():
        await ops.cancel_signup(s, ops_ctx(clock), d)
    ctx = ops_ctx(clock)
    assert await refusal_of(db, ops.staff_check_in, ctx, act.id, 999999) == "没有这条报名。"
    assert await refusal_of(db, ops.staff_check_in, ctx, other.id, a) == "没有这条报名。"
    assert await refusal_of(db, ops.staff_check_in, ctx, act.id, b) == "王二还在候补中，只有报名成功的人员可以签到。"
    assert await refusal_of(db, ops.staff_check_in, ctx, act.id, c) == "该职工还在候补中，只有报名成功的人员可以签到。"
    assert await refusal_of(db, ops.staff_check_in, ctx, act.id, d) == "王四的报名已取消，只有报名成功的人员可以签到。"
    await cancel(db, clock, act.id)
    assert await refusal_of(db, ops.staff_check_in, ctx, act.id, a) == "活动已取消，不能再签到。"
    assert (await signup_row(db, a)).attended_at is None


async def test_batch_check_in_sorts_done_already_and_refused(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=2)
    other = await make_activity(db, clock, title="读书会")
    a = await chat_sign_up(db, clock, act.id, "oA", "王一", "13800000001")
    b = await chat_sign_up(db, clock, act.id, "oB", "王二", "13800000002")
    c = await chat_sign_up(db, clock, act.id, "oC", "王三", "13800000003")  # waitlist
    x = await chat_sign_up(db, clock, other.id, "oX", "李四", "13800000009")
    clock.set(at(26, 13, 30))
    async with db() as s, s.begin():
        r = await ops.check_in(s, ops_ctx(clock), await s.get(Activity, act.id), (await s.get(Signup, b)).member_id,
                               via="code")
        assert r.outcome == "ok"
        r = await ops.check_in(s, ops_ctx(clock), await s.get(Activity, other.id),
                               (await s.get(Signup, x)).member_id, via="code")
        assert r.outcome == "ok"
    clock.set(at(26, 14, 5))
    async with db() as s, s.begin():
        out = await ops.staff_check_in_many(s, ops_ctx(clock), act.id, [c, a, b, a, x, 999999])
        done, already, failed = [r.id for r in out.done], [r.id for r in out.already], out.failed
    assert done == [a] and already == [b]
    assert failed == ["王三还在候补中，只有报名成功的人员可以签到。", "没有这条报名。", "没有这条报名。"]
    ra, rb = await signup_row(db, a), await signup_row(db, b)
    assert (ra.checkin_via, ra.attended_at) == ("staff", at(26, 14, 5))
    assert (rb.checkin_via, rb.attended_at) == ("code", at(26, 13, 30))  # kept: not checked in again
    assert (await signup_row(db, x)).checkin_via == "code"


# ---- 更正: undoing a check-in -------------------------------------------------------------------------

async def test_undo_check_in_tells_those_who_checked_in_themselves(db, clock) -> None:  # noqa: ANN001
    clock.set(local_dt(2026, 12, 20, 10))
    act = await make_activity(db, clock, title="跨年晚会", place="职工之家礼堂", capacity=5,
                              starts_at=local_dt(2026, 12, 31, 20), ends_at=local_dt(2026, 12, 31, 23))
    a = await chat_sign_up(db, clock, act.id, "oA", "王一", "13800000001")
    b = await chat_sign_up(db, clock, act.id, "oB", "王二", "13800000002")
    c = await chat_sign_up(db, clock, act.id, "oC", "王三", "13800000003")
    d = await chat_sign_up(db, clock, act.id, "oD", "", "13800000004")
    came = local_dt(2026, 12, 31, 19, 50)
    clock.set(came)
    async with db() as s, s.begin():
        got = await s.get(Activity, act.id)
        for sid, via in ((a, "code"), (b, "qr")):
            assert (await ops.check_in(s, ops_ctx(clock), got, (await s.get(Signup, sid)).member_id, via=via)).outcome == "ok"
        await ops.staff_check_in(s, ops_ctx(clock), act.id, c)
    clock.set(local_dt(2027, 1, 2, 9))  # corrected in the new year: the message gives the year
    now = clock.now()
    results = {}
    for sid in (a, b, c):
        async with db() as s, s.begin():
            results[sid] = await ops.undo_check_in(s, ops_ctx(clock), act.id, sid)
    assert [(r.was_at, r.was_via, r.told) for r in results.values()] == [
        (came, "code", True), (came, "qr", True), (came, "staff", False)]
    assert all(r.signup.id == sid for sid, r in results.items())
    rows = await outbox_of(db, "signup.corrected")
    assert [r.openid for r in rows] == ["oA", "oB"]
    call = build_settings({}, env={}).office.call_line()
    when = "2026年12月31日（周四）20:00–23:00"
    for r, sid in zip(rows, (a, b)):
        assert r.key == f"signup:corrected:{act.id}:{sid}:{now:%Y%m%d%H%M%S%f}"
        assert r.payload["text"] == (f"您在「跨年晚会」（{when}）的签到记录，工作人员已更正为「未签到」。如有疑问，欢迎{call}。")
        assert r.payload["template"] == {"kind": "signup_status", "data": {
            "keyword1": "跨年晚会", "keyword2": when, "keyword3": "职工之家礼堂",
            "keyword4": "签到记录已更正为未签到", "remark": "如有疑问请致电工会"}}
        stored = await signup_row(db, sid)
        assert (stored.attended_at, stored.checkin_via, stored.notice_key, stored.updated_at) == (
            None, None, r.key, now)
    assert (await signup_row(db, c)).notice_key is None
    ctx = ops_ctx(clock)
    assert await refusal_of(db, ops.undo_check_in, ctx, act.id, a) == "王一还没有签到，无需更正。"
    assert await refusal_of(db, ops.undo_check_in, ctx, act.id, d) == "该职工还没有签到，无需更正。"
    assert await refusal_of(db, ops.undo_check_in, ctx, act.id, 999999) == "没有这条报名。"
    assert await refusal_of(db, ops.undo_check_in, ctx, 999999, a) == "没有这条报名。"
    other = await make_activity(db, clock, title="读书会", starts_at=local_dt(2027, 1, 9, 9),
                                ends_at=local_dt(2027, 1, 9, 11))
    assert await refusal_of(db, ops.undo_check_in, ctx, other.id, a) == "没有这条报名。"


async def test_undo_of_a_recorded_unlinked_person_tells_nobody(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock)
    clock.set(at(26, 15))
    async with db() as s, s.begin():
        added = await ops.record_attendance(s, ops_ctx(clock), act.id, name="周六", phone="13700000006")
    async with db() as s, s.begin():
        r = await ops.undo_check_in(s, ops_ctx(clock), act.id, added.signup.id)
    assert (r.was_at, r.was_via, r.told) == (at(26, 15), "record", False)
    assert await outbox_of(db, "signup.corrected") == []
