"""Crash safety of the embedded default (SQLite, WAL, synchronous=NORMAL), with real processes.

The service runs as an operator runs it (`python -m bot.processes --workers 1`, its own process
group). Many users send signed messages with unique MsgIds over 16 connections; in the middle of
that load the serving worker is SIGKILLed (the supervisor starts a new one while the load goes on),
then the whole process group is SIGKILLed. Without any repair step:

- the database file passes `PRAGMA integrity_check` and the app's own engine opens it;
- every message that got a 200 with a reply is in `inbound_message`, `done`, with the very reply
  bytes that were sent (a key is the primary key: it cannot be there twice);
- a fresh service on the same file answers a re-send of every acknowledged message with the same
  bytes, adds no row for them (not processed again), and answers a new message normally.

No timing is asserted: the waits are generous so a loaded 2-core machine passes as well.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

import bot.db.models  # noqa: F401
from bot.db.base import Base
from bot.db.engine import make_engine
from bot.db.models.core import InboundMessage
from bot.processes import WORKER_HEADER
from bot.wechat.simulator import WeChatSim
from tests.support.settings import service_config

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "crash-test-token"
CONNECTIONS = 16
USERS = 300
TEXTS = ("你好", "菜单", "帮助", "我想问问", "谢谢")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sent:
    msg_id: int
    openid: str
    body: bytes
    status: int | str
    reply: bytes
    worker: str


@dataclass
class Load:
    """Signed text messages with unique MsgIds from USERS users over CONNECTIONS connections."""

    url: str
    sim: WeChatSim
    ids: itertools.count = field(default_factory=lambda: itertools.count(time.time_ns() // 1000))
    results: list[Sent] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def acked(self, worker: str | None = None) -> list[Sent]:
        return [r for r in self.results if r.status == 200 and r.reply not in (b"", b"success")
                and (worker is None or r.worker == worker)]

    async def connection(self, session: aiohttp.ClientSession, n: int) -> None:
        i = n
        while not self.stop.is_set():
            msg_id, openid = next(self.ids), f"oCrash{(i * 7 + n) % USERS:04d}"
            params, body = self.sim.build(openid, MsgType="text", Content=TEXTS[i % len(TEXTS)], MsgId=msg_id)
            i += CONNECTIONS
            try:
                async with session.post(self.url, params=params, data=body,
                                        headers={"Content-Type": "text/xml"}) as resp:
                    raw = await resp.read()
                    self.results.append(Sent(msg_id, openid, body, resp.status, raw,
                                             resp.headers.get(WORKER_HEADER, "")))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self.results.append(Sent(msg_id, openid, body, type(exc).__name__, b"", ""))
                await asyncio.sleep(0.05)  # the server is down: do not spin

    async def run(self) -> None:
        conn = aiohttp.TCPConnector(limit=CONNECTIONS)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=15)) as session:
            await asyncio.gather(*(self.connection(session, n) for n in range(CONNECTIONS)))


async def wait_for(cond, seconds: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


def start_service(folder: Path, cfg: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.processes", "--config", str(cfg), "--workers", "1",
                             "--log-level", "WARNING"], cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=open(folder / "server.log", "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
                            start_new_session=True)


async def healthy(base: str, proc: subprocess.Popen, seconds: float = 60.0) -> str:
    """Wait until the service answers /healthz; the pid of the worker that answered."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the service exited while starting"
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with s.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        return r.headers[WORKER_HEADER]
            await asyncio.sleep(0.1)
    raise AssertionError("the service did not come up")


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


