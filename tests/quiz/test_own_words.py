"""The quiz in a worker's own words, through the signed webhook: an option given by its own text
(「25人」) or its place (「第二个」), and the score asked for in a sentence (「我考了多少分」)."""
from __future__ import annotations

import pytest

from tests.quiz.test_answering import answers
from tests.support.quiz import add_bank, add_period


@pytest.mark.parametrize("said", ["25人", "第二个", "选25人", "二"])
async def test_an_option_by_its_text_or_its_place(sim, db, clock, said: str) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])  # single choice: 10人 / 25人 / 50人, correct B
    u = sim.user("oOwnWords")
    await u.send("答题")
    assert "回答正确" in await u.send(said)
    [a] = await answers(db)
    assert a.chosen == "B" and a.correct is True


async def test_words_of_no_option_are_asked_again(sim, db, clock) -> None:  # noqa: ANN001
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    u = sim.user("oOwnWords2")
    await u.send("答题")
    assert (await u.send("第五个")).startswith("请直接回复选项字母作答")
    assert await answers(db) == []


async def test_the_score_asked_for_in_a_sentence(sim, db, clock) -> None:  # noqa: ANN001
    u = sim.user("oScore")
    expected = await u.send("成绩")
    for said in ("我考了多少分", "我得了几分啊", "看看我的分数"):
        assert await u.send(said) == expected, said
