"""The monthly quiz (每月一题) and the half-year test, as the taker sees them.

Conversation (one state, `quiz:answer`, data {"p": period code, "q": question id}):

    答题 / click QUIZ ─▶ next unanswered question of the open period ─▶ quiz:answer
    quiz:answer + letters ─▶ stored (one attempt) ─▶ feedback + next question | done (score)
    quiz:answer + 暂停 / another keyword ─▶ paused (answers so far are kept; 答题 or 继续 resumes)
    quiz:answer + 我考了多少分 ─▶ the scores, and the same question again (the quiz goes on)
    成绩 ─▶ this year's scores and rank      解析 ─▶ answers and explanations once revealed

What a worker may see about a period (score, answers, rank) follows one rule,
`ops.TakerView`; every text here about a result goes through `result_text` or
`_done_text`, so the end of a test, 成绩 and 解析 always agree.

Operations live in `handlers/quiz/ops.py` (called with `ctx.ops`); a refused one's
`QuizError` is replied as it is.
"""
from __future__ import annotations

import re
from datetime import timedelta

from bot.core.context import Ctx
from bot.core.normalize import fold, is_word, numerals_as_digits, parse_choice_number, variants
from bot.core.router import Flow, Router, click_is, text_if, text_is, text_matches
from handlers.quiz import ops
from handlers.quiz import scores as quiz_scores
from bot.db.models.quiz import QuizPeriod, QuizQuestion

router = Router("quiz")
router.add_menu("答题", "每月一题和半年测试")
router.add_menu("成绩", "查看我今年的答题成绩")
# Answers are stored as they come: another keyword mid-quiz pauses it, nothing to keep as a draft.
router.add_flow(Flow("quiz", "答题", "答题", on_leave="pause",
                     paused_note="（答题已暂停，已答的题目都保存好了，回复「答题」接着做。）"))

STATE = "quiz:answer"
START_WORDS = ("答题", "每月一题", "开始答题", "继续答题", "答题活动", "接着答", "接着答题", "继续答", "接着做题", "继续做题")
# 「继续」 after 暂停: the paused quiz again (with no quiz paused it is someone else's word, see resume_quiz).
GO_ON_WORDS = {"继续", "继续吧", "接着", "接着来", "我要继续", "接着做", "继续做"}
TEST_WORDS = ("测试", "半年测试", "开始测试", "继续测试")
PAUSE_WORDS = {"暂停", "先暂停", "休息", "休息一下", "等会", "稍后", "先不答了", "下次再答", "停"}

# ------------------------------------------------------------------ texts
HOW_TO_SINGLE = "请回复一个选项字母，例如 B。"
HOW_TO_MULTIPLE = "请回复全部正确选项的字母，例如 AC。"
NOT_LETTERS = "请直接回复选项字母作答，例如 B 或 AC；想先停下可回复「暂停」。"
SINGLE_ONLY = "这是单选题，只能选一个答案哦。"
NO_PERIOD = "现在没有进行中的答题。"
NEXT_AT = "下一期「{title}」将于 {when} 开始，到时回复「答题」参加。"
NEXT_UNKNOWN = "下一期的时间还没定，请留意公众号通知。"
NEXT_UNKNOWN_NOTICE = "下一期的时间还没定。回复「答题提醒」，开始时我们提醒您。"
PREPARING = "「{title}」的题目还在准备中，请稍后再来。"
ALL_DONE = "「{title}」的题目您都已经答完了，谢谢参与！"
PAUSED = "好的，先暂停。已答的题目都保存好了，截至{until}，回复「答题」就能接着做。"
RECORDED = "已记录您的答案：{chosen}。"
RECORDED_SHORT = "已记录：{chosen}。"
RIGHT = "✅ 回答正确！"
WRONG = "❌ 回答错误。您选的是 {chosen}，正确答案是 {answer}。"
NOTICE_ON = "好的，新一期答题开始时会提醒您。不想收到时回复「退订答题提醒」。"
NOTICE_OFF = "好的，以后不再发送答题开始的提醒。想恢复时回复「答题提醒」。"
NOTICE_UNAVAILABLE = "已记下您的需要。目前答题开始时暂不发送提醒，请留意公众号通知。"


