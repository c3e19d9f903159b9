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
        if msg.kind == "event":
            for r in self.routers:
                for route in r.routes:
                    if route.filter(msg):
                        return route.handler
        state = ctx.dialogue.state
        if state:
            for r in self.routers:
                for sr in r.states:
                    if sr.matches(state):
                        return sr.handler
            log.warning("unknown dialogue state %r for %s; resetting", state, msg.openid)
            ctx.dialogue.clear()
            ctx.notes.append("抱歉，刚才的对话流程已更新，请重新开始。")
        for r in self.routers:
            for route in r.routes:
                if route.filter(msg):
                    return route.handler
        return self.fallback

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
