"""Quiz operations: letters, periods, the question bank, answering, open notices.

Every operation follows `bot.operations`: `async def verb_object(session, ctx: OpsContext, ...)`,
the clock, timezone and settings from `ctx`; a refused one raises `QuizError` (a `DomainError`)
whose text is shown as it is. The dialogue, the admin pages, the CLI and the job all call these;
nothing here knows WeChat or aiohttp. Importing questions lives in `handlers.quiz.bank_import`;
scores, rankings and the year-end export in `handlers.quiz.scores`.
"""
from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.db.models.core import Member
from bot.operations import DomainError, OpsContext
from bot.db.models.quiz import QuizAnswer, QuizNotice, QuizPeriod, QuizPeriodQuestion, QuizQuestion


OPEN_PURPOSE = "quiz.open"  # "a new period is open" messages
TEMPLATE_KIND = "quiz_open"

LETTERS = "ABCDEF"
DIFFICULTY = {1: "易", 2: "中", 3: "难"}
REVEAL_MODES = ("immediate", "after_close")
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
HALF_RE = re.compile(r"^(\d{4})-H([12])$")


class QuizError(DomainError):
    """A refused quiz operation; `str(exc)` is a complete sentence for the person (staff or taker)."""


# ------------------------------------------------------------------ letters
# What people type or say between letters: spaces, commas, 顿号, colons, slashes, 和/跟/还有,
# and the 。 voice recognition puts at the end.
_SEPARATORS = re.compile(r"[\s,，、;；:：/\\|+&.。!！?？~～…]+|还有|以及|和|及|与|跟|或")
# Words around the letters, longest first: 我选AC, 答案是B, 选项B, B吧.
_ANSWER_PREFIXES = ("我的答案是", "我的答案", "我觉得是", "我认为是", "我觉得选", "应该是", "应该选", "答案是", "答案",
                    "我选择", "我选", "就选", "选择", "选项", "选", "就是", "是")
_ANSWER_SUFFIXES = ("选项", "吧", "啊", "呀", "哦", "呢", "啦", "项")


def parse_letters(text: str) -> str | None:
    """Normalise an answer as people type or say it to sorted letters: `AC`, `a c`, `A、C`,
    `我选AC`, `A和C`, `选B`, `Ｂ`, voice's `B。` → "AC" / "B".

    Returns None when the text is not an answer made of option letters A–F (so it can be
    something else: another keyword, `OK`, a question); letters may still be out of range for
    the question (see `check_letters`).
    """
    t = unicodedata.normalize("NFKC", text or "").strip().upper()
    t = _SEPARATORS.sub("", t)
    changed = True
    while changed and t:
        changed = False
        for prefix in _ANSWER_PREFIXES:
            if t.startswith(prefix) and len(t) > len(prefix):
                t, changed = t[len(prefix):], True
                break
        for suffix in _ANSWER_SUFFIXES:
            if t.endswith(suffix) and len(t) > len(suffix):
                t, changed = t[:-len(suffix)], True
                break
    if not t or any(ch not in LETTERS for ch in t):
        return None
    return "".join(sorted(set(t)))


def check_letters(letters: str, n_options: int) -> str | None:
    """None when fine, else a hint for the taker."""
    valid = LETTERS[:n_options]
    if any(ch not in valid for ch in letters):
        return f"请回复 {valid[0]}–{valid[-1]} 之间的选项字母，例如 B 或 AC。"
    return None


# ------------------------------------------------------------------ periods
@dataclass(frozen=True)
class PeriodCode:
    code: str
    kind: str  # month | half
    year: int
    part: int  # month number or half (1, 2)

    @property
    def title(self) -> str:
        if self.kind == "month":
            return f"{self.year}年{self.part}月 每月一题"
        return f"{self.year}年{'上' if self.part == 1 else '下'}半年测试"

    @property
    def label(self) -> str:
        """The short name staff read in tables and exports: 「2026年12月」「2026年下半年测试」."""
        if self.kind == "month":
            return f"{self.year}年{self.part}月"
        return self.title


# What staff may type for a period besides the codes: 2026年12月, 2026.12, 2026年下半年(测试), 2026H2.
_CN_MONTH_RE = re.compile(r"^(\d{4})(?:年|[-/.])(\d{1,2})月?(?:每月一题)?$")
_CN_HALF_RE = re.compile(r"^(\d{4})(?:年|-)?(?:H([12])|([上下])半年)(?:测试|考试)?$")


