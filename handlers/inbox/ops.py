"""The worker's side of the inbox: threads opened by a question, follow-ups, closing.

A worker has at most one open thread. Everything they send while it is open (text, voice
recognition text, photos) is one `InboxMessage` of it, stored once per inbound message
(`source_key` = the inbound dedup key, so WeChat's re-sends are stored once). A worker
message marks the thread waiting (the nav badge counts those) and unread for staff.
A thread with nothing new for `[inbox] close_after_days` whose last word was not the
worker's is closed, and the worker told (an unanswered question is never closed by itself).
Staff-side operations (replies, notes, assignment, closing by staff) are in `replies.py`.
"""
from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot import outbox
from bot.db import prepared
from bot.db.engine import dialect_insert
from bot.db.models.core import Member
from bot.db.models.inbox import InboxMessage, InboxThread
from bot.operations import DomainError, OpsContext
from handlers.inbox.question import DEFAULT_TOPIC, guess_topic, looks_like_question

__all__ = ["TEMPLATE_KIND", "REPLY_PURPOSE", "NOTICE_PURPOSE", "InboxError", "count_waiting", "thread_community", "open_thread",
           "start_thread", "add_worker_message", "add_to_open_thread", "OpenThread", "ThreadRef", "add_bot_message", "bot_said", "close_by_worker",
           "close_quiet_threads", "ErasedThreads", "erase_member_threads", "looks_like_question", "guess_topic",
           "topic_for", "DEFAULT_TOPIC", "LastReply", "last_reply", "staff_spoke_last"]

TEMPLATE_KIND = "inbox_reply"  # `[wechat] templates.inbox_reply`: a staff answer outside the 48-hour window
REPLY_PURPOSE = "inbox.reply"  # a staff answer
NOTICE_PURPOSE = "inbox.notice"  # 「工作人员已结束本次咨询」 and similar

SUBJECT_CHARS = 60
PHOTO_SUBJECT = "（照片）"  # the subject of a thread that began with a photo, until words come
KINDS = ("text", "voice", "image")


class InboxError(DomainError):
    """A rule of the inbox refused the operation; the text is said to the person as it is."""


def thread_community():  # noqa: ANN201
    """The community a thread belongs to, as an SQL expression: its worker's (`Member.community`
    through `InboxThread.member_id`); NULL — the federation's accounts only — when the worker
    named none. A community account sees only its own community's threads."""
    return select(Member.community).where(Member.id == InboxThread.member_id).scalar_subquery()


async def count_waiting(session: AsyncSession, community: str | None = None, assigned_to: int | None = None) -> int:
    """Open threads whose last worker message has no staff answer yet (the nav badge); of a
    community account (`community`): only its community's; `assigned_to`: only that staff
    member's (我的待办)."""
    q = select(func.count()).select_from(InboxThread).where(InboxThread.status == "open",
                                                            InboxThread.waiting.is_(True))
    if community is not None:
        q = q.where(thread_community() == community)
    if assigned_to is not None:
        q = q.where(InboxThread.assigned_to == assigned_to)
    return int(await session.scalar(q) or 0)


_OPEN_THREAD = (select(InboxThread).where(InboxThread.openid == bindparam("openid"), InboxThread.status == "open")
                .order_by(InboxThread.id.desc()).limit(1))


async def open_thread(session: AsyncSession, openid: str) -> InboxThread | None:
    """The worker's open thread (the newest, should there ever be two). Asked about every message
    no feature took from a worker who has one: one statement, built once."""
    return await session.scalar(_OPEN_THREAD, {"openid": openid})


def topic_for(ctx: OpsContext, topic: str | None, text: str = "") -> str:
    """A configured topic: `topic` when it is one, else the one `text` is most likely about."""
    topics = ctx.settings.inbox.topics
    if topic in topics:
        return topic  # type: ignore[return-value]
    return guess_topic(text, topics) or topics[-1]


def _subject(kind: str, text: str) -> str:
    text = " ".join(text.split())
    if kind == "image" or not text:
        return PHOTO_SUBJECT
    return text if len(text) <= SUBJECT_CHARS else text[:SUBJECT_CHARS] + "…"


