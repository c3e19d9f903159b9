"""A real browser (Debian's Chromium through Playwright): staff edit the menu, the welcome and an
FAQ entry on a phone (390 px) and on a desktop (1366 px); nothing sticks out sideways.

UNIONBOT_SCREENSHOT_DIR=/some/dir keeps every page shot for a look.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.models.inbox import FaqEntry, SiteText
from bot.wechat.simulator import WeChatSim
from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing (run .ci/install-browser.sh)", allow_module_level=True)

from playwright.async_api import async_playwright  # noqa: E402

PAGES = ("/admin/account/menu", "/admin/account/texts", "/admin/faq", "/admin/faq/new", "/admin/faq/try?q=老板拖欠工资怎么办")


async def test_staff_edit_menu_texts_and_faq_in_a_browser(aiohttp_server, aiohttp_client, app, db, clock, settings,
                                                          tmp_path) -> None:  # noqa: ANN001
    server = await aiohttp_server(app)
    sim = WeChatSim(await aiohttp_client(server), path=settings.server.webhook_path, token=settings.wechat.token,
                    clock=clock)
    base = f"http://127.0.0.1:{server.port}"
    await create_staff_user(db, display_name="张干事")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            phone = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                              is_mobile=True, has_touch=True, locale="zh-CN")
            page = await phone.new_page()
            await page.goto(f"{base}/admin/account/menu")
            await page.get_by_label("用户名").fill(DEFAULT_USER)
            await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.get_by_role("heading", name="公众号设置").wait_for()

            # the menu: the first top button becomes a web link; only the link box shows
            first = page.locator("fieldset.mn-top").first
            await first.get_by_label("按钮名称").first.fill("政策")
            await first.get_by_label("类型").first.select_option("view")
            link = first.get_by_label("网页链接").first
            assert await link.is_visible() and not await first.get_by_label("功能").first.is_visible()
            assert not await first.locator(".mn-subs").is_visible()
            await link.fill("https://www.acftu.org/")
            await page.screenshot(path=str(tmp_path / "phone-menu-edit.png"), full_page=True)
            await page.get_by_role("button", name="保存并发布").click()
            await page.get_by_text("离线模式，没有真的发布").wait_for()
            assert await page.locator("pre.mn-json").is_visible()
            async with db() as s:
                stored = (await s.get(SiteText, "menu")).value
            assert stored[0] == {"type": "view", "name": "政策", "url": "https://www.acftu.org/"}

            # the welcome: preview, then save; a new follower reads it
            await page.get_by_role("link", name="欢迎语和帮助").click()
            await page.get_by_label("关注欢迎语").fill("欢迎来到职工之家！")
            await page.get_by_role("button", name="预览").click()
            await page.get_by_text("这是预览，还没有保存").wait_for()
            assert "欢迎来到职工之家！" in await page.locator("#preview-welcome").inner_text()
            await page.get_by_role("button", name="保存", exact=True).click()
            await page.get_by_text("已保存，职工马上就能看到新的内容").wait_for()
            assert (await sim.user("oB1").follow()).startswith("欢迎来到职工之家！")

            # an FAQ entry, then 试一试
            await page.goto(f"{base}/admin/faq/new")
            await page.get_by_label("关键词", exact=True).fill("会员卡、工会卡")
            await page.get_by_label("回答", exact=True).fill("会员卡到所在社区工会领取，带上身份证。")
            await page.get_by_role("button", name="保存").click()
            await page.get_by_text("已添加这条常见问题").wait_for()
            await page.get_by_label("试一试：输入一句职工可能发来的话").fill("会员卡在哪里领？")
            await page.get_by_role("button", name="看看谁来回答").click()
            await page.get_by_text("会由这条常见问题回答").wait_for()
            async with db() as s:
                assert await s.scalar(select(FaqEntry).where(FaqEntry.answer.like("会员卡到%"))) is not None

            for width, ctx in ((390, phone), (1366, None)):
                if ctx is None:
                    ctx = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN",
                                                    storage_state=await phone.storage_state())
                view = await ctx.new_page()
                for path in PAGES:
                    await view.goto(base + path)
                    name = path.strip("/").replace("/", "-").split("?")[0]
                    await view.screenshot(path=str(tmp_path / f"{width}-{name}.png"), full_page=True)
                    assert await view.evaluate("document.documentElement.scrollWidth") <= width, (width, path)
            if os.environ.get("UNIONBOT_SCREENSHOT_DIR"):
                for png in tmp_path.glob("*.png"):
                    shutil.copy(png, Path(os.environ["UNIONBOT_SCREENSHOT_DIR"]) / png.name)
        finally:
            await browser.close()
