"""Sharper tests for handlers/quiz/ops.py (mutation group `ops-quiz`), database side: the bank's
lists, search and topics, a period's questions (chosen, drawn, replaced, refused), editing and
deleting periods, removing/restoring questions, answers and re-marking, the open notices and the
job's drawing — direct calls of the operations on the real test database."""
from __future__ import annotations

import random
import pytest
from sqlalchemy import select, update

from bot import outbox
from bot.db.models.core import Member, Outbox
from bot.db.models.quiz import QuizNotice, QuizPeriod, QuizPeriodQuestion, QuizQuestion
from handlers.quiz import ops
from tests.support.quiz import local, ops_ctx


@pytest.fixture
def db(sessionmaker):  # noqa: ANN001, ANN201
    """The test database without the app (these tests call the operations directly)."""
    return sessionmaker


async def new_question(db, clock, stem: str, answer: str = "A", **kw) -> int:  # noqa: ANN001, ANN003
    async with db() as s, s.begin():
        q = await ops.create_question(s, ops_ctx(clock), stem=stem, options=["是", "否", "不确定"], answer=answer,
                                      **kw)
        return q.id


async def new_period(db, clock, code: str, ids: list[int] | None = None, **kw) -> int:  # noqa: ANN001, ANN003
    async with db() as s, s.begin():
        p = await ops.create_period(s, ops_ctx(clock), code, question_ids=ids, draw=False, **kw)
        return p.id


async def remove(db, clock, qid: int) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        await ops.delete_question(s, ops_ctx(clock), await s.get(QuizQuestion, qid))


async def answer(db, clock, pid: int, qid: int, openid: str, letters: str):  # noqa: ANN001, ANN201
    async with db() as s, s.begin():
        return await ops.record_answer(s, ops_ctx(clock), await s.get(QuizPeriod, pid), await s.get(QuizQuestion, qid),
                                       openid, letters)


async def questions_of(db, pid: int) -> list[int]:  # noqa: ANN001
    async with db() as s:
        return [q.id for q in await ops.period_questions(s, await s.get(QuizPeriod, pid))]


# ---- the bank: lists, search, topics --------------------------------------------------------------

async def bank(db, clock) -> dict[str, int]:  # noqa: ANN001
    ids = {
        "甲": await new_question(db, clock, "甲：工会会员的权利", topic="工会法"),
        "乙": await new_question(db, clock, "乙：劳动法第88条", topic="劳动"),
        "丙": await new_question(db, clock, "丙：会费100%用于会员", topic="工会法"),
        "丁": await new_question(db, clock, "丁：工会的经费", topic="工会法"),
        "戊": await new_question(db, clock, "戊：没有专题的题"),
    }
    await remove(db, clock, ids["丁"])
    return ids


async def test_question_lists_filters_order_and_totals(db, clock) -> None:  # noqa: ANN001
    ids = await bank(db, clock)
    by_id = {v: k for k, v in ids.items()}

    async def listed(**kw) -> tuple[list[str], int]:  # noqa: ANN003
        async with db() as s:
            rows, total = await ops.list_questions(s, **kw)
            return [by_id[q.id] for q in rows], total

    assert await listed() == (["戊", "丙", "乙", "甲"], 4)  # in the bank, newest first
    assert await listed(search="工会") == (["甲"], 1)
    assert await listed(search="会员") == (["丙", "甲"], 2)
    assert await listed(topic="工会法") == (["丙", "甲"], 2)
    assert await listed(deleted=True) == (["丁"], 1)
    assert await listed(limit=1) == (["戊"], 4)
    assert await listed(offset=1) == (["丙", "乙", "甲"], 4)
    assert await listed(offset=1, limit=2) == (["丙", "乙"], 4)
    assert await listed(search="没有这道题") == ([], 0)

    async def queried(**kw) -> list[str]:  # noqa: ANN003
        async with db() as s:
            return [by_id[q.id] for q in await s.scalars(ops.question_query(**kw))]

    assert await queried() == ["戊", "丙", "乙", "甲"]
    assert await queried(topic="工会法") == ["丙", "甲"]
    assert await queried(deleted=True) == ["丁"]
    assert await queried(topic="劳动", deleted=True) == []
    async with db() as s:
        assert await ops.topics(s) == sorted(["工会法", "劳动"])


