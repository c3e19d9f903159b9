"""Webhook throughput, as ratios measured in the same run.

(a) the full service (`python -m bot.processes --workers 1`, SQLite, every message persisted)
    against the minimal aiohttp + wechatpy echo baseline (bench/echo.py), 32 connections;
(b) N=2 worker processes against N=1 on PostgreSQL.

    python -m bench webhook            # (a)
    python -m bench scaling            # (b)
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bench.common import PY, create_schema, free_port, line, pg_database, process, run_load, tempdir, write_config


def count_inbound(url: str) -> int:
    from sqlalchemy import func, select

    import bot.db.models  # noqa: F401
    from bot.db.engine import make_engine
    from bot.db.models import InboundMessage

    async def run() -> int:
        eng = make_engine(url)
        async with eng.connect() as conn:
            n = await conn.scalar(select(func.count()).select_from(InboundMessage)
                                  .where(InboundMessage.status == "done"))
        await eng.dispose()
        return int(n or 0)

    return asyncio.run(run())


def serve_args(cfg: Path, workers: int) -> list[str]:
    return [PY, "-m", "bot.processes", "--config", str(cfg), "--workers", str(workers), "--log-level", "WARNING"]


def bench_webhook(n: int = 5000, concurrency: int = 32) -> dict:
    print(f"(a) webhook: full service on SQLite vs aiohttp+wechatpy echo, {n} messages, {concurrency} connections")
    with tempdir() as d:
        d = Path(d)
        db = f"sqlite+aiosqlite:///{d}/bench.db"
        create_schema(db)
        port, echo_port = free_port(), free_port()
        cfg = write_config(d, db, port, scheduler={"enabled": False})
        with process([PY, "-m", "bench.echo", "--port", str(echo_port)], port=echo_port):
            echo = run_load(f"http://127.0.0.1:{echo_port}/wechat", n, concurrency)
        with process(serve_args(cfg, 1), cwd=d, port=port, ready_path="/healthz", log=d / "server.log"):
            full = run_load(f"http://127.0.0.1:{port}/wechat", n, concurrency)
        persisted = count_inbound(db)
    ratio = full["rps"] / echo["rps"]
    print(line("echo baseline (aiohttp+wechatpy)", echo))
    print(line("full pipeline (SQLite)", full))
    print(f"  RATIO full/echo = {ratio:.2f}x   (target >= 0.5x; p99 {full['p99_ms']:.1f} ms, target < 20 ms)")
    sent = full["n"] + 500
    print(f"  persisted: {persisted} of {sent} messages sent (warm-up included) answered 200: "
          f"{full['statuses'].get('200', 0)} of {full['n']}")
    return {"echo": echo, "full": full, "ratio": ratio, "persisted": persisted, "sent": sent}


def bench_scaling(n: int = 8000, concurrency: int = 64) -> dict:
    print(f"(b) scaling: N=2 workers vs N=1 on PostgreSQL, {n} messages, {concurrency} connections")
    out = {}
    with pg_database() as db, tempdir() as d:
        d = Path(d)
        create_schema(db)
        for workers in (1, 2):
            port = free_port()
            cfg = write_config(d, db, port, scheduler={"enabled": False})
            with process(serve_args(cfg, workers), cwd=d, port=port, ready_path="/healthz",
                         log=d / f"server{workers}.log"):
                out[workers] = run_load(f"http://127.0.0.1:{port}/wechat", n, concurrency, procs=2)
        persisted = count_inbound(db)
    ratio = out[2]["rps"] / out[1]["rps"]
    print(line("N=1 worker (PostgreSQL)", out[1]))
    print(line("N=2 workers (PostgreSQL)", out[2]))
    print(f"  RATIO N2/N1 = {ratio:.2f}x   (target >= 1.7x)   persisted {persisted} rows")
    return {"n1": out[1], "n2": out[2], "ratio": ratio}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.webhook")
    ap.add_argument("which", nargs="?", default="webhook", choices=("webhook", "scaling"))
    ap.add_argument("--n", type=int, default=None)
    args = ap.parse_args(argv)
    if args.which == "webhook":
        bench_webhook(**({"n": args.n} if args.n else {}))
    else:
        bench_scaling(**({"n": args.n} if args.n else {}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
