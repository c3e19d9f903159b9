"""The chairs pages as staff use them (issue 14), over HTTP through the whole app: quarter views
open on the quarter being reported and point at the previous quarter's missing reports; the
dashboard shows every community; the 通报 export lists only units past the deadline; 登记已收到
asks first, says what it did and can be undone (更正, audited), one by one or in bulk; lists
page, sort and search, and 返回 keeps them; the mobile reveal is PRG with a tel: link; no
technical names or 2026Q4 in what staff read."""
from __future__ import annotations

import io
import re
from datetime import datetime
from html import unescape
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from yarl import URL

from bot.clock import FakeClock
from bot.db.models.chairs import Chair, ChairReport
from bot.db.models.core import AuditLog, Outbox
from bot.operations import OpsContext
from handlers.chairs import ops
from handlers.chairs.jobs import send_reminders
from handlers.chairs.quarters import Quarter
from scheduler.setup import job_context
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, csrf_from, log_in_staff, login
from tests.support.chairs import Q4
from tests.support.settings import make_settings

COMMUNITIES = ["东湖社区", "西园社区", "南山社区"]


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": COMMUNITIES}, admin={"page_size": 5})


async def add(db, clock, settings, name: str, org: str, community: str = "东湖社区", n: int = 1,  # noqa: ANN001
              openid: str | None = None) -> Chair:
    async with db() as s, s.begin():
        chair = await ops.add_chair(s, OpsContext(clock, settings), name=name, organisation=org, community=community,
                                    mobile=f"138{n:08d}")
        chair.openid = openid
    return chair


async def report(db, clock, settings, chair: Chair, quarter: Quarter = Q4) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        await ops.submit_report(s, OpsContext(clock, settings), chair, quarter, {
            "enterprises": 20, "unionised": 19, "wage_agreements": 18, "harmonious": 9, "visits": 2,
            "problems": None, "summary": "工作正常开展。"})