def _local(ctx: Ctx, dt) -> str:  # noqa: ANN001
    d = ctx.ops.local(dt)
    return f"{d.month}月{d.day}日 {d:%H:%M}"


def _last_day(ctx: Ctx, period: QuizPeriod) -> str:
    """The last day of the window, e.g. 12月31日 (a window ends at midnight)."""
    d = ops.last_day(period, ctx.ops.tz)
    return f"{d.month}月{d.day}日"


def question_text(period: QuizPeriod, q: QuizQuestion, num: int, total: int) -> str:
    kind = "多选" if q.multiple else "单选"
    head = f"【{ops.period_title(period)}】第 {num}/{total} 题（{kind}）"
    opts = "\n".join(f"{ops.LETTERS[i]}. {o}" for i, o in enumerate(q.options))
    return f"{head}\n{q.stem}\n{opts}\n{HOW_TO_MULTIPLE if q.multiple else HOW_TO_SINGLE}"


def feedback_text(period: QuizPeriod, q: QuizQuestion, chosen: str, correct: bool) -> str:
    if period.reveal == "after_close":
        return (RECORDED_SHORT if period.kind == "half" else RECORDED).format(chosen=chosen)
    text = RIGHT if correct else WRONG.format(chosen=chosen, answer=q.answer)
    if q.explanation:
        text += f"\n解析：{q.explanation}"
    return text


def result_text(ctx: Ctx, period: QuizPeriod, view: ops.TakerView) -> str:
    """The worker's result in one period, in the same words wherever they read it (成绩, 解析).
    Partial progress never reads as a score (see ops.TakerView)."""
    day = _last_day(ctx, period)
    if view.status == "scheduled":
        return f"{_local(ctx, period.opens_at)}开始"
    if not view.took_part:
        return "未参加" if view.status == "closed" else f"未作答，{day}前回复「答题」参加"
    if view.final:
        missed = view.total - view.answered
        return (f"{view.score:g} 分（答对 {view.correct}/{view.total}"
                + (f"，{missed} 题未作答" if missed else "") + "）")
    if view.correct is not None:  # open, reveals immediately, not finished yet
        return f"已答 {view.answered}/{view.total} 题，答对 {view.correct} 题，{day}前回复「答题」接着做"
    return f"已答 {view.answered}/{view.total} 题，{day}结束后公布得分和解析"


def _done_text(ctx: Ctx, period: QuizPeriod, view: ops.TakerView, *, finished_now: bool = False) -> str:
    """All questions answered: the score if it is final, else when it will be published."""
    title = ops.period_title(period)
    head = f"「{title}」全部完成！" if finished_now and period.kind == "half" else ALL_DONE.format(title=title) + "\n"
    if view.final:
        return (head + f"您答对 {view.correct}/{view.total} 题，得分 {view.score:g} 分。"
                "\n回复「成绩」可查看今年的成绩和排名。")
    return head + f"得分和解析{_last_day(ctx, period)}结束后公布，届时回复「成绩」或「解析」查看。"


async def _next_period_text(ctx: Ctx) -> str:
    nxt = await ops.next_period(ctx.session, ctx.ops)
    if nxt is None:
        return _next_unknown(ctx)
    return NEXT_AT.format(title=ops.period_title(nxt), when=_local(ctx, nxt.opens_at))


def _next_unknown(ctx: Ctx) -> str:
    return NEXT_UNKNOWN_NOTICE if ctx.settings.quiz.notify_on_open else NEXT_UNKNOWN


async def _ask(ctx: Ctx, period: QuizPeriod, q: QuizQuestion, num: int, total: int, hint: str = "") -> str:
    # Kept a day past the window, so a late answer hears "closed" rather than "expired".
    ttl = max(period.closes_at - ctx.now, timedelta(0)) + timedelta(days=1)
    ctx.dialogue.set(STATE, {"p": period.code, "q": q.id}, ttl=ttl)
    text = question_text(period, q, num, total)
    return f"{hint}\n\n{text}" if hint else text


