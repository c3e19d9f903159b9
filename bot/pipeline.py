"""One message, one transaction: claim, dispatch, commit, answer.

`Processor.handle(incoming)` returns the plain reply XML to send (or None for
`success`). Guarantees:

- A message is processed once. Its dedup key is inserted first in the
  transaction; a duplicate gets the stored reply. A duplicate arriving while
  the first delivery is still running (same process) awaits the same result.
  Across processes on PostgreSQL the duplicate's insert waits on the unique
  index until the first transaction ends (bounded by `lock_timeout`).
- Messages of one user run one at a time: an asyncio lock per user in the
  process and, on PostgreSQL, a transaction-scoped advisory lock.
- Dedup record, member, dialogue, feature rows and outbox rows commit together.
- A handler still running after `reply_timeout` is left to finish; the
  webhook answers `success` and the reply is queued in the outbox instead.
- A handler that raises is rolled back and logged with the key; the user gets
  a short apology, which is also stored, so re-sends get the same apology.
"""
from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import make_transient_to_detached

from bot import outbox
from bot.clock import Clock
from bot.config import Settings
from bot.core.context import Ctx
from bot.core.dialogue import load_dialogue
from bot.core.dispatcher import Dispatcher
from bot.core.forms import FORMS
from bot.core.types import Incoming, NewsReply, Reply, TextReply
from bot.db.models import InboundMessage, Member

log = logging.getLogger("unionbot.pipeline")

APOLOGY = "抱歉，系统刚才开了个小差，您的消息没有处理成功。请稍后再发一次，或回复「菜单」重新开始。"
Renderer = Callable[[Reply, Incoming], bytes]


@dataclass
class InFlight:
    task: asyncio.Task | None = None
    waiters: int = 0
    committing: bool = False
    detached: bool = False


