"""The form engine: declared fields, one question at a time.

A feature declares `fields` and `submit`; the engine asks for the next
missing field, re-asks with a hint on a bad answer, and handles 上一步
(back), 跳过 (skip an optional field), 沿用 (keep a prefilled value), the
confirm step (确认 / 修改 / 取消) and drafts (a form left for another flow is
resumed when the user comes back to it). 取消 itself is a global interrupt
(handlers/common.py) that calls `Form.cancel`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from bot.core.context import Ctx
from bot.core.router import Filter, Router, normalize
from bot.core.types import Reply, TextReply, as_reply

BACK_WORDS = {"上一步", "返回上一步", "上一题"}
SKIP_WORDS = {"跳过", "无", "没有"}
KEEP_WORDS = {"沿用", "是", "对", "好", "好的", "确认"}
CONFIRM_WORDS = {"确认", "确定", "提交", "是"}
EDIT_WORDS = {"修改", "改", "更改"}
DONE_WORDS = {"完成", "好了", "结束", "没有了", "提交照片"}


class Invalid(Exception):
    """Raised by a field parser: the answer is re-asked with this hint."""

    def __init__(self, hint: str) -> None:
        super().__init__(hint)
        self.hint = hint


class Stop(Exception):
    """Raised by a parser or check to end the form now with this reply (nothing stored)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


Parser = Callable[[str], Any]


def text_parser(min_len: int = 1, max_len: int = 500) -> Parser:
    def parse(text: str) -> str:
        text = text.strip()
        if len(text) < min_len:
            raise Invalid(f"内容太短啦，请至少写{min_len}个字。")
        if len(text) > max_len:
            raise Invalid(f"内容有点长，请控制在{max_len}字以内。")
        return text
    return parse


def int_parser(lo: int, hi: int, unit: str = "") -> Parser:
    def parse(text: str) -> int:
        t = normalize(text).replace(unit, "").replace(",", "").replace("，", "").strip() if unit else \
            normalize(text).replace(",", "").strip()
        try:
            value = int(t)
        except ValueError:
            raise Invalid(f"请回复一个数字（{lo}–{hi}{unit}）。") from None
        if not lo <= value <= hi:
            raise Invalid(f"数字应在{lo}–{hi}{unit}之间，请再确认一下。")
        return value
    return parse


def money_parser(hi: float = 1_000_000) -> Parser:
    def parse(text: str) -> float:
        t = normalize(text).replace("元", "").replace(",", "").replace("，", "").replace("¥", "").strip()
        try:
            value = round(float(t), 2)
        except ValueError:
            raise Invalid("请回复金额数字，单位元，例如 3500。") from None
        if not 0 <= value <= hi:
            raise Invalid(f"金额应在 0–{hi:.0f} 元之间，请再确认一下。")
        return value
    return parse


