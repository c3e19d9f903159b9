"""The half-year test: one dialogue, a score at the end, pause and resume, a restart."""
from __future__ import annotations

from sqlalchemy import select

from bot.db.models.quiz import QuizAnswer
from tests.support.quiz import add_bank, add_period, local
from bot.wechat.simulator import WeChatSim


async def test_test_with_pause_resume_restart_and_score(sim, db, clock, make_app, aiohttp_client, settings):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-H2", ids)  # default window: December
    u = sim.user("oTester")
    assert "没有进行中的半年测试" in await u.send("测试")
    clock.set(local(2026, 12, 5, 9, 0))
    reply = await u.send("测试")
    assert "2026年下半年测试" in reply and "共 5 题" in reply and "暂停" in reply and "第 1/5 题" in reply
    assert "第 2/5 题" in await u.send("B")  # right
    assert "第 3/5 题" in await u.send("A")  # wrong (ABCD)
    assert "已答的题目都保存好了" in await u.send("暂停")
    reply = await u.send("答题")
    assert "欢迎回来" in reply and "第 3/5 题" in reply
    assert "第 4/5 题" in await u.send("b")  # right

    # the service restarts: a second app on the same database picks the dialogue up
    app2 = make_app()
    client2 = await aiohttp_client(app2)
    u2 = WeChatSim(client2, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock).user("oTester")
    assert "第 5/5 题" in await u2.send("A")  # right
    reply = await u2.send("A B C")  # right
    assert "全部完成" in reply and "答对 4/5 题" in reply and "80 分" in reply
    async with db() as s:
        rows = list(await s.scalars(select(QuizAnswer).where(QuizAnswer.openid == "oTester")))
    assert len(rows) == 5
    assert "都已经答完" in await u2.send("测试")


async def test_window_closing_mid_test_refuses_the_rest(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-H2", ids, opens_at=local(2026, 12, 1), closes_at=local(2026, 12, 20))
    u = sim.user("oLate")
    clock.set(local(2026, 12, 19, 23, 0))
    await u.send("测试")
    assert "第 2/5 题" in await u.send("B")
    clock.set(local(2026, 12, 20, 0, 30))
    reply = await u.send("ABCD")
    assert "已经结束" in reply and "没有计入" in reply
    assert "没有进行中的半年测试" in await u.send("测试")
    reply = await u.send("成绩")
    assert "答对 1/5" in reply and "20 分" in reply


async def test_month_first_then_the_half_year_test(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-12", [ids[0]])
    await add_period(db, clock, "2026-H2", ids[1:3])
    clock.set(local(2026, 12, 10, 12, 0))
    u = sim.user("oBoth")
    reply = await u.send("答题")
    assert "2026年12月 每月一题" in reply
    reply = await u.send("B")
    assert "回答正确" in reply and "都已经答完" in reply
    reply = await u.send("答题")
    assert "2026年下半年测试" in reply and "第 1/2 题" in reply


async def test_hidden_answers_in_the_test_give_the_score_after_close(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-H2", ids[:2], reveal="after_close")
    clock.set(local(2026, 12, 2, 9, 0))
    u = sim.user("oQuiet")
    assert "得分和解析12月31日测试结束后公布" in await u.send("测试")
    reply = await u.send("C")
    assert reply.startswith("已记录：C。") and "正确答案" not in reply
    reply = await u.send("ABCD")
    assert "全部完成" in reply and "12月31日结束后公布" in reply and "解析" in reply
    assert "答对" not in reply and "得分 " not in reply  # the score waits for the close, as 成绩 says
    clock.set(local(2027, 1, 2, 9, 0))
    assert "2026年下半年测试：50 分（答对 1/2）" in await u.send("成绩")


async def test_explanations_mid_test_cover_only_answered_questions(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-H2", ids[:3])  # reveals immediately, opens in December
    u = sim.user("oPeek")
    assert "还没开始" in await u.send("解析 2026-H2")  # no answers before the test opens
    clock.set(local(2026, 12, 3, 9, 0))
    assert "还没有作答" in await u.send("解析 2026-h2")
    await u.send("测试")
    await u.send("B")  # question 1 answered; question 2 asked
    reply = await u.send("解析 2026-H2")
    assert "会员25人以上" in reply and "其余 2 题作答后" in reply
    assert "以上都是" not in reply and "ABCD" not in reply and "每日不超过八小时" not in reply
    reply = await u.send("答题")
    assert "第 2/3 题" in reply  # the test goes on where it stopped
    clock.set(local(2027, 1, 1, 0, 1))
    reply = await u.send("解析 2026-H2")
    assert "以上都是" in reply and "您未作答" in reply and "其余" not in reply
