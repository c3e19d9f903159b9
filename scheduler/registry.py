"""Every feature's jobs, collected in one place."""
from __future__ import annotations

from scheduler.base import JobSpec

# Each module exposes JOBS: list[JobSpec].
JOB_MODULES = [
    "scheduler.core_jobs",
    "scheduler.hardship_jobs",
    "scheduler.chairs_jobs",
    "scheduler.signup_jobs",
    "scheduler.quiz_jobs",
]


def all_jobs() -> list[JobSpec]:
    import importlib

    jobs: list[JobSpec] = []
    for name in JOB_MODULES:
        jobs.extend(importlib.import_module(name).JOBS)
    return jobs
