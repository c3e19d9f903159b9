"""Helpers for the inbox's staff-side tests: workers' threads, the reply form, the outbox rows.

Threads normally come from chat (`ask` sends a real question through the signed webhook);
`add_thread` writes one directly for what chat can't produce quickly (many threads for
filters and pages, photos already fetched, old timestamps).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from typing import Any

from sqlalchemy import select

from bot.db.models.core import Member, Outbox
from bot.db.models.inbox import InboxMessage, InboxThread
from tests.support.admin import csrf_from

_FIELD = r'name="{}"\s+value="([^"]*)"'


def form_value(html: str, name: str) -> str:
    """The value of the first hidden input `name` in a page."""
    m = re.search(_FIELD.format(re.escape(name)), html)
    if not m:
        raise AssertionError(f"no {name!r} field in the page")
    return unescape(m.group(1))


async def add_member(db, clock, openid: str, *, name: str | None = None, phone: str | None = None,  # noqa: ANN001
                     app_id: str = "", window: bool = True, community: str | None = None) -> Member:
    """The worker's profile; `window` = they wrote within 48 hours (WeChat's reply window)."""
    now = clock.now()
    async with db() as s, s.begin():
        m = Member(openid=openid, app_id=app_id, first_seen=now, last_seen=now, name=name, phone=phone,
                   community=community, msg_window_at=now if window else now - timedelta(days=3), msg_window_used=0)
        s.add(m)
    return m


async def add_thread(db, clock, openid: str, messages: list[tuple[str, str] | dict[str, Any]], *,  # noqa: ANN001
                     topic: str = "其他", status: str = "open", assigned_to: int | None = None,
                     at: datetime | None = None) -> int:
    """A thread with its messages: ("worker", "text") pairs or dicts of InboxMessage fields.
    Waiting and unread follow the messages as the worker side keeps them; the thread belongs to
    the worker's profile row (`add_member`) when there is one, as chat makes it."""
    now = at or clock.now()
    rows = [{"sender": m[0], "text": m[1]} if isinstance(m, tuple) else dict(m) for m in messages]
    first = next((r.get("text", "") for r in rows if r["sender"] == "worker"), "")
    async with db() as s, s.begin():
        member_id = await s.scalar(select(Member.id).where(Member.openid == openid).order_by(Member.id).limit(1))
        t = InboxThread(openid=openid, member_id=member_id, topic=topic, subject=first[:200], status=status, waiting=False,
                        waiting_since=None, unread=0, assigned_to=assigned_to, created_at=now, last_message_at=now,
                        closed_at=now if status == "closed" else None,
                        closed_by="worker" if status == "closed" else None)
        s.add(t)
        await s.flush()
        for i, r in enumerate(rows):
            when = now + timedelta(seconds=i)
            s.add(InboxMessage(thread_id=t.id, at=when, kind=r.pop("kind", "text"), **r))
            if r["sender"] == "worker":
                t.unread += 1
                if not t.waiting:
                    t.waiting, t.waiting_since = True, when
            elif r["sender"] == "staff":
                t.waiting, t.waiting_since, t.unread = False, None, 0
            t.last_message_at = when
        if status == "closed":
            t.waiting, t.waiting_since = False, None
        return t.id


async def add_worker_message(db, clock, thread_id: int, text: str) -> None:  # noqa: ANN001
    """The worker writes again on an open thread (as the worker side records it)."""
    async with db() as s, s.begin():
        s.add(InboxMessage(thread_id=thread_id, at=clock.now(), sender="worker", kind="text", text=text))
        t = await s.get(InboxThread, thread_id)
        t.unread += 1
        if not t.waiting:
            t.waiting, t.waiting_since = True, clock.now()
        t.last_message_at = clock.now()


async def thread(db, thread_id: int) -> InboxThread:  # noqa: ANN001
    async with db() as s:
        return await s.get(InboxThread, thread_id)


async def messages(db, thread_id: int) -> list[InboxMessage]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(InboxMessage).where(InboxMessage.thread_id == thread_id)
                                    .order_by(InboxMessage.id)))


async def threads(db) -> list[InboxThread]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(InboxThread).order_by(InboxThread.id)))


async def outbox_rows(db, prefix: str = "inbox:") -> list[Outbox]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(Outbox).where(Outbox.key.startswith(prefix)).order_by(Outbox.id)))


async def open_thread(client, thread_id: int) -> tuple[str, dict[str, str]]:  # noqa: ANN001
    """The thread page and its reply form's hidden fields (_csrf, token, seen)."""
    resp = await client.get(f"/admin/inbox/{thread_id}")
    assert resp.status == 200, resp.status
    html = await resp.text()
    return html, {"_csrf": csrf_from(html), "token": form_value(html, "token"), "seen": form_value(html, "seen")}


async def send_reply(client, thread_id: int, text: str, form: dict[str, str] | None = None):  # noqa: ANN001, ANN201
    """Post the reply form (freshly loaded unless `form` is given); the response, redirect not followed."""
    if form is None:
        _, form = await open_thread(client, thread_id)
    return await client.post(f"/admin/inbox/{thread_id}/reply", data={**form, "text": text}, allow_redirects=False)
