"""Spreadsheet downloads for admin pages (the writing itself is bot/spreadsheet.py).

    return spreadsheet_response("xlsx", header, rows, filename="hardship-20261124", sheet="帮扶申请",
                                tz=ctx.tz)

Every download is `Cache-Control: no-store` (personal data must not stay in a browser's or a
proxy's cache). The sheet is named `sheet` (Chinese), else after the file name — never
«Sheet1». Aware datetimes in `rows` are written as local times of `tz` (the configured
timezone), as real date cells in XLSX.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.spreadsheet import sheet_from_filename, to_csv, to_xlsx

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def spreadsheet_response(fmt: str, header: Sequence[str], rows: Sequence[Sequence[Any]], *, filename: str,
                         sheet: str | None = None, tz: tzinfo | None = None) -> web.Response:
    """A download of `rows` as `fmt` ("csv" or "xlsx"); `filename` without extension (may be Chinese)."""
    if fmt == "csv":
        body, ctype = to_csv(header, rows, tz=tz), "text/csv"
    elif fmt == "xlsx":
        body, ctype = to_xlsx(header, rows, sheet or sheet_from_filename(filename), tz=tz), XLSX_TYPE
    else:
        raise web.HTTPNotFound(text="不支持的导出格式")
    name = f"{filename}.{fmt}"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)  # the plain fallback: no quotes or line breaks
    return web.Response(body=body, content_type=ctype, charset="utf-8" if fmt == "csv" else None, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store"})
