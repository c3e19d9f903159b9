"""Sharper tests for handlers/signup/ops.py (mutation group `ops-signup`), part 4: the refusals staff
read word for word on the activity form, the first and the last year an activity may fall in, an end
date past the last year, what the waitlist and the reminders do whatever order the database reads
unordered rows in (on SQLite too, which the mutation runs use: PRAGMA reverse_unordered_selects), and
the order of the lists a worker reads in the chat when two activities start at the same hour."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import pytest
from sqlalchemy import func, select, text

from bot.db.models.signup import Activity
from handlers.signup import ops
from handlers.signup.ops import MAX_YEAR, MIN_YEAR, SignupError
from tests.signup.test_admin import FORM
from tests.signup.test_ops_mutants_signup3 import as_for_a_large_table, join, member
from tests.support.admin import csrf_at, log_in_staff
from tests.support.signup import TZ, at, make_activity, ops_ctx, outbox_of, sign_up_in_chat, signup_row

YEARS = f"日期超出范围：请填写 {MIN_YEAR} 年到 {MAX_YEAR} 年之间的日期。"


@asynccontextmanager
async def in_another_order(s) -> AsyncIterator[None]:  # noqa: ANN001
    """Rows a query does not order come in another order than usual, for the rest of this block: on
    PostgreSQL a sequential scan (the order rows lie in the table, a row changed lately last), on
    SQLite the reverse of its usual order (the pragma SQLite has for finding code that counts on an
    order no ORDER BY asked for)."""
    if s.bind.dialect.name == "postgresql":
        await as_for_a_large_table(s)  # SET LOCAL: ends with the transaction
        yield
        return
    await s.execute(text("PRAGMA reverse_unordered_selects = ON"))
    try:
        yield
    finally:  # the one SQLite connection is shared by the test's later sessions
        await s.execute(text("PRAGMA reverse_unordered_selects = OFF"))


# ---- the form's refusals, word for word -----------------------------------------------------------

@pytest.mark.parametrize(("change", "said"), [
    ({"ends_at": "2026-11-26T13:00"}, "结束时间应晚于开始时间。"),
    ({"deadline": "2026-11-26T15:00"}, "报名截止时间不能晚于活动开始时间。"),
    ({"kind": "party"}, "请选择类别：培训或活动。"),
])
async def test_the_form_gives_the_reason_word_for_word(client, db, change, said) -> None:  # noqa: ANN001
    """Staff read the rule's sentence as it is, alone in the form's alert — nothing added around it."""
    await log_in_staff(client, db)
    token = await csrf_at(client, "/admin/signup/new")
    resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": token, **change})
    assert resp.status == 400
    assert f'<div class="flash flash-error" role="alert">{said}</div>' in await resp.text()


# ---- the years an activity may fall in --------------------------------------------------------------

async def test_an_activity_ending_after_the_last_year_is_refused(sessionmaker, clock) -> None:  # noqa: ANN001
    """The end is checked as the start is: an activity starting on the last evening of MAX_YEAR and
    ending the next morning is refused with the years' sentence, and nothing is published."""
    with pytest.raises(SignupError) as refused:
        await make_activity(sessionmaker, clock, starts_at=datetime(MAX_YEAR, 12, 31, 20, tzinfo=TZ),
                            ends_at=datetime(MAX_YEAR + 1, 1, 1, 2, tzinfo=TZ))
    assert str(refused.value) == YEARS
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Activity)) == 0


async def test_the_first_and_the_last_year_are_taken(client, db) -> None:  # noqa: ANN001
    """MIN_YEAR and MAX_YEAR themselves are inside the range: staff can publish an activity on the
    first day of the one and the last day of the other."""
    await log_in_staff(client, db)
    for starts, ends in ((f"{MIN_YEAR}-01-01T09:00", f"{MIN_YEAR}-01-01T11:00"),
                         (f"{MAX_YEAR}-12-31T20:00", f"{MAX_YEAR}-12-31T22:00")):
        token = await csrf_at(client, "/admin/signup/new")
        resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": token, "starts_at": starts,
                                                            "ends_at": ends}, allow_redirects=False)
        assert resp.status == 303, starts
    async with db() as s:
        got = sorted((a.starts_at.astimezone(TZ), a.ends_at.astimezone(TZ)) for a in await s.scalars(select(Activity)))
    assert got == [(datetime(MIN_YEAR, 1, 1, 9, tzinfo=TZ), datetime(MIN_YEAR, 1, 1, 11, tzinfo=TZ)),
                   (datetime(MAX_YEAR, 12, 31, 20, tzinfo=TZ), datetime(MAX_YEAR, 12, 31, 22, tzinfo=TZ))]


# ---- the waitlist moves up in its own order, however the rows are read -----------------------------

