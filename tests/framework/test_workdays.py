"""The working-day calendar with real 2026 holidays and 调休 days (bot.workdays)."""
from __future__ import annotations

from datetime import date

from bot.workdays import add_working_days, is_working_day, previous_working_day


def test_national_day_is_off_and_make_up_saturday_is_a_working_day() -> None:
    assert not is_working_day(date(2026, 10, 1))
    assert not is_working_day(date(2026, 10, 7))  # a Wednesday inside the holiday
    assert is_working_day(date(2026, 10, 10))  # Saturday, 调休 make-up day
    assert is_working_day(date(2026, 9, 20))  # Sunday, 调休 make-up day


def test_a_date_in_a_holiday_moves_to_the_previous_working_day() -> None:
    assert previous_working_day(date(2026, 10, 5)) == date(2026, 9, 30)
    assert previous_working_day(date(2026, 10, 11)) == date(2026, 10, 10)  # Sunday → 调休 Saturday


def test_after_stages_skip_national_day() -> None:
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
