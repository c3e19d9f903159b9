"""Quarters and the chairs' reminder ladder, on the neutral working-day calendar."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from bot.workdays import add_working_days, previous_working_day

QUARTER_ZH = "一二三四"


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    q: int  # 1..4

    _RX = re.compile(r"(\d{4})\s*[Qq]([1-4])")

    @classmethod
    def of(cls, day: date) -> "Quarter":
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def parse(cls, text: str) -> "Quarter":
        m = cls._RX.fullmatch(text.strip())
        if not m:
            raise ValueError(f"not a quarter: {text!r} (expected e.g. 2026Q4)")
        if not 2000 <= int(m.group(1)) <= 2100:  # the calendar (and a sensible report) stops there
            raise ValueError(f"not a quarter we report on: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @property
    def label(self) -> str:
        return f"{self.year}Q{self.q}"

    @property
    def label_zh(self) -> str:
        return f"{self.year}年第{QUARTER_ZH[self.q - 1]}季度"

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.q - 2, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    @property
    def last_month(self) -> int:
        return 3 * self.q

    def next(self) -> "Quarter":
        return Quarter(self.year + 1, 1) if self.q == 4 else Quarter(self.year, self.q + 1)

    def prev(self) -> "Quarter":
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)

    def __str__(self) -> str:
        return self.label


def deadline_date(quarter: Quarter, deadline_day: int) -> date:
    """The report deadline: `deadline_day` of the quarter's last month (clamped to the month),
    moved back to the previous working day."""
    month_end = (date(quarter.year, quarter.last_month, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    nominal = date(quarter.year, quarter.last_month, min(deadline_day, month_end.day))
    return previous_working_day(nominal)


@dataclass(frozen=True)
class Stage:
    """One rung of the reminder ladder for one quarter."""

    name: str  # t-7, t-3, t-1, t+1, t+3 (stable: part of outbox keys)
    day: date
    due_at: datetime  # aware, local time at the reminder hour
    offset: int  # working days relative to the deadline
    to_chair: bool
    to_staff: bool
    listing: bool  # puts the unit on the quarter's 通报 list (no message)


def stages(quarter: Quarter, *, deadline_day: int, remind_before: Sequence[int], escalate_after: int,
           notice_after: int, remind_hour: int, tz: tzinfo | str) -> list[Stage]:
    """The reminder ladder of a quarter, in date order.

    Before the deadline: `remind_before` working days → the chair. After it:
    `escalate_after` working days → the chair and staff; `notice_after` working
    days → the 通报 list. Counting in working days keeps every date on one.
    `tz` is the configured timezone (`ctx.tz`, or its IANA name).
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    dl = deadline_date(quarter, deadline_day)
    at = time(remind_hour, 0)
    out: list[Stage] = []
    for n in sorted(set(remind_before), reverse=True):
        d = add_working_days(dl, -n)
        out.append(Stage(f"t-{n}", d, datetime.combine(d, at, zone), -n, True, False, False))
    d = add_working_days(dl, escalate_after)
    out.append(Stage(f"t+{escalate_after}", d, datetime.combine(d, at, zone), escalate_after, True, True, False))
    if notice_after != escalate_after:
        d = add_working_days(dl, notice_after)
        out.append(Stage(f"t+{notice_after}", d, datetime.combine(d, at, zone), notice_after, False, False, True))
    else:  # same day: that stage also lists the unit
        last = out[-1]
        out[-1] = Stage(last.name, last.day, last.due_at, last.offset, True, True, True)
    return sorted(out, key=lambda s: (s.day, s.offset))


def stage_label(name: str, short: bool = False) -> str:
    """A stage name in words: t-7 → 截止前7个工作日 (short: 前7日), t+1 → 截止后1个工作日 (后1日)."""
    m = re.fullmatch(r"t([+-])(\d+)", name)
    if not m:
        return name
    side = "前" if m.group(1) == "-" else "后"
    return f"{side}{m.group(2)}日" if short else f"截止{side}{m.group(2)}个工作日"