@dataclass
class Field:
    """One question of a form.

    `parse` turns the answer into a value or raises Invalid(hint).
    `choices` makes a numbered question; the answer may be the number or the word
    (the value is the word). `condition(data)` decides whether to ask at all.
    `prefill(ctx)` offers a known value the user can keep with 沿用 (asked when the
    field comes up). A form's `prepare` may instead put values in data["_prefill"];
    any field with a value there is offered the same way.
    `kind="images"` collects image messages until 完成 (value: list of media ids).
    """

    name: str
    prompt: str | Callable[[Ctx, Mapping[str, Any]], str]
    parse: Parser = field(default_factory=text_parser)
    label: str = ""
    choices: Sequence[str] | None = None
    condition: Callable[[Mapping[str, Any]], bool] | None = None
    optional: bool = False
    prefill: Callable[[Ctx], Any] | None = None
    kind: str = "text"
    check: Callable[[Any, Mapping[str, Any]], None] | None = None
    show: Callable[[Any], str] | None = None
    max_images: int = 9

    def asked(self, data: Mapping[str, Any]) -> bool:
        return self.condition is None or bool(self.condition(data))

    def display(self, value: Any) -> str:
        if value is None or value == "" or value == []:
            return "（未填）"
        if self.show is not None:
            return self.show(value)
        if self.kind == "images":
            return f"{len(value)} 张照片"
        return str(value)

    def question(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        text = self.prompt(ctx, data) if callable(self.prompt) else self.prompt
        if self.choices:
            text += "\n" + "\n".join(f"{i}. {c}" for i, c in enumerate(self.choices, 1))
            text += "\n（回复序号或文字）"
        if self.kind == "images":
            text += "\n请直接发送照片，发完后回复「完成」。"
        if self.optional:
            text += "\n（可回复「跳过」）"
        return text

    def read(self, raw: str) -> Any:
        """The value of an answer. Free text keeps the user's own punctuation;
        choices and numbers are matched on the folded (NFKC) form."""
        if self.choices:
            raw = normalize(raw)
            if raw.isdigit() and 1 <= int(raw) <= len(self.choices):
                return self.choices[int(raw) - 1]
            for c in self.choices:
                if raw == c or raw.lower() == c.lower():
                    return c
            matches = [c for c in self.choices if raw and raw in c]
            if len(matches) == 1:
                return matches[0]
            raise Invalid(f"请回复 1–{len(self.choices)} 之间的序号，或选项中的文字。")
        return self.parse(raw.strip())


class Form:
    """Subclass with `flow`, `title`, `fields`, `submit`; mount on a Router."""

    flow: ClassVar[str]
    title: ClassVar[str]
    fields: ClassVar[tuple[Field, ...]]
    confirm: ClassVar[bool] = True
    ttl: ClassVar[timedelta | None] = None  # default: settings.dialogue.expire_hours

    # --- hooks a feature may override -------------------------------------------------
    async def prepare(self, ctx: Ctx) -> Reply | str | dict[str, Any] | None:
        """Before the first question: return a reply to refuse the start, or initial data."""
        return {}

    def intro(self, ctx: Ctx, data: Mapping[str, Any]) -> str | None:
        return None

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> Reply | str | None:
        raise NotImplementedError

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
        lines.append("\n回复「确认」提交，「修改」更改某一项，「取消」放弃。")
        return "\n".join(lines)

    def summary_extra(self, ctx: Ctx, data: Mapping[str, Any]) -> str | None:
        return None

    # --- engine -----------------------------------------------------------------------
    def _ttl(self, ctx: Ctx) -> timedelta:
        return self.ttl or timedelta(hours=ctx.settings.dialogue.expire_hours)

    def _field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def _next_field(self, data: Mapping[str, Any]) -> Field | None:
        for f in self.fields:
            if f.asked(data) and f.name not in data:
                return f
        return None

    def _ask(self, ctx: Ctx, f: Field, data: dict[str, Any], hint: str = "") -> str:
        if f.prefill is not None and f.name not in data:
            prefilled = data.setdefault("_prefill", {})
            if prefilled.get(f.name) is None:
                prefilled[f.name] = f.prefill(ctx)
        ctx.dialogue.set(f"{self.flow}:{f.name}", data, ttl=self._ttl(ctx))
        q = f.question(ctx, data)
        if f.name not in data:
            known = data.get("_prefill", {}).get(f.name)
            if _given(known):
                q += f"\n上次留的是「{f.display(known)}」，回复「沿用」即可。"
        return f"{hint}\n{q}" if hint else q

    async def _advance(self, ctx: Ctx, data: dict[str, Any], hint: str = "") -> Reply | str | None:
        f = self._next_field(data)
        if f is not None:
            return self._ask(ctx, f, data, hint)
        if self.confirm:
            ctx.dialogue.set(f"{self.flow}:confirm", data, ttl=self._ttl(ctx))
            text = self.summary(ctx, data)
            return f"{hint}\n{text}" if hint else text
        return await self._finish(ctx, data)

    async def _finish(self, ctx: Ctx, data: dict[str, Any]) -> Reply | str | None:
        clean = {k: v for k, v in data.items() if not k.startswith("_")}
        reply = await self.submit(ctx, clean)
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
        if f is not None and f.kind == "images":
            return self._ask(ctx, f, data, hint)
        return await self._advance(ctx, data, hint)

    def cancel(self, ctx: Ctx) -> str:
        ctx.dialogue.clear()
        return f"好的，已取消{self.title}，填写的内容没有保存。需要时随时再来找我们。"

    def _edit_menu(self, ctx: Ctx, data: dict[str, Any]) -> str:
        ctx.dialogue.set(f"{self.flow}:edit", data, ttl=self._ttl(ctx))
        lines = ["请回复要修改的项目序号："]
        for i, f in enumerate(self._editable(data), 1):
            lines.append(f"{i}. {f.label}：{f.display(data.get(f.name))}")
        return "\n".join(lines)

    def _editable(self, data: Mapping[str, Any]) -> list[Field]:
        return [f for f in self.fields if f.asked(data) and f.label]

    def _drop_dependent(self, data: dict[str, Any]) -> None:
        """Remove answers whose field is no longer asked (after an edit)."""
        for f in self.fields:
            if f.name in data and not f.asked(data):
                del data[f.name]

    async def handle(self, ctx: Ctx) -> Reply | str | None:
        """A message in one of this form's states."""
        state = ctx.dialogue.state or ""
        step = state.split(":", 1)[1] if ":" in state else ""
        data = dict(ctx.dialogue.data)
        text = ctx.text if ctx.msg.kind in ("text", "voice") else ""

        if step == "confirm":
            if text in CONFIRM_WORDS:
                return await self._finish(ctx, data)
            if text in EDIT_WORDS:
                return self._edit_menu(ctx, data)
            return "请回复「确认」提交，「修改」更改某一项，或「取消」放弃。\n\n" + self.summary(ctx, data)

        if step == "edit":
            fields = self._editable(data)
            if text.isdigit() and 1 <= int(text) <= len(fields):
                f = fields[int(text) - 1]
                data["_editing"] = f.name
                old = data.pop(f.name, None)
                if f.kind == "images":
                    data["_images_old"] = old or []
                return self._ask(ctx, f, data)
            if text in BACK_WORDS:
                ctx.dialogue.set(f"{self.flow}:confirm", data, ttl=self._ttl(ctx))
                return self.summary(ctx, data)
            return f"请回复 1–{len(fields)} 之间的序号。\n" + self._edit_menu(ctx, data)

        f = self._field(step)
        if f is None:  # a step that no longer exists (renamed field): start over politely
            ctx.dialogue.clear()
            return f"抱歉，{self.title}的流程有更新，麻烦您重新开始，发送相应关键词即可。"

        if text in BACK_WORDS:
            return self._back(ctx, f, data)

        try:
            if f.kind == "images":
                return await self._image_step(ctx, f, data, text)
            if ctx.msg.kind == "voice" and not text:
                return self._ask(ctx, f, data, "这条语音没有识别出文字，请打字回复。")
            if ctx.msg.kind not in ("text", "voice"):
                return self._ask(ctx, f, data, "这一步需要文字回复哦。")
            if f.optional and text in SKIP_WORDS:
                data[f.name] = None
            elif text in KEEP_WORDS and _given(data.get("_prefill", {}).get(f.name)):
                data[f.name] = data["_prefill"][f.name]
            else:
                value = f.read(ctx.msg.text)
                if f.check is not None:
                    f.check(value, data)
                data[f.name] = value
        except Invalid as exc:
            return self._ask(ctx, f, data, exc.hint)
        except Stop as exc:
            ctx.dialogue.clear()
            return exc.reply
        return await self._after_answer(ctx, f, data)

    async def _after_answer(self, ctx: Ctx, f: Field, data: dict[str, Any]) -> Reply | str | None:
        self._drop_dependent(data)
        if data.pop("_editing", None) == f.name:
            data.pop("_images_old", None)
            nxt = self._next_field(data)  # an edit may open a newly required field
            if nxt is not None:
                data["_editing"] = nxt.name
                return self._ask(ctx, nxt, data)
            ctx.dialogue.set(f"{self.flow}:confirm", data, ttl=self._ttl(ctx))
            return self.summary(ctx, data)
        return await self._advance(ctx, data)

    async def _image_step(self, ctx: Ctx, f: Field, data: dict[str, Any], text: str) -> Reply | str | None:
        pending_key = f"_img_{f.name}"
        images: list[str] = list(data.get(pending_key, []))
        if ctx.msg.kind == "image":
            if len(images) >= f.max_images:
                ctx.dialogue.set(ctx.dialogue.state or "", data)
                return f"已收到 {len(images)} 张，最多 {f.max_images} 张。请回复「完成」继续。"
            images.append(ctx.msg.media_id)
            data[pending_key] = images
            ctx.dialogue.set(f"{self.flow}:{f.name}", data, ttl=self._ttl(ctx))
            return f"已收到第 {len(images)} 张照片。还有请继续发送，发完回复「完成」。"
        if text in DONE_WORDS or (f.optional and text in SKIP_WORDS):
            if not images and not f.optional:
                return self._ask(ctx, f, data, "还没有收到照片哦。")
            data[f.name] = images
            data.pop(pending_key, None)
            return await self._after_answer(ctx, f, data)
        return self._ask(ctx, f, data, "这一步请发送照片；发完后回复「完成」。")

    def _back(self, ctx: Ctx, current: Field, data: dict[str, Any]) -> str:
        asked = [f for f in self.fields if f.asked(data)]
        idx = next((i for i, f in enumerate(asked) if f.name == current.name), 0)
        if idx == 0:
            return self._ask(ctx, current, data, "这已经是第一步了。")
        prev = asked[idx - 1]
        data.pop(prev.name, None)
        data.pop(f"_img_{prev.name}", None)
        return self._ask(ctx, prev, data, "好的，回到上一步：")

    @classmethod
    def mount(cls, router: Router, start: Filter) -> "Form":
        """Register the entry filter and the form's states on `router`."""
        form = cls()
        FORMS[cls.flow] = form

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
        router.on(start)(start_form)
        router.state(f"{cls.flow}:")(continue_form)
        return form


def _given(value: Any) -> bool:
    """A prefilled value worth offering (0 is a real answer; None and "" are not)."""
    return value is not None and value != "" and value != []


# Mounted forms by flow name, so 取消 can cancel whichever is open.
FORMS: dict[str, Form] = {}


def text(reply: Reply | str | None) -> str:
    """Helper for tests and features: the text of a reply."""
    r = as_reply(reply)
    return r.text if isinstance(r, TextReply) else ""
