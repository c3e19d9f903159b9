"""Outbox fan-out: 10,000 queued messages to the fake WeChat API (50 ms per call, separate process).

Achieved rate against the ideal concurrency ÷ latency (target >= 80%). For scale, the same run
also drives the fake server with a bare aiohttp client (same concurrency, no database): what
this machine allows at that latency, so the delivery loop's own overhead shows apart from the
machine's load.

    python -m bench fanout [--rows 10000] [--concurrency 16] [--latency 0.05] [--pg]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

from bench.common import PY, create_schema, fake_stats, free_port, pg_database, process, seed_outbox, tempdir


async def seed_and_deliver(db: str, fake_url: str, rows: int, concurrency: int) -> tuple[float, dict]:
    from sqlalchemy import func, select

    import bot.db.models  # noqa: F401
    from bot.clock import Clock
    from bot.config import build_settings
    from bot.db.engine import make_engine, make_sessionmaker
    from bot.db.models import Outbox
    from bot.delivery import Delivery
    from bot.wechat.api import WeChatAPI

    settings = build_settings({
        "wechat": {"app_id": "wxfake", "app_secret": "fake-secret", "api_base_url": fake_url},
        "database": {"url": db}, "admin": {"secret_key": "bench-secret-key-0123456789abcdef"},
        "outbox": {"concurrency": concurrency},
    }, env={})
    clock = Clock()
    engine = make_engine(db)
    sm = make_sessionmaker(engine)
    now = clock.now()
    async with sm() as s, s.begin():  # one message per user: every send is inside the user's 48-hour window
        await seed_outbox(s, "fan", rows, now)
    api = WeChatAPI(settings.wechat, sm, clock)
    delivery = Delivery(settings, sm, clock, api)
    stop = asyncio.Event()
    t0 = time.perf_counter()
    task = asyncio.create_task(delivery.run_forever(stop))
    while True:
        await asyncio.sleep(0.1)
        async with sm() as s:
            left = await s.scalar(select(func.count()).select_from(Outbox)
                                  .where(Outbox.status.in_(("pending", "sending"))))
        if not left:
            break
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    async with sm() as s:
        by_status = dict((await s.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all())
    await api.close()
    await engine.dispose()
    return elapsed, by_status


async def raw_client(fake_url: str, calls: int, concurrency: int) -> float:
    """Calls/s of a bare aiohttp client posting customer-service messages (no database)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake_url}/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": "wxfake", "secret": "fake-secret"}) as r:
            token = (await r.json())["access_token"]
        todo = iter(range(calls))

        async def worker() -> None:
            for i in todo:
                async with http.post(f"{fake_url}/cgi-bin/message/custom/send", params={"access_token": token},
                                     json={"touser": f"oRaw{i}", "msgtype": "text",
                                           "text": {"content": f"raw {i}"}}) as r:
                    await r.read()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return calls / (time.perf_counter() - t0)


def bench_fanout(rows: int = 10_000, concurrency: int = 16, latency: float = 0.05, pg: bool = False) -> dict:
    ideal = concurrency / latency
    backend = "PostgreSQL" if pg else "SQLite"
    print(f"(c) outbox fan-out: {rows} messages, fake WeChat {latency * 1000:.0f} ms per call, "
          f"concurrency {concurrency} ({backend})")
    with tempdir() as d, (pg_database() if pg else contextlib.nullcontext(None)) as pgdb:
        d = Path(d)
        db = pgdb or f"sqlite+aiosqlite:///{d}/fan.db"
        create_schema(db)
        port, sport = free_port(), free_port()
        with process([PY, "-m", "bench.fake_server", "--port", str(port), "--stats-port", str(sport),
                      "--latency", str(latency)], port=sport, ready_path="/"):
            os.chdir(d)
            elapsed, by_status = asyncio.run(seed_and_deliver(db, f"http://127.0.0.1:{port}", rows, concurrency))
            os.chdir(Path(__file__).resolve().parent.parent)
            st = fake_stats(sport)
            raw = asyncio.run(raw_client(f"http://127.0.0.1:{port}", min(rows, 3000), concurrency))
    rate = rows / elapsed
    print(f"  ideal concurrency/latency = {ideal:.0f} msg/s; achieved {rate:.0f} msg/s in {elapsed:.1f} s")
    print(f"  RATIO achieved/ideal = {rate / ideal:.2f}   (target >= 0.80)")
    print(f"  bare aiohttp client, same server and concurrency, no database: {raw:.0f} calls/s "
          f"({raw / ideal:.2f} of ideal); delivery/bare client = {rate / raw:.2f}")
    print(f"  rows by status {by_status}; fake WeChat delivered {st['delivered']}, "
          f"duplicates {len(st['duplicates'])}")
    return {"rate": rate, "ideal": ideal, "ratio": rate / ideal, "raw": raw, "by_status": by_status, "fake": st}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fanout")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--pg", action="store_true")
    args = ap.parse_args(argv)
    bench_fanout(args.rows, args.concurrency, args.latency, args.pg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
