"""A real browser (Debian's Chromium through Playwright) logs in to the staff site."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.db.models.core import Member, Outbox
from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user, make_admin_parent
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing (run .ci/install-browser.sh); in CI this test always runs",
                allow_module_level=True)

from playwright.async_api import async_playwright  # noqa: E402  (never `playwright install`: we use Debian's Chromium)


async def seed_follow_up(sessionmaker, clock) -> None:
    now = clock.now()
    async with sessionmaker() as db, db.begin():
        db.add(Member(openid="o1", first_seen=now, last_seen=now, name="李建国", phone="13812345678"))
        db.add(Outbox(key="k1", openid="o1", purpose="hardship.status", status="unreachable",
                      next_attempt_at=now, created_at=now))
        db.add(Outbox(key="k2", openid="o1", purpose="chairs.reminder", status="failed",
                      next_attempt_at=now, created_at=now))


async def test_staff_logs_in_with_a_real_browser(aiohttp_server, settings, sessionmaker, clock, tmp_path):
    await create_staff_user(sessionmaker, display_name="张干事")
    await seed_follow_up(sessionmaker, clock)
    server = await aiohttp_server(make_admin_parent(settings, sessionmaker, clock))
    base = f"http://127.0.0.1:{server.port}"

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            phone = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                              is_mobile=True, has_touch=True)
            page = await phone.new_page()
            await page.goto(f"{base}/admin/")
            assert page.url.startswith(f"{base}/admin/login")
            await page.get_by_role("heading").filter(has_text="管理后台登录").wait_for()
            await page.screenshot(path=str(tmp_path / "login-phone.png"), full_page=True)

            await page.get_by_label("用户名").fill(DEFAULT_USER)
            await page.get_by_label("密码").fill("wrong-password")
            await page.get_by_role("button", name="登录").click()
            await page.get_by_text("用户名或密码不正确").wait_for()

            await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url(f"{base}/admin/")
            await page.get_by_role("heading", name="工作台").wait_for()
            assert await page.get_by_text("张干事").is_visible()
            assert await page.get_by_text("李建国").first.is_visible()
            await page.screenshot(path=str(tmp_path / "home-phone.png"), full_page=True)

            desktop = await browser.new_context(viewport={"width": 1280, "height": 800},
                                                storage_state=await phone.storage_state())
            wide = await desktop.new_page()
            await wide.goto(f"{base}/admin/")
            await wide.get_by_role("heading", name="工作台").wait_for()
            await wide.screenshot(path=str(tmp_path / "home-desktop.png"), full_page=True)

            await page.get_by_role("button", name="退出").click()
            await page.get_by_text("您已安全退出").wait_for()
            assert "/admin/login" in page.url
        finally:
            await browser.close()