async def test_bank_search_by_words_or_number(db, clock) -> None:  # noqa: ANN001
    ids = await bank(db, clock)
    by_id = {v: k for k, v in ids.items()}
    async with db() as s:
        big = QuizQuestion(id=1_000_000_000, stem="己：十位编号的题", options=["是", "否"], answer="A",
                           created_at=clock.now(), updated_at=clock.now())
        nine = QuizQuestion(id=100_000_000, stem="庚：九位编号的题", options=["是", "否"], answer="A",
                            created_at=clock.now(), updated_at=clock.now())
        s.add_all([big, nine])
        await s.commit()
    by_id[big.id], by_id[nine.id] = "己", "庚"

    async def found(term: str) -> set[str]:
        async with db() as s:
            return {by_id[q.id] for q in await s.scalars(select(QuizQuestion).where(ops.question_search(term)))}

    assert await found("工会") == {"甲", "丁"}
    assert await found("88") == {"乙"}  # digits of a stem (no question #88)
    assert await found(str(ids["丙"])) == {"丙"}
    assert await found(f"#{ids['丙']}") == {"丙"}
    assert await found(f"X{ids['丙']}") == set()  # not a number: words only
    assert await found("%") == {"丙"}  # a literal percent sign, not a wildcard
    assert await found("100000000") == {"庚"}  # nine digits: still a number
    assert await found("1000000000") == set()  # ten digits: searched as words only


# ---- a period's questions --------------------------------------------------------------------------

async def test_choosing_and_replacing_a_periods_questions(db, clock) -> None:  # noqa: ANN001
    q = [await new_question(db, clock, f"第{i}题") for i in range(4)]
    await remove(db, clock, q[3])
    nov = await new_period(db, clock, "2026-11", [q[0], q[1]])
    dec = await new_period(db, clock, "2026-12", [q[1], q[2]])
    ctx = ops_ctx(clock)

    async with db() as s, s.begin():
        chosen = await ops.set_period_questions(s, ctx, await s.get(QuizPeriod, nov), [q[2], q[0], q[1], q[2]])
        assert [x.id for x in chosen] == [q[2], q[0], q[1]]
    assert await questions_of(db, nov) == [q[2], q[0], q[1]]
    assert await questions_of(db, dec) == [q[1], q[2]]  # the other period keeps its list

    async with db() as s, s.begin():
        with pytest.raises(ops.QuizError) as info:
            await ops.set_period_questions(s, ctx, await s.get(QuizPeriod, nov), [q[0], 999999, q[3]])
        assert str(info.value) == f"题目 #999999、#{q[3]} 不存在或已移出题库。"
        with pytest.raises(ops.QuizError) as info:
            await ops.set_period_questions(s, ctx, await s.get(QuizPeriod, nov), [])
        assert str(info.value) == "请至少选择一道题。"
    assert await questions_of(db, nov) == [q[2], q[0], q[1]]

    await answer(db, clock, nov, q[2], "oA", "A")  # one answer locks the list
    async with db() as s, s.begin():
        assert await ops.questions_locked(s, await s.get(QuizPeriod, nov))
        assert not await ops.questions_locked(s, await s.get(QuizPeriod, dec))
        with pytest.raises(ops.QuizError) as info:
            await ops.set_period_questions(s, ctx, await s.get(QuizPeriod, nov), [q[0]])
        assert str(info.value) == "本期已经有人作答，不能再更换题目。"


