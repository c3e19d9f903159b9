"""Importing questions into the bank from CSV or XLSX: all rows or none, problems by line.

Used by `unionbot quiz import FILE` (with a progress bar) and the admin upload.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import spreadsheet
from bot.db.models.quiz import QuizQuestion
from bot.operations import OpsContext
from handlers.quiz.ops import LETTERS, QuizError, validate_question


# Accepted column titles (Chinese or English, case-insensitive) → field.
HEADER_ALIASES = {
    "stem": ("题干", "题目", "stem", "question"),
    "answer": ("答案", "正确答案", "answer"),
    "explanation": ("解析", "答案解析", "explanation"),
    "topic": ("专题", "主题", "分类", "topic"),
    "difficulty": ("难度", "difficulty"),
    **{f"opt{ch}": (f"选项{ch}", f"{ch}", f"option_{ch.lower()}", f"option{ch.lower()}", f"{ch}选项")
       for ch in LETTERS},
}


# The columns staff fill in, with one example row (the admin offers it as an Excel template).
TEMPLATE_HEADER = ["题干", *(f"选项{ch}" for ch in LETTERS), "答案", "解析", "专题", "难度"]
TEMPLATE_ROWS = [
    ["《工会法》规定，建立基层工会委员会的最低会员人数是？", "10人", "25人", "50人", "100人", "", "", "B",
     "会员25人以上的单位建立基层工会委员会。", "工会法", "易"],
    ["工会经费的来源包括哪些？（多选）", "会员缴纳的会费", "单位拨缴的经费", "上级工会的补助", "", "", "", "ABC",
     "多选题的答案连写全部正确选项，如 ABC。", "工会法", "中"],
]


@dataclass
class ImportReport:
    added: int = 0
    skipped: int = 0  # already in the bank (same stem)
    rows: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error_text(self, limit: int = 20, sep: str = "\n") -> str:
        lines = [f"第 {line} 行：{msg}" if line else msg for line, msg in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"……另有 {len(self.errors) - limit} 处问题。")
        return sep.join(lines)


def _map_header(header: Sequence[Any]) -> dict[str, int]:
    lookup = {alias.lower(): name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
    cols: dict[str, int] = {}
    for i, title in enumerate(header):
        name = lookup.get(unicodedata.normalize("NFKC", str(title or "")).strip().lower())
        if name and name not in cols:
            cols[name] = i
    return cols


Progress = spreadsheet.Progress


def _no_progress(rows: Iterable[Any], total: int, desc: str) -> Iterable[Any]:
    return rows


def read_table(filename: str, data: bytes, progress: Progress = _no_progress
               ) -> tuple[int, list[Any], list[tuple[int, list[Any]]]]:
    """The header's line, the header and (line number, cells) of every later non-empty row
    of a CSV or XLSX file. A file that can't be read (another kind of file, damaged, an
    XLSX that unpacks too big or declares XML entities) is refused with a `QuizError`
    naming the problem (bot/spreadsheet.py checks it)."""
    try:
        rows = spreadsheet.read_table(filename, data, progress=progress)
    except spreadsheet.SpreadsheetError as exc:
        raise QuizError(str(exc)) from None
    return rows[0][0], rows[0][1], rows[1:]


def parse_questions(filename: str, data: bytes, progress: Progress = _no_progress
                    ) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """Validate every row; returns (line, cleaned question) pairs and (line, problem) errors.

    `progress(iterable, total, description)` wraps the long loops (the CLI passes a tqdm bar).
    """
    header_line, header, rows = read_table(filename, data, progress)
    cols = _map_header(header)
    missing = [t for t, k in (("题干", "stem"), ("答案", "answer"), ("选项A", "optA"), ("选项B", "optB"))
               if k not in cols]
    if missing:
        return [], [(header_line, "缺少列：" + "、".join(missing) + "（第一行应是列名，见示例文件）。")]

    def cell(r: list[Any], key: str) -> Any:
        i = cols.get(key)
        if i is None or i >= len(r):
            return None
        v = r[i]
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return v

    good: list[tuple[int, dict[str, Any]]] = []
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for line, r in progress(rows, len(rows), "检查题目"):
        try:
            q = validate_question(cell(r, "stem"), [cell(r, f"opt{ch}") for ch in LETTERS], cell(r, "answer"),
                                  cell(r, "explanation"), cell(r, "topic"), cell(r, "difficulty"))
        except QuizError as exc:
            errors.append((line, str(exc)))
            continue
        if q["stem"] in seen:
            errors.append((line, f"与第 {seen[q['stem']]} 行的题干重复。"))
            continue
        seen[q["stem"]] = line
        good.append((line, q))
    return good, errors


async def import_questions(session: AsyncSession, ctx: OpsContext, filename: str, data: bytes, *,
                           progress: Progress = _no_progress) -> ImportReport:
    """All or nothing: any bad row → nothing added and every problem reported with its line.

    A question whose stem is already in the bank is skipped, so importing a file twice adds nothing.
    """
    report = ImportReport()
    try:
        good, report.errors = parse_questions(filename, data, progress)
    except QuizError as exc:
        report.errors = [(0, str(exc))]
        return report
    report.rows = len(good) + len(report.errors)
    if report.errors:
        return report
    existing = set(await session.scalars(select(QuizQuestion.stem).where(QuizQuestion.deleted_at.is_(None))))
    source = filename.rsplit("/", 1)[-1]
    for i, (_line, q) in enumerate(progress(good, len(good), "写入题库"), 1):
        if q["stem"] in existing:
            report.skipped += 1
            continue
        session.add(QuizQuestion(**q, created_at=ctx.now, updated_at=ctx.now, source=source[:200]))
        report.added += 1
        if i % 500 == 0:
            await session.flush()  # in batches, so the bar moves with the real work
    await session.flush()
    return report
