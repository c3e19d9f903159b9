"""Spreadsheets of rows: writing CSV / XLSX downloads, and reading uploaded CSV / XLSX files.

Writing (the admin downloads in bot/admin/export.py, and the command line):

- CSV is UTF-8 with a BOM, so Excel opens it as UTF-8.
- XLSX has a Chinese sheet name, a bold header row that stays in view (frozen) with filters,
  columns as wide as their content (a CJK character counts twice), numbers as numbers and
  dates as real date cells with a Chinese number format (2026年12月31日 / … 23:59). Aware
  datetimes are written as naive local times of `tz` (the configured timezone); text that
  is exactly a date or a date and time (`2026-12-31`, `2026-12-31 23:59`, as the lists
  print them) is written as a date cell too.
- Text cells a spreadsheet would run as a formula (=, +, -, @) are prefixed with an
  apostrophe: names and descriptions come from workers.

Reading (`read_table`, for the question-bank and chair-registry imports): CSV (UTF-8 or the
GB18030 that Excel in China saves) or XLSX, checked before openpyxl sees it: a zip of an
Excel workbook, unpacked size and part count bounded (zip bombs), no DTD or entity
declarations in its XML (entity bombs; openpyxl also parses through defusedxml), rows and
columns bounded. Anything wrong raises `SpreadsheetError`, whose text is a Chinese sentence
naming the problem for staff — never a library's exception text.
"""
from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# writing

DATE_FORMAT = 'yyyy"年"m"月"d"日"'
DATETIME_FORMAT = 'yyyy"年"m"月"d"日" hh:mm'
TIME_FORMAT = "hh:mm"
DEFAULT_SHEET = "数据"
MIN_WIDTH, MAX_WIDTH = 6, 60  # column widths, in Excel's character units
_INVALID_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$")
_STAMP = re.compile(r"[-_ ]?\d{8}$")  # the download's date stamp (quiz-2026-20261205)


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text someone typed (CSV/formula injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def sheet_title(name: str | None, fallback: str = DEFAULT_SHEET) -> str:
    """A valid Excel sheet name: no []:*?/\\, at most 31 characters, never empty."""
    title = _INVALID_SHEET_CHARS.sub("-", (name or "").strip()).strip("'")
    if not title:
        title = fallback
    return title[:31]


def sheet_from_filename(filename: str) -> str:
    """A sheet name from a download's name: 「培训台账-2026-01-01至2026-12-05」, 「XX活动-报名名单」."""
    base = _STAMP.sub("", filename.rsplit("/", 1)[-1])
    if len(base) > 31 and "-" in base:  # keep the part that says what the list is
        base = base.rsplit("-", 1)[-1] or base
    return sheet_title(base)


def display_width(text: str) -> int:
    """Columns `text` takes in a spreadsheet: wide (CJK, full-width) characters count 2."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _local(value: datetime, tz: tzinfo | None) -> datetime:
    """A naive local datetime for a cell (Excel has no time zones)."""
    if value.tzinfo is None:
        return value
    if tz is None:
        raise ValueError("an aware datetime in a spreadsheet needs tz= (the configured timezone)")
    return value.astimezone(tz).replace(tzinfo=None)


def _xlsx_value(value: Any, tz: tzinfo | None) -> tuple[Any, str | None, str]:
    """(cell value, number format, the text it shows) of one value."""
    if value is None:
        return None, None, ""
    if isinstance(value, bool):
        return ("是" if value else "否"), None, "是"
    if isinstance(value, datetime):
        v = _local(value, tz)
        return v, DATETIME_FORMAT, f"{v.year}年{v.month:02d}月{v.day:02d}日 {v:%H:%M}"
    if isinstance(value, date):
        return value, DATE_FORMAT, f"{value.year}年{value.month:02d}月{value.day:02d}日"
    if isinstance(value, time):
        return value, TIME_FORMAT, "00:00"
    if isinstance(value, (int, float, Decimal)):
        if isinstance(value, float) and value != value:  # NaN: an empty cell
            return None, None, ""
        return value, None, f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        s = value.strip()
        if _ISO_DATE.match(s):
            try:
                d = date.fromisoformat(s)
                return d, DATE_FORMAT, f"{d.year}年{d.month:02d}月{d.day:02d}日"
            except ValueError:
                pass
        elif _ISO_DATETIME.match(s):
            try:
                dt = datetime.fromisoformat(s)
                return dt, DATETIME_FORMAT, f"{dt.year}年{dt.month:02d}月{dt.day:02d}日 {dt:%H:%M}"
            except ValueError:
                pass
        text = safe_cell(value)
        return text, None, text
    text = str(value)
    return safe_cell(text), None, text


def _text_width(text: str) -> int:
    if "\n" not in text:
        return display_width(text)
    return max((display_width(line) for line in text.splitlines()), default=0)


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Any]], *, tz: tzinfo | None = None) -> bytes:
    """CSV with a UTF-8 BOM; dates as 2026-12-31 (23:59), local time of `tz`."""
    def text(v: Any) -> Any:
        if isinstance(v, datetime):
            return _local(v, tz).strftime("%Y-%m-%d %H:%M")
        if isinstance(v, bool):
            return "是" if v else "否"
        return safe_cell(v)

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for row in rows:
        w.writerow([text(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM so Excel opens it as UTF-8


def to_xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]], sheet: str | None = None, *,
            tz: tzinfo | None = None) -> bytes:
    """One sheet named `sheet` (Chinese; default 「数据」): bold frozen header with filters,
    fitted column widths, numbers as numbers, dates as date cells in local time of `tz`."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    ncols = max([len(header), *(len(r) for r in rows)]) if rows or header else 0
    widths = [_text_width(str(h)) for h in header] + [0] * (ncols - len(header))
    cells: list[list[tuple[Any, str | None]]] = []
    for row in rows:
        out = []
        for i, v in enumerate(row):
            value, fmt, shown = _xlsx_value(v, tz)
            widths[i] = max(widths[i], _text_width(shown))
            out.append((value, fmt))
        cells.append(out)

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_title(sheet))
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = min(MAX_WIDTH, max(MIN_WIDTH, w + 2))
    ws.freeze_panes = "A2"
    if ncols and header:
        ws.auto_filter.ref = f"A1:{get_column_letter(ncols)}{len(rows) + 1}"
    bold, wrap = Font(bold=True), Alignment(vertical="center")
    head = []
    for h in header:
        c = WriteOnlyCell(ws, value=safe_cell(h))
        c.font, c.alignment = bold, wrap
        head.append(c)
    if head:
        ws.append(head)
    for out in cells:
        line = []
        for value, fmt in out:
            if fmt:
                c = WriteOnlyCell(ws, value=value)
                c.number_format = fmt
                line.append(c)
            else:
                line.append(value)
        ws.append(line)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# reading