def _intro(ctx: Ctx, period: QuizPeriod, num: int, total: int) -> str:
    if num > 1:
        return f"欢迎回来！「{ops.period_title(period)}」您已答 {num - 1} 题，接着做第 {num} 题："
    later = ops.what_taker_sees(period, ctx.now).waits_for_close
    day = _last_day(ctx, period)
    if period.kind == "half":
        when = f"得分和解析{day}测试结束后公布。" if later else "答完就能看到得分。"
        return (f"「{ops.period_title(period)}」共 {total} 题，逐题作答，{when}"
                f"中途可回复「暂停」，截至{day}都可以回复「答题」接着做。")
    return f"本期答案和得分{day}结束后公布。" if later else ""


# ------------------------------------------------------------------ handlers
@router.on(text_is(*START_WORDS) | click_is("QUIZ"))
async def start_quiz(ctx: Ctx) -> str:
    """The open period's next unanswered question (monthly first, then the half-year test)."""
    return await _start(ctx, kinds=("month", "half"))


@router.on(text_if(lambda t: is_word(t, GO_ON_WORDS), "继续 (a paused quiz)"))  # no keyword: mid-form it is the form's
async def resume_quiz(ctx: Ctx) -> str | None:
    """「继续」 after 暂停: the paused quiz or test again. With no quiz paused the word is left to the
    rest (a kept form draft, the fallback); with a form draft waiting too, both ways back are named."""
    paused = [p for p in await ops.open_periods(ctx.session, ctx.ops)
              if (found := await ops.next_question(ctx.session, p, ctx.openid))[0] is not None and found[1] > 1]
    if not paused:
        return await ctx.dispatcher.unmatched(ctx)
    flows = ctx.dispatcher.flows
    drafts = [flows[f] for f in ctx.dialogue.drafts if f in flows and flows[f].form is not None]
    if drafts:
        other = drafts[-1]
        return (f"您有两件还没做完的事：回复「答题」接着答「{ops.period_title(paused[0])}」，"
                f"回复「{other.resume_word}」接着填{other.title}。")
    return await _start(ctx, kinds=(paused[0].kind,))


@router.on(text_is(*TEST_WORDS))
async def start_test(ctx: Ctx) -> str:
    """Start or resume the half-year test."""
    return await _start(ctx, kinds=("half",))


async def _start(ctx: Ctx, kinds: tuple[str, ...]) -> str:
    periods = [p for p in await ops.open_periods(ctx.session, ctx.ops) if p.kind in kinds]
    if not periods:
        if "month" not in kinds:
            nxt = await ops.next_period(ctx.session, ctx.ops, "half")
            return ("现在没有进行中的半年测试。" +
                    (NEXT_AT.format(title=ops.period_title(nxt), when=_local(ctx, nxt.opens_at)) if nxt
                     else _next_unknown(ctx)))
        return NO_PERIOD + await _next_period_text(ctx)
    done_titles, preparing = [], []
    for period in periods:
        q, num, total = await ops.next_question(ctx.session, period, ctx.openid)
        if total == 0:
            preparing.append(period)
            continue
        if q is not None:
            return await _ask(ctx, period, q, num, total, _intro(ctx, period, num, total))
        done_titles.append(period)
    if preparing and not done_titles:
        return PREPARING.format(title=ops.period_title(preparing[0]))
    views = await quiz_scores.taker_views(ctx.session, ctx.ops, done_titles, ctx.openid)
    text = "\n".join(_done_text(ctx, p, views[p.id]) for p in done_titles)
    return text + "\n" + await _next_period_text(ctx)


