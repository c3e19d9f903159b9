"""A re-send reaching a second OS process while the first is still processing the message.

WeChat retries a message it got no answer for within 5 seconds, and behind a load balancer (or
`serve --workers N`) the retry may reach another process. That process shares nothing with the
first but the database: the dedup claim there must make it wait for the first and answer with the
stored reply (docs/batch-semantics.md, "Once"), never run the handler a second time.

The second process is real: this module started as a script (`python -m
tests.framework.test_second_process CONFIG`) serves the same app on a free port, with the
test's clock, and prints a line when a message enters its processor. On PostgreSQL its claim
waits on the unique index; on SQLite on the database's write lock (busy timeout 5 s).
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, text

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.db.models import InboundMessage, Sequence
from bot.wechat.simulator import WeChatSim
from tests.support.settings import make_settings

ROOT = Path(__file__).resolve().parents[2]
# As long as the settings allow, so that the first process's held handler does not turn into a late
# reply on a slow machine (the test holds it for well under a second once the second process waits).
REPLY_TIMEOUT = 4.8

router = Router("second_process")
# In the test process: the first process's handler waits here until the test lets it finish.
# In the second process (the script below) it stays None: that handler never waits.
GATE: asyncio.Event | None = None
STARTED: asyncio.Event | None = None


@router.on(text_is("记一笔"))
async def record_once(ctx: Ctx) -> str:
    seq = await ctx.session.get(Sequence, "second")
    if seq is None:
        seq = Sequence(name="second", value=0)
        ctx.session.add(seq)
    seq.value += 1
    await ctx.session.flush()
    if GATE is not None and STARTED is not None:
        STARTED.set()
        await GATE.wait()
    return f"已记录，第 {seq.value} 笔"


def settings_for(db_url: str, tmp_path: Path):  # noqa: ANN201
    return make_settings(db_url, tmp_path, server={"reply_timeout": REPLY_TIMEOUT})


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001
    return settings_for(db_url, tmp_path)


class SecondProcess:
    """The service in another OS process, on the same database, with the test's clock."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            await self.lines.put(line.decode().strip())

    async def received(self, key: str, timeout: float = 20.0) -> None:
        """Wait until `key` has entered the second process's message processor."""
        deadline = time.monotonic() + timeout
        while True:
            line = await asyncio.wait_for(self.lines.get(), max(0.1, deadline - time.monotonic()))
            if line == f"RECEIVED {key}":
                return

    async def post(self, path: str, request: tuple[dict[str, str], bytes]) -> str:
        params, body = request
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{self.port}{path}", params=params, data=body,
                                 headers={"Content-Type": "text/xml"}) as resp:
                raw = await resp.read()
                assert resp.status == 200, raw[:200]
                return raw.decode("utf-8")

    async def stop(self) -> str:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode(errors="replace")


async def start_second_process(db_url: str, tmp_path: Path, clock) -> SecondProcess:  # noqa: ANN001
    config = {"db_url": db_url, "tmp": str(tmp_path), "now": clock.now().isoformat()}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.framework.test_second_process", json.dumps(config), cwd=str(tmp_path),
        env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    if not line.startswith("PORT "):
        proc.kill()
        err = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
        raise AssertionError(f"the second process did not start: {line!r}\n{err[-3000:]}")
    return SecondProcess(proc, int(line.split()[1]))


async def lock_waiters(engine) -> int:  # noqa: ANN001
    """PostgreSQL: sessions of this database waiting on a lock to insert a dedup record."""
    async with engine.connect() as conn:
        return await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query ILIKE '%inbound_message%'"))


async def test_a_resend_to_a_second_process_while_the_first_is_still_processing(
        make_app, engine, aiohttp_client, settings, clock, db_url, tmp_path, backend) -> None:  # noqa: ANN001
    global GATE, STARTED
    first_app = make_app(extra_routers=[router])
    client = await aiohttp_client(first_app)
    sim = WeChatSim(client, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock)
    second = await start_second_process(db_url, tmp_path, clock)
    gate = GATE = asyncio.Event()
    STARTED = asyncio.Event()
    try:
        request = sim.build("oTwoProcs", MsgType="text", Content="记一笔", MsgId=uuid.uuid4().int % 10**15)
        key = "m:" + request[1].decode().split("<MsgId>")[1].split("</MsgId>")[0]

        async def to_first() -> str:
            resp = await sim.post_raw(request[1], request[0], sign=False)
            assert resp.status == 200
            return (await resp.read()).decode("utf-8")

        first = asyncio.create_task(to_first())
        await asyncio.wait_for(STARTED.wait(), 10)  # the first process is inside the handler
        retry = asyncio.create_task(second.post(settings.server.webhook_path, request))
        await second.received(key)
        # Let the second process reach its claim. PostgreSQL shows it waiting on our insert.
        await asyncio.sleep(0.3)
        if backend == "postgresql":
            for _ in range(20):
                if await lock_waiters(engine):
                    break
                await asyncio.sleep(0.05)
        assert not retry.done()  # the second process waits for the first; it does not answer alone
        gate.set()
        answer = await first
        assert "已记录，第 1 笔" in answer
        assert await retry == answer  # the very bytes of the first reply

        # After the first finished: retries on either process get the stored reply.
        assert await second.post(settings.server.webhook_path, request) == answer
        assert await to_first() == answer
    finally:
        gate.set()  # never leave the first process's handler waiting (its shutdown drains it)
        GATE = STARTED = None
        err = await second.stop()
    assert "Traceback" not in err, err[-3000:]
    async with engine.connect() as conn:
        assert await conn.scalar(select(Sequence.value).where(Sequence.name == "second")) == 1  # ran once
        assert (await conn.execute(select(InboundMessage.status).where(InboundMessage.key == key))).all() == [
            ("done",)]


# --------------------------------------------------------------------------- the second process

async def _serve(config: dict) -> None:
    from datetime import datetime

    from aiohttp import web

    from bot.app import create_app
    from bot.clock import FakeClock
    from bot.keys import PROCESSOR
    from tests.support.db import make_test_engine

    clock = FakeClock(datetime.fromisoformat(config["now"]))
    settings = settings_for(config["db_url"], Path(config["tmp"]))
    app = create_app(settings, clock=clock, engine=make_test_engine(config["db_url"]), background=False,
                     extra_routers=[router])
    processor = app[PROCESSOR]
    handle = processor.handle

    async def announced(msg):  # noqa: ANN001, ANN202
        print(f"RECEIVED {msg.dedup_key}", flush=True)
        return await handle(msg)

    processor.handle = announced  # the webhook looks the method up on every message
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the test closes our stdin
    await runner.cleanup()


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_serve(json.loads(sys.argv[1])))
