"""The form engine: declared fields, one question at a time.

A feature declares `fields` and `submit`; the engine asks for the next missing field,
re-asks with a hint on a bad answer, and handles the words people use around a form:
上一步 (back), 跳过 (optional fields only), 沿用 (only when there is a value to keep), the
confirm step (确认 / 修改 / 取消), photos at any moment, plausibility questions
(「家庭月收入 2 元，对吗？」) and cross-field checks on every path. 取消 itself is a global
interrupt (handlers/common.py) that calls `Form.cancel`; another feature's keyword inside
a form is the dispatcher's business (the form is kept as a draft, see `Flow`).

Nothing a person sends is dropped silently: a photo at a text step is kept when the form
collects photos (and the reply says so) or the reply says it was not kept; reserved words
(确认, 沿用, 跳过, 完成, 菜单 …) are never stored as answers. An answer that doesn't fit and
reads like a question for a person (`bot.core.question`) is re-asked with a pointer to the form
that `takes_questions` (the inbox's 留言: this form waits as a draft meanwhile), and words of
distress with the help lines. An answer asking how to use a feature (报名怎么报) is never taken
as a name or a number: the keyword is given and the question asked again (a story of sentences
may still say 怎么办).
"""
from __future__ import annotations

import inspect
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from bot.core.context import Ctx
from bot.core.normalize import NotANumber, fold, is_word, parse_choice_number, parse_number, variants
from bot.core.question import DISTRESS_HELP, is_distress, looks_like_question
from bot.core.router import Filter, Flow, Router
from bot.core.types import Reply, as_reply

BACK_WORDS = frozenset({"上一步", "返回上一步", "回到上一步", "上一题", "返回", "退回"})
# 「继续」 after a detour (菜单, a question): the current step again, no answer.
CONTINUE_WORDS = frozenset({"继续", "继续吧", "接着", "接着填", "继续填", "继续填写", "接着来", "我要继续", "继续填表",
                            "接着填吧", "继续办"})
SKIP_WORDS = frozenset({"跳过", "不填", "不想填", "先不填", "略过", "下一步", "不方便", "不填了", "不想填了", "先不填了",
                        "不用填", "不用填了", "不用了", "不写了", "不想写", "不想写了"})
# Giving up, said in a sentence (「算了 不申请了」): asked whether to 取消, nothing stored (except in
# the form that takes questions: there it may be the message).
QUIT_HINT = "您是不想继续填了吗？回复「取消」就不填了（填写的内容不会保存）；想接着填，请回答下面的问题。"
_QUITS = re.compile(r"^算了(?!一下|下)|不想?(?:申请|弄|办|填|报|报名|写|搞)了|不(?:申请|弄|办|搞)了")
EMPTY_WORDS = frozenset({"无", "没有", "没", "暂无", "没有了"})  # skip too, on optional fields
KEEP_WORDS = frozenset({"沿用", "不变", "没变", "照旧", "同上", "还是这个", "和上次一样", "跟上次一样", "一样"})
YES_WORDS = frozenset({"是", "是的", "对", "对的", "没错", "好", "好的", "确认", "确定", "嗯", "嗯嗯", "可以", "ok",
                       "没问题", "正确"})
CONFIRM_WORDS = frozenset({"确认", "确定", "提交", "确认提交", "是", "是的", "对", "对的", "没问题", "可以",
                           "好的", "ok", "没错", "正确"})
EDIT_WORDS = frozenset({"修改", "改", "更改", "改一下", "要改", "有错", "重新填"})
DONE_WORDS = frozenset({"完成", "好了", "结束", "没有了", "提交照片", "发完了", "发完", "就这些", "没了", "完了",
                        "传完了", "上传完了"})
ADD_WORDS = frozenset({"添加", "增加", "补充", "加", "继续添加", "再加"})
REPLACE_WORDS = frozenset({"替换", "重新上传", "重拍", "重新发", "全部替换", "换掉"})
# Command words: never an answer to a question, whatever the question.
RESERVED = frozenset({"确认", "确定", "提交", "修改", "取消", "上一步", "跳过", "沿用", "完成", "菜单", "帮助"})
# Acknowledgements: a person saying "OK", not giving a name or an employer.
ACKNOWLEDGEMENTS = frozenset({"好", "好的", "是", "是的", "对", "对的", "嗯", "嗯嗯", "哦", "收到", "谢谢", "知道了",
                              "ok", "行", "可以", "不知道", "不清楚", "随便", "你好", "您好"})

SUMMARY_TEXT_CHARS = 80  # a long free-text answer shows this many characters in the summary


class Invalid(Exception):
    """Raised by a field parser or check: the answer is re-asked with this hint."""

    def __init__(self, hint: str) -> None:
        super().__init__(hint)
        self.hint = hint


