"""`unionbot quiz ...`: the question bank, periods and the year-end export from the command line."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from bot.commands.common import config_option, database, migrate_embedded, settings_from
from bot.spreadsheet import to_csv, to_xlsx


def _run(settings, work) -> Any:  # noqa: ANN001
    """Run `work(session, ctx)` in one transaction on the configured database (ctx: the operations' context)."""
    from bot.clock import Clock
    from bot.operations import OpsContext

    migrate_embedded(settings)
    ctx = OpsContext(Clock(settings.app.timezone), settings)

    async def go() -> Any:
        async with database(settings) as sessionmaker, sessionmaker() as session, session.begin():
            return await work(session, ctx)

    return asyncio.run(go())


@click.group("quiz")
def quiz() -> None:
    """The monthly quiz (每月一题) and the half-year test."""


@quiz.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@config_option
def import_file(file: str, config: str | None) -> None:
    """Add questions from a CSV or XLSX file (see samples/quiz-questions.csv).

    Columns: 题干, 选项A … 选项F (2–6 options), 答案 (letters, e.g. AC), 解析, 专题,
    难度 (易/中/难); English titles stem, option_a…option_f, answer, explanation,
    topic, difficulty work too. If any row is wrong, every problem is listed with
    its line number and nothing is imported. Questions already in the bank (same
    stem) are skipped.
    """
    from tqdm import tqdm

    from handlers.quiz import bank_import as quiz_import

    settings = settings_from(config)
    data = Path(file).read_bytes()

    def progress(rows, total, desc):  # noqa: ANN001, ANN202
        return tqdm(rows, total=total, desc=desc, unit="行", file=sys.stderr, disable=total < 200)

    async def work(session, ctx):  # noqa: ANN001, ANN202
        report = await quiz_import.import_questions(session, ctx, file, data, progress=progress)
        if not report.ok:
            await session.rollback()
        return report

    report = _run(settings, work)
    if not report.ok:
        click.echo(f"没有导入任何题目，{Path(file).name} 有 {len(report.errors)} 处问题：", err=True)
        click.echo(report.error_text(limit=50), err=True)
        sys.exit(1)
    click.echo(f"导入完成：新增 {report.added} 道" + (f"，已在题库中跳过 {report.skipped} 道" if report.skipped else ""))


@quiz.command("period")
@click.argument("code")
@click.option("--opens", help="start, local time (default: the month's first day; for H1/H2 June/December 1)")
@click.option("--closes", help="end, local time, exclusive (default: the next month's first day)")
@click.option("--reveal", type=click.Choice(["immediate", "after_close"]), default="immediate", show_default=True,
              help="show right/wrong and the explanation at once, or only after the period closes")
@click.option("--questions", help="question ids in order, e.g. 3,7,12 (default: drawn from the bank)")
@click.option("--count", type=int, help="how many to draw (default: quiz.questions_per_month / per_half)")
@config_option
def create_period(code: str, opens: str | None, closes: str | None, reveal: str, questions: str | None,
                  count: int | None, config: str | None) -> None:
    """Create a period: a month (2026-12) or a half-year test (2026-H2)."""
    from handlers.quiz import ops

    settings = settings_from(config)

    async def work(session, ctx):  # noqa: ANN001, ANN202
        period = await ops.create_period(
            session, ctx, code, count=count, opens_at=ops.parse_local_time(opens, ctx.tz),
            closes_at=ops.parse_local_time(closes, ctx.tz), reveal=reveal,
            question_ids=ops.parse_question_ids(questions) if questions else None)
        return period, len(await ops.period_questions(session, period))

    try:
        period, n = _run(settings, work)
    except ops.QuizError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo(f"{period.code} {ops.period_title(period)}: {n} 道题")


@quiz.command("periods")
@click.option("--year", type=int)
@config_option
def list_periods(year: int | None, config: str | None) -> None:
    """List periods with their windows and participation."""
    from handlers.quiz import scores as quiz_scores
    from handlers.quiz import ops

    settings = settings_from(config)

    async def work(session, ctx):  # noqa: ANN001, ANN202
        out = []
        for p in await ops.list_periods(session, year):
            r = await quiz_scores.period_results(session, p)
            out.append(f"{p.code}\t{ops.period_status(p, ctx.now)}\t{ctx.local(p.opens_at):%Y-%m-%d %H:%M}"
                       f" – {ctx.local(p.closes_at):%Y-%m-%d %H:%M}\t{len(r.questions)} 题\t"
                       f"{r.participants} 人参加")
        return out

    for line in _run(settings, work):
        click.echo(line)


@quiz.command("export")
@click.argument("year", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="file to write (.csv or .xlsx)")
@config_option
def export_year(year: int, output: str | None, config: str | None) -> None:
    """Write the year-end assessment table (CSV or XLSX by the file name)."""
    from handlers.quiz import scores as quiz_scores

    settings = settings_from(config)
    path = Path(output or f"quiz-{year}.csv")

    async def work(session, ctx):  # noqa: ANN001, ANN202
        return await quiz_scores.year_table(session, ctx, year, with_all_chairs=True)

    table = _run(settings, work)
    header, rows = quiz_scores.year_export_rows(table)
    path.write_bytes(to_xlsx(header, rows, f"{year}年答题成绩") if path.suffix.lower() == ".xlsx"
                     else to_csv(header, rows))
    click.echo(f"已导出 {len(rows)} 人的成绩到 {path}")
