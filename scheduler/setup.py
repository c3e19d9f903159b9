"""APScheduler 3.11 set-up: jobs declared in code, memory job store, coalescing."""
from __future__ import annotations

import logging
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.base import JobContext, JobSpec
from scheduler.registry import all_jobs

log = logging.getLogger("unionbot.scheduler")


def job_context(app: Any) -> JobContext:
    from bot.app import CLOCK, DELIVERY, SERVICES, SESSIONMAKER, SETTINGS

    delivery = app[DELIVERY]
    return JobContext(settings=app[SETTINGS], sessionmaker=app[SESSIONMAKER], clock=app[CLOCK],
                      services=app[SERVICES], wake=getattr(delivery, "wake", None))


async def run_job(spec: JobSpec, ctx: JobContext) -> Any:
    try:
        result = await spec.func(ctx)
        log.info("job %s done: %s", spec.id, result)
        return result
    except Exception:
        log.exception("job %s failed", spec.id)
        raise
    finally:
        if ctx.wake is not None:
            ctx.wake()


def build_scheduler(ctx: JobContext) -> AsyncIOScheduler:
    sched = AsyncIOScheduler(timezone=ctx.settings.scheduler.timezone,
                             job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    for spec in all_jobs():
        trigger = dict(spec.trigger)
        kind = trigger.pop("trigger")
        sched.add_job(run_job, kind, args=[spec, ctx], id=spec.id, name=spec.description or spec.id,
                      replace_existing=True, **trigger)
    return sched


async def start_scheduler(app: Any) -> AsyncIOScheduler:
    sched = build_scheduler(job_context(app))
    sched.start()
    log.info("scheduler started with %d jobs", len(sched.get_jobs()))
    return sched
