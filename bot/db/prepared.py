"""A feature's statements built once, run in the message's transaction the fastest way it allows.

Building a SQLAlchemy statement per call cost more than running it, and SQLAlchemy's execution
layer ~100 µs a statement on SQLite against ~5 µs for sqlite3 itself (`python -m
bench.cpu_breakdown --text 我想问问`). So the statements that run for a large share of messages
(a worker's follow-up in the inbox, …) are Core statements built once at import with bind
parameters, and run here:

- inside the message writer (a handler), through the batch's `Rows` (bot/db/hotpath.py): on
  SQLite compiled once and run on the sqlite3 connection of the batch's transaction, on PostgreSQL
  through SQLAlchemy — in the handler's own savepoint either way;
- anywhere else (jobs, the admin), through the session's connection.

Rows come back as tuples in the order of the statement's columns (index them, no attribute
names: the two ways return different row types). Like `session.connection().execute`, nothing
here flushes the ORM session first. Timestamps bound here should be typed
(`bindparam("now", type_=Table.c.col.type)`): an untyped parameter would be stored unconverted.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import session_engine

ROWS = "unionbot_batch_rows"  # session.info key: the writer's Rows for the batch the session belongs to


def dialect(session: AsyncSession) -> str:
    """The session's database ("sqlite", "postgresql"), for statements built per dialect."""
    rows = session.info.get(ROWS)
    if rows is not None:
        return rows.dialect
    return session_engine(session).dialect.name


async def fetch(session: AsyncSession, stmt: Any, params: dict[str, Any]) -> list[Sequence[Any]]:
    """The rows of a SELECT, or of an INSERT/UPDATE … RETURNING."""
    rows = session.info.get(ROWS)
    if rows is not None:
        return await rows.prepared_fetch(stmt, params)
    return list((await (await session.connection()).execute(stmt, params)).all())


async def first(session: AsyncSession, stmt: Any, params: dict[str, Any]) -> Sequence[Any] | None:
    """The first row, or None."""
    found = await fetch(session, stmt, params)
    return found[0] if found else None


async def run(session: AsyncSession, stmt: Any, params: dict[str, Any]) -> int:
    """Execute once; the number of rows matched."""
    rows = session.info.get(ROWS)
    if rows is not None:
        return await rows.prepared_run(stmt, params)
    return (await (await session.connection()).execute(stmt, params)).rowcount


__all__ = ["ROWS", "dialect", "fetch", "first", "run"]
