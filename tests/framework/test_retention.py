"""Bounded disk: pruning jobs keep what is recent or still needs staff, and SQLite's WAL is
truncated (scheduler/retention.py)."""
from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from bot.admin.throttle import LoginThrottle
from bot.config import ConfigError
from bot.db.engine import JOURNAL_SIZE_LIMIT
from bot.db.models.core import InboundMessage, Outbox, Staff, StaffSession
from bot.jobs import JobContext
from scheduler.retention import checkpoint_wal, prune_inbound, prune_logins, prune_outbox, wal_path
from scheduler.setup import all_jobs
from tests.support.settings import make_settings


@pytest.fixture
def ctx(db_url, tmp_path, sessionmaker, clock) -> JobContext:  # noqa: ANN001
    settings = make_settings(db_url, tmp_path, retention={"batch_size": 10},
                             admin={"session_idle_minutes": 30, "session_max_age": 8 * 3600})
    return JobContext(settings=settings, sessionmaker=sessionmaker, clock=clock)


async def count(sessionmaker, model, *where) -> int:  # noqa: ANN001
    async with sessionmaker() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


def test_jobs_are_declared_and_retention_is_configurable(db_url, tmp_path) -> None:  # noqa: ANN001
    ids = {j.id for j in all_jobs([])}
    assert {"core.prune_inbound", "core.prune_outbox", "core.prune_logins", "core.checkpoint_wal"} <= ids
    assert make_settings(db_url, tmp_path, retention={"inbound_days": 3}).retention.inbound_days == 3
    with pytest.raises(ConfigError):  # quiz periods know whom they notified from outbox rows
        make_settings(db_url, tmp_path, retention={"outbox_days": 30})


