"""The chairs' quarters on the working-day calendar: deadlines moved off holidays, the reminder ladder."""
from __future__ import annotations

from datetime import date

from bot.config import ChairsSettings
from bot.workdays import calendar_warning, is_working_day
from handlers.chairs.quarters import Quarter, deadline_date, stages


def ladder(q: Quarter, **kw):  # noqa: ANN003, ANN201
    c = ChairsSettings(**kw)
    return {s.name: s for s in stages(q, deadline_day=c.deadline_day, remind_before=c.remind_before,
                                      escalate_after=c.escalate_after, notice_after=c.notice_after,
                                      remind_hour=c.remind_hour, tz="Asia/Shanghai")}


def test_q3_deadline_on_mid_autumn_moves_back_and_ladder_counts_the_make_up_sunday() -> None:
    # 25 September 2026 is the Mid-autumn holiday: the deadline is Thursday 24th.
    q = Quarter(2026, 3)
    assert deadline_date(q, 25) == date(2026, 9, 24)
    s = ladder(q)
    assert s["t-1"].day == date(2026, 9, 23)
    # 3 working days back: 23, 22, 21 (Mon)
    assert s["t-3"].day == date(2026, 9, 21)
    # 7 working days back counts Sunday 20th (调休): 23, 22, 21, 20, 18, 17, 16
    assert s["t-7"].day == date(2026, 9, 16)
    # after: 1 working day → Mon 28th (the weekend 26–27 is holiday); 3 → Wed 30th
    assert s["t+1"].day == date(2026, 9, 28)
    assert s["t+3"].day == date(2026, 9, 30)
    assert s["t-7"].due_at.hour == 9


def test_deadline_on_a_weekend_moves_to_friday() -> None:
    assert deadline_date(Quarter(2026, 1), 28) == date(2026, 3, 27)  # 28 March 2026 is a Saturday
    assert deadline_date(Quarter(2026, 4), 31) == date(2026, 12, 31)


def test_unknown_year_falls_back_to_weekends_and_warns() -> None:
    assert calendar_warning(2026) is None
    warning = calendar_warning(2099)
    assert warning and "2099" in warning and "周末" in warning
    assert is_working_day(date(2099, 10, 1))  # a Thursday: no holiday data, so a working day
    assert not is_working_day(date(2099, 10, 3))  # Saturday
    assert deadline_date(Quarter(2099, 4), 25) == date(2099, 12, 25)  # Friday


def test_quarter_labels() -> None:
    q = Quarter.parse("2026Q4")
    assert q.label_zh == "2026年第四季度"
    assert q.next() == Quarter(2027, 1) and q.prev() == Quarter(2026, 3)
    assert q.last_day == date(2026, 12, 31)