async def test_a_freed_seat_goes_to_the_longest_waiting_in_any_read_order(sessionmaker, clock) -> None:  # noqa: ANN001
    """One seat: 王一 holds it; 王二 and 王三 wait; 王二 leaves the waitlist and joins it again (now
    behind 王三, though their row is the older one); 王三 asks 删除我的信息 (kept, flagged, until the
    activity is over: their row is written again, after 王二's). 王一 cancels: the seat goes to 王三,
    the one waiting longest, who is told."""
    db = sessionmaker
    act = await make_activity(db, clock, capacity=1)
    ma = await member(db, clock, "oA", "王一", "13800000001")
    mb = await member(db, clock, "oB", "王二", "13800000002")
    mc = await member(db, clock, "oC", "王三", "13800000003")
    a, b, c = [(await join(db, clock, act.id, m)).signup.id for m in (ma, mb, mc)]
    async with db() as s, s.begin():
        assert (await ops.cancel_signup(s, ops_ctx(clock), b, mb.id)).was == "waitlist"
    again = await join(db, clock, act.id, mb)
    assert (again.outcome, again.signup.id, again.position) == ("waitlist", b, 2)
    async with db() as s, s.begin():
        assert [k.id for k, _ in (await ops.erase_member_signups(s, ops_ctx(clock), mc.id)).kept] == [c]
    async with db() as s, s.begin():
        async with in_another_order(s):
            res = await ops.cancel_signup(s, ops_ctx(clock), a, ma.id)
    assert res.promoted is not None and res.promoted.id == c
    assert [(await signup_row(db, i)).status for i in (a, b, c)] == ["cancelled", "waitlist", "confirmed"]
    assert [r.openid for r in await outbox_of(db, "signup.promoted")] == ["oC"]


# ---- reminders: every activity due, whatever order the activities are read in ----------------------

async def test_reminders_reach_every_due_activity_in_any_read_order(sessionmaker, clock) -> None:  # noqa: ANN001
    """At 18:00 the day before, the reminders of both of tomorrow's activities are queued, though an
    activity of the day after (not due yet) was published between them."""
    db = sessionmaker
    morning = await make_activity(db, clock, title="明天上午的培训", starts_at=at(26, 9), ends_at=at(26, 11))
    await make_activity(db, clock, title="后天的培训", starts_at=at(27, 14), ends_at=at(27, 16))
    afternoon = await make_activity(db, clock, title="明天下午的培训", starts_at=at(26, 14), ends_at=at(26, 16))
    m = await member(db, clock, "oA")
    for act in (morning, afternoon):
        assert (await join(db, clock, act.id, m)).outcome == "confirmed"
    clock.set(at(25, 18))
    async with db() as s, s.begin():
        async with in_another_order(s):
            assert await ops.queue_reminders(s, ops_ctx(clock)) == 2
    assert sorted(r.key for r in await outbox_of(db, "signup.reminder")) == sorted(
        f"signup:remind:{act.id}:{m.id}:20261126" for act in (morning, afternoon))


# ---- what the worker reads: lists of activities at the same hour keep their order -------------------
# (SQLite reads such ties in the order of the rows anyway; PostgreSQL, as it plans these small tables,
# reads a row written since — an activity whose seat was just taken, a sign-up just moved up — after
# the others: on PostgreSQL these fail without the tie-breaks of the queries.)


def titles(reply: str) -> list[str]:
    """The activities of a numbered list in the chat, in the order shown."""
    return [t for line in reply.splitlines() for t in ("甲培训", "乙培训") if t in line and line[:1].isdigit()]


async def test_the_signup_list_keeps_its_order_after_a_seat_is_taken(sim, db, clock) -> None:  # noqa: ANN001
    """报名: two activities at the same hour are listed in the order published, also after the
    worker took a seat on the first — so 「2」 is still the second one."""
    await make_activity(db, clock, title="甲培训")
    await make_activity(db, clock, title="乙培训")
    u = sim.user("oA")
    assert "报名成功！「甲培训」" in await sign_up_in_chat(u, "1")
    listing = await u.send("报名")
    assert titles(listing) == ["甲培训", "乙培训"], listing
    assert "【培训】乙培训" in await u.send("2")


async def waited_for_the_first_then_took_the_second(sim, db, clock):  # noqa: ANN001, ANN201
    """甲 (one seat) and 乙 at the same hour: 王二 holds 甲's seat, 王一 waits for it, then signs up
    for 乙; 王二 cancels and 王一 moves up on 甲 (their sign-up row written again)."""
    await make_activity(db, clock, title="甲培训", capacity=1)
    await make_activity(db, clock, title="乙培训")
    a, b = sim.user("oA"), sim.user("oB")
    assert "报名成功！「甲培训」" in await sign_up_in_chat(b, "1", "王二", "13800000002")
    assert "候补名单" in await sign_up_in_chat(a, "1")
    assert "报名成功！「乙培训」" in await sign_up_in_chat(a, "2")
    assert "已为您取消「甲培训」的报名" in await b.send("取消报名 1")
    return a


async def test_my_signups_keep_the_order_signed_up_after_moving_up(sim, db, clock) -> None:  # noqa: ANN001
    """我的报名: two sign-ups at the same hour stay in the order signed up after the worker moved
    up from the first one's waitlist — so 「取消报名 1」 still means 甲."""
    a = await waited_for_the_first_then_took_the_second(sim, db, clock)
    mine = await a.send("我的报名")
    assert titles(mine) == ["甲培训", "乙培训"], mine
    assert "报名成功" in mine.splitlines()[1]


async def test_erasure_names_the_kept_signups_in_the_order_signed_up(sim, db, clock) -> None:  # noqa: ANN001
    """删除我的信息: the upcoming sign-ups kept until the activity is over are named in the order
    signed up, also after the worker moved up from the first one's waitlist."""
    a = await waited_for_the_first_then_took_the_second(sim, db, clock)
    await a.send("删除我的信息")
    reply = await a.send("确认删除")
    assert "暂时保留：「甲培训」（11月26日）、「乙培训」（11月26日）的报名信息，" in reply, reply
