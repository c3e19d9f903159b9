"""The handler context: the message, the member, the session, the dialogue, a clock."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.core.dialogue import DialogueState
from bot.core.normalize import fold
from bot.operations import OpsContext
from bot.core.types import Incoming

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Settings
    from bot.db.hotpath import MemberRow
    from bot.db.models import Member


@dataclass
class Ctx:
    msg: Incoming
    # The member's row as read with the message (one typed shape from either writer path);
    # `ctx.member` turns it into an ORM entity on first use (most messages never need one).
    member_row: "MemberRow"
    session: AsyncSession
    dialogue: DialogueState
    clock: "Clock"
    settings: "Settings"
    services: dict[str, Any] = field(default_factory=dict)
    # Lines put before the reply (e.g. "your earlier form expired").
    notes: list[str] = field(default_factory=list)
    dispatcher: Any = None
    # Set when a reply already says how to come back to a kept draft.
    notes_shown: bool = False

    _member: "Member | None" = None

    @property
    def member(self) -> "Member":
        """The member (an ORM entity in this transaction: profile changes are saved with it)."""
        if self._member is None:
            from sqlalchemy.orm import make_transient_to_detached

            from bot.db.models import Member

            key = self.session.sync_session.identity_key(Member, (self.member_row.id,))
            found = self.session.sync_session.identity_map.get(key)
            if found is None:  # not loaded by a handler's own query yet: attach the row we have
                found = Member(**self.member_row._asdict())
                make_transient_to_detached(found)
                self.session.add(found)
            self._member = found
        return self._member

    @property
    def openid(self) -> str:
        return self.msg.openid

    @property
    def text(self) -> str:
        """The message folded for matching (voice's 「。」, full-width forms, spaces)."""
        return fold(self.msg.text)

    @property
    def ops(self) -> OpsContext:
        """The context a feature operation takes (the worker acts)."""
        return OpsContext(self.clock, self.settings, self.services)

    @property
    def now(self) -> datetime:
        """Aware UTC."""
        return self.clock.now()

    @property
    def local_now(self) -> datetime:
        return self.clock.local()

    def with_text(self, text: str) -> "Ctx":
        """The same context as if the message had said `text` (e.g. the rest after 「补充：」)."""
        return dataclasses.replace(self, msg=dataclasses.replace(self.msg, text=text))

    async def notify(self, openid: str, text: str | None = None, *, key: str, purpose: str = "",
                     template: dict[str, Any] | None = None) -> bool:
        """Queue a message to `openid` in this transaction; False if `key` was queued before."""
        row = await outbox.enqueue(self.session, key=key, openid=openid, now=self.now, text=text,
                                   purpose=purpose, template=template)
        return row is not None
