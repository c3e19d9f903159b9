"""The quiz pages as staff use them (issue 14): the year-end score first and in view, periods
named as people say them, pages of scores, deleting a mistaken period, confirming a new answer
key, no technical names — over HTTP with CSRF on both databases, and in Chromium at phone and
desk widths.

Set UNIONBOT_SCREENSHOTS=/some/dir to keep the browser's screenshots for a look."""
from __future__ import annotations

import os
import random
import re
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot import outbox
from bot.db.models.core import AuditLog, Member, Outbox
from bot.db.models.quiz import QuizAnswer, QuizPeriod
from handlers.quiz import ops
from tests.support.admin import csrf_from, log_in_staff
from tests.support.quiz import TZ, add_bank, add_period, local

TECHNICAL = ("openid", "chinese-calendar", "chinese_calendar", "[quiz]", "month_weight", "half_weight",
             "immediate", "after_close", "2026-H1", "2026-H2", "QuizError", "Traceback")


def visible(html: str) -> str:
    """The text a person reads: no tags, attributes, styles or scripts."""
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def seed_year(db, clock, people: int = 120, seed: int = 14) -> list[str]:  # noqa: ANN001
    """A whole 2026: twelve months and both half-year tests, `people` workers answering most
    of them (answers written directly: the chat is tested elsewhere). Returns their openids."""
    ids = await add_bank(db, clock)
    codes = [f"2026-{m:02d}" for m in range(1, 13)] + ["2026-H1", "2026-H2"]
    for code in codes:
        await add_period(db, clock, code, ids[:2] if "H" not in code else ids[:4])
    rng = random.Random(seed)
    openids = [f"oWorker{i:03d}" for i in range(people)]
    async with db() as s, s.begin():
        periods = list(await s.scalars(select(QuizPeriod)))
        for i, o in enumerate(openids):
            s.add(Member(openid=o, first_seen=clock.now(), last_seen=clock.now(), name=f"职工{i:03d}号",
                         employer=rng.choice(("东湖电子有限公司", "西园物流有限公司", "南山社区联合工会")),
                         phone=f"1390000{i:04d}"))
            for p in periods:
                if rng.random() < 0.8:
                    for qid in (ids[:4] if p.kind == "half" else ids[:2]):
                        s.add(QuizAnswer(period_id=p.id, question_id=qid, openid=o, chosen="B",
                                         correct=rng.random() < 0.7, answered_at=p.opens_at))
    return openids


async def test_scores_page_year_end_score_first_labels_and_pages(client, db, clock) -> None:  # noqa: ANN001
    clock.set(local(2027, 1, 5, 9))
    await seed_year(db, clock)
    await log_in_staff(client, db)
    page = await (await client.get("/admin/quiz/scores?year=2026")).text()
    headers = re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", page.split('class="qz-scores"', 1)[1].split("</thead>", 1)[0])
    assert headers[:3] == ["排名", "姓名", "年终考核得分"]  # the first number after the name
    assert "2026年12月" in headers and "2026年上半年测试" in headers and "2026年下半年测试" in headers
    text = visible(page)
    for word in TECHNICAL:
        assert word not in text, word
    assert "2026-12" not in text
    # 120 people, 50 a page.
    assert "第 1 / 3 页" in text and "共 120 条" in text
    rows = page.split('class="qz-scores"', 1)[1].split("</table>", 1)[0].count("<tr>") - 1
    assert rows == 50
    last = await (await client.get("/admin/quiz/scores?year=2026&page=3")).text()
    assert "第 3 / 3 页" in visible(last)
    assert last.split('class="qz-scores"', 1)[1].split("</table>", 1)[0].count("<tr>") - 1 == 20
    for query in ("page=999999999999", "page=-1", "page=abc", "year=99999999999", "year=0001", "year=abc"):
        resp = await client.get(f"/admin/quiz/scores?{query}")
        assert resp.status == 200, query
    assert "第 3 / 3 页" in visible(await (await client.get("/admin/quiz/scores?year=2026&page=99999")).text())
    # The export names the periods the same way.
    ws = load_workbook(io.BytesIO(await (await client.get("/admin/quiz/scores/export.xlsx?year=2026")).read())).active
    header = [c.value for c in ws[1]]
    assert "2026年下半年测试" in header and "2026-H2" not in header and ws.max_row == 121


