"""Scheduled jobs of the quiz feature.

`quiz.open`: for every open period, draw questions if staff chose none, and —
when `quiz.notify_on_open` is on — queue one "the quiz is open" message per
subscribed taker under `quiz:open:<period>:<openid>`. Idempotent and catching
up: a second run, or a run after downtime while the period is still open,
queues only what is missing.
"""
from __future__ import annotations

from typing import Any

from handlers.quiz import ops
from bot.jobs import JobContext, JobSpec


async def open_periods(ctx: JobContext) -> dict[str, Any]:
    """Prepare periods that have opened and notify their takers."""
    async with ctx.sessionmaker() as session, session.begin():
        drawn = await ops.draw_missing(session, ctx.ops)
        queued = await ops.queue_open_notices(session, ctx.ops)
    return {"drawn": drawn, "queued": queued}


JOBS: list[JobSpec] = [
    JobSpec("quiz.open", open_periods, {"trigger": "interval", "minutes": 10},
            "每月一题 / 半年测试：开放时抽题并通知答题者"),
]
