"""The quiz.open job: drawing questions and notifying subscribed takers, idempotent, with time travel."""
from __future__ import annotations

from sqlalchemy import select

from bot.db.models.core import Outbox
from handlers.quiz import ops
from handlers.quiz.jobs import open_periods
from scheduler.setup import job_context
from tests.support.quiz import add_bank, add_period, local, ops_ctx


async def outbox_rows(db) -> list[Outbox]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(Outbox).where(Outbox.purpose == "quiz.open").order_by(Outbox.key)))


async def test_open_notices_once_per_period_and_taker(app, sim, db, clock, settings, deliver):
    settings.quiz.notify_on_open = True
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    await add_period(db, clock, "2026-12", [ids[1]])
    old, keen, quiet, gone = (sim.user(o) for o in ("oOld", "oKeen", "oQuiet", "oGone"))
    await old.send("答题")
    await old.send("B")  # a past taker
    assert "提醒您" in await keen.send("答题提醒")
    await quiet.send("答题")
    await quiet.send("A")
    assert "不再发送" in await quiet.send("退订答题提醒")
    await gone.send("答题提醒")
    await gone.unfollow()
    await sim.user("oStranger").send("你好")

    ctx = job_context(app)
    await open_periods(ctx)  # November is open, but the past takers already answered it
    assert [r.openid for r in await outbox_rows(db)] == ["oKeen"]
    clock.set(local(2026, 11, 30, 23, 0))
    assert (await open_periods(ctx))["queued"] == 0  # December not open yet
    clock.set(local(2026, 12, 1, 8, 0))
    first = await open_periods(ctx)
    second = await open_periods(ctx)
    assert first["queued"] == 2 and second["queued"] == 0
    rows = await outbox_rows(db)
    assert sorted(r.key for r in rows) == ["quiz:open:2026-11:oKeen", "quiz:open:2026-12:oKeen",
                                           "quiz:open:2026-12:oOld"]
    dec = next(r for r in rows if r.key == "quiz:open:2026-12:oOld")
    assert "2026年12月 每月一题" in dec.payload["text"] and "回复「答题」" in dec.payload["text"]
    assert dec.payload["template"]["kind"] == "quiz_open"
    await deliver()
    assert {r.status for r in await outbox_rows(db)} == {"simulated"}


async def test_notices_are_off_by_default_but_questions_get_drawn(app, sim, db, clock, settings):
    assert settings.quiz.notify_on_open is False
    await add_bank(db, clock)
    keen = sim.user("oKeen")
    reply = await keen.send("答题提醒")  # no promise the service cannot keep
    assert "暂不发送提醒" in reply and "会提醒您" not in reply
    reply = await keen.send("答题")
    assert "请留意公众号通知" in reply and "提醒" not in reply
    async with db() as s, s.begin():
        await ops.create_period(s, ops_ctx(clock), "2026-12", draw=False)
    ctx = job_context(app)
    assert (await open_periods(ctx))["drawn"] == []  # not open yet
    clock.set(local(2026, 12, 1, 0, 5))
    result = await open_periods(ctx)
    assert result == {"drawn": ["2026-12"], "queued": 0}
    assert await outbox_rows(db) == []
    assert "第 1/1 题" in await sim.user("oKeen").send("答题")