async def test_drawing_a_periods_questions(db, clock) -> None:  # noqa: ANN001
    ctx = ops_ctx(clock)
    dec = await new_period(db, clock, "2026-12")
    async with db() as s, s.begin():
        with pytest.raises(ops.QuizError) as info:
            await ops.draw_questions(s, ctx, await s.get(QuizPeriod, dec), 2)
        assert str(info.value) == "题库里没有可用的题目，请先导入题目。"
    q = [await new_question(db, clock, f"第{i}题") for i in range(5)]
    async with db() as s, s.begin():
        drawn = await ops.draw_questions(s, ctx, await s.get(QuizPeriod, dec), 2)
        assert len(drawn) == 2 and set(x.id for x in drawn) <= set(q)
    assert await questions_of(db, dec) == [x.id for x in drawn]
    async with db() as s, s.begin():  # no count: the month's default from the settings
        drawn = await ops.draw_questions(s, ctx, await s.get(QuizPeriod, dec))
        assert len(drawn) == ctx.settings.quiz.questions_per_month
    # the same shuffle (seed) draws the same order, in periods of different years
    other = await new_period(db, clock, "2025-12")
    async with db() as s, s.begin():
        a = await ops.draw_questions(s, ctx, await s.get(QuizPeriod, dec), 5, rng=random.Random(7))
        b = await ops.draw_questions(s, ctx, await s.get(QuizPeriod, other), 5, rng=random.Random(7))
        assert [x.id for x in a] == [x.id for x in b] and len(a) == 5


async def test_drawing_prefers_questions_unused_this_year(db, clock) -> None:  # noqa: ANN001
    q1, q2, q3 = [await new_question(db, clock, f"第{i}题") for i in range(3)]
    await new_period(db, clock, "2025-11", [q2])
    await new_period(db, clock, "2025-12", [q2])  # last year's use does not count
    await new_period(db, clock, "2026-01", [q1])
    feb = await new_period(db, clock, "2026-02")
    async with db() as s, s.begin():
        drawn = await ops.draw_questions(s, ops_ctx(clock), await s.get(QuizPeriod, feb), 2, rng=random.Random(1))
        assert {x.id for x in drawn} == {q2, q3}


async def test_redrawing_ignores_the_periods_own_questions(db, clock) -> None:  # noqa: ANN001
    q1, q2 = [await new_question(db, clock, f"第{i}题") for i in range(2)]
    await new_period(db, clock, "2026-01", [q2])
    feb = await new_period(db, clock, "2026-02", [q1])
    for seed in range(12):  # whatever the shuffle: q2 was used this year, q1 only by this period
        async with db() as s, s.begin():
            drawn = await ops.draw_questions(s, ops_ctx(clock), await s.get(QuizPeriod, feb), 1,
                                             rng=random.Random(seed))
            assert [x.id for x in drawn] == [q1]


async def test_the_job_draws_for_open_periods_without_questions(db, clock) -> None:  # noqa: ANN001
    q = [await new_question(db, clock, f"第{i}题") for i in range(3)]
    await new_period(db, clock, "2026-10")  # closed, empty
    await new_period(db, clock, "2026-11")  # open (the clock: 2026-11-24), empty
    dec = await new_period(db, clock, "2026-12", [q[0]])  # not open yet
    async with db() as s, s.begin():
        assert await ops.draw_missing(s, ops_ctx(clock)) == ["2026-11"]
    assert await questions_of(db, dec) == [q[0]]
    # exactly at November's close and January's opening
    await new_period(db, clock, "2027-01")
    clock.set(local(2027, 1, 1))
    await new_period(db, clock, "2026-H2", opens_at=local(2026, 12, 15), closes_at=local(2027, 1, 1))
    async with db() as s, s.begin():
        assert await ops.draw_missing(s, ops_ctx(clock)) == ["2027-01"]


# ---- periods: list, next, open, edit, delete -------------------------------------------------------

async def test_period_order_and_next_and_open(db, clock) -> None:  # noqa: ANN001
    for code in ("2027-H1", "2027-01", "2026-H2", "2026-12", "2026-06", "2026-H1"):
        await new_period(db, clock, code)
    await new_period(db, clock, "2025-12")
    async with db() as s:
        assert [p.code for p in await ops.list_periods(s)] == [
            "2025-12", "2026-H1", "2026-06", "2026-H2", "2026-12", "2027-01", "2027-H1"]  # same opening: by kind
        assert [p.code for p in await ops.list_periods(s, 2026)] == ["2026-H1", "2026-06", "2026-H2", "2026-12"]
        ctx = ops_ctx(clock)  # 2026-11-24
        assert (await ops.next_period(s, ctx, "month")).code == "2026-12"
        assert (await ops.next_period(s, ctx, "half")).code == "2026-H2"
    clock.set(local(2026, 12, 1))  # December and the half-year test open exactly now
    async with db() as s:
        ctx = ops_ctx(clock)
        assert (await ops.next_period(s, ctx)).code == "2027-01"
        assert (await ops.next_period(s, ctx, "half")).code == "2027-H1"
        assert [p.code for p in await ops.open_periods(s, ctx)] == ["2026-12", "2026-H2"]
    clock.set(local(2027, 1, 1))  # both close exactly now
    async with db() as s:
        assert [p.code for p in await ops.open_periods(s, ops_ctx(clock))] == ["2027-01"]