@dataclass
class _UserLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Processor:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], dispatcher: Dispatcher,
                 render: Renderer, clock: Clock, services: dict[str, Any] | None = None,
                 on_queued: Callable[[], None] | None = None, observer: Any = None) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.dispatcher = dispatcher
        self.render = render
        self.clock = clock
        self.services = services if services is not None else {}
        self.on_queued = on_queued
        self.observer = observer
        self.app_id = settings.wechat.app_id
        self.inflight: dict[str, InFlight] = {}
        self._locks: dict[str, _UserLock] = {}
        self._tasks: set[asyncio.Task] = set()
        self.timeout = settings.server.reply_timeout

    # ------------------------------------------------------------------ entry
    async def handle(self, msg: Incoming) -> bytes | None:
        fl = self.inflight.get(msg.dedup_key)
        if fl is None:
            fl = InFlight()
            self.inflight[msg.dedup_key] = fl
            fl.task = asyncio.create_task(self._run(msg, fl), name=f"msg {msg.dedup_key}")
            self._tasks.add(fl.task)
            fl.task.add_done_callback(self._tasks.discard)
        return await self._wait(fl)

    async def _wait(self, fl: InFlight) -> bytes | None:
        assert fl.task is not None
        fl.waiters += 1
        try:
            return await asyncio.wait_for(asyncio.shield(fl.task), self.timeout)
        except TimeoutError:
            if fl.committing:  # the reply is being committed as a passive reply: take it
                return await asyncio.shield(fl.task)
            return None
        finally:
            fl.waiters -= 1

    async def drain(self) -> None:
        """Wait for handlers still running (used at shutdown and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------- user lock
    async def _user_lock(self, openid: str) -> _UserLock:
        ul = self._locks.get(openid)
        if ul is None:
            ul = self._locks[openid] = _UserLock()
        ul.users += 1
        await ul.lock.acquire()
        return ul

    def _user_unlock(self, openid: str, ul: _UserLock) -> None:
        ul.lock.release()
        ul.users -= 1
        if ul.users == 0:
            self._locks.pop(openid, None)

    # ------------------------------------------------------------------- run
    async def _run(self, msg: Incoming, fl: InFlight) -> bytes | None:
        started = time.perf_counter()
        ul = await self._user_lock(msg.openid)
        outcome = "ok"
        try:
            return await self._process(msg, fl)
        except Exception:
            outcome = "error"
            log.exception("handler failed for message %s (user %s)", msg.dedup_key, msg.openid)
            return await self._store_apology(msg)
        finally:
            self._user_unlock(msg.openid, ul)
            if self.observer is not None:
                self.observer.handled(msg, outcome, time.perf_counter() - started)
            # Keep the in-flight entry a moment so a re-send racing the commit finds it;
            # after that the stored reply in the database answers duplicates.
            asyncio.get_running_loop().call_later(30, self.inflight.pop, msg.dedup_key, None)

    async def _process(self, msg: Incoming, fl: InFlight) -> bytes | None:
        now = self.clock.now()
        async with self.sessionmaker() as session:
            async with session.begin():
                dialect = session.bind.dialect.name
                if dialect == "postgresql":
                    await session.execute(text("SET LOCAL lock_timeout = '4500ms'"))
                try:
                    claimed = await self._claim(session, msg, now, dialect)
                except DBAPIError as exc:  # lock timeout: the first delivery is still running elsewhere
                    log.info("duplicate %s still in flight elsewhere: %s", msg.dedup_key, exc.__class__.__name__)
                    return None
                if not claimed:
                    return await self._stored_reply(session, msg)
                if dialect == "postgresql":
                    await session.execute(select(text("pg_advisory_xact_lock(:k)")).params(k=_lock_id(msg.openid)))
                # Read both rows before touching either, so nothing is flushed until the commit.
                dialogue = await load_dialogue(session, self.app_id, msg.openid, now)
                member = await self._member(session, msg, now)
                ctx = Ctx(msg=msg, member=member, session=session, dialogue=dialogue, clock=self.clock,
                          settings=self.settings, services=self.services)
                if dialogue.expired_state:
                    flow = dialogue.expired_state.split(":", 1)[0]
                    title = FORMS[flow].title if flow in FORMS else "对话"
                    ctx.notes.append(f"您之前未完成的{title}已超过保留时间，已自动清除。")
                reply = await self.dispatcher.dispatch(ctx)
                await dialogue.save(session)
                plain = self.render(reply, msg) if reply is not None else None
                status = "done"
                queued = any(True for o in session.new if o.__class__.__name__ == "Outbox")
                if plain is not None and fl.waiters == 0:
                    # Nobody is waiting for a passive reply any more: send it later.
                    await self._queue_late_reply(session, msg, reply, now)
                    plain, status, queued, fl.detached = None, "detached", True, True
                # From here the outcome is decided; a waiter timing out now waits for the commit.
                fl.committing = True
                conn = await session.connection()
                await conn.execute(_FINISH, {"k": msg.dedup_key, "status": status, "reply": plain})
            # committed
        if queued and self.on_queued is not None:
            self.on_queued()
        return plain

    async def _claim(self, session: AsyncSession, msg: Incoming, now, dialect: str) -> bool:  # noqa: ANN001
        conn = await session.connection()  # Core execution: no ORM bulk-insert machinery
        result = await conn.execute(_CLAIM[dialect], {
            "key": msg.dedup_key, "openid": msg.openid, "kind": msg.kind, "received_at": now})
        return result.rowcount == 1

    async def _stored_reply(self, session: AsyncSession, msg: Incoming) -> bytes | None:
        row = await session.get(InboundMessage, msg.dedup_key, populate_existing=True)
        if row is None or row.status in ("processing", "detached"):
            return None
        return row.reply

    async def _member(self, session: AsyncSession, msg: Incoming, now) -> Member:  # noqa: ANN001
        """Upsert the member row with this message's effects (one Core statement), then load it."""
        conn = await session.connection()
        row = (await conn.execute(_member_upsert(conn.dialect.name, _member_variant(msg)),
                                  {"app_id": self.app_id, "openid": msg.openid, "now": now})).one()
        # Attach the returned row as a persistent entity without another SELECT;
        # handlers may change it (profile fields) and the change is flushed at commit.
        member = Member(**row._asdict())
        make_transient_to_detached(member)
        session.add(member)
        return member

    async def _queue_late_reply(self, session: AsyncSession, msg: Incoming, reply: Reply, now) -> None:  # noqa: ANN001
        if isinstance(reply, TextReply):
            await outbox.enqueue(session, key=f"reply:{msg.dedup_key}", openid=msg.openid, now=now,
                                 text=reply.text, purpose="late_reply")
        elif isinstance(reply, NewsReply):
            await outbox.enqueue(session, key=f"reply:{msg.dedup_key}", openid=msg.openid, now=now,
                                 purpose="late_reply",
                                 articles=[{"title": a.title, "description": a.description, "url": a.url,
                                            "picurl": a.image} for a in reply.articles])

    async def _store_apology(self, msg: Incoming) -> bytes | None:
        plain = self.render(TextReply(APOLOGY), msg)
        try:
            async with self.sessionmaker() as session:
                async with session.begin():
                    dialect = session.bind.dialect.name
                    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
                    await session.execute(ins(InboundMessage).values(
                        key=msg.dedup_key, openid=msg.openid, kind=msg.kind, received_at=self.clock.now(),
                        status="failed", reply=plain).on_conflict_do_nothing(index_elements=["key"]))
        except Exception:
            log.exception("could not store the apology for %s", msg.dedup_key)
        return plain


