"""Working days (a neutral calendar any feature may use).

Working days come from `chinese-calendar` (public holidays and 调休 make-up
working days published by the State Council). For a year the package does
not know yet (it raises NotImplementedError) we fall back to "Monday to
Friday" and say so: `calendar_warning(year)` returns the sentence the admin
shows, and the first use of such a year is logged as a warning.

This module is pure (no database, no APScheduler). The chairs' quarters and
reminder ladder, built on it, live in handlers/chairs/quarters.py.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta

import chinese_calendar

log = logging.getLogger("unionbot.calendar")

_warned: set[int] = set()
_known: dict[int, bool] = {}

WEEKDAYS_ZH = "一二三四五六日"


def known_year(year: int) -> bool:
    """True when chinese-calendar has the State Council's holiday data for `year`."""
    if year not in _known:
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
            _known[year] = True
        except NotImplementedError:
            _known[year] = False
    return _known[year]


def calendar_warning(year: int) -> str | None:
    """A sentence for staff when `year`'s holidays are unknown (weekends only are used), else None."""
    if known_year(year):
        return None
    return (f"{year}年的法定节假日和调休安排还没有收录，目前只按周末推算工作日，"
            "截止日和提醒日期可能落在节假日上。请联系技术人员升级节假日数据。")


def is_working_day(day: date) -> bool:
    """A working day: holidays and weekends are off, 调休 make-up days count as working days."""
    if known_year(day.year):
        return chinese_calendar.is_workday(day)
    if day.year not in _warned:
        _warned.add(day.year)
        log.warning("holiday data for %s is unknown to chinese-calendar: using weekends only; "
                    "upgrade the chinese-calendar package", day.year)
    return day.weekday() < 5


def previous_working_day(day: date) -> date:
    """`day` itself when it is a working day, else the last working day before it."""
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def add_working_days(day: date, n: int) -> date:
    """The n-th working day after `day` (n > 0) or before it (n < 0); `day` itself is not counted."""
    step = 1 if n >= 0 else -1
    left = abs(n)
    while left:
        day += timedelta(days=step)
        if is_working_day(day):
            left -= 1
    return day


def format_day(day: date) -> str:
    """12月25日（周五）"""
    return f"{day.month}月{day.day}日（周{WEEKDAYS_ZH[day.weekday()]}）"