async def test_a_stored_period_has_its_title(db, clock) -> None:  # noqa: ANN001
    pid = await new_period(db, clock, "2026年下半年")
    async with db() as s:
        p = await s.get(QuizPeriod, pid)
        assert (p.code, p.title) == ("2026-H2", "2026年下半年测试")


async def test_editing_a_periods_window_and_reveal(db, clock) -> None:  # noqa: ANN001
    pid = await new_period(db, clock, "2026-12")
    ctx = ops_ctx(clock)

    async def edited(**kw) -> tuple:  # noqa: ANN003
        async with db() as s, s.begin():
            await ops.update_period(s, ctx, await s.get(QuizPeriod, pid), **kw)
        async with db() as s:
            p = await s.get(QuizPeriod, pid)
            return p.opens_at, p.closes_at, p.reveal

    assert await edited(closes_at=local(2026, 12, 20)) == (local(2026, 12, 1), local(2026, 12, 20), "immediate")
    assert await edited(opens_at=local(2026, 12, 5)) == (local(2026, 12, 5), local(2026, 12, 20), "immediate")
    assert await edited(reveal="after_close") == (local(2026, 12, 5), local(2026, 12, 20), "after_close")
    assert await edited() == (local(2026, 12, 5), local(2026, 12, 20), "after_close")
    for kw, text in ((dict(closes_at=local(2026, 12, 5)), "结束时间要晚于开始时间。"),
                     (dict(opens_at=local(2026, 12, 21)), "结束时间要晚于开始时间。"),
                     (dict(reveal="never"), "公布方式只能是「答完立即公布」或「本期结束后公布」。")):
        with pytest.raises(ops.QuizError) as info:
            await edited(**kw)
        assert str(info.value) == text
    assert await edited(closes_at=local(2026, 12, 5, 0, 1)) == (local(2026, 12, 5), local(2026, 12, 5, 0, 1),
                                                                "after_close")


async def test_deleting_an_unanswered_period(db, clock) -> None:  # noqa: ANN001
    q = [await new_question(db, clock, f"第{i}题") for i in range(3)]
    nov = await new_period(db, clock, "2026-11", [q[2]])
    dec = await new_period(db, clock, "2026-12", [q[0], q[1]])
    async with db() as s, s.begin():
        for key in ("quiz:open:2026-12:oA", "quiz:open:2026-12:oB", "quiz:open:2026-11:oA", "other:2026-12:oA"):
            await outbox.enqueue(s, key=key, openid=key[-2:], now=clock.now(), text="提醒", purpose="quiz.open")
        await s.execute(update(Outbox).where(Outbox.key == "quiz:open:2026-12:oB").values(status="sent"))
    async with db() as s, s.begin():
        assert await ops.delete_period(s, ops_ctx(clock), await s.get(QuizPeriod, dec)) == 2
    async with db() as s:
        assert [p.code for p in await s.scalars(select(QuizPeriod))] == ["2026-11"]
        assert [(r.period_id, r.question_id) for r in await s.scalars(select(QuizPeriodQuestion))] == [(nov, q[2])]
        assert len(list(await s.scalars(select(QuizQuestion)))) == 3  # the questions stay in the bank
        states = {r.key: (r.status, r.last_error) for r in await s.scalars(select(Outbox))}
    assert states == {"quiz:open:2026-12:oA": ("cancelled", "期次已删除"), "quiz:open:2026-12:oB": ("sent", None),
                      "quiz:open:2026-11:oA": ("pending", None), "other:2026-12:oA": ("pending", None)}


