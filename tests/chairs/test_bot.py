"""Chairs in chat: binding with one-time codes, and the quarterly report dialogue."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.db.models.chairs import Chair, ChairReport
from bot.operations import OpsContext
from handlers.chairs import ops
from handlers.chairs.quarters import Quarter
from tests.support.chairs import ANSWERS, bound_chair, file_report, issue_code, make_chair


async def test_good_code_binds_and_mentions_the_next_deadline(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    code = await issue_code(db, clock, settings, chair.id)
    reply = await sim.user("oChair1").send(f"绑定 {code.lower()}")
    assert "绑定成功" in reply and "王建国" in reply
    assert "2026年第四季度信息报送截止：12月25日（周五）" in reply
    async with db() as s:
        assert (await s.get(Chair, chair.id)).openid == "oChair1"


async def test_reused_code_is_refused_for_someone_else(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    code = await issue_code(db, clock, settings, chair.id)
    assert "绑定成功" in await sim.user("oChair1").send(f"绑定 {code}")
    reply = await sim.user("oOther").send(f"绑定 {code}")
    assert "已经用过" in reply
    async with db() as s:
        assert (await s.get(Chair, chair.id)).openid == "oChair1"


async def test_expired_code_is_refused(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    code = await issue_code(db, clock, settings, chair.id)
    clock.advance(hours=settings.chairs.bind_code_ttl_hours + 1)
    reply = await sim.user("oChair1").send(f"绑定 {code}")
    assert "失效" in reply
    async with db() as s:
        assert (await s.get(Chair, chair.id)).openid is None


async def test_new_code_replaces_the_old_one(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    old = await issue_code(db, clock, settings, chair.id)
    new = await issue_code(db, clock, settings, chair.id)
    assert "失效" in await sim.user("oChair1").send(f"绑定 {old}")
    assert "绑定成功" in await sim.user("oChair1").send(f"绑定 {new}")


async def test_wrong_codes_are_throttled_per_account(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    code = await issue_code(db, clock, settings, chair.id)
    u = sim.user("oGuess")
    replies = [await u.send(f"绑定 ZZZZ{i:02d}") for i in range(5)]
    assert "绑定码不对" in replies[0] and "4次" in replies[0]
    # the sixth try is refused even with the right code
    assert "次数太多" in await u.send(f"绑定 {code}")
    # another account is not affected
    assert "绑定成功" in await sim.user("oChair1").send(f"绑定 {code}")
    # an hour later the guesser may try again
    clock.advance(hours=1, minutes=1)
    assert "绑定码不对" in await u.send("绑定 ZZZZ99")


async def test_report_is_for_bound_chairs_only(sim, db, clock) -> None:  # noqa: ANN001
    reply = await sim.user("oWorker").send("报送")
    assert "绑定" in reply and "绑定码" in reply
    reply = await sim.user("oWorker").click("REPORT")
    assert "绑定码" in reply


async def test_report_dialogue_checks_figures_and_stores_once(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    u = sim.user("oChair1")
    first = await u.click("REPORT")
    assert "2026年第四季度" in first and "12月25日" in first and "25人以上" in first
    assert "请回复一个数字，例如 12。" in await u.send("很多")
    assert "企业数应在0–100000家之间" in await u.send("1000000")
    assert "已建立工会" in await u.send("四十家")  # Chinese numerals, as voice input spells them
    reply = await u.send("41")  # more unionised than enterprises
    assert "不能多于" in reply
    await u.send("38")
    reply = await u.send("39")  # more wage agreements than unionised
    assert "不能多于" in reply
    for a in ANSWERS[2:]:
        reply = await u.send(a)
    assert "请核对" in reply and "建会率 95%" in reply
    reply = await u.send("确认")
    assert "已收到" in reply and "12月25日" in reply and "修改" in reply
    async with db() as s:
        rep = (await s.scalars(select(ChairReport))).one()
    assert (rep.chair_id, rep.quarter, rep.enterprises, rep.unionised, rep.wage_agreements, rep.harmonious,
            rep.visits) == (chair.id, "2026Q4", 40, 38, 35, 16, 6)
    assert rep.on_time and rep.channel == "wechat"


async def test_report_can_be_corrected_until_the_deadline_then_not(sim, db, clock, settings) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings)
    u = sim.user("oChair1")
    await u.send("报送")
    await file_report(u)
    await u.send("确认")
    reply = await u.send("报送")
    assert "沿用" in reply and "40家" in reply
    reply = await u.send("沿用")  # enterprises kept
    reply = await u.send("39")  # unionised changed
    for _ in range(5):
        reply = await u.send("沿用")
    assert "请核对" in reply
    reply = await u.send("确认")
    assert "已更新" in reply
    async with db() as s:
        reps = (await s.scalars(select(ChairReport))).all()
    assert len(reps) == 1 and reps[0].unionised == 39 and reps[0].visits == 6
    clock.set(datetime(2026, 12, 26, 9, 0))
    reply = await u.send("报送")
    assert "已经收到" in reply and "不能再修改" in reply and "2027年第一季度" in reply


async def test_first_report_after_the_deadline_is_late(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    clock.set(datetime(2026, 12, 28, 10, 0))
    u = sim.user("oChair1")
    await u.send("报送")
    await file_report(u)
    reply = await u.send("确认")
    assert "补报" in reply
    async with db() as s:
        rep = await ops.report_for(s, chair.id, Quarter(2026, 4))
    assert rep is not None and not rep.on_time


async def test_deactivated_chair_cannot_report(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    async with db() as s, s.begin():
        await ops.set_active(s, OpsContext(clock, settings), chair.id, False)
    assert "绑定码" in await sim.user("oChair1").send("报送")


async def test_a_chair_correcting_a_figure_in_a_sentence_is_told_how(sim, db, clock, settings) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings, openid="oChairFix")
    reply = await sim.user("oChairFix").send("走访的数填错了，应该是9家")
    # no report on file yet: nothing to correct, how to file it (a report on file: tests/chairs/test_walk_deadline.py)
    assert reply.startswith("您2026年第四季度的报送还没有提交过，回复「报送」就可以填写") and "已转给工作人员" not in reply
    other = await sim.user("oNotAChair").send("走访的数填错了，应该是9家")  # not a chair: as any other message
    assert "要修改报送的数字" not in other
