"""Webhook throughput, as ratios measured in the same run.

(a) the full service (`python -m bot.processes --workers 1`, SQLite, every message persisted)
    against the minimal aiohttp + wechatpy echo baseline (bench/echo.py), 32 connections;
(b) N=2 worker processes against N=1 on PostgreSQL.

    python -m bench webhook            # (a)
    python -m bench scaling            # (b): N=1 and N=2
    python -m bench.webhook scaling --workers-list 1,2,4 --load-procs 4   # (b) on a bigger machine

(b) also prints CPU ms per message (workers, supervisor, the bench database's PostgreSQL backends)
and lock waits sampled from pg_stat_activity / pg_locks, measured by bench/pgstats.py.
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


def bench_scaling(n: int = 8000, concurrency: int = 64, workers_list: tuple[int, ...] = (1, 2),
                  load_procs: int = 2, connections_per_worker: int | None = None) -> dict:
    """Throughput of N workers on PostgreSQL for each N in `workers_list`, and what it cost.

    Besides msg/s, each run is watched by bench.pgstats: CPU seconds (user + sys) of the worker
    processes, the supervisor and the bench database's PostgreSQL backends, divided by the
    messages processed in the window -> CPU ms per message (flat across N = no per-worker
    overhead), and pg_stat_activity / pg_locks sampled every 100 ms for lock waits.
    `connections_per_worker`: open C x N connections for N workers instead of `concurrency` for
    every N, so each worker sees the same load (and group-commit batches of the same size).
    """
    from bench.pgstats import Watch, cpu_table, lock_lines

    ns = tuple(sorted(set(workers_list)))
    conns = {w: connections_per_worker * w if connections_per_worker else concurrency for w in ns}
    if ns == (1, 2) and not connections_per_worker and load_procs == 2:
        print(f"(b) scaling: N=2 workers vs N=1 on PostgreSQL, {n} messages, {concurrency} connections")
    else:
        print(f"(b) scaling: N={','.join(map(str, ns))} workers on PostgreSQL, {n} messages, "
              + (f"{connections_per_worker} connections per worker" if connections_per_worker
                 else f"{concurrency} connections") + f", {load_procs} load processes")
    out, figs, processed = {}, {}, {}
    with pg_database() as db, tempdir() as d:
        d = Path(d)
        create_schema(db)
        for workers in ns:
            port = free_port()
            cfg = write_config(d, db, port, scheduler={"enabled": False})
            with process(serve_args(cfg, workers), cwd=d, port=port, ready_path="/healthz",
                         log=d / f"server{workers}.log") as proc:
                before = count_inbound(db)
                watch = Watch(db, proc.pid).start()
                out[workers] = run_load(f"http://127.0.0.1:{port}/wechat", n, conns[workers], procs=load_procs)
                figs[workers] = watch.stop()
                processed[workers] = count_inbound(db) - before
        persisted = count_inbound(db)
    for workers in ns:
        print(line(f"N={workers} worker{'s' if workers > 1 else ''} (PostgreSQL)", out[workers]))
    base = ns[0]
    ratios = {w: out[w]["rps"] / out[base]["rps"] for w in ns}
    tail = f"   persisted {persisted} rows"
    if 1 in ns and 2 in ns:
        print(f"  RATIO N2/N1 = {out[2]['rps'] / out[1]['rps']:.2f}x   (target >= 1.7x){tail}")
        tail = ""
    for w in ns:
        if w != base and not (base == 1 and w == 2):
            print(f"  RATIO N{w}/N{base} = {ratios[w]:.2f}x   (ideal {w / base:.0f}x with a free core per worker)"
                  + tail)
            tail = ""
    if tail:
        print(f" {tail}")
    # messages the window saw: the rows marked done (warm-up included), else what was posted
    sent = {w: out[w]["n"] + 500 for w in ns}
    msgs = {w: processed[w] if processed[w] > 0 else sent[w] for w in ns}
    print("  CPU per message during each load run (/proc user+sys; warm-up included; flat across N means")
    print("  no per-worker overhead, so N workers scale where each has a core):")
    for row in cpu_table(figs, msgs):
        print(row)
    print("  Lock waits, pg_stat_activity of the bench database every 100 ms (pg_locks: what is waited for):")
    for row in lock_lines(figs):
        print(row)
    result = {"ratios": ratios, "cpu": figs, "messages": msgs, "persisted": persisted}
    for w in ns:
        result[f"n{w}"] = out[w]
    if 1 in ns and 2 in ns:
        result["ratio"] = out[2]["rps"] / out[1]["rps"]
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.webhook [webhook|scaling] [--n N]`; scaling options:
    `python -m bench.webhook scaling --workers-list 1,2,4 [--concurrency 64 | --connections-per-worker 32]
    [--load-procs 2]`
    (`--scaling` is the same as the positional `scaling`; `--workers-list` implies it)."""
    ap = argparse.ArgumentParser(prog="python -m bench.webhook")
    ap.add_argument("which", nargs="?", default="webhook", choices=("webhook", "scaling"))
    ap.add_argument("--scaling", action="store_true", help="run the scaling bench (b)")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--workers-list", default=None, help="scaling: worker counts to run, e.g. 1,2,4 (default 1,2)")
    ap.add_argument("--concurrency", type=int, default=None, help="connections in all (scaling default 64)")
    ap.add_argument("--load-procs", type=int, default=None, help="scaling: load processes (default 2)")
    ap.add_argument("--connections-per-worker", type=int, default=None,
                    help="scaling: C x N connections for N workers (instead of --concurrency for every N)")
    args = ap.parse_args(argv)
    if args.which == "webhook" and not (args.scaling or args.workers_list or args.load_procs
                                        or args.connections_per_worker):
        bench_webhook(**({"n": args.n} if args.n else {}),
                      **({"concurrency": args.concurrency} if args.concurrency else {}))
        return 0
    kw: dict = {}
    if args.n:
        kw["n"] = args.n
    if args.concurrency:
        kw["concurrency"] = args.concurrency
    if args.load_procs:
        kw["load_procs"] = args.load_procs
    if args.connections_per_worker:
        kw["connections_per_worker"] = args.connections_per_worker
    if args.workers_list:
        try:
            kw["workers_list"] = tuple(int(x) for x in args.workers_list.split(",") if x.strip())
        except ValueError:
            ap.error("--workers-list takes worker counts separated by commas, e.g. 1,2,4")
        if not kw["workers_list"] or min(kw["workers_list"]) < 1:
            ap.error("--workers-list needs counts >= 1")
    bench_scaling(**kw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
