"""Scheduled jobs of the chairs feature."""
from __future__ import annotations

from scheduler.base import JobSpec

JOBS: list[JobSpec] = []