class Stop(Exception):
    """Raised by a parser or check to end the form now with this reply (nothing stored)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class Recheck(Exception):
    """Raised by `Form.cross_check` or `submit`: these answers don't fit together.

    The form goes back to `fields` (their earlier answers offered with 沿用), says
    `message`, and keeps everything else; it never ends the dialogue."""

    def __init__(self, message: str, fields: Sequence[str]) -> None:
        super().__init__(message)
        self.message = message
        self.fields = tuple(fields)


Parser = Callable[[str], Any]


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def text_parser(min_len: int = 1, max_len: int = 500) -> Parser:
    """Free text in the person's own words and punctuation. A short value (a unit's name, not a
    sentence) loses the full stop voice recognition puts at its end: 「环卫所。」 → 环卫所."""
    def parse(text: str) -> str:
        text = text.strip()
        if max_len <= 100:
            text = text.rstrip("。.！!？?，,、；; ")
        if not _has_letters(text):
            raise Invalid("这一步请用文字回复。")
        if len(text) < min_len:
            raise Invalid(f"内容太短啦，请至少写{min_len}个字。")
        if len(text) > max_len:
            raise Invalid(f"内容有点长（{len(text)}字），请控制在{max_len}字以内。")
        return text
    parse.free_text = True  # type: ignore[attr-defined]  (an acknowledgement is no answer here)
    parse.sentences = max_len > 100  # type: ignore[attr-defined]  (a story, not a name: may say 怎么办)
    return parse


def int_parser(lo: int, hi: int, unit: str = "", *, units: tuple[str, ...] = (), example: str = "",
               what: str = "数字") -> Parser:
    """A whole number: 3, 三, 三口人, 十二家; 没有 / 无 mean 0 when 0 is allowed."""
    allowed = tuple(u for u in (unit, *units, "个") if u)
    ex = example or str(min(max(lo, 3), hi))

    def parse(text: str) -> int:
        try:
            number = parse_number(text, allowed, zero_words=lo <= 0)
            value = number.as_int()
        except NotANumber:
            raise Invalid(f"请回复一个数字，例如 {ex}。") from None
        if not lo <= value <= hi:
            raise Invalid(f"{what}应在{lo}–{hi}{unit}之间，请再确认一下。")
        return value
    return parse


def money_parser(hi: float = 1_000_000) -> Parser:
    """An amount of yuan: 3500, 三千五, 1.2万, 约3000, 3000左右; 没有 / 无 mean 0."""
    def parse(text: str) -> float:
        try:
            number = parse_number(text.replace("¥", "").replace("￥", ""), ("元钱", "块钱", "元", "块"))
        except NotANumber:
            raise Invalid("请回复金额数字，单位元，例如 3500（说「三千五」也可以）。") from None
        if number.value > Decimal(str(hi)):
            raise Invalid(f"金额应在 0–{hi:.0f} 元之间，请再确认一下。")
        return float(round(number.value, 2))
    return parse


Choices = Sequence[Any] | Callable[[Ctx, Mapping[str, Any]], Awaitable[Sequence[Any]] | Sequence[Any]]


@dataclass
class Field:
    """One question of a form.

    `parse` turns the answer into a value or raises Invalid(hint). `choices` makes a
    numbered question: a list of words, or of (value, label) pairs, or a function
    `(ctx, data)` returning either (it may be async; the list shown is the list matched);
    the answer may be the number (2, 二, 第二个) or the word. `condition(data)` decides
    whether to ask at all. `prefill(ctx)` offers a known value the user can keep with 沿用;
    `known(ctx)` answers the field without asking when the value is known (the profile),
    still shown in the summary and editable with 修改. `check(value, data)` raises Invalid
    when the value doesn't fit the other answers (run on every path); `plausible(value,
    data)` returns a question when a value is possible but surprising.
    `kind="images"` collects photos until 完成 (value: list of media ids);
    `kind="parts"` collects any mix of text and photos until 完成 (value: list of parts).
    """

    name: str
    prompt: str | Callable[[Ctx, Mapping[str, Any]], str]
    parse: Parser = field(default_factory=text_parser)
    label: str = ""
    choices: Choices | None = None
    condition: Callable[[Mapping[str, Any]], bool] | None = None
    optional: bool = False
    prefill: Callable[[Ctx], Any] | None = None
    known: Callable[[Ctx], Any] | None = None
    kind: str = "text"
    check: Callable[[Any, Mapping[str, Any]], None] | None = None
    plausible: Callable[[Any, Mapping[str, Any]], str | None] | None = None
    show: Callable[[Any], str] | None = None
    max_images: int = 9
    # Words people use for a choice (因病: 生病, 住院 …): an answer naming those of one choice only picks it.
    aliases: Mapping[Any, tuple[str, ...]] = field(default_factory=dict)

    def asked(self, data: Mapping[str, Any]) -> bool:
        return self.condition is None or bool(self.condition(data))

    def display(self, value: Any) -> str:
        if value is None or value == "" or value == []:
            return "（未填）"
        if self.show is not None:
            return self.show(value)
        if self.kind == "images":
            return f"{len(value)} 张照片"
        if self.kind == "parts":
            return parts_text(value)
        text = str(value)
        if len(text) > SUMMARY_TEXT_CHARS:
            return text[:SUMMARY_TEXT_CHARS] + f"……（共{len(text)}字）"
        return text

    def question(self, ctx: Ctx, data: Mapping[str, Any], choices: Sequence[Any] | None = None) -> str:
        text = self.prompt(ctx, data) if callable(self.prompt) else self.prompt
        if choices:
            text += "\n" + "\n".join(f"{i}. {_label(c)}" for i, c in enumerate(choices, 1))
            text += "\n（回复序号或文字）"
        if self.kind == "images":
            text += "\n请直接发送照片，发完后回复「完成」。"
        if self.kind == "parts":
            text += "\n文字、语音、照片都可以，可以分几条发，发完后回复「完成」。"
        if self.optional:
            text += "\n（可回复「跳过」）"
        return text

    def read(self, raw: str, choices: Sequence[Any] | None = None) -> Any:
        """The value of an answer. Free text keeps the person's own punctuation;
        choices and numbers are matched on the folded form."""
        if choices is None and self.choices is not None and not callable(self.choices):
            choices = list(self.choices)
        if choices:
            return pick(raw, choices, self.aliases)
        return self.parse(raw.strip())


def _label(choice: Any) -> str:
    return str(choice[1]) if isinstance(choice, (tuple, list)) else str(choice)


def _value(choice: Any) -> Any:
    return choice[0] if isinstance(choice, (tuple, list)) else choice


def pick(raw: str, choices: Sequence[Any], aliases: Mapping[Any, tuple[str, ...]] | None = None) -> Any:
    """The choice a person meant: its number (2, 二, 第二个), its word, a unique part of it, or
    words for it (`aliases`: 「老伴生病住院了」 → 因病) when they name one choice only."""
    n = parse_choice_number(raw)
    if n is not None:  # a number is a position, never a part of a label (times, dates)
        if 1 <= n <= len(choices):
            return _value(choices[n - 1])
        raise Invalid(f"请回复 1–{len(choices)} 之间的序号，或选项中的文字。")
    said = variants(raw)
    for c in choices:
        if fold(_label(c)).lower() in said:
            return _value(c)
    t = fold(raw).lower()
    matches = [c for c in choices if t and t in fold(_label(c)).lower()]
    if len(matches) == 1:
        return _value(matches[0])
    named = {_value(c) for c in choices for w in (aliases or {}).get(_value(c), ()) if t and w in t}
    if len(named) == 1:
        return named.pop()
    raise Invalid(f"请回复 1–{len(choices)} 之间的序号，或选项中的文字。")


def parts_text(parts: Sequence[Mapping[str, Any]]) -> str:
    """「1 段文字、2 张照片」"""
    texts = sum(1 for p in parts if p.get("t") == "text")
    images = sum(1 for p in parts if p.get("t") == "image")
    out = [f"{texts} 段文字" if texts else "", f"{images} 张照片" if images else ""]
    return "、".join(x for x in out if x) or "（无）"


class Form:
    """Subclass with `flow`, `title`, `fields`, `submit`; mount on a Router."""

    flow: ClassVar[str]
    title: ClassVar[str]
    fields: ClassVar[tuple[Field, ...]]
    confirm: ClassVar[bool] = True
    ttl: ClassVar[timedelta | None] = None  # default: settings.dialogue.expire_hours
    # Photos sent at another step are kept once these fields are answered (e.g. consent).
    keep_images_after: ClassVar[tuple[str, ...]] = ()
    resume_word: str = ""  # set by mount: the word that starts (and resumes) the form
    # Said when the form expired unfinished (None: the standard 「…已超过保留时间…」).
    expired_note: ClassVar[str | None] = None
    # The form a worker asks staff anything with (one at most, e.g. the inbox's 留言): another
    # form's re-ask of an answer that reads like a question points to it.
    takes_questions: ClassVar[bool] = False

    # --- hooks a feature may override -------------------------------------------------
    async def prepare(self, ctx: Ctx) -> Reply | str | dict[str, Any] | None:
        """Before the first question: return a reply to refuse the start, or initial data."""
        return {}

    def intro(self, ctx: Ctx, data: Mapping[str, Any]) -> str | None:
        return None

    async def answer_question(self, ctx: Ctx, data: Mapping[str, Any], text: str) -> str | None:
        """A question asked at a step of short answers (「在哪里培训 几点开始」 at 姓名, or 「收费不」, which
        reads as no valid answer) that this form can answer from what it knows: the answer, and the
        step is asked again (nothing stored). None: read it as an answer as usual."""
        return None

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> Reply | str | None:
        raise NotImplementedError

    def cross_check(self, ctx: Ctx, data: Mapping[str, Any]) -> None:
        """Raise Recheck when the answers don't fit together (run before the summary and on 确认)."""

    async def on_part(self, ctx: Ctx, data: Mapping[str, Any], part: Mapping[str, Any]) -> None:
        """A `parts` field received one part (save it at once if nothing may wait)."""

    def summary(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        lines = [f"请核对您的{self.title}："]
        n = 0
        for f in self.fields:
            if f.asked(data) and f.label:
                n += 1
                lines.append(f"{n}. {f.label}：{f.display(data.get(f.name))}")
        extra = self.summary_extra(ctx, data)
        if extra:
            lines.append(extra)
        tail = "\n回复「确认」提交，「修改」更改某一项，「取消」放弃。"
        if self._images_field(data) is not None:
            tail += "还有照片可以直接发送。"
        lines.append(tail)
        return "\n".join(lines)

    def summary_extra(self, ctx: Ctx, data: Mapping[str, Any]) -> str | None:
        return None

    # --- engine -----------------------------------------------------------------------
    def _ttl(self, ctx: Ctx) -> timedelta:
        return self.ttl or timedelta(hours=ctx.settings.dialogue.expire_hours)

    def _field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def _images_field(self, data: Mapping[str, Any]) -> Field | None:
        return next((f for f in self.fields if f.kind == "images" and f.asked(data)), None)

    def _set(self, ctx: Ctx, step: str, data: dict[str, Any]) -> None:
        ctx.dialogue.set(f"{self.flow}:{step}", data, ttl=self._ttl(ctx))

    async def _choices(self, ctx: Ctx, f: Field, data: dict[str, Any]) -> list[Any] | None:
        if f.choices is None:
            return None
        if not callable(f.choices):
            return list(f.choices)
        found = f.choices(ctx, data)
        if inspect.isawaitable(found):
            found = await found
        return [list(c) if isinstance(c, tuple) else c for c in found]

    async def _ask(self, ctx: Ctx, f: Field, data: dict[str, Any], hint: str = "") -> str:
        if f.prefill is not None and f.name not in data:
            prefilled = data.setdefault("_prefill", {})
            if prefilled.get(f.name) is None:
                prefilled[f.name] = f.prefill(ctx)
        choices = await self._choices(ctx, f, data)
        if choices is not None:
            data.setdefault("_choices", {})[f.name] = choices
        self._set(ctx, f.name, data)
        q = f.question(ctx, data, choices)
        if f.name not in data and self._offered(f, data):
            q += f"\n上次留的是「{f.display(data['_prefill'][f.name])}」，不变请回复「沿用」。"
        return f"{hint}\n{q}" if hint else q

    @staticmethod
    def _offered(f: Field, data: Mapping[str, Any]) -> bool:
        return _given(data.get("_prefill", {}).get(f.name))

    async def _next_field(self, ctx: Ctx, data: dict[str, Any]) -> Field | None:
        for f in self.fields:
            if not f.asked(data) or f.name in data:
                continue
            if f.known is not None and not data.get("_asked_known", {}).get(f.name):
                value = f.known(ctx)
                if _given(value):
                    data[f.name] = value
                    continue
            return f
        return None

    async def _advance(self, ctx: Ctx, data: dict[str, Any], hint: str = "") -> Reply | str | None:
        f = await self._next_field(ctx, data)
        if f is not None:
            return await self._ask(ctx, f, data, hint)
        try:
            self.cross_check(ctx, data)
        except Recheck as exc:
            return await self._return_to(ctx, data, exc, hint)
        if self.confirm:
            return self._show_summary(ctx, data, hint)
        return await self._finish(ctx, data)

    def _show_summary(self, ctx: Ctx, data: dict[str, Any], hint: str = "") -> str:
        self._set(ctx, "confirm", data)
        text = self.summary(ctx, data)
        return f"{hint}\n{text}" if hint else text

    async def _return_to(self, ctx: Ctx, data: dict[str, Any], exc: Recheck, hint: str = "") -> Reply | str | None:
        """Back to the fields a failed check names; their answers stay on offer with 沿用."""
        prefill = data.setdefault("_prefill", {})
        for name in exc.fields:
            if name in data:
                prefill[name] = data.pop(name)
            data.setdefault("_asked_known", {})[name] = True
        data.pop("_editing", None)
        data.pop("_unsure", None)
        note = "\n".join(x for x in (hint, exc.message + "请重新确认下面这一项，其他内容都保留着。") if x)
        return await self._advance(ctx, data, note)

    async def _finish(self, ctx: Ctx, data: dict[str, Any]) -> Reply | str | None:
        try:
            self.cross_check(ctx, data)
            clean = {k: v for k, v in data.items() if not k.startswith("_")}
            reply = await self.submit(ctx, clean)
        except Recheck as exc:
            return await self._return_to(ctx, data, exc)
        if ctx.dialogue.flow == self.flow:
            ctx.dialogue.clear()
        return reply

    async def start(self, ctx: Ctx) -> Reply | str | None:
        """Entry point: resume a draft, or prepare and ask the first question."""
        if ctx.dialogue.flow == self.flow:
            return await self.resume(ctx, "您正在填写" + self.title + "，我们接着来：")
        draft = ctx.dialogue.pop_draft(self.flow)
        if draft:
            ctx.dialogue.set(draft["state"], draft["data"], ttl=self._ttl(ctx))
            return await self.resume(ctx, f"您上次的{self.title}还没填完，我们从停下的地方接着来（回复「取消」可放弃）：")
        prepared = await self.prepare(ctx)
        if not isinstance(prepared, dict):
            return prepared
        data = dict(prepared)
        intro = self.intro(ctx, data)
        return await self._advance(ctx, data, intro or "")

    async def resume(self, ctx: Ctx, hint: str) -> Reply | str | None:
        data = dict(ctx.dialogue.data)
        step = (ctx.dialogue.state or "").split(":", 1)[1] if ctx.dialogue.state else ""
        f = self._field(step)
        if step == "confirm":
            return f"{hint}\n{self.summary(ctx, data)}"
        if step == "edit":
            return f"{hint}\n{self._edit_menu(ctx, data)}"
        if f is not None and f.name not in data:
            return await self._ask(ctx, f, data, hint)
        return await self._advance(ctx, data, hint)

    def aside(self, ctx: Ctx, text: str) -> str:
        """After a re-ask: an answer that reads like a question for a person is pointed to the form
        that `takes_questions` (this one is kept meanwhile); words of distress get the help lines."""
        if not text or self.takes_questions:
            return ""
        flows = ctx.dispatcher.flows if ctx.dispatcher is not None else {}
        asks = next((f for f in flows.values() if f.name != self.flow and f.resume_word
                     and getattr(f.form, "takes_questions", False)), None)
        lines = []
        if is_distress(text):
            lines.append(DISTRESS_HELP)
        if asks is not None and (lines or looks_like_question(text)):
            lines.append(f"如果是想问工作人员别的问题，回复「{asks.resume_word}」，您填到一半的内容会帮您保存。")
        return "".join("\n\n" + line for line in lines)

    def _how_to(self, ctx: Ctx, text: str) -> str:
        """An answer asking how to use a feature (`Dispatcher.how_to`) is told its keyword, this
        form kept meanwhile, or, asking about this form itself, that answering goes on here; ""
        for any other answer. (In 留言 the question is the message: a field of sentences takes it.)"""
        found = ctx.dispatcher.how_to(text) if ctx.dispatcher is not None else None
        if found is None:
            return ""
        keyword, does = found
        if keyword == self.resume_word:
            return f"您现在就在填写{self.title}，回答下面的问题就可以，我会一步步带您填完。"
        return f"{does}，回复「{keyword}」就可以，您填到一半的{self.title}会帮您保存。"

    def cancel(self, ctx: Ctx) -> str:
        ctx.dialogue.clear()
        return f"好的，已取消{self.title}，填写的内容没有保存。需要时随时再来找我们。"

    def _edit_menu(self, ctx: Ctx, data: dict[str, Any]) -> str:
        self._set(ctx, "edit", data)
        lines = ["请回复要修改的项目序号："]
        for i, f in enumerate(self._editable(data), 1):
            lines.append(f"{i}. {f.label}：{f.display(data.get(f.name))}")
        lines.append("（回复「上一步」回到核对页）")
        return "\n".join(lines)

    def _editable(self, data: Mapping[str, Any]) -> list[Field]:
        return [f for f in self.fields if f.asked(data) and f.label]

    def _drop_dependent(self, data: dict[str, Any]) -> None:
        """Remove answers whose field is no longer asked (after an edit)."""
        for f in self.fields:
            if f.name in data and not f.asked(data):
                del data[f.name]

    async def offers_choice(self, ctx: Ctx) -> bool:
        """Whether the message names one of the choices the current step offers (by its words).

        A choice on offer is an answer even when it is also another feature's keyword: at
        「您想咨询哪方面的问题？」 the answer 「帮扶」 picks the topic, it doesn't start an application.
        """
        state = ctx.dialogue.state or ""
        f = self._field(state.split(":", 1)[1] if ":" in state else "")
        if f is None or f.choices is None or ctx.msg.kind not in ("text", "voice"):
            return False
        said = variants(ctx.msg.text)
        return any(fold(_label(c)).lower() in said for c in await self._choices(ctx, f, dict(ctx.dialogue.data)) or ())

    async def handle(self, ctx: Ctx) -> Reply | str | None:
        """A message in one of this form's states."""
        state = ctx.dialogue.state or ""
        step = state.split(":", 1)[1] if ":" in state else ""
        data = dict(ctx.dialogue.data)
        text = ctx.text if ctx.msg.kind in ("text", "voice") else ""

        if step == "confirm":
            return await self._at_confirm(ctx, data, text)
        if step == "edit":
            return await self._at_edit(ctx, data, text)

        f = self._field(step)
        if f is None:  # a step that no longer exists (renamed field): start over politely
            ctx.dialogue.clear()
            return f"抱歉，{self.title}的流程有更新，麻烦您重新开始，回复「{self.resume_word}」即可。"

        if text and is_word(text, BACK_WORDS):
            return await self._back(ctx, f, data)
        how = ""
        try:
            if f.kind == "images":
                return await self._image_step(ctx, f, data, text)
            if f.kind == "parts":
                return await self._parts_step(ctx, f, data, text)
            if ctx.msg.kind == "image":
                return await self._stray_image(ctx, f, data)
            if ctx.msg.kind == "voice" and not text:
                return await self._ask(ctx, f, data, "这条语音没有识别出文字，麻烦您再说一遍或打字回复。")
            if ctx.msg.kind not in ("text", "voice"):
                return await self._ask(ctx, f, data, "这一步需要文字回复哦，刚才发的内容没有保存。")
            if is_word(text, CONTINUE_WORDS):
                return await self._ask(ctx, f, data, "好的，我们接着填：")
            if _QUITS.search(fold(text)) and not (self.takes_questions or is_word(text, SKIP_WORDS)):
                return await self._ask(ctx, f, data, QUIT_HINT)  # 「算了 不申请了」: not an answer
            how = self._how_to(ctx, text)  # 「报名怎么报」: answered, and no name or number
            if how and not getattr(f.parse, "sentences", False):  # in a story it may be a part
                raise Invalid("")
            if not getattr(f.parse, "sentences", False) and looks_like_question(text):
                how = await self.answer_question(ctx, data, text) or ""
                if how:  # 「在哪里培训」 at 姓名: answered from the form's own facts, asked again
                    raise Invalid("")
            value = self._answer(f, data, text, ctx.msg.text)
            if value is _UNSURE_KEPT:
                value = data["_unsure"]["value"]
            elif f.plausible is not None and not data.get("_unsure"):
                question = f.plausible(value, data)
                if question:
                    data["_unsure"] = {"value": value}
                    self._set(ctx, f.name, data)
                    return (f"{question}\n没错请回复「对」；填错了请直接回复正确的{f.label or '内容'}。")
            data.pop("_unsure", None)
            if f.check is not None:
                f.check(value, data)
            data[f.name] = value
            heard = self._heard(f, data, text, value)
        except Invalid as exc:
            data.pop("_unsure", None)
            if not how and text and not getattr(f.parse, "sentences", False):
                how = await self.answer_question(ctx, data, text) or ""  # 「收费不」: no answer, a question
            if how:
                return await self._ask(ctx, f, data, how)
            return await self._ask(ctx, f, data, exc.hint) + self.aside(ctx, text)
        except Stop as exc:
            ctx.dialogue.clear()
            return exc.reply
        reply = await self._after_answer(ctx, f, data)
        return heard + "\n" + reply if heard and isinstance(reply, str) else reply

    @staticmethod
    def _heard(f: Field, data: Mapping[str, Any], text: str, value: Any) -> str:
        """A choice read from the person's own words (「老伴住院了」 → 因病): said back, with the way
        to put it right, since a number or the choice's own word was not given."""
        choices = data.get("_choices", {}).get(f.name)  # as asked (`_ask` keeps them)
        if not f.aliases or not choices or parse_choice_number(text) is not None or is_word(text, KEEP_WORDS | YES_WORDS):
            return ""  # only aliases read a choice from other words; a number or 沿用 names it itself
        t = fold(text).lower()
        label = next((_label(c) for c in choices if _value(c) == value), "")
        if not label or fold(label).lower() in variants(text) or t in fold(label).lower():
            return ""
        return f"好的，{f.label or '这一项'}记为「{label}」（不对请回复「上一步」）。"

    def _answer(self, f: Field, data: dict[str, Any], text: str, raw: str) -> Any:
        """The value a text answer gives `f`, or Invalid with what to do instead."""
        if data.get("_unsure") is not None and is_word(text, YES_WORDS):
            return _UNSURE_KEPT
        if is_word(text, KEEP_WORDS) or (self._offered(f, data) and is_word(text, YES_WORDS)):
            if self._offered(f, data):
                return data["_prefill"][f.name]
            if f.optional and f.name in data.get("_prefill", {}):
                return None  # an optional answer left empty last time stays empty
            raise Invalid("这一项之前没有填过，没有可以沿用的内容，请直接回复。")
        if is_word(text, SKIP_WORDS) or (f.optional and is_word(text, EMPTY_WORDS)):
            if not f.optional:
                raise Invalid("这一项需要填写，不能跳过哦；不想继续了可以回复「取消」。")
            return None
        if is_word(text, RESERVED):
            raise Invalid(f"「{fold(text)}」是操作用语，不能作为{f.label or '这一项'}的内容。")
        choices = data.get("_choices", {}).get(f.name)
        if not choices and getattr(f.parse, "free_text", False) and is_word(text, ACKNOWLEDGEMENTS):
            raise Invalid(f"请直接回复{f.label or '内容'}。")
        return f.read(raw, choices)

    async def _after_answer(self, ctx: Ctx, f: Field, data: dict[str, Any]) -> Reply | str | None:
        self._drop_dependent(data)
        if data.get("_editing") == f.name:
            data.pop("_editing", None)
            nxt = await self._next_field(ctx, data)  # an edit may open a newly required field
            if nxt is not None:
                data["_editing"] = nxt.name
                return await self._ask(ctx, nxt, data)
            try:
                self.cross_check(ctx, data)
            except Recheck as exc:
                return await self._return_to(ctx, data, exc)
            return self._show_summary(ctx, data)
        return await self._advance(ctx, data)

    async def _at_confirm(self, ctx: Ctx, data: dict[str, Any], text: str) -> Reply | str | None:
        if ctx.msg.kind == "image":
            images = self._images_field(data)
            if images is None:
                return "这份" + self.title + "不需要照片，刚才的照片没有保存。\n\n" + self.summary(ctx, data)
            have = list(data.get(images.name) or [])
            if len(have) >= images.max_images:
                return (f"{images.label}最多 {images.max_images} 张，已经满了，这张没有保存。\n\n"
                        + self.summary(ctx, data))
            data[images.name] = have + [ctx.msg.media_id]
            return self._show_summary(ctx, data, f"照片收到了，已添加到{images.label}（共 {len(have) + 1} 张）。")
        if is_word(text, EDIT_WORDS):
            return self._edit_menu(ctx, data)
        if is_word(text, CONFIRM_WORDS):
            return await self._finish(ctx, data)
        fields = self._editable(data)
        n = parse_choice_number(text) if text else None
        if n is not None and 1 <= n <= len(fields):
            return await self._edit_field(ctx, fields[n - 1], data)
        named = _named(fields, text) if text and _CHANGE.search(text) else None
        if named is not None:  # 「名字写错了」「改一下收入」: straight to that item
            return await self._edit_field(ctx, named, data)
        return ("请回复「确认」提交，「修改」更改某一项，或「取消」放弃。\n\n" + self.summary(ctx, data)
                + self.aside(ctx, text))

    async def _at_edit(self, ctx: Ctx, data: dict[str, Any], text: str) -> Reply | str | None:
        fields = self._editable(data)
        n = parse_choice_number(text) if text else None
        if n is not None and 1 <= n <= len(fields):
            return await self._edit_field(ctx, fields[n - 1], data)
        if ctx.msg.kind == "image" or (text and (is_word(text, BACK_WORDS) or is_word(text, CONFIRM_WORDS)
                                                 or is_word(text, DONE_WORDS))):
            # A photo is added as at the summary; 确认 / 完成 here mean "nothing to change".
            return await self._at_confirm(ctx, data, "") if ctx.msg.kind == "image" else \
                self._show_summary(ctx, data, "好的，不修改了。请再核对一遍：")
        named = _named(fields, text) if text else None
        if named is not None:  # 「收入」「名字」: the item by its name
            return await self._edit_field(ctx, named, data)
        return f"请回复 1–{len(fields)} 之间的序号，或项目的名称。\n" + self._edit_menu(ctx, data)

    async def _edit_field(self, ctx: Ctx, f: Field, data: dict[str, Any]) -> Reply | str | None:
        data["_editing"] = f.name
        data.setdefault("_asked_known", {})[f.name] = True
        if f.kind == "images" and data.get(f.name):
            have = list(data[f.name])
            data[f"_img_{f.name}"] = have
            data["_img_choice"] = True
            data.pop(f.name, None)
            self._set(ctx, f.name, data)
            return (f"{f.label}现有 {len(have)} 张照片。\n回复「添加」在原有基础上再发几张，"
                    "回复「重新上传」删掉原来的、重新发送；直接发送照片就是添加。")
        old = data.pop(f.name, None)
        if _given(old):
            data.setdefault("_prefill", {})[f.name] = old
        return await self._ask(ctx, f, data)

    async def _stray_image(self, ctx: Ctx, f: Field, data: dict[str, Any]) -> str:
        """A photo at a text step: kept with the form's photos when it collects any, and said so."""
        images = self._images_field(data)
        if images is None or any(name not in data for name in self.keep_images_after):
            return await self._ask(ctx, f, data, "这一步需要文字回复，刚才的照片没有保存。")
        key = images.name if isinstance(data.get(images.name), list) else f"_img_{images.name}"
        have = list(data.get(key) or [])
        if len(have) >= images.max_images:
            return await self._ask(ctx, f, data, f"{images.label}最多 {images.max_images} 张，这张没有保存。")
        data[key] = have + [ctx.msg.media_id]
        return await self._ask(ctx, f, data, f"照片收到了，已放进{images.label}（共 {len(have) + 1} 张）。"
                                             "我们先把这一项填完：")

    async def _image_step(self, ctx: Ctx, f: Field, data: dict[str, Any], text: str) -> Reply | str | None:
        pending_key = f"_img_{f.name}"
        images: list[str] = list(data.get(pending_key, []))
        if data.get("_img_choice"):
            if ctx.msg.kind == "image" or is_word(text, ADD_WORDS):
                data.pop("_img_choice")
            elif is_word(text, REPLACE_WORDS):
                data.pop("_img_choice")
                data[pending_key] = images = []
                self._set(ctx, f.name, data)
                return "好的，原来的照片不要了。请重新发送照片，发完后回复「完成」。"
            elif is_word(text, DONE_WORDS) or is_word(text, KEEP_WORDS):
                data.pop("_img_choice")
                data[f.name] = images
                data.pop(pending_key, None)
                return await self._after_answer(ctx, f, data)
            else:
                return "请回复「添加」或「重新上传」，或直接发送照片。"
            if ctx.msg.kind != "image":
                self._set(ctx, f.name, data)
                return f"好的，请继续发送照片（已有 {len(images)} 张），发完后回复「完成」。"
        if ctx.msg.kind == "image":
            if len(images) >= f.max_images:
                self._set(ctx, f.name, data)
                return f"已收到 {len(images)} 张，最多 {f.max_images} 张，这张没有保存。请回复「完成」继续。"
            images.append(ctx.msg.media_id)
            data[pending_key] = images
            self._set(ctx, f.name, data)
            return f"已收到第 {len(images)} 张照片。还有请继续发送，发完回复「完成」。"
        if is_word(text, DONE_WORDS) or (f.optional and (is_word(text, SKIP_WORDS) or is_word(text, EMPTY_WORDS))):
            if not images and not f.optional:
                return await self._ask(ctx, f, data, "还没有收到照片哦。")
            data[f.name] = images
            data.pop(pending_key, None)
            return await self._after_answer(ctx, f, data)
        if ctx.msg.kind == "voice" and not text:
            return await self._ask(ctx, f, data, "这条语音没有识别出文字。")
        got = f"已收到 {len(images)} 张。" if images else ""
        return await self._ask(ctx, f, data, f"这一步请发送照片，刚才的文字没有保存。{got}"
                                             "照片发完了请回复「完成」，没有照片请回复「跳过」。"
                               if f.optional else f"这一步请发送照片，刚才的文字没有保存。{got}") + self.aside(ctx, text)

    async def _parts_step(self, ctx: Ctx, f: Field, data: dict[str, Any], text: str) -> Reply | str | None:
        """Text, voice and photos, as many as the person sends, until 完成."""
        key = f"_parts_{f.name}"
        parts: list[dict[str, Any]] = list(data.get(key, []))
        if ctx.msg.kind in ("text", "voice") and text and is_word(text, DONE_WORDS):
            if not parts:
                return await self._ask(ctx, f, data, "还没有收到内容哦。")
            data[f.name] = parts
            data.pop(key, None)
            return await self._after_answer(ctx, f, data)
        if ctx.msg.kind == "image":
            part = {"t": "image", "v": ctx.msg.media_id}
        elif ctx.msg.kind in ("text", "voice") and text:
            if is_word(text, RESERVED) or is_word(text, SKIP_WORDS):
                return f"「{fold(text)}」没有作为内容保存。还有请继续发送，发完回复「完成」。"
            part = {"t": "text", "v": ctx.msg.text.strip()}
        elif ctx.msg.kind == "voice":
            return "这条语音没有识别出文字，没有保存。麻烦您再说一遍或打字发送，发完回复「完成」。"
        else:
            return "这里可以发送文字、语音或照片，刚才的内容没有保存。发完回复「完成」。"
        await self.on_part(ctx, data, part)
        parts.append(part)
        data[key] = parts
        self._set(ctx, f.name, data)
        what = "照片" if part["t"] == "image" else "文字"
        return f"收到（{what}，已收到{parts_text(parts)}）。还有请继续发送，发完回复「完成」。"

    async def _back(self, ctx: Ctx, current: Field, data: dict[str, Any]) -> str:
        data.pop("_unsure", None)
        asked = [f for f in self.fields if f.asked(data) and (f.name not in data or f.known is None
                                                               or data.get("_asked_known", {}).get(f.name))]
        idx = next((i for i, f in enumerate(asked) if f.name == current.name), 0)
        if idx == 0:
            return await self._ask(ctx, current, data, "这已经是第一步了。")
        prev = asked[idx - 1]
        old = data.pop(prev.name, None)
        if _given(old) and prev.kind not in ("images", "parts"):
            data.setdefault("_prefill", {})[prev.name] = old
        data.pop(f"_img_{prev.name}", None)
        return await self._ask(ctx, prev, data, "好的，回到上一步：")

    @classmethod
    def mount(cls, router: Router, start: Filter, resume_word: str = "") -> "Form":
        """Register the entry filter, the form's states and its Flow on `router`."""
        form = cls()
        form.resume_word = resume_word or _first_word(start)

        async def start_form(ctx: Ctx) -> Reply | None:
            return as_reply(await form.start(ctx))

        async def continue_form(ctx: Ctx) -> Reply | None:
            if start(ctx.msg) and ctx.msg.kind in ("text", "voice"):
                # The form's own start word mid-form: show where we are rather than
                # taking the word as an answer.
                return as_reply(await form.resume(ctx, "您正在填写" + form.title + "，我们接着来："))
            return as_reply(await form.handle(ctx))

        start_form.__doc__ = f"Start or resume the {cls.flow} form."
        continue_form.__doc__ = f"Answer the current step of the {cls.flow} form."
        router.on(start, starts=cls.flow)(start_form)
        router.state(f"{cls.flow}:")(continue_form)
        router.add_flow(Flow(cls.flow, cls.title, form.resume_word, on_leave="keep", form=form,
                             expired_note=cls.expired_note))
        return form


_UNSURE_KEPT = object()


# What people call common items (名字 for 姓名); an images field is 照片 too.
_ITEM_WORDS = {"姓名": ("名字",), "手机号": ("电话", "号码", "手机"), "工作单位": ("单位",)}
_CHANGE = re.compile(r"改|错|不对|更正|重填|重新填")


def _named(fields: Sequence[Field], text: str) -> Field | None:
    """The one item a message names: by its label, a part of it (收入 → 家庭月收入) or a common
    word for it (名字 → 姓名); None when it names none or several."""
    t = fold(text).lower()
    hits = [f for f in fields if (label := fold(f.label).lower()) in t or (len(t) >= 2 and t in label)
            or any(w in t for w in _ITEM_WORDS.get(f.label, ()) + (("照片",) if f.kind == "images" else ()))]
    return hits[0] if len(hits) == 1 else None


def _first_word(start: Filter) -> str:
    desc = start.desc
    if "text_is(" in desc:
        return desc.split("text_is(", 1)[1].split("'")[1]
    return ""


def _given(value: Any) -> bool:
    """A prefilled value worth offering (0 is a real answer; None and "" are not)."""
    return value is not None and value != "" and value != []
