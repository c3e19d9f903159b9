"""Spreadsheet downloads for admin pages (the writing itself is bot/spreadsheet.py).

    return spreadsheet_response("xlsx", header, rows, filename="hardship-20261124", sheet="帮扶申请")
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.spreadsheet import to_csv, to_xlsx

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)  # the plain fallback: no quotes or line breaks
    return web.Response(body=body, content_type=ctype, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"})
