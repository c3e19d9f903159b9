"""Housekeeping of the framework's own tables: the jobs live in scheduler/retention.py.

Dedup records are kept far past WeChat's retry window (15 s): `[retention] inbound_days`
(a week by default), so a re-delivery after an outage is still recognised.
"""
from __future__ import annotations

from scheduler.retention import JOBS as RETENTION_JOBS
from scheduler.retention import prune_inbound

__all__ = ["JOBS", "prune_inbound"]

JOBS = [*RETENTION_JOBS]
