"""The reminder ladder: due per stage with time travel, catch-up after downtime,
concurrent runs, nothing after submission, escalation to staff, the 通报 list."""
from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import select, update

from bot.db.models.chairs import ChairReminder
from bot.db.models.core import Outbox
from bot.operations import OpsContext
from handlers.chairs import ops
from handlers.chairs import stats
from handlers.chairs.jobs import send_reminders
from scheduler.setup import job_context
from tests.support.chairs import Q4, setup_chairs


async def outbox_keys(db) -> list[str]:  # noqa: ANN001
    async with db() as s:
        return sorted((await s.scalars(select(Outbox.key))).all())


async def reminders(db) -> dict[tuple[int, str], ChairReminder]:  # noqa: ANN001
    async with db() as s:
        return {(r.chair_id, r.stage): r for r in (await s.scalars(select(ChairReminder))).all()}


async def test_each_stage_is_sent_once_when_due(app, db, clock, settings) -> None:  # noqa: ANN001
    chair, phone_only = await setup_chairs(db, clock, settings)
    ctx = job_context(app)
    await send_reminders(ctx)
    assert await outbox_keys(db) == []  # 24 Nov: nothing due yet

    clock.set(datetime(2026, 12, 16, 8, 59))
    await send_reminders(ctx)
    assert await outbox_keys(db) == []

    clock.set(datetime(2026, 12, 16, 9, 0))
    await send_reminders(ctx)
    await send_reminders(ctx)
    assert await outbox_keys(db) == [f"chairs:2026Q4:chair{chair}:t-7"]
    async with db() as s:
        row = await s.scalar(select(Outbox))
    assert row.openid == "oChair1" and row.purpose == "chairs.reminder"
    assert row.payload["template"]["kind"] == "chair_reminder"
    assert "12月25日" in row.payload["text"] and "报送" in row.payload["text"]
    rems = await reminders(db)
    assert rems[(phone_only, "t-7")].status == "unbound"  # no WeChat account: listed for phoning

    for day, stage in ((22, "t-3"), (24, "t-1"), (28, "t+1")):
        clock.set(datetime(2026, 12, day, 9, 30))
        await send_reminders(ctx)
        assert f"chairs:2026Q4:chair{chair}:{stage}" in await outbox_keys(db)
    assert "明天" in (await _payload(db, f"chairs:2026Q4:chair{chair}:t-1"))
    assert "已于12月25日（周五）截止" in (await _payload(db, f"chairs:2026Q4:chair{chair}:t+1"))

    clock.set(datetime(2026, 12, 30, 9, 30))
    before = await outbox_keys(db)
    await send_reminders(ctx)
    assert await outbox_keys(db) == before  # t+3 sends nothing: it lists the unit
    rems = await reminders(db)
    assert rems[(chair, "t+3")].status == "listed" and rems[(phone_only, "t+3")].status == "listed"
    async with db() as s:
        grid = await stats.quarter_grid(s, OpsContext(clock, settings), Q4)
    by_id = {r.chair.id: r for r in grid}
    assert by_id[chair].status == "missing" and by_id[chair].listed and by_id[chair].sent == 4
    assert by_id[phone_only].unreachable


async def _payload(db, key: str) -> str:  # noqa: ANN001
    async with db() as s:
        return (await s.scalar(select(Outbox).where(Outbox.key == key))).payload["text"]


async def test_catch_up_after_downtime_sends_once_and_skips_stale_stages(app, db, clock, settings) -> None:  # noqa: ANN001
    chair, _ = await setup_chairs(db, clock, settings)
    ctx = job_context(app)
    clock.set(datetime(2026, 12, 16, 10, 0))
    await send_reminders(ctx)
    # down from the 16th until the 23rd at noon: t-3 (22nd, 9:00) is 27 h late → still sent
    clock.set(datetime(2026, 12, 23, 12, 0))
    await send_reminders(ctx)
    await send_reminders(ctx)
    keys = await outbox_keys(db)
    assert keys.count(f"chairs:2026Q4:chair{chair}:t-3") == 1
    # down again until the 29th: t-1 (24th) is 5 days late → skipped and recorded; t+1 (28th) sent
    clock.set(datetime(2026, 12, 29, 10, 0))
    await send_reminders(ctx)
    keys = await outbox_keys(db)
    assert f"chairs:2026Q4:chair{chair}:t-1" not in keys
    assert f"chairs:2026Q4:chair{chair}:t+1" in keys
    rem = (await reminders(db))[(chair, "t-1")]
    assert rem.status == "skipped" and "未补发" in rem.note
    # running again later never sends the skipped stage
    clock.advance(hours=1)
    await send_reminders(ctx)
    assert f"chairs:2026Q4:chair{chair}:t-1" not in await outbox_keys(db)


