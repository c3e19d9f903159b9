"""Sharper tests for handlers/signup/ops.py (mutation group `ops-signup`), part 3: what `sign_up` itself
decides when the dialogue's own checks were passed a moment earlier (an activity closed or a seat taken
between the refresh and the answer, a sign-up changed by another transaction), the seat texts of the
listing, who is told first, the order of lists with equal start times, check-in's closing time, and
which sign-up a staff action on an activity's page may touch — direct calls of the operations the way
the dialogue and the admin make them, on the real test database, and the chat where it shows."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from bot.config import build_settings
from bot.db.models.core import Member
from bot.db.models.signup import Activity, Signup
from handlers.signup import ops
from tests.signup.test_ops_mutants_worker import activity, cancel
from tests.support.signup import TZ, at, make_activity, ops_ctx, outbox_of, signup_row


@pytest.fixture
def db(sessionmaker):  # noqa: ANN001, ANN201
    """The test database (the chat test runs the app on the same database)."""
    return sessionmaker


async def member(db, clock, openid: str, name: str = "王一", phone: str = "13800000001") -> Member:  # noqa: ANN001
    async with db() as s, s.begin():
        m = Member(openid=openid, first_seen=clock.now(), last_seen=clock.now(), name=name, phone=phone)
        s.add(m)
    async with db() as s:
        return await s.scalar(select(Member).where(Member.openid == openid))


async def join(db, clock, act_id: int, m: Member, **kw) -> ops.SignupResult:  # noqa: ANN001, ANN003
    """The worker's 确认 in the chat: `sign_up` with the profile's name and phone."""
    async with db() as s, s.begin():
        return await ops.sign_up(s, ops_ctx(clock), act_id, m, name=m.name or "", phone=m.phone or "", **kw)


# ---- the listing's seat texts (the chat's 报名 list) -------------------------------------------------

async def test_listing_shows_the_seat_text_of_each_activity(db, clock, sim) -> None:  # noqa: ANN001
    await make_activity(db, clock, title="不限人数讲座", capacity=None, starts_at=at(24, 19), ends_at=at(24, 20))
    full_wait = await make_activity(db, clock, title="满员可候补", capacity=1, starts_at=at(25, 9), ends_at=at(25, 10))
    full = await make_activity(db, clock, title="满员不候补", capacity=1, waitlist=False,
                               starts_at=at(26, 9), ends_at=at(26, 10))
    await make_activity(db, clock, title="还有名额", capacity=3, starts_at=at(27, 9), ends_at=at(27, 10))
    other = await member(db, clock, "oZ", "赵六", "13800000009")
    for a in (full_wait, full):
        assert (await join(db, clock, a.id, other)).outcome == "confirmed"
    reply = await sim.user("oA").send("报名")
    seats = [line.rsplit("｜", 1)[1] for line in reply.splitlines() if "｜" in line]
    assert seats == ["名额不限", "名额已满，可候补", "名额已满", "剩余3个名额"], reply


# ---- open activities: the deadline instant -------------------------------------------------------

async def test_an_activity_is_no_longer_open_at_its_deadline(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, deadline=at(25, 18))
    clock.set(at(25, 18) - timedelta(microseconds=1))
    async with db() as s:
        assert [a.id for a in await ops.open_activities(s, ops_ctx(clock))] == [act.id]
    clock.set(at(25, 18))
    async with db() as s:
        assert await ops.open_activities(s, ops_ctx(clock)) == []


# ---- sign_up's own checks: the activity changed after the dialogue's last look ---------------------

async def test_sign_up_refuses_an_activity_cancelled_or_closed_meanwhile(db, clock) -> None:  # noqa: ANN001
    """The worker's 确认 arrives after staff cancelled the activity / after the deadline: the
    operation refuses by itself (no seat, no waitlist place, nothing stored)."""
    cancelled = await make_activity(db, clock, title="已取消的培训", capacity=2)
    closed = await make_activity(db, clock, title="截止的培训", capacity=2, deadline=at(25, 12))
    m = await member(db, clock, "oA")
    async with db() as s, s.begin():
        await ops.cancel_activity(s, ops_ctx(clock), cancelled.id, "场地维修")
    r = await join(db, clock, cancelled.id, m)
    assert (r.outcome, r.reason, r.signup, r.activity.id) == ("refused", "cancelled", None, cancelled.id)
    clock.set(at(25, 12))
    r = await join(db, clock, closed.id, m)
    assert (r.outcome, r.reason, r.signup, r.activity.id) == ("refused", "deadline", None, closed.id)
    async with db() as s:
        assert list(await s.scalars(select(Signup))) == []
    assert (await activity(db, cancelled.id)).taken == 0 and (await activity(db, closed.id)).taken == 0


async def test_sign_up_without_an_employer_stores_none(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock)
    m = await member(db, clock, "oA")
    r = await join(db, clock, act.id, m)
    assert r.outcome == "confirmed"
    assert (await signup_row(db, r.signup.id)).employer == ""


# ---- signing up twice: the answer the chat gives from the result ---------------------------------

async def test_signing_up_again_reports_the_live_signup_and_its_waitlist_place(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)
    ma = await member(db, clock, "oA", "王一", "13800000001")
    mb = await member(db, clock, "oB", "王二", "13800000002")
    mc = await member(db, clock, "oC", "王三", "13800000003")
    first, second, third = [await join(db, clock, act.id, m) for m in (ma, mb, mc)]
    assert [r.outcome for r in (first, second, third)] == ["confirmed", "waitlist", "waitlist"]
    assert (second.position, third.position) == (1, 2)

    again = await join(db, clock, act.id, mc)  # e.g. 确认 sent twice while the first was on its way
    assert again.outcome == "already_waitlist"
    assert (again.activity.id, again.activity.title) == (act.id, "电工技能培训")
    assert (again.signup.id, again.signup.status, again.position) == (third.signup.id, "waitlist", 2)
    assert again.reason == ""

    again = await join(db, clock, act.id, ma)
    assert again.outcome == "already_confirmed"
    assert (again.activity.id, again.signup.id, again.position) == (act.id, first.signup.id, 0)

    a = await activity(db, act.id)
    assert a.taken == 1 and a.seq == 3  # nothing taken, no place in the queue used


async def test_sign_up_reads_the_members_row_afresh(db, clock) -> None:  # noqa: ANN001
    """The session holds the worker's sign-up as confirmed; another transaction cancelled it since:
    signing up again is a fresh sign-up, not 「已经报名」."""
    act = await make_activity(db, clock, capacity=2)
    m = await member(db, clock, "oA")
    sid = (await join(db, clock, act.id, m)).signup.id
    async with db() as s, s.begin():
        held = await s.get(Signup, sid)
        await s.execute(update(Signup).where(Signup.id == sid).values(status="cancelled")
                        .execution_options(synchronize_session=False))
        await s.execute(update(Activity).where(Activity.id == act.id).values(taken=0)
                        .execution_options(synchronize_session=False))
        r = await ops.sign_up(s, ops_ctx(clock), act.id, m, name="王一", phone="13800000001")
        assert (r.outcome, r.signup is held, held.status) == ("confirmed", True, "confirmed")
    assert (await signup_row(db, sid)).status == "confirmed" and (await activity(db, act.id)).taken == 1


async def test_refreshed_activities_show_seats_taken_meanwhile(db, clock) -> None:  # noqa: ANN001
    """The dialogue reads the listed activities again with each message: a copy the session holds
    does not hide the seats another worker took."""
    act = await make_activity(db, clock, capacity=2)
    async with db() as s, s.begin():
        held = await s.get(Activity, act.id)
        await s.execute(update(Activity).where(Activity.id == act.id).values(taken=2)
                        .execution_options(synchronize_session=False))
        [got] = await ops.activities_by_id(s, [act.id])
        assert got is held and got.taken == 2 and ops.seats_text(got) == "名额已满，可候补"


# ---- cancelling: the row read again under the lock ------------------------------------------------

async def test_cancel_reads_a_held_row_afresh(db, clock) -> None:  # noqa: ANN001
    """The session holds a waitlisted row that another transaction promoted: cancelling it frees
    the seat (and the next waitlisted moves up)."""
    act = await make_activity(db, clock, capacity=1)
    ma = await member(db, clock, "oA", "王一", "13800000001")
    mb = await member(db, clock, "oB", "王二", "13800000002")
    mc = await member(db, clock, "oC", "王三", "13800000003")
    a, b, c = [(await join(db, clock, act.id, m)).signup.id for m in (ma, mb, mc)]
    async with db() as s, s.begin():
        held = await s.get(Signup, b)
        assert held.status == "waitlist"
        await s.execute(update(Signup).where(Signup.id == a).values(status="cancelled")
                        .execution_options(synchronize_session=False))
        await s.execute(update(Signup).where(Signup.id == b).values(status="confirmed")
                        .execution_options(synchronize_session=False))
        res = await ops.cancel_signup(s, ops_ctx(clock), b, mb.id)
        assert (res.ok, res.was, res.promoted.id if res.promoted else None) == (True, "confirmed", c)
    assert (await signup_row(db, c)).status == "confirmed" and (await activity(db, act.id)).taken == 1


# ---- who is told first ----------------------------------------------------------------------------

async def after_start_with_a_waiting_and_a_recorded(db, clock):  # noqa: ANN001, ANN201
    """One seat: 王一 took it, 王二 waits; after the start staff cancel 王一 (nobody moves up then)
    and record 王三, a follower who came: 王二 (waiting, earlier) and 王三 (confirmed, later)."""
    act = await make_activity(db, clock, capacity=1)
    ma = await member(db, clock, "oA", "王一", "13800000001")
    mb = await member(db, clock, "oB", "王二", "13800000002")
    mc = await member(db, clock, "oC", "王三", "13800000003")
    a = (await join(db, clock, act.id, ma)).signup.id
    assert (await join(db, clock, act.id, mb)).outcome == "waitlist"
    clock.set(at(26, 14, 30))
    assert (await cancel(db, clock, a)).promoted is None
    async with db() as s, s.begin():
        await ops.record_attendance(s, ops_ctx(clock), act.id, name="王三", phone="13800000003",
                                    member=await s.get(Member, mc.id))
    return act


async def test_a_change_is_told_in_the_order_people_signed_up(db, clock) -> None:  # noqa: ANN001
    act = await after_start_with_a_waiting_and_a_recorded(db, clock)
    async with db() as s, s.begin():
        _, told = await ops.update_activity(
            s, ops_ctx(clock), act.id, kind="training", title=act.title, place="区工人文化宫",
            starts_at=act.starts_at, ends_at=act.ends_at, capacity=act.capacity, deadline=act.deadline,
            waitlist=True)
    assert told == 2
    assert [r.openid for r in await outbox_of(db, "signup.changed")] == ["oB", "oC"]


async def test_a_cancellation_is_told_in_the_order_people_signed_up(db, clock) -> None:  # noqa: ANN001
    act = await after_start_with_a_waiting_and_a_recorded(db, clock)
    async with db() as s, s.begin():
        assert await ops.cancel_activity(s, ops_ctx(clock), act.id, "暴雨") == 2
    assert [r.openid for r in await outbox_of(db, "signup.cancelled")] == ["oB", "oC"]


# ---- check-in closes after the end ---------------------------------------------------------------

async def test_check_in_stays_open_after_the_end_for_the_configured_minutes(db, clock) -> None:  # noqa: ANN001
    settings = build_settings({"signup": {"checkin_after_minutes": 30}}, env={})
    act = await make_activity(db, clock)  # 26 Nov 14:00–16:00
    m = await member(db, clock, "oA")
    await join(db, clock, act.id, m)
    ctx = ops_ctx(clock, settings)
    assert ops.checkin_window(ctx, act) == (at(26, 13), at(26, 16, 30))
    clock.set(at(26, 16, 20))  # after the end, inside the 30 minutes
    async with db() as s, s.begin():
        r = await ops.check_in(s, ops_ctx(clock, settings), await s.get(Activity, act.id), m.id, via="code")
        assert r.outcome == "ok"


# ---- the admin's sign-up of an activity ----------------------------------------------------------

async def test_a_signup_is_only_found_under_its_own_activity(db, clock) -> None:  # noqa: ANN001
    """The admin's pages act on /admin/signup/<activity>/<sign-up>: another activity's sign-up, or
    none, is 没有这条报名 (so e.g. 取消报名 on one page never cancels another activity's)."""
    act = await make_activity(db, clock)
    other = await make_activity(db, clock, title="另一个活动")
    m = await member(db, clock, "oA")
    sid = (await join(db, clock, act.id, m)).signup.id
    async with db() as s:
        assert (await ops.get_signup(s, act.id, sid)).id == sid
        for aid, wanted in ((other.id, sid), (act.id, sid + 100)):
            with pytest.raises(ops.SignupError) as e:
                await ops.get_signup(s, aid, wanted)
            assert str(e.value) == "没有这条报名。"


# ---- equal start times: the order is the order of creation / of signing up ----------------------
# (SQLite reads these in that order anyway; PostgreSQL reads a row changed later after the others)

async def as_for_a_large_table(s) -> None:  # noqa: ANN001
    """On PostgreSQL, a sequential scan for the rest of this transaction (the plan a table gets when
    most of its rows match): rows come in the order they lie in the table, a row changed since lies
    after the others — not in any index's order."""
    if s.bind.dialect.name == "postgresql":
        await s.execute(text("SET LOCAL enable_indexscan = off"))
        await s.execute(text("SET LOCAL enable_indexonlyscan = off"))
        await s.execute(text("SET LOCAL enable_bitmapscan = off"))


async def edit(db, clock, act: Activity, **changes) -> None:  # noqa: ANN001, ANN003
    """Staff edit the activity (the other fields as they are)."""
    fields = dict(kind=act.kind, title=act.title, place=act.place, starts_at=act.starts_at, ends_at=act.ends_at,
                  capacity=act.capacity, deadline=act.deadline, waitlist=act.waitlist, description=act.description)
    fields.update(changes)
    async with db() as s, s.begin():
        await ops.update_activity(s, ops_ctx(clock), act.id, **fields)


async def test_open_activities_starting_together_are_listed_in_the_order_published(db, clock) -> None:  # noqa: ANN001
    x = await make_activity(db, clock, title="甲培训")
    y = await make_activity(db, clock, title="乙培训")
    await edit(db, clock, x, description="请带身份证")  # edited after 乙 was published
    async with db() as s, s.begin():
        await as_for_a_large_table(s)
        assert [a.title for a in await ops.open_activities(s, ops_ctx(clock))] == ["甲培训", "乙培训"]


async def signed_up_for_two_at_once(db, clock):  # noqa: ANN001, ANN201
    """The worker signed up for 甲 then 乙 (the same hour), then cancelled 甲 and signed up again."""
    x = await make_activity(db, clock, title="甲培训")
    y = await make_activity(db, clock, title="乙培训")
    m = await member(db, clock, "oA")
    sx = (await join(db, clock, x.id, m)).signup.id
    await join(db, clock, y.id, m)
    assert (await cancel(db, clock, sx, m.id)).ok
    assert (await join(db, clock, x.id, m)).signup.id == sx
    return m


async def test_my_signups_at_the_same_hour_keep_the_order_signed_up(db, clock) -> None:  # noqa: ANN001
    m = await signed_up_for_two_at_once(db, clock)
    async with db() as s, s.begin():
        await as_for_a_large_table(s)
        assert [a.title for _, a in await ops.my_signups(s, ops_ctx(clock), m.id)] == ["甲培训", "乙培训"]


async def test_erasure_keeps_upcoming_signups_in_the_order_signed_up(db, clock) -> None:  # noqa: ANN001
    m = await signed_up_for_two_at_once(db, clock)
    async with db() as s, s.begin():
        await as_for_a_large_table(s)
        out = await ops.erase_member_signups(s, ops_ctx(clock), m.id)
        assert (out.erased, [a.title for _, a in out.kept]) == (0, ["甲培训", "乙培训"])


async def test_the_first_waitlisted_moves_up_after_asking_to_erase_their_data(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)
    ma = await member(db, clock, "oA", "王一", "13800000001")
    mb = await member(db, clock, "oB", "王二", "13800000002")
    mc = await member(db, clock, "oC", "王三", "13800000003")
    a, b, c = [(await join(db, clock, act.id, m)).signup.id for m in (ma, mb, mc)]
    async with db() as s, s.begin():  # 王二 asks 删除我的信息: kept (and flagged) until the activity is over
        assert len((await ops.erase_member_signups(s, ops_ctx(clock), mb.id)).kept) == 1
    async with db() as s, s.begin():
        await as_for_a_large_table(s)
        res = await ops.cancel_signup(s, ops_ctx(clock), a, ma.id)
    assert res.promoted.id == b
    assert [(await signup_row(db, i)).status for i in (b, c)] == ["confirmed", "waitlist"]


async def test_reminders_of_every_due_activity_whatever_was_published_first(db, clock) -> None:  # noqa: ANN001
    await make_activity(db, clock, title="后天的培训", starts_at=at(27, 14), ends_at=at(27, 16))
    near = await make_activity(db, clock, title="明天的培训", starts_at=at(26, 14), ends_at=at(26, 16))
    m = await member(db, clock, "oA")
    await join(db, clock, near.id, m)
    clock.set(at(25, 18))  # the day before 明天的培训 at reminder_time; 后天的培训 not due yet
    async with db() as s, s.begin():
        await as_for_a_large_table(s)
        assert await ops.queue_reminders(s, ops_ctx(clock)) == 1
    assert [r.key for r in await outbox_of(db, "signup.reminder")] == [f"signup:remind:{near.id}:{m.id}:20261126"]


# ---- refusals, positions, the lock's fresh read -------------------------------------------------

async def test_signing_up_for_a_vanished_activity_is_refused_as_missing(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock)
    m = await member(db, clock, "oA")
    r = await join(db, clock, act.id + 100, m)
    assert (r.outcome, r.reason, r.activity, r.signup) == ("refused", "missing", None, None)
    assert ops.refusal(None, clock.now()) == "missing"


async def test_a_confirmed_sign_up_has_no_waitlist_position(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=2)
    ma, mb = await member(db, clock, "oA"), await member(db, clock, "oB", "王二", "13800000002")
    assert [(r.outcome, r.position) for r in [await join(db, clock, act.id, m) for m in (ma, mb)]] == [
        ("confirmed", 0), ("confirmed", 0)]


async def test_sign_up_reads_the_activity_afresh_under_the_lock(db, clock) -> None:  # noqa: ANN001
    """The session holds the activity as open; staff cancelled it since: the 确认 is refused."""
    act = await make_activity(db, clock, capacity=2)
    m = await member(db, clock, "oA")
    async with db() as s, s.begin():
        held = await s.get(Activity, act.id)
        await s.execute(update(Activity).where(Activity.id == act.id).values(status="cancelled")
                        .execution_options(synchronize_session=False))
        r = await ops.sign_up(s, ops_ctx(clock), act.id, m, name="王一", phone="13800000001")
        assert (r.outcome, r.reason, r.activity is held, held.status) == ("refused", "cancelled", True, "cancelled")
    async with db() as s:
        assert list(await s.scalars(select(Signup))) == []


# ---- check-in codes ------------------------------------------------------------------------------

async def test_check_in_codes_are_six_digits_and_never_repeat(db, clock, monkeypatch) -> None:  # noqa: ANN001
    draws = iter([0, 0, 899_999, 899_999, 5])
    seen = []

    def randbelow(n: int) -> int:
        seen.append(n)
        return next(draws)

    monkeypatch.setattr(ops.secrets, "randbelow", randbelow)
    codes = [(await make_activity(db, clock, title=f"培训{i}")).checkin_code for i in range(3)]
    assert codes == ["100000", "999999", "100005"]  # a code in use is drawn again
    assert seen == [900_000] * 5


# ---- the time texts -----------------------------------------------------------------------------

async def test_when_text_gives_the_year_only_when_it_differs(db, clock) -> None:  # noqa: ANN001
    same_day = await make_activity(db, clock, starts_at=at(26, 14), ends_at=at(26, 16))
    two_days = await make_activity(db, clock, starts_at=at(26, 14), ends_at=at(27, 9))
    new_year = await make_activity(db, clock, title="跨年", starts_at=datetime(2026, 12, 31, 20, tzinfo=TZ),
                                   ends_at=datetime(2027, 1, 1, 2, tzinfo=TZ))
    later = await make_activity(db, clock, title="新年", starts_at=datetime(2027, 1, 8, 14, tzinfo=TZ),
                                ends_at=datetime(2027, 1, 8, 16, tzinfo=TZ))
    now = clock.now()
    assert ops.when_text(same_day, TZ) == "11月26日（周四）14:00–16:00"
    assert ops.when_text(same_day, TZ, now) == "11月26日（周四）14:00–16:00"
    assert ops.when_text(two_days, TZ, now) == "11月26日（周四）14:00–11月27日 09:00"
    assert ops.when_text(new_year, TZ, now) == "12月31日（周四）20:00–2027年1月1日 02:00"
    assert ops.when_text(later, TZ, now) == "2027年1月8日（周五）14:00–16:00"
    # New Year's night in China, still 31 December in UTC: the year is the one of China's calendar
    night = datetime(2027, 1, 1, 2, 0, tzinfo=TZ)
    assert ops.when_text(later, TZ, night) == "1月8日（周五）14:00–16:00"
    assert ops.when_text(two_days, TZ, night) == "2026年11月26日（周四）14:00–11月27日 09:00"
