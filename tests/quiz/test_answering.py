"""Taking the monthly quiz through the real webhook: formats, one attempt, windows, reveal."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.db.models.quiz import QuizAnswer
from handlers.quiz import ops
from handlers.quiz import scores as quiz_scores
from tests.support.quiz import add_bank, add_period, local, ops_ctx


async def answers(db, openid: str | None = None) -> list[QuizAnswer]:  # noqa: ANN001
    async with db() as s:
        q = select(QuizAnswer)
        if openid:
            q = q.where(QuizAnswer.openid == openid)
        return list(await s.scalars(q))


async def test_monthly_question_right_answer_with_explanation(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[1]])
    u = sim.user("oTaker1")
    reply = await u.send("答题")
    assert "2026年11月 每月一题" in reply and "工会经费的来源" in reply
    assert "A. 会费" in reply and "D. 政府补助" in reply and "多选" in reply
    assert "全部正确选项" in reply and "一个选项" not in reply
    reply = await u.send("a、b c，D")
    assert "回答正确" in reply and "以上都是" in reply
    assert "都已经答完" in reply


@pytest.mark.parametrize("text", ["AC", "a c", "A、C", "ac", "Ａ，Ｃ", "c a", "答案:AC", "答案：A、C", "我的答案是 AC"])
async def test_letter_formats_are_all_accepted(sim, db, clock, text):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[4]])  # correct: ABC
    u = sim.user("oFormats")
    await u.click("QUIZ")
    reply = await u.send(text)
    assert "正确答案是 ABC" in reply and "您选的是 AC" in reply
    [a] = await answers(db)
    assert a.chosen == "AC" and a.correct is False


async def test_invalid_letters_are_asked_again_with_a_hint(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])  # single choice, options A–C
    u = sim.user("oHint")
    assert "请回复一个选项字母" in await u.send("答题")
    reply = await u.send("E")
    assert "A–C" in reply and "建立基层工会委员会" in reply
    reply = await u.send("AB")
    assert "单选题" in reply
    reply = await u.send("嗯嗯")
    assert "选项字母" in reply
    assert await answers(db) == []
    reply = await u.send("b")
    assert "回答正确" in reply
    assert len(await answers(db)) == 1


async def test_one_attempt_resend_and_repeat_cannot_change_the_score(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    u = sim.user("oOnce")
    await u.send("答题")
    first = await u.send("A")  # wrong
    assert "回答错误" in first and "正确答案是 B" in first
    assert await u.resend() == first  # WeChat retries the same message
    again = await u.send("答题")
    assert "都已经答完" in again
    await u.send("B")  # a repeated (now right) answer outside the question
    [a] = await answers(db)
    assert a.chosen == "A" and a.correct is False
    reply = await u.send("成绩")
    assert "0 分（答对 0/1）" in reply


async def test_database_refuses_a_second_answer_to_the_same_question(db, clock, app):
    ids = await add_bank(db, clock)
    period = await add_period(db, clock, "2026-11", [ids[0]])
    async with db() as s, s.begin():
        q = await s.get(ops.QuizQuestion, ids[0])
        await ops.record_answer(s, ops_ctx(clock), period, q, "oRace", "A")
        with pytest.raises(ops.AlreadyAnswered):
            await ops.record_answer(s, ops_ctx(clock), period, q, "oRace", "B")
    with pytest.raises(IntegrityError):
        async with db() as s, s.begin():
            s.add(QuizAnswer(period_id=period.id, question_id=ids[0], openid="oRace", chosen="B", correct=True,
                             answered_at=clock.now()))
    [a] = await answers(db)
    assert a.chosen == "A"


async def test_period_windows_with_time_travel(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-12", [ids[2]])  # default window: all of December
    u = sim.user("oWindow")
    reply = await u.send("答题")
    assert "没有进行中的答题" in reply and "2026年12月 每月一题" in reply and "12月1日 00:00" in reply
    clock.set(local(2026, 12, 1, 0, 0))
    assert "劳动者每日工作时间" in await u.send("答题")
    clock.set(local(2026, 12, 31, 23, 59))
    assert "劳动者每日工作时间" in await u.send("答题")
    clock.advance(minutes=2)
    reply = await u.send("B")
    assert "已经结束" in reply and "没有计入" in reply
    assert await answers(db) == []
    assert "没有进行中的答题" in await u.send("答题")


async def test_answers_hidden_until_the_period_closes(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]], reveal="after_close")
    u = sim.user("oHidden")
    await u.send("答题")
    reply = await u.send("A")
    assert "已记录您的答案：A" in reply
    assert "正确" not in reply and "错误" not in reply and "25人" not in reply
    assert "还没结束" in await u.send("解析")
    reply = await u.send("成绩")
    assert "已答 1/1 题，11月30日结束后公布得分和解析" in reply and "0 分" not in reply
    clock.set(local(2026, 12, 1, 8, 0))
    reply = await u.send("解析")
    assert "正确答案：B" in reply and "您的答案 A ❌" in reply and "会员25人以上" in reply
    assert "0 分（答对 0/1）" in await u.send("成绩")


async def test_another_keyword_pauses_and_answer_resumes(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", ids[:2])
    u = sim.user("oPause")
    await u.send("答题")
    assert "回答正确" in await u.send("B")  # question 1; question 2 is now asked
    reply = await u.send("成绩")  # another feature's keyword leaves the question
    assert "成绩" in reply and "排名" in reply
    reply = await u.send("答题")
    assert "第 2/2 题" in reply and "工会经费" in reply


async def test_removed_question_keeps_past_answers(sim, db, clock):
    ids = await add_bank(db, clock)
    period = await add_period(db, clock, "2026-11", [ids[0]])
    u = sim.user("oKeep")
    await u.send("答题")
    await u.send("B")
    async with db() as s, s.begin():
        await ops.delete_question(s, ops_ctx(clock), await s.get(ops.QuizQuestion, ids[0]))
    async with db() as s:
        bank, _ = await ops.list_questions(s)
        assert ids[0] not in [q.id for q in bank]
        scores = await quiz_scores.period_scores(s, period)
    assert scores["oKeep"].correct == 1
    assert "答对 1/1" in await u.send("成绩")
    assert "会员25人以上" in await u.send("解析")
