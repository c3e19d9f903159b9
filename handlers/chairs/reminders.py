"""The reminder ladder of the chairs feature: what is due, queued once under a
unique key, escalated to staff and put on the quarter's 通报 list."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import Settings
from bot.db.models.chairs import Chair, ChairReminder, ChairReport
from bot.operations import OpsContext
from handlers.chairs.ops import (
    ESCALATION_PURPOSE, REMINDER_PURPOSE, TEMPLATE_KIND, deadline_of, ladder, reminder_key,
)
from bot.workdays import calendar_warning, format_day
from handlers.chairs.quarters import Quarter, Stage


def _chair_text(chair: Chair, quarter: Quarter, stage: Stage, deadline: date,
                settings: Settings) -> tuple[str, dict[str, Any]]:
    """The customer-service text and template data of one reminder.

    Before the deadline: 「…信息报送截止日期是12月25日（周五），距截止还有7个工作日。」, or
    「…将于明天12月25日（周五）截止。」 the day before. The last working day before a Monday
    deadline is not 「明天」: it says 「距截止还有1个工作日」."""
    when = format_day(deadline)
    if stage.offset < 0:
        if (deadline - stage.day).days == 1:
            due = f"{quarter.label_zh}信息报送将于明天{when}截止"
        else:
            due = f"{quarter.label_zh}信息报送截止日期是{when}，距截止还有{-stage.offset}个工作日"
        text = f"{chair.name}主席您好！{due}。直接回复「报送」就能在这里填写，谢谢您的支持！"
        remark = "回复「报送」即可填写"
    else:
        text = (f"{chair.name}主席您好！{quarter.label_zh}信息报送已于{when}截止，我们还没有收到贵单位的报送。"
                f"请尽快回复「报送」补报；如有困难，请{settings.office.call_line()}。")
        remark = "已逾期，请尽快补报"
    data = {"first": f"{quarter.label_zh}信息报送提醒", "keyword1": chair.organisation,
            "keyword2": f"{quarter.label_zh}信息报送", "keyword3": when, "remark": remark}
    return text, data


def _late(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours}小时" if hours < 72 else f"{hours // 24}天"


@dataclass
class ReminderRun:
    queued: int = 0
    skipped: int = 0
    unbound: int = 0
    listed: int = 0
    staff: int = 0
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"queued={self.queued} skipped={self.skipped} unbound={self.unbound} "
                f"listed={self.listed} staff={self.staff}")


async def run_reminders(session: AsyncSession, ctx: OpsContext) -> ReminderRun:
    """Queue every reminder that is due and not yet recorded (current and previous quarter).

    Idempotent: each (chair, quarter, stage) is recorded once in ChairReminder
    and each message has a unique outbox key. A stage found more than
    `max_lateness_hours` late is recorded as skipped, not sent. Chairs who have
    reported, were deactivated, or were registered after a stage get nothing.
    """
    run = ReminderRun()
    now, settings = ctx.now, ctx.settings
    lateness = timedelta(hours=settings.chairs.max_lateness_hours)
    chairs = list((await session.scalars(select(Chair).where(Chair.active.is_(True)).order_by(Chair.id))).all())
    cur = Quarter.of(ctx.local(now).date())
    for quarter in (cur.prev(), cur):
        warning = calendar_warning(quarter.year)
        if warning and warning not in run.warnings:
            run.warnings.append(warning)
        reported = set((await session.scalars(select(ChairReport.chair_id).where(
            ChairReport.quarter == quarter.label))).all())
        done = set((await session.execute(select(ChairReminder.chair_id, ChairReminder.stage).where(
            ChairReminder.quarter == quarter.label))).all())
        deadline = deadline_of(ctx, quarter)
        for stage in ladder(ctx, quarter):
            if stage.due_at > now:
                continue
            stale = now - stage.due_at > lateness
            missing: list[Chair] = []
            for chair in chairs:
                if chair.id in reported or chair.created_at > stage.due_at:
                    continue
                missing.append(chair)
                if (chair.id, stage.name) in done:
                    continue
                rec = ChairReminder(chair_id=chair.id, quarter=quarter.label, stage=stage.name,
                                    due_at=stage.due_at, created_at=now)
                if stage.to_chair and not stale and chair.openid:
                    key = reminder_key(quarter, chair.id, stage.name)
                    text, data = _chair_text(chair, quarter, stage, deadline, settings)
                    await outbox.enqueue(session, key=key, openid=chair.openid, now=now, text=text,
                                         purpose=REMINDER_PURPOSE, template={"kind": TEMPLATE_KIND, "data": data})
                    rec.status, rec.outbox_key = "queued", key
                    run.queued += 1
                elif stage.to_chair and not stale:
                    rec.status, rec.note = "unbound", "未绑定微信，请电话通知"
                    run.unbound += 1
                elif stage.to_chair:
                    rec.status = "skipped"
                    rec.note = f"服务停机，到期{_late(now - stage.due_at)}后才运行，过时的提醒未补发"
                    run.skipped += 1
                if stage.listing:
                    if rec.status is None:
                        rec.status = "listed"
                    rec.note = ((rec.note + "；") if rec.note else "") + "已列入通报名单"
                    run.listed += 1
                session.add(rec)
            if stage.to_staff and missing and not stale:
                run.staff += await _escalate_to_staff(session, now, settings, quarter, stage, deadline, missing)
    await session.flush()
    return run


async def _escalate_to_staff(session: AsyncSession, now: datetime, settings: Settings, quarter: Quarter,
                             stage: Stage, deadline: date, missing: list[Chair]) -> int:
    names = "、".join(f"{c.organisation}（{c.name}）" for c in missing[:20])
    more = f"等{len(missing)}家" if len(missing) > 20 else f"共{len(missing)}家"
    text = (f"{quarter.label_zh}信息报送已于{format_day(deadline)}截止，尚未报送的单位：{names}，{more}。"
            "详情请在管理后台「主席报送」查看。")
    data = {"first": f"{quarter.label_zh}信息报送逾期提醒", "keyword1": "街道总工会",
            "keyword2": f"{quarter.label_zh}信息报送", "keyword3": format_day(deadline),
            "remark": f"尚未报送{len(missing)}家"}
    n = 0
    for openid in settings.chairs.staff_openids:
        row = await outbox.enqueue(session, key=f"chairs:{quarter.label}:{stage.name}:staff:{openid}", openid=openid,
                                   now=now, text=text, purpose=ESCALATION_PURPOSE,
                                   template={"kind": TEMPLATE_KIND, "data": data})
        n += row is not None
    return n

