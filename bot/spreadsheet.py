"""Spreadsheets of rows: CSV (UTF-8 with BOM, opens in Excel) or XLSX (openpyxl).

Used by the admin downloads (bot/admin/export.py) and the command line. Text cells that a
spreadsheet would run as a formula (=, +, -, @) are prefixed with an apostrophe: names and
descriptions come from workers.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text someone typed (CSV/formula injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for row in rows:
        w.writerow([safe_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM so Excel opens it as UTF-8


def to_xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]], sheet: str = "Sheet1") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    ws.append(list(header))
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