async def test_sigkill_under_load_loses_no_acknowledged_message(tmp_path) -> None:  # noqa: ANN001
    dbfile = tmp_path / "data" / "unionbot.db"
    url = f"sqlite+aiosqlite:///{dbfile}"
    eng = make_engine(url)
    async with eng.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await eng.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = service_config(tmp_path, port, url, TOKEN)
    sim = WeChatSim(None, token=TOKEN)
    load = Load(f"{base}/wechat", sim)

    proc = start_service(tmp_path, cfg)
    try:
        first = await healthy(base, proc)
        runner = asyncio.create_task(load.run())
        # 1. SIGKILL the serving worker mid-load; the supervisor starts another on the same port.
        await wait_for(lambda: len(load.acked(first)) >= 100 or runner.done(), 60, "replies from the first worker")
        assert not runner.done(), runner
        os.kill(int(first), signal.SIGKILL)
        await wait_for(lambda: any(r.worker not in ("", first) for r in load.results) or runner.done(), 60,
                       "the restarted worker")
        second = next(r.worker for r in load.results if r.worker not in ("", first))
        # 2. ... then SIGKILL the whole process group (supervisor and worker) mid-load.
        await wait_for(lambda: len(load.acked(second)) >= 100 or runner.done(), 60, "replies from the new worker")
        assert not runner.done(), runner
        kill_group(proc)
        load.stop.set()
        await asyncio.wait_for(runner, 30)
    finally:
        load.stop.set()
        kill_group(proc)

    acked = load.acked()
    cut = sum(r.status != 200 for r in load.results)
    print(f"sent {len(load.results)}, acknowledged {len(acked)} (first worker {len(load.acked(first))}, "
          f"restarted worker {len(load.acked(second))}), cut or refused {cut}")
    assert len({r.msg_id for r in load.results}) == len(load.results)  # every MsgId sent once
    assert len(load.acked(first)) >= 100 and len(load.acked(second)) >= 100
    assert any(r.status != 200 for r in load.results), "no request was cut by the kills"

    # No repair step. SQLite (read-only: it replays the WAL as any open does, and leaves the files
    # as the crash left them), then the app's own engine, then a fresh service.
    assert Path(f"{dbfile}-wal").exists()
    with contextlib.closing(sqlite3.connect(f"file:{dbfile}?mode=ro", uri=True)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {k: (st, rep) for k, st, rep in conn.execute("SELECT key, status, reply FROM inbound_message")}
        twice = conn.execute("SELECT count(*) FROM (SELECT key FROM inbound_message GROUP BY key "
                             "HAVING count(*) > 1)").fetchone()[0]
    assert twice == 0
    lost = [r.msg_id for r in acked if f"m:{r.msg_id}" not in stored]
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged messages lost, e.g. {lost[:5]}"
    wrong = [r.msg_id for r in acked if stored[f"m:{r.msg_id}"] != ("done", r.reply)]
    assert not wrong, f"{len(wrong)} acknowledged messages stored otherwise, e.g. {wrong[:5]}"
    eng = make_engine(url)
    try:
        async with eng.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(InboundMessage)) == len(stored)
            # claim and finish commit together: no message is left half done by the crash
            assert not await conn.scalar(select(func.count()).select_from(InboundMessage)
                                         .where(InboundMessage.status == "processing"))
    finally:
        await eng.dispose()

    # A fresh service on the same file: re-sends come from the database, new messages as usual.
    proc = start_service(tmp_path, cfg)
    try:
        await healthy(base, proc)
        async with aiohttp.ClientSession(base_url=base) as http:
            async def resend(r: Sent) -> bytes:
                async with http.post("/wechat", params={**sim.signed_params(), "openid": r.openid},
                                     data=r.body, headers={"Content-Type": "text/xml"}) as resp:
                    assert resp.status == 200
                    return await resp.read()

            again: list[bytes] = []
            for i in range(0, len(acked), 64):
                again += await asyncio.gather(*(resend(r) for r in acked[i:i + 64]))
            differ = [r.msg_id for r, a in zip(acked, again, strict=True) if a != r.reply]
            assert not differ, f"{len(differ)} re-sends got another reply (processed again?), e.g. {differ[:5]}"
            assert await WeChatSim(http, token=TOKEN).user("oCrashNewcomer").send("帮助")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(45)
        except subprocess.TimeoutExpired:
            kill_group(proc)
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-2000:]
    assert "Traceback" not in log, log[-3000:]
    with contextlib.closing(sqlite3.connect(dbfile)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        after = conn.execute("SELECT count(*) FROM inbound_message").fetchone()[0]
    assert after == len(stored) + 1  # the re-sends added nothing; the new message one row
    print(f"stored after the crash {len(stored)}, re-sent {len(acked)}, rows after the fresh service {after}")
