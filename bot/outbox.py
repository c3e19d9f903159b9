"""The outbox: every message sent outside the passive reply is a row first.

`enqueue` is called inside the transaction of the change that causes the
message; the unique key makes queuing idempotent (a second enqueue with the
same key is a no-op). Delivery lives in `bot.delivery`.

This module is also the only way features read or change outbox rows: the state of
their messages (`statuses`, `messages`), keys already used (`openids_with_prefix`),
cancelling what has not gone out (`cancel_pending`) and the counts staff see
(`status_counts`, `needing_follow_up`). Features never query the table themselves.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import dialect_insert
from bot.db.models import Outbox

# Final states in which the person was (perhaps) not reached: staff should phone them.
NEEDS_PHONE = ("unreachable", "failed", "uncertain")


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    openid: str,
    now: datetime,
    text: str | None = None,
    purpose: str = "",
    template: dict[str, Any] | None = None,
    articles: list[dict[str, str]] | None = None,
) -> Outbox | None:
    """Queue one outbound message under `key`; returns None if the key exists.

    `text` is the customer-service text. `template`, optional, is used when the
    user's window is closed: {"kind": "<config templates key>", "data": {...},
    "url": "..."}; the template id comes from config at delivery time.
    The row is inserted at once (not left to the next flush): the unique key
    decides, in one statement, whether it is new. The row returned is not
    attached to the session.
    """
    payload: dict[str, Any] = {}
    kind = "text"
    if text is not None:
        payload["text"] = text
    if articles:
        payload["articles"] = articles
        kind = "news"
    if template:
        payload["template"] = template
        if text is None and not articles:
            kind = "template"
    values = {"key": key, "openid": openid, "kind": kind, "purpose": purpose, "payload": payload,
              "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
    insert = dialect_insert(session.get_bind().dialect.name)
    new_id = await session.scalar(insert(Outbox).values(**values)
                                  .on_conflict_do_nothing(index_elements=["key"]).returning(Outbox.id))
    if new_id is None:
        return None
    session.info["outbox_queued"] = True  # lets the committer wake the delivery loop
    return Outbox(id=new_id, **values)


@dataclass(frozen=True)
class Message:
    """What a feature or a staff page may know of one outbound message."""

    id: int
    key: str
    openid: str
    purpose: str
    status: str
    via: str | None
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    text: str

    @property
    def needs_phone(self) -> bool:
        return self.status in NEEDS_PHONE


def _message(o: Outbox) -> Message:
    return Message(o.id, o.key, o.openid, o.purpose, o.status, o.via, o.created_at, o.sent_at, o.last_error,
                   str((o.payload or {}).get("text") or ""))


async def statuses(session: AsyncSession, keys: Sequence[str | None]) -> dict[str, str]:
    """The status of each queued message, by key (unknown keys are absent)."""
    wanted = [k for k in keys if k]
    if not wanted:
        return {}
    rows = await session.execute(select(Outbox.key, Outbox.status).where(Outbox.key.in_(wanted)))
    return dict(rows.all())


async def messages(session: AsyncSession, *, keys: Sequence[str] = (), prefix: str = "") -> list[Message]:
    """The messages under these keys, or whose key starts with `prefix`, oldest first."""
    if not keys and not prefix:
        return []
    q = select(Outbox).order_by(Outbox.id)
    q = q.where(Outbox.key.in_(list(keys))) if keys else q.where(Outbox.key.startswith(prefix, autoescape=True))
    return [_message(o) for o in await session.scalars(q)]


async def message(session: AsyncSession, message_id: int) -> Message | None:
    o = await session.get(Outbox, message_id)
    return _message(o) if o is not None else None


async def openids_with_prefix(session: AsyncSession, prefix: str) -> set[str]:
    """Whom a message under a key starting with `prefix` was already queued for."""
    return set(await session.scalars(select(Outbox.openid).where(Outbox.key.startswith(prefix, autoescape=True))))


async def cancel_pending(session: AsyncSession, keys: Sequence[str], reason: str) -> int:
    """Messages under these keys that have not gone out will not: they become `cancelled`."""
    if not keys:
        return 0
    result = await session.execute(update(Outbox).where(Outbox.key.in_(list(keys)), Outbox.status == "pending")
                                   .values(status="cancelled", last_error=reason)
                                   .execution_options(synchronize_session=False))
    return result.rowcount or 0


async def status_counts(session: AsyncSession, among: Sequence[str]) -> dict[str, int]:
    """How many messages are in each of these states (for staff)."""
    rows = await session.execute(select(Outbox.status, func.count()).where(Outbox.status.in_(list(among)))
                                 .group_by(Outbox.status))
    return dict(rows.all())


async def needing_follow_up(session: AsyncSession, limit: int) -> list[Message]:
    """The newest messages that may not have reached the person: staff phone them."""
    q = (select(Outbox).where(Outbox.status.in_(NEEDS_PHONE))
         .order_by(Outbox.created_at.desc(), Outbox.id.desc()).limit(limit))
    return [_message(o) for o in await session.scalars(q)]
