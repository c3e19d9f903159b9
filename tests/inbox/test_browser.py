"""A real browser (Debian's Chromium through Playwright): staff answer a worker's question from
the thread page, on a phone (390 px) and on a desktop (1366 px); the worker receives it.

UNIONBOT_SAVE_SCREENSHOTS=1 keeps the page shots in docs/screenshots/inbox-*.png (and refreshes
docs/inbox-screenshot.png, the thread page at 1366 px, for the README).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.keys import DELIVERY, PROCESSOR, SESSIONMAKER
from bot.wechat.simulator import WeChatSim
from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.inbox import add_member, add_thread, messages, threads
from tests.support.settings import make_settings

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing (run .ci/install-browser.sh)", allow_module_level=True)

from playwright.async_api import async_playwright  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs"
SHOTS = DOCS / "screenshots"


async def seed_others(db, clock) -> None:  # noqa: ANN001
    await add_member(db, clock, "oB1", name="李秀英", phone="13912345602")
    await add_thread(db, clock, "oB1", [("worker", "我在工地摔伤了，单位不给报销医药费，怎么办？"),
                                        ("staff", "请先保留好病历和发票，工伤认定我们可以帮您。")], topic="工伤")
    clock.advance(minutes=40)
    await add_member(db, clock, "oB2", name="陈建华", phone="13712345603")
    await add_thread(db, clock, "oB2", [("worker", "想问下孩子上大学，工会有没有助学补助"),
                                        ("worker", "家里就我一个人挣钱")], topic="帮扶")
    clock.advance(minutes=30)
    await add_thread(db, clock, "oB3", [("worker", "怎么加入工会？")], topic="入会", status="closed")
    clock.advance(minutes=50)


async def shoot(page, name: str, tmp_path: Path) -> None:  # noqa: ANN001
    shot = tmp_path / f"inbox-{name}.png"
    await page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("UNIONBOT_SAVE_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SHOTS / shot.name)


async def test_staff_answer_a_worker_from_the_thread_page(aiohttp_server, aiohttp_client, make_app, engine, clock,
                                                          db_url, tmp_path, fake_wechat):  # noqa: ANN001
    settings = make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config())
    app = make_app(settings)
    db = app[SESSIONMAKER]
    server = await aiohttp_server(app)
    sim = WeChatSim(await aiohttp_client(server), path=settings.server.webhook_path, token=settings.wechat.token,
                    clock=clock)
    base = f"http://127.0.0.1:{server.port}"
    await create_staff_user(db, display_name="张干事")
    await seed_others(db, clock)

    # the worker asks through WeChat
    worker = sim.user("oWorker1")
    await worker.send("老板拖欠我们三个月工资了，一直说下个月发，工会能帮我讨薪吗？")
    [asked] = [t for t in await threads(db) if t.openid == "oWorker1"]
    clock.advance(hours=2)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            desk = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            page = await desk.new_page()
            await page.goto(f"{base}/admin/inbox")
            await page.get_by_label("用户名").fill(DEFAULT_USER)
            await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.get_by_role("heading", name="留言咨询").wait_for()
            assert await page.locator(".nav-badge").first.inner_text() == "2"
            await shoot(page, "list-1366", tmp_path)

            phone = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                              is_mobile=True, has_touch=True, locale="zh-CN",
                                              storage_state=await desk.storage_state())
            small = await phone.new_page()
            await small.goto(f"{base}/admin/inbox?view=waiting")
            await shoot(small, "list-390", tmp_path)
            assert await small.evaluate("document.documentElement.scrollWidth") <= 390
            await small.get_by_role("link", name="老板拖欠我们三个月工资了", exact=False).click()
            await small.get_by_role("heading", name=f"#{asked.id}", exact=False).wait_for()
            assert await small.get_by_text("等了 2 小时").first.is_visible()
            assert await small.evaluate("document.documentElement.scrollWidth") <= 390
            await shoot(small, "thread-390", tmp_path)
            await small.get_by_label("回复内容（会发到职工的微信）").fill(
                "您好，您反映的情况我们收到了。请先保留好劳动合同、工资条和考勤记录，明天上午我们给您打电话。")
            await small.get_by_role("button", name="发送回复").click()
            await small.get_by_text("回复已发送").wait_for()
            assert await small.get_by_text("发送中").first.is_visible()
            assert await small.evaluate("document.documentElement.scrollWidth") <= 390

            await app[PROCESSOR].drain()
            await app[DELIVERY].run_once()
            [got] = fake_wechat.delivered_to("oWorker1")
            assert got["kind"] == "text" and "明天上午我们给您打电话" in got["text"]

            # on the desktop: a quick reply inserted with the select, then sent
            await page.goto(f"{base}/admin/inbox/snippets")
            await page.get_by_label("标题（方便挑选）").fill("讨薪材料")
            await page.get_by_label("内容").fill("讨薪请准备：劳动合同、工资条、考勤记录、聊天记录截图。")
            await page.get_by_role("button", name="保存").click()
            await page.get_by_text("已保存常用回复「讨薪材料」").wait_for()
            await shoot(page, "snippets-1366", tmp_path)
            await page.goto(f"{base}/admin/inbox/{asked.id}")
            assert await page.get_by_text("已送达").first.is_visible()
            await page.get_by_label("插入常用回复").select_option(label="讨薪材料")
            box = page.get_by_label("回复内容（会发到职工的微信）")
            assert "聊天记录截图" in await box.input_value()
            await page.get_by_placeholder("仅工作人员可见，不会发给职工").fill("职工说单位有20多人被拖欠")
            await page.get_by_role("button", name="添加备注").click()
            await page.get_by_text("已添加内部备注").wait_for()
            await box.fill("补充一下，" + "讨薪请准备：劳动合同、工资条、考勤记录、聊天记录截图。")
            await page.get_by_role("button", name="发送回复").click()
            await page.get_by_text("回复已发送").wait_for()
            await shoot(page, "thread-1366", tmp_path)
            if os.environ.get("UNIONBOT_SAVE_SCREENSHOTS"):
                shutil.copy(tmp_path / "inbox-thread-1366.png", DOCS / "inbox-screenshot.png")
            await small.goto(f"{base}/admin/inbox/{asked.id}")
            await shoot(small, "thread-after-390", tmp_path)
            assert await small.evaluate("document.documentElement.scrollWidth") <= 390
        finally:
            await browser.close()

    await app[PROCESSOR].drain()
    await app[DELIVERY].run_once()
    texts = [d["text"] for d in fake_wechat.delivered_to("oWorker1")]
    assert len(texts) == 2 and texts[1].startswith("补充一下")
    assert [m.sender for m in await messages(db, asked.id)][-3:] == ["staff", "note", "staff"]