async def start_thread(session: AsyncSession, ctx: OpsContext, *, openid: str, member_id: int | None, topic: str,
                       kind: str = "text", text: str = "", media_id: str = "",
                       source_key: str | None = None) -> InboxThread:
    """Open a thread with the worker's first message; an open thread is reused (never two)."""
    thread = await open_thread(session, openid)
    if thread is None:
        now = ctx.now
        thread = InboxThread(member_id=member_id, openid=openid, topic=topic_for(ctx, topic, text),
                             subject=_subject(kind, text), status="open", waiting=True, waiting_since=now,
                             unread=0, created_at=now, last_message_at=now)
        session.add(thread)
        await session.flush()
    await add_worker_message(session, ctx, thread, kind=kind, text=text, media_id=media_id, source_key=source_key)
    return thread


# The statements of a worker's message, built once (building them per message cost more than
# running them): the message, and the thread's counters in one UPDATE that returns what it set.
_MESSAGE, _THREAD = InboxMessage.__table__, InboxThread.__table__
_INSERT = {name: dialect_insert(name)(_MESSAGE).values(
    {**{c: bindparam(c, type_=_MESSAGE.c[c].type)
        for c in ("thread_id", "at", "kind", "text", "source_key", "media_id", "media_status")},
     "sender": "worker", "attempts": 0, "error": ""}) for name in ("postgresql", "sqlite")}
_ADD = {name: stmt.returning(_MESSAGE.c.id) for name, stmt in _INSERT.items()}
_ADD_ONCE = {name: stmt.on_conflict_do_nothing(index_elements=["source_key"]).returning(_MESSAGE.c.id)
             for name, stmt in _INSERT.items()}  # a held photo may have been stored before
_SEEN = ("unread", "last_message_at", "waiting", "waiting_since", "subject", "status")
_STILL_WAITING = _THREAD.c.waiting.is_(True) & _THREAD.c.waiting_since.is_not(None)


def _touch(waiting: bool, *where: Any) -> Any:
    """UPDATE of the thread a worker message joins: unread, last message, waiting since, subject."""
    now = bindparam("now", type_=_THREAD.c.last_message_at.type)
    new_subject = bindparam("new_subject", type_=_THREAD.c.subject.type)
    return update(_THREAD).where(_THREAD.c.id == bindparam("tid"), *where).values(
        unread=_THREAD.c.unread + 1, last_message_at=now,
        subject=case((_THREAD.c.subject.in_(("", PHOTO_SUBJECT)) & (new_subject != ""), new_subject),
                     else_=_THREAD.c.subject),
        **({"waiting": True, "waiting_since": case((_STILL_WAITING, _THREAD.c.waiting_since), else_=now)}
           if waiting else {}))


_TOUCH = {w: _touch(w).returning(*(_THREAD.c[name] for name in _SEEN)) for w in (True, False)}
_TOUCH_OPEN = {w: _touch(w, _THREAD.c.openid == bindparam("owner"), _THREAD.c.status == "open")
               .returning(_THREAD.c.id, _THREAD.c.topic) for w in (True, False)}


class OpenThread(NamedTuple):
    """A worker's open thread as a follow-up needs it (`add_to_open_thread`)."""

    id: int
    topic: str


ThreadRef = InboxThread | OpenThread  # what the bot's own messages of a thread need: its id


def _message_params(ctx: OpsContext, thread_id: int, kind: str, text: str, media_id: str,
                    source_key: str | None) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    photo = kind == "image"
    return {"thread_id": thread_id, "at": ctx.now, "kind": kind, "text": text.strip(), "source_key": source_key or None,
            "media_id": media_id if photo else "",
            "media_status": ("pending" if ctx.services.get("api_available") else "offline") if photo else ""}


def _new_subject(kind: str, text: str) -> str:
    """The subject a worker message gives a thread that has none yet ("" for a photo)."""
    return "" if kind == "image" or not text.strip() else _subject(kind, text)


