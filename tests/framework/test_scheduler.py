"""The APScheduler set-up: stable ids, coalescing, one instance, timezone; running a job by name."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from bot.app import features
from bot.keys import JOBS
from scheduler.setup import all_jobs, build_scheduler, find_job, job_context, run_job

JOB_LIST = all_jobs(features())


async def test_every_job_is_declared_with_stable_ids_and_safe_defaults(app) -> None:  # noqa: ANN001
    sched = build_scheduler(job_context(app), app[JOBS])
    jobs = {j.id: j for j in sched.get_jobs()}
    assert set(jobs) == {s.id for s in JOB_LIST}
    assert "chairs.reminders" in jobs
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
    assert str(sched.timezone) == "Asia/Shanghai"
    # interval jobs run right after start, to catch up on what fell due during downtime
    assert jobs["chairs.reminders"].next_run_time is not None
    # building again replaces, never duplicates
    assert len(build_scheduler(job_context(app), app[JOBS]).get_jobs()) == len(jobs)


def test_find_job_by_id_or_unique_suffix() -> None:
    assert find_job(JOB_LIST, "chairs.reminders").id == "chairs.reminders"
    with pytest.raises(KeyError):
        find_job(JOB_LIST, "no-such-job")


async def test_run_job_wakes_delivery_after_a_run(app, clock) -> None:  # noqa: ANN001
    ctx = job_context(app)
    woken = []
    ctx.wake = lambda: woken.append(True)
    await run_job(find_job(JOB_LIST, "chairs.reminders"), ctx)
    assert woken == [True]


async def test_a_job_cut_short_by_the_service_stopping_is_no_error(app, caplog) -> None:  # noqa: ANN001
    """A deploy stops the service while a job runs: one INFO line, no ERROR with a traceback."""
    import asyncio
    import dataclasses
    import logging

    started = asyncio.Event()

    async def slow(_ctx) -> str:  # noqa: ANN001
        started.set()
        await asyncio.sleep(60)
        return "finished"

    spec = dataclasses.replace(find_job(JOB_LIST, "chairs.reminders"), func=slow)
    caplog.set_level(logging.INFO)
    task = asyncio.create_task(run_job(spec, job_context(app)))
    await started.wait()
    task.cancel()  # what the loop's shutdown does to a job still running
    assert await task is None
    said = [r for r in caplog.records if spec.id in r.getMessage()]
    assert [r.levelno for r in said] == [logging.INFO] and "runs again next time" in said[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_jobs_list_command_shows_next_runs(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from bot.commands.jobs import jobs

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(jobs, ["list"])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("chairs.reminders"))
    assert re.search(r"next \d{4}-\d\d-\d\d \d\d:\d\d", line)


def test_jobs_run_command_runs_one_job_against_the_configured_database(tmp_path) -> None:  # noqa: ANN001
    from bot.commands.jobs import jobs

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/bot.db"\n'
                   '[admin]\nsecret_key = "test-secret-key-0123456789abcdef"\n', encoding="utf-8")
    result = CliRunner().invoke(jobs, ["run", "chairs.reminders", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert re.search(r"^chairs\.reminders: queued=\d+ ", result.output, re.M)
    assert (tmp_path / "bot.db").exists()
    result = CliRunner().invoke(jobs, ["run", "reminders", "--config", str(cfg)])
    assert result.exit_code == 2 and "chairs.reminders" in result.output and "signup.reminders" in result.output
