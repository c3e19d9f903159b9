"""Exactly one scheduler: two contenders on one database, one leader; when it goes, the other takes over."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import text

from bot.db.engine import make_sessionmaker
from scheduler.leader import Leadership, advisory_key
from tests.support.db import make_test_engine

INTERVAL = 0.1


async def until(cond: Callable[[], bool], seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if cond():
            return True
        await asyncio.sleep(0.02)
    return cond()


class Contender:
    """One process's campaign: its own engine (connection pool), like a separate worker."""

    def __init__(self, db_url: str, clock, name: str) -> None:  # noqa: ANN001
        self.engine = make_test_engine(db_url)
        self.leadership = Leadership(self.engine, make_sessionmaker(self.engine), clock, name=name, interval=INTERVAL)
        self.events: list[str] = []
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.leadership.run(
            lambda: self.events.append("elected"), self._deposed, self.stop))

    async def _deposed(self) -> None:
        self.events.append("deposed")

    @property
    def leader(self) -> bool:
        return self.leadership.is_leader

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.engine.dispose()


@pytest.fixture
async def pair(db_url, engine, clock):  # noqa: ANN001
    name = f"test-{uuid.uuid4().hex[:8]}"  # apart from other test runs sharing the PostgreSQL server
    a = Contender(db_url, clock, name)
    await until(lambda: a.leader)
    b = Contender(db_url, clock, name)
    yield a, b
    await a.close()
    await b.close()


async def test_exactly_one_leader(pair) -> None:  # noqa: ANN001
    a, b = pair
    assert a.leader
    await asyncio.sleep(INTERVAL * 5)  # b campaigns several times meanwhile
    assert a.leader and not b.leader
    assert a.events == ["elected"] and b.events == []


async def test_clean_stop_hands_over(pair) -> None:  # noqa: ANN001
    a, b = pair
    a.stop.set()
    await a.task
    assert a.events == ["elected", "deposed"]
    assert await until(lambda: b.leader, INTERVAL * 20)
    assert b.events == ["elected"]


async def test_dead_leader_is_replaced(pair, backend, engine, clock) -> None:  # noqa: ANN001
    a, b = pair
    if backend == "postgresql":
        # The leader's process dies: the server sees its connection close (here: terminated).
        key = advisory_key(a.leadership.name)
        async with engine.connect() as conn:
            pids = (await conn.scalars(text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = :hi AND objid = :lo"), {"hi": key >> 32, "lo": key & 0xFFFFFFFF})).all()
            assert len(pids) == 1
            await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
        assert await until(lambda: b.leader, INTERVAL * 20)
        assert await until(lambda: not a.leader, INTERVAL * 20)  # the old leader notices and steps down
        assert a.events == ["elected", "deposed"]
    else:
        # The leader's process dies without releasing its lease: the lease has to run out.
        a.task.cancel()
        await asyncio.gather(a.task, return_exceptions=True)
        await asyncio.sleep(INTERVAL * 3)
        assert not b.leader  # the lease is still valid
        clock.advance(seconds=INTERVAL * 3 + 1)
        assert await until(lambda: b.leader, INTERVAL * 20)
    assert b.events == ["elected"]