async def add_to_open_thread(session: AsyncSession, ctx: OpsContext, thread_id: int, openid: str, *,
                             kind: str = "text", text: str = "", media_id: str = "", source_key: str | None = None,
                             waiting: bool = True) -> OpenThread | None:
    """A worker's follow-up on their thread `thread_id` if it is still open (None if not): the
    thread's UPDATE checks that, then the message — two statements, no lookup. For a message
    being processed now (`source_key`: its own dedup key, claimed fresh), not held photos."""
    params = _message_params(ctx, thread_id, kind, text, media_id, source_key)
    row = await prepared.first(session, _TOUCH_OPEN[waiting], {
        "tid": thread_id, "owner": openid, "now": params["at"], "new_subject": _new_subject(kind, text)})
    if row is None:
        return None
    await prepared.run(session, _INSERT[prepared.dialect(session)], params)
    return OpenThread(row[0], row[1])


async def add_worker_message(session: AsyncSession, ctx: OpsContext, thread: InboxThread, *, kind: str = "text",
                             text: str = "", media_id: str = "", source_key: str | None = None,
                             waiting: bool = True) -> int | None:
    """One message of the worker on `thread` (its id); None when this inbound message was stored
    before (a held photo). A follow-up to the thread the dialogue remembers takes
    `add_to_open_thread` instead.

    `waiting=False` for a pleasantry (谢谢, 好的) after an answer: staff see it, and the thread
    doesn't count as unanswered because of it."""
    params = _message_params(ctx, thread.id, kind, text, media_id, source_key)
    if thread.status != "open":
        raise InboxError("这次咨询已经结束了，有新问题请直接发来。")
    added = await prepared.first(session, (_ADD_ONCE if source_key else _ADD)[prepared.dialect(session)], params)
    if added is None:
        return None
    message_id = added[0]
    # One statement: a staff page marking the thread read at the same moment loses nothing. What
    # it set comes back into `thread` as the database has it (not as changes to flush).
    current = await prepared.first(session, _TOUCH[waiting], {"tid": thread.id, "now": params["at"],
                                                              "new_subject": _new_subject(kind, text)})
    assert current is not None  # the thread is the caller's, read in this transaction
    for name, value in zip(_SEEN, current):
        set_committed_value(thread, name, value)
    return message_id


async def add_bot_message(session: AsyncSession, ctx: OpsContext, thread: ThreadRef, text: str) -> InboxMessage:
    """What the bot already answered (an FAQ entry), so staff see what the worker was told."""
    msg = InboxMessage(thread_id=thread.id, at=ctx.now, sender="bot", kind="text", text=text, attempts=0, error="")
    session.add(msg)
    await session.flush()
    return msg


async def bot_said(session: AsyncSession, thread: ThreadRef, text: str) -> bool:
    """Whether the bot already gave this answer in the thread (an FAQ answer is given once)."""
    return bool(await session.scalar(select(InboxMessage.id).where(
        InboxMessage.thread_id == thread.id, InboxMessage.sender == "bot", InboxMessage.text == text).limit(1)))


class LastReply(NamedTuple):
    """The worker's latest conversation as 「有人回复了吗」 needs it."""

    thread: InboxThread
    staff: InboxMessage | None  # the newest staff answer in it, if any
    answered: bool  # staff spoke after the worker's last message


async def last_reply(session: AsyncSession, openid: str) -> LastReply | None:
    """The worker's open conversation (else the newest one), its newest staff answer and whether
    staff spoke last; None when the worker never wrote to staff. Reads only."""
    thread = await open_thread(session, openid) or await session.scalar(
        select(InboxThread).where(InboxThread.openid == openid).order_by(InboxThread.id.desc()).limit(1))
    if thread is None:
        return None
    staff = await session.scalar(select(InboxMessage).where(
        InboxMessage.thread_id == thread.id, InboxMessage.sender == "staff").order_by(InboxMessage.id.desc()).limit(1))
    return LastReply(thread, staff, await staff_spoke_last(session, thread.id))


async def staff_spoke_last(session: AsyncSession, thread_id: int) -> bool:
    """Whether the newest message of the worker or of staff on the thread is staff's (the bot's
    own messages and notes don't count): the worker's next words answer what staff said."""
    last = await session.scalar(select(InboxMessage.sender).where(
        InboxMessage.thread_id == thread_id, InboxMessage.sender.in_(("worker", "staff")))
        .order_by(InboxMessage.id.desc()).limit(1))
    return last == "staff"


