"""The outbox: every message sent outside the passive reply is a row first.

`enqueue` is called inside the transaction of the change that causes the
message; the unique key makes queuing idempotent (a second enqueue with the
same key is a no-op). Delivery lives in `bot.delivery`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

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
