"""What a scheduled job is: a stable id, an async function and a trigger.

Jobs are idempotent and catch up: each run computes what is due from the
data and queues what is missing under a unique outbox key, so running twice
or after downtime sends nothing twice and misses nothing.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.operations import OpsContext


@dataclass
class JobContext:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    services: dict[str, Any] = field(default_factory=dict)
    # Called after a job queued outbox rows, to wake the delivery loop.
    wake: Callable[[], None] | None = None

    @property
    def ops(self) -> OpsContext:
        """The context a feature operation takes (the system acts)."""
        return OpsContext(self.clock, self.settings, self.services)


JobFunc = Callable[[JobContext], Awaitable[Any]]


@dataclass(frozen=True)
class JobSpec:
    id: str  # stable, e.g. "chairs.reminders"
    func: JobFunc
    # APScheduler trigger arguments, e.g. {"trigger": "interval", "minutes": 10}
    # or {"trigger": "cron", "hour": 9, "minute": 0}.
    trigger: dict[str, Any]
    description: str = ""
