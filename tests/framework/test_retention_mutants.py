"""Sharper tests for scheduler/retention.py (mutation group `privacy`): exactly what each prune
keeps at its cut-off, that it deletes in batches, and how the WAL job answers when it cannot
truncate or there is nothing to do."""
from __future__ import annotations

import re
import sqlite3
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot.db.models.core import InboundMessage, Outbox, Staff, StaffSession
from bot.jobs import JobContext
from scheduler import retention
from scheduler.retention import checkpoint_wal, prune_inbound, prune_logins, prune_outbox, wal_path
from tests.framework.test_retention import _write_rows, count, ctx  # noqa: F401  (ctx: the fixture)

BUSY = " (busy: another connection is using the database; next run)"
RESULT = re.compile(r"^WAL (\d+) -> (\d+) bytes \((?:TRUNCATE|RESTART)\), writer held (\d+) ms(.*)$")


def _inbound(key: str, at) -> InboundMessage:  # noqa: ANN001
    return InboundMessage(key=key, openid="o", kind="text", received_at=at, status="done")


async def test_nothing_to_prune_is_zero(ctx) -> None:  # noqa: ANN001
    assert await prune_inbound(ctx) == 0
    assert await prune_outbox(ctx) == 0
    assert await prune_logins(ctx) == {"login_throttle": 0, "staff_session": 0}


async def test_each_batch_deletes_at_most_batch_size_rows(ctx, engine, sessionmaker, clock) -> None:  # noqa: ANN001
    old = clock.now() - timedelta(days=30)
    async with sessionmaker() as s, s.begin():
        s.add_all([_inbound(f"k{i}", old) for i in range(45)])
    deleted: list[int] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("DELETE FROM INBOUND_MESSAGE"):
            deleted.append(cursor.rowcount)

    event.listen(engine.sync_engine, "after_cursor_execute", seen)
    try:
        started = time.monotonic()
        assert await prune_inbound(ctx) == 45
        took = time.monotonic() - started
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", seen)
    assert deleted == [10, 10, 10, 10, 5]  # batch_size 10, one statement (and transaction) each
    assert took < 2.0  # between batches the writer gets a turn, no pause


async def test_inbound_records_exactly_at_the_cutoff_stay(ctx, sessionmaker, clock) -> None:  # noqa: ANN001
    days = ctx.settings.retention.inbound_days
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        s.add_all([_inbound("at", now - timedelta(days=days)),
                   _inbound("older", now - timedelta(days=days, microseconds=1))])
    assert await prune_inbound(ctx) == 1
    async with sessionmaker() as s:
        assert list(await s.scalars(select(InboundMessage.key))) == ["at"]


