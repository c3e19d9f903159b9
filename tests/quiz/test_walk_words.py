"""From a walk-through as workers taking the quiz, through the signed webhook: an option said with
Chinese numerals (「二十五个人。」 for 「25人」), the score asked for mid-quiz (the question stays on the
table), and 「继续」 after 暂停."""
from __future__ import annotations

import pytest

from tests.quiz.test_answering import answers
from tests.support.quiz import add_bank, add_period

NOT_LETTERS = "请直接回复选项字母作答"


@pytest.mark.parametrize("kind, said", [("voice", "二十五人。"), ("voice", "二十五个人。"), ("text", "二十五人"),
                                        ("text", "选二十五个人")])
async def test_an_option_said_with_chinese_numerals(sim, db, clock, kind: str, said: str) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])  # 10人 / 25人 / 50人, correct B
    u = sim.user("oNumerals")
    await u.send("答题")
    assert (await u.voice(recognition="三十人。")).startswith(NOT_LETTERS)  # numerals of no option
    reply = await (u.voice(recognition=said) if kind == "voice" else u.send(said))
    assert "回答正确" in reply, reply
    [a] = await answers(db)
    assert a.chosen == "B"


async def test_the_score_asked_mid_quiz_is_shown_and_the_quiz_kept(sim, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", ids[:2])
    u = sim.user("oScoreMid")
    await u.send("答题")
    assert "回答正确" in await u.send("B")  # question 2 is on the table
    reply = await u.send("我考了多少分")
    assert reply.startswith("您2026年的答题成绩：") and NOT_LETTERS not in reply
    assert "已答 1/2 题" in reply and reply.endswith("请回复全部正确选项的字母，例如 AC。")
    assert "第 2/2 题" in reply and "答题已暂停" not in reply
    assert "回答正确" in await u.send("ABCD")  # still answering, no 答题 needed
    assert len(await answers(db)) == 2


@pytest.mark.parametrize("again", ["继续", "接着答", "继续。"])  # (继续答题 was a start word already)
async def test_go_on_after_a_pause_resumes_the_quiz(sim, db, clock, again: str) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", ids[:2])
    u = sim.user("oGoOn")
    if "答" not in again:  # a bare 继续 with nothing paused is not the quiz (接着答 starts it, as 答题)
        assert "第 1/2 题" not in await u.send(again)
    await u.send("答题")
    await u.send("B")
    assert "先暂停" in await u.send("暂停")
    reply = await u.send(again)
    assert "第 2/2 题" in reply and "工会经费" in reply and "没太明白" not in reply
    assert "回答正确" in await u.send("ABCD")


async def test_go_on_mid_question_asks_it_again(sim, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", ids[:2])
    u = sim.user("oGoOn2")
    await u.send("答题")
    reply = await u.send("继续")
    assert reply.startswith("我们接着来") and "第 1/2 题" in reply
    assert await answers(db) == []


async def test_go_on_with_a_form_draft_and_a_paused_quiz_names_both(sim, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", ids[:2])
    u = sim.user("oGoOn4")
    await u.send("帮扶")  # the hardship form opens, then is left for the quiz: kept as a draft
    await u.send("答题")
    await u.send("B")
    await u.send("暂停")
    reply = await u.send("继续")
    assert "回复「答题」接着答" in reply and "回复「帮扶」接着填" in reply
