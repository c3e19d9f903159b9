"""Scores, year totals, ranking (participation first, then score), employer board, drawing."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import update

from bot.db.models.core import Member
from bot.operations import OpsContext
from handlers.chairs import ops as chairs_ops
from handlers.quiz import ops
from handlers.quiz import scores as quiz_scores
from tests.support.admin import log_in_staff
from tests.support.quiz import add_bank, add_period, local, ops_ctx


async def take(sim, openid: str, letters: str) -> str:  # noqa: ANN001
    u = sim.user(openid)
    await u.send("答题")
    return await u.send(letters)


async def test_ranking_by_participation_then_score(sim, db, clock, settings):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-10", [ids[0]])  # answer B
    await add_period(db, clock, "2026-11", [ids[2]])  # answer B
    await add_period(db, clock, "2026-H2", ids[:2])   # opens in December: not held yet
    clock.set(local(2026, 10, 15, 9, 0))
    await take(sim, "oA", "B")
    await take(sim, "oB", "A")
    await take(sim, "oD", "B")
    clock.set(local(2026, 11, 24, 10, 0))
    await take(sim, "oA", "B")
    await take(sim, "oB", "B")
    await take(sim, "oC", "B")
    await sim.user("oE").send("你好")  # same employer as A and B, never answered
    async with db() as s, s.begin():
        for o, emp, name in (("oA", "甲公司", "张三"), ("oB", "甲公司", "李四"), ("oE", "甲公司", "王五"),
                             ("oC", "乙社区", "赵六"), ("oD", "丙公司", "钱七")):
            await s.execute(update(Member).where(Member.openid == o).values(employer=emp, name=name))

    async with db() as s:
        table = await quiz_scores.year_table(s, ops_ctx(clock, quiz={"month_weight": 1, "half_weight": 2}), 2026)
        board = await quiz_scores.employer_board(s, table)
    assert [(r.openid, r.rank, r.participation, r.total) for r in table.rows[:2]] == [
        ("oA", 1, 100.0, 100.0), ("oB", 2, 100.0, 50.0)]
    assert {(r.openid, r.rank, r.participation, r.total) for r in table.rows[2:]} == {
        ("oD", 3, 50.0, 50.0), ("oC", 3, 50.0, 50.0)}  # a tie shares the rank
    assert [p.code for p in table.periods] == ["2026-10", "2026-11"]
    assert [(g.employer, g.rank, g.participation, g.avg_total) for g in board] == [
        ("甲公司", 1, 66.7, 75.0), ("丙公司", 2, 50.0, 50.0), ("乙社区", 2, 50.0, 50.0)]

    reply = await sim.user("oB").send("成绩")  # November is still open: the rank counts October only
    assert "2026年10月 每月一题：0 分（答对 0/1）" in reply
    assert "2026年11月 每月一题：100 分（答对 1/1）" in reply
    assert "参与 1/1 期，综合得分 0 分，排名第 3 名（共 3 人）" in reply
    assert "「2026年11月 每月一题」结束后计入综合得分和排名" in reply
    clock.set(local(2026, 12, 1, 9, 0))  # November closed; the half-year test (December) is open
    reply = await sim.user("oB").send("成绩")
    assert "2026年10月 每月一题：0 分（答对 0/1）" in reply
    assert "2026年11月 每月一题：100 分（答对 1/1）" in reply
    assert "2026年下半年测试：未作答，12月31日前回复「答题」参加" in reply
    assert "参与 2/2 期，综合得分 50 分，排名第 2 名（共 4 人）" in reply
    reply = await sim.user("oC").send("成绩")
    assert "2026年10月 每月一题：未参加" in reply and "排名第 3 名" in reply
    assert "还没有参加过答题" in await sim.user("oE").send("成绩")


async def test_half_year_weight_in_the_year_end_score(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    await add_period(db, clock, "2026-H2", ids[:2], opens_at=local(2026, 11, 20), closes_at=local(2026, 12, 31))
    await take(sim, "oW", "B")  # month right: month average 100
    u = sim.user("oW")
    await u.send("测试")
    await u.send("B")
    await u.send("A")  # half-year 1/2 = 50
    async with db() as s:
        table = await quiz_scores.year_table(s, ops_ctx(clock, quiz={"month_weight": 1, "half_weight": 2}), 2026)
    row = table.for_openid("oW")
    assert (row.month_avg, row.half_avg, row.total) == (100.0, 50.0, 66.7)
    header, rows = quiz_scores.year_export_rows(table)
    assert header[2] == "年终考核得分(月1:半年2)" and rows[0][2] == 66.7  # the first number after the name


async def test_export_marks_chairs_and_masks_phones(sim, db, clock, settings, client):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    async with db() as s, s.begin():
        bound = await chairs_ops.add_chair(s, OpsContext(clock, settings), name="周主席", organisation="丁公司工会",
                                           community="东社区", mobile="13700000001")
        absent = await chairs_ops.add_chair(s, OpsContext(clock, settings), name="吴主席", organisation="戊公司工会",
                                            community="东社区", mobile="13700000002")
        await chairs_ops.add_chair(s, OpsContext(clock, settings), name="郑主席", organisation="己公司工会",
                                   community="东社区", mobile="13700000003")  # never bound: not in the quiz table
        code1, _ = await chairs_ops.issue_bind_code(s, OpsContext(clock, settings), bound.id)
        code2, _ = await chairs_ops.issue_bind_code(s, OpsContext(clock, settings), absent.id)
    assert "周主席" in await sim.user("oChair").send(f"绑定 {code1}")
    assert "吴主席" in await sim.user("oAbsentChair").send(f"绑定 {code2}")
    await take(sim, "oChair", "B")
    await take(sim, "oWorker", "B")
    async with db() as s, s.begin():
        await s.execute(update(Member).where(Member.openid == "oWorker").values(phone="13812345678", name="孙八"))

    # what workers see once November closed: only people who took part are ranked
    clock.set(local(2026, 12, 1, 9, 0))
    assert "共 2 人" in await sim.user("oWorker").send("成绩")

    await log_in_staff(client, db)
    resp = await client.get("/admin/quiz/scores/export.xlsx?year=2026")
    ws = load_workbook(io.BytesIO(await resp.read())).active
    header = [c.value for c in ws[1]]
    rows = {r[1]: dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert set(rows) == {"周主席", "孙八", "吴主席"}
    assert rows["周主席"]["工会主席"] == "是" and rows["周主席"]["单位/社区"] == "丁公司工会"
    assert rows["孙八"]["工会主席"] in (None, "") and rows["孙八"]["手机"] == "138****5678"
    assert rows["吴主席"]["工会主席"] == "是" and rows["吴主席"]["2026年11月"] == "未参加"
    assert rows["吴主席"]["排名"] == 3 and rows["吴主席"]["年终考核得分(月1:半年2)"] == 0
    csv_text = (await (await client.get("/admin/quiz/scores/export.csv?year=2026&chairs=1")).read()).decode("utf-8-sig")
    assert "周主席" in csv_text and "吴主席" in csv_text and "孙八" not in csv_text
    assert "13812345678" not in csv_text


async def test_drawing_avoids_repeats_within_a_year(db, clock, app):
    await add_bank(db, clock)  # 5 questions
    async with db() as s, s.begin():
        drawn = []
        for m in range(1, 6):
            p = await ops.create_period(s, ops_ctx(clock), f"2026-{m:02d}")
            drawn += [q.id for q in await ops.period_questions(s, p)]
        assert len(drawn) == 5 and len(set(drawn)) == 5
        p6 = await ops.create_period(s, ops_ctx(clock), "2026-06", count=2)
        assert len(await ops.period_questions(s, p6)) == 2  # bank exhausted: reuse is allowed
        h1 = await ops.create_period(s, ops_ctx(clock), "2026-H1")
        assert len(await ops.period_questions(s, h1)) == 5  # only 5 in the bank


async def test_scores_early_in_a_year_show_last_year(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-H2", ids[:2], reveal="after_close")
    clock.set(local(2026, 12, 20, 9, 0))
    await take(sim, "oNewYear", "B")
    await sim.user("oNewYear").send("ABCD")
    assert "12月31日结束后公布" in await sim.user("oNewYear").send("成绩")
    clock.set(local(2027, 1, 3, 9, 0))
    reply = await sim.user("oNewYear").send("成绩")
    assert "您2026年的答题成绩" in reply and "2026年下半年测试：100 分（答对 2/2）" in reply
    assert "还没有参加过答题" in await sim.user("oNever").send("成绩")
