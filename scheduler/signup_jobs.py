"""Scheduled jobs of the signup feature."""
from __future__ import annotations

from scheduler.base import JobSpec

JOBS: list[JobSpec] = []
