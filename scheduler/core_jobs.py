"""Housekeeping of the framework's own tables."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from bot.db.models import InboundMessage
from bot.jobs import JobContext, JobSpec

# Dedup records are kept far past WeChat's retry window (15 s): a week, so a
# re-delivery after an outage is still recognised.
KEEP_INBOUND = timedelta(days=7)


async def prune_inbound(ctx: JobContext) -> int:
    """Delete dedup records older than a week; returns how many."""
    cutoff = ctx.clock.now() - KEEP_INBOUND
    async with ctx.sessionmaker() as session, session.begin():
        result = await session.execute(delete(InboundMessage).where(InboundMessage.received_at < cutoff))
    return result.rowcount or 0


JOBS = [JobSpec("core.prune_inbound", prune_inbound, {"trigger": "cron", "hour": 3, "minute": 30},
                "delete week-old message dedup records")]
