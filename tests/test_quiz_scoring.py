"""Scores, year totals, ranking (participation first, then score), employer board, drawing."""
from __future__ import annotations

from sqlalchemy import update

from bot.db.models.core import Member
from handlers import quiz_ops as ops
from tests.test_quiz_support import add_bank, add_period, local


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
        table = await ops.year_table(s, 2026, clock.now(), month_weight=1, half_weight=2)
        board = await ops.employer_board(s, table)
    assert [(r.openid, r.rank, r.participation, r.total) for r in table.rows[:2]] == [
        ("oA", 1, 100.0, 100.0), ("oB", 2, 100.0, 50.0)]
    assert {(r.openid, r.rank, r.participation, r.total) for r in table.rows[2:]} == {
        ("oD", 3, 50.0, 50.0), ("oC", 3, 50.0, 50.0)}  # a tie shares the rank
    assert [p.code for p in table.periods] == ["2026-10", "2026-11"]
    assert [(g.employer, g.rank, g.participation, g.avg_total) for g in board] == [
        ("甲公司", 1, 66.7, 75.0), ("丙公司", 2, 50.0, 50.0), ("乙社区", 2, 50.0, 50.0)]

    reply = await sim.user("oB").send("成绩")
    assert "2026年10月 每月一题：0 分（答对 0/1）" in reply
    assert "2026年11月 每月一题：100 分（答对 1/1）" in reply
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
        table = await ops.year_table(s, 2026, clock.now(), month_weight=1, half_weight=2)
    row = table.for_openid("oW")
    assert (row.month_avg, row.half_avg, row.total) == (100.0, 50.0, 66.7)
    header, rows = ops.year_export_rows(table)
    assert header[-1] == "年终考核得分(月1:半年2)" and rows[0][-1] == 66.7


async def test_export_marks_chairs_and_masks_phones(sim, db, clock, monkeypatch):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    await take(sim, "oChair", "B")
    await take(sim, "oWorker", "B")
    async with db() as s, s.begin():
        await s.execute(update(Member).where(Member.openid == "oWorker").values(phone="13812345678", name="孙八"))
    async with db() as s:
        assert await ops.chair_openids(s) == set()  # the chairs table (if any) has nobody bound

    async def bound(_session):  # noqa: ANN001, ANN202
        return {"oChair"}

    monkeypatch.setattr(ops, "chair_openids", bound)
    async with db() as s:
        table = await ops.year_table(s, 2026, clock.now(), month_weight=1, half_weight=2)
    header, rows = ops.year_export_rows(table)
    by_openid = {r.openid: row for r, row in zip(table.rows, rows)}
    assert by_openid["oWorker"][1] == "孙八" and by_openid["oWorker"][3] == "138****5678"
    assert by_openid["oChair"][4] == "是" and by_openid["oWorker"][4] == ""
    assert "13812345678" not in ops.to_csv(header, rows).decode("utf-8-sig")


async def test_drawing_avoids_repeats_within_a_year(db, clock, app):
    await add_bank(db, clock)  # 5 questions
    async with db() as s, s.begin():
        drawn = []
        for m in range(1, 6):
            p = await ops.create_period(s, f"2026-{m:02d}", now=clock.now(), tz="Asia/Shanghai")
            drawn += [q.id for q in await ops.period_questions(s, p)]
        assert len(drawn) == 5 and len(set(drawn)) == 5
        p6 = await ops.create_period(s, "2026-06", now=clock.now(), tz="Asia/Shanghai", count=2)
        assert len(await ops.period_questions(s, p6)) == 2  # bank exhausted: reuse is allowed
        h1 = await ops.create_period(s, "2026-H1", now=clock.now(), tz="Asia/Shanghai")
        assert len(await ops.period_questions(s, h1)) == 5  # only 5 in the bank
