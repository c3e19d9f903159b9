"""Bounded disk: the framework's own records are pruned, SQLite's write-ahead log truncated.

Retention comes from `[retention]` (bot/config.py). Every prune deletes in batches of
`batch_size` rows, each batch its own short transaction, so a run never holds the writer (on
SQLite: the one connection the message writer also uses) for more than one small statement.

- dedup records (`inbound_message`) older than `inbound_days`;
- outbox rows that went out (`sent`, `simulated`) or were `cancelled`, older than `outbox_days`.
  Rows that may not have reached the person (bot.outbox.NEEDS_PHONE) are kept until staff
  followed them up on the 工作台 (`followed_up_at`), then as long; `pending`/`sending` always;
- login throttle rows whose window and block are over (bot.admin.throttle.prune);
- staff logins ended (revoked, idle, past their lifetime) more than `staff_session_days` ago.

The WAL (SQLite only, every 10 seconds): the service checkpoints PASSIVE in a thread of its own
(bot/db/inline_sqlite.Checkpointer). That copies every page back, but SQLite rewinds the log only
when a write begins while nothing is left to copy — under continuous writing that moment never
comes and the file grows without end. So this job, when the -wal file is not empty, copies the
bulk first (PASSIVE, off the event loop, the writer not held; the Checkpointer's passes wait on
`checkpoint_lock`), then takes the service's one connection — the writer waits for its next
batch — and runs a RESTART checkpoint, which has only the last few pages left to copy: the next
write starts the log from the beginning, so under load the file stays at what 10 s of writing
takes. When nothing was written for QUIET_FOR seconds it runs TRUNCATE instead: the file is cut
to 0 bytes.
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import is_sqlite
from bot.db.inline_sqlite import checkpoint_lock
from bot.db.models.core import InboundMessage, Outbox, StaffSession
from bot.jobs import JobContext, JobSpec
from bot.outbox import NEEDS_PHONE

# Final states of a message that went out, or was not meant to any more.
DELIVERED = ("sent", "simulated", "cancelled")


async def _delete_batched(ctx: JobContext, model: Any, pk: Any, where: Any) -> int:
    """DELETE … WHERE pk IN (SELECT pk … WHERE `where` LIMIT batch), batch after batch; how many."""
    batch = ctx.settings.retention.batch_size
    total = 0
    while True:
        async with ctx.sessionmaker() as session, session.begin():
            ids = select(pk).where(where).limit(batch)
            result = await session.execute(delete(model).where(pk.in_(ids))
                                           .execution_options(synchronize_session=False))
        done = result.rowcount or 0
        total += done
        if done < batch:
            return total
        await asyncio.sleep(0)  # let the message writer have the connection between batches


async def prune_inbound(ctx: JobContext) -> int:
    """Delete dedup records older than `[retention] inbound_days`; returns how many."""
    cutoff = ctx.clock.now() - timedelta(days=ctx.settings.retention.inbound_days)
    return await _delete_batched(ctx, InboundMessage, InboundMessage.key, InboundMessage.received_at < cutoff)


async def prune_outbox(ctx: JobContext) -> int:
    """Delete outbox rows in a final state nobody follows up any more, older than `outbox_days`."""
    cutoff = ctx.clock.now() - timedelta(days=ctx.settings.retention.outbox_days)
    where = or_(
        and_(Outbox.status.in_(DELIVERED), Outbox.created_at < cutoff),
        and_(Outbox.status.in_(NEEDS_PHONE), Outbox.followed_up_at.is_not(None), Outbox.followed_up_at < cutoff,
             Outbox.created_at < cutoff),
    )
    return await _delete_batched(ctx, Outbox, Outbox.id, where)


async def prune_logins(ctx: JobContext) -> dict[str, int]:
    """Delete login throttle rows past their window and staff logins ended long ago."""
    from bot.admin import throttle
    from bot.admin.sessions import lifetimes

    now = ctx.clock.now()
    async with ctx.sessionmaker() as session, session.begin():
        throttled = await throttle.prune(session, throttle.Policy.from_settings(ctx.settings.admin), now)
    idle, max_age = lifetimes(ctx.settings)
    keep = timedelta(days=ctx.settings.retention.staff_session_days)
    ended = or_(StaffSession.revoked_at < now - keep,
                StaffSession.last_seen < now - idle - keep,
                StaffSession.created_at < now - max_age - keep)
    sessions = await _delete_batched(ctx, StaffSession, StaffSession.id, ended)
    return {"login_throttle": throttled, "staff_session": sessions}


def wal_path(engine: AsyncEngine) -> str | None:
    """The -wal file of a file SQLite database, else None."""
    if not is_sqlite(engine):
        return None
    db = engine.url.database
    return f"{db}-wal" if db and db != ":memory:" else None


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


QUIET_FOR = 0.2  # seconds without a write to the log that let the job truncate it


def _checkpoint(db: str, mode: str) -> tuple[int, int, int]:
    """(busy, frames in the log, frames copied) of one checkpoint on a connection of its own.

    A short busy wait: another process's reader or writer makes it give up (busy=1), not stall."""
    conn = sqlite3.connect(db, timeout=0.1)
    try:
        return tuple(conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone())  # type: ignore[return-value]
    finally:
        conn.close()


