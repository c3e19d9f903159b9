"""A real browser (Debian's Chromium through Playwright): a community union's hardship account logs in
and sees only its community's requests — in the list, in the navigation, and at another
community's address."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hardship.test_scope import A, B, seed
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.settings import make_settings

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing (run .ci/install-browser.sh)", allow_module_level=True)

from playwright.async_api import async_playwright  # noqa: E402


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": [A, B]})


async def test_community_hardship_account_sees_its_own_requests(aiohttp_server, app, db):  # noqa: ANN001
    ra = await seed(db, app, "oA", "张幸福", "13800000001", A)
    rb = await seed(db, app, "oB", "李和平", "13800000002", B)
    rn = await seed(db, app, "oN", "王无名", "13800000003", None)
    await create_staff_user(db, "xingfu", display_name="幸福社区小刘", roles=("hardship",), community=A)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")).new_page()
            await page.goto(f"{base}/admin/hardship")
            await page.get_by_label("用户名").fill("xingfu")
            await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.get_by_role("heading", name="困难帮扶申请").wait_for()

            assert await page.get_by_role("link", name=ra.ref).is_visible()
            assert await page.get_by_role("link", name=rb.ref).count() == 0
            assert await page.get_by_role("link", name=rn.ref).count() == 0
            body = await page.locator("main").inner_text()
            assert "张幸福" in body and "李和平" not in body and "王无名" not in body
            # only what the account may open is in the navigation
            assert await page.get_by_role("link", name="帮扶审核", exact=True).is_visible()
            for other in ("主席报送", "活动报名", "每月一题", "审计日志", "工作人员"):
                assert await page.get_by_role("link", name=other, exact=True).count() == 0

            await page.get_by_role("link", name=ra.ref).click()
            await page.get_by_role("heading", name=ra.ref).wait_for()
            assert await page.get_by_text(A, exact=True).first.is_visible()

            # typing another community's address: not found, no name shown
            resp = await page.goto(f"{base}/admin/hardship/{rb.id}")
            assert resp is not None and resp.status == 404
            assert "李和平" not in await page.content()
        finally:
            await browser.close()
