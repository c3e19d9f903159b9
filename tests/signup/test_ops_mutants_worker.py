"""Sharper tests for handlers/signup/ops.py (mutation group `ops-signup`), the worker side: cancelling
and the waitlist moving up, the change notice, reminders, 我的报名, 删除我的信息 for sign-ups, the facts
staff see beside a worker's inbox thread, the follower offered to staff for 代报名, and the texts
(dates, spans, phases) — direct calls of the operations on the real test database, except where the
app's own page is the natural place to look."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.clock import FakeClock
from bot.config import build_settings
from bot.db.models.core import Member, Outbox
from bot.db.models.signup import Activity, Signup
from handlers.signup import ops
from tests.support.admin import log_in_staff
from tests.support.inbox import add_member, add_thread, open_thread
from tests.support.signup import TZ, at, make_activity, ops_ctx, outbox_of, signup_row

HOW = "到场后回复「签到」加现场公布的6位数字即可签到"


@pytest.fixture
def db(sessionmaker):  # noqa: ANN001, ANN201
    """The test database (most tests call the operations directly; the inbox test also runs the app)."""
    return sessionmaker


# ---- helpers ---------------------------------------------------------------------------------------

async def member(db, clock, openid: str, name: str | None = None, phone: str | None = None) -> Member:  # noqa: ANN001
    await add_member(db, clock, openid, name=name, phone=phone)
    async with db() as s:
        return await s.scalar(select(Member).where(Member.openid == openid))


async def join(db, clock, act_id: int, m: Member, name: str = "王一", phone: str = "13800000001"):  # noqa: ANN001, ANN201
    """The worker signs up (as the chat does); (outcome, sign-up id, waitlist position)."""
    async with db() as s, s.begin():
        r = await ops.sign_up(s, ops_ctx(clock), act_id, m, name=name, phone=phone)
        return r.outcome, (r.signup.id if r.signup else None), r.position


async def cancel(db, clock, sid: int, member_id: int | None = None) -> ops.CancelResult:  # noqa: ANN001
    async with db() as s, s.begin():
        return await ops.cancel_signup(s, ops_ctx(clock), sid, member_id)



async def activity(db, aid: int) -> Activity:  # noqa: ANN001
    async with db() as s:
        return await s.get(Activity, aid)



def status_template(title: str, when: str, place: str, status: str, remark: str) -> dict:
    return {"kind": "signup_status", "data": {"keyword1": title, "keyword2": when, "keyword3": place,
                                              "keyword4": status, "remark": remark}}


# ---- cancelling: the result the chat and the admin read ------------------------------------------

async def test_cancel_results_not_found_started_already_attended(db, clock):  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)  # 26 Nov 14:00–16:00
    ma, mb, mc = await member(db, clock, "oA"), await member(db, clock, "oB"), await member(db, clock, "oC")
    _, a, _ = await join(db, clock, act.id, ma, "王一", "13800000001")
    _, b, _ = await join(db, clock, act.id, mb, "王二", "13800000002")
    _, c, _ = await join(db, clock, act.id, mc, "王三", "13800000003")

    assert await cancel(db, clock, a + b + c + 100) == ops.CancelResult(False, "not_found")
    assert await cancel(db, clock, a, member_id=mb.id) == ops.CancelResult(False, "not_found")  # not theirs
    assert (await signup_row(db, a)).status == "confirmed"

    clock.set(at(26, 14))  # the start: the worker can no longer cancel in the chat
    res = await cancel(db, clock, a, member_id=ma.id)
    assert (res.ok, res.reason, res.activity.id, res.promoted, res.was) == (False, "started", act.id, None, "")
    clock.set(at(26, 13, 59))  # a minute before: cancelled, the first waitlisted moves up
    res = await cancel(db, clock, a, member_id=ma.id)
    assert (res.ok, res.reason, res.activity.id, res.promoted.id, res.was) == (True, "", act.id, b, "confirmed")
    got = await signup_row(db, a)
    assert (got.status, got.cancelled_at, got.updated_at) == ("cancelled", clock.now(), clock.now())
    moved = await signup_row(db, b)
    assert (moved.status, moved.confirmed_at, moved.updated_at) == ("confirmed", clock.now(), clock.now())
    assert (await signup_row(db, c)).status == "waitlist"

    for who in (ma.id, None):  # twice: the second time nothing happens
        res = await cancel(db, clock, a, member_id=who)
        assert (res.ok, res.reason, res.activity.id, res.promoted, res.was) == (False, "already", act.id, None, "")
    assert (await activity(db, act.id)).taken == 1

    res = await cancel(db, clock, c, member_id=mc.id)  # a waitlist place: no seat freed, nobody promoted
    assert (res.ok, res.reason, res.promoted, res.was) == (True, "", None, "waitlist")
    assert (await activity(db, act.id)).taken == 1

    async with db() as s, s.begin():
        await ops.staff_check_in(s, ops_ctx(clock), act.id, b)
    for who in (mb.id, None):  # checked in: neither the worker nor staff can cancel it
        res = await cancel(db, clock, b, member_id=who)
        assert (res.ok, res.reason, res.activity.id, res.promoted) == (False, "attended", act.id, None)
    assert (await signup_row(db, b)).status == "confirmed"


async def test_cancel_reads_the_row_again_after_the_lock(db, clock):  # noqa: ANN001
    """A waitlisted row promoted meanwhile (the session still holds it as waitlisted) frees its seat."""
    act = await make_activity(db, clock, capacity=1)
    ma, mb = await member(db, clock, "oA"), await member(db, clock, "oB")
    _, a, _ = await join(db, clock, act.id, ma)
    _, b, _ = await join(db, clock, act.id, mb, "王二", "13800000002")
    async with db() as s, s.begin():
        assert (await s.get(Signup, b)).status == "waitlist"  # held by this session
        await s.execute(update(Signup).where(Signup.id == a).values(status="cancelled")
                        .execution_options(synchronize_session=False))
        await s.execute(update(Signup).where(Signup.id == b).values(status="confirmed")
                        .execution_options(synchronize_session=False))
        res = await ops.cancel_signup(s, ops_ctx(clock), b, mb.id)
    assert (res.ok, res.was) == (True, "confirmed")
    assert (await activity(db, act.id)).taken == 0


# ---- the waitlist moving up ----------------------------------------------------------------------

async def test_promotion_message_and_template_with_the_year(db, clock):  # noqa: ANN001
    clock.set(datetime(2026, 12, 30, 10, 0, tzinfo=TZ))
    start = datetime(2027, 1, 1, 7, 0, tzinfo=TZ)  # 2026-12-31 23:00 UTC: another day and year
    act = await make_activity(db, clock, capacity=1, starts_at=start, ends_at=start + timedelta(hours=2))
    ma, mb = await member(db, clock, "oA"), await member(db, clock, "oB")
    _, a, _ = await join(db, clock, act.id, ma)
    _, b, _ = await join(db, clock, act.id, mb, "王二", "13800000002")
    await cancel(db, clock, a, ma.id)
    when = "2027年1月1日（周五）07:00–09:00"
    [msg] = await outbox_of(db, "signup.promoted")
    got = await signup_row(db, b)
    assert (msg.openid, msg.key, got.notice_key) == ("oB", f"signup:promoted:{act.id}:{mb.id}:{got.seq}", msg.key)
    assert msg.payload["text"] == (
        f"好消息！有人取消了报名，您已从候补转为正式报名「电工技能培训」。\n时间：{when}\n地点：街道职工之家\n"
        f"{HOW}。如不能参加，请回复「我的报名」取消，把名额留给其他职工。")
    assert msg.payload["template"] == status_template("电工技能培训", when, "街道职工之家", "候补转正式报名", "请准时参加")


async def test_no_promotion_from_the_start_nor_from_another_activity(db, clock):  # noqa: ANN001
    act = await make_activity(db, clock, capacity=2)  # 26 Nov 14:00, nobody waiting
    other = await make_activity(db, clock, capacity=1, title="读书会", starts_at=at(27, 9), ends_at=at(27, 11))
    ma, mb, mc, md = (await member(db, clock, "oA"), await member(db, clock, "oB"), await member(db, clock, "oC"),
                      await member(db, clock, "oD"))
    _, a, _ = await join(db, clock, act.id, ma)
    await join(db, clock, act.id, mb, "王二", "13800000002")
    _, c, _ = await join(db, clock, other.id, mc, "王三", "13800000003")
    _, d, _ = await join(db, clock, other.id, md, "王四", "13800000004")  # waitlisted on the other one
    clock.set(at(26, 13))
    res = await cancel(db, clock, a, ma.id)  # a seat freed here: the other activity's list stays
    assert (res.ok, res.promoted) == (True, None)
    assert (await signup_row(db, d)).status == "waitlist" and (await activity(db, other.id)).taken == 1
    clock.set(at(27, 9))  # staff cancel at the start: the seat is not given any more
    res = await cancel(db, clock, c)
    assert (res.ok, res.promoted) == (True, None)
    assert (await signup_row(db, d)).status == "waitlist" and (await activity(db, other.id)).taken == 0
    assert await outbox_of(db, "signup.promoted") == []


async def test_the_lowest_sequence_moves_up_not_the_oldest_row(db, clock):  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)
    ma, mb, mc = await member(db, clock, "oA"), await member(db, clock, "oB"), await member(db, clock, "oC")
    _, a, _ = await join(db, clock, act.id, ma)
    _, b, _ = await join(db, clock, act.id, mb, "王二", "13800000002")
    _, c, pos = await join(db, clock, act.id, mc, "王三", "13800000003")
    assert pos == 2
    await cancel(db, clock, b, mb.id)  # 王二 leaves the waitlist and joins again: now behind 王三
    outcome, b2, pos = await join(db, clock, act.id, mb, "王二", "13800000002")
    assert (outcome, b2, pos) == ("waitlist", b, 2)
    res = await cancel(db, clock, a, ma.id)
    assert res.promoted.id == c
    assert (await signup_row(db, c)).status == "confirmed" and (await signup_row(db, b)).status == "waitlist"


async def test_waitlist_position_counts_only_this_activity(db, clock):  # noqa: ANN001
    one = await make_activity(db, clock, capacity=1)
    two = await make_activity(db, clock, capacity=1, title="读书会")
    ms = [await member(db, clock, f"o{i}") for i in range(4)]
    await join(db, clock, one.id, ms[0])
    assert (await join(db, clock, one.id, ms[1]))[::2] == ("waitlist", 1)
    await join(db, clock, two.id, ms[2])
    assert (await join(db, clock, two.id, ms[3]))[::2] == ("waitlist", 1)
    assert (await join(db, clock, one.id, ms[3]))[::2] == ("waitlist", 2)


# ---- a new time or place is told -----------------------------------------------------------------

async def test_change_notice_to_confirmed_and_waitlisted_only(db, clock):  # noqa: ANN001
    clock.set(datetime(2026, 12, 30, 10, 0, tzinfo=TZ))
    start = datetime(2027, 1, 1, 7, 0, tzinfo=TZ)
    act = await make_activity(db, clock, capacity=1, starts_at=start, ends_at=start + timedelta(hours=2))
    other = await make_activity(db, clock, title="读书会", starts_at=start, ends_at=start + timedelta(hours=2))
    ma, mb, mc, md = (await member(db, clock, "oA"), await member(db, clock, "oB"), await member(db, clock, "oC"),
                      await member(db, clock, "oD"))
    _, a, _ = await join(db, clock, act.id, ma)
    _, b, _ = await join(db, clock, act.id, mb, "王二", "13800000002")
    _, c, _ = await join(db, clock, act.id, mc, "王三", "13800000003")
    await cancel(db, clock, c, mc.id)  # cancelled: not told
    await join(db, clock, other.id, md, "王四", "13800000004")  # another activity: not told
    async with db() as s, s.begin():  # added by staff without WeChat: phoned, not messaged
        await ops.staff_sign_up(s, ops_ctx(clock), act.id, name="赵五", phone="13800000005")
    fields = dict(kind="training", title="电工技能培训", description="", place="工人文化宫", capacity=1,
                  waitlist=True, audience="", deadline=None, starts_at=start, ends_at=start + timedelta(hours=2))
    async with db() as s, s.begin():
        _, told = await ops.update_activity(s, ops_ctx(clock), act.id, **fields)
    assert told == 2
    rows = await outbox_of(db, "signup.changed")
    assert [r.openid for r in rows] == ["oA", "oB"]
    when = "2027年1月1日（周五）07:00–09:00"
    head = f"您报名的「电工技能培训」时间或地点有变动，请留意：\n时间：{when}\n地点：工人文化宫\n"
    tail = "如不能参加，请回复「我的报名」取消，把名额留给其他职工。"
    assert rows[0].payload["text"] == f"{head}{HOW}。{tail}"  # the confirmed one is told how to check in
    assert rows[1].payload["text"] == f"{head}{tail}"
    for r in rows:
        assert r.payload["template"] == status_template("电工技能培训", when, "工人文化宫", "时间或地点变动",
                                                        "请按新的时间地点参加")
    assert [(await signup_row(db, a)).notice_key, (await signup_row(db, b)).notice_key] == [r.key for r in rows]


# ---- reminders -----------------------------------------------------------------------------------

async def test_reminder_rows_exact_key_text_template_and_count(db, clock):  # noqa: ANN001
    clock.set(datetime(2026, 12, 30, 10, 0, tzinfo=TZ))
    start = datetime(2027, 1, 1, 7, 0, tzinfo=TZ)  # the local day is 20270101 (UTC: 20261231)
    later = await make_activity(db, clock, title="读书会", starts_at=start + timedelta(days=1),
                                ends_at=start + timedelta(days=1, hours=2))  # not due yet: skipped, not the end
    act = await make_activity(db, clock, capacity=3, starts_at=start, ends_at=start + timedelta(hours=2))
    ma, mb, mc = await member(db, clock, "oA"), await member(db, clock, "oB"), await member(db, clock, "oC")
    a = (await join(db, clock, act.id, ma))[1]
    b = (await join(db, clock, act.id, mb, "王二", "13800000002"))[1]
    await join(db, clock, later.id, mc, "王三", "13800000003")  # due only on 1 Jan
    async with db() as s, s.begin():  # added by staff without WeChat: nobody to remind
        await ops.staff_sign_up(s, ops_ctx(clock), act.id, name="赵五", phone="13800000005")
        # a sign-up confirmed before confirmed_at was kept is reminded too
        await s.execute(update(Signup).where(Signup.id == b).values(confirmed_at=None))
    clock.set(datetime(2026, 12, 31, 18, 0, tzinfo=TZ))
    async with db() as s, s.begin():
        assert await ops.queue_reminders(s, ops_ctx(clock)) == 2
    rows = await outbox_of(db, "signup.reminder")
    assert sorted(r.key for r in rows) == sorted(f"signup:remind:{act.id}:{m.id}:20270101" for m in (ma, mb))
    when = "2027年1月1日（周五）07:00–09:00"
    for r in rows:
        assert r.payload["text"] == (f"温馨提醒：您报名的「电工技能培训」明天举行。\n时间：{when}\n地点：街道职工之家\n"
                                     f"{HOW}。如不能参加，请回复「我的报名」取消。")
        assert r.payload["template"] == {"kind": "signup_reminder", "data": {
            "keyword1": "电工技能培训", "keyword2": when, "keyword3": "街道职工之家", "remark": HOW}}
    assert (await signup_row(db, a)).status == "confirmed"


async def test_reminder_confirmed_at_the_due_time_or_before_only(db, clock):  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)  # 26 Nov 14:00: due 25 Nov 18:00
    ma, mb = await member(db, clock, "oA"), await member(db, clock, "oB")
    _, a, _ = await join(db, clock, act.id, ma)
    _, b, _ = await join(db, clock, act.id, mb, "王二", "13800000002")
    clock.set(at(25, 18))  # promoted exactly at the due time: still reminded
    await cancel(db, clock, a, ma.id)
    async with db() as s, s.begin():
        assert await ops.queue_reminders(s, ops_ctx(clock)) == 1
    assert [r.openid for r in await outbox_of(db, "signup.reminder")] == ["oB"]

    two = await make_activity(db, clock, title="读书会", starts_at=at(26, 19), ends_at=at(26, 21))
    clock.set(at(25, 18, 1))  # signed up after the due time: the confirmation said it all
    await join(db, clock, two.id, ma)
    async with db() as s, s.begin():
        assert await ops.queue_reminders(s, ops_ctx(clock)) == 0
    assert (await signup_row(db, b)).confirmed_at == at(25, 18)


async def test_no_reminder_at_the_start_nor_for_a_cancelled_activity(db, clock):  # noqa: ANN001
    act = await make_activity(db, clock)
    gone = await make_activity(db, clock, title="读书会")
    ma = await member(db, clock, "oA")
    await join(db, clock, act.id, ma)
    await join(db, clock, gone.id, ma)
    async with db() as s, s.begin():
        await ops.cancel_activity(s, ops_ctx(clock), gone.id)
    clock.set(at(26, 14))  # the service was down until the very start: too late to remind
    async with db() as s, s.begin():
        assert await ops.queue_reminders(s, ops_ctx(clock)) == 0
    clock.set(at(26, 13, 59))
    async with db() as s, s.begin():
        assert await ops.queue_reminders(s, ops_ctx(clock)) == 1
    assert [r.key for r in await outbox_of(db, "signup.reminder")] == [f"signup:remind:{act.id}:{ma.id}:20261126"]


async def test_reminder_due_two_days_ahead_on_a_long_day(db):  # noqa: ANN001
    """In a zone whose clocks go back, the day before can be 25 hours long: a reminder due at
    midnight is queued once it is due and the start is two days (48 h) ahead, that instant included."""
    ny = ZoneInfo("America/New_York")
    clock = FakeClock(datetime(2026, 10, 29, 12, 0, tzinfo=ny), tz="America/New_York")
    settings = build_settings({"signup": {"reminder_time": "00:00"}}, env={})
    start = datetime(2026, 11, 1, 23, 30, tzinfo=ny)  # 1 Nov has 25 hours (EDT -> EST)
    act = await make_activity(db, clock, starts_at=start, ends_at=start + timedelta(hours=1))
    ma = await member(db, clock, "oA")
    await join(db, clock, act.id, ma)
    clock.set(start.astimezone(timezone.utc) - timedelta(days=2))  # 31 Oct 00:30 EDT, after the due midnight
    async with db() as s, s.begin():
        assert await ops.queue_reminders(s, ops_ctx(clock, settings)) == 1
    assert [r.key for r in await outbox_of(db, "signup.reminder")] == [f"signup:remind:{act.id}:{ma.id}:20261101"]


async def test_a_reminder_due_more_than_48_hours_ahead_goes_out_when_due(db):  # noqa: ANN001
    """At midnight of 31 Oct in New York the start (1 Nov 23:30, after the clocks went back) is
    48.5 hours away: the reminder is due then, not half an hour later."""
    ny = ZoneInfo("America/New_York")
    clock = FakeClock(datetime(2026, 10, 29, 12, 0, tzinfo=ny), tz="America/New_York")
    settings = build_settings({"signup": {"reminder_time": "00:00"}}, env={})
    start = datetime(2026, 11, 1, 23, 30, tzinfo=ny)
    act = await make_activity(db, clock, starts_at=start, ends_at=start + timedelta(hours=1))
    await join(db, clock, act.id, await member(db, clock, "oA"))
    clock.set(datetime(2026, 10, 31, 0, 0, tzinfo=ny))
    assert start - clock.now() == timedelta(hours=48, minutes=30)
    async with db() as s, s.begin():
        assert await ops.queue_reminders(s, ops_ctx(clock, settings)) == 1


# ---- 我的报名 ----------------------------------------------------------------------------------------

async def test_my_signups_live_until_the_end_soonest_first(db, clock):  # noqa: ANN001
    late = await make_activity(db, clock, title="读书会", starts_at=at(28, 9), ends_at=at(28, 11))
    soon = await make_activity(db, clock, title="篮球赛", starts_at=at(24, 9), ends_at=at(24, 12))
    mid = await make_activity(db, clock, title="电工技能培训", starts_at=at(26, 9), ends_at=at(26, 11))
    ma = await member(db, clock, "oA")
    clock.set(at(24, 8))
    for a in (late, soon, mid):
        await join(db, clock, a.id, ma)

    async def mine() -> list[str]:
        async with db() as s:
            return [a.title for _, a in await ops.my_signups(s, ops_ctx(clock), ma.id)]

    assert await mine() == ["篮球赛", "电工技能培训", "读书会"]
    clock.set(at(24, 11, 59))
    assert await mine() == ["篮球赛", "电工技能培训", "读书会"]
    clock.set(at(24, 12))  # the basketball match is over
    assert await mine() == ["电工技能培训", "读书会"]


async def test_my_signups_same_start_in_sign_up_order(db, clock):  # noqa: ANN001
    x = await make_activity(db, clock, title="甲活动")
    y = await make_activity(db, clock, title="乙活动")  # the same start
    ma = await member(db, clock, "oA")
    await join(db, clock, y.id, ma)
    await join(db, clock, x.id, ma)
    async with db() as s:
        assert [a.title for _, a in await ops.my_signups(s, ops_ctx(clock), ma.id)] == ["乙活动", "甲活动"]


# ---- 删除我的信息 ------------------------------------------------------------------------------------

async def test_erasure_strips_what_is_over_and_flags_what_is_to_come(db, clock):  # noqa: ANN001
    clock.set(at(20, 8))
    past = await make_activity(db, clock, title="已结束", starts_at=at(20, 9), ends_at=at(24, 10))  # ends at now
    later = await make_activity(db, clock, title="候补的", capacity=1, starts_at=at(28, 9), ends_at=at(28, 11))
    soon = await make_activity(db, clock, title="将来的", starts_at=at(26, 9), ends_at=at(26, 11))
    dropped = await make_activity(db, clock, title="取消了报名", starts_at=at(27, 9), ends_at=at(27, 11))
    called_off = await make_activity(db, clock, title="活动取消", starts_at=at(27, 9), ends_at=at(27, 11))
    ma, mb, mc = await member(db, clock, "oA"), await member(db, clock, "oB"), await member(db, clock, "oC")
    ids = {}
    await join(db, clock, later.id, mc, "王三", "13800000003")  # takes the one seat: 王一 waits
    for a in (past, later, soon, dropped, called_off):
        ids[a.title] = (await join(db, clock, a.id, ma, "王一", "13800000001"))[1]
    other = (await join(db, clock, soon.id, mb, "王二", "13800000002"))[1]
    await cancel(db, clock, ids["取消了报名"], ma.id)
    async with db() as s, s.begin():
        await ops.cancel_activity(s, ops_ctx(clock), called_off.id)

    clock.set(at(24, 10))
    async with db() as s, s.begin():
        out = await ops.erase_member_signups(s, ops_ctx(clock), ma.id)
        kept = [(sg.id, a.title) for sg, a in out.kept]
    assert out.erased == 3
    assert kept == [(ids["将来的"], "将来的"), (ids["候补的"], "候补的")]  # soonest first
    first = clock.now()
    for title in ("已结束", "取消了报名", "活动取消"):
        r = await signup_row(db, ids[title])
        assert (r.name, r.phone, r.employer, r.openid, r.member_id, r.notice_key) == ("", "", "", "", None, None)
        assert (r.erase_requested_at, r.updated_at) == (first, first)
    for title in ("将来的", "候补的"):
        r = await signup_row(db, ids[title])
        assert (r.name, r.phone, r.openid, r.member_id, r.erase_requested_at) == (
            "王一", "13800000001", "oA", ma.id, first)
    kept_other = await signup_row(db, other)
    assert (kept_other.name, kept_other.erase_requested_at) == ("王二", None)

    clock.set(at(25, 10))  # asked again: the first request's time stays; nothing more to strip
    async with db() as s, s.begin():
        again = await ops.erase_member_signups(s, ops_ctx(clock), ma.id)
    assert (again.erased, len(again.kept)) == (0, 2)
    assert (await signup_row(db, ids["将来的"])).erase_requested_at == first

    async def pending() -> int:
        async with db() as s, s.begin():
            return await ops.erase_pending_signups(s, ops_ctx(clock), )

    assert await pending() == 0  # both still to come
    clock.set(at(26, 10, 59))
    assert await pending() == 0
    assert (await signup_row(db, ids["将来的"])).name == "王一"
    await cancel(db, clock, ids["候补的"], ma.id)  # leaves the waitlist: no longer needed either
    clock.set(at(26, 11))  # 将来的 is over: both stripped now, once
    assert await pending() == 2
    assert await pending() == 0
    r = await signup_row(db, ids["候补的"])
    assert (r.name, r.phone, r.openid, r.member_id, r.erase_requested_at, r.updated_at) == (
        "", "", "", None, first, clock.now())
    r = await signup_row(db, ids["将来的"])
    assert (r.name, r.phone, r.openid, r.member_id, r.erase_requested_at) == ("", "", "", None, first)
    assert ((await signup_row(db, other)).name, (await signup_row(db, other)).member_id) == ("王二", mb.id)  # never asked


# ---- what staff see beside a worker's inbox thread -----------------------------------------------

FACT = re.compile(r'<li><span class="muted">活动报名</span>\s*<a href="([^"]+)">([^<]+)</a></li>')


async def test_inbox_thread_shows_the_workers_latest_signups(client, db, clock):  # noqa: ANN001
    acts = [await make_activity(db, clock, capacity=1, title=t, starts_at=at(d, 9), ends_at=at(d, 11))
            for t, d in (("一号", 25), ("二号", 26), ("三号", 27), ("四号", 28), ("五号", 29))]
    ma, mb = await member(db, clock, "oA", name="王一"), await member(db, clock, "oB", name="王二")
    await join(db, clock, acts[0].id, ma)  # the oldest: beyond the three shown
    await join(db, clock, acts[1].id, ma)
    await join(db, clock, acts[2].id, mb, "王二", "13800000002")  # 王二 holds the seat: 王一 waits
    await join(db, clock, acts[2].id, ma)
    await join(db, clock, acts[3].id, ma)
    gone = (await join(db, clock, acts[4].id, ma))[1]
    await cancel(db, clock, gone, ma.id)  # cancelled: not shown
    async with db() as s, s.begin():
        sid = await s.scalar(select(Signup.id).where(Signup.activity_id == acts[1].id))
        await ops.staff_check_in(s, ops_ctx(clock), acts[1].id, sid)
    await log_in_staff(client, db)
    tid = await add_thread(db, clock, "oA", [("worker", "培训能换时间吗")])
    html, _ = await open_thread(client, tid)
    assert FACT.findall(html) == [(f"/admin/signup/{acts[3].id}", "四号 已报名"),
                                  (f"/admin/signup/{acts[2].id}", "三号 候补中"),
                                  (f"/admin/signup/{acts[1].id}", "二号 已签到")]
    tid = await add_thread(db, clock, "oB", [("worker", "请问地点在哪")])
    html, _ = await open_thread(client, tid)
    assert FACT.findall(html) == [(f"/admin/signup/{acts[2].id}", "三号 已报名")]


# ---- 代报名: the follower offered, the row reused or made -------------------------------------------

async def test_find_follower_by_phone(db, clock):  # noqa: ANN001
    await member(db, clock, "oA", name="张 三", phone="13800000001")
    await member(db, clock, "oB", phone="13800000002")
    await member(db, clock, "oC", name="李四", phone="13800000003")
    await member(db, clock, "oD", name="李四", phone="13800000003")
    await member(db, clock, "oE", name="王五", phone="13800000005")

    async with db() as s:
        async def find(phone: str, name: str):  # noqa: ANN202
            return await ops.find_follower(s, phone=phone, name=name)

        ids = {m.openid: m.id for m in await s.scalars(select(Member))}
        last = clock.now()
        assert await find("", "张三") == (None, "")
        assert await find("13900000000", "张三") == (None, "")
        assert await find("13800000003", "李四") == (
            None, "这个手机号对应多位微信用户，无法确定是哪一位，本次不关联微信。")
        assert await find("13800000001", "张三") == (ops.FollowerMatch(ids["oA"], "张 三", "138****0001", last, False), "")
        assert await find("13800000005", "王 五 ") == (ops.FollowerMatch(ids["oE"], "王五", "138****0005", last, False), "")
        assert await find("13800000005", "王六") == (ops.FollowerMatch(ids["oE"], "王五", "138****0005", last, True), "")
        assert await find("13800000002", "赵六") == (ops.FollowerMatch(ids["oB"], "", "138****0002", last, False), "")


async def staff_add(db, clock, act_id: int, name: str, phone: str, m: Member | None = None,  # noqa: ANN001
                    employer: str = "") -> ops.StaffAdd:
    async with db() as s, s.begin():
        return await ops.staff_sign_up(s, ops_ctx(clock), act_id, name=name, phone=phone, employer=employer, member=m)


async def rows_of(db, act_id: int) -> list[tuple]:  # noqa: ANN001
    async with db() as s:
        return [(r.id, r.member_id, r.openid, r.name, r.phone, r.status) for r in await s.scalars(
            select(Signup).where(Signup.activity_id == act_id).order_by(Signup.id))]


async def test_staff_add_finds_the_persons_own_row_on_this_activity_only(db, clock):  # noqa: ANN001
    one = await make_activity(db, clock, capacity=5)
    two = await make_activity(db, clock, capacity=5, title="读书会")
    ma, mb = await member(db, clock, "oA"), await member(db, clock, "oB")
    await join(db, clock, one.id, ma, "王一", "13800000001")  # in the chat, on the other activity
    await join(db, clock, two.id, mb, "王二", "13800000002")  # someone else on this one
    add = await staff_add(db, clock, two.id, "王一", "13800000001", ma)  # neither row is 王一's here
    assert (add.outcome, add.told, add.signup.member_id, add.signup.openid) == ("confirmed", True, ma.id, "oA")
    add = await staff_add(db, clock, two.id, "赵五", "13800000005")
    assert (add.outcome, add.signup.member_id, add.signup.openid) == ("confirmed", None, "")
    with pytest.raises(ops.SignupError, match=r"^王二（138\*\*\*\*0002）已在报名名单中：报名成功。$"):
        await staff_add(db, clock, two.id, "王二", "13800000002")  # the same phone, signed up in the chat
    with pytest.raises(ops.SignupError, match=r"^王一（138\*\*\*\*0001）已在报名名单中：报名成功。$"):
        await staff_add(db, clock, two.id, "王一", "13800000001", ma)
    assert len(await rows_of(db, two.id)) == 3


async def test_staff_add_reuses_only_a_cancelled_row_of_the_same_link(db, clock):  # noqa: ANN001
    act = await make_activity(db, clock, capacity=5)
    ma, mb = await member(db, clock, "oA"), await member(db, clock, "oB")
    _, a, _ = await join(db, clock, act.id, ma, "王一", "13800000001")
    await cancel(db, clock, a, ma.id)
    again = await staff_add(db, clock, act.id, "王一", "13900000009", ma)  # their own row, another phone
    assert (again.signup.id, again.signup.status, again.signup.phone) == (a, "confirmed", "13900000009")

    unlinked = await staff_add(db, clock, act.id, "赵五", "13800000005")
    await cancel(db, clock, unlinked.signup.id)
    linked = await staff_add(db, clock, act.id, "赵五", "13800000005", mb)  # not the unlinked row
    assert linked.signup.id != unlinked.signup.id and linked.signup.member_id == mb.id
    await cancel(db, clock, linked.signup.id)
    plain = await staff_add(db, clock, act.id, "赵五", "13800000005")  # the unlinked row, not 王二's
    assert plain.signup.id == unlinked.signup.id
    assert [r[1:] for r in await rows_of(db, act.id)] == [
        (ma.id, "oA", "王一", "13900000009", "confirmed"),
        (None, "", "赵五", "13800000005", "confirmed"),
        (mb.id, "oB", "赵五", "13800000005", "cancelled")]


async def test_staff_add_names_the_latest_live_sign_up_of_a_shared_phone(db, clock):  # noqa: ANN001
    act = await make_activity(db, clock, capacity=5)
    ma, mb = await member(db, clock, "oA"), await member(db, clock, "oB")
    await join(db, clock, act.id, ma, "甲", "13800000001")  # two followers who left the same number
    await join(db, clock, act.id, mb, "乙", "13800000001")  # the newer sign-up is named
    with pytest.raises(ops.SignupError, match=r"^乙（138\*\*\*\*0001）已在报名名单中：报名成功。$"):
        await staff_add(db, clock, act.id, "丙", "13800000001")


async def test_staff_add_stores_the_details_cut_to_the_columns(db, clock):  # noqa: ANN001
    act = await make_activity(db, clock, capacity=5)
    name, phone, employer = "名" * 70, "1" * 25, "厂" * 130
    add = await staff_add(db, clock, act.id, name, phone, employer=employer)
    got = await signup_row(db, add.signup.id)
    assert (got.name, got.phone, got.employer, got.openid) == ("名" * 64, "1" * 20, "厂" * 128, "")
    add = await staff_add(db, clock, act.id, "赵五", "13800000005", employer="")
    assert (await signup_row(db, add.signup.id)).employer == ""


# ---- small queries -------------------------------------------------------------------------------

async def test_member_statuses_open_activities_and_lookups(db, clock):  # noqa: ANN001
    late = await make_activity(db, clock, capacity=1, title="读书会", starts_at=at(28, 9), ends_at=at(28, 11))
    soon = await make_activity(db, clock, capacity=1, title="篮球赛", starts_at=at(25, 9), ends_at=at(25, 11))
    third = await make_activity(db, clock, title="电工技能培训", starts_at=at(27, 9), ends_at=at(27, 11))
    ma, mb = await member(db, clock, "oA"), await member(db, clock, "oB")
    await join(db, clock, late.id, mb)
    await join(db, clock, late.id, ma)
    await join(db, clock, soon.id, ma)
    c = (await join(db, clock, third.id, ma))[1]
    await cancel(db, clock, c, ma.id)
    async with db() as s:
        assert await ops.member_statuses(s, ma.id, [late.id, third.id]) == {late.id: "waitlist"}
        assert await ops.member_statuses(s, ma.id, [soon.id]) == {soon.id: "confirmed"}
        assert [a.title for a in await ops.open_activities(s, ops_ctx(clock))] == ["篮球赛", "电工技能培训", "读书会"]
        assert (await ops.member_by_id(s, ma.id)).openid == "oA"
        assert (await ops.get_activity(s, late.id)).title == "读书会"
        with pytest.raises(ops.SignupError, match="^没有这个活动。$"):
            await ops.get_activity(s, late.id + soon.id + third.id)


# ---- the texts -----------------------------------------------------------------------------------

def test_day_text_year_weekday_and_zone() -> None:
    d = datetime(2027, 1, 1, 7, 5, tzinfo=TZ)  # 2026-12-31 23:05 UTC
    assert ops.day_text(d, TZ) == "2027年1月1日（周五）07:05"
    assert ops.day_text(d, TZ, datetime(2027, 6, 1, tzinfo=TZ)) == "1月1日（周五）07:05"
    assert ops.day_text(d, TZ, datetime(2027, 1, 1, 0, 30, tzinfo=TZ)) == "1月1日（周五）07:05"  # UTC: still 2026
    assert ops.day_text(d, TZ, datetime(2026, 12, 31, 20, tzinfo=TZ)) == "2027年1月1日（周五）07:05"
    assert ops.day_text(d, TZ, datetime(2027, 6, 1, tzinfo=TZ), weekday=False) == "1月1日 07:05"


def test_span_text_same_day_or_both_days() -> None:
    s = datetime(2026, 11, 26, 7, 0, tzinfo=TZ)  # 25 Nov 23:00 UTC
    now = datetime(2026, 11, 1, tzinfo=TZ)
    assert ops.span_text(s, s + timedelta(hours=9), TZ, now) == "11月26日（周四）07:00 至 16:00"
    assert ops.span_text(s, s + timedelta(hours=1), TZ, now) == "11月26日（周四）07:00 至 08:00"  # UTC: other days
    assert ops.span_text(s, s + timedelta(days=1), TZ, now) == "11月26日（周四）07:00 至 11月27日（周五）07:00"
    assert ops.span_text(s - timedelta(hours=8), s - timedelta(hours=7, minutes=30), TZ, now) == (
        "11月25日（周三）23:00 至 23:30")
    late = datetime(2026, 12, 31, 20, tzinfo=TZ)
    assert ops.span_text(late, late + timedelta(hours=5), TZ, now) == "12月31日（周四）20:00 至 2027年1月1日（周五）01:00"
    assert ops.span_text(late, late + timedelta(hours=5), TZ) == "2026年12月31日（周四）20:00 至 2027年1月1日（周五）01:00"


def test_phase_boundaries() -> None:
    start, end, deadline = at(26, 14), at(26, 16), at(25, 18)
    act = Activity(status="open", starts_at=start, ends_at=end, deadline=deadline)
    assert ops.phase(act, deadline - timedelta(minutes=1)) == ("报名中", "ok")
    assert ops.phase(act, deadline) == ("报名截止", "wait")
    assert ops.phase(act, start - timedelta(minutes=1)) == ("报名截止", "wait")
    assert ops.phase(act, start) == ("进行中", "ok")
    assert ops.phase(act, end - timedelta(minutes=1)) == ("进行中", "ok")
    assert ops.phase(act, end) == ("已结束", "muted")
    act.status = "cancelled"
    assert ops.phase(act, deadline - timedelta(minutes=1)) == ("已取消", "muted")
    assert ops.phase(act, end) == ("已取消", "muted")
