"""Scheduled jobs of the hardship feature."""
from __future__ import annotations

from scheduler.base import JobSpec

JOBS: list[JobSpec] = []
