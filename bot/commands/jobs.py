"""`unionbot jobs ...`: the scheduled jobs, and running one now."""
from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from bot.commands.common import config_option, database, migrate_embedded, settings_from


@click.group("jobs")
def jobs() -> None:
    """Scheduled jobs (reminders, expiries)."""


@jobs.command("list")
@config_option
def list_jobs(config: str | None) -> None:
    """Show every scheduled job, its trigger and its next run."""
    from bot.clock import Clock
    from bot.jobs import JobContext
    from bot.app import features
    from scheduler.setup import all_jobs, build_scheduler

    import logging

    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    settings = settings_from(config)
    tz = ZoneInfo(settings.app.timezone)
    ctx = JobContext(settings=settings, sessionmaker=None, clock=Clock(settings.app.timezone))  # type: ignore[arg-type]
    sched = build_scheduler(ctx, all_jobs(features()), run_at_start=False)
    now = datetime.now(tz)
    if not settings.scheduler.enabled:
        click.echo("note: [scheduler] enabled = false: `unionbot serve` runs no jobs")
    for job in sched.get_jobs():
        nxt = job.trigger.get_next_fire_time(None, now)
        when = nxt.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if nxt else "-"
        click.echo(f"{job.id:<28} next {when:<24} {job.trigger}  {job.name}")


@jobs.command("run")
@click.argument("name")
@config_option
def run_now(name: str, config: str | None) -> None:
    """Run one job now (by id, e.g. chairs.reminders). Safe to repeat: jobs are idempotent."""
    from bot.app import build_services, features
    from bot.clock import Clock
    from bot.jobs import JobContext
    from scheduler.setup import all_jobs, find_job, run_job

    settings = settings_from(config)
    try:
        spec = find_job(all_jobs(features()), name)
    except KeyError as exc:
        click.echo(f"error: {exc.args[0]}", err=True)
        sys.exit(2)
    migrate_embedded(settings)

    async def go() -> object:
        async with database(settings) as sessionmaker:
            ctx = JobContext(settings=settings, sessionmaker=sessionmaker,
                             clock=Clock(settings.app.timezone), services=build_services(settings))
            return await run_job(spec, ctx)

    result = asyncio.run(go())
    click.echo(f"{spec.id}: {result}")
