"""Helpers for the worker-side inbox tests: what reached the inbox, FAQ entries."""
from __future__ import annotations

from sqlalchemy import delete, select

from bot.db.models.inbox import FaqEntry, InboxMessage, InboxThread
from handlers.inbox import faq


async def threads(db, openid: str | None = None) -> list[InboxThread]:  # noqa: ANN001
    async with db() as s:
        q = select(InboxThread).order_by(InboxThread.id)
        if openid is not None:
            q = q.where(InboxThread.openid == openid)
        return list(await s.scalars(q))


async def messages(db, thread_id: int) -> list[InboxMessage]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(InboxMessage).where(InboxMessage.thread_id == thread_id)
                                    .order_by(InboxMessage.id)))


async def clear_faq(db) -> None:  # noqa: ANN001
    """No FAQ entries (the starter entries are seeded at start): the question rule alone decides."""
    async with db() as s, s.begin():
        await s.execute(delete(FaqEntry))
    faq.forget()


async def add_faq(db, clock, keywords: list[str], answer: str, *, topic: str = "", to_inbox: bool = False,  # noqa: ANN001
                  priority: int = 0) -> int:
    async with db() as s, s.begin():
        e = FaqEntry(keywords=keywords, answer=answer, topic=topic, to_inbox=to_inbox, priority=priority,
                     active=True, hits=0, link="", created_at=clock.now(), updated_at=clock.now())
        s.add(e)
        await s.flush()
    faq.forget()
    return e.id


async def faq_hits(db, entry_id: int) -> int:  # noqa: ANN001
    async with db() as s:
        return (await s.get(FaqEntry, entry_id)).hits
