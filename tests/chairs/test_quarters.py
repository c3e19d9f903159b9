"""Reporting across quarter boundaries, 沿用 of earlier figures, and reminders
cancelled when the report arrives — through the webhook, the job and the admin."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update

from bot.db.models.chairs import ChairReport
from bot.db.models.core import Outbox
from bot.operations import OpsContext
from handlers.chairs import ops
from handlers.chairs.quarters import Quarter
from handlers.chairs.jobs import send_reminders
from scheduler.setup import job_context
from tests.support.admin import log_in_staff
from tests.support.chairs import bound_chair, file_report


async def test_a_queued_reminder_is_cancelled_when_the_chair_reports(app, sim, db, clock, settings, deliver,
                                                                       client) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    clock.set(datetime(2026, 12, 16, 9, 0))
    await send_reminders(job_context(app))
    key = f"chairs:2026Q4:chair{chair.id}:t-7"
    # the reminder is waiting for a retry when the chair files the report
    async with db() as s, s.begin():
        await s.execute(update(Outbox).where(Outbox.key == key).values(next_attempt_at=datetime(2026, 12, 16, 4, 0, tzinfo=timezone.utc)))
    u = sim.user("oChair1")
    await u.send("报送")
    await file_report(u)
    assert "已收到" in await u.send("确认")
    clock.set(datetime(2026, 12, 16, 12, 30))
    await deliver()
    async with db() as s:
        row = await s.scalar(select(Outbox).where(Outbox.key == key))
    assert row.status == "cancelled" and "已报送" in row.last_error and row.sent_at is None
    await log_in_staff(client, db)
    page = await (await client.get("/admin/chairs?quarter=2026Q4")).text()
    assert "前7日 已取消" in page and "主席已报送，提醒不再发送" in page


async def test_after_the_quarter_turns_report_files_the_missing_quarter_first(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    clock.set(datetime(2027, 1, 4, 10, 0))  # answering the late reminder after the New Year holiday
    u = sim.user("oChair1")
    first = await u.send("报送")
    assert "2026年第四季度" in first and "补报" in first
    await file_report(u)
    reply = await u.send("确认")
    assert "2026年第四季度的补报" in reply and "2027年第一季度信息报送截止：3月25日" in reply
    first = await u.send("报送")
    assert "2027年第一季度信息报送" in first and "补报" not in first
    async with db() as s:
        rep = await ops.report_for(s, chair.id, Quarter(2026, 4))
    assert rep is not None and not rep.on_time and rep.enterprises == 40


async def test_an_old_quarter_is_not_chased_once_the_new_reminders_begin(sim, db, clock, settings) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings)
    clock.set(datetime(2027, 3, 20, 10, 0))
    first = await sim.user("oChair1").send("报送")
    assert "2027年第一季度信息报送" in first


async def test_corrections_offer_zero_and_keep_an_empty_answer_empty(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    u = sim.user("oChair1")
    await u.send("报送")
    for a in ("10", "8", "6", "0", "0", "无", "本季度工作正常开展。"):
        await u.send(a)
    await u.send("确认")
    await u.send("报送")
    for _ in range(3):
        await u.send("沿用")
    reply = await u.send("沿用")  # harmonious 0 kept; now asked for visits
    assert "走访" in reply and "上次留的是「0家」" in reply
    reply = await u.send("沿用")  # visits 0 kept; problems was empty
    assert "发现了哪些问题" in reply
    await u.send("沿用")
    reply = await u.send("沿用")
    assert "A级以上和谐企业：0家" in reply and "本季度走访：0家" in reply and "发现的问题：（未填）" in reply
    await u.send("确认")
    async with db() as s:
        rep = await ops.report_for(s, chair.id, Quarter(2026, 4))
    assert (rep.harmonious, rep.visits, rep.problems) == (0, 0, None)


async def test_next_quarter_offers_last_quarters_enterprise_counts(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    u = sim.user("oChair1")
    await u.send("报送")
    await file_report(u)
    await u.send("确认")
    clock.set(datetime(2027, 3, 10, 10, 0))
    reply = await u.send("报送")
    assert "2027年第一季度" in reply and "上次留的是「40家」" in reply
    for _ in range(4):
        reply = await u.send("沿用")
    assert "走访" in reply and "上次留的是" not in reply  # visits are per quarter: asked afresh
    await file_report(u, ["2", "无", "本季度走访两家企业。"])
    await u.send("确认")
    async with db() as s:
        rep = await ops.report_for(s, chair.id, Quarter(2027, 1))
    assert (rep.enterprises, rep.unionised, rep.visits, rep.problems) == (40, 38, 2, None)


async def test_staff_marking_received_cancels_waiting_reminders(app, sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    clock.set(datetime(2026, 12, 22, 9, 0))
    await send_reminders(job_context(app))
    async with db() as s, s.begin():
        await ops.mark_received(s, OpsContext(clock, settings), chair.id, Quarter(2026, 4), "纸质材料")
    async with db() as s:
        statuses = {o.key: o.status for o in (await s.scalars(select(Outbox))).all()}
        reports = (await s.scalars(select(ChairReport))).all()
    assert statuses == {f"chairs:2026Q4:chair{chair.id}:t-3": "cancelled"} and len(reports) == 1


async def test_bind_tolerates_a_colon_and_says_plainly_when_tries_run_out(sim, db, clock, settings) -> None:  # noqa: ANN001
    from tests.support.chairs import issue_code, make_chair

    chair = await make_chair(db, clock, settings)
    code = await issue_code(db, clock, settings, chair.id)
    u = sim.user("oGuess")
    replies = [await u.send(f"绑定 ZZZZ{i:02d}") for i in range(5)]
    assert "0次" not in replies[-1] and "一小时后再试" in replies[-1]
    assert "绑定成功" in await sim.user("oChair1").send(f"绑定码：{code}")