# Statements built once: constructing them per message cost more than running them.
_CLAIM = {
    name: ins(InboundMessage).values(
        key=bindparam("key"), openid=bindparam("openid"), kind=bindparam("kind"),
        received_at=bindparam("received_at", type_=InboundMessage.__table__.c.received_at.type),
        status="processing").on_conflict_do_nothing(index_elements=["key"])
    for name, ins in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_MEMBER = select(Member).where(Member.app_id == bindparam("app_id"), Member.openid == bindparam("openid"))
_FINISH = (update(InboundMessage).where(InboundMessage.key == bindparam("k"))
           .values(status=bindparam("status"), reply=bindparam("reply", type_=InboundMessage.__table__.c.reply.type)))


def _member_variant(msg: Incoming) -> str:
    if msg.kind != "event":
        return "message"
    if msg.event in ("subscribe", "unsubscribe"):
        return msg.event
    return "short_window" if msg.opens_short_window else "event"


_UPSERTS: dict[tuple[str, str], Any] = {}


def _member_upsert(dialect: str, variant: str):  # noqa: ANN202
    """INSERT ... ON CONFLICT DO UPDATE for a member, per dialect and kind of message."""
    key = (dialect, variant)
    if key not in _UPSERTS:
        t = Member.__table__
        now = bindparam("now", type_=t.c.last_seen.type)
        values: dict[str, Any] = {"last_seen": now}
        if variant == "message":
            values |= {"msg_window_at": now, "msg_window_used": 0}
        elif variant in ("short_window", "subscribe"):
            values |= {"evt_window_at": now, "evt_window_used": 0}
        if variant == "subscribe":
            values |= {"subscribed": True, "unsubscribed_at": None}
        elif variant == "unsubscribe":
            values |= {"subscribed": False, "unsubscribed_at": now}
        inserted = {"app_id": bindparam("app_id"), "openid": bindparam("openid"), "first_seen": now,
                    "subscribed": variant != "unsubscribe", "msg_window_used": 0, "evt_window_used": 0, **values}
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t).values(**inserted)
        _UPSERTS[key] = (ins.on_conflict_do_update(index_elements=[t.c.app_id, t.c.openid], set_=values)
                         .returning(*t.c))
    return _UPSERTS[key]


def _lock_id(openid: str) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock."""
    return zlib.crc32(openid.encode()) | (0x5542 << 32)
