"""A real browser (Debian's Chromium through Playwright): staff approve a worker's hardship request.

Set UNIONBOT_SAVE_SCREENSHOTS=1 to refresh docs/hardship-screenshot.png (the list page, 1280 wide), and
UNIONBOT_SCREENSHOT_DIR=/some/dir to keep every page shot (1280 and 390 wide) for a look.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.models.core import Member, Outbox
from handlers.hardship import ops
from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.hardship import ops_ctx
from bot.wechat.simulator import WeChatSim

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing (run .ci/install-browser.sh)", allow_module_level=True)

from playwright.async_api import async_playwright  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs"

OTHERS = [
    ("oR2", "李秀英", "13912345602", "子女就学", "女儿考上大学，学费住宿费一次要交八千多元。", 4, 6200, 900, None, "approved"),
    ("oR3", "陈建华", "13712345603", "工伤", "工地摔伤住院两个月，单位只垫付了一部分。", 3, 3600, 1200,
     "11010519491231002X", "waiting"),
    ("oR4", "赵桂兰", "13612345604", "因灾", "暴雨导致房屋漏水，家具电器损坏。", 2, 5200, 300, None, "reviewing"),
    ("oR5", "孙志强", "13512345605", "失业待岗", "企业停产，待岗三个月，只有妻子的工资。", 3, 3000, 0, None, "submitted"),
]


async def seed_others(db, app, clock) -> None:  # noqa: ANN001
    for openid, name, phone, kind, desc, household, income, expenses, id_number, status in OTHERS:
        clock.advance(hours=5)
        async with db() as s, s.begin():
            s.add(Member(openid=openid, first_seen=clock.now(), last_seen=clock.now()))
            await s.flush()
            req = await ops.submit_request(
                s, ops_ctx(app), openid=openid, consent_version="2026-1",
                data={"kind": kind, "description": desc, "household": household, "income": income,
                      "expenses": expenses, "name": name, "phone": phone, "employer": "某物业服务公司",
                      "id_number": id_number})
            if status != "submitted":
                await ops.start_review(s, ops_ctx(app), req.id)
            if status == "approved":
                await ops.approve(s, ops_ctx(app), req.id)
            if status == "waiting":
                await ops.request_more(s, ops_ctx(app), req.id, message="请补充工伤认定书")


async def test_staff_approve_in_browser_and_worker_is_notified(aiohttp_server, aiohttp_client, app, db, clock,
                                                               settings, tmp_path):  # noqa: ANN001
    server = await aiohttp_server(app)
    sim = WeChatSim(await aiohttp_client(server), path=settings.server.webhook_path, token=settings.wechat.token,
                    clock=clock)
    base = f"http://127.0.0.1:{server.port}"
    await create_staff_user(db, display_name="张干事")

    # the worker applies through WeChat
    u = sim.user("oWorker1")
    await u.send("帮扶")
    for answer in ["同意", "因病", "母亲住院做手术，自付医药费很多，家里收入只靠我一人。", "3", "4500", "1500",
                   "王小明", "13800138000", "街道环卫所", "跳过", "跳过"]:
        await u.send(answer)
    assert "BF-2026-0001" in await u.send("确认")
    await seed_others(db, app, clock)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
            page = await context.new_page()
            asked: list[str] = []  # decisions that tell the worker ask first (data-confirm)

            async def answer(dialog) -> None:  # noqa: ANN001
                asked.append(dialog.message)
                await dialog.accept()

            page.on("dialog", answer)
            await page.goto(f"{base}/admin/hardship")
            await page.get_by_label("用户名").fill(DEFAULT_USER)
            await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.get_by_role("heading", name="困难帮扶申请").wait_for()
            shot = tmp_path / "hardship-list.png"
            await page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("UNIONBOT_SAVE_SCREENSHOTS"):
                shutil.copy(shot, DOCS / "hardship-screenshot.png")
            for nav_title in ("首页", "帮扶审核"):
                assert await page.get_by_role("link", name=nav_title, exact=True).is_visible()

            await page.get_by_role("link", name="BF-2026-0001").click()
            await page.get_by_role("heading", name="BF-2026-0001").wait_for()
            assert await page.get_by_text("深度困难").first.is_visible()
            await page.get_by_role("button", name="开始审核").click()
            await page.get_by_text("已开始审核：BF-2026-0001").wait_for()
            await page.get_by_label("给职工的留言（选填）").fill("请留意电话通知领取")
            await page.get_by_role("button", name="审核通过").click()
            await page.get_by_text("已审核通过：BF-2026-0001").wait_for()
            assert await page.get_by_role("button", name="登记发放").is_visible()
            assert len(asked) == 2 and all("职工会通过微信收到通知" in q for q in asked)
            await page.screenshot(path=str(tmp_path / "hardship-detail.png"), full_page=True)

            await page.goto(f"{base}/admin/")
            await page.get_by_role("link", name="待审核的帮扶申请").click()
            await page.get_by_role("heading", name="困难帮扶申请").wait_for()
            assert await page.get_by_role("link", name="BF-2026-0005").is_visible()  # the one still 已提交
            await page.goto(f"{base}/admin/")
            await page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
            await page.goto(f"{base}/admin/hardship/new")
            await page.screenshot(path=str(tmp_path / "hardship-new.png"), full_page=True)

            phone = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                              is_mobile=True, has_touch=True, storage_state=await context.storage_state())
            small = await phone.new_page()
            for name, path in (("list", "/admin/hardship"), ("detail", "/admin/hardship/3"), ("home", "/admin/")):
                await small.goto(base + path)
                await small.screenshot(path=str(tmp_path / f"phone-{name}.png"), full_page=True)
                # nothing sticks out sideways on a phone
                assert await small.evaluate("document.documentElement.scrollWidth") <= 390
            if os.environ.get("UNIONBOT_SCREENSHOT_DIR"):
                for png in tmp_path.glob("*.png"):
                    shutil.copy(png, Path(os.environ["UNIONBOT_SCREENSHOT_DIR"]) / png.name)
        finally:
            await browser.close()

    async with db() as s:
        rows = list(await s.scalars(select(Outbox).where(Outbox.openid == "oWorker1").order_by(Outbox.id)))
    assert [r.purpose for r in rows] == ["hardship.status", "hardship.status"]
    assert "审核通过" in rows[-1].payload["text"] and "请留意电话通知领取" in rows[-1].payload["text"]
