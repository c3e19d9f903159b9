"""The day-before reminder: queued once per worker, however often the job runs or after downtime."""
from __future__ import annotations

from datetime import time

from sqlalchemy import select

from bot.keys import SETTINGS
from bot.db.models.core import Outbox
from scheduler.setup import job_context
from handlers.signup.jobs import JOBS, send_reminders
from handlers.signup import ops
from tests.support.signup import at, make_activity, signup_via_chat


async def reminders(db) -> list[Outbox]:  # noqa: ANN001
    async with db() as s:
        return list((await s.scalars(select(Outbox).where(Outbox.purpose == "signup.reminder")
                                     .order_by(Outbox.key))).all())


async def test_reminder_day_before_once_and_idempotent(app, sim, db, clock, deliver):
    act = await make_activity(db, clock, capacity=1)  # 26 Nov 14:00; reminder 25 Nov 18:00
    await signup_via_chat(sim.user("oA"), "王一", "13800000001")
    await signup_via_chat(sim.user("oB"), "王二", "13800000002")  # waitlisted: no reminder
    ctx = job_context(app)
    assert app[SETTINGS].signup.reminder_time == time(18, 0)

    clock.set(at(25, 17, 59))
    assert await send_reminders(ctx) == 0
    clock.set(at(25, 18, 0))
    assert await send_reminders(ctx) == 1
    assert await send_reminders(ctx) == 0  # run twice: nothing twice
    clock.advance(minutes=10)
    assert await send_reminders(ctx) == 0
    rows = await reminders(db)
    assert len(rows) == 1 and rows[0].key.startswith(f"signup:remind:{act.id}:")
    assert rows[0].openid == "oA" and rows[0].payload["template"]["kind"] == "signup_reminder"
    # the code is announced on site only: a reminder must not let anyone check in from home
    assert act.checkin_code not in str(rows[0].payload) and "明天" in rows[0].payload["text"]
    assert "到场后回复「签到」加现场公布的6位数字" in rows[0].payload["text"]
    await deliver()
    assert await send_reminders(ctx) == 0  # delivered rows still count as queued
    assert JOBS[0].id == "signup.reminders"


async def test_reminder_catches_up_after_downtime_but_not_after_start(app, sim, db, clock):
    await make_activity(db, clock)  # 26 Nov 14:00
    late = await make_activity(db, clock, title="读书会", kind="event", starts_at=at(25, 20), ends_at=at(25, 21))
    await signup_via_chat(sim.user("oA"), "王一", "13800000001", pick="1")
    await sim.user("oA").send("报名")
    await sim.user("oA").send("2")
    await sim.user("oA").send("确认")
    ctx = job_context(app)
    # the service was down from the 24th until the morning of the 26th
    clock.set(at(26, 9, 0))
    assert await send_reminders(ctx) == 1  # the training still ahead is caught up
    assert await send_reminders(ctx) == 0
    keys = [r.key for r in await reminders(db)]
    assert all(f":{late.id}:" not in k for k in keys)  # the reading club already took place: nothing stale


async def test_moved_to_another_day_reminds_again_same_day_change_does_not(app, sim, db, clock):
    act = await make_activity(db, clock)  # 26 Nov 14:00
    await signup_via_chat(sim.user("oA"), "王一", "13800000001")
    ctx = job_context(app)
    clock.set(at(25, 18, 0))
    assert await send_reminders(ctx) == 1
    fields = dict(kind="training", title=act.title, description="", place=act.place, capacity=2, waitlist=True,
                  audience="", deadline=None)
    async with db() as s, s.begin():  # same day, one hour later: the change notice tells it, no 2nd reminder
        await ops.update_activity(s, ctx.ops, act.id, **fields, starts_at=at(26, 15), ends_at=at(26, 17))
    assert await send_reminders(ctx) == 0
    async with db() as s, s.begin():  # moved to the 28th: reminded again the day before
        await ops.update_activity(s, ctx.ops, act.id, **fields, starts_at=at(28, 9), ends_at=at(28, 11))
    clock.set(at(27, 18, 0))
    assert await send_reminders(ctx) == 1
    rows = await reminders(db)
    assert len(rows) == 2 and "11月28日" in rows[1].payload["text"]