async def test_an_answered_period_cannot_be_deleted(db, clock, monkeypatch) -> None:  # noqa: ANN001
    q = [await new_question(db, clock, f"第{i}题") for i in range(2)]
    nov = await new_period(db, clock, "2026-11", q)
    dec = await new_period(db, clock, "2026-12", q)
    await answer(db, clock, nov, q[0], "oA", "A")
    await answer(db, clock, nov, q[1], "oA", "A")
    await answer(db, clock, nov, q[0], "oB", "B")
    async with db() as s, s.begin():
        with pytest.raises(ops.QuizError) as info:
            await ops.delete_period(s, ops_ctx(clock), await s.get(QuizPeriod, nov))
    assert str(info.value) == ("「2026年11月」已有 2 人作答（3 份答案），不能删除，以免丢失成绩。"
                               "如果不想再让人作答，可以把结束时间改到现在。")

    async def nobody_yet(session, period) -> int:  # noqa: ANN001
        return 0  # the check ran before someone's answer arrived
    monkeypatch.setattr(ops, "_answer_count", nobody_yet)
    async with db() as s, s.begin():
        with pytest.raises(ops.QuizError) as info:
            await ops.delete_period(s, ops_ctx(clock), await s.get(QuizPeriod, nov))
        assert str(info.value) == "「2026年11月」刚刚有人作答，不能删除了。"
    async with db() as s:
        assert {p.id for p in await s.scalars(select(QuizPeriod))} == {nov, dec}
    assert await questions_of(db, nov) == q


# ---- questions: remove, restore, edit, answers -----------------------------------------------------

async def test_removing_and_restoring_a_question(db, clock) -> None:  # noqa: ANN001
    qid = await new_question(db, clock, "题干")
    ctx = ops_ctx(clock)
    async with db() as s, s.begin():
        with pytest.raises(ops.QuizError) as info:
            await ops.restore_question(s, ctx, await s.get(QuizQuestion, qid))
        assert str(info.value) == f"第 {qid} 题在题库中，没有被移出。"
    await remove(db, clock, qid)
    async with db() as s, s.begin():
        with pytest.raises(ops.QuizError) as info:
            await ops.delete_question(s, ctx, await s.get(QuizQuestion, qid))
        assert str(info.value) == f"第 {qid} 题已经不在题库中了。"
    clock.advance(hours=1)
    async with db() as s, s.begin():
        await ops.restore_question(s, ops_ctx(clock), await s.get(QuizQuestion, qid))
    async with db() as s:
        q = await s.get(QuizQuestion, qid)
        assert q.deleted_at is None and q.updated_at == clock.now()
        assert [x.id for x in (await ops.list_questions(s))[0]] == [qid]


async def test_a_question_keeps_its_source(db, clock) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        ctx = ops_ctx(clock)
        a = await ops.create_question(s, ctx, stem="一", options=["是", "否"], answer="A", source="导入：题库.xlsx 第 2 行")
        b = await ops.create_question(s, ctx, stem="二", options=["是", "否"], answer="A")
        ids = a.id, b.id
    async with db() as s:
        assert [(await s.get(QuizQuestion, i)).source for i in ids] == ["导入：题库.xlsx 第 2 行", ""]


async def test_a_long_source_is_cut_at_200_characters(db, clock) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        q = await ops.create_question(s, ops_ctx(clock), stem="一", options=["是", "否"], answer="A", source="源" * 201)
        qid = q.id
    async with db() as s:
        assert (await s.get(QuizQuestion, qid)).source == "源" * 200


async def answered_question(db, clock, explanation: str = "", topic: str = "") -> tuple[int, int]:  # noqa: ANN001
    """A question (key B) answered B by oA, A by oB and oC; returns (question, period)."""
    qid = await new_question(db, clock, "题干", answer="B", explanation=explanation, topic=topic)
    pid = await new_period(db, clock, "2026-11", [qid])
    for openid, letters in (("oA", "B"), ("oB", "A"), ("oC", "A")):
        await answer(db, clock, pid, qid, openid, letters)
    return qid, pid


FIELDS = dict(stem="题干", options=["是", "否", "不确定"], answer="B", explanation="", topic="", difficulty="")