async def test_period_names_and_the_december_end(client, db, clock) -> None:  # noqa: ANN001
    await add_bank(db, clock)
    token = await _token(client, db, "/admin/quiz")
    # Created from the select (codes never typed) or typed the way people say it.
    page = await (await client.get("/admin/quiz")).text()
    assert '<option value="2026-H2"' in page and "2026年下半年测试" in page
    resp = await client.post("/admin/quiz/periods", data={"_csrf": token, "code": "2026-12"})
    assert "已创建「2026年12月 每月一题」" in await resp.text()
    resp = await client.post("/admin/quiz/periods", data={"_csrf": token, "code": "2026年下半年"})
    assert "已创建「2026年下半年测试」" in await resp.text()
    resp = await client.post("/admin/quiz/periods", data={"_csrf": token, "code": "2026年下半年测试"})
    assert "「2026年下半年测试」已经存在" in await resp.text()
    index = visible(await (await client.get("/admin/quiz?year=2026")).text())
    assert "2026-12-01 00:00 至 2026-12-31 24:00" in index and "2027-01-01" not in index
    assert "2026-12" not in index.replace("2026-12-01", "").replace("2026-12-31", "")
    period = visible(await (await client.get("/admin/quiz/periods/2026-H2")).text())
    assert "2026-12-31 24:00" in period and "2027-01-01 00:00" not in period
    for word in TECHNICAL:
        assert word not in index and word not in period, word
    async with db() as s:
        assert ops.end_text((await ops.get_period(s, "2026-12")).closes_at, TZ) == "2026-12-31 24:00"


async def _token(client, db, path: str) -> str:  # noqa: ANN001
    await log_in_staff(client, db)
    return csrf_from(await (await client.get(path)).text())


