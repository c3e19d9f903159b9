"""The one convention for a feature's operations (its `ops.py`).

Every operation is `async def verb_object(session, ctx: OpsContext, ...)`:

- `session` is the caller's transaction (a dialogue's, an admin request's, a job's);
- `ctx` carries the clock (with the configured timezone), the settings, the shared services
  and who acts (`staff_id`, None for the worker or the system);
- a refused operation raises a `DomainError` whose text is a complete Chinese sentence the
  caller may show as it is (a dialogue replies with it, an admin page flashes it).

Dialogues get theirs as `ctx.ops`, jobs as `job.ops`, admin pages from `ops_context(request)`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Settings


class DomainError(Exception):
    """A business rule refused the operation; `str(exc)` is what the person is told."""


@dataclass(frozen=True)
class OpsContext:
    clock: "Clock"
    settings: "Settings"
    services: Mapping[str, Any] = field(default_factory=dict)
    staff_id: int | None = None  # who acts: a staff member, or None (the worker, the system)

    @property
    def now(self) -> datetime:
        """Aware UTC."""
        return self.clock.now()

    @property
    def tz(self) -> ZoneInfo:
        return self.clock.tz

    def local(self, when: datetime | None = None) -> datetime:
        """`when` (default now) in the configured timezone."""
        return (when or self.clock.now()).astimezone(self.clock.tz)

    def acting(self, staff_id: int | None) -> "OpsContext":
        return replace(self, staff_id=staff_id)
