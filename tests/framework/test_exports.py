"""Exports staff can forward without editing: Chinese sheet names, fitted column widths,
numbers as numbers, dates as real date cells in local time, a bold frozen header, no caching;
CSV with a BOM for Excel. The writer itself, then real downloads opened with openpyxl."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from bot.spreadsheet import DATE_FORMAT, DATETIME_FORMAT, display_width, sheet_from_filename, to_csv, to_xlsx
from tests.support.admin import log_in_staff
from tests.support.quiz import add_bank, add_period
from tests.support.signup import make_activity, signup_via_chat

TZ = ZoneInfo("Asia/Shanghai")


def _open(data: bytes):  # noqa: ANN202
    return load_workbook(io.BytesIO(data)).active


def _width(ws, col: str) -> float:  # noqa: ANN001
    return ws.column_dimensions[col].width


def test_sheet_header_widths_numbers_and_dates() -> None:
    header = ["姓名", "提交时间", "发放日期", "金额(元)", "备注"]
    rows = [["张三", datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc), date(2026, 12, 5), 1500, "=HYPERLINK()"],
            ["欧阳娜娜", "2026-11-24 10:00", "2026-12-01", 99.5, "x" * 200]]
    ws = _open(to_xlsx(header, rows, "帮扶申请", tz=TZ))
    assert ws.title == "帮扶申请"
    assert ws.freeze_panes == "A2" and all(c.font.b for c in ws[1])
    assert ws.auto_filter.ref == "A1:E3"
    # An aware time is written as the local wall-clock time, as a real date cell with a Chinese format.
    submitted = ws["B2"]
    assert submitted.is_date and submitted.value == datetime(2027, 1, 1, 0, 30) and submitted.number_format == DATETIME_FORMAT
    assert ws["C2"].is_date and ws["C2"].number_format == DATE_FORMAT
    # Text as the lists print times becomes a date cell too.
    assert ws["B3"].is_date and ws["B3"].value == datetime(2026, 11, 24, 10, 0)
    assert ws["C3"].is_date and ws["C3"].value == datetime(2026, 12, 1)
    assert ws["D2"].value == 1500 and ws["D3"].value == 99.5 and ws["D2"].data_type == "n"
    assert ws["E2"].value == "'=HYPERLINK()"  # a formula someone typed is never run
    # Widths fit the content: 欧阳娜娜 is 8 columns wide (CJK counts double); long text is capped.
    assert _width(ws, "A") >= display_width("欧阳娜娜") and _width(ws, "A") < 14
    assert _width(ws, "B") >= display_width("2026年11月24日 10:00")
    assert _width(ws, "E") == 60


def test_sheet_names_are_never_sheet1() -> None:
    assert _open(to_xlsx(["a"], [[1]])).title == "数据"
    assert _open(to_xlsx(["a"], [[1]], "2026/Q4:未报送?")).title == "2026-Q4-未报送-"
    assert len(_open(to_xlsx(["a"], [[1]], "很" * 40)).title) == 31
    assert sheet_from_filename("电工技能培训-报名名单") == "电工技能培训-报名名单"
    assert sheet_from_filename("活动列表-20261124") == "活动列表"
    assert sheet_from_filename("非常非常非常非常非常非常非常非常非常非常非常非常长的活动名称-报名名单") == "报名名单"


def test_csv_has_a_bom_and_local_times() -> None:
    data = to_csv(["时间", "名称"], [[datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc), "+1"]], tz=TZ)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines() == ["时间,名称", "2027-01-01 00:30,'+1"]


async def test_quiz_year_export(client, sim, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", ids[:2])
    u = sim.user("oExport")
    await u.send("答题")
    await u.send("B")
    await u.send("ABCD")
    await log_in_staff(client, db)
    resp = await client.get("/admin/quiz/scores/export.xlsx?year=2026")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert "filename*=UTF-8''2026" in resp.headers["Content-Disposition"]
    ws = _open(await resp.read())
    assert ws.title == "2026年答题成绩"
    header = [c.value for c in ws[1]]
    assert header[2].startswith("年终考核得分") and header[-1] == "2026年11月"
    row = [c.value for c in ws[2]]
    assert row[2] == 100 and isinstance(row[2], (int, float))  # the year-end score, a number
    assert row[-1] == 100.0
    assert all(c.font.b for c in ws[1]) and ws.freeze_panes == "A2"
    assert _width(ws, "C") >= display_width(header[2])
    resp = await client.get("/admin/quiz/scores/export.csv?year=2026")
    body = await resp.read()
    assert resp.headers["Cache-Control"] == "no-store" and body.startswith(b"\xef\xbb\xbf")
    assert "2026年11月" in body.decode("utf-8-sig").splitlines()[0]


async def test_signup_exports_have_date_cells_and_chinese_sheets(client, sim, db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock)
    await signup_via_chat(sim.user("oW1"), "王一", "13800000001")
    await log_in_staff(client, db)
    resp = await client.get(f"/admin/signup/{act.id}/export.xlsx")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    ws = _open(await resp.read())
    assert ws.title == "报名名单"  # a Chinese sheet name, not «Sheet1»
    header = [c.value for c in ws[1]]
    signed = ws.cell(row=2, column=header.index("报名时间") + 1)
    assert signed.is_date and signed.value == clock.now().astimezone(TZ).replace(tzinfo=None, second=0,
                                                                                  microsecond=0)
    # The declarative list's export (bot/admin/lists.py) too.
    resp = await client.get("/admin/signup/export.xlsx")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    ws = _open(await resp.read())
    assert ws.title == "活动"
    header = [c.value for c in ws[1]]
    when = ws.cell(row=2, column=header.index("时间") + 1)
    assert when.is_date and when.value == datetime(2026, 11, 26, 14, 0)
    assert _width(ws, "B") >= display_width("电工技能培训")