async def test_previewing_an_edit(db, clock) -> None:  # noqa: ANN001
    qid, _ = await answered_question(db, clock)
    async with db() as s:
        q = await s.get(QuizQuestion, qid)
        same = await ops.preview_question_edit(s, q, **FIELDS)
        assert (same.changed, same.answers, same.to_right, same.to_wrong) == ([], 3, 0, 0)
        assert same.summary() == "内容没有变化"
        new = await ops.preview_question_edit(s, q, **{**FIELDS, "answer": "A", "explanation": "因为"})
        assert (new.changed, new.answers, new.to_right, new.to_wrong) == (["正确答案", "解析"], 3, 2, 1)
        assert new.summary() == "改了正确答案（B → A）、解析；已按新答案重新判分：2 份由错改为对，1 份由对改为错"
        both = await ops.preview_question_edit(s, q, **{**FIELDS, "answer": "AB"})
        assert (both.to_right, both.to_wrong) == (0, 1)
    other = await new_question(db, clock, "没人答的题")
    async with db() as s:
        assert await ops.question_answer_count(s, qid) == 3
        assert await ops.question_answer_count(s, other) == 0


async def test_previewing_an_unchanged_question_with_explanation_and_topic(db, clock) -> None:  # noqa: ANN001
    qid, _ = await answered_question(db, clock, explanation="解析", topic="工会法")
    async with db() as s:
        same = await ops.preview_question_edit(s, await s.get(QuizQuestion, qid),
                                               **{**FIELDS, "explanation": "解析", "topic": "工会法"})
        assert same.changed == []


async def test_saving_a_new_key_remarks_the_answers(db, clock) -> None:  # noqa: ANN001
    qid, pid = await answered_question(db, clock)
    ctx = ops_ctx(clock)
    async with db() as s, s.begin():
        assert await ops.update_question(s, ctx, await s.get(QuizQuestion, qid), **{**FIELDS, "explanation": "新"}) == 0
    async with db() as s, s.begin():
        assert await ops.update_question(s, ctx, await s.get(QuizQuestion, qid), **{**FIELDS, "answer": "A"}) == 3
    async with db() as s, s.begin():
        assert await ops.update_question(s, ctx, await s.get(QuizQuestion, qid), **{**FIELDS, "answer": "AB"}) == 2
    async with db() as s:
        answers = await ops.answered_ids(s, await s.get(QuizPeriod, pid), "oB")
        assert answers[qid].correct is False


async def test_one_attempt_per_question_period_and_person(db, clock) -> None:  # noqa: ANN001
    q1, q2 = [await new_question(db, clock, f"第{i}题", answer="B") for i in range(2)]
    nov = await new_period(db, clock, "2026-11", [q1, q2])
    half = await new_period(db, clock, "2026-H2", [q1], opens_at=local(2026, 11, 1))
    row = await answer(db, clock, nov, q1, "oA", "B")
    assert (row.chosen, row.correct) == ("B", True)
    with pytest.raises(ops.AlreadyAnswered) as info:
        await answer(db, clock, nov, q1, "oA", "A")
    assert str(info.value) == "这道题您已经答过了（您的答案：B），每题只能作答一次。"
    assert (await answer(db, clock, nov, q1, "oB", "A")).correct is False  # someone else
    assert (await answer(db, clock, nov, q2, "oA", "C")).chosen == "C"  # another question
    assert (await answer(db, clock, half, q1, "oA", "A")).chosen == "A"  # another period
    async with db() as s:
        assert await ops.answered_period_ids(s, "oA") == {nov, half}
        assert await ops.answered_period_ids(s, "oB") == {nov}
        assert await ops.answered_period_ids(s, "oZ") == set()


class Racing:
    """A session on which the "already answered?" look-up ran before a competing answer arrived."""

    def __init__(self, session) -> None:  # noqa: ANN001
        self._s = session

    async def scalar(self, *args, **kw):  # noqa: ANN002, ANN003, ANN201
        return None

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._s, name)


async def test_a_competing_first_answer_wins(db, clock) -> None:  # noqa: ANN001
    qid = await new_question(db, clock, "题干", answer="B")
    pid = await new_period(db, clock, "2026-11", [qid])
    await answer(db, clock, pid, qid, "oA", "B")
    async with db() as s, s.begin():
        with pytest.raises(ops.AlreadyAnswered) as info:
            await ops.record_answer(Racing(s), ops_ctx(clock), await s.get(QuizPeriod, pid),
                                    await s.get(QuizQuestion, qid), "oA", "A")
        assert str(info.value) == "这道题您已经答过了（您的答案：A），每题只能作答一次。"
        assert [a.chosen for a in (await ops.answered_ids(s, await s.get(QuizPeriod, pid), "oA")).values()] == ["B"]


