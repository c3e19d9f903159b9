"""Leadership: exactly one scheduler across every process and machine of a deployment.

PostgreSQL: the leader holds a session-level `pg_try_advisory_lock(key)` on a dedicated
connection. Everyone else retries every `interval` seconds. If the leader's process dies, the
server closes its connection and frees the lock, so another process takes over within one
interval (plus TCP keepalive time if a whole machine vanishes; see docs/deploy.md). The leader
checks its connection every interval and steps down when it is lost.

SQLite: a lease row (`lease` table) renewed every interval and valid for three. Only one
process may serve an SQLite database anyway; the lease guards against a second
`unionbot serve` started by mistake on the same file.

    leadership = Leadership(engine, sessionmaker, clock)
    await leadership.run(on_elected, on_deposed, stop)   # until stop is set

`on_elected` / `on_deposed` may be plain or async callables.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import uuid
import zlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import Lease
from bot.keys import CLOCK, ENGINE, SESSIONMAKER
from scheduler.setup import start_scheduler

log = logging.getLogger("unionbot.leader")

Callback = Callable[[], Any] | Callable[[], Awaitable[Any]]


def advisory_key(name: str) -> int:
    """A stable 63-bit key per leadership name ("UB" in the high bits, apart from per-user locks)."""
    return (0x554C << 32) | zlib.crc32(f"leader:{name}".encode())


async def _call(cb: Callback | None) -> None:
    if cb is None:
        return
    res = cb()
    if inspect.isawaitable(res):
        await res


class Leadership:
    def __init__(self, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock,
                 name: str = "scheduler", interval: float = 5.0) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.name = name
        self.interval = interval
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.is_leader = False
        self._conn: AsyncConnection | None = None
        self._pg = engine.dialect.name == "postgresql"

    # ---- the loop -------------------------------------------------------------
    async def run(self, on_elected: Callback | None, on_deposed: Callback | None, stop: asyncio.Event) -> None:
        """Campaign until `stop` is set. Setting `stop` releases leadership cleanly; cancelling
        the task is treated like a crash (the lock goes with the connection; a lease runs out)."""
        try:
            while not stop.is_set():
                try:
                    held = await (self._pg_hold() if self._pg else self._lease_hold())
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the database is away: not the leader
                    log.warning("leadership %s: check failed: %r", self.name, exc)
                    held = False
                    await self._drop_conn()
                if held and not self.is_leader:
                    self.is_leader = True
                    log.info("leadership %s: elected (%s)", self.name, self.holder)
                    await _call(on_elected)
                elif not held and self.is_leader:
                    self.is_leader = False
                    log.warning("leadership %s: lost (%s)", self.name, self.holder)
                    await _call(on_deposed)
                try:
                    await asyncio.wait_for(stop.wait(), self.interval)
                except TimeoutError:
                    pass
        except asyncio.CancelledError:
            await asyncio.shield(self._drop_conn())
            if self.is_leader:
                self.is_leader = False
                await asyncio.shield(_call(on_deposed))
            raise
        was = self.is_leader
        self.is_leader = False
        if was:
            await _call(on_deposed)
        await self._release()

    # ---- PostgreSQL: advisory lock on a dedicated connection ---------------------
    async def _pg_hold(self) -> bool:
        if self._conn is None:
            self._conn = await self.engine.connect()
            # autocommit: the lock is session-level and must not sit inside an open transaction
            await self._conn.execution_options(isolation_level="AUTOCOMMIT")
        if self.is_leader:
            await self._conn.execute(text("SELECT 1"))  # raises when the connection is gone
            return True
        got = await self._conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(self.name)})
        return bool(got)

    async def _drop_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.invalidate()  # never hand a connection that may hold the lock back to the pool
            except Exception:  # noqa: BLE001
                pass
            try:
                await conn.close()
            except Exception:  # noqa: BLE001
                pass

    # ---- SQLite: a lease row --------------------------------------------------
    async def _lease_hold(self) -> bool:
        now = self.clock.now()
        expires = now + timedelta(seconds=self.interval * 3)
        stmt = sqlite.insert(Lease).values(name=self.name, holder=self.holder, expires_at=expires)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"], set_={"holder": self.holder, "expires_at": expires},
            where=(Lease.holder == self.holder) | (Lease.expires_at < now))
        async with self.sessionmaker() as s, s.begin():
            result = await s.execute(stmt)
        return result.rowcount == 1

    async def _release(self) -> None:
        try:
            if self._pg:
                if self._conn is not None:
                    await self._conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(self.name)})
            else:
                from sqlalchemy import delete

                async with self.sessionmaker() as s, s.begin():
                    await s.execute(delete(Lease).where(Lease.name == self.name, Lease.holder == self.holder))
        except Exception as exc:  # noqa: BLE001 - the lock/lease frees itself anyway
            log.warning("leadership %s: release failed: %r", self.name, exc)
        finally:
            await self._drop_conn()


# ---- glue for the app ------------------------------------------------------------

class LeaderHandle:
    """What `scheduler_under_leadership` returns: `await handle.close()` at shutdown."""

    def __init__(self, leadership: Leadership, task: asyncio.Task, stop: asyncio.Event) -> None:
        self.leadership = leadership
        self.task = task
        self.stop = stop

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    async def close(self) -> None:
        self.stop.set()
        try:
            await asyncio.wait_for(self.task, self.leadership.interval + 10)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()
        except Exception:  # noqa: BLE001
            log.exception("leadership task failed")


async def scheduler_under_leadership(app: Any, interval: float = 5.0) -> LeaderHandle:
    """Run the APScheduler only while this process holds leadership. Call from the app's lifecycle:

        leader = await scheduler_under_leadership(app)
        yield
        await leader.close()
    """

    leadership = Leadership(app[ENGINE], app[SESSIONMAKER], app[CLOCK], name="scheduler", interval=interval)
    sched: list[Any] = []

    async def elected() -> None:
        sched.append(await start_scheduler(app))

    def deposed() -> None:
        while sched:
            sched.pop().shutdown(wait=False)

    stop = asyncio.Event()
    task = asyncio.create_task(leadership.run(elected, deposed, stop), name="scheduler leadership")
    return LeaderHandle(leadership, task, stop)
