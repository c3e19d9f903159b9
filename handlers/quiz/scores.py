"""Quiz scores: per period, the year table and rankings, per-question results, the year-end export.

Read-only operations over the answers; the bot (`成绩`), the admin pages and the
CLI all call these. Those that depend on the time or the settings take an `OpsContext`
(`bot.operations`), the others just the session.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.validators import mask_phone
from bot.db.models.core import Member
from bot.db.models.quiz import QuizAnswer, QuizPeriod, QuizPeriodQuestion, QuizQuestion
from bot.operations import OpsContext
from handlers.chairs.ops import bound_chairs
from handlers.quiz.ops import (LETTERS, TakerView, list_periods, percent, period_label, period_questions,
                               what_taker_sees)


def mean(values: list[float]) -> float:
    """Rounded to one decimal; 0 for nothing."""
    return round(sum(values) / len(values), 1) if values else 0.0


@dataclass
class PeriodScore:
    correct: int
    answered: int
    total: int

    @property
    def score(self) -> float:
        return percent(self.correct, self.total)

    @property
    def complete(self) -> bool:
        return self.answered >= self.total


async def period_scores(session: AsyncSession, period: QuizPeriod) -> dict[str, PeriodScore]:
    """openid → score of one period (percentage of the period's questions answered right)."""
    total = await session.scalar(select(func.count()).select_from(QuizPeriodQuestion)
                                 .where(QuizPeriodQuestion.period_id == period.id)) or 0
    rows = await session.execute(
        select(QuizAnswer.openid, func.count(), func.sum(case((QuizAnswer.correct.is_(True), 1), else_=0)))
        .where(QuizAnswer.period_id == period.id).group_by(QuizAnswer.openid))
    return {o: PeriodScore(int(c or 0), int(n), total) for o, n, c in rows.all()}


async def taker_views(session: AsyncSession, ctx: OpsContext, periods: Iterable[QuizPeriod], openid: str
                      ) -> dict[int, TakerView]:
    """period id → what `openid` may see about it now (see ops.TakerView)."""
    now = ctx.now
    periods = list(periods)
    ids = [p.id for p in periods]
    if not ids:
        return {}
    totals = dict((await session.execute(
        select(QuizPeriodQuestion.period_id, func.count()).where(QuizPeriodQuestion.period_id.in_(ids))
        .group_by(QuizPeriodQuestion.period_id))).all())
    mine = {pid: (int(n), int(c or 0)) for pid, n, c in (await session.execute(
        select(QuizAnswer.period_id, func.count(), func.sum(case((QuizAnswer.correct.is_(True), 1), else_=0)))
        .where(QuizAnswer.period_id.in_(ids), QuizAnswer.openid == openid)
        .group_by(QuizAnswer.period_id))).all()}
    views = {}
    for p in periods:
        answered, correct = mine.get(p.id, (0, 0))
        views[p.id] = what_taker_sees(p, now, answered, int(totals.get(p.id, 0)), correct)
    return views


async def taker_view(session: AsyncSession, ctx: OpsContext, period: QuizPeriod, openid: str) -> TakerView:
    return (await taker_views(session, ctx, [period], openid))[period.id]


async def year_views(session: AsyncSession, ctx: OpsContext, year: int, openid: str
                     ) -> list[tuple[QuizPeriod, TakerView]]:
    """The year's periods opened so far, each with what `openid` may see about it."""
    periods = [p for p in await list_periods(session, year) if p.opens_at <= ctx.now]
    views = await taker_views(session, ctx, periods, openid)
    return [(p, views[p.id]) for p in periods]


@dataclass
class PersonRow:
    openid: str
    name: str = ""
    employer: str = ""
    phone: str = ""
    chair: bool = False
    scores: dict[str, PeriodScore | None] = field(default_factory=dict)
    month_avg: float = 0.0
    half_avg: float = 0.0
    total: float = 0.0
    taken: int = 0
    held: int = 0
    rank: int = 0

    @property
    def participation(self) -> float:
        return percent(self.taken, self.held)


@dataclass
class YearTable:
    year: int
    periods: list[QuizPeriod]
    rows: list[PersonRow]
    month_weight: float
    half_weight: float

    def for_openid(self, openid: str) -> PersonRow | None:
        return next((r for r in self.rows if r.openid == openid), None)


def assessment(month_avg: float, half_avg: float, months: int, halves: int, mw: float, hw: float) -> float:
    """Year-end score: the weighted mean of the month average and the half-year average (0–100)."""
    parts = ([(month_avg, mw)] if months else []) + ([(half_avg, hw)] if halves else [])
    weight = sum(w for _, w in parts)
    return round(sum(v * w for v, w in parts) / weight, 1) if weight else 0.0


async def year_table(session: AsyncSession, ctx: OpsContext, year: int, *, only_revealed: bool = False,
                     with_all_chairs: bool = False) -> YearTable:
    """Everyone who answered in `year`, scored over the periods opened so far, ranked by
    participation rate then year-end score (weights from `[quiz]`). Union chairs are marked;
    `with_all_chairs` adds the bound chairs who never answered (0 %, for the year-end assessment).
    `only_revealed` keeps the periods that count in the total and rank a worker sees: closed ones
    (TakerView.in_rank)."""
    now = ctx.now
    month_weight, half_weight = ctx.settings.quiz.month_weight, ctx.settings.quiz.half_weight
    periods = [p for p in await list_periods(session, year) if p.opens_at <= now]
    if only_revealed:
        periods = [p for p in periods if what_taker_sees(p, now).in_rank]
    per_period = {p.code: await period_scores(session, p) for p in periods}
    openids = {o for s in per_period.values() for o in s}
    chairs = await bound_chairs(session)
    if with_all_chairs:
        openids |= set(chairs)
    members = await members_by_openid(session, openids)
    months = [p for p in periods if p.kind == "month"]
    halves = [p for p in periods if p.kind == "half"]
    rows: list[PersonRow] = []
    for o in sorted(openids):
        m, c = members.get(o), chairs.get(o)
        row = PersonRow(openid=o, name=(m and m.name) or (c and c.name) or "",
                        employer=(m and m.employer) or (c and c.organisation) or "",
                        phone=(m and m.phone) or "", chair=c is not None, held=len(periods))
        for p in periods:
            row.scores[p.code] = per_period[p.code].get(o)
        row.taken = sum(1 for s in row.scores.values() if s is not None)
        row.month_avg = _avg([row.scores[p.code] for p in months])
        row.half_avg = _avg([row.scores[p.code] for p in halves])
        row.total = assessment(row.month_avg, row.half_avg, len(months), len(halves), month_weight, half_weight)
        rows.append(row)
    rows.sort(key=lambda r: (-r.participation, -r.total, r.name or r.openid))
    _rank(rows, key=lambda r: (r.participation, r.total))
    return YearTable(year, periods, rows, month_weight, half_weight)


def _avg(scores: list[PeriodScore | None]) -> float:
    return mean([s.score if s is not None else 0.0 for s in scores])


def _rank(rows: list[Any], key) -> None:  # noqa: ANN001
    """Competition ranking (1, 2, 2, 4) over rows already sorted by `key` descending."""
    prev, rank = None, 0
    for i, r in enumerate(rows, 1):
        k = key(r)
        if k != prev:
            rank, prev = i, k
        r.rank = rank


async def members_by_openid(session: AsyncSession, openids: Iterable[str]) -> dict[str, Member]:
    ids = list(openids)
    if not ids:
        return {}
    return {m.openid: m for m in await session.scalars(select(Member).where(Member.openid.in_(ids)))}


@dataclass
class GroupRow:
    employer: str
    members: int
    takers: int
    participation: float
    avg_total: float
    rank: int = 0


async def employer_board(session: AsyncSession, table: YearTable) -> list[GroupRow]:
    """Per employer / community: share of its known members who took part, then their average score."""
    counts = dict((await session.execute(
        select(Member.employer, func.count()).where(Member.employer.is_not(None), Member.employer != "")
        .group_by(Member.employer))).all())
    by_emp: dict[str, list[PersonRow]] = defaultdict(list)
    for r in table.rows:
        if r.employer and r.taken:  # chairs listed without answers are not takers of their unit
            by_emp[r.employer].append(r)
    out = []
    for emp, people in by_emp.items():
        n = max(counts.get(emp, 0), len(people))
        # Members who never answered count as 0 % participation.
        out.append(GroupRow(emp, n, len(people), round(sum(p.participation for p in people) / n, 1),
                            mean([p.total for p in people])))
    out.sort(key=lambda g: (-g.participation, -g.avg_total, g.employer))
    _rank(out, key=lambda g: (g.participation, g.avg_total))
    return out


@dataclass
class QuestionStat:
    position: int
    question: QuizQuestion
    answered: int
    correct: int
    choices: dict[str, int]

    @property
    def rate(self) -> float:
        return percent(self.correct, self.answered)


@dataclass
class PeriodResults:
    period: QuizPeriod
    participants: int
    completed: int
    questions: list[QuestionStat]
    scores: dict[str, PeriodScore]

    @property
    def average(self) -> float:
        return mean([s.score for s in self.scores.values()])


async def period_results(session: AsyncSession, period: QuizPeriod) -> PeriodResults:
    questions = await period_questions(session, period)
    answers = list(await session.scalars(select(QuizAnswer).where(QuizAnswer.period_id == period.id)))
    stats = []
    for i, q in enumerate(questions, 1):
        mine = [a for a in answers if a.question_id == q.id]
        choices = {LETTERS[k]: 0 for k in range(len(q.options))}
        for a in mine:
            for ch in a.chosen:
                choices[ch] = choices.get(ch, 0) + 1
        stats.append(QuestionStat(i, q, len(mine), sum(1 for a in mine if a.correct), choices))
    scores = await period_scores(session, period)
    return PeriodResults(period, len(scores), sum(1 for s in scores.values() if s.complete), stats, scores)


# ------------------------------------------------------------------ year-end export
def year_export_rows(table: YearTable) -> tuple[list[str], list[list[Any]]]:
    """The year-end assessment sheet: one row per person (phone masked). The year-end score is
    the first number after the name, as on the scores page; periods are named as staff say
    them (「2026年12月」「2026年下半年测试」)."""
    header = ["排名", "姓名", f"年终考核得分(月{table.month_weight:g}:半年{table.half_weight:g})", "参与率(%)",
              "参与期数", "单位/社区", "手机", "工会主席", "每月一题平均", "半年测试平均"]
    header += [period_label(p) for p in table.periods]
    rows = []
    for r in table.rows:
        row: list[Any] = [r.rank, r.name or "未留姓名", r.total, r.participation, f"{r.taken}/{r.held}", r.employer,
                          mask_phone(r.phone) if r.phone else "", "是" if r.chair else "", r.month_avg, r.half_avg]
        row += [(s.score if s else "未参加") for s in (r.scores.get(p.code) for p in table.periods)]
        rows.append(row)
    return header, rows
