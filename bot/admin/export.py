"""Spreadsheet downloads for admin pages: CSV (UTF-8 with BOM, opens in Excel) or XLSX (openpyxl).

    return spreadsheet_response("xlsx", header, rows, filename="hardship-20261124", sheet="帮扶申请")

Text cells that a spreadsheet would run as a formula (=, +, -, @) are prefixed
with an apostrophe: names and descriptions come from workers.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from aiohttp import web

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")


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


def spreadsheet_response(fmt: str, header: Sequence[str], rows: Sequence[Sequence[Any]], *, filename: str,
                         sheet: str = "Sheet1") -> web.Response:
    """A download of `rows` as `fmt` ("csv" or "xlsx"); `filename` without extension (may be Chinese)."""
    if fmt == "csv":
        body, ctype = to_csv(header, rows), "text/csv"
    elif fmt == "xlsx":
        body, ctype = to_xlsx(header, rows, sheet), XLSX_TYPE
    else:
        raise web.HTTPNotFound(text="不支持的导出格式")
    name = f"{filename}.{fmt}"
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    return web.Response(body=body, content_type=ctype, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"})
