"""Route one message to one handler.

Tiers, first match wins:
  (a) interrupts — 取消, 菜单, 帮助, and every click/event handler (an event is
      never an answer to a form question, so a menu click always starts its flow);
  (b) handlers of the user's current dialogue state;
  (c) handlers for users with no open dialogue — keywords, clicks, events;
  (d) the fallback.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.core.context import Ctx
from bot.core.router import Handler, Router
from bot.core.types import Reply, TextReply, as_reply

log = logging.getLogger("unionbot.dispatch")


class Dispatcher:
    def __init__(self, routers: Sequence[Router], fallback: Handler) -> None:
        self.routers = list(routers)
        self.fallback = fallback

    def menu_items(self) -> list[tuple[str, str]]:
        return [item for r in self.routers for item in r.menu]

    def find(self, ctx: Ctx) -> Handler:
        msg = ctx.msg
        for r in self.routers:
            for route in r.interrupts:
                if route.filter(msg):
                    return route.handler
        state = ctx.dialogue.state
        owner = next((r for r in self.routers for sr in r.states if sr.matches(state)), None) if state else None
        if msg.kind == "event":
            for r in self.routers:
                for route in r.routes:
                    if route.filter(msg):
                        # Another feature's menu click inside a form: keep the form safe.
                        return self._keeping_form(route.handler) if owner not in (None, r) else route.handler
        if state:
            if owner is not None:
                switch = self._other_feature_keyword(ctx, owner)
                if switch is not None:
                    return switch
                return next(sr.handler for sr in owner.states if sr.matches(state))
            log.warning("unknown dialogue state %r for %s; resetting", state, msg.openid)
            ctx.dialogue.clear()
            ctx.notes.append("抱歉，刚才的对话流程已更新，请重新开始。")
        for r in self.routers:
            for route in r.routes:
                if route.filter(msg):
                    return route.handler
        return self.fallback

    def _other_feature_keyword(self, ctx: Ctx, owner: Router) -> Handler | None:
        """Another feature's keyword typed inside a form: go there, keep the form.

        A whole-message keyword such as 报名 or 成绩 is never a sensible answer to another
        feature's question. If that feature opens its own dialogue, the form is kept as a draft
        (DialogueState.set); if it only answers (成绩, 我的报名), the form stays open and the
        reply says so.
        """
        if ctx.msg.kind not in ("text", "voice"):
            return None
        for r in self.routers:
            if r is owner:
                continue
            for route in r.routes:
                if route.filter.keyword and route.filter(ctx.msg):
                    return self._keeping_form(route.handler)
        return None

    @staticmethod
    def _keeping_form(handler: Handler) -> Handler:
        """Run another feature's handler with the open form put safely aside.

        The form is stashed as a draft first, so whatever that handler does with the dialogue
        (even clearing it) cannot lose it. If the handler opened no dialogue of its own, the form
        is open again right where it was, and the reply says so; otherwise it stays a draft that
        its keyword resumes.
        """
        async def run(ctx: Ctx) -> Reply | str | None:
            from bot.core.forms import FORMS

            flow = ctx.dialogue.stash()
            reply = as_reply(await handler(ctx))
            if not flow:
                return reply
            title = FORMS[flow].title if flow in FORMS else "内容"
            if ctx.dialogue.state is None and ctx.dialogue.restore(flow):
                note = f"（您的{title}还没填完，直接回复就能接着填。）"
            elif flow in ctx.dialogue.drafts and flow in FORMS:
                note = f"（刚才没填完的{title}已为您保存，之后再发一次相应的关键词就能接着填。）"
            else:
                # Not a form (a pick list, a quiz position kept in its own tables): nothing to keep.
                ctx.dialogue.drop_draft(flow)
                return reply
            if isinstance(reply, TextReply):
                return TextReply(f"{reply.text}\n\n{note}")
            return reply or TextReply(note)
        return run

    async def dispatch(self, ctx: Ctx) -> Reply | None:
        ctx.dispatcher = self
        handler = self.find(ctx)
        reply = as_reply(await handler(ctx))
        if ctx.notes:
            prefix = "\n".join(ctx.notes)
            if reply is None:
                return TextReply(prefix)
            if isinstance(reply, TextReply):
                return TextReply(prefix + "\n\n" + reply.text)
        return reply
