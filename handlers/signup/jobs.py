"""Scheduled jobs of the signup feature: the day-before reminder and the deletion of
contact details kept (after 删除我的信息) only until the activity was over.

Idempotent and catching up: each run queues, under the unique outbox key
`signup:remind:<activity>:<member>:<start day>`, the reminder of every confirmed sign-up
whose reminder moment (the day before, at `signup.reminder_time`) has passed
and whose activity has not started yet.
"""
from __future__ import annotations

from handlers.signup import ops as signup_ops
from bot.jobs import JobContext, JobSpec


async def send_reminders(ctx: JobContext) -> int:
    """Queue the reminders that are due and not queued yet; returns how many were queued."""
    async with ctx.sessionmaker() as session, session.begin():
        return await signup_ops.queue_reminders(session, ctx.ops)


async def erase_pending(ctx: JobContext) -> int:
    """Empty the sign-ups of workers who asked for deletion once the activity is over or
    cancelled (or the sign-up was cancelled); returns how many rows were emptied."""
    async with ctx.sessionmaker() as session, session.begin():
        return await signup_ops.erase_pending_signups(session, ctx.ops)


JOBS: list[JobSpec] = [
    JobSpec("signup.reminders", send_reminders, {"trigger": "interval", "minutes": 10},
            "Day-before reminders for trainings and events"),
    JobSpec("signup.erase_pending", erase_pending, {"trigger": "interval", "hours": 1},
            "Remove sign-up contact details kept until the activity was over (删除我的信息)"),
]
