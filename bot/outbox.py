"""The outbox: every message sent outside the passive reply is a row first.

`enqueue` is called inside the transaction of the change that causes the
message; the unique key makes queuing idempotent (a second enqueue with the
same key is a no-op). Delivery lives in `bot.delivery`.

This module is also the only way features read or change outbox rows: the state of
their messages (`statuses`, `messages`), keys already used (`openids_with_prefix`),
cancelling what has not gone out (`cancel_pending`) and the counts staff see
(`status_counts`, `needing_follow_up`). Features never query the table themselves.

Follow-ups: a message in a NEEDS_PHONE state waits on the 工作台 until a staff member marks it
done (`mark_followed_up`: they phoned the person); `reopen_follow_up` undoes a mistaken mark.
The message's own status does not change (features still see that it did not go out).
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
from bot.operations import DomainError

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
    followed_up_at: datetime | None = None  # when staff marked it done (phoned the person)
    followed_up_by: int | None = None  # the staff member who did

    @property
    def needs_phone(self) -> bool:
        return self.status in NEEDS_PHONE


def _message(o: Outbox) -> Message:
    return Message(o.id, o.key, o.openid, o.purpose, o.status, o.via, o.created_at, o.sent_at, o.last_error,
                   str((o.payload or {}).get("text") or ""), o.followed_up_at, o.followed_up_by)


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


async def status_counts(session: AsyncSession, among: Sequence[str], *, open_only: bool = False) -> dict[str, int]:
    """How many messages are in each of these states (for staff); `open_only`: leaving out the
    ones staff already followed up by phone."""
    q = select(Outbox.status, func.count()).where(Outbox.status.in_(list(among)))
    if open_only:
        q = q.where(Outbox.followed_up_at.is_(None))
    rows = await session.execute(q.group_by(Outbox.status))
    return dict(rows.all())


async def needing_follow_up(session: AsyncSession, limit: int) -> list[Message]:
    """The newest messages that may not have reached the person and that no staff member has
    followed up yet: staff phone them."""
    q = (select(Outbox).where(Outbox.status.in_(NEEDS_PHONE), Outbox.followed_up_at.is_(None))
         .order_by(Outbox.created_at.desc(), Outbox.id.desc()).limit(limit))
    return [_message(o) for o in await session.scalars(q)]


async def recently_followed_up(session: AsyncSession, *, since: datetime, limit: int) -> list[Message]:
    """Follow-ups marked done since `since`, newest mark first (so a mistaken mark can be undone)."""
    q = (select(Outbox).where(Outbox.status.in_(NEEDS_PHONE), Outbox.followed_up_at >= since)
         .order_by(Outbox.followed_up_at.desc(), Outbox.id.desc()).limit(limit))
    return [_message(o) for o in await session.scalars(q)]


class FollowUpError(DomainError):
    """A follow-up could not be marked (the text is for staff)."""


async def mark_followed_up(session: AsyncSession, message_id: int, *, staff_id: int | None,
                           now: datetime) -> Message:
    """Staff phoned the person about this message: it leaves the 工作台's list. Refused for a
    message that did go out (nothing to follow up) or that someone already marked."""
    o = await session.get(Outbox, message_id, with_for_update=True)
    if o is None:
        raise FollowUpError("没有这条消息。")
    if o.status not in NEEDS_PHONE:
        raise FollowUpError("这条消息已经送达或还在发送，不需要电话联系。")
    if o.followed_up_at is not None:
        raise FollowUpError("这条消息已经标记为已电话联系。")
    o.followed_up_at, o.followed_up_by = now, staff_id
    await session.flush()
    return _message(o)


async def reopen_follow_up(session: AsyncSession, message_id: int) -> Message:
    """Undo a mistaken 「已联系」: the message is back on the 工作台's list."""
    o = await session.get(Outbox, message_id, with_for_update=True)
    if o is None:
        raise FollowUpError("没有这条消息。")
    if o.followed_up_at is None:
        raise FollowUpError("这条消息还没有标记为已联系。")
    o.followed_up_at, o.followed_up_by = None, None
    await session.flush()
    return _message(o)
