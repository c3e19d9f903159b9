"""APScheduler 3.11 set-up: jobs declared in code, memory job store, coalescing.

Every job has a stable id (JobSpec.id), `coalesce=True` (missed runs collapse
into one), `max_instances=1` (a slow run is never overlapped by the next) and
the timezone from `[app] timezone`. Interval jobs also run once right
after start, so what fell due during downtime is caught up at once; the jobs
are idempotent, so that extra run never sends anything twice.
"""
from __future__ import annotations

import asyncio

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.feature import Feature
from bot.jobs import JobContext, JobSpec
from bot.keys import CLOCK, DELIVERY, JOBS, SERVICES, SESSIONMAKER, SETTINGS
from scheduler.core_jobs import JOBS as CORE_JOBS
from scheduler.backup_job import JOBS as BACKUP_JOBS

log = logging.getLogger("unionbot.scheduler")

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}


def job_context(app: Any) -> JobContext:
    delivery = app[DELIVERY]
    return JobContext(settings=app[SETTINGS], sessionmaker=app[SESSIONMAKER], clock=app[CLOCK],
                      services=app[SERVICES], wake=getattr(delivery, "wake", None))


FREQUENT = timedelta(minutes=5)


def is_frequent(spec: JobSpec) -> bool:
    """An interval job that runs more often than every 5 minutes (its routine runs log at DEBUG)."""
    t = spec.trigger
    if t.get("trigger") != "interval":
        return False
    every = timedelta(**{k: t[k] for k in ("weeks", "days", "hours", "minutes", "seconds") if k in t})
    return every < FREQUENT


async def run_job(spec: JobSpec, ctx: JobContext) -> Any:
    try:
        result = await spec.func(ctx)
        log.log(logging.DEBUG if is_frequent(spec) else logging.INFO, "job %s done: %s", spec.id, result)
        return result
    except asyncio.CancelledError:
        # The service is stopping (SIGTERM, a deploy): the job's transaction is rolled back and it
        # runs again next time, as every job is written to. Said once, not as APScheduler's
        # ERROR with a traceback (which it logs for anything a job raises). Nothing awaits a job's
        # task but the scheduler, so the cancellation ends here.
        log.info("job %s interrupted by the service stopping; it runs again next time", spec.id)
        return None
    except Exception:
        log.exception("job %s failed", spec.id)
        raise
    finally:
        if ctx.wake is not None:
            ctx.wake()


def all_jobs(features: Sequence[Feature]) -> list[JobSpec]:
    """The framework's housekeeping jobs and every feature's, ids unique."""
    jobs = [*CORE_JOBS, *BACKUP_JOBS, *(j for f in features for j in f.jobs)]
    ids = [j.id for j in jobs]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup:
        raise ValueError(f"job id {dup!r} declared twice")
    return jobs


def find_job(jobs: Sequence[JobSpec], name: str) -> JobSpec:
    """A job by its id, or by a unique prefix/suffix of it (e.g. "reminders"); KeyError if none."""
    exact = [j for j in jobs if j.id == name]
    if exact:
        return exact[0]
    hits = [j for j in jobs if j.id.startswith(name) or j.id.endswith("." + name)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise KeyError(f"{name!r} matches several jobs: {', '.join(j.id for j in hits)}")
    known = ", ".join(j.id for j in jobs) or "(none)"
    raise KeyError(f"no job named {name!r}; known jobs: {known}")


def build_scheduler(ctx: JobContext, jobs: Sequence[JobSpec], *, run_at_start: bool = True) -> AsyncIOScheduler:
    tz = ZoneInfo(ctx.settings.app.timezone)
    sched = AsyncIOScheduler(timezone=tz, job_defaults=dict(JOB_DEFAULTS))
    for spec in jobs:
        trigger = dict(spec.trigger)
        kind = trigger.pop("trigger")
        extra: dict[str, Any] = {}
        if kind == "interval" and run_at_start:
            extra["next_run_time"] = datetime.now(tz)
        sched.add_job(run_job, kind, args=[spec, ctx], id=spec.id, name=spec.description or spec.id,
                      replace_existing=True, **JOB_DEFAULTS, **extra, **trigger)
    return sched


async def start_scheduler(app: Any) -> AsyncIOScheduler:
    sched = build_scheduler(job_context(app), app[JOBS])
    sched.start()
    log.info("scheduler started with %d jobs (timezone %s)", len(sched.get_jobs()), app_timezone(sched))
    return sched


def app_timezone(sched: AsyncIOScheduler) -> str:
    return str(getattr(sched, "timezone", ""))
