"""The chairs pages in a real browser (Debian's Chromium) at desktop and phone widths:
the quarter grid (nothing off-screen; a wide table scrolls in its box with the unit column
fixed), and the dashboard's bars and trend lines actually drawn.

Set UNIONBOT_SCREENSHOTS=/some/dir to keep the screenshots for a look."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from sqlalchemy import update

from bot.db.models.core import Outbox
from bot.operations import OpsContext
from handlers.chairs import ops
from bot.jobs import JobContext
from handlers.chairs.quarters import Quarter
from handlers.chairs.jobs import send_reminders
from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user, make_admin_parent
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing", allow_module_level=True)

from playwright.async_api import async_playwright  # noqa: E402

UNITS = [("王建国", "东湖电子有限公司工会", "东湖社区"), ("李秀英", "东湖社区联合工会", "东湖社区"),
         ("张伟", "西园物流有限公司工会", "西园社区"), ("刘芳", "西园社区联合工会", "西园社区"),
         ("陈明", "南山机械厂工会", "南山社区")]


async def seed(sessionmaker, clock, settings) -> None:  # noqa: ANN001
    async with sessionmaker() as s, s.begin():
        chairs = [await ops.add_chair(s, OpsContext(clock, settings), name=n, organisation=o, community=c,
                                      mobile=f"1380013800{i}")
                  for i, (n, o, c) in enumerate(UNITS)]
        chairs[2].openid, chairs[4].openid = "oChairZhang", "oChairChen"
        for i, q in enumerate((Quarter(2026, 1), Quarter(2026, 2), Quarter(2026, 3), Quarter(2026, 4))):
            for j, chair in enumerate(chairs[:4] if q.q < 4 else chairs[:2]):
                e = 20 + j * 5
                await ops.submit_report(s, OpsContext(clock, settings), chair, q, {
                    "enterprises": e, "unionised": e - 3 + i, "wage_agreements": e - 6 + i, "harmonious": 5 + i + j,
                    "visits": 3, "problems": None, "summary": "工作正常开展。"})
    # the reminder ladder of 2026Q4 ran; one message could not be delivered
    ctx = JobContext(settings=settings, sessionmaker=sessionmaker, clock=clock)
    for day in (16, 22, 24, 28, 30):
        clock.set(datetime(2026, 12, day, 9, 30))
        await send_reminders(ctx)
    async with sessionmaker() as s, s.begin():
        await s.execute(update(Outbox).where(Outbox.key.like("%t+1")).values(
            status="unreachable", last_error="outside the 48 h window; no template configured"))


async def test_grid_and_dashboard_render_at_desktop_and_phone_width(aiohttp_server, settings, sessionmaker, clock,
                                                                     tmp_path) -> None:  # noqa: ANN001
    out = Path(os.environ.get("UNIONBOT_SCREENSHOTS") or tmp_path)
    clock.set(datetime(2026, 1, 5, 10, 0))
    await create_staff_user(sessionmaker)
    await seed(sessionmaker, clock, settings)
    clock.set(datetime(2027, 1, 4, 10, 0))
    server = await aiohttp_server(make_admin_parent(settings, sessionmaker, clock))
    base = f"http://127.0.0.1:{server.port}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, viewport in (("desktop", {"width": 1366, "height": 800}),
                                   ("phone", {"width": 390, "height": 844})):
                ctx = await browser.new_context(viewport=viewport)
                page = await ctx.new_page()
                await page.goto(f"{base}/admin/login")
                await page.get_by_label("用户名").fill(DEFAULT_USER)
                await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
                await page.get_by_role("button", name="登录").click()
                await page.wait_for_url(f"{base}/admin/")

                await page.goto(f"{base}/admin/chairs?quarter=2026Q4")
                await page.get_by_role("heading", name="主席季度报送").wait_for()
                assert await page.get_by_text("后1日 无法送达").first.is_visible()
                assert await page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
                await page.screenshot(path=str(out / f"chairs-grid-{name}.png"), full_page=True)
                if name == "desktop":  # narrower (a small laptop, a tablet): the table scrolls inside its
                    await page.set_viewport_size({"width": 820, "height": 900})  # box, the unit column stays put
                    assert await page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
                    box = page.locator(".chairs-grid")
                    assert await box.evaluate("el => el.scrollWidth > el.clientWidth")
                    unit, status = page.locator("td.cg-unit").first, page.locator('td[data-label="报送"]').first
                    before, status_before = await unit.bounding_box(), await status.bounding_box()
                    await box.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
                    after, status_after = await unit.bounding_box(), await status.bounding_box()
                    assert before and after and abs(before["x"] - after["x"]) < 1
                    assert status_before and status_after and status_after["x"] < status_before["x"] - 20
                    await page.screenshot(path=str(out / "chairs-grid-820-scrolled.png"), full_page=True)
                    await page.set_viewport_size(viewport)

                await page.goto(f"{base}/admin/chairs")  # in January: the new quarter, and the last one's missing
                assert page.url.endswith("quarter=2027Q1")
                await page.get_by_text("2026年第四季度还有").wait_for()
                await page.get_by_role("link", name="查看未报送名单").click()
                assert "quarter=2026Q4" in page.url and "status=missing" in page.url
                await page.get_by_role("link", name="南山机械厂工会").click()
                await page.get_by_role("heading", name="陈明").wait_for()
                assert await page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
                await page.screenshot(path=str(out / f"chairs-detail-{name}.png"), full_page=True)
                await page.get_by_role("link", name="返回报送情况").click()  # back to the same filtered list
                assert "quarter=2026Q4" in page.url and "status=missing" in page.url
                await page.goto(f"{base}/admin/chairs/registry")
                assert await page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
                await page.screenshot(path=str(out / f"chairs-registry-{name}.png"), full_page=True)

                await page.goto(f"{base}/admin/chairs/dashboard?quarter=2026Q4")
                await page.get_by_role("heading", name="三项考核指标看板").wait_for()
                # every trend chart draws a line through the quarters that have data
                lines = page.locator("svg polyline")
                assert await lines.count() == 3
                for i in range(3):
                    box = await lines.nth(i).bounding_box()
                    assert box is not None and box["width"] > 100
                # bars are filled in proportion (overall 建会率 is above 80 %)
                fill = await page.locator(".kpi-fill").first.bounding_box()
                track = await page.locator(".kpi-track").first.bounding_box()
                assert fill and track and 0.8 < fill["width"] / track["width"] <= 1.0
                # nothing is wider than the screen
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0
                await page.screenshot(path=str(out / f"chairs-dashboard-{name}.png"), full_page=True)
                await ctx.close()
        finally:
            await browser.close()
