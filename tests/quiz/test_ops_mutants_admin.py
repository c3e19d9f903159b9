"""Sharper tests for handlers/quiz/ops.py (mutation group `ops-quiz`), through the admin over HTTP:
choosing and drawing a period's questions and editing its window, as staff type them — what the
page then says (a Chinese refusal, never a 500) and what is stored."""
from __future__ import annotations

import re
from html import unescape

from handlers.quiz import ops
from tests.support.admin import csrf_from, log_in_staff
from tests.support.quiz import add_bank, add_period, local


def flashes(page: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", m)).strip()
            for m in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', page, re.S)]


async def questions_of(db, code: str) -> list[int]:  # noqa: ANN001
    async with db() as s:
        return [q.id for q in await ops.period_questions(s, await ops.get_period(s, code))]


async def test_staff_choose_and_draw_a_periods_questions(client, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-12", [ids[0]])
    await log_in_staff(client, db)
    token = csrf_from(await (await client.get("/admin/quiz/periods/2026-12")).text())

    async def post(**form: str) -> list[str]:
        resp = await client.post("/admin/quiz/periods/2026-12/questions", data={"_csrf": token, **form})
        assert resp.status == 200
        return flashes(await resp.text())

    assert await post(ids=f"#{ids[3]}，{ids[1]} {ids[2]}") == ["本期题目已更新，共 3 道"]
    assert await questions_of(db, "2026-12") == [ids[3], ids[1], ids[2]]
    assert await post(ids="3,七") == ["请填写题目编号，用逗号分隔，例如 3,7,12。"]
    assert await post(ids="") == ["请至少选择一道题。"]
    assert await post(ids="999999") == ["题目 #999999 不存在或已移出题库。"]
    assert await questions_of(db, "2026-12") == [ids[3], ids[1], ids[2]]
    assert await post(draw="1", count="0") == ["题目数量请填正整数，例如 10。"]
    assert await post(draw="1", count="2") == ["本期题目已更新，共 2 道"]
    assert len(await questions_of(db, "2026-12")) == 2


async def test_staff_edit_a_periods_window(client, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-12", [ids[0]])
    await log_in_staff(client, db)
    token = csrf_from(await (await client.get("/admin/quiz/periods/2026-12")).text())

    async def post(**form: str) -> list[str]:
        resp = await client.post("/admin/quiz/periods/2026-12/edit", data={"_csrf": token, **form})
        assert resp.status == 200
        return flashes(await resp.text())

    assert await post(closes_at="2026-12-20T08:00") == ["已保存：答题时间 2026-12-01 00:00 至 2026-12-20 08:00"]
    assert await post(opens_at="2026-12-20T08:00") == ["结束时间要晚于开始时间。"]
    assert await post(opens_at="12月5日") == ["时间「12月5日」的格式不对，请写成 2026-12-01 或 2026-12-01T08:00。"]
    assert await post(opens_at="2026-12-05", reveal="after_close") == [
        "已保存：答题时间 2026-12-05 00:00 至 2026-12-20 08:00"]
    async with db() as s:
        p = await ops.get_period(s, "2026-12")
        assert (p.opens_at, p.closes_at, p.reveal) == (local(2026, 12, 5), local(2026, 12, 20, 8), "after_close")