async def test_the_periods_someone_took_most_recent_first(db, clock) -> None:  # noqa: ANN001
    qid = await new_question(db, clock, "题干")
    half = await new_period(db, clock, "2026-H2", [qid], opens_at=local(2026, 11, 1))  # closes 2027-01-01
    nov = await new_period(db, clock, "2026-11", [qid])  # closes 2026-12-01
    await answer(db, clock, half, qid, "oA", "A")
    clock.advance(hours=1)
    await answer(db, clock, nov, qid, "oA", "A")
    async with db() as s:
        assert [p.id for p in await ops.taken_periods(s, "oA")] == [nov, half]


async def test_asking_for_and_opting_out_of_notices(db, clock) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        await ops.set_notice(s, ops_ctx(clock), "oA", True)
    clock.advance(hours=1)
    async with db() as s, s.begin():
        await ops.set_notice(s, ops_ctx(clock), "oA", False)
    async with db() as s:
        rows = list(await s.scalars(select(QuizNotice)))
        assert [(r.openid, r.enabled, r.updated_at) for r in rows] == [("oA", False, clock.now())]


# ---- open notices ----------------------------------------------------------------------------------

async def subscribers(db, clock, *openids: str) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        for o in openids:
            s.add(Member(openid=o, first_seen=clock.now(), last_seen=clock.now()))
            await ops.set_notice(s, ops_ctx(clock), o, True)


async def queued(db) -> dict[str, dict]:  # noqa: ANN001
    async with db() as s:
        return {r.key: r.payload for r in await s.scalars(select(Outbox).where(Outbox.purpose == ops.OPEN_PURPOSE))}


HALF_TEXT = ("【2026年下半年测试】测试已经开始啦！回复「答题」即可参加，12月20日前有效。"
             "不想收到提醒请回复「退订答题提醒」。")


async def test_notices_skip_a_period_without_questions_and_go_out_for_the_next(db, clock) -> None:  # noqa: ANN001
    qid = await new_question(db, clock, "题干")
    await new_period(db, clock, "2026-11")  # open, month first, no questions yet
    await new_period(db, clock, "2026-H2", [qid], opens_at=local(2026, 11, 1), closes_at=local(2026, 12, 20, 6, 0))
    await subscribers(db, clock, "oA", "oB")
    async with db() as s, s.begin():
        assert await ops.queue_open_notices(s, ops_ctx(clock, quiz={"notify_on_open": True})) == 2
    rows = await queued(db)
    assert sorted(rows) == ["quiz:open:2026-H2:oA", "quiz:open:2026-H2:oB"]
    assert rows["quiz:open:2026-H2:oA"] == {"text": HALF_TEXT, "template": {"kind": "quiz_open", "data": {
        "first": "2026年下半年测试已经开始", "keyword1": "2026年下半年测试", "keyword2": "截至2026-12-20 05:59",
        "remark": "回复「答题」即可参加"}}}


async def test_notices_go_out_for_the_next_period_when_everyone_answered_the_first(db, clock) -> None:  # noqa: ANN001
    qid = await new_question(db, clock, "题干")
    nov = await new_period(db, clock, "2026-11", [qid])
    await new_period(db, clock, "2026-H2", [qid], opens_at=local(2026, 11, 1), closes_at=local(2026, 12, 20, 6, 0))
    await subscribers(db, clock, "oA", "oB")
    await answer(db, clock, nov, qid, "oA", "A")
    await answer(db, clock, nov, qid, "oB", "A")
    async with db() as s, s.begin():
        assert await ops.queue_open_notices(s, ops_ctx(clock, quiz={"notify_on_open": True})) == 2
    assert sorted(await queued(db)) == ["quiz:open:2026-H2:oA", "quiz:open:2026-H2:oB"]
    async with db() as s, s.begin():
        assert await ops.queue_open_notices(s, ops_ctx(clock, quiz={"notify_on_open": True})) == 0
