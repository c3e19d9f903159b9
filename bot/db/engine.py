"""Engine and session factory for SQLite (embedded) and PostgreSQL (scale-out)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


# SQLite: the largest the write-ahead log file is left at after the log is rewound (bytes).
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def is_sqlite(engine_or_url) -> bool:  # noqa: ANN001
    url = engine_or_url.url if hasattr(engine_or_url, "url") else make_url(str(engine_or_url))
    return url.get_backend_name() == "sqlite"


def make_sqlite_dir(url: str) -> None:
    """Create the folder of a file SQLite database (SQLite creates the file, not its folder)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10, connect_args: dict | None = None,
                synchronous: str = "normal") -> AsyncEngine:
    """Create the async engine.

    SQLite allows one writer at a time. Rather than letting several
    connections fight over the write lock (SQLite then sleeps and retries,
    which gave p99 latencies over a second), the embedded engine uses ONE
    connection: sessions queue for it in asyncio, first come first served.
    That connection runs on the loop's thread (bot/db/inline_sqlite.py).
    """
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        db = u.database
        make_sqlite_dir(url)
        from bot.db.inline_sqlite import Checkpointer, check_versions, inline_creator

        check_versions()
        engine = create_async_engine(
            url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=60,
            async_creator=inline_creator(db or ":memory:"),
        )
        if db and db != ":memory:":
            checkpointer = Checkpointer(db).start()
            event.listen(engine.sync_engine, "engine_disposed", lambda _e: checkpointer.stop())

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a crash of the process loses nothing committed; a power cut can take back
            # the commits since the last checkpoint. FULL: each commit synced first (deploy.md §7).
            cur.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
            cur.execute("PRAGMA foreign_keys=ON")
            # Checkpoints run in a thread of their own, off the event loop (Checkpointer).
            cur.execute("PRAGMA wal_autocheckpoint=0")
            # When the log is rewound after a complete checkpoint, cut the file back to this size
            # (SQLite otherwise keeps it at its largest); scheduler/retention.py truncates it to 0.
            cur.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            # Another process (a CLI import) may hold the write lock briefly; the
            # statement waits for it, blocking the loop, so keep the wait short.
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
        connect_args=connect_args or {},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def session_engine(session: AsyncSession) -> Any:
    """The engine a session writes to, cheaply: `session.bind` is the sessionmaker's engine (an
    attribute); `get_bind()` resolves it anew (~0.1 ms) and is only the fallback."""
    return session.bind if session.bind is not None else session.get_bind()


def dialect_insert(dialect: str):  # noqa: ANN201
    """The INSERT construct with ON CONFLICT support for this dialect name (PostgreSQL or SQLite)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect == "postgresql" else sqlite.insert