MAX_UNPACKED = 64 * 1024 * 1024  # bytes an uploaded XLSX may unpack to, all parts together
MAX_PARTS = 2000  # files inside the XLSX (a workbook has a few dozen)
MAX_ROWS = 20_000
MAX_COLUMNS = 64
_CHUNK = 64 * 1024
_XML_DECLS = tuple(s.encode(enc) for s in ("<!DOCTYPE", "<!ENTITY") for enc in ("utf-8", "utf-16-le", "utf-16-be"))
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .xls, or an Excel file with an opening password
_ZIP_MAGIC = b"PK\x03\x04"


class SpreadsheetError(ValueError):
    """An uploaded file that can't be read as a table; `str()` is a Chinese sentence for staff."""


Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]


def _no_progress(rows: Iterable[Any], total: int, desc: str) -> Iterable[Any]:
    return rows


def is_xlsx_name(filename: str) -> bool:
    return filename.lower().endswith((".xlsx", ".xlsm"))


def read_table(filename: str, data: bytes, *, progress: Progress = _no_progress, max_rows: int = MAX_ROWS
               ) -> list[tuple[int, list[Any]]]:
    """(line number, cells) of every non-empty row of an uploaded CSV or XLSX file (line 1 is
    the header); cells as read (XLSX: numbers, dates; whole floats become ints; CSV: text).
    Refused with `SpreadsheetError`: another kind of file, a damaged or dangerous XLSX, an
    unknown CSV encoding, an empty file, more than `max_rows` rows."""
    name = filename.rsplit("/", 1)[-1]
    if data.startswith(_ZIP_MAGIC) or is_xlsx_name(name):
        rows = read_xlsx(data, name=name, progress=progress, max_rows=max_rows)
    elif data.startswith(_OLE_MAGIC):
        raise SpreadsheetError(f"「{name}」是旧版 Excel（.xls）文件或设置了打开密码，读不了。"
                               "请在 Excel 中打开，取消密码后「另存为」Excel 工作簿（.xlsx）再上传。")
    elif name.lower().endswith((".csv", ".txt")):
        rows = read_csv(data, name=name, max_rows=max_rows)
    else:
        raise SpreadsheetError(f"「{name}」不是表格文件：只支持 Excel（.xlsx）或 CSV（.csv）。")
    rows = [(i, r) for i, r in rows if any(c is not None and str(c).strip() for c in r)]
    if not rows:
        raise SpreadsheetError(f"「{name}」是空的，里面没有任何内容。")
    return rows


def read_csv(data: bytes, *, name: str = "文件", max_rows: int = MAX_ROWS) -> list[tuple[int, list[Any]]]:
    if b"\x00" in data[:4096]:
        raise SpreadsheetError(f"「{name}」不是文本格式的 CSV 文件（可能是改了扩展名的其他文件）。"
                               "请在 Excel 中「另存为」CSV UTF-8 或 .xlsx 后再上传。")
    for enc in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SpreadsheetError(f"无法识别「{name}」的文字编码，请在 Excel 中「另存为」CSV UTF-8 后再上传。")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, start = [], 1
    try:
        for r in reader:
            if start > max_rows:
                raise SpreadsheetError(f"「{name}」超过 {max_rows} 行，请分成几个文件导入。")
            rows.append((start, r))
            start = reader.line_num + 1
    except csv.Error:
        raise SpreadsheetError(f"「{name}」第 {start} 行的格式有误（引号不成对或有异常字符），请检查后再上传。") from None
    return rows


