"""Route one message to one handler.

Tiers, first match wins:
  (a) interrupts — 取消, 菜单, 帮助, 我的申请, 签到 CODE …: answered even inside a dialogue;
  (b) with a dialogue open: an event, or another whole-message keyword than the dialogue's
      own start word, leaves the dialogue by its Flow's policy (keep / pause / end) and goes
      there; anything else is the dialogue's answer;
  (c) keywords, clicks and events for users with no open dialogue;
  (d) the features' `unmatched` handlers in order (the FAQ, the staff inbox), each may PASS;
  (e) the fallback.

Replies longer than WeChat's passive limit are shortened here, in one place: the first part
answers now and the rest follows through the outbox in the same transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.core.context import Ctx
from bot.core.forms import CONTINUE_WORDS
from bot.core.normalize import fold, is_word
from bot.core.question import asks_how_to
from bot.core.router import Flow, Handler, Route, Router, click_key, text_variants
from bot.core.types import PASS, NewsReply, Reply, TextReply, as_reply

log = logging.getLogger("unionbot.dispatch")

PASSIVE_LIMIT = 2047  # bytes of UTF-8 WeChat takes in a passive text reply
MORE_FOLLOWS = "（内容较长，余下部分随后发给您。）"


class Dispatcher:
    def __init__(self, routers: Sequence[Router], fallback: Handler) -> None:
        self.routers = list(routers)
        self.fallback = fallback
        self.flows: dict[str, Flow] = {}
        self.catchers: list[Handler] = [h for r in self.routers for h in r.catchers]
        self._menu: tuple[tuple[str, str], ...] | None = None
        self._menu_words: dict[str, frozenset[str]] | None = None
        for r in self.routers:
            for flow in r.flows:
                if flow.name in self.flows:
                    raise ValueError(f"flow {flow.name!r} declared twice")
                self.flows[flow.name] = flow

    def menu_items(self) -> tuple[tuple[str, str], ...]:
        """(keyword, what it does) of every feature, in order (the routers' menus are complete
        once their modules are imported, before a dispatcher is built)."""
        if self._menu is None:
            self._menu = tuple(item for r in self.routers for item in r.menu)
        return self._menu

    def menu_words(self) -> dict[str, frozenset[str]]:
        """Each menu keyword with the whole words its route also takes (答题: 每月一题, 开始答题 …),
        for telling a person which keyword does what they ask about."""
        if self._menu_words is None:
            found: dict[str, frozenset[str]] = {}
            for kw, _ in self.menu_items():
                key = fold(kw).lower()
                found[kw] = frozenset({key} | {w for r in self.routers for route in r.routes
                                               if route.filter.words and key in route.filter.words
                                               for w in route.filter.words})
            self._menu_words = found
        return self._menu_words

    def how_to(self, text: str) -> tuple[str, str] | None:
        """(keyword, what it does) when the message asks how to use one of the features
        (「帮扶申请怎么弄」 → 帮扶, 申请困难帮扶); None when it asks nothing of the kind."""
        kw = asks_how_to(text, self.menu_words())
        return None if kw is None else (kw, dict(self.menu_items())[kw])

    def flow_title(self, flow: str | None) -> str:
        f = self.flows.get(flow or "")
        return f.title if f else "内容"

    def resume_hint(self, flow: str) -> str:
        """「回复「帮扶」接着填」 for a kept draft."""
        f = self.flows.get(flow)
        if f is None:
            return ""
        how = f"回复「{f.resume_word}」就能接着填" if f.resume_word else "再发一次相应的关键词就能接着填"
        return f"您没填完的{f.title}已为您保存，{how}。"

    def find(self, ctx: Ctx) -> Handler:
        msg = ctx.msg
        # once: most filters are keywords or clicks (`Filter.words`), compared as sets
        v, click = text_variants(msg), click_key(msg)
        for r in self.routers:
            for route in r.interrupts:
                if route.filter.hit(msg, v, click):
                    return route.handler
        state = ctx.dialogue.state
        if state:
            owner = next((sr for r in self.routers for sr in r.states if sr.matches(state)), None)
            if owner is not None:
                leave = self._leaving_route(ctx)
                if leave is not None:
                    return self._leaving(ctx.dialogue.flow or "", leave.handler, stay=owner.handler)
                if msg.kind == "event":
                    return self.fallback  # a view click or a location report is no answer
                return owner.handler
            log.warning("unknown dialogue state %r for %s; resetting", state, msg.openid)
            ctx.dialogue.clear()
            ctx.notes.append("抱歉，刚才的对话流程已更新，请重新开始。")
        for r in self.routers:
            for route in r.routes:
                if route.filter.hit(msg, v, click):
                    return route.handler
        return self.unmatched

    async def feature_route(self, ctx: Ctx) -> Reply | str | object:
        """The features' own routes (not interrupts) for this message, in order, each may PASS:
        for a word the framework answers first (a bare 取消 with nothing open: signup asks which
        sign-up to cancel). PASS when none takes it."""
        v, click = text_variants(ctx.msg), click_key(ctx.msg)
        for r in self.routers:
            for route in r.routes:
                if route.filter.hit(ctx.msg, v, click) and (reply := await route.handler(ctx)) is not PASS:
                    return reply
        return PASS

    async def unmatched(self, ctx: Ctx) -> Reply | str | None:
        """What no route took: 「继续」 with a kept draft resumes it; else each feature's `unmatched`
        handler in turn, then the fallback."""
        if ctx.dialogue.drafts and ctx.msg.kind in ("text", "voice") and is_word(ctx.text, CONTINUE_WORDS):
            flow = next((self.flows[f] for f in reversed(list(ctx.dialogue.drafts)) if f in self.flows
                         and self.flows[f].form is not None), None)
            if flow is not None:  # the draft left last
                return await flow.form.start(ctx)
        for catcher in self.catchers:
            reply = await catcher(ctx)
            if reply is not PASS:
                return reply
        return await self.fallback(ctx)

    def _leaving_route(self, ctx: Ctx) -> Route | None:
        """An event, or a whole-message keyword that doesn't start the open flow itself."""
        msg, flow = ctx.msg, ctx.dialogue.flow
        if msg.kind not in ("text", "voice", "event"):
            return None
        for r in self.routers:
            for route in r.routes:
                if route.starts == flow and msg.kind != "event":
                    continue
                if (msg.kind == "event" or route.filter.keyword) and route.filter(msg):
                    return route
        return None

    def _leaving(self, flow_name: str, handler: Handler, stay: Handler) -> Handler:
        """Run another feature's handler after leaving the open flow by its policy — unless the
        keyword is one of the choices the form's current step offers: then it is the answer."""
        flow = self.flows.get(flow_name) or Flow(flow_name, "内容", on_leave="end")

        async def run(ctx: Ctx) -> Reply | str | None:
            if flow.form is not None and await flow.form.offers_choice(ctx):
                return await stay(ctx)
            if flow.on_leave != "keep":
                ctx.dialogue.clear()
                reply = as_reply(await handler(ctx))
                note = flow.paused_note if flow.on_leave == "pause" and ctx.dialogue.flow != flow.name else ""
                return _with_note(reply, note)
            stashed = ctx.dialogue.stash()
            reply = as_reply(await handler(ctx))
            if not stashed:
                return reply
            if reply is None:  # nothing to say (an unfollow): the form simply stays as it was
                if ctx.dialogue.state is None:
                    ctx.dialogue.restore(stashed)
                return None
            if ctx.dialogue.state is None and ctx.dialogue.restore(stashed):
                note = f"（您的{flow.title}还没填完，直接回复就能接着填。）"
            elif stashed in ctx.dialogue.drafts:
                note = f"（{self.resume_hint(stashed)}）"
            else:
                return reply
            ctx.notes_shown = True
            return _with_note(reply, note)
        return run

    async def dispatch(self, ctx: Ctx) -> Reply | None:
        ctx.dispatcher = self
        before = ctx.dialogue.flow
        handler = self.find(ctx)
        reply = as_reply(await handler(ctx))
        if before and ctx.dialogue.state is None and ctx.dialogue.drafts and not ctx.notes_shown:
            # A dialogue just ended and another one waits as a draft: say how to get back.
            waiting = [f for f in ctx.dialogue.drafts if f != before and f in self.flows]
            if waiting and ctx.dialogue.flow is None:
                reply = _with_note(reply, f"（{self.resume_hint(waiting[0])}）")
        if ctx.notes:
            prefix = "\n".join(ctx.notes)
            if reply is None:
                reply = TextReply(prefix)
            elif isinstance(reply, TextReply):
                reply = TextReply(prefix + "\n\n" + reply.text)
        return await self._fit(ctx, reply)

    async def _fit(self, ctx: Ctx, reply: Reply | None) -> Reply | None:
        """Keep a passive text reply within WeChat's limit; the rest follows through the outbox."""
        if not isinstance(reply, TextReply) or len(reply.text.encode()) <= PASSIVE_LIMIT:
            return reply
        parts = split_text(reply.text, PASSIVE_LIMIT - len(MORE_FOLLOWS.encode()) - 1)
        for i, part in enumerate(parts[1:], 1):
            await ctx.notify(ctx.openid, part, key=f"reply:{ctx.msg.dedup_key}:{i}", purpose="late_reply")
        return TextReply(parts[0] + "\n" + MORE_FOLLOWS)


def _with_note(reply: Reply | None, note: str) -> Reply | None:
    if not note:
        return reply
    if isinstance(reply, TextReply):
        return TextReply(f"{reply.text}\n\n{note}")
    if isinstance(reply, NewsReply):
        return reply
    return TextReply(note)


def split_text(text: str, limit: int) -> list[str]:
    """Cut `text` into pieces of at most `limit` UTF-8 bytes, at line ends where possible."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while len(line.encode()) > limit:  # one very long line: cut it by characters
            cut = len(line.encode()[:limit].decode(errors="ignore"))
            parts.append(line[:cut])
            line = line[cut:]
        current = line
    if current or not parts:
        parts.append(current)
    return parts