async def test_two_runs_at_once_queue_one_message(make_app, app, db, clock, settings) -> None:  # noqa: ANN001
    chair, _ = await setup_chairs(db, clock, settings)
    clock.set(datetime(2026, 12, 16, 9, 5))
    other = make_app()  # a second process on the same database
    await asyncio.gather(send_reminders(job_context(app)), send_reminders(job_context(other)),
                         send_reminders(job_context(app)))
    assert await outbox_keys(db) == [f"chairs:2026Q4:chair{chair}:t-7"]
    async with db() as s:
        assert len((await s.scalars(select(ChairReminder).where(ChairReminder.chair_id == chair))).all()) == 1


async def test_no_reminders_after_submission(app, db, clock, settings) -> None:  # noqa: ANN001
    chair, _ = await setup_chairs(db, clock, settings)
    ctx = job_context(app)
    clock.set(datetime(2026, 12, 16, 9, 0))
    await send_reminders(ctx)
    async with db() as s, s.begin():
        c = await ops.get_chair(s, chair)
        await ops.submit_report(s, OpsContext(clock, settings), c, Q4, {
            "enterprises": 10, "unionised": 10, "wage_agreements": 9, "harmonious": 4, "visits": 3,
            "problems": None, "summary": "一切正常，按计划推进。"})
    for day in (22, 24, 28, 30):
        clock.set(datetime(2026, 12, day, 10, 0))
        await send_reminders(ctx)
    assert await outbox_keys(db) == [f"chairs:2026Q4:chair{chair}:t-7"]


async def test_escalation_reaches_staff_once(app, db, clock, settings) -> None:  # noqa: ANN001
    settings.chairs.staff_openids = ["oStaff1", "oStaff2"]
    chair, unbound = await setup_chairs(db, clock, settings)
    ctx = job_context(app)
    clock.set(datetime(2026, 12, 28, 9, 0))  # first run ever on t+1: earlier stages are stale
    await send_reminders(ctx)
    await send_reminders(ctx)
    keys = await outbox_keys(db)
    assert keys == sorted([f"chairs:2026Q4:chair{chair}:t+1", "chairs:2026Q4:t+1:staff:oStaff1",
                           "chairs:2026Q4:t+1:staff:oStaff2"])
    text = await _payload(db, "chairs:2026Q4:t+1:staff:oStaff1")
    assert "第1工会" in text and "第11工会" in text and "共2家" in text
    rems = await reminders(db)
    assert rems[(chair, "t-7")].status == "skipped"


async def test_chairs_registered_after_a_stage_are_not_chased_for_it(app, db, clock, settings) -> None:  # noqa: ANN001
    clock.set(datetime(2026, 12, 23, 9, 0))
    chair, _ = await setup_chairs(db, clock, settings)
    await send_reminders(job_context(app))
    assert await reminders(db) == {}
    clock.set(datetime(2026, 12, 24, 9, 0))
    await send_reminders(job_context(app))
    assert await outbox_keys(db) == [f"chairs:2026Q4:chair{chair}:t-1"]


async def test_unreachable_reminders_show_in_the_grid(app, db, clock, settings) -> None:  # noqa: ANN001
    (chair,) = await setup_chairs(db, clock, settings, unbound=0)
    clock.set(datetime(2026, 12, 16, 9, 0))
    await send_reminders(job_context(app))
    async with db() as s, s.begin():
        await s.execute(update(Outbox).values(status="unreachable", last_error="outside window; no template"))
    async with db() as s:
        row = (await stats.quarter_grid(s, OpsContext(clock, settings), Q4))[0]
    assert row.unreachable and row.status == "pending"
