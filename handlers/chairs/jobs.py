"""Scheduled jobs of the chairs feature: the quarterly reminder ladder.

The job runs every 30 minutes; each run asks `run_reminders` what is due and
not yet recorded, so a restart, a second run at the same moment or a day of
downtime never sends a reminder twice and never misses one (a stage found too
late is recorded as skipped instead of being sent stale).
"""
from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from handlers.chairs.reminders import ReminderRun, run_reminders
from bot.jobs import JobContext, JobSpec

log = logging.getLogger("unionbot.chairs.jobs")


async def send_reminders(ctx: JobContext) -> ReminderRun:
    """Queue due chair reminders, staff escalations and 通报 listings."""
    for attempt in (1, 2):
        try:
            async with ctx.sessionmaker() as session, session.begin():
                run = await run_reminders(session, ctx.ops)
            break
        except IntegrityError:
            # Another run (another process) recorded the same stage first; its rows
            # are committed now, so a second pass queues only what is still missing.
            if attempt == 2:
                raise
            log.info("chair reminders: concurrent run detected, recomputing")
    for warning in run.warnings:
        log.warning("chair reminders: %s", warning)
    return run


JOBS: list[JobSpec] = [
    JobSpec("chairs.reminders", send_reminders, {"trigger": "interval", "minutes": 30},
            "主席季度报送提醒（到期提醒、逾期督办、通报名单）"),
]