def check_xlsx(data: bytes, *, name: str = "文件", max_unpacked: int = MAX_UNPACKED) -> None:
    """Refuse what is not a complete, ordinary XLSX before any XML parser reads it."""
    not_excel = (f"「{name}」不是有效的 Excel 文件（.xlsx）：内容不是 Excel 格式，可能是改了扩展名的其他文件。"
                 "请用 Excel 或 WPS 打开后「另存为」Excel 工作簿（.xlsx）再上传。")
    damaged = (f"「{name}」不完整或已损坏（可能没有下载或上传完整），读不了。"
               "请用 Excel 或 WPS 打开确认无误后，重新保存再上传。")
    if data.startswith(_OLE_MAGIC):
        raise SpreadsheetError(f"「{name}」是旧版 Excel（.xls）文件或设置了打开密码，读不了。"
                               "请在 Excel 中打开，取消密码后「另存为」Excel 工作簿（.xlsx）再上传。")
    if not data.startswith(_ZIP_MAGIC):
        raise SpreadsheetError(not_excel)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise SpreadsheetError(damaged) from None
    with archive:
        infos = archive.infolist()
        names = {i.filename for i in infos}
        if "[Content_Types].xml" not in names or not any(n.startswith("xl/worksheets/") for n in names):
            raise SpreadsheetError(f"「{name}」是一个压缩包，但里面没有 Excel 工作表（可能是 Word 等其他文件）。"
                                   "请上传 Excel 工作簿（.xlsx）。")
        too_big = (f"「{name}」解压后超过 {max_unpacked // (1024 * 1024)} MB，不像正常的表格文件，"
                   "出于安全原因没有读取。请只保留要导入的那张表，另存为新的 .xlsx 再上传。")
        if len(infos) > MAX_PARTS or sum(i.file_size for i in infos) > max_unpacked:
            raise SpreadsheetError(too_big)
        for info in infos:
            if info.flag_bits & 0x1:
                raise SpreadsheetError(f"「{name}」设置了密码，读不了。请取消密码后重新保存再上传。")
            if info.is_dir():
                continue
            try:
                # zipfile stops at the declared size (checked above) and checks the CRC at the end.
                with archive.open(info) as part:
                    tail = b""
                    while chunk := part.read(_CHUNK):
                        window = tail + chunk
                        if info.filename.endswith((".xml", ".rels", ".vml")) and any(d in window for d in _XML_DECLS):
                            raise SpreadsheetError(
                                f"「{name}」里含有不允许的 XML 声明（DOCTYPE / ENTITY），出于安全原因没有读取。"
                                "正常的 Excel 文件不会这样，请用 Excel 打开后另存为新的 .xlsx 再上传。")
                        tail = window[-32:]
            except SpreadsheetError:
                raise
            except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, ValueError, RuntimeError):
                raise SpreadsheetError(damaged) from None
            except Exception:  # zlib.error and the like: a damaged part
                raise SpreadsheetError(damaged) from None


def read_xlsx(data: bytes, *, name: str = "文件", progress: Progress = _no_progress, max_rows: int = MAX_ROWS,
              max_columns: int = MAX_COLUMNS) -> list[tuple[int, list[Any]]]:
    """(row number, cells) of the first worksheet, trailing empty cells dropped."""
    check_xlsx(data, name=name)
    from openpyxl import load_workbook  # imported late: only XLSX files need it

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 — openpyxl raises many kinds on a damaged workbook
        log.warning("unreadable XLSX upload %r", name, exc_info=True)
        raise SpreadsheetError(f"「{name}」的内部结构有误，读不了（可能是其他软件生成的不规范文件）。"
                               "请用 Excel 或 WPS 打开后「另存为」新的 .xlsx 再上传。") from None
    try:
        if not wb.worksheets:
            raise SpreadsheetError(f"「{name}」里没有工作表。")
        ws = wb.worksheets[0]
        total = min(ws.max_row or 0, max_rows)
        ws.reset_dimensions()  # a wrong <dimension> must neither cut columns off nor add rows
        rows: list[tuple[int, list[Any]]] = []
        cells = ws.iter_rows(min_row=1, max_col=max_columns, values_only=True)
        for i, r in enumerate(progress(cells, total, "读取表格"), 1):
            if i > max_rows:
                raise SpreadsheetError(f"「{name}」的第一张表超过 {max_rows} 行，请分成几个文件导入。")
            row = [int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 1e15 else v for v in r]
            while row and (row[-1] is None or row[-1] == ""):
                row.pop()
            rows.append((i, row))
    except SpreadsheetError:
        raise
    except Exception:  # noqa: BLE001 — a damaged sheet found while reading it
        log.warning("unreadable XLSX sheet in %r", name, exc_info=True)
        raise SpreadsheetError(f"「{name}」的工作表内容有误，读不了。请用 Excel 或 WPS 打开后「另存为」新的 .xlsx 再上传。") from None
    finally:
        wb.close()
    return rows