async def test_deleting_a_mistaken_period(client, sim, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", ids[:2])
    await add_period(db, clock, "2026-10", ids[2:4], opens_at=local(2026, 10, 1), closes_at=local(2026, 11, 1))
    async with db() as s, s.begin():  # a 「已经开始」 message waiting to go out for 2026-11
        await outbox.enqueue(s, key="quiz:open:2026-11:oLater", openid="oLater", now=clock.now(), text="已经开始",
                             purpose=ops.OPEN_PURPOSE)
    token = await _token(client, db, "/admin/quiz/periods/2026-11")
    page = await (await client.get("/admin/quiz/periods/2026-11")).text()
    assert "删除这一期…" in page
    confirm = await (await client.get("/admin/quiz/periods/2026-11/delete")).text()
    assert "删除「2026年11月 每月一题」？" in confirm and "确认删除" in confirm and "2 道题放回题库" in confirm
    resp = await client.post("/admin/quiz/periods/2026-11/delete", data={"_csrf": token})
    assert "已删除「2026年11月 每月一题」" in await resp.text()
    async with db() as s:
        assert await ops.get_period(s, "2026-11") is None
        assert (await s.scalar(select(Outbox).where(Outbox.key == "quiz:open:2026-11:oLater"))).status == "cancelled"
        row = await s.scalar(select(AuditLog).where(AuditLog.action == "quiz.period_delete"))
        assert row is not None and row.target == "2026-11"
    assert (await client.get("/admin/quiz/periods/2026-11")).status == 404

    # Someone answered 2026-10 (while it was open): it can't be deleted.
    async with db() as s, s.begin():
        p = await ops.get_period(s, "2026-10")
        s.add(QuizAnswer(period_id=p.id, question_id=ids[2], openid="oAnswered", chosen="B", correct=True,
                         answered_at=local(2026, 10, 5)))
    page = await (await client.get("/admin/quiz/periods/2026-10")).text()
    assert "删除这一期…" not in page and "不能删除" in page
    assert "不能删除" in await (await client.get("/admin/quiz/periods/2026-10/delete")).text()
    resp = await client.post("/admin/quiz/periods/2026-10/delete", data={"_csrf": token})
    assert "已有 1 人作答（1 份答案），不能删除" in await resp.text()
    async with db() as s:
        assert await ops.get_period(s, "2026-10") is not None
    # Without the CSRF token nothing happens.
    assert (await client.post("/admin/quiz/periods/2026-10/delete", data={})).status == 403


async def test_a_new_answer_key_is_confirmed_and_then_reported(client, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    async with db() as s, s.begin():
        p = await ops.get_period(s, "2026-11")
        for o, chosen in (("o1", "A"), ("o2", "B"), ("o3", "C")):  # the key is B
            s.add(QuizAnswer(period_id=p.id, question_id=ids[0], openid=o, chosen=chosen, correct=chosen == "B",
                             answered_at=clock.now()))
    url = f"/admin/quiz/questions/{ids[0]}"
    token = await _token(client, db, url)
    form_page = visible(await (await client.get(url)).text())
    assert "已有 3 份作答" in form_page
    edit = {"_csrf": token, "stem": "建立基层工会委员会的最低会员人数是？", "optA": "10人", "optB": "25人",
            "optC": "50人", "answer": "A", "explanation": "会员25人以上建立基层工会委员会。", "topic": "工会法",
            "difficulty": "易"}
    resp = await client.post(url, data=edit)
    text = visible(await resp.text())
    assert resp.status == 200 and "还没有保存" in text
    assert "由 B 改为 A" in text and "已有 3 份作答" in text and "1 份由错改为对" in text and "1 份由对改为错" in text
    async with db() as s:
        assert (await ops.get_question(s, ids[0])).answer == "B"  # nothing saved yet
    resp = await client.post(url, data={**edit, "confirm_key": "A"})
    text = visible(await resp.text())
    assert "已保存题目" in text and "正确答案（B → A）" in text and "1 份由错改为对，1 份由对改为错" in text
    async with db() as s:
        marks = {a.openid: a.correct for a in await s.scalars(select(QuizAnswer))}
    assert marks == {"o1": True, "o2": False, "o3": False}
    # A confirmation given for one key does not pass another.
    resp = await client.post(url, data={**edit, "answer": "C", "confirm_key": "A"})
    assert "还没有保存" in visible(await resp.text())
    # Other fields need no confirmation; the flash names them.
    resp = await client.post(url, data={**edit, "explanation": "见《工会法》第十一条。"})
    text = visible(await resp.text())
    assert "已保存题目 #1：改了解析" in text and "已按新答案重新判分" not in text


async def test_quiz_pages_speak_plainly_and_missing_things_are_404_pages(client, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-H2", ids[:3])
    await log_in_staff(client, db)
    for path in ("/admin/quiz", "/admin/quiz/periods/2026-H2", "/admin/quiz/periods/2026-H2/delete",
                 "/admin/quiz/questions", f"/admin/quiz/questions/{ids[0]}", "/admin/quiz/questions/new",
                 "/admin/quiz/scores"):
        resp = await client.get(path)
        assert resp.status == 200, path
        text = visible(await resp.text())
        for word in TECHNICAL:
            assert word not in text, (path, word)
    for path in ("/admin/quiz/periods/NOPE", "/admin/quiz/periods/" + "9" * 300, "/admin/quiz/questions/999999999"):
        resp = await client.get(path)
        page = await resp.text()
        assert resp.status == 404 and "没有找到" in page and "Not Found" not in page, path


# ------------------------------------------------------------------ in the browser
CHROMIUM_MISSING = not Path("/usr/bin/chromium").exists() and not os.environ.get("CI")


@pytest.mark.skipif(CHROMIUM_MISSING, reason="/usr/bin/chromium is missing")
async def test_scores_page_fits_phone_and_desk(aiohttp_server, app, db, clock, tmp_path) -> None:  # noqa: ANN001
    from playwright.async_api import async_playwright

    from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user
    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    out = Path(os.environ.get("UNIONBOT_SCREENSHOTS") or tmp_path)
    clock.set(local(2027, 1, 5, 9))
    await seed_year(db, clock, people=60)
    await create_staff_user(db)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width, height in ((1366, 800), (390, 844)):
                ctx = await browser.new_context(viewport={"width": width, "height": height})
                page = await ctx.new_page()
                await page.goto(f"{base}/admin/login")
                await page.get_by_label("用户名").fill(DEFAULT_USER)
                await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
                await page.get_by_role("button", name="登录").click()
                await page.wait_for_url(f"{base}/admin/")
                await page.goto(f"{base}/admin/quiz/scores?year=2026")
                await page.get_by_role("heading", name="个人排行（年终考核）").wait_for()
                # The page itself never scrolls sideways: the wide table scrolls inside its card.
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, (width, overflow)
                # The year-end score of the first person is on screen without scrolling sideways.
                score = page.locator("table.qz-scores tbody tr").first.locator("td.qz-total")
                box = await score.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
                # Scrolled to the last period, the name column is still in view.
                await page.locator(".qz-scroll").first.evaluate("el => el.scrollLeft = el.scrollWidth")
                name = page.locator("table.qz-scores tbody tr").first.locator("th.qz-sticky")
                nbox = await name.bounding_box()
                assert nbox is not None and 0 <= nbox["x"] < width / 2, (width, nbox)
                await page.locator(".qz-scroll").first.evaluate("el => el.scrollLeft = 0")
                await page.screenshot(path=str(out / f"quiz-scores-{width}.png"), full_page=True)
                await page.locator("table.qz-scores").first.scroll_into_view_if_needed()
                await page.screenshot(path=str(out / f"quiz-scores-{width}-table.png"))
                if width == 390:  # a line per person, not a 12-line card each
                    height_px = await page.evaluate("document.documentElement.scrollHeight")
                    assert height_px < 4000, height_px
                # The other quiz pages fit the width too.
                for name, path in (("index", "/admin/quiz?year=2026"), ("period", "/admin/quiz/periods/2026-12"),
                                   ("delete", "/admin/quiz/periods/2026-12/delete")):
                    await page.goto(f"{base}{path}")
                    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                    assert overflow <= 0, (path, width, overflow)
                    await page.screenshot(path=str(out / f"quiz-{name}-{width}.png"), full_page=True)
                await ctx.close()
        finally:
            await browser.close()
