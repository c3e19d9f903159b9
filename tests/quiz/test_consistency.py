"""What a worker reads about a quiz period never contradicts itself (regressions).

One rule (`quiz_ops.TakerView`) decides what a worker may see; the end-of-test message,
成绩 and 解析 must say the same thing, before and after the period closes, for both kinds
(每月一题, 半年测试) and both reveal modes:

1. the half-year test ended with a score while 成绩 said results come after the close;
2. plain 解析 after the test closed showed another period (the December month question);
3. mid-month 成绩 showed 「0 分（答对 0/3）」 after 1 of 3 questions was answered.

Answers are also read the way people type or say them (「选B」「A和C」, voice's 「B。」).
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.db.models.quiz import QuizAnswer
from handlers.quiz import ops
from tests.support.quiz import add_bank, add_period, local

# The period under test: 3 single-choice questions, keys B, B, A (bank questions 1, 3, 4).
QUESTIONS = (0, 2, 3)
FULL = ("A", "B", "A")  # wrong, right, right → 2/3
PARTIAL = ("A",)  # 1 of 3 answered, wrong
STEMS = ("建立基层工会委员会", "劳动者每日工作时间", "集体合同订立后")
EXPLANATIONS = ("会员25人以上", "每日不超过八小时", "报送劳动行政部门")

KINDS = {
    # code, start word, a moment while open, its last day, a moment after the close, the year 成绩 shows
    "month": ("2026-11", "答题", local(2026, 11, 24, 10, 0), "11月30日", local(2026, 12, 2, 9, 0)),
    "half": ("2026-H2", "测试", local(2026, 12, 10, 9, 0), "12月31日", local(2027, 1, 3, 9, 0)),
}
TITLES = {"month": "2026年11月 每月一题", "half": "2026年下半年测试"}


def scores_in(text: str) -> list[str]:
    """The scores (「… 分」) a text states."""
    return re.findall(r"(\d+(?:\.\d+)?) 分", text)


def period_line(scores_reply: str, title: str) -> str:
    m = re.search(rf"· {title}：(.*)", scores_reply)
    assert m, scores_reply
    return m.group(1)


async def stored(db, openid: str) -> list[QuizAnswer]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(QuizAnswer).where(QuizAnswer.openid == openid)))


# kind × reveal × how much was answered → what 成绩 shows while open / after the close
CASES = [
    # (kind, reveal, answers, 成绩 while open, 成绩 after the close)
    (kind, "immediate", PARTIAL, "已答 1/3 题，答对 0 题，{day}前回复「答题」接着做", "0 分（答对 0/3，2 题未作答）")
    for kind in KINDS
] + [
    (kind, "immediate", FULL, "66.7 分（答对 2/3）", "66.7 分（答对 2/3）") for kind in KINDS
] + [
    (kind, "after_close", PARTIAL, "已答 1/3 题，{day}结束后公布得分和解析", "0 分（答对 0/3，2 题未作答）")
    for kind in KINDS
] + [
    (kind, "after_close", FULL, "已答 3/3 题，{day}结束后公布得分和解析", "66.7 分（答对 2/3）") for kind in KINDS
]


@pytest.mark.parametrize(("kind", "reveal", "given", "while_open", "after_close"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{'full' if c[2] == FULL else 'partial'}" for c in CASES])
async def test_end_message_scores_and_explanations_agree(sim, db, clock, kind, reveal, given, while_open,
                                                         after_close):
    ids = await add_bank(db, clock)
    code, start, during, day, later = KINDS[kind]
    title = TITLES[kind]
    await add_period(db, clock, code, [ids[i] for i in QUESTIONS], reveal=reveal)
    clock.set(during)
    u = sim.user("oSame")
    intro = await u.send(start)
    assert "第 1/3 题" in intro
    if reveal == "after_close":
        assert f"{day}" in intro and "结束后公布" in intro and "答完就能看到得分" not in intro
    replies = [await u.send(letters) for letters in given]
    if given == PARTIAL:
        assert "第 2/3 题" in replies[-1]
        await u.send("暂停")
    end = replies[-1]
    rows = await stored(db, "oSame")
    assert len(rows) == len(given) and sum(r.correct for r in rows) == (2 if given == FULL else 0)

    # ---- while the period is open
    scores = await u.send("成绩")
    line = period_line(scores, title)
    assert line == while_open.format(day=day)
    assert "排名第" not in scores  # nothing has closed yet: no year total or rank to show
    assert f"「{title}」结束后公布综合得分和排名" in scores
    explained = await u.send("解析")
    if given == FULL:
        assert "全部完成" in end if kind == "half" else "都已经答完" in end
        # the end message states exactly the score 成绩 states (or none, like 成绩)
        assert scores_in(end) == scores_in(line)
        if reveal == "after_close":
            assert f"{day}结束后公布" in end and "答对" not in end
    if reveal == "immediate":
        assert f"您的成绩：{line}" in explained
        shown = [e for e in EXPLANATIONS if e in explained]
        assert shown == (list(EXPLANATIONS) if given == FULL else [EXPLANATIONS[0]])
        if given == PARTIAL:
            assert "其余 2 题作答后" in explained
    else:
        assert explained.startswith(f"「{title}」还没结束：{line}")
        assert not any(e in explained for e in EXPLANATIONS) and "正确答案" not in explained
        assert scores_in(explained) == []

    # ---- after the close: the score, the rank, every answer, in the same words everywhere
    clock.set(later)
    scores = await u.send("成绩")
    assert "您2026年的答题成绩" in scores
    line = period_line(scores, title)
    assert line == after_close
    assert f"综合得分 {scores_in(after_close)[0]} 分，排名第 1 名（共 1 人）" in scores
    explained = await u.send("解析")
    assert explained.startswith(f"【{title}】答案与解析\n您的成绩：{after_close}")
    assert all(e in explained for e in EXPLANATIONS)
    assert ("您未作答" in explained) == (given == PARTIAL)
    assert explained == await u.send(f"解析 {code}")


async def test_partial_month_never_reads_as_a_final_score(sim, db, clock):
    """Defect 3: 1 of 3 answered mid-month (wrong) used to show 「0 分（答对 0/3）」."""
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[i] for i in QUESTIONS])
    u = sim.user("oMid")
    await u.send("答题")
    await u.send("A")
    await u.send("暂停")
    reply = await u.send("成绩")
    assert "0 分" not in reply and "答对 0/3" not in reply
    assert "已答 1/3 题，答对 0 题" in reply


async def test_plain_explanations_follow_the_period_last_taken(sim, db, clock):
    """Defect 2: after the test closed, plain 解析 showed the December month question."""
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-12", [ids[2]])  # reveals immediately
    await add_period(db, clock, "2026-H2", [ids[0], ids[3]], reveal="after_close")
    u = sim.user("oLast")
    clock.set(local(2026, 12, 2, 9, 0))
    await u.send("答题")
    assert "回答正确" in await u.send("B")  # the month question
    clock.set(local(2026, 12, 10, 9, 0))
    await u.send("测试")
    await u.send("B")
    end = await u.send("B")  # test: 1/2 right
    assert "全部完成" in end and "12月31日结束后公布" in end and scores_in(end) == []

    # the test is the latest taken: 解析 says when it is revealed and names the other one
    reply = await u.send("解析")
    assert reply.startswith("「2026年下半年测试」还没结束：已答 2/2 题，12月31日结束后公布得分和解析")
    assert "您还参加了「2026年12月 每月一题」，回复「解析 2026-12」查看" in reply
    assert "每日不超过八小时" not in reply  # the month's explanation is not shown as if it were the test's

    clock.set(local(2027, 1, 2, 9, 0))
    reply = await u.send("解析")
    assert reply.startswith("【2026年下半年测试】答案与解析\n您的成绩：50 分（答对 1/2）")
    assert "会员25人以上" in reply and "报送劳动行政部门" in reply and "您的答案 B ❌" in reply
    assert "每日不超过八小时" not in reply and "「解析 2026-12」" in reply
    scores = await u.send("成绩")
    assert "2026年下半年测试：50 分（答对 1/2）" in scores
    assert "2026年12月 每月一题：100 分（答对 1/1）" in scores
    assert "排名第 1 名（共 1 人）" in scores
    assert "每日不超过八小时" in await u.send("解析 2026-12")


async def test_all_done_reply_agrees_with_the_end_message(sim, db, clock):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]], reveal="after_close")
    u = sim.user("oAgain")
    await u.send("答题")
    end = await u.send("B")
    again = await u.send("答题")
    for text in (end, again):
        assert "都已经答完" in text and "11月30日结束后公布" in text and scores_in(text) == []
    clock.set(local(2026, 12, 1, 8, 0))
    assert "2026年11月 每月一题：100 分（答对 1/1）" in await u.send("成绩")


# ------------------------------------------------------------------ answers as people type or say them
@pytest.mark.parametrize(("text", "letters"), [
    ("B", "B"), ("b", "B"), ("B。", "B"), ("Ｂ", "B"), ("Ｂ。", "B"), ("选B", "B"), ("选 b。", "B"), ("我选B", "B"),
    ("答案是B。", "B"), ("B吧", "B"), ("选项B", "B"), ("B选项", "B"), ("我选AC", "AC"), ("A和C", "AC"),
    ("A和C。", "AC"), ("a、c", "AC"), ("A跟C", "AC"), ("我选A、C。", "AC"), ("c a", "AC"), ("E", "E"),
    ("OK", None), ("ok", None), ("hello", None), ("G", None), ("好的", None), ("不知道", None), ("暂停", None),
    ("选", None), ("。", None), ("", None), ("成绩", None), ("B8小时", None),
])
def test_parse_letters(text, letters):
    assert ops.parse_letters(text) == letters


@pytest.mark.parametrize("how", ["选B", "我选B", "b", "B。", "Ｂ", "答案是b。", "voice:B。", "voice:选B。"])
async def test_single_answer_as_typed_or_said(sim, db, clock, how):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])  # key B
    u = sim.user("oSay")
    await u.send("答题")
    reply = await (u.voice(recognition=how[6:]) if how.startswith("voice:") else u.send(how))
    assert "回答正确" in reply
    [a] = await stored(db, "oSay")
    assert a.chosen == "B" and a.correct is True


@pytest.mark.parametrize("how", ["我选AC", "A和C", "a c", "A、C。", "voice:A和C。", "voice:我选AC。"])
async def test_multiple_answer_as_typed_or_said(sim, db, clock, how):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[4]])  # key ABC
    u = sim.user("oSayMany")
    await u.send("答题")
    reply = await (u.voice(recognition=how[6:]) if how.startswith("voice:") else u.send(how))
    assert "您选的是 AC" in reply and "正确答案是 ABC" in reply
    [a] = await stored(db, "oSayMany")
    assert a.chosen == "AC" and a.correct is False


@pytest.mark.parametrize("text", ["OK", "hello", "G", "不知道"])
async def test_what_is_not_an_answer_is_not_recorded(sim, db, clock, text):
    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    u = sim.user("oNot")
    await u.send("答题")
    reply = await u.send(text)
    assert "回答正确" not in reply and "回答错误" not in reply
    assert await stored(db, "oNot") == []
    assert "回答正确" in await u.send("B")  # the question is still there
