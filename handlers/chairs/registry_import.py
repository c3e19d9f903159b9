"""Reading and importing the chair registry from CSV or XLSX (`unionbot chairs import`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import spreadsheet
from bot.db.models.chairs import Chair
from bot.operations import OpsContext
from handlers.chairs.ops import ChairError, validate_chair

HEADERS = {
    "name": ("name", "姓名", "主席", "主席姓名"),
    "organisation": ("organisation", "organization", "单位", "工会", "基层工会", "单位名称"),
    "community": ("community", "社区", "所属社区"),
    "mobile": ("mobile", "phone", "手机", "手机号", "电话", "联系电话"),
}


def read_chair_file(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file as (line number, fields).

    The first row is the header: name, organisation, community, mobile (or 姓名, 单位, 社区, 手机).
    """
    p = Path(path)
    return read_chair_bytes(p.name, p.read_bytes())


def read_chair_bytes(filename: str, data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """The same for an uploaded file's name and bytes (the admin's upload form). A file that
    can't be read is refused with a `ChairError` naming the problem (bot/spreadsheet.py)."""
    try:
        table = spreadsheet.read_table(filename, data)
    except spreadsheet.SpreadsheetError as exc:
        raise ChairError(f"没有导入：{exc}") from None
    raw = [["" if c is None else str(c) for c in row] for _line, row in table]
    lines = [line for line, _row in table]
    if not raw:
        raise ChairError("没有导入：文件是空的。")
    header = [h.strip().lower() for h in raw[0]]
    cols: dict[str, int] = {}
    for key, names in HEADERS.items():
        for i, h in enumerate(header):
            if h in names:
                cols[key] = i
                break
        else:
            raise ChairError(f"没有导入：第{lines[0]}行（表头）缺少“{HEADERS[key][1]}”列。")
    out = []
    for n, row in zip(lines[1:], raw[1:]):
        out.append((n, {k: (row[i].strip() if i < len(row) else "") for k, i in cols.items()}))
    return out


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0


class ImportRefused(ChairError):
    """Some rows are wrong, so none was imported; `errors` has every (line number, problem)."""

    SHOWN = 20  # problems named in the message (all are in `errors`)

    def __init__(self, errors: list[tuple[int, str]], source: str = "") -> None:
        problems = "；".join(f"第{line}行：{msg.rstrip('。')}" for line, msg in errors[:self.SHOWN])
        more = f"（另有 {len(errors) - self.SHOWN} 处）" if len(errors) > self.SHOWN else ""
        super().__init__(f"没有导入任何主席，{source or '文件'} 有 {len(errors)} 处问题：{problems}{more}。")
        self.errors = errors


async def import_chairs(session: AsyncSession, ctx: OpsContext, rows: Sequence[tuple[int, Mapping[str, Any]]],
                        *, source: str = "") -> ImportResult:
    """Add or update (matched by mobile) every row, or nothing at all when any row is wrong
    (then `ImportRefused`, naming `source`, e.g. the file name)."""
    errors: list[tuple[int, str]] = []
    clean: list[tuple[int, dict[str, str]]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            fields = validate_chair(row.get("name"), row.get("organisation"), row.get("community"), row.get("mobile"))
        except ChairError as exc:
            errors.append((line, str(exc)))
            continue
        if fields["mobile"] in seen:
            errors.append((line, f"手机号 {fields['mobile']} 与第{seen[fields['mobile']]}行重复。"))
            continue
        seen[fields["mobile"]] = line
        clean.append((line, fields))
    if errors:
        raise ImportRefused(errors, source)
    result = ImportResult()
    now = ctx.now
    existing = {c.mobile: c for c in (await session.scalars(
        select(Chair).where(Chair.mobile.in_(list(seen))))).all()}
    for _line, fields in clean:
        chair = existing.get(fields["mobile"])
        if chair is None:
            session.add(Chair(**fields, active=True, created_at=now, updated_at=now))
            result.added += 1
        else:
            for k, v in fields.items():
                setattr(chair, k, v)
            chair.updated_at = now
            result.updated += 1
    await session.flush()
    return result