@router.state(STATE)
async def answer_question(ctx: Ctx) -> str | None:
    """An answer (or a pause, or something else) while a question is on the table."""
    data = ctx.dialogue.data
    period = await ops.get_period(ctx.session, str(data.get("p", "")))
    question = await ctx.session.get(QuizQuestion, int(data.get("q") or 0))
    if period is None or question is None:
        ctx.dialogue.clear()
        return "题目有了变化，请回复「答题」重新开始。"
    if ctx.msg.kind not in ("text", "voice"):
        return await _reask(ctx, period, question, NOT_LETTERS)
    text = ctx.text
    if is_word(text, PAUSE_WORDS):
        ctx.dialogue.clear()
        return PAUSED.format(until=_last_day(ctx, period))
    if is_word(text, START_WORDS) or is_word(text, TEST_WORDS) or is_word(text, GO_ON_WORDS):
        return await _reask(ctx, period, question, "我们接着来：")
    if SCORE_QUESTION(ctx.msg):  # 「我考了多少分」: the scores, and the question still on the table
        return await _reask(ctx, period, question, await show_scores(ctx) + "\n\n我们接着答题：")
    letters = ops.parse_letters(ctx.msg.text) or _said_otherwise(ctx.msg.text, question.options)
    if letters is None:  # (another feature's keyword never gets here: the quiz Flow pauses for it)
        return await _reask(ctx, period, question, NOT_LETTERS)
    hint = ops.check_letters(letters, len(question.options))
    if hint is None and len(letters) > 1 and not question.multiple:
        hint = SINGLE_ONLY
    if hint:
        return await _reask(ctx, period, question, hint)
    try:
        answer = await ops.record_answer(ctx.session, ctx.ops, period, question, ctx.openid, letters)
        feedback = feedback_text(period, question, answer.chosen, answer.correct)
    except ops.WindowClosed as exc:
        return await _closed(ctx, exc)
    except ops.AlreadyAnswered as exc:
        feedback = str(exc)
    nxt, num, total = await ops.next_question(ctx.session, period, ctx.openid)
    if nxt is not None:
        return await _ask(ctx, period, nxt, num, total, feedback)
    ctx.dialogue.clear()
    return feedback + "\n\n" + await _finished(ctx, period)


def _said_otherwise(text: str, options: list[str]) -> str | None:
    """One option given by its own text (「25人」) or its place (「第二个」) → its letter; None otherwise."""
    said = {numerals_as_digits(v.removeprefix("选").removeprefix("我选")) for v in variants(text)}
    # 「二十五个人」 is 「25人」: numerals as digits, 个 a measure word, on both sides
    hits = [i for i, o in enumerate(options) if numerals_as_digits(fold(o).lower()) in said]
    if len(hits) == 1:
        return ops.LETTERS[hits[0]]
    n = parse_choice_number(text)
    return ops.LETTERS[n - 1] if n is not None and 1 <= n <= len(options) else None


async def _reask(ctx: Ctx, period: QuizPeriod, q: QuizQuestion, hint: str) -> str:
    if ops.period_status(period, ctx.now) != "open":
        return await _closed(ctx, ops.WindowClosed(period))
    _, num, total = await ops.next_question(ctx.session, period, ctx.openid)
    return await _ask(ctx, period, q, num, total, hint)


async def _closed(ctx: Ctx, exc: ops.WindowClosed) -> str:
    """The period closed while a question was on the table: say so and when the next one opens."""
    ctx.dialogue.clear()
    return str(exc) + "\n" + await _next_period_text(ctx)


async def _finished(ctx: Ctx, period: QuizPeriod) -> str:
    view = await quiz_scores.taker_view(ctx.session, ctx.ops, period, ctx.openid)
    return _done_text(ctx, period, view, finished_now=True)


# 「我考了多少分」: not a keyword (in another form it stays that form's answer); mid-quiz see answer_question.
SCORE_QUESTION = text_matches(r".{0,6}(?:考|答|得)了?(?:多少|几)分.{0,4}|.{0,6}分数.{0,6}")


@router.on(SCORE_QUESTION)
@router.on(text_is("成绩", "我的成绩", "答题成绩", "查成绩") | click_is("SCORES"))
async def show_scores(ctx: Ctx) -> str:
    """This year's result per period, the year-end score and rank over the closed periods
    (last year's early in a year, before the taker has answered anything new)."""
    year = ctx.local_now.year
    views = await quiz_scores.year_views(ctx.session, ctx.ops, year, ctx.openid)
    if not any(v.took_part for _, v in views):
        # Early in a year the taker still wants last year's results (the H2 test just closed).
        last = await quiz_scores.year_views(ctx.session, ctx.ops, year - 1, ctx.openid)
        if not any(v.took_part for _, v in last):
            return f"您{year}年还没有参加过答题。回复「答题」试试吧！"
        year, views = year - 1, last
    lines = [f"您{year}年的答题成绩："]
    lines += [f"· {ops.period_title(p)}：{result_text(ctx, p, v)}" for p, v in views]
    table = await quiz_scores.year_table(ctx.session, ctx.ops, year, only_revealed=True)
    row = table.for_openid(ctx.openid)
    if row is not None:
        lines.append(f"已结束的期次：参与 {row.taken}/{row.held} 期，综合得分 {row.total:g} 分，"
                     f"排名第 {row.rank} 名（共 {len(table.rows)} 人）。")
    pending = [p for p, v in views if v.took_part and not v.in_rank]
    if pending:
        names = "、".join(f"「{ops.period_title(p)}」" for p in pending)
        lines.append(f"{names}结束后" + ("计入综合得分和排名。" if row is not None else "公布综合得分和排名。"))
    return "\n".join(lines)


