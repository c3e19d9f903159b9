"""Run the embedded SQLite database on the event loop's own thread.

Why hand-written: aiosqlite (the driver SQLAlchemy's async SQLite dialect
uses) sends every statement to a worker thread and back. Measured here, a
trivial statement cost ~400 µs that way against ~37 µs called directly, and a
message's transaction runs 6–8 statements, so the thread hops — not SQLite —
were the service's bottleneck (about 250 messages/s). With one connection for
the whole process (SQLite has one writer anyway, see bot/db/engine.py), each
statement on small indexed tables takes microseconds, so calling sqlite3
directly from the loop is both faster and simpler. No library offers this, so
this module adapts a plain `sqlite3.Connection` to the small async interface
SQLAlchemy's aiosqlite adapter expects (passed as `async_creator`).

The price: a long statement blocks the loop for its duration. That is the
embedded mode's trade-off; deployments that need more use PostgreSQL.

The interface reproduced here is private to SQLAlchemy's aiosqlite dialect
(`_connection`, `_tx`, `_conn`, `stop()`; cursors made without awaiting, as
SQLAlchemy 2.1's generic asyncio adapter does — 2.0 awaited them). So the
versions it was built for are pinned in pyproject.toml and checked when an
engine is made (`check_versions`): anything else stops the start with one line.
"""
from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# The ranges this module was built and tested for; pyproject.toml pins the same (a test checks).
SUPPORTED = {"SQLAlchemy": (">=2.1", "<2.2"), "aiosqlite": (">=0.20", "<0.23")}


class DriverVersionError(SystemExit):
    """An installed SQLAlchemy or aiosqlite outside the supported range.

    A SystemExit: uncaught, it ends the process printing its one-line message, no traceback."""


def _release(version: str) -> tuple[int, ...]:
    m = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(x) for x in m.group().split(".")) if m else ()


def check_versions() -> None:
    """Raise DriverVersionError unless SQLAlchemy and aiosqlite are versions this driver was built for."""
    import aiosqlite
    import sqlalchemy

    installed = {"SQLAlchemy": sqlalchemy.__version__, "aiosqlite": getattr(aiosqlite, "__version__", "0")}
    for dist, (low, high) in SUPPORTED.items():
        version = installed[dist]
        if not _release(low[2:]) <= _release(version) < _release(high[1:]):
            raise DriverVersionError(
                f"unionbot: the embedded SQLite driver (bot/db/inline_sqlite.py) supports {dist}{low},{high} "
                f"but {dist} {version} is installed; run `pip install -e .` to get a supported version")


class InlineCursor:
    __slots__ = ("_cur",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._cur = conn.cursor()

    async def __aenter__(self) -> "InlineCursor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cur.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> "InlineCursor":
        self._cur.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> "InlineCursor":
        self._cur.executemany(sql, seq)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    async def fetchone(self) -> Any:
        return self._cur.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cur.fetchmany(size if size is not None else self._cur.arraysize)

    async def close(self) -> None:
        self._cur.close()

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cur.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cur.arraysize = value


class _Tx:
    """Stands in for aiosqlite's request queue (used to set the isolation level)."""

    def put_nowait(self, item: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        future, fn = item
        try:
            future.set_result(fn())
        except Exception as exc:  # noqa: BLE001 — handed back to the awaiting caller
            future.set_exception(exc)


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._tx = _Tx()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        assert self._conn is not None
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        if self._conn is None:
            raise ValueError("no active connection")
        return InlineCursor(self._conn)

    async def commit(self) -> None:
        if self._conn is not None:
            self._conn.commit()

    async def rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def create_function(self, *args: Any, **kw: Any) -> None:
        assert self._conn is not None
        self._conn.create_function(*args, **kw)


def inline_creator(path: str, timeout: float = 5.0) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine opening `path` in this thread."""

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(path, timeout=timeout, check_same_thread=False))

    return connect


_CHECKPOINT_LOCKS: dict[str, Any] = {}


def checkpoint_lock(path: str) -> Any:
    """One lock per database file for whoever checkpoints it in this process (the Checkpointer's
    PASSIVE passes, the WAL job in scheduler/retention.py): two checkpoints at once make the
    second wait on SQLite's busy handler, and the job's waits with the writer held."""
    import threading

    return _CHECKPOINT_LOCKS.setdefault(os.path.realpath(path), threading.Lock())


class Checkpointer:
    """Moves SQLite's WAL checkpoints off the event loop.

    SQLite checkpoints the write-ahead log from the committing connection once it passes 1,000
    pages, copying pages back and syncing the file — milliseconds to tens of milliseconds. With
    the connection on the loop thread that stalled every request in flight: it was the whole
    p99 tail in `python -m bench webhook` (27–31 ms; 19 ms without). So the service's connection
    turns automatic checkpoints off (`PRAGMA wal_autocheckpoint=0`) and this thread, with a
    connection of its own, runs a PASSIVE checkpoint every `interval` seconds. PASSIVE never
    waits for or blocks the writer; the WAL is reused from the start after each complete pass.
    """

    def __init__(self, path: str, interval: float = 1.0) -> None:
        import threading

        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqlite checkpoint {path}", daemon=True)

    def start(self) -> "Checkpointer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import logging

        log = logging.getLogger("unionbot.db")
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self.interval):
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, timeout=0.1, check_same_thread=False)
                    with checkpoint_lock(self.path):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the database may be gone (a test's temp dir): keep trying
                    log.debug("checkpoint of %s skipped: %s", self.path, exc)
        finally:
            if conn is not None:
                conn.close()
