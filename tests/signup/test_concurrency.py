"""200 workers try for 50 seats at the same moment: never oversold, nobody twice, order kept."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.db.models.core import Member, Outbox
from bot.db.models.signup import Activity, Signup
from handlers.signup import ops
from tests.support.signup import make_activity, ops_ctx

N = 200
SEATS = 50


async def _all(coros):  # noqa: ANN001, ANN202
    return await asyncio.gather(*coros)


async def test_200_workers_50_seats_through_the_webhook(sim, db, clock):
    act = await make_activity(db, clock, capacity=SEATS, waitlist=True)
    users = [sim.user(f"oRush{i:03d}") for i in range(N)]
    await _all(u.send("报名") for u in users)
    # returning workers: name and mobile on file, so 确认 is the seat claim (the first-time
    # questions are covered in test_signup_flow; they run the same sign_up)
    async with db() as s, s.begin():
        for i, m in enumerate((await s.scalars(select(Member).order_by(Member.openid))).all()):
            m.name, m.phone, m.employer = "李职工", f"139{i:08d}", "红星机械厂"
    details = await _all(u.send("1") for u in users)
    assert all("李职工 139****" in d for d in details)
    # the seat claim: every worker's 确认 at once, and each message twice (WeChat retries)
    replies = await _all(u.send("确认") for u in users)
    await _all(u.resend() for u in users)  # duplicates change nothing (counts below)
    ok = [r for r in replies if r and "报名成功" in r]
    waiting = [r for r in replies if r and "候补名单" in r]

    async with db() as s:
        act = await s.get(Activity, act.id)
        by_status = dict((await s.execute(
            select(Signup.status, func.count()).where(Signup.activity_id == act.id).group_by(Signup.status))).all())
        pairs = await s.scalar(select(func.count(func.distinct(Signup.member_id))))
        waitlist = (await s.scalars(select(Signup).where(Signup.status == "waitlist").order_by(Signup.seq))).all()
        seqs = (await s.scalars(select(Signup.seq))).all()
    assert by_status == {"confirmed": SEATS, "waitlist": N - SEATS}
    assert act.taken == SEATS and pairs == N
    assert len(set(seqs)) == N  # one place in line each
    # every worker is told the truth: in the passive reply, or (a slow one) through the outbox
    async with db() as s:
        late = [o.payload.get("text", "") for o in (await s.scalars(
            select(Outbox).where(Outbox.purpose == "late_reply"))).all()]
    assert len(ok) + sum("报名成功" in t for t in late) == SEATS
    assert len(waiting) + sum("候补名单" in t for t in late) == N - SEATS
    assert len(ok) + len(waiting) > 0  # most answers come back in time

    # a second round of "报名" by everyone signs nobody up twice
    await _all(_signup_again(u) for u in users[:40])
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Signup)) == N
        assert (await s.get(Activity, act.id)).taken == SEATS

    # three seats freed at once: the first three in line move up, once each
    confirmed = [sim.user(s_.openid) for s_ in
                 (await _confirmed(db, act.id))[:3]]
    await _all(u.send("取消报名 1") for u in confirmed)
    async with db() as s:
        promoted = (await s.scalars(select(Outbox.openid).where(Outbox.purpose == "signup.promoted"))).all()
        assert (await s.get(Activity, act.id)).taken == SEATS
    assert sorted(promoted) == sorted(w.openid for w in waitlist[:3])


async def _confirmed(db, activity_id):  # noqa: ANN001, ANN202
    async with db() as s:
        return (await s.scalars(select(Signup).where(Signup.activity_id == activity_id,
                                                     Signup.status == "confirmed").order_by(Signup.seq))).all()


async def _signup_again(u):  # noqa: ANN001, ANN202
    await u.send("报名")
    await u.send("1")
    return await u.send("确认")


async def test_200_sessions_50_seats_no_waitlist(db, clock, engine):
    """The operation itself, from 200 separate sessions at once: 50 seats, 150 refused."""
    act = await make_activity(db, clock, capacity=SEATS, waitlist=False)
    async with db() as s, s.begin():
        members = [Member(openid=f"oOp{i:03d}", first_seen=clock.now(), last_seen=clock.now()) for i in range(N)]
        s.add_all(members)
    async def one(m: Member) -> str:
        async with db() as s, s.begin():
            return (await ops.sign_up(s, ops_ctx(clock), act.id, m, name="职工", phone="13900000000")).outcome
    outcomes = await _all(one(m) for m in members)
    assert outcomes.count("confirmed") == SEATS and outcomes.count("refused") == N - SEATS
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Signup)) == SEATS
        assert (await s.get(Activity, act.id)).taken == SEATS