async def audit_rows(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def same(url: URL, address: str) -> bool:
    """The page `url` is the address `address` (path and query, however encoded)."""
    want = URL(address)
    return url.path == want.path and sorted(url.query.items()) == sorted(want.query.items())


def flashes(page: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", m)).strip()
            for m in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', page, re.S)]


def forms_to(page: str, action: str) -> list[str]:
    """The opening tags of the forms posting to `action`."""
    return [m for m in re.findall(r"<form\b[^>]*>", page, re.S) if f'action="{action}"' in m]


def visible(page: str) -> str:
    """What staff read: text and the attributes a browser shows (titles, confirmations,
    placeholders) — without the collapsed 「给技术人员」 notes, styles and scripts."""
    page = re.sub(r'<details class="tech">.*?</details>', "", page, flags=re.S)
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    shown = re.findall(r'(?:title|aria-label|data-confirm|placeholder)="([^"]*)"', page)
    return unescape(re.sub(r"<[^>]+>", " ", page) + " " + " ".join(shown))


# ---- the quarter a page opens on -----------------------------------------------------------------

@pytest.mark.parametrize(("when", "deadline_day", "want"), [
    (datetime(2026, 7, 1, 0, 0), 25, Quarter(2026, 3)),     # a new quarter: the last one's ladder ended 30 June
    (datetime(2026, 9, 24, 12, 0), 25, Quarter(2026, 3)),   # the deadline day (moved back off Mid-autumn)
    (datetime(2026, 9, 30, 23, 0), 25, Quarter(2026, 3)),   # t+3, its 通报 list: still this quarter
    (datetime(2026, 10, 1, 0, 0), 25, Quarter(2026, 4)),    # National Day: the fourth quarter is reported now
    (datetime(2026, 12, 5, 10, 0), 25, Quarter(2026, 4)),   # the day: not the third quarter
    (datetime(2026, 12, 25, 23, 59), 25, Quarter(2026, 4)),  # the deadline day
    (datetime(2027, 1, 1, 0, 0), 25, Quarter(2027, 1)),
    # a deadline at the quarter's end: its late reminders and 通报 run into the next quarter
    (datetime(2026, 10, 8, 9, 0), 31, Quarter(2026, 3)),    # t+1 after the holiday
    (datetime(2026, 10, 10, 22, 0), 31, Quarter(2026, 3)),  # t+3 (the make-up Saturday): the 通报 day
    (datetime(2026, 10, 11, 0, 0), 31, Quarter(2026, 4)),
])
def test_default_quarter_is_the_one_being_reported(when, deadline_day, want, tmp_path) -> None:  # noqa: ANN001
    clock = FakeClock()
    clock.set(when)
    s = make_settings("sqlite+aiosqlite:///:memory:", tmp_path, chairs={"deadline_day": deadline_day})
    assert ops.default_quarter(OpsContext(clock, s)) == want


async def test_quarter_views_open_on_the_current_quarter_and_point_at_the_last_ones_gaps(
        make_app, aiohttp_client, client, db, clock, settings, db_url, tmp_path) -> None:  # noqa: ANN001
    clock.set(datetime(2026, 6, 1, 10, 0))  # registered in time for the second half of the year
    a = await add(db, clock, settings, "王建国", "东湖电子厂工会", n=1)
    b = await add(db, clock, settings, "李秀英", "东湖物流工会", n=2)
    for q in (Quarter(2026, 3), Q4):
        await report(db, clock, settings, a, q)
    await log_in_staff(client, db)
    for when, want in ((datetime(2026, 12, 5, 10, 0), "2026Q4"), (datetime(2026, 12, 25, 18, 0), "2026Q4"),
                       (datetime(2026, 10, 1, 8, 0), "2026Q4"), (datetime(2027, 1, 4, 10, 0), "2027Q1")):
        clock.set(when)
        for path in ("/admin/chairs", "/admin/chairs/dashboard", "/admin/chairs/export.xlsx",
                     "/admin/chairs?community=东湖社区&page=3"):
            resp = await client.get(path, allow_redirects=False)
            assert resp.status == 302, (when, path)
            assert f"quarter={want}" in resp.headers["Location"] and "page=" not in resp.headers["Location"]
        # the chair's page offers 登记已收到 for the same quarter first
        page = await (await client.get(f"/admin/chairs/{b.id}")).text()
        first = page.split(f'action="/admin/chairs/{b.id}/received"', 1)[1]
        assert re.search(r'name="quarter" value="(\w+)"', first).group(1) == want

    # 5 December: the fourth quarter (李秀英 hasn't reported yet, the deadline is ahead), and the
    # third quarter's gap (李秀英) is announced with a link
    clock.set(datetime(2026, 12, 5, 10, 0))
    page = await (await client.get("/admin/chairs")).text()
    assert "2026年第四季度" in page and "待报送（未到截止日）" in page and "未报送（已过截止日）" not in page
    assert "2026年第三季度还有 <strong>1</strong> 家单位未报送" in page
    link = unescape(re.search(r'href="([^"]+)">查看未报送名单', page).group(1))
    assert "quarter=2026Q3" in link and "status=missing" in link
    listed = await (await client.get(link)).text()
    assert "东湖物流工会" in listed and "东湖电子厂工会" not in listed
    dash = await (await client.get("/admin/chairs/dashboard")).text()
    assert "2026年第三季度还有 <strong>1</strong> 家单位未报送" in dash and "正在报送" in dash
    # another quarter than the one being reported: a way back, no banner about its predecessor
    page = await (await client.get("/admin/chairs?quarter=2026Q3")).text()
    assert "回到正在报送的2026年第四季度" in page and "还有 <strong>" not in page
    # a quarter that isn't one: said so, and the current one shown
    resp = await client.get("/admin/chairs?quarter=9999Q4")
    assert resp.status == 200 and resp.url.query["quarter"] == "2026Q4"
    assert any("季度「9999Q4」不对" in f for f in flashes(await resp.text()))

    # a deadline at the quarter's very end: on 8 October the third quarter is still being chased
    other = make_app(make_settings(db_url, tmp_path, chairs={"deadline_day": 31}))
    late_client = await aiohttp_client(other)
    await login(late_client)
    clock.set(datetime(2026, 10, 8, 10, 0))
    resp = await late_client.get("/admin/chairs", allow_redirects=False)
    assert resp.headers["Location"].endswith("quarter=2026Q3")


# ---- the dashboard -----------------------------------------------------------------------------

async def test_dashboard_shows_every_community_with_no_data_ones_marked(client, db, clock,  # noqa: ANN001
                                                                         settings) -> None:
    a = await add(db, clock, settings, "王建国", "东湖电子厂工会", "东湖社区", 1)
    await add(db, clock, settings, "张伟", "西园机械厂工会", "西园社区", 2)  # never reported
    await add(db, clock, settings, "陈明", "北岸建材厂工会", "北岸社区", 3)  # a community not in the config
    await report(db, clock, settings, a)
    await log_in_staff(client, db)
    page = await (await client.get("/admin/chairs/dashboard?quarter=2026Q4")).text()
    cards = dict(re.findall(r"<h3>(\S+社区) <small>(.*?)</small>", page))
    assert cards == {"东湖社区": "1 / 1 家单位有数据", "西园社区": "0 / 1 家单位有数据",
                     "南山社区": "0 / 0 家单位有数据", "北岸社区": "0 / 1 家单位有数据"}
    assert page.count(">无数据<") == 3
    assert "这个社区还没有登记主席" in page and "全街道 <small>1 家单位有数据，共 3 家" in page
    assert "95.0%" in page  # 东湖: 19 / 20


# ---- the 通报 export ---------------------------------------------------------------------------

async def test_notice_export_lists_only_units_past_their_deadline(client, db, clock, settings) -> None:  # noqa: ANN001
    a = await add(db, clock, settings, "王建国", "东湖电子厂工会", n=1)
    await add(db, clock, settings, "李秀英", "东湖物流工会", n=2)
    await report(db, clock, settings, a)
    await log_in_staff(client, db)

    clock.set(datetime(2026, 12, 24, 16, 0))  # the day before the deadline (Friday 25 December)
    page = await (await client.get("/admin/chairs?quarter=2026Q4")).text()
    assert "导出 Excel" not in page and "12月25日（周五）截止后可以导出" in page
    resp = await client.get("/admin/chairs/export.xlsx?quarter=2026Q4")
    assert resp.status == 200 and resp.content_type == "text/html" and resp.url.path == "/admin/chairs"
    assert any("截止日过后才有未报送名单" in f for f in flashes(await resp.text()))
    assert await audit_rows(db, "chairs.export") == []

    clock.set(datetime(2026, 12, 26, 10, 0))  # past it; a unit registered today was never asked
    await add(db, clock, settings, "赵新", "东湖新建工会", n=3)
    page = await (await client.get("/admin/chairs?quarter=2026Q4")).text()
    assert "导出 Excel" in page
    resp = await client.get("/admin/chairs/export.xlsx?quarter=2026Q4")
    assert resp.status == 200
    book = load_workbook(io.BytesIO(await resp.read()))
    ws = book.active
    assert ws.title == "2026年第四季度未报送"
    rows = [[cell.value for cell in r] for r in ws.iter_rows()]
    assert [r[2] for r in rows[1:]] == ["东湖物流工会"]
    assert rows[1][0] == "2026年第四季度" and rows[1][5] == "未报送"
    assert quote("未报送名单-2026年第四季度.xlsx") in resp.headers["Content-Disposition"]
    [row] = await audit_rows(db, "chairs.export")
    assert row.detail["rows"] == 1
    # the unit registered after the deadline is not 未报送 in the grid either
    page = await (await client.get("/admin/chairs?quarter=2026Q4&status=missing")).text()
    assert "东湖物流工会" in page and "东湖新建工会" not in page


# ---- 登记已收到 and 更正 -------------------------------------------------------------------------

async def test_receipt_asks_first_says_what_it_did_and_can_be_corrected(app, client, db, clock,  # noqa: ANN001
                                                                         settings) -> None:
    a = await add(db, clock, settings, "王建国", "东湖电子厂工会", n=1, openid="oChairA")
    b = await add(db, clock, settings, "李秀英", "东湖物流工会", n=2, openid="oChairB")
    await add(db, clock, settings, "张伟", "西园机械厂工会", "西园社区", n=3)
    await report(db, clock, settings, a)
    await log_in_staff(client, db)
    clock.set(datetime(2026, 12, 20, 10, 0))
    back = "/admin/chairs?quarter=2026Q4&community=%E4%B8%9C%E6%B9%96%E7%A4%BE%E5%8C%BA"
    page = await (await client.get(back)).text()
    [form] = forms_to(page, f"/admin/chairs/{b.id}/received")
    assert 'data-confirm="登记已收到东湖物流工会（李秀英）2026年第四季度的报送' in form
    token = csrf_from(page)

    resp = await client.post(f"/admin/chairs/{b.id}/received", data={"_csrf": token, "quarter": "2026Q4",
                                                                      "back": back, "note": "纸质材料"})
    assert resp.status == 200 and same(resp.url, back)  # back to the same filtered list
    page = await resp.text()
    assert "已登记收到东湖物流工会（李秀英）2026年第四季度的报送。" in " ".join(flashes(page))
    [undo] = forms_to(page, f"/admin/chairs/{b.id}/received/undo")
    assert 'data-confirm="更正：撤销东湖物流工会（李秀英）2026年第四季度的「已收到」登记' in undo
    async with db() as s:
        rep = await ops.report_for(s, b.id, Q4)
    assert rep.channel == "other" and rep.on_time and rep.note == "纸质材料"

    resp = await client.post(f"/admin/chairs/{b.id}/received/undo", data={"_csrf": token, "quarter": "2026Q4",
                                                                           "back": back})
    page = await resp.text()
    assert same(resp.url, back)
    assert "已更正：撤销了东湖物流工会2026年第四季度的「已收到」登记，该单位恢复为未报送。" in " ".join(flashes(page))
    async with db() as s:
        assert await ops.report_for(s, b.id, Q4) is None
        told = list(await s.scalars(select(Outbox).where(Outbox.openid == "oChairB")))
    assert told == []  # the receipt told the chair nothing, so neither does its correction
    [received] = await audit_rows(db, "chairs.received")
    [undone] = await audit_rows(db, "chairs.received_undo")
    assert received.target == undone.target == f"chair:{b.id}" and undone.detail["quarter"] == "2026Q4"
    assert not undone.refused and undone.staff_id == received.staff_id

    # the unit is chased again: the day-before reminder goes out
    clock.set(datetime(2026, 12, 24, 9, 30))
    await send_reminders(job_context(app))
    async with db() as s:
        keys = set(await s.scalars(select(Outbox.key).where(Outbox.openid == "oChairB")))
    assert keys == {f"chairs:2026Q4:chair{b.id}:t-1"}

    # a report the chair filed on WeChat is not staff's to undo
    resp = await client.post(f"/admin/chairs/{a.id}/received/undo", data={"_csrf": token, "quarter": "2026Q4",
                                                                           "back": back})
    assert "是王建国主席在微信上填报的，不能在这里撤销" in " ".join(flashes(await resp.text()))
    async with db() as s:
        assert await ops.report_for(s, a.id, Q4) is not None
    assert [r.refused for r in await audit_rows(db, "chairs.received_undo")] == [False, True]

    # on the chair's page: each recent quarter with its own confirmation
    page = await (await client.get(f"/admin/chairs/{b.id}")).text()
    confirms = [re.search(r'data-confirm="([^"]+)"', f).group(1)
                for f in forms_to(page, f"/admin/chairs/{b.id}/received")]
    assert confirms[0].startswith("登记已收到东湖物流工会（李秀英）2026年第四季度的报送")
    assert confirms[1].startswith("登记已收到东湖物流工会（李秀英）2026年第三季度的报送")


async def test_bulk_receipt_on_the_grid(client, db, clock, settings) -> None:  # noqa: ANN001
    a = await add(db, clock, settings, "王建国", "东湖电子厂工会", n=1)
    b = await add(db, clock, settings, "李秀英", "东湖物流工会", n=2)
    c = await add(db, clock, settings, "张伟", "西园机械厂工会", "西园社区", n=3)
    await log_in_staff(client, db)
    clock.set(datetime(2026, 12, 28, 10, 0))
    grid = "/admin/chairs?quarter=2026Q4"
    page = await (await client.get(grid)).text()
    button = re.search(r'<button[^>]*value="received"[^>]*>', page).group(0)
    assert 'data-confirm="将所选 {n} 家单位登记为已收到2026年第四季度的报送' in button
    token = csrf_from(page)
    resp = await client.post("/admin/chairs/bulk", data=[("_csrf", token), ("action", "received"), ("ids", str(a.id)),
                                                         ("ids", str(b.id)), ("back", grid)])
    assert same(resp.url, grid)
    assert "批量登记已收到：已处理 2 条（东湖电子厂工会、东湖物流工会）" in flashes(await resp.text())
    async with db() as s:
        reps = {r.chair_id: r for r in await s.scalars(select(ChairReport))}
    assert set(reps) == {a.id, b.id} and all(r.channel == "other" and not r.on_time for r in reps.values())
    rows = await audit_rows(db, "chairs.received")
    assert sorted(r.target for r in rows) == sorted([f"chair:{a.id}", f"chair:{b.id}"])
    assert all(r.detail == {"quarter": "2026Q4", "bulk": True} for r in rows)

    resp = await client.post("/admin/chairs/bulk", data=[("_csrf", token), ("action", "received"), ("ids", str(a.id)),
                                                         ("ids", str(c.id)), ("back", grid)])
    shown = " ".join(flashes(await resp.text()))
    assert "已处理 1 条（西园机械厂工会）" in shown and "1 条未处理：王建国的2026年第四季度报送已经收到" in shown

    # a community account: another community's unit is as good as missing
    client.session.cookie_jar.clear()
    d = await add(db, clock, settings, "刘芳", "西园物流工会", "西园社区", n=4)
    await create_staff_user(db, "donghu", roles=("chairs",), community="东湖社区")
    await login(client, "donghu", DEFAULT_PASSWORD)
    token = await csrf_at(client, grid)
    resp = await client.post("/admin/chairs/bulk", data=[("_csrf", token), ("action", "received"), ("ids", str(d.id)),
                                                         ("back", grid)])
    assert "1 条未处理：没有这位主席。" in flashes(await resp.text())
    async with db() as s:
        assert await ops.report_for(s, d.id, Q4) is None


# ---- lists: pages, sorting, search, 返回 ----------------------------------------------------------

async def test_grid_and_registry_page_sort_search_and_back_keeps_them(client, db, clock,  # noqa: ANN001
                                                                       settings) -> None:
    for i in range(12):
        await add(db, clock, settings, f"主席{'甲乙丙丁戊己庚辛壬癸子丑'[i]}", f"第{i + 10}工会", n=i + 1)
    await log_in_staff(client, db)
    clock.set(datetime(2026, 12, 28, 10, 0))
    first = await (await client.get("/admin/chairs?quarter=2026Q4")).text()
    assert "共 12 家单位" in first and "第 1 / 3 页" in first and first.count('name="ids"') == 5
    page2_url = "/admin/chairs?quarter=2026Q4&page=2"
    page2 = await (await client.get(page2_url)).text()
    units = re.findall(r'<a href="/admin/chairs/\d+\?[^"]*">(第\d+工会)</a>', page2)
    assert units == ["第15工会", "第16工会", "第17工会", "第18工会", "第19工会"]
    desc = await (await client.get("/admin/chairs?quarter=2026Q4&sort=-organisation")).text()
    assert re.findall(r'<a href="/admin/chairs/\d+\?[^"]*">(第\d+工会)</a>', desc)[:2] == ["第21工会", "第20工会"]
    found = await (await client.get("/admin/chairs?quarter=2026Q4&q=第17")).text()
    assert "共 1 家单位" in found and "第17工会" in found

    # a unit opened from page 2: its 返回 goes back to page 2 of the same list
    href = unescape(re.search(r'<a href="(/admin/chairs/\d+\?[^"]*)">第16工会</a>', page2).group(1))
    detail = await (await client.get(href)).text()
    back = unescape(re.search(r'<a class="btn" href="([^"]+)">返回报送情况</a>', detail).group(1))
    assert back == page2_url
    # …also after an action on the chair's page
    token = csrf_from(detail)
    here = href
    resp = await client.post(href.split("?")[0] + "/code", data={"_csrf": token, "return": here})
    assert same(resp.url, here) and "返回报送情况" in await resp.text()

    reg = await (await client.get("/admin/chairs/registry?page=2&sort=name")).text()
    href = unescape(re.search(r'<a href="(/admin/chairs/\d+\?back=[^"]*)">', reg).group(1))
    detail = await (await client.get(href)).text()
    back = unescape(re.search(r'<a class="btn" href="([^"]+)">返回名册</a>', detail).group(1))
    assert back == "/admin/chairs/registry?page=2&sort=name"
    # an address from elsewhere is not followed
    detail = await (await client.get(href.split("?")[0] + "?back=https://example.com/")).text()
    back = unescape(re.search(r'<a class="btn" href="([^"]+)">返回报送情况</a>', detail).group(1))
    assert back.startswith("/admin/chairs?quarter=")


# ---- the mobile reveal ---------------------------------------------------------------------------

async def test_reveal_is_post_redirect_get_with_a_tel_link(client, db, clock, settings) -> None:  # noqa: ANN001
    chair = await add(db, clock, settings, "王建国", "东湖电子厂工会", n=13800138)
    await log_in_staff(client, db)
    here = f"/admin/chairs/{chair.id}?quarter=2026Q4&back=%2Fadmin%2Fchairs%3Fquarter%3D2026Q4"
    page = await (await client.get(here)).text()
    assert "13813800138" not in page and "tel:" not in page
    resp = await client.post(f"/admin/chairs/{chair.id}/reveal", data={"_csrf": csrf_from(page), "return": here},
                             allow_redirects=False)
    assert resp.status == 303 and same(URL(resp.headers["Location"]), here)
    for _ in range(2):  # the page after the redirect, and a refresh of it: shown, audited once
        page = await (await client.get(here)).text()
        assert '<a class="tel" href="tel:13813800138">13813800138</a>' in page
    assert len(await audit_rows(db, "chairs.reveal_mobile")) == 1
    clock.advance(minutes=31)
    page = await (await client.get(here)).text()
    assert "13813800138" not in page and "138****0138" in page


# ---- what staff read -----------------------------------------------------------------------------

async def test_no_technical_names_or_quarter_codes_and_years_on_other_years_dates(client, db, clock,  # noqa: ANN001
                                                                                 settings) -> None:
    a = await add(db, clock, settings, "王建国", "东湖电子厂工会", n=1)
    await add(db, clock, settings, "李秀英", "东湖物流工会", n=2)
    await report(db, clock, settings, a)
    await log_in_staff(client, db)
    clock.set(datetime(2026, 12, 28, 10, 0))
    pages = {}
    for path in ("/admin/chairs?quarter=2026Q4", "/admin/chairs/dashboard?quarter=2026Q4", "/admin/chairs/registry",
                 f"/admin/chairs/{a.id}", "/admin/chairs?quarter=2025Q4", "/admin/chairs?quarter=2031Q1"):
        resp = await client.get(path)
        assert resp.status == 200, path
        pages[path] = html = await resp.text()
        text = visible(html)
        for word in ("openid", "staff_openids", "chinese-calendar", "unionbot", "chairs."):
            assert word not in text, (path, word)
        assert not re.search(r"\d{4}\s*Q[1-4]", text), (path, re.search(r".{20}\d{4}\s*Q[1-4].{20}", text))
    grid = pages["/admin/chairs?quarter=2026Q4"]
    assert "给技术人员" in grid and "staff_openids" in grid  # the hint is there, folded away
    assert "报送截止 12月25日（周五）" in visible(grid)  # this year's: no year
    assert "报送截止 2025年12月25日（周四）" in visible(pages["/admin/chairs?quarter=2025Q4"])
    assert "2031年的法定节假日" in visible(pages["/admin/chairs?quarter=2031Q1"])
    # a report from another year shows its year
    clock.set(datetime(2027, 1, 5, 10, 0))
    page = await (await client.get(f"/admin/chairs/{a.id}")).text()
    assert "2026年11月24日 10:00" in visible(page)