async def close_by_worker(session: AsyncSession, ctx: OpsContext, openid: str) -> InboxThread | None:
    """结束咨询: close the worker's open thread; None when there is none."""
    thread = await open_thread(session, openid)
    if thread is None:
        return None
    _close(thread, ctx.now, "worker")
    await session.flush()
    return thread


def _close(thread: InboxThread, now: datetime, by: str) -> None:
    thread.status, thread.closed_at, thread.closed_by = "closed", now, by
    thread.waiting, thread.waiting_since = False, None


async def close_quiet_threads(session: AsyncSession, ctx: OpsContext, *, limit: int = 200) -> int:
    """Close open threads with nothing new for `close_after_days` whose last word was not the
    worker's, telling each worker once (the notice is a message of the thread, sent through the
    outbox in the same transaction). Safe to run repeatedly: a closed thread is never picked again."""
    days = ctx.settings.inbox.close_after_days
    cutoff = ctx.now - timedelta(days=days)
    recent = exists().where(InboxMessage.thread_id == InboxThread.id, InboxMessage.at >= cutoff)
    threads: Sequence[InboxThread] = list(await session.scalars(
        select(InboxThread).where(InboxThread.status == "open", InboxThread.waiting.is_(False),
                                  InboxThread.last_message_at < cutoff, ~recent)
        .order_by(InboxThread.id).limit(limit).with_for_update(skip_locked=True)))
    for thread in threads:
        _close(thread, ctx.now, "auto")
        await _tell_closed(session, ctx, thread, days)
    await session.flush()
    return len(threads)


async def _tell_closed(session: AsyncSession, ctx: OpsContext, thread: InboxThread, days: int) -> None:
    """The notice of a quiet thread closed: a message of the thread (staff see what the worker was
    told, and whether it was delivered) sent through the outbox in the same transaction."""
    started = ctx.local(thread.created_at)
    text = (f"您{started.month}月{started.day}日的咨询（{thread.topic}）已经{days}天没有新消息，我们先把它结束了。"
            "还有问题随时直接发来，工作人员会再回复您。")
    notice = InboxMessage(thread_id=thread.id, at=ctx.now, sender="bot", kind="text", text=text, attempts=0, error="")
    session.add(notice)
    await session.flush()
    notice.outbox_key = f"inbox:{thread.id}:{notice.id}"
    template = None
    if ctx.settings.wechat.templates.get(TEMPLATE_KIND):  # outside the 48-hour window (most likely)
        template = {"kind": TEMPLATE_KIND, "data": {
            "topic": thread.topic, "reply": text if len(text) <= 100 else text[:99] + "…",
            "time": ctx.local().strftime("%Y-%m-%d %H:%M"),
            "remark": f"如需进一步咨询，请回复本公众号或{ctx.settings.office.call_line()}。"}}
    await outbox.enqueue(session, key=notice.outbox_key, openid=thread.openid, now=ctx.now, text=text,
                         purpose=NOTICE_PURPOSE, template=template)


class ErasedThreads(NamedTuple):
    """What 删除我的信息 deleted of the worker's conversations with staff."""

    threads: int = 0
    photos: int = 0  # photos the worker had sent in them


async def erase_member_threads(session: AsyncSession, ctx: OpsContext, openid: str) -> ErasedThreads:
    """删除我的信息: the worker's conversations with staff (every message, photo files included)
    are deleted; returns how many conversations and photos there were."""
    ids = list(await session.scalars(select(InboxThread.id).where(InboxThread.openid == openid)))
    if not ids:
        return ErasedThreads()
    photos = int(await session.scalar(select(func.count()).select_from(InboxMessage).where(
        InboxMessage.thread_id.in_(ids), InboxMessage.kind == "image")) or 0)
    await session.execute(delete(InboxMessage).where(InboxMessage.thread_id.in_(ids)))
    await session.execute(delete(InboxThread).where(InboxThread.id.in_(ids)))
    media_dir = ctx.services.get("media_dir")
    if media_dir:
        for thread_id in ids:
            shutil.rmtree(Path(media_dir) / "inbox" / str(thread_id), ignore_errors=True)
    return ErasedThreads(len(ids), photos)
