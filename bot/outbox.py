"""The outbox: every message sent outside the passive reply is a row first.

`enqueue` is called inside the transaction of the change that causes the
message; the unique key makes queuing idempotent (a second enqueue with the
same key is a no-op). Delivery lives in `bot.delivery`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
    """
    existing = await session.scalar(select(Outbox.id).where(Outbox.key == key))
    if existing is not None:
        return None
    for obj in session.new:  # queued earlier in this same transaction
        if isinstance(obj, Outbox) and obj.key == key:
            return None
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
    row = Outbox(key=key, openid=openid, kind=kind, purpose=purpose, payload=payload,
                 status="pending", attempts=0, next_attempt_at=now, created_at=now)
    session.add(row)
    session.info["outbox_queued"] = True  # lets the committer wake the delivery loop
    return row
