"""`serve --workers 2` on PostgreSQL, as an operator runs it: two processes on one port sharing the
database, one scheduler between them, a killed worker restarted by the supervisor."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

import bot.db.models  # noqa: F401
from bot.config import ConfigError, build_settings
from bot.db.base import Base
from bot.db.models import InboundMessage, Member
from scheduler.leader import advisory_key
from bot.processes import WORKER_HEADER, check_workers
from tests.support.db import PG_URL
from tests.support.settings import service_config
from bot.wechat.simulator import WeChatSim

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "workers-test-token"


def test_sqlite_refuses_more_than_one_worker() -> None:
    settings = build_settings({"database": {"url": "sqlite+aiosqlite:///x.db"}}, env={})
    with pytest.raises(ConfigError, match="needs PostgreSQL"):
        check_workers(settings, 2)
    check_workers(settings, 1)
    out = subprocess.run([sys.executable, "-m", "bot.processes", "--workers", "3"], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "UNIONBOT_DATABASE_URL": "sqlite+aiosqlite:///x.db"},
                         timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "needs PostgreSQL" in out.stderr


@pytest.fixture
async def pg_db():  # noqa: ANN201
    if not PG_URL:
        pytest.skip("UNIONBOT_TEST_DATABASE_URL is not set")
    base = make_url(PG_URL)
    name = "unionbot_w_" + uuid.uuid4().hex[:8]
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    eng = create_async_engine(url)
    async with eng.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield url, eng
    await eng.dispose()
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_until(cond, seconds: float = 30.0) -> bool:  # noqa: ANN001
    for _ in range(int(seconds / 0.1)):
        if await cond():
            return True
        await asyncio.sleep(0.1)
    return await cond()


async def worker_pids(base: str, tries: int = 30) -> set[str]:
    """Ask /healthz over fresh connections; SO_REUSEPORT spreads them over the workers."""
    pids = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        for _ in range(tries):
            try:
                async with s.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        pids.add(r.headers[WORKER_HEADER])
            except aiohttp.ClientError:
                pass
    return pids


async def scheduler_locks(eng) -> int:  # noqa: ANN001
    key = advisory_key("scheduler")
    async with eng.connect() as conn:
        return await conn.scalar(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo "
            "AND a.datname = current_database()"), {"hi": key >> 32, "lo": key & 0xFFFFFFFF})


async def test_two_workers_share_one_port_one_database_one_scheduler(pg_db, tmp_path) -> None:  # noqa: ANN001
    url, eng = pg_db
    port = free_port()
    cfg = service_config(tmp_path, port, url, TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "bot.processes", "--config", str(cfg), "--workers", "2",
                             "--log-level", "WARNING"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        assert await wait_until(lambda: _both_up(base)), "two workers did not come up"
        pids_before = await worker_pids(base)
        assert len(pids_before) == 2

        async with aiohttp.ClientSession(base_url=base, connector=aiohttp.TCPConnector(force_close=True)) as http:
            seen: set[str] = set()
            orig_post = http.post

            def post(*a, **kw):  # noqa: ANN002, ANN003, ANN202
                return _Tracked(orig_post(*a, **kw), seen)

            http.post = post  # type: ignore[method-assign]
            user = WeChatSim(http, token=TOKEN).user("oWorkers1")
            for i in range(12):  # one user's messages, each on a fresh connection
                reply = await user.send("菜单" if i % 2 else "帮助")
                assert reply, f"message {i} got no reply"
            assert seen == pids_before, "both workers should have answered this user"
            # four messages of one user at once, over both workers: all handled, one at a time
            other = WeChatSim(http, token=TOKEN).user("oWorkers2")
            replies = await asyncio.gather(*(other.send("帮助") for _ in range(4)))
            assert all(replies)

        async with eng.connect() as conn:
            done = await conn.scalar(select(func.count()).select_from(InboundMessage)
                                     .where(InboundMessage.status == "done"))
            members = await conn.scalar(select(func.count()).select_from(Member))
        assert done == 16 and members == 2
        assert await scheduler_locks(eng) == 1  # exactly one scheduler between the two workers

        # A worker dies hard: the supervisor starts a new one on the same port.
        victim = sorted(pids_before)[0]
        os.kill(int(victim), signal.SIGKILL)

        async def replaced() -> bool:
            pids = await worker_pids(base, 20)
            return len(pids) == 2 and victim not in pids

        assert await wait_until(replaced), "the killed worker was not replaced"
        assert await wait_until(lambda: _eq(scheduler_locks(eng), 1), 20)  # still exactly one scheduler
        async with aiohttp.ClientSession(base_url=base) as http:
            assert await WeChatSim(http, token=TOKEN).user("oWorkers1").send("帮助")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out = proc.communicate(timeout=45)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode()
    assert proc.returncode == 0, out[-2000:]
    assert "Traceback" not in out.split("exited with")[-1], out[-2000:]


async def _eq(coro, value) -> bool:  # noqa: ANN001
    return (await coro) == value


async def _both_up(base: str) -> bool:
    return len(await worker_pids(base, 10)) == 2


class _Tracked:
    """Wraps a request context manager and records which worker answered."""

    def __init__(self, cm, seen: set[str]) -> None:  # noqa: ANN001
        self.cm, self.seen = cm, seen

    def __await__(self):  # noqa: ANN204
        resp = yield from self.cm.__await__()
        self.seen.add(resp.headers.get(WORKER_HEADER, "?"))
        return resp
