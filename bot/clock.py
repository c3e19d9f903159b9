"""Injected clocks: every "now" in the service comes from one of these."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo


class Clock:
    """Wall clock; `now()` is timezone-aware UTC, `local()` in the service timezone."""

    def __init__(self, tz: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(tz)

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def local(self) -> datetime:
        return self.now().astimezone(self.tz)


class FakeClock(Clock):
    """A clock tests can set and move; starts at a fixed instant."""

    def __init__(self, start: datetime | None = None, tz: str = "Asia/Shanghai") -> None:
        super().__init__(tz)
        self._now = start or datetime(2026, 11, 24, 10, 0, tzinfo=self.tz)

    def now(self) -> datetime:
        return self._now.astimezone(timezone.utc)

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.tz)
        self._now = when

    def advance(self, **kwargs: float) -> None:
        self._now = self._now + timedelta(**kwargs)
