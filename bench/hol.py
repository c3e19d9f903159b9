"""Head-of-line blocking: what one user's slow handler costs everybody else.

Other users send steadily (open loop: `--rate` messages a second, spread over 500 users, each
message timed from when it was due); in the second phase one more user keeps sending messages
whose handler takes 200 ms (`await asyncio.sleep(0.2)`: a handler waiting on something — on
PostgreSQL a slow query or a row lock is the same to the writer). Printed: p50/p99 of the OTHER
users' replies with and without the slow user, and the ratio — both phases in the same run, same
server. SQLite, then PostgreSQL if it answers.

    python -m bench hol                       # both backends
    python -m bench.hol [--seconds 8] [--rate 150] [--only sqlite|postgresql]

The service runs in this process (it needs the slow handler's router); the load runs in another.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import PG_URL, PY, ROOT, TOKEN, create_schema, free_port, pg_database, tempdir
from bench.load import body, percentile, signed_params

SLOW_SECONDS = 0.2
SLOW_TEXT = "慢慢办"
USERS = 500


def slow_router():  # noqa: ANN201
    from bot.core.context import Ctx
    from bot.core.router import Router, text_is

    router = Router("bench_slow")

    @router.on(text_is(SLOW_TEXT))
    async def slow(ctx: Ctx) -> str:
        await asyncio.sleep(SLOW_SECONDS)
        return "慢慢办好了"

    return router


# --- the load process ---------------------------------------------------------------------------

async def _load(url: str, rate: float, seconds: float, slow: bool, base: int) -> dict:
    import aiohttp

    params = signed_params(TOKEN)
    others: list[float] = []
    slow_lat: list[float] = []
    statuses: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    stop = False
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512),
                                     timeout=aiohttp.ClientTimeout(total=20)) as session:
        async def post(openid: str, text: str, msg_id: int) -> str:
            try:
                async with session.post(url, params={**params, "openid": openid}, data=body(openid, msg_id, text),
                                        headers={"Content-Type": "text/xml"}) as resp:
                    await resp.read()
                    return str(resp.status)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                return type(exc).__name__

        async def one(i: int, due: float, record: bool) -> None:
            status = await post(f"oHol{i % USERS:05d}", "你好", base + i)
            if record:
                others.append(loop.time() - due)  # from when it was due: queueing in the client counts
                statuses[status] = statuses.get(status, 0) + 1

        async def steady(duration: float, first: int, record: bool) -> int:
            tasks = []
            t0 = loop.time()
            i = 0
            while i < duration * rate:
                due = t0 + i / rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                tasks.append(asyncio.create_task(one(first + i, due, record)))
                i += 1
            await asyncio.gather(*tasks)
            return i

        async def slow_user() -> None:
            j = 0
            while not stop:
                t = loop.time()
                status = await post("oHolSlow", SLOW_TEXT, base + 5_000_000 + j)
                slow_lat.append(loop.time() - t)
                statuses["slow " + status] = statuses.get("slow " + status, 0) + 1
                j += 1

        warm = await steady(1.0, 0, False)
        slow_task = asyncio.create_task(slow_user()) if slow else None
        if slow_task is not None:
            await asyncio.sleep(0.5)
        n = await steady(seconds, warm, True)
        stop = True
        if slow_task is not None:
            await slow_task
    others.sort()
    slow_lat.sort()
    return {"n": n, "statuses": statuses, "p50_ms": round(percentile(others, 50) * 1000, 2),
            "p99_ms": round(percentile(others, 99) * 1000, 2), "max_ms": round(others[-1] * 1000, 2),
            "slow_n": len(slow_lat), "slow_p50_ms": round(percentile(slow_lat, 50) * 1000, 2) if slow_lat else None}


# --- the service, in this process ----------------------------------------------------------------

async def _serve_and_measure(db: str, directory: Path, rate: float, seconds: float) -> dict[str, dict]:
    import os

    from aiohttp import web

    from bot.app import create_app, freeze_startup_objects
    from bot.config import build_settings

    port = free_port()
    settings = build_settings({"server": {"port": port}, "wechat": {"token": TOKEN}, "database": {"url": db},
                               "admin": {"secret_key": "bench-secret-key-0123456789abcdef"},
                               "scheduler": {"enabled": False}}, env={})
    os.chdir(directory)
    app = create_app(settings, scheduler=False, extra_routers=[slow_router()])
    freeze_startup_objects()  # as a serving process does
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    out = {}
    try:
        base = int(time.time() * 1000) * 1000
        for k, phase in enumerate(("without", "with")):
            proc = await asyncio.create_subprocess_exec(
                PY, "-m", "bench.hol", "--load", f"http://127.0.0.1:{port}/wechat", "--rate", str(rate),
                "--seconds", str(seconds), "--msgid-base", str(base + k * 100_000_000),
                *(["--slow"] if phase == "with" else []), cwd=ROOT, stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(ROOT)})
            raw, _ = await proc.communicate()
            out[phase] = json.loads(raw.decode().strip().splitlines()[-1])
    finally:
        await runner.cleanup()
        os.chdir(ROOT)
    return out


def _report(label: str, r: dict[str, dict]) -> dict:
    a, b = r["without"], r["with"]
    p50, p99 = b["p50_ms"] / a["p50_ms"], b["p99_ms"] / a["p99_ms"]
    print(f"  {label:<11} others without the slow user   p50 {a['p50_ms']:>7.2f} ms  p99 {a['p99_ms']:>8.2f} ms"
          f"  ({a['n']} msgs, {a['statuses']})")
    print(f"  {'':<11} others with a {SLOW_SECONDS * 1000:.0f} ms handler user p50 {b['p50_ms']:>7.2f} ms  "
          f"p99 {b['p99_ms']:>8.2f} ms  ({b['n']} msgs; slow user {b['slow_n']} msgs, p50 {b['slow_p50_ms']} ms)")
    print(f"  {'':<11} RATIO with/without: p50 {p50:.2f}x  p99 {p99:.2f}x")
    return {"without": a, "with": b, "p50_ratio": p50, "p99_ratio": p99}


def _pg_available() -> bool:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def ping() -> None:
        eng = create_async_engine(PG_URL)
        try:
            async with eng.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await eng.dispose()

    try:
        asyncio.run(asyncio.wait_for(ping(), 5))
        return True
    except Exception:  # noqa: BLE001 — no PostgreSQL here: SQLite only
        return False


def bench_hol(seconds: float = 8.0, rate: float = 150.0, only: str = "") -> dict:
    print(f"(hol) head-of-line blocking: {rate:.0f} msg/s from {USERS} users for {seconds:.0f} s, "
          f"with and without one user whose handler takes {SLOW_SECONDS * 1000:.0f} ms")
    results = {}
    if only in ("", "sqlite"):
        with tempdir() as d:
            db = f"sqlite+aiosqlite:///{d}/hol.db"
            create_schema(db)
            results["sqlite"] = _report("SQLite", asyncio.run(_serve_and_measure(db, Path(d), rate, seconds)))
    if only in ("", "postgresql"):
        if not _pg_available():
            print(f"  PostgreSQL  skipped: nothing answers at {PG_URL}")
        else:
            with pg_database() as db, tempdir() as d:
                create_schema(db)
                results["postgresql"] = _report("PostgreSQL",
                                                asyncio.run(_serve_and_measure(db, Path(d), rate, seconds)))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.hol")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=150.0)
    ap.add_argument("--only", choices=("sqlite", "postgresql"), default="")
    ap.add_argument("--load", default="", help=argparse.SUPPRESS)  # the load process
    ap.add_argument("--slow", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--msgid-base", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.load:
        print(json.dumps(asyncio.run(_load(args.load, args.rate, args.seconds, args.slow, args.msgid_base))))
        return 0
    bench_hol(args.seconds, args.rate, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
