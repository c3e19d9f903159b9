"""Staff pages of the quiz: upload, edit, periods, results chart, scores and export."""
from __future__ import annotations

import io
from pathlib import Path

from aiohttp import FormData
from openpyxl import load_workbook
from sqlalchemy import select

from bot.db.models.core import AuditLog
from bot.db.models.quiz import QuizQuestion
from tests.support.admin import csrf_from, log_in_staff
from tests.support.quiz import add_bank, add_period

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "quiz-questions.csv"


async def staff_token(client, db) -> str:  # noqa: ANN001
    """Log staff in; the CSRF token of the question bank page."""
    await log_in_staff(client, db)
    resp = await client.get("/admin/quiz/questions")
    assert resp.status == 200
    return csrf_from(await resp.text())


async def upload(client, token: str, name: str, data: bytes):  # noqa: ANN001, ANN201
    form = FormData()
    form.add_field("_csrf", token)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await client.post("/admin/quiz/questions/import", data=form)


async def test_upload_bad_file_then_good_file(client, db):
    token = await staff_token(client, db)
    bad = "题干,选项A,选项B,答案\n一,是,否,A\n二,是,,A\n".encode()
    page = await (await upload(client, token, "bad.csv", bad)).text()
    assert "没有导入任何题目" in page and "第 3 行" in page
    async with db() as s:
        assert list(await s.scalars(select(QuizQuestion))) == []
    page = await (await upload(client, token, "quiz-questions.csv", SAMPLE.read_bytes())).text()
    assert "新增 10 道" in page and "工会经费的来源" in page
    async with db() as s:
        assert (await s.scalar(select(AuditLog).where(AuditLog.action == "quiz.import"))) is not None


async def test_template_download_imports_back(client, db):
    token = await staff_token(client, db)
    page = await (await client.get("/admin/quiz/questions")).text()
    assert "下载导入模板" in page
    resp = await client.get("/admin/quiz/questions/template.xlsx")
    assert resp.status == 200
    data = await resp.read()
    ws = load_workbook(io.BytesIO(data)).active
    assert [c.value for c in ws[1]][:3] == ["题干", "选项A", "选项B"]
    page = await (await upload(client, token, "模板.xlsx", data)).text()
    assert "新增 2 道" in page


async def test_edit_question_rescores_and_remove_keeps_answers(client, sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    u = sim.user("oEdit")
    await u.send("答题")
    await u.send("A")  # wrong under the original key B
    token = await staff_token(client, db)
    edit = {"_csrf": token, "stem": "建立基层工会委员会的最低会员人数是？", "optA": "25人", "optB": "10人",
            "optC": "50人", "answer": "a", "explanation": "会员25人以上。", "topic": "工会法", "difficulty": "1"}
    resp = await client.post(f"/admin/quiz/questions/{ids[0]}", data=edit)
    assert "还没有保存" in await resp.text()  # a new key for an answered question is confirmed first
    resp = await client.post(f"/admin/quiz/questions/{ids[0]}", data={**edit, "confirm_key": "A"})
    assert "1 份由错改为对" in await resp.text()
    assert "答对 1/1" in await u.send("成绩")
    resp = await client.post(f"/admin/quiz/questions/{ids[0]}", data={
        "_csrf": token, "stem": "x", "optA": "只有一个", "answer": "A"})
    assert resp.status == 400 and "2–6 个选项" in await resp.text()
    resp = await client.post(f"/admin/quiz/questions/{ids[0]}/delete", data={"_csrf": token})
    assert "已移出题库" in await resp.text()
    assert "答对 1/1" in await u.send("成绩")
    page = await (await client.get("/admin/quiz/periods/2026-11")).text()
    assert "已移出题库" in page and "100.0%（1/1）" in page


async def test_create_period_results_chart_scores_and_export(client, sim, db, clock):
    await add_bank(db, clock)
    token = await staff_token(client, db)
    resp = await client.post("/admin/quiz/periods", data={
        "_csrf": token, "code": "2026-11", "opens_at": "2026-11-01T00:00", "closes_at": "2026-12-01T00:00",
        "reveal": "immediate", "count": "2"})
    page = await resp.text()
    assert "2026年11月 每月一题" in page and "抽取了 2 道题" in page
    resp = await client.post("/admin/quiz/periods", data={"_csrf": token, "code": "2026-11"})
    assert "已经存在" in await resp.text()
    u = sim.user("oStaffView")
    assert "第 1/2 题" in await u.send("答题")
    await u.send("Z")  # out of range: asked again, nothing stored
    await u.send("A")
    await u.send("A")
    page = await (await client.get("/admin/quiz/periods/2026-11")).text()
    assert "各题正确率" in page and "参与人数" in page
    assert page.count('class="qz-bar-fill"') == 2 and "暂无作答" not in page  # one bar per question
    assert "cdn" not in page.lower()
    assert "本期已有人作答" in page  # questions locked once answered
    page = await (await client.get("/admin/quiz/scores?year=2026")).text()
    assert "个人排行" in page and "单位 / 社区排行" in page
    resp = await client.get("/admin/quiz/scores/export.xlsx?year=2026")
    assert resp.status == 200
    ws = load_workbook(io.BytesIO(await resp.read())).active
    header = [c.value for c in ws[1]]
    assert header[:2] == ["排名", "姓名"] and header[2].startswith("年终考核得分") and "2026年11月" in header
    assert ws.max_row == 2
    resp = await client.get("/admin/quiz/scores/export.csv?year=2026")
    assert (await resp.read()).decode("utf-8-sig").startswith("排名,姓名")


async def test_pages_need_login(client):
    resp = await client.get("/admin/quiz", allow_redirects=False)
    assert resp.status in (302, 303)