async def test_outbox_cutoffs_and_pending_rows_always_stay(ctx, sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    cutoff = now - timedelta(days=ctx.settings.retention.outbox_days)
    old = cutoff - timedelta(days=1)
    rows = {  # key: (status, created_at, followed_up_at, pruned?)
        "sent-at-cutoff": ("sent", cutoff, None, False),
        "sent-just-older": ("sent", cutoff - timedelta(seconds=1), None, True),
        "failed-followed-at-cutoff": ("failed", old, cutoff, False),
        "failed-followed-just-before": ("failed", old, cutoff - timedelta(seconds=1), True),
        "pending-followed-old": ("pending", old, old, False),  # sent again after a follow-up: never pruned
        "sending-followed-old": ("sending", old, old, False),
    }
    async with sessionmaker() as s, s.begin():
        s.add_all([Outbox(key=k, openid="o", kind="text", purpose="t", payload={"text": k}, status=st, attempts=1,
                          next_attempt_at=at, created_at=at, followed_up_at=fu)
                   for k, (st, at, fu, _gone) in rows.items()])
    assert await prune_outbox(ctx) == sum(1 for r in rows.values() if r[3])
    async with sessionmaker() as s:
        left = set(await s.scalars(select(Outbox.key)))
    assert left == {k for k, r in rows.items() if not r[3]}


async def test_each_way_a_staff_login_ends_is_pruned_after_the_keep_period(ctx, sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    keep = timedelta(days=ctx.settings.retention.staff_session_days)
    idle, max_age = timedelta(minutes=30), timedelta(hours=8)  # the ctx fixture's [admin] settings
    end = now - keep  # anything that ended before this goes
    m = timedelta(minutes=1)
    rows = {  # id: (created_at, last_seen, revoked_at, pruned?)
        "logged-out-just-over": (end - 60 * m, end - m, end - m, True),
        "logged-out-at-cutoff": (end - 60 * m, end, end, False),
        "idle-just-over": (end - 60 * m, end - idle - m, None, True),
        "idle-at-cutoff": (end - 60 * m, end - idle, None, False),
        "lifetime-just-over": (end - max_age - m, end - 2 * m, None, True),  # busy to the end of its 8 hours
        "lifetime-at-cutoff": (end - max_age, end - 2 * m, None, False),
        "ended-less-than-keep-ago": (end - 60 * m, end - 10 * m, None, False),  # went idle 20 min later
        "live": (now - 60 * m, now - m, None, False),
    }
    async with sessionmaker() as s, s.begin():
        staff = Staff(username="a", password_hash="x", created_at=now - timedelta(days=400), roles=["admin"])
        s.add(staff)
        await s.flush()
        s.add_all([StaffSession(id=sid, staff_id=staff.id, created_at=c, last_seen=seen, revoked_at=r,
                                revoked_reason="logout" if r else "")
                   for sid, (c, seen, r, _gone) in rows.items()])
    assert await prune_logins(ctx) == {"login_throttle": 0,
                                       "staff_session": sum(1 for r in rows.values() if r[3])}
    async with sessionmaker() as s:
        left = set(await s.scalars(select(StaffSession.id)))
    assert left == {k for k, r in rows.items() if not r[3]}


# --- the WAL job ----------------------------------------------------------------------------------

async def test_the_wal_job_on_what_is_not_a_sqlite_file(ctx, tmp_path) -> None:  # noqa: ANN001
    for url in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"):
        memory = create_async_engine(url)
        try:
            assert wal_path(memory) is None
            job = JobContext(settings=ctx.settings, sessionmaker=async_sessionmaker(memory), clock=ctx.clock)
            assert await checkpoint_wal(job) == "not a SQLite file"
        finally:
            await memory.dispose()
    unbound = JobContext(settings=ctx.settings, sessionmaker=async_sessionmaker(), clock=ctx.clock)
    assert await checkpoint_wal(unbound) == "not a SQLite file"
    never_opened = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/never.db")
    try:
        assert wal_path(never_opened) == f"{tmp_path}/never.db-wal"
        job = JobContext(settings=ctx.settings, sessionmaker=async_sessionmaker(never_opened), clock=ctx.clock)
        assert await checkpoint_wal(job) == "WAL empty"  # no -wal file at all
    finally:
        await never_opened.dispose()


async def test_a_reader_that_stays_makes_the_job_give_up_quickly(ctx, backend, engine, sessionmaker) -> None:  # noqa: ANN001
    if backend != "sqlite":
        pytest.skip("SQLite only")
    await _write_rows(sessionmaker, 0, 300)
    reader = sqlite3.connect(engine.url.database)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM inbound_message").fetchone()  # holds its snapshot
        await _write_rows(sessionmaker, 300, 300)
        started = time.monotonic()
        result = await checkpoint_wal(ctx)
        took = time.monotonic() - started
    finally:
        reader.close()
    m = RESULT.match(result)
    assert m and m.group(4) == BUSY, result
    assert int(m.group(2)) > 0  # not truncated: the next run does it
    assert 250 <= int(m.group(3)) < 1000  # three short tries of ~0.1 s, the writer held for them only
    assert took < 1.0
    assert (await checkpoint_wal(ctx)).startswith(f"WAL {m.group(2)} -> 0 bytes (TRUNCATE), writer held ")


async def _with_busy_tries(monkeypatch, ctx, busy: int) -> tuple[str, int]:  # noqa: ANN001
    """The job, when its first `busy` truncating tries find the database busy (the service's own
    Checkpointer thread mid-pass); the tries after that are real."""
    real, calls = retention._checkpoint, []

    def flaky(db: str, mode: str):  # noqa: ANN202
        calls.append(mode)
        if mode != "PASSIVE" and len(calls) - calls.count("PASSIVE") <= busy:  # the passes before are real
            time.sleep(0.01)
            return (1, -1, -1)
        return real(db, mode)

    monkeypatch.setattr(retention, "_checkpoint", flaky)
    return await checkpoint_wal(ctx), len(calls) - calls.count("PASSIVE")


async def test_the_job_tries_three_times_when_busy(ctx, backend, sessionmaker, monkeypatch) -> None:  # noqa: ANN001
    if backend != "sqlite":
        pytest.skip("SQLite only")
    await _write_rows(sessionmaker, 0, 300)
    result, tries = await _with_busy_tries(monkeypatch, ctx, busy=2)
    assert RESULT.match(result).group(2, 4) == ("0", "") and tries == 3, result  # nothing after "… ms"
    await _write_rows(sessionmaker, 300, 300)
    result, tries = await _with_busy_tries(monkeypatch, ctx, busy=3)
    assert result.endswith(BUSY) and tries == 3, result
