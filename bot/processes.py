"""`unionbot serve --workers N`: N worker processes on one port, one scheduler among them.

Each worker is a separate process (multiprocessing "spawn") that builds its own app with
`bot.app.create_app` and listens on the same host:port with SO_REUSEPORT; the kernel spreads
incoming connections over the workers. They share only the database (PostgreSQL):
- per-user ordering and dedup hold across processes (advisory locks, the unique dedup key);
- outbox rows are claimed with FOR UPDATE SKIP LOCKED, the access token lives in the database;
- the scheduler runs only in the worker that holds the PostgreSQL advisory lock (scheduler/leader.py).

The supervisor (this process) restarts a worker that dies and, on SIGTERM/SIGINT, asks every
worker to finish (aiohttp's graceful shutdown), then exits. SQLite has one writer at a time, so
more than one worker on SQLite is refused.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from multiprocessing.connection import wait
from pathlib import Path

from aiohttp import web

from bot.config import ConfigError, Settings, load_settings
from bot.db.engine import is_sqlite

log = logging.getLogger("unionbot.processes")

WORKER_HEADER = "X-Unionbot-Worker"
STOP_GRACE = 30.0  # seconds a worker gets to finish its requests after SIGTERM
RESTART_BACKOFF_CAP = 30.0


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse set-ups that cannot work, with one line for the operator."""
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    if workers > 1 and is_sqlite(settings.database.url):
        raise ConfigError(
            f"--workers {workers} needs PostgreSQL: SQLite allows one writer at a time. "
            "Set [database] url = \"postgresql+asyncpg://…\" or run with --workers 1.")


# ---- one worker ----------------------------------------------------------------------

async def _leader_ctx(app: web.Application) -> AsyncIterator[None]:
    from scheduler.leader import scheduler_under_leadership

    handle = await scheduler_under_leadership(app)
    yield
    await handle.close()


async def _worker_header(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers[WORKER_HEADER] = str(os.getpid())


def build_worker_app(settings: Settings) -> web.Application:
    """The app one worker serves: the whole service, with the scheduler under leadership."""
    from bot.app import create_app
    from bot.health import add_ops_routes

    app = create_app(settings, scheduler=False)
    add_ops_routes(app)  # idempotent if create_app already did
    if settings.scheduler.enabled:
        app.cleanup_ctx.append(_leader_ctx)
    app.on_response_prepare.append(_worker_header)
    return app


def run_worker(settings: Settings, index: int = 0, log_json: bool = False, log_level: str = "INFO") -> None:
    """Serve in this process until SIGTERM/SIGINT (aiohttp shuts down gracefully)."""
    from bot.metrics import setup_logging

    setup_logging(log_level, json=log_json)
    logging.getLogger("unionbot.processes").info("worker %d (pid %d) serving on %s:%d",
                                               index, os.getpid(), settings.server.host, settings.server.port)
    from bot.app import freeze_startup_objects

    app = build_worker_app(settings)
    freeze_startup_objects(app)
    web.run_app(app, host=settings.server.host, port=settings.server.port,
                reuse_port=True, print=None, access_log=None, shutdown_timeout=STOP_GRACE - 5)


# ---- the supervisor --------------------------------------------------------------------

def serve(settings: Settings, workers: int, config_path: str | Path | None = None,
          log_json: bool = False, log_level: str = "INFO") -> None:
    """Run `workers` worker processes on settings.server.host:port and supervise them.

    `config_path` is only logged: the workers get the already validated `settings`.
    """
    check_workers(settings, workers)
    from bot.metrics import setup_logging

    setup_logging(log_level, json=log_json)
    mp = multiprocessing.get_context("spawn")
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            log.info("received %s: stopping %d workers", signal.Signals(signum).name, workers)
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def start(index: int) -> multiprocessing.Process:
        p = mp.Process(target=run_worker, args=(settings, index, log_json, log_level),
                       name=f"unionbot-worker-{index}", daemon=False)
        p.start()
        return p

    log.info("supervisor pid %d: %d workers on %s:%d (config %s)", os.getpid(), workers,
             settings.server.host, settings.server.port, config_path or "defaults")
    procs = {i: start(i) for i in range(workers)}
    started = {i: time.monotonic() for i in procs}
    failures = {i: 0 for i in procs}
    pending_restart: dict[int, float] = {}

    while not stopping:
        wait([p.sentinel for p in procs.values() if p.is_alive()] or [], timeout=0.5)
        now = time.monotonic()
        for i, p in list(procs.items()):
            if i in pending_restart or p.is_alive() or stopping:
                continue
            code = p.exitcode
            # A worker that keeps dying right after start is restarted with back-off.
            failures[i] = failures[i] + 1 if now - started[i] < 10 else 1
            delay = min(RESTART_BACKOFF_CAP, 0.5 * 2 ** (failures[i] - 1)) if failures[i] > 1 else 0.0
            log.error("worker %d (pid %s) exited with %s; restarting in %.1f s", i, p.pid, code, delay)
            pending_restart[i] = now + delay
        for i, at in list(pending_restart.items()):
            if now >= at and not stopping:
                del pending_restart[i]
                procs[i] = start(i)
                started[i] = time.monotonic()

    for p in procs.values():
        if p.is_alive():
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for p in procs.values():
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            log.warning("worker pid %d did not stop in %.0f s; killing it", p.pid, STOP_GRACE)
            p.kill()
            p.join()
    log.info("all workers stopped")


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.processes --config FILE --workers N` (the same as `unionbot serve --workers N`)."""
    ap = argparse.ArgumentParser(prog="python -m bot.processes")
    ap.add_argument("--config", default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--host", default=None)
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--log-json", action="store_true")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    try:
        settings = load_settings(args.config)
        if args.host:
            settings.server.host = args.host
        if args.port:
            settings.server.port = args.port
        check_workers(settings, args.workers)
    except ConfigError as exc:
        print(f"unionbot: {exc}", file=sys.stderr)
        return 2
    serve(settings, args.workers, args.config, log_json=args.log_json, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
