"""Messages in, replies out: claim, dispatch, commit — in small batches.

`Processor.handle(incoming)` returns the plain reply XML to send (or None for
`success`). Guarantees (docs/batch-semantics.md has the whole picture, with figures):

- A message is processed once. Its dedup key is inserted first in the
  transaction; a duplicate gets the stored reply. A duplicate arriving while
  the first delivery is still running (same process) awaits the same result.
  Across processes on PostgreSQL the duplicate's insert waits on the unique
  index until the first transaction ends (bounded by `lock_timeout`).
- Messages of one user run one at a time, in arrival order: within a process
  a user is in at most one running batch, with at most one message;
  across processes (PostgreSQL) a transaction-scoped advisory lock per user.
- Dedup record, member, dialogue, feature rows and outbox rows commit together.
- Each handler runs under its own SAVEPOINT: a handler that raises is rolled
  back alone and logged with the key; the user gets a short apology, stored
  with the batch, so re-sends get the same apology. The rest of the batch commits.
- A dialogue is saved only if nobody changed it since it was read (its
  `version`, an optimistic lock); otherwise the message runs again on the fresh row.
- A handler still running after `reply_timeout` is left to finish; the
  webhook answers `success` and the reply is queued in the outbox instead.

The write path is a deliberate design, measured in bench/: one writer task
per process takes every message waiting and runs them in ONE transaction
(group commit). The per-transaction and per-statement costs of the async ORM
(not SQLite) dominated a transaction per message, so the framework's own rows
are written with one statement per batch (multi-row claim, member upserts,
dialogue reads and writes). A batch is waited for before the next starts; on
PostgreSQL a batch still running after `stall_after` (a slow handler) no longer
holds the writer: the next batch starts beside it on another connection, so a
slow handler delays only the messages of its own batch, and a user whose last
handler was slow gets a batch of their own (`python -m bench hol`). SQLite has
one connection, on the loop's thread: there a slow handler holds everyone, as
any long statement does. If a batch fails outside its handlers
(a database error, a lost optimistic lock), it is rolled back and its messages
run again one by one. Handlers do no network I/O, so re-running a rolled-back
handler has no outside effect.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.clock import Clock
from bot.config import Settings
from bot.core.context import Ctx
from bot.core.dialogue import DialogueState
from bot.core.dispatcher import Dispatcher
from bot.core.types import Incoming, NewsReply, Reply, TextReply, TransferReply
from bot.db import prepared
from bot.db.hotpath import CoreRows, DialogueConflict, DialogueSave, MemberRow, Rows, member_variant, rows_for

log = logging.getLogger("unionbot.pipeline")

APOLOGY = "抱歉，系统刚才开了个小差，您的消息没有处理成功。请稍后再发一次，或回复「菜单」重新开始。"
TRANSFER_TOO_LATE = "抱歉，刚才没能及时为您接通工作人员，麻烦您把问题再发一次，我们马上为您转接。"
Renderer = Callable[[Reply, Incoming], bytes]
MAX_BATCH = 64
# PostgreSQL: how long a batch may run before the next one starts beside it (group commit keeps
# batches one after another while they are quick), and how many may run at once.
STALL_AFTER = 0.02
MAX_BATCHES = 4
SLOW_USERS = 10_000


@dataclass
class InFlight:
    """One message being processed; every delivery of it waits on `future`."""

    msg: Incoming
    future: asyncio.Future
    started: float = field(default_factory=time.perf_counter)
    waiters: int = 0
    committing: bool = False
    detached: bool = False


class _LockTimeout(Exception):
    """A duplicate is still being processed by another process (PostgreSQL)."""


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
        self.timeout = settings.server.reply_timeout
        self.inflight: dict[str, InFlight] = {}
        self._queue: deque[InFlight] = deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        # Batches running beside the writer (PostgreSQL) and the users they hold.
        self._running: set[asyncio.Task] = set()
        self._busy: set[str] = set()
        self._slow: dict[str, float] = {}  # users whose last handler took longer than stall_after
        bind = sessionmaker.kw.get("bind")
        sqlite = bind is None or bind.dialect.name == "sqlite"
        # One connection on SQLite: batches strictly one after another.
        self.max_batches = 1 if sqlite else MAX_BATCHES
        self.stall_after = STALL_AFTER
        # False: the writer's rows always go through SQLAlchemy (the tests compare both ways).
        self.fast_rows = True

    # ------------------------------------------------------------------ entry
    async def handle(self, msg: Incoming) -> bytes | None:
        fl = self.inflight.get(msg.dedup_key)
        if fl is None:
            fl = InFlight(msg, asyncio.get_running_loop().create_future())
            self.inflight[msg.dedup_key] = fl
            self._queue.append(fl)
            self._idle.clear()
            self._wakeup.set()
            if self._writer is None or self._writer.done():
                self._writer = asyncio.create_task(self._write_loop(), name="message writer")
        return await self._wait(fl)

    async def _wait(self, fl: InFlight) -> bytes | None:
        """The result of `fl` for one delivery, or None after `reply_timeout` (then the reply goes
        through the outbox). The same as `asyncio.timeout` around `asyncio.shield(fl.future)`,
        at about half the cost per message: one future and one timer of our own."""
        loop = asyncio.get_running_loop()
        mine = loop.create_future()
        relay = functools.partial(_relay, mine)
        fl.waiters += 1
        fl.future.add_done_callback(relay)
        timer = loop.call_later(self.timeout, _expire, mine)
        try:
            result = await mine
            if result is _TIMED_OUT:
                if fl.committing:  # the reply is being committed as a passive reply: take it
                    return await asyncio.shield(fl.future)
                return None
            return result
        finally:
            fl.waiters -= 1
            timer.cancel()
            fl.future.remove_done_callback(relay)

    async def close(self) -> None:
        """Finish what is queued, then stop the writer."""
        await self.drain()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    async def drain(self) -> None:
        """Wait until every queued message is processed (shutdown and tests)."""
        while self._queue or self._running or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    # ----------------------------------------------------------------- writer
    async def _write_loop(self) -> None:
        while True:
            if not self._runnable():
                if not self._queue and not self._running:
                    self._idle.set()
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), 60)
                except TimeoutError:
                    if not self._queue and not self._running:
                        self._writer = None
                        return
                continue
            # Let requests already received reach the queue first (a request takes a few loop
            # turns from socket to queue): a bigger batch shares the transaction's fixed cost.
            for _ in range(3):
                await asyncio.sleep(0)
            batch = self._take_batch()
            if not batch:
                continue
            if self.max_batches == 1:
                await self._guarded(batch)
                continue
            users = {fl.msg.openid for fl in batch}
            task = asyncio.create_task(self._guarded(batch), name="message batch")
            self._running.add(task)
            self._busy |= users
            task.add_done_callback(lambda t, users=users: self._batch_done(t, users))
            # Group commit: the next batch waits for this one — unless it stalls (a slow handler),
            # or is the batch of its own of a user known to be slow.
            if len(self._running) >= self.max_batches:
                await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
            elif not (len(batch) == 1 and batch[0].msg.openid in self._slow):
                await asyncio.wait({task}, timeout=self.stall_after)

    def _runnable(self) -> bool:
        """A waiting message whose user is in no running batch?"""
        busy = self._busy
        return any(fl.msg.openid not in busy for fl in self._queue) if busy else bool(self._queue)

    def _batch_done(self, task: asyncio.Task, users: set[str]) -> None:
        self._running.discard(task)
        self._busy -= users
        self._wakeup.set()

    async def _guarded(self, batch: list[InFlight]) -> None:
        try:
            await self._run_batch(batch)
        except Exception:  # never let the writer die
            log.exception("message writer failed")
            # Nothing of it was stored: WeChat's re-send (or the same message again) is processed
            # afresh, not answered from memory with this empty result.
            self._answer(batch, {})

    def _take_batch(self) -> list[InFlight]:
        """Up to MAX_BATCH waiting messages, at most one per user and none of a user in a running
        batch, in arrival order. Where batches run side by side (PostgreSQL), a user whose last
        handler was slow gets a batch of their own, so that nobody else waits in it."""
        batch: list[InFlight] = []
        users: set[str] = set(self._busy)
        later: list[InFlight] = []
        slow = self._slow if self.max_batches > 1 else None
        while self._queue and len(batch) < MAX_BATCH:
            fl = self._queue.popleft()
            if fl.msg.openid in users:
                later.append(fl)
            elif slow and fl.msg.openid in slow:
                if batch:
                    later.append(fl)
                    continue
                batch.append(fl)
                break
            else:
                users.add(fl.msg.openid)
                batch.append(fl)
        self._queue.extendleft(reversed(later))  # keep their order, ahead of newer messages
        return batch

    def _timed(self, openid: str, seconds: float) -> None:
        """Remember who had a slow handler (until their next quick one; at most SLOW_USERS of them)."""
        if seconds > self.stall_after:
            if len(self._slow) >= SLOW_USERS:
                self._slow.clear()
            self._slow[openid] = seconds
        elif self._slow:
            self._slow.pop(openid, None)

    async def _run_batch(self, batch: list[InFlight]) -> None:
        try:
            results = await self._process(batch)
        except Exception as exc:
            if len(batch) > 1:
                log.info("batch of %d failed (%s); running its messages one by one", len(batch),
                         exc.__class__.__name__)
                for fl in batch:
                    await self._run_batch([fl])
                return
            results = await self._after_failure(batch[0], exc)
        # Committed: from now on the stored reply in the database answers a re-send (a claim that
        # finds the key reads it), so nothing is kept in memory once the waiters have it (issue 15:
        # 30 s of replies held here were most of the heap under sustained load).
        self._answer(batch, results)

    def _answer(self, batch: list[InFlight], results: Mapping[str, bytes | None]) -> None:
        """Each waiting delivery gets its message's result (None: `success`), and the message
        leaves `inflight`: a re-send is answered from the database, or processed afresh."""
        inflight = self.inflight
        for fl in batch:
            if not fl.future.done():
                fl.future.set_result(results.get(fl.msg.dedup_key))
            if inflight.get(fl.msg.dedup_key) is fl:
                del inflight[fl.msg.dedup_key]

    async def _after_failure(self, fl: InFlight, exc: Exception) -> dict[str, bytes | None]:
        """A message whose transaction failed on its own: run it again if its dialogue changed
        meanwhile or it hit a deadlock (twice at most), else answer with the apology."""
        key = fl.msg.dedup_key
        for _ in range(2):
            if not (isinstance(exc, DialogueConflict) or (isinstance(exc, DBAPIError) and _transient(exc))):
                break
            log.info("message %s of %s ran into %s; running it again", key, fl.msg.openid, exc.__class__.__name__)
            try:
                return await self._process([fl])
            except Exception as again:  # noqa: BLE001 — judged below
                exc = again
        if isinstance(exc, _LockTimeout):
            return {key: None}
        log.error("message %s failed (user %s)", key, fl.msg.openid, exc_info=exc, extra={"key": key})
        self._observe(fl, "error")
        return {key: await self._store_apology(fl.msg)}

    def _observe(self, fl: InFlight, outcome: str) -> None:
        if self.observer is not None:
            self.observer.handled(fl.msg, outcome, time.perf_counter() - fl.started)

    # ------------------------------------------------------------ the batch
    async def _process(self, batch: list[InFlight]) -> dict[str, bytes | None]:
        now = self.clock.now()
        results: dict[str, bytes | None] = {}
        queued = False
        failed: set[str] = set()
        async with self.sessionmaker() as session:
            async with session.begin():
                conn = await session.connection()
                postgres = conn.dialect.name == "postgresql"
                if postgres:
                    await conn.execute(text("SET LOCAL lock_timeout = '4500ms'"))
                rows = await rows_for(conn, self.app_id, fast=self.fast_rows)
                session.info[prepared.ROWS] = rows  # the handlers' prebuilt statements run through it
                claimed = await self._claim(rows, batch, now)
                live = [fl for fl in batch if fl.msg.dedup_key in claimed]
                dups = [fl for fl in batch if fl.msg.dedup_key not in claimed]
                if dups:
                    stored = await rows.stored([fl.msg.dedup_key for fl in dups])
                    for fl in dups:
                        status, reply = stored.get(fl.msg.dedup_key, ("processing", None))
                        results[fl.msg.dedup_key] = reply if status not in ("processing", "detached") else None
                if not live:
                    return results
                openids = [fl.msg.openid for fl in live]
                if postgres:
                    await conn.execute(_PG_LOCKS, {"keys": sorted({_lock_id(o) for o in openids})})
                found = await rows.dialogues(openids)
                dialogues = {o: DialogueState(found.get(o), self.app_id, o, now) for o in openids}
                by_variant: dict[str, list[str]] = {}
                for fl in live:
                    m = fl.msg
                    by_variant.setdefault(member_variant(m.kind, m.event, m.opens_short_window), []).append(m.openid)
                await rows.upsert_members(by_variant, now)
                members = await rows.members(openids)
                replies: dict[str, tuple[Reply | None, bytes | None]] = {}
                timed = self.max_batches > 1
                for fl in live:
                    m = fl.msg
                    started = time.perf_counter() if timed else 0.0
                    try:
                        try:  # the handler under its own savepoint
                            async with rows.savepoint(session):
                                reply = await self._dispatch(session, m, members[m.openid], dialogues[m.openid])
                                replies[m.dedup_key] = reply, (self.render(reply, m) if reply is not None else None)
                        except DBAPIError as exc:
                            if not session.is_active or not _transient(exc):
                                raise
                            replies[m.dedup_key] = await self._again(rows, session, m, members[m.openid],
                                                                     dialogues, found, now, exc)
                    except Exception:
                        if not session.is_active:  # the whole transaction is gone: the batch fails
                            raise
                        log.exception("handler failed for message %s (user %s)", m.dedup_key, m.openid,
                                      extra={"key": m.dedup_key})
                        failed.add(m.dedup_key)
                        del dialogues[m.openid]  # its dialogue stays as it was
                        replies[m.dedup_key] = (None, self.render(TextReply(APOLOGY), m))
                    if timed:
                        self._timed(m.openid, time.perf_counter() - started)
                changed = [d for d in dialogues.values() if d.dirty]
                await rows.save_dialogues([DialogueSave(**d.params()) for d in changed])
                for d in changed:
                    d.saved()
                finish = []
                for fl in live:
                    key = fl.msg.dedup_key
                    reply, plain = replies[key]
                    status = "failed" if key in failed else "done"
                    if reply is not None and plain is not None and fl.waiters == 0:
                        # Nobody waits for a passive reply any more: send it later.
                        await self._queue_late_reply(session, fl.msg, reply, now)
                        plain, status, fl.detached = None, "detached", True
                    results[key] = plain
                    finish.append((key, status, plain))
                queued = bool(session.info.get("outbox_queued"))
                # From here the outcome is decided; a waiter timing out now waits for the commit.
                for fl in live:
                    fl.committing = True
                await rows.finish(finish)
            # committed
        try:  # the replies are stored: nothing after the commit may turn them into an apology
            for fl in live:
                self._observe(fl, "error" if fl.msg.dedup_key in failed else "ok")
            if (queued or any(fl.detached for fl in live)) and self.on_queued is not None:
                self.on_queued()
        except Exception:  # noqa: BLE001 — the metrics or the delivery's wake-up; delivery polls anyway
            log.exception("after the commit of a batch of %d", len(live))
        return results

    async def _again(self, rows: Rows, session: AsyncSession, m: Incoming, member: MemberRow,
                     dialogues: dict[str, DialogueState], found: dict[str, Any], now: datetime,
                     exc: DBAPIError) -> tuple[Reply | None, bytes | None]:
        """A handler that hit a deadlock or serialization failure: once more, on its dialogue as read."""
        log.info("handler for message %s hit %s; running it again", m.dedup_key, exc.__class__.__name__)
        dialogues[m.openid] = DialogueState(found.get(m.openid), self.app_id, m.openid, now)
        async with rows.savepoint(session):
            reply = await self._dispatch(session, m, member, dialogues[m.openid])
            return reply, (self.render(reply, m) if reply is not None else None)

    async def _dispatch(self, session: AsyncSession, msg: Incoming, member: MemberRow,
                        dialogue: DialogueState) -> Reply | None:
        ctx = Ctx(msg=msg, member_row=member, session=session, dialogue=dialogue, clock=self.clock,
                  settings=self.settings, services=self.services)
        if dialogue.expired_state:
            flow = self.dispatcher.flows.get(dialogue.expired_state.split(":", 1)[0])
            note = flow.expired_note if flow is not None else None
            if note is None:
                note = f"您之前未完成的{flow.title if flow else '对话'}已超过保留时间，已自动清除。"
            if note:
                ctx.notes.append(note)
        return await self.dispatcher.dispatch(ctx)

    async def _claim(self, rows: Rows, batch: list[InFlight], now: datetime) -> set[str]:
        """Insert the dedup keys; returns the ones that were new."""
        try:
            return await rows.claim([(fl.msg.dedup_key, fl.msg.openid, fl.msg.kind) for fl in batch], now)
        except (DBAPIError, sqlite3.OperationalError) as exc:  # the latter: the SQLite fast path's own
            if _lock_wait(exc.orig if isinstance(exc, DBAPIError) else exc):
                raise _LockTimeout() from exc
            raise  # a deadlock is run again (`_after_failure`), anything else gets the apology

    async def _queue_late_reply(self, session: AsyncSession, msg: Incoming, reply: Reply, now: datetime) -> None:
        if isinstance(reply, TextReply):
            await outbox.enqueue(session, key=f"reply:{msg.dedup_key}", openid=msg.openid, now=now,
                                 text=reply.text, purpose="late_reply")
        elif isinstance(reply, NewsReply):
            await outbox.enqueue(session, key=f"reply:{msg.dedup_key}", openid=msg.openid, now=now,
                                 purpose="late_reply",
                                 articles=[{"title": a.title, "description": a.description, "url": a.url,
                                            "picurl": a.image} for a in reply.articles])
        elif isinstance(reply, TransferReply):  # only a passive reply transfers: too late, said so
            log.warning("transfer to customer service too late for %s", msg.dedup_key, extra={"key": msg.dedup_key})
            await outbox.enqueue(session, key=f"reply:{msg.dedup_key}", openid=msg.openid, now=now,
                                 text=TRANSFER_TOO_LATE, purpose="late_reply")

    async def _store_apology(self, msg: Incoming) -> bytes | None:
        plain = self.render(TextReply(APOLOGY), msg)
        try:
            async with self.sessionmaker() as session:
                async with session.begin():
                    rows = CoreRows(await session.connection(), self.app_id)
                    await rows.store_failed(msg.dedup_key, msg.openid, msg.kind, self.clock.now(), plain)
        except Exception:
            log.exception("could not store the apology for %s", msg.dedup_key, extra={"key": msg.dedup_key})
        return plain


_PG_LOCKS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k")


def _lock_id(openid: str) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock."""
    return zlib.crc32(openid.encode()) | (0x5542 << 32)


_TIMED_OUT = object()


def _relay(mine: asyncio.Future, done: asyncio.Future) -> None:
    if not mine.done():
        if done.cancelled():
            mine.set_result(None)
        elif done.exception() is not None:
            mine.set_exception(done.exception())
        else:
            mine.set_result(done.result())


def _expire(mine: asyncio.Future) -> None:
    if not mine.done():
        mine.set_result(_TIMED_OUT)


def _lock_wait(orig: BaseException | None) -> bool:
    """The claim waited too long for the message's key (`orig`: the driver's error): PostgreSQL's
    lock_timeout (55P03, another process holds the message) or SQLite's busy timeout (another
    writer holds the database)."""
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code == "55P03" or "database is locked" in str(orig)


def _transient(exc: DBAPIError) -> bool:
    """A deadlock or serialization failure (PostgreSQL): worth one more try."""
    return (getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)) in ("40001", "40P01")
