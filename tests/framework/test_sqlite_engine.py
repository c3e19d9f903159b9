"""The embedded SQLite engine: one connection on the loop thread, checkpoints in a thread of their own."""
from __future__ import annotations

import asyncio
import os

from sqlalchemy import text

from bot.db.engine import make_engine


async def test_wal_is_checkpointed_off_the_loop(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "c.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
            await conn.execute(text("CREATE TABLE t (x TEXT)"))
        size_before = os.path.getsize(path)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "数据" * 200} for _ in range(2000)])
        # The service's connection never checkpoints: the rows sit in the WAL until the
        # checkpointer thread copies them into the database file.
        for _ in range(50):
            if os.path.getsize(path) > size_before + 100_000:
                break
            await asyncio.sleep(0.1)
        assert os.path.getsize(path) > size_before + 100_000
    finally:
        await engine.dispose()


async def test_statements_run_without_a_worker_thread(tmp_path) -> None:  # noqa: ANN001
    import threading

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    try:
        async with engine.connect() as conn:
            seen = []
            raw = (await conn.get_raw_connection()).driver_connection._conn
            raw.create_function("where_am_i", 0, lambda: seen.append(threading.current_thread().name) or 1)
            await conn.execute(text("SELECT where_am_i()"))
        assert seen == [threading.current_thread().name]  # the loop's own thread, no hop
    finally:
        await engine.dispose()


async def test_sqlite_synchronous_follows_the_config(tmp_path) -> None:  # noqa: ANN001
    """`[database] sqlite_synchronous`: NORMAL by default, FULL (every commit synced) when asked."""
    from bot.app import create_app
    from bot.keys import ENGINE
    from tests.support.settings import make_settings

    levels = {}
    for choice in ("normal", "full"):
        settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/{choice}.db", tmp_path,
                                 database={"sqlite_synchronous": choice})
        app = create_app(settings, background=False, scheduler=False)
        async with app[ENGINE].connect() as conn:
            levels[choice] = (await conn.execute(text("PRAGMA synchronous"))).scalar()
        await app[ENGINE].dispose()
    assert levels == {"normal": 1, "full": 2}