async def checkpoint_wal(ctx: JobContext) -> str:
    """SQLite: copy the WAL back into the database and truncate it to 0 bytes (see the module)."""
    engine = ctx.sessionmaker.kw.get("bind")
    wal = wal_path(engine) if engine is not None else None
    if engine is None or wal is None:
        return "not a SQLite file"
    before = _size(wal)
    if before == 0:
        return "WAL empty"
    db = wal[: -len("-wal")]
    # The Checkpointer thread's passes wait meanwhile, so the checkpoint that holds the writer
    # never meets one of them (SQLite's busy handler, then a retry, with the writer held).
    lock = checkpoint_lock(db)
    await asyncio.to_thread(lock.acquire)
    try:
        # Two PASSIVE passes beside the writer, QUIET_FOR apart: the bulk, then what was written
        # meanwhile — the checkpoint below holds the writer only to copy what came after that.
        # Nothing written in between: TRUNCATE, the file goes to 0 bytes. Otherwise RESTART: the
        # next write starts the log from its beginning, so the file keeps the size 10 s of writing
        # take (cut to `journal_size_limit` beyond that). Under load TRUNCATE held the writer
        # ~95 ms (cutting a file of tens of MB), RESTART ~35 ms.
        _busy, log_frames, _copied = await asyncio.to_thread(_checkpoint, db, "PASSIVE")
        await asyncio.sleep(QUIET_FOR)
        _busy, still, _copied = await asyncio.to_thread(_checkpoint, db, "PASSIVE")
        mode = "TRUNCATE" if still == log_frames else "RESTART"
        async with engine.connect():  # the service's one connection: no batch writes meanwhile
            held = time.perf_counter()
            for _try in range(3):  # busy: another process's reader or writer
                busy, _log, _copied = await asyncio.to_thread(_checkpoint, db, mode)
                if not busy:
                    break
                await asyncio.sleep(0.02)
            after = _size(wal)
            held = time.perf_counter() - held
    finally:
        lock.release()
    return (f"WAL {before} -> {after} bytes ({mode}), writer held {held * 1000:.0f} ms"
            + (" (busy: another connection is using the database; next run)" if busy else ""))


JOBS = [
    JobSpec("core.prune_inbound", prune_inbound, {"trigger": "cron", "hour": 3, "minute": 30},
            "delete message dedup records older than [retention] inbound_days"),
    JobSpec("core.prune_outbox", prune_outbox, {"trigger": "cron", "hour": 3, "minute": 40},
            "delete delivered or cancelled outbox rows older than [retention] outbox_days"),
    JobSpec("core.prune_logins", prune_logins, {"trigger": "cron", "hour": 3, "minute": 50},
            "delete expired login throttle rows and long-ended staff logins"),
    # every 10 s: `python -m bench sustained` showed a 60-s interval leaving a 67 MB WAL for up to a
    # minute after the load stops (target: < 64 MB within 15 s); a run with the WAL empty is a stat.
    JobSpec("core.checkpoint_wal", checkpoint_wal, {"trigger": "interval", "seconds": 10},
            "SQLite: checkpoint and truncate the write-ahead log"),
]
