"""Sharper tests for handlers/quiz/ops.py (mutation group `ops-quiz`), parsers and small helpers:
what staff may type for a period, question numbers, counts, difficulty, options and answers; the
refusals they read; window texts and boundaries; the open notice's text — direct calls (no
database here; the database side is in test_ops_mutants_db.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from handlers.quiz import ops
from tests.support.quiz import TZ, local

PERIOD_FORMAT = "格式不对：每月一题写「2026年12月」，半年测试写「2026年下半年」。"


def refusal(fn, *args, **kw) -> str:  # noqa: ANN001, ANN002, ANN003
    with pytest.raises(ops.QuizError) as info:
        fn(*args, **kw)
    return str(info.value)


# ---- periods as staff type them -----------------------------------------------------------------

@pytest.mark.parametrize(("typed", "code"), [
    ("2026年12月", "2026-12"), ("2026年1月", "2026-01"), ("2026.3", "2026-03"), ("2026/11月每月一题", "2026-11"),
    ("2026 年 12 月", "2026-12"), ("2026年上半年", "2026-H1"), ("2026年下半年测试", "2026-H2"),
    ("2026H1", "2026-H1"), ("2026h2", "2026-H2"), ("2026上半年考试", "2026-H1"), ("2026 - H2", "2026-H2"),
])
def test_period_codes_as_staff_type_them(typed: str, code: str) -> None:
    pc = ops.parse_period_code(typed)
    assert pc.code == code
    assert (pc.kind, pc.year) == (("half" if "H" in code else "month"), 2026)
    assert pc.part == (int(code[-1]) if "H" in code else int(code[-2:]))


@pytest.mark.parametrize("typed", ["2026年13月", "2026年0月", "2026年00月", "2026年下下半年", "2026-H3", "十二月"])
def test_impossible_periods_are_refused(typed: str) -> None:
    assert refusal(ops.parse_period_code, typed) == f"期次「{typed}」{PERIOD_FORMAT}"


@pytest.mark.parametrize("typed", ["", None, "   "])
def test_an_empty_period_is_refused_and_quoted_empty(typed: str | None) -> None:
    assert refusal(ops.parse_period_code, typed) == f"期次「」{PERIOD_FORMAT}"


def test_period_choices_list_the_year_in_order_without_taken_ones() -> None:
    codes = [c for c, _ in ops.period_choices(2026)]
    assert codes == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-H1", "2026-07",
                     "2026-08", "2026-09", "2026-10", "2026-11", "2026-12", "2026-H2"]
    left = ops.period_choices(2026, taken=["2026-01", "2026-H1"])
    assert left[0] == ("2026-02", "2026年2月")
    assert ("2026-H2", "2026年下半年测试") in left and len(left) == 12


# ---- question numbers, counts, difficulty -------------------------------------------------------

@pytest.mark.parametrize(("typed", "ids"), [
    ("3,7,12", [3, 7, 12]), ("#3，#7", [3, 7]), ("3 7 12", [3, 7, 12]), ("3、7、12", [3, 7, 12]),
    ("#3, #7 ,", [3, 7]), ("", []), (None, []), ("12", [12]),
])
def test_question_numbers_as_staff_type_them(typed: str | None, ids: list[int]) -> None:
    assert ops.parse_question_ids(typed) == ids


@pytest.mark.parametrize("typed", ["3,x", "3#", "X3", "第3题", "3;7"])
def test_question_numbers_that_are_not_numbers_are_refused(typed: str) -> None:
    assert refusal(ops.parse_question_ids, typed) == "请填写题目编号，用逗号分隔，例如 3,7,12。"


def test_question_count_from_one_up() -> None:
    assert ops.parse_count("1") == 1 and ops.parse_count(" 10 ") == 10
    assert ops.parse_count("") is None and ops.parse_count(None) is None
    for typed in ("0", "-1", "abc", "1.5"):
        assert refusal(ops.parse_count, typed) == "题目数量请填正整数，例如 10。"


@pytest.mark.parametrize(("typed", "level"), [
    ("", 2), (None, 2), ("中", 2), ("中等", 2), ("2", 2), ("2.0", 2), (2, 2),
    ("易", 1), ("容易", 1), ("简单", 1), ("1", 1), ("1.0", 1),
    ("难", 3), ("困难", 3), ("较难", 3), ("3", 3), ("3.0", 3), (" 难 ", 3),
])
def test_difficulty_words_and_numbers(typed: object, level: int) -> None:
    assert ops.parse_difficulty(typed) == level


@pytest.mark.parametrize("typed", ["4", "很难", "0"])
def test_unknown_difficulty_is_refused(typed: str) -> None:
    assert refusal(ops.parse_difficulty, typed) == "难度请填 易/中/难 或 1/2/3。"


# ---- options, answers, a whole question ---------------------------------------------------------

def test_two_to_six_options() -> None:
    assert ops.clean_options(["是", "否"]) == ["是", "否"]
    assert ops.clean_options(list("ABCDEF")) == list("ABCDEF")
    assert refusal(ops.clean_options, list("ABCDEFG")) == "每题需要 2–6 个选项。"
    assert refusal(ops.clean_options, ["是"]) == "每题需要 2–6 个选项。"
    assert refusal(ops.clean_options, ["是", "", "否"]) == "选项要从 A 开始连续填写，中间不能留空。"


def test_right_answer_letters() -> None:
    assert ops.normalise_answer("c a", 3) == "AC"
    assert refusal(ops.normalise_answer, "", 3) == "正确答案请填选项字母，如 B 或 AC。"
    assert refusal(ops.normalise_answer, "是", 3) == "正确答案请填选项字母，如 B 或 AC。"
    assert refusal(ops.normalise_answer, "D", 3) == "正确答案只能在 A–C 之中。"


def test_a_question_without_the_optional_fields() -> None:
    values = ops.validate_question("题干", ["是", "否"], "a")
    assert values == {"stem": "题干", "options": ["是", "否"], "answer": "A", "explanation": "", "topic": "",
                      "difficulty": 2}


def test_blank_fields_of_a_question_stay_blank() -> None:
    values = ops.validate_question(" 题干 ", ["是", "否"], "B", explanation=None, topic=None, difficulty=None)
    assert (values["stem"], values["explanation"], values["topic"], values["difficulty"]) == ("题干", "", "", 2)


def test_a_topic_is_cut_at_64_characters() -> None:
    assert ops.validate_question("题干", ["是", "否"], "A", topic="专" * 64)["topic"] == "专" * 64
    assert ops.validate_question("题干", ["是", "否"], "A", topic="专" * 65)["topic"] == "专" * 64


@pytest.mark.parametrize("stem", [None, "", "  "])
def test_a_question_needs_a_stem(stem: str | None) -> None:
    assert refusal(ops.validate_question, stem, ["是", "否"], "A") == "题干不能为空。"


def test_a_question_needs_its_answer() -> None:
    for answer in (None, ""):
        assert refusal(ops.validate_question, "题干", ["是", "否"], answer) == "正确答案请填选项字母，如 B 或 AC。"


# ---- what takers type -------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "letters"), [
    ("答案：选B", "B"), ("B选项吧", "B"), ("我选：a和c吧", "AC"), ("就选B。", "B"),
])
def test_answers_wrapped_in_several_words(typed: str, letters: str) -> None:
    assert ops.parse_letters(typed) == letters


# ---- windows --------------------------------------------------------------------------------------

def period(code: str = "2026-12", **kw) -> SimpleNamespace:  # noqa: ANN003
    pc = ops.parse_period_code(code)
    opens, closes = ops.default_window(pc, TZ)
    fields = dict(code=pc.code, kind=pc.kind, year=pc.year, title=pc.title, opens_at=opens, closes_at=closes,
                  reveal="immediate")
    fields.update(kw)
    return SimpleNamespace(**fields)


def test_window_refusals_and_the_exact_boundary() -> None:
    start = local(2026, 12, 1)
    assert refusal(ops._check_window, start, start) == "结束时间要晚于开始时间。"
    assert refusal(ops._check_window, start, start - timedelta(minutes=1)) == "结束时间要晚于开始时间。"
    ops._check_window(start, start + timedelta(seconds=1))
    with pytest.raises(ValueError, match="^period windows must be timezone-aware$"):
        ops._check_window(start.replace(tzinfo=None), start + timedelta(days=1))
    with pytest.raises(ValueError, match="^period windows must be timezone-aware$"):
        ops._check_window(start, (start + timedelta(days=1)).replace(tzinfo=None))
    assert refusal(ops._check_reveal, "never") == "公布方式只能是「答完立即公布」或「本期结束后公布」。"


def test_end_of_a_window_as_staff_read_it() -> None:
    assert ops.end_text(local(2027, 1, 1), TZ) == "2026-12-31 24:00"
    assert ops.end_text(local(2027, 1, 1, 1, 0), TZ) == "2027-01-01 01:00"
    assert ops.end_text(local(2027, 1, 1, 0, 1), TZ) == "2027-01-01 00:01"
    assert ops.end_text(local(2027, 1, 1, 0, 0, 1), TZ) == "2027-01-01 00:00"
    assert ops.end_text(local(2027, 1, 1).astimezone(timezone.utc), TZ) == "2026-12-31 24:00"
    p = period()
    p.opens_at, p.closes_at = p.opens_at.astimezone(timezone.utc), p.closes_at.astimezone(timezone.utc)
    assert ops.window_text(p, TZ) == "2026-12-01 00:00 至 2026-12-31 24:00"


def test_last_day_is_one_second_before_the_close() -> None:
    p = period(closes_at=datetime(2026, 12, 20, 16, 0, 1, tzinfo=timezone.utc))
    assert ops.last_day(p, TZ) == local(2026, 12, 21, 0, 0, 0)
    assert ops.last_day(p, TZ).utcoffset() == timedelta(hours=8)


def test_status_at_the_exact_opening_and_closing() -> None:
    p = period()
    assert ops.period_status(p, p.opens_at - timedelta(microseconds=1)) == "scheduled"
    assert ops.period_status(p, p.opens_at) == "open"
    assert ops.period_status(p, p.closes_at - timedelta(microseconds=1)) == "open"
    assert ops.period_status(p, p.closes_at) == "closed"


def test_local_times_staff_type() -> None:
    assert ops.parse_local_time("2026-12-01", TZ) == local(2026, 12, 1)
    assert ops.parse_local_time("2026-12-01T08:00", TZ) == local(2026, 12, 1, 8)
    given = ops.parse_local_time("2026-12-01T08:00+00:00", TZ)
    assert given.utcoffset() == timedelta(0) and given == local(2026, 12, 1, 16)
    assert ops.parse_local_time("", TZ) is None and ops.parse_local_time(None, TZ) is None
    assert refusal(ops.parse_local_time, "12月1日", TZ) == "时间「12月1日」的格式不对，请写成 2026-12-01 或 2026-12-01T08:00。"


def test_titles_and_labels() -> None:
    assert ops.period_title(period(title="工会法专题月")) == "工会法专题月"
    assert ops.period_title(period(title="")) == "2026年12月 每月一题"
    special = period()
    special.code, special.title = "SPECIAL", "特别一期"
    assert ops.period_label(special) == "特别一期"
    assert ops.percent(0, 0) == 0.0 and ops.percent(1, 3) == 33.3


# ---- the open notice ------------------------------------------------------------------------------

def test_open_notice_of_a_month() -> None:
    p = period("2026-12", closes_at=local(2026, 12, 20, 6, 0))  # 2026-12-19 22:00 UTC
    assert ops.open_notice_text(p, TZ) == (
        "【2026年12月 每月一题】题目已经开始啦！回复「答题」即可参加，12月20日前有效。不想收到提醒请回复「退订答题提醒」。")


def test_open_notice_of_a_half_year_test() -> None:
    p = period("2026-H2")
    assert ops.open_notice_text(p, TZ) == (
        "【2026年下半年测试】测试已经开始啦！回复「答题」即可参加，12月31日前有效。不想收到提醒请回复「退订答题提醒」。")


# ---- what an edit would change --------------------------------------------------------------------

def edit(changed: list[str], old: str = "B", new: str = "B", answers: int = 0, to_right: int = 0,
         to_wrong: int = 0) -> str:
    return ops.QuestionEdit(changed, old, new, answers, to_right, to_wrong).summary()


def test_edit_summaries() -> None:
    assert edit([]) == "内容没有变化"
    assert edit(["题干", "解析"]) == "改了题干、解析"
    assert edit(["解析"], answers=3) == "改了解析"
    assert edit(["正确答案"], "B", "A") == "改了正确答案（B → A）"
    assert edit(["正确答案", "解析"], "B", "A", answers=3, to_right=1) == \
        "改了正确答案（B → A）、解析；已按新答案重新判分：1 份由错改为对"
    assert edit(["正确答案"], "B", "AB", answers=5, to_right=1, to_wrong=2) == \
        "改了正确答案（B → AB）；已按新答案重新判分：1 份由错改为对，2 份由对改为错"
    assert edit(["正确答案"], "B", "C", answers=4, to_wrong=4) == \
        "改了正确答案（B → C）；已按新答案重新判分：4 份由对改为错"
    assert edit(["正确答案"], "B", "C", answers=2) == "改了正确答案（B → C）；已按新答案重新判分：2 份作答的对错都没有变化"


def test_a_second_attempt_names_the_answer_that_stands() -> None:
    first = SimpleNamespace(chosen="B")
    assert str(ops.AlreadyAnswered(first, "C")) == "这道题您已经答过了（您的答案：B），每题只能作答一次。"
    assert str(ops.AlreadyAnswered(None, "C")) == "这道题您已经答过了（您的答案：C），每题只能作答一次。"