async def test_inbound_records_pruned_in_batches_after_retention(ctx, sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        s.add_all([InboundMessage(key=f"old{i}", openid="o", kind="text", received_at=now - timedelta(days=8),
                                  status="done") for i in range(25)])
        s.add_all([InboundMessage(key=f"new{i}", openid="o", kind="text", received_at=now - timedelta(days=6),
                                  status="done") for i in range(3)])
    assert await prune_inbound(ctx) == 25  # three batches of at most 10
    assert await count(sessionmaker, InboundMessage) == 3
    ctx.settings.retention.inbound_days = 5
    assert await prune_inbound(ctx) == 3


async def test_outbox_keeps_recent_pending_and_unfollowed_needs_phone(ctx, sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    old, recent = now - timedelta(days=401), now - timedelta(days=100)
    rows = {  # key: (status, created_at, followed_up_at, pruned?)
        "sent-old": ("sent", old, None, True), "sim-old": ("simulated", old, None, True),
        "cancel-old": ("cancelled", old, None, True), "sent-recent": ("sent", recent, None, False),
        "pending-old": ("pending", old, None, False), "sending-old": ("sending", old, None, False),
        "failed-old": ("failed", old, None, False), "unreach-old": ("unreachable", old, None, False),
        "uncertain-old": ("uncertain", old, None, False),
        "failed-followed-old": ("failed", old, old, True),
        "failed-followed-recent": ("failed", old, recent, False),
    }
    async with sessionmaker() as s, s.begin():
        s.add_all([Outbox(key=k, openid="o", kind="text", purpose="t", payload={"text": k}, status=st, attempts=1,
                          next_attempt_at=at, created_at=at, followed_up_at=fu)
                   for k, (st, at, fu, _gone) in rows.items()])
        s.add_all([Outbox(key=f"bulk{i}", openid="o", kind="text", purpose="t", payload={}, status="sent",
                          attempts=1, next_attempt_at=old, created_at=old) for i in range(23)])
    assert await prune_outbox(ctx) == 23 + sum(1 for r in rows.values() if r[3])
    async with sessionmaker() as s:
        left = set(await s.scalars(select(Outbox.key)))
    assert left == {k for k, r in rows.items() if not r[3]}


async def test_login_throttle_and_ended_staff_sessions_pruned(ctx, sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    async with sessionmaker() as s, s.begin():
        staff = Staff(username="a", password_hash="x", created_at=now - timedelta(days=400), roles=["admin"])
        s.add(staff)
        await s.flush()

        def sess(sid: str, created, last, revoked=None) -> StaffSession:  # noqa: ANN001
            return StaffSession(id=sid, staff_id=staff.id, created_at=created, last_seen=last, revoked_at=revoked,
                                revoked_reason="logout" if revoked else "")

        s.add_all([
            sess("revoked-old", now - timedelta(days=40), now - timedelta(days=31), now - timedelta(days=31)),
            sess("revoked-recent", now - timedelta(days=3), now - timedelta(days=3), now - timedelta(days=2)),
            sess("idle-old", now - timedelta(days=35), now - timedelta(days=35)),
            sess("live", now - timedelta(hours=1), now - timedelta(minutes=5)),
            *[sess(f"bulk{i}", now - timedelta(days=60), now - timedelta(days=60), now - timedelta(days=60))
              for i in range(12)],
        ])
        s.add_all([
            LoginThrottle(key="addr:1.2.3.4", window_start=now - timedelta(days=2), failures=3),
            LoginThrottle(key="addr:5.6.7.8", window_start=now - timedelta(minutes=1), failures=3),
            LoginThrottle(key="user:x|1.2.3.4", window_start=now - timedelta(hours=2), failures=9,
                          blocked_until=now + timedelta(minutes=5)),
        ])
    assert await prune_logins(ctx) == {"login_throttle": 1, "staff_session": 14}
    async with sessionmaker() as s:
        assert set(await s.scalars(select(StaffSession.id))) == {"revoked-recent", "live"}
        assert set(await s.scalars(select(LoginThrottle.key))) == {"addr:5.6.7.8", "user:x|1.2.3.4"}


async def test_checkpoint_job_is_a_no_op_on_postgresql(ctx, backend) -> None:  # noqa: ANN001
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    assert await checkpoint_wal(ctx) == "not a SQLite file"


async def _write_rows(sessionmaker, start: int, n: int, per_txn: int = 100) -> None:  # noqa: ANN001
    for base in range(start, start + n, per_txn):
        async with sessionmaker() as s, s.begin():
            await s.execute(text("INSERT INTO inbound_message (key, openid, kind, received_at, status, reply) "
                                 "VALUES (:k, 'o', 'text', '2026-11-24 00:00:00', 'done', randomblob(300))"),
                            [{"k": f"w{i}"} for i in range(base, min(base + per_txn, start + n))])


async def test_sqlite_wal_truncated_by_the_job(ctx, backend, engine, sessionmaker) -> None:  # noqa: ANN001
    if backend != "sqlite":
        pytest.skip("SQLite only")
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_size_limit")).scalar() == JOURNAL_SIZE_LIMIT
        assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    wal = wal_path(engine)
    await _write_rows(sessionmaker, 0, 5000)
    before = os.path.getsize(wal)
    assert before > 1_000_000
    assert (await checkpoint_wal(ctx)).startswith(f"WAL {before} -> 0 bytes (TRUNCATE), writer held ")
    assert os.path.getsize(wal) == 0
    assert await checkpoint_wal(ctx) == "WAL empty"
    assert await count(sessionmaker, InboundMessage) == 5000  # nothing lost, the database still writes
    await _write_rows(sessionmaker, 5000, 100)
    assert await count(sessionmaker, InboundMessage) == 5100


async def test_sqlite_wal_truncated_while_the_writer_keeps_writing(ctx, backend, engine, sessionmaker) -> None:  # noqa: ANN001
    """The PASSIVE checkpoints alone never rewind a log that is written to without pause; the job
    does (RESTART: the writer goes on from the start of the file, which stops growing)."""
    if backend != "sqlite":
        pytest.skip("SQLite only")
    wal = wal_path(engine)
    stop = asyncio.Event()
    written = 0

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            await _write_rows(sessionmaker, 100_000 + written, 20, per_txn=20)
            written += 20
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    try:
        while os.path.getsize(wal) < 2_000_000:
            await asyncio.sleep(0.01)
        before = os.path.getsize(wal)
        result = await checkpoint_wal(ctx)
        assert "bytes (RESTART), writer held" in result and "busy" not in result, result
        restarted = os.path.getsize(wal)
        grown_at = written
        while written < grown_at + 200:  # the writer goes on, from the start of the log
            await asyncio.sleep(0.01)
        assert os.path.getsize(wal) == restarted  # written over from the start, not appended
    finally:
        stop.set()
        await task
    assert await count(sessionmaker, InboundMessage) == written


async def test_the_service_runs_the_wal_job_on_its_own_connection(sim, app, backend) -> None:  # noqa: ANN001
    from bot.keys import JOBS
    from scheduler.setup import find_job, job_context, run_job

    await sim.user("oWal").send("菜单")
    result = await run_job(find_job(app[JOBS], "checkpoint_wal"), job_context(app))
    if backend == "sqlite":
        assert " -> 0 bytes (TRUNCATE), writer held " in result and "busy" not in result
        assert await sim.user("oWal").send("菜单")  # the writer goes on
    else:
        assert result == "not a SQLite file"