@router.on(text_matches(r"(解析|答案解析|查看解析)(\s*\d{4}-(\d{2}|[Hh][12]))?", keyword=True))
async def show_explanations(ctx: Ctx) -> str:
    """Answers and explanations of a named period, or of the one the taker answered in last
    (never silently an older one: other periods are named with how to see them)."""
    m = re.search(r"\d{4}-(\d{2}|[Hh][12])", ctx.text)
    others: list[QuizPeriod] = []
    if m:
        period = await ops.get_period(ctx.session, m.group(0))
        if period is None:
            return f"没有找到 {m.group(0).upper()} 这一期。"
    else:
        taken = await ops.taken_periods(ctx.session, ctx.openid)
        if not taken:
            return "您还没有答过题，暂时没有可查看的解析。回复「答题」参加吧！"
        period, others = taken[0], taken[1:]
    title = ops.period_title(period)
    view = await quiz_scores.taker_view(ctx.session, ctx.ops, period, ctx.openid)
    if view.status == "scheduled":
        return f"「{title}」还没开始，{_local(ctx, period.opens_at)}开始后回复「答题」参加。"
    if view.waits_for_close:
        mine = f"{result_text(ctx, period, view)}，届时回复「解析」查看。" if view.took_part else \
            f"答案和解析{_last_day(ctx, period)}结束后公布。"
        return f"「{title}」还没结束：{mine}" + _see_also(ctx, others)
    questions = await ops.period_questions(ctx.session, period)
    mine = await ops.answered_ids(ctx.session, period, ctx.openid)
    lines = [f"【{title}】答案与解析", f"您的成绩：{result_text(ctx, period, view)}"]
    hidden = 0
    for i, q in enumerate(questions, 1):
        a = mine.get(q.id)
        if not view.answer_visible(a is not None):
            hidden += 1
            continue
        you = f"您的答案 {a.chosen}{' ✅' if a.correct else ' ❌'}" if a else "您未作答"
        lines.append(f"\n{i}. {q.stem}\n正确答案：{q.answer}；{you}" + (f"\n解析：{q.explanation}" if q.explanation else ""))
    if hidden == len(questions):
        return f"「{title}」的题您还没有作答，答完就能查看解析。回复「答题」参加吧！" + _see_also(ctx, others)
    if hidden:
        lines.append(f"\n其余 {hidden} 题作答后才能查看解析，回复「答题」继续。")
    return "\n".join(lines) + _see_also(ctx, others)


def _see_also(ctx: Ctx, others: list[QuizPeriod]) -> str:
    """Name the taker's previous period and how to see it (plain 解析 shows only the latest)."""
    for p in others:
        if not ops.what_taker_sees(p, ctx.now).waits_for_close:
            return f"\n\n您还参加了「{ops.period_title(p)}」，回复「解析 {p.code}」查看。"
    return ""


@router.on(text_is("答题提醒", "订阅答题提醒", "开启答题提醒"))
async def subscribe_notice(ctx: Ctx) -> str:
    """Ask to be told when a new quiz period opens."""
    await ops.set_notice(ctx.session, ctx.ops, ctx.openid, True)
    return NOTICE_ON if ctx.settings.quiz.notify_on_open else NOTICE_UNAVAILABLE


@router.on(text_is("退订答题提醒", "取消答题提醒", "关闭答题提醒"))
async def unsubscribe_notice(ctx: Ctx) -> str:
    """Stop the "a new quiz is open" messages."""
    await ops.set_notice(ctx.session, ctx.ops, ctx.openid, False)
    return NOTICE_OFF