def parse_period_code(code: str) -> PeriodCode:
    """`2026-12` / `2026-H2`, or as staff write them: 「2026年12月」「2026年下半年测试」."""
    code = unicodedata.normalize("NFKC", code or "").strip().upper().replace(" ", "")
    m = MONTH_RE.match(code)
    if m:
        return PeriodCode(code, "month", int(m[1]), int(m[2]))
    m = HALF_RE.match(code)
    if m:
        return PeriodCode(code, "half", int(m[1]), int(m[2]))
    m = _CN_MONTH_RE.match(code)
    if m and 1 <= int(m[2]) <= 12:
        return parse_period_code(f"{m[1]}-{int(m[2]):02d}")
    m = _CN_HALF_RE.match(code)
    if m:
        return parse_period_code(f"{m[1]}-H{m[2] or (1 if m[3] == '上' else 2)}")
    raise QuizError(f"期次「{code}」格式不对：每月一题写「2026年12月」，半年测试写「2026年下半年」。")


def period_choices(year: int, taken: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(code, label) of the year's months and half-year tests not set up yet, for a select."""
    taken = set(taken)
    codes = [f"{year}-{m:02d}" for m in range(1, 13)]
    codes.insert(6, f"{year}-H1")  # the half-year tests after their month (June, December)
    codes.append(f"{year}-H2")
    return [(c, parse_period_code(c).label) for c in codes if c not in taken]


def default_window(pc: PeriodCode, tz: tzinfo) -> tuple[datetime, datetime]:
    """Month: the whole month. Half-year test: the half's last month (June / December); local midnights in `tz`."""
    month = pc.part if pc.kind == "month" else pc.part * 6
    opens = datetime(pc.year, month, 1, tzinfo=tz)
    closes = datetime(pc.year + 1, 1, 1, tzinfo=tz) if month == 12 else datetime(pc.year, month + 1, 1, tzinfo=tz)
    return opens, closes


def parse_local_time(value: str | None, tz: tzinfo) -> datetime | None:
    """A local date or date-time typed by staff (`2026-12-01`, `2026-12-01T08:00`) as an aware datetime in `tz`."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise QuizError(f"时间「{value}」的格式不对，请写成 2026-12-01 或 2026-12-01T08:00。") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=tz)


def parse_question_ids(raw: str | None) -> list[int]:
    """Question numbers as staff type them: `3,7,12`, `#3，#7`, `3 7 12`."""
    parts = str(raw or "").replace("，", ",").replace("、", ",").replace(" ", ",").split(",")
    try:
        return [int(x.strip().lstrip("#")) for x in parts if x.strip()]
    except ValueError:
        raise QuizError("请填写题目编号，用逗号分隔，例如 3,7,12。") from None


def parse_count(raw: Any) -> int | None:
    """A number of questions typed by staff; None when left blank (the default applies)."""
    s = str(raw if raw is not None else "").strip()
    if not s:
        return None
    if not s.isdecimal() or int(s) < 1:
        raise QuizError("题目数量请填正整数，例如 10。")
    return int(s)


def default_count(settings: Any, kind: str) -> int:
    """How many questions a period of `kind` gets when staff do not say (`[quiz]` settings)."""
    q = settings.quiz
    return q.questions_per_month if kind == "month" else q.questions_per_half


def last_day(period: QuizPeriod, tz: tzinfo) -> datetime:
    """The last local moment of the window (a window ends at midnight: its day is the one before)."""
    return (period.closes_at - timedelta(seconds=1)).astimezone(tz)


def period_status(period: QuizPeriod, now: datetime) -> str:
    if now < period.opens_at:
        return "scheduled"
    if now >= period.closes_at:
        return "closed"
    return "open"


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


@dataclass(frozen=True)
class TakerView:
    """What one worker may see about one period right now. The single rule behind every text a
    worker reads about a period (the end-of-test message, 成绩, 解析, the 答题 "all done" reply),
    so they never contradict each other:

    ==================  ===============  ====================  =================  ==============
    period              answers shown    own right-count       score (得分)       year total/rank
    ==================  ===============  ====================  =================  ==============
    not open yet        none             –                     –                  no
    open, immediate     answered ones    yes, 已答 N/M 答对 K   once all answered  no
    open, after_close   none             no (已答 N/M only)    no                 no
    closed, both modes  all              yes                   yes (unanswered    yes
                                                               count as wrong)
    ==================  ===============  ====================  =================  ==============

    A partial, open period never shows a score; the year total and rank count closed periods
    only (others may still be answering them).
    """
    status: str  # scheduled | open | closed
    reveal: str  # immediate | after_close
    answered: int
    total: int
    right: int  # raw count of right answers: read it through `correct` / `score`

    @property
    def took_part(self) -> bool:
        return self.answered > 0

    @property
    def done(self) -> bool:
        return self.total > 0 and self.answered >= self.total

    @property
    def waits_for_close(self) -> bool:
        """Results (answers, score) are published only after the period closes."""
        return self.status != "closed" and self.reveal == "after_close"

    @property
    def correct(self) -> int | None:
        """How many the worker got right, when they may know it (None otherwise)."""
        if not self.took_part or self.status == "scheduled" or self.waits_for_close:
            return None
        return self.right

    @property
    def final(self) -> bool:
        """The score is settled and may be shown as 得分."""
        return self.correct is not None and (self.status == "closed" or self.done)

    @property
    def score(self) -> float | None:
        return percent(self.right, self.total) if self.final else None

    @property
    def in_rank(self) -> bool:
        """The period counts in the year total and rank a worker sees."""
        return self.status == "closed"

    def answer_visible(self, answered_it: bool) -> bool:
        """A question's key and explanation: all after the close; while open, only those the
        worker answered, and only in periods that reveal immediately (so the rest cannot be
        looked up first)."""
        if self.status == "closed":
            return True
        return self.status == "open" and self.reveal == "immediate" and answered_it


def what_taker_sees(period: QuizPeriod, now: datetime, answered: int = 0, total: int = 0,
                    correct: int = 0) -> TakerView:
    """The view of `period` for a worker who answered `answered` of `total` questions, `correct`
    of them right (see TakerView for the rule)."""
    return TakerView(period_status(period, now), period.reveal, answered, total, correct)


def period_title(period: QuizPeriod) -> str:
    return period.title or parse_period_code(period.code).title


def period_label(period: QuizPeriod) -> str:
    """The short name staff read in tables and exports: 「2026年12月」「2026年下半年测试」 (never `2026-H2`)."""
    try:
        return parse_period_code(period.code).label
    except QuizError:
        return period_title(period)


def end_text(closes_at: datetime, tz: tzinfo) -> str:
    """When a window ends, as staff read it: a local midnight is the end of the day before
    (「2026-12-31 24:00」, not 「2027-01-01 00:00」)."""
    local = closes_at.astimezone(tz)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"


def window_text(period: QuizPeriod, tz: tzinfo) -> str:
    """「2026-12-01 00:00 至 2026-12-31 24:00」."""
    return f"{period.opens_at.astimezone(tz):%Y-%m-%d %H:%M} 至 {end_text(period.closes_at, tz)}"


async def get_period(session: AsyncSession, code: str) -> QuizPeriod | None:
    return await session.scalar(select(QuizPeriod).where(QuizPeriod.code == code.strip().upper()))


async def list_periods(session: AsyncSession, year: int | None = None) -> list[QuizPeriod]:
    q = select(QuizPeriod).order_by(QuizPeriod.opens_at, QuizPeriod.kind)
    if year is not None:
        q = q.where(QuizPeriod.year == year)
    return list(await session.scalars(q))


async def open_periods(session: AsyncSession, ctx: OpsContext) -> list[QuizPeriod]:
    """Periods open now: month first, then the half-year test."""
    now = ctx.now
    rows = await session.scalars(select(QuizPeriod).where(QuizPeriod.opens_at <= now, QuizPeriod.closes_at > now))
    return sorted(rows, key=lambda p: (p.kind != "month", p.opens_at))


async def next_period(session: AsyncSession, ctx: OpsContext, kind: str | None = None) -> QuizPeriod | None:
    """The next period to open (of `kind`, month | half, when given)."""
    q = select(QuizPeriod).where(QuizPeriod.opens_at > ctx.now)
    if kind is not None:
        q = q.where(QuizPeriod.kind == kind)
    return await session.scalar(q.order_by(QuizPeriod.opens_at).limit(1))


async def create_period(
    session: AsyncSession, ctx: OpsContext, code: str, *, count: int | None = None,
    opens_at: datetime | None = None, closes_at: datetime | None = None, reveal: str = "immediate",
    question_ids: Sequence[int] | None = None, draw: bool = True,
) -> QuizPeriod:
    """Create a period; questions are the given ids, or drawn (`count`, default by kind from the settings).
    The window defaults to the local month (half-year test: June / December) in `ctx.tz`."""
    pc = parse_period_code(code)
    if await get_period(session, pc.code) is not None:
        raise QuizError(f"「{pc.label}」已经存在，不能重复创建。")
    d_open, d_close = default_window(pc, ctx.tz)
    opens_at, closes_at = opens_at or d_open, closes_at or d_close
    _check_window(opens_at, closes_at)
    _check_reveal(reveal)
    period = QuizPeriod(code=pc.code, kind=pc.kind, year=pc.year, title=pc.title, opens_at=opens_at,
                        closes_at=closes_at, reveal=reveal, created_at=ctx.now)
    session.add(period)
    await session.flush()
    if question_ids:
        await set_period_questions(session, ctx, period, question_ids)
    elif draw:
        await _draw(session, ctx, period, count)
    return period


def _check_window(opens_at: datetime, closes_at: datetime) -> None:
    if opens_at.tzinfo is None or closes_at.tzinfo is None:
        raise ValueError("period windows must be timezone-aware")
    if closes_at <= opens_at:
        raise QuizError("结束时间要晚于开始时间。")


def _check_reveal(reveal: str) -> None:
    if reveal not in REVEAL_MODES:
        raise QuizError("公布方式只能是「答完立即公布」或「本期结束后公布」。")


async def update_period(session: AsyncSession, ctx: OpsContext, period: QuizPeriod, *,
                        opens_at: datetime | None = None, closes_at: datetime | None = None,
                        reveal: str | None = None) -> None:
    """Change the window or when answers are revealed; what is not given stays."""
    opens_at, closes_at = opens_at or period.opens_at, closes_at or period.closes_at
    reveal = reveal or period.reveal
    _check_window(opens_at, closes_at)
    _check_reveal(reveal)
    period.opens_at, period.closes_at, period.reveal = opens_at, closes_at, reveal


async def period_questions(session: AsyncSession, period: QuizPeriod) -> list[QuizQuestion]:
    """The period's questions in order (removed-from-bank questions included: the period keeps them)."""
    rows = await session.scalars(
        select(QuizQuestion).join(QuizPeriodQuestion, QuizPeriodQuestion.question_id == QuizQuestion.id)
        .where(QuizPeriodQuestion.period_id == period.id).order_by(QuizPeriodQuestion.position))
    return list(rows)


async def _answer_count(session: AsyncSession, period: QuizPeriod) -> int:
    return await session.scalar(select(func.count()).select_from(QuizAnswer)
                                .where(QuizAnswer.period_id == period.id)) or 0


async def questions_locked(session: AsyncSession, period: QuizPeriod) -> bool:
    """Once anyone has answered, the period's questions can no longer be changed."""
    return await _answer_count(session, period) > 0


async def delete_period(session: AsyncSession, ctx: OpsContext, period: QuizPeriod) -> int:
    """Delete a period set up by mistake — only while no one has answered it (answers are
    never thrown away). Its question list goes (the questions stay in the bank) and 「已经开始」
    messages for it not yet sent are cancelled. Returns how many questions it had."""
    title = period_label(period)
    answered = await _answer_count(session, period)
    if answered:
        people = await session.scalar(select(func.count(func.distinct(QuizAnswer.openid)))
                                      .where(QuizAnswer.period_id == period.id)) or 0
        raise QuizError(f"「{title}」已有 {people} 人作答（{answered} 份答案），不能删除，以免丢失成绩。"
                        "如果不想再让人作答，可以把结束时间改到现在。")
    rows = list(await session.scalars(select(QuizPeriodQuestion).where(QuizPeriodQuestion.period_id == period.id)))
    for row in rows:
        await session.delete(row)
    prefix = f"quiz:open:{period.code}:"
    queued = await outbox.openids_with_prefix(session, prefix)
    await outbox.cancel_pending(session, [prefix + o for o in queued], "期次已删除")
    await session.delete(period)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # someone answered in the meantime
        raise QuizError(f"「{title}」刚刚有人作答，不能删除了。") from None
    return len(rows)


async def set_period_questions(session: AsyncSession, ctx: OpsContext, period: QuizPeriod,
                               question_ids: Sequence[int]) -> list[QuizQuestion]:
    """Choose the period's questions (in this order). Refused once anyone has answered."""
    if await questions_locked(session, period):
        raise QuizError("本期已经有人作答，不能再更换题目。")
    ids = list(dict.fromkeys(int(i) for i in question_ids))
    if not ids:
        raise QuizError("请至少选择一道题。")
    found = {q.id: q for q in await session.scalars(select(QuizQuestion).where(QuizQuestion.id.in_(ids)))}
    missing = [i for i in ids if i not in found or found[i].deleted_at is not None]
    if missing:
        raise QuizError("题目 " + "、".join(f"#{i}" for i in missing) + " 不存在或已移出题库。")
    old = await session.scalars(select(QuizPeriodQuestion).where(QuizPeriodQuestion.period_id == period.id))
    for row in old:
        await session.delete(row)
    await session.flush()
    for pos, qid in enumerate(ids, 1):
        session.add(QuizPeriodQuestion(period_id=period.id, question_id=qid, position=pos))
    await session.flush()
    return [found[i] for i in ids]


async def draw_questions(session: AsyncSession, ctx: OpsContext, period: QuizPeriod, count: int | None = None, *,
                         rng: random.Random | None = None) -> list[QuizQuestion]:
    """Let the system pick `count` (default by kind from the settings); refused when the bank is empty."""
    chosen = await _draw(session, ctx, period, count, rng=rng)
    if not chosen:
        raise QuizError("题库里没有可用的题目，请先导入题目。")
    return chosen


async def _draw(session: AsyncSession, ctx: OpsContext, period: QuizPeriod, count: int | None = None, *,
                rng: random.Random | None = None) -> list[QuizQuestion]:
    """Questions not yet used this year first, then the least used ones; [] when the bank is empty."""
    count = count or default_count(ctx.settings, period.kind)
    bank = list(await session.scalars(select(QuizQuestion).where(QuizQuestion.deleted_at.is_(None))))
    if not bank:
        return []
    used_rows = await session.execute(
        select(QuizPeriodQuestion.question_id, func.count())
        .join(QuizPeriod, QuizPeriod.id == QuizPeriodQuestion.period_id)
        .where(QuizPeriod.year == period.year, QuizPeriod.id != period.id)
        .group_by(QuizPeriodQuestion.question_id))
    used = dict(used_rows.all())
    rng = rng or random.Random()
    rng.shuffle(bank)
    bank.sort(key=lambda q: used.get(q.id, 0))  # stable: shuffled within each usage count
    chosen = bank[:count]
    return await set_period_questions(session, ctx, period, [q.id for q in chosen])


# ------------------------------------------------------------------ bank
def normalise_answer(raw: str, n_options: int) -> str:
    letters = parse_letters(raw or "")
    if not letters:
        raise QuizError("正确答案请填选项字母，如 B 或 AC。")
    hint = check_letters(letters, n_options)
    if hint:
        raise QuizError(f"正确答案只能在 A–{LETTERS[n_options - 1]} 之中。")
    return letters


def parse_difficulty(raw: Any) -> int:
    s = str(raw if raw is not None else "").strip()
    if s in ("", "中", "中等", "2", "2.0"):
        return 2
    if s in ("易", "容易", "简单", "1", "1.0"):
        return 1
    if s in ("难", "困难", "较难", "3", "3.0"):
        return 3
    raise QuizError("难度请填 易/中/难 或 1/2/3。")


def clean_options(options: Iterable[Any]) -> list[str]:
    """Option texts A.. in order; trailing blanks dropped; a gap or a count outside 2–6 refused."""
    opts = [("" if o is None else str(o)).strip() for o in options]
    while opts and not opts[-1]:
        opts.pop()
    if any(not o for o in opts):
        raise QuizError("选项要从 A 开始连续填写，中间不能留空。")
    if not 2 <= len(opts) <= 6:
        raise QuizError("每题需要 2–6 个选项。")
    return opts


def validate_question(stem: Any, options: Iterable[Any], answer: Any, explanation: Any = "", topic: Any = "",
                      difficulty: Any = "") -> dict[str, Any]:
    """Check one question's fields; returns the cleaned values or raises QuizError."""
    stem_s = ("" if stem is None else str(stem)).strip()
    if not stem_s:
        raise QuizError("题干不能为空。")
    opts = clean_options(options)
    return {
        "stem": stem_s, "options": opts, "answer": normalise_answer(str(answer or ""), len(opts)),
        "explanation": ("" if explanation is None else str(explanation)).strip(),
        "topic": ("" if topic is None else str(topic)).strip()[:64],
        "difficulty": parse_difficulty(difficulty),
    }


async def get_question(session: AsyncSession, qid: int) -> QuizQuestion | None:
    """A question by number, also one removed from the bank."""
    return await session.get(QuizQuestion, qid)


async def create_question(session: AsyncSession, ctx: OpsContext, *, source: str = "", **fields: Any) -> QuizQuestion:
    values = validate_question(**fields)
    q = QuizQuestion(**values, created_at=ctx.now, updated_at=ctx.now, source=source[:200])
    session.add(q)
    await session.flush()
    return q


FIELD_LABELS = {"stem": "题干", "options": "选项", "answer": "正确答案", "explanation": "解析", "topic": "专题",
                "difficulty": "难度"}


@dataclass(frozen=True)
class QuestionEdit:
    """What saving an edit of a question would change (shown before staff confirm a new key)."""
    changed: list[str]  # field labels, e.g. ["正确答案", "解析"]
    old_answer: str
    new_answer: str
    answers: int  # answers already given to the question
    to_right: int  # of them, wrong now and right under the new key
    to_wrong: int  # right now and wrong under the new key

    @property
    def key_changed(self) -> bool:
        return self.old_answer != self.new_answer

    @property
    def rescored(self) -> int:
        return self.to_right + self.to_wrong

    def summary(self) -> str:
        """「改了正确答案（B → A）、解析；已按新答案重新判分：1 份由错改为对」 (after saving)."""
        parts = [f"正确答案（{self.old_answer} → {self.new_answer}）" if c == "正确答案" else c for c in self.changed]
        text = "改了" + "、".join(parts) if parts else "内容没有变化"
        if self.key_changed and self.answers:
            moves = [f"{n} 份{what}" for n, what in ((self.to_right, "由错改为对"), (self.to_wrong, "由对改为错")) if n]
            text += "；已按新答案重新判分：" + ("，".join(moves) if moves else f"{self.answers} 份作答的对错都没有变化")
        return text


async def preview_question_edit(session: AsyncSession, q: QuizQuestion, **fields: Any) -> QuestionEdit:
    """Validate an edit (QuizError when wrong) and say what saving it would change, and how
    many answers a new key would re-mark."""
    values = validate_question(**fields)
    current = {"stem": q.stem, "options": list(q.options), "answer": q.answer, "explanation": q.explanation or "",
               "topic": q.topic or "", "difficulty": q.difficulty}
    changed = [label for k, label in FIELD_LABELS.items() if values[k] != current[k]]
    to_right = to_wrong = n = 0
    for a in await session.scalars(select(QuizAnswer).where(QuizAnswer.question_id == q.id)):
        n += 1
        ok = a.chosen == values["answer"]
        to_right += ok and not a.correct
        to_wrong += a.correct and not ok
    return QuestionEdit(changed, q.answer, values["answer"], n, to_right, to_wrong)


async def question_answer_count(session: AsyncSession, qid: int) -> int:
    """Answers given to question `qid` in any period."""
    return await session.scalar(select(func.count()).select_from(QuizAnswer).where(QuizAnswer.question_id == qid)) or 0


async def update_question(session: AsyncSession, ctx: OpsContext, q: QuizQuestion, **fields: Any) -> int:
    """Edit a question. If its key changed, answers already given are re-marked; returns how many changed."""
    values = validate_question(**fields)
    key_changed = values["answer"] != q.answer
    for k, v in values.items():
        setattr(q, k, v)
    q.updated_at = ctx.now
    if not key_changed:
        return 0
    answers = list(await session.scalars(select(QuizAnswer).where(QuizAnswer.question_id == q.id)))
    changed = 0
    for a in answers:
        ok = a.chosen == q.answer
        if ok != a.correct:
            a.correct = ok
            changed += 1
    return changed


async def delete_question(session: AsyncSession, ctx: OpsContext, q: QuizQuestion) -> None:
    """Remove from the bank (soft): past periods and answers keep it."""
    if q.deleted_at is not None:
        raise QuizError(f"第 {q.id} 题已经不在题库中了。")
    q.deleted_at = ctx.now
    q.updated_at = ctx.now


async def restore_question(session: AsyncSession, ctx: OpsContext, q: QuizQuestion) -> None:
    """Put a removed question back in the bank."""
    if q.deleted_at is None:
        raise QuizError(f"第 {q.id} 题在题库中，没有被移出。")
    q.deleted_at = None
    q.updated_at = ctx.now


async def list_questions(session: AsyncSession, *, search: str = "", topic: str = "", deleted: bool = False,
                         limit: int | None = None, offset: int = 0) -> tuple[list[QuizQuestion], int]:
    q = select(QuizQuestion)
    q = q.where(QuizQuestion.deleted_at.is_not(None) if deleted else QuizQuestion.deleted_at.is_(None))
    if search:
        q = q.where(QuizQuestion.stem.contains(search))
    if topic:
        q = q.where(QuizQuestion.topic == topic)
    total = await session.scalar(select(func.count()).select_from(q.subquery())) or 0
    q = q.order_by(QuizQuestion.id.desc()).offset(offset)
    if limit:
        q = q.limit(limit)
    return list(await session.scalars(q)), total


def question_query(*, topic: str = "", deleted: bool = False) -> Select:
    """The staff question bank (newest first): questions in use, or those removed."""
    q = select(QuizQuestion).where(QuizQuestion.deleted_at.is_not(None) if deleted else QuizQuestion.deleted_at.is_(None))
    if topic:
        q = q.where(QuizQuestion.topic == topic)
    return q.order_by(QuizQuestion.id.desc())


def question_search(q: str):  # noqa: ANN201
    """The bank's search box: words of the stem, or a question's number (#12 or 12)."""
    number = q.lstrip("#")
    if number.isdecimal() and len(number) < 10:
        return or_(QuizQuestion.id == int(number), QuizQuestion.stem.contains(q, autoescape=True))
    return QuizQuestion.stem.contains(q, autoescape=True)


async def topics(session: AsyncSession) -> list[str]:
    rows = await session.scalars(select(QuizQuestion.topic).where(QuizQuestion.topic != "").distinct())
    return sorted(rows)


# ------------------------------------------------------------------ answering
async def answered_ids(session: AsyncSession, period: QuizPeriod, openid: str) -> dict[int, QuizAnswer]:
    rows = await session.scalars(select(QuizAnswer).where(QuizAnswer.period_id == period.id,
                                                          QuizAnswer.openid == openid))
    return {a.question_id: a for a in rows}


async def answered_period_ids(session: AsyncSession, openid: str) -> set[int]:
    """The periods in which `openid` answered at least one question."""
    return set(await session.scalars(select(QuizAnswer.period_id).where(QuizAnswer.openid == openid).distinct()))


async def taken_periods(session: AsyncSession, openid: str) -> list[QuizPeriod]:
    """The periods `openid` answered in, the one answered in most recently first."""
    rows = (await session.execute(
        select(QuizPeriod, func.max(QuizAnswer.answered_at).label("last"))
        .join(QuizAnswer, QuizAnswer.period_id == QuizPeriod.id).where(QuizAnswer.openid == openid)
        .group_by(QuizPeriod.id))).all()
    rows.sort(key=lambda r: (r[1], r[0].closes_at, r[0].opens_at, r[0].id), reverse=True)
    return [p for p, _ in rows]


async def next_question(session: AsyncSession, period: QuizPeriod, openid: str
                        ) -> tuple[QuizQuestion | None, int, int]:
    """The first unanswered question, its 1-based number and the period's question count."""
    questions = await period_questions(session, period)
    done = await answered_ids(session, period, openid)
    for i, q in enumerate(questions, 1):
        if q.id not in done:
            return q, i, len(questions)
    return None, len(questions), len(questions)


class AlreadyAnswered(QuizError):
    """A second attempt at a question: the first answer stands."""

    def __init__(self, answer: QuizAnswer | None, letters: str) -> None:
        chosen = answer.chosen if answer is not None else letters
        super().__init__(f"这道题您已经答过了（您的答案：{chosen}），每题只能作答一次。")
        self.answer = answer


class WindowClosed(QuizError):
    """An answer outside the period's window: not counted."""

    def __init__(self, period: QuizPeriod) -> None:
        super().__init__(f"抱歉，「{period_title(period)}」已经结束了，这次的答案没有计入。")
        self.period = period


async def record_answer(session: AsyncSession, ctx: OpsContext, period: QuizPeriod, question: QuizQuestion,
                        openid: str, letters: str) -> QuizAnswer:
    """Store the one attempt. Refused after the window (WindowClosed); a second attempt raises AlreadyAnswered.

    The unique constraint is the guard (a savepoint keeps the caller's transaction usable).
    """
    now = ctx.now
    if period_status(period, now) != "open":
        raise WindowClosed(period)
    existing = await session.scalar(select(QuizAnswer).where(
        QuizAnswer.period_id == period.id, QuizAnswer.question_id == question.id, QuizAnswer.openid == openid))
    if existing is not None:
        raise AlreadyAnswered(existing, letters)
    row = QuizAnswer(period_id=period.id, question_id=question.id, openid=openid, chosen=letters,
                     correct=letters == question.answer, answered_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise AlreadyAnswered(None, letters) from None
    return row


async def set_notice(session: AsyncSession, ctx: OpsContext, openid: str, enabled: bool) -> None:
    """Ask for (or opt out of) the "a new period is open" message."""
    row = await session.get(QuizNotice, openid)
    if row is None:
        session.add(QuizNotice(openid=openid, enabled=enabled, updated_at=ctx.now))
    else:
        row.enabled, row.updated_at = enabled, ctx.now


# ------------------------------------------------------------------ notices
async def notice_recipients(session: AsyncSession) -> list[str]:
    """Subscribed takers: following members who answered before or asked for 答题提醒, minus opt-outs."""
    prefs = dict((await session.execute(select(QuizNotice.openid, QuizNotice.enabled))).all())
    takers = set(await session.scalars(select(QuizAnswer.openid).distinct()))
    wanted = (takers | {o for o, on in prefs.items() if on}) - {o for o, on in prefs.items() if not on}
    if not wanted:
        return []
    following = set(await session.scalars(
        select(Member.openid).where(Member.openid.in_(wanted), Member.subscribed.is_(True))))
    return sorted(following)


def open_notice_text(period: QuizPeriod, tz: tzinfo) -> str:
    close = last_day(period, tz)
    what = "题目" if period.kind == "month" else "测试"
    return (f"【{period_title(period)}】{what}已经开始啦！回复「答题」即可参加，"
            f"{close.month}月{close.day}日前有效。不想收到提醒请回复「退订答题提醒」。")


async def queue_open_notices(session: AsyncSession, ctx: OpsContext) -> int:
    """When `[quiz] notify_on_open` is on: for every open period, queue one notice per subscribed
    taker (idempotent by outbox key). Returns how many were queued."""
    if not ctx.settings.quiz.notify_on_open:
        return 0
    count = 0
    for period in await open_periods(session, ctx):
        prefix = f"quiz:open:{period.code}:"
        if not await period_questions(session, period):
            continue  # nothing to answer yet: notify once questions are there
        sent = await outbox.openids_with_prefix(session, prefix)
        done = set(await session.scalars(select(QuizAnswer.openid).where(QuizAnswer.period_id == period.id)))
        recipients = [o for o in await notice_recipients(session) if o not in sent and o not in done]
        if not recipients:
            continue
        text = open_notice_text(period, ctx.tz)
        close = last_day(period, ctx.tz)
        template = {"kind": TEMPLATE_KIND, "data": {
            "first": f"{period_title(period)}已经开始", "keyword1": period_title(period),
            "keyword2": f"截至{close:%Y-%m-%d %H:%M}", "remark": "回复「答题」即可参加"}}
        for o in recipients:
            row = await outbox.enqueue(session, key=prefix + o, openid=o, now=ctx.now, text=text,
                                       purpose=OPEN_PURPOSE, template=template)
            count += row is not None
    return count


async def draw_missing(session: AsyncSession, ctx: OpsContext) -> list[str]:
    """Periods open now with no questions get drawn ones (count by kind from the settings); returns their codes."""
    done = []
    now = ctx.now
    for period in await list_periods(session):
        if period.closes_at <= now:
            continue
        has = await session.scalar(select(func.count()).select_from(QuizPeriodQuestion)
                                   .where(QuizPeriodQuestion.period_id == period.id))
        if not has and period.opens_at <= now:
            drawn = await _draw(session, ctx, period)
            if drawn:
                done.append(period.code)
    return done
