"""Helpers shared by the benches: ports, server subprocesses, databases, the load process."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TOKEN = "unionbot-bench-token"
PG_URL = os.environ.get("UNIONBOT_BENCH_DATABASE_URL") or os.environ.get("UNIONBOT_TEST_DATABASE_URL") \
    or "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, path: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if path is None:
                    return
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {timeout:.0f} s")


@contextlib.contextmanager
def process(args: list[str], cwd: Path | None = None, port: int | None = None, ready_path: str | None = None,
            env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[subprocess.Popen]:
    """Start a server process, wait until it answers, SIGTERM it at the end."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(args, cwd=cwd or ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                            start_new_session=True)
    try:
        if port is not None:
            wait_port(port, path=ready_path)
        yield proc
    finally:
        stop(proc)
        if log:
            out.close()


def stop(proc: subprocess.Popen, grace: float = 40) -> None:
    """SIGTERM a server started in its own session; its whole group is SIGKILLed after `grace` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def write_config(directory: Path, db_url: str, port: int, **sections: dict) -> Path:
    data: dict[str, dict] = {
        "server": {"host": "127.0.0.1", "port": port},
        "wechat": {"token": TOKEN},
        "database": {"url": db_url, "pool_size": 10},
        "admin": {"secret_key": "bench-secret-key-0123456789abcdef"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    lines = []
    for name, values in data.items():
        lines.append(f"[{name}]")
        for k, v in values.items():
            lines.append(f"{k} = {json.dumps(v, ensure_ascii=False)}")
    path = directory / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def create_schema(url: str) -> None:
    """Create every table (the benches do not depend on the migration history)."""
    import bot.db.models  # noqa: F401
    from bot.db.base import Base
    from bot.db.engine import make_engine

    async def run() -> None:
        eng = make_engine(url)
        async with eng.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await eng.dispose()

    asyncio.run(run())


async def seed_outbox(session, tag: str, rows: int, now) -> None:  # noqa: ANN001
    """`rows` pending text messages, each to its own member inside the 48-hour window
    (openid `o<Tag>000042`, key `<tag>:42`)."""
    from sqlalchemy import insert

    import bot.db.models  # noqa: F401
    from bot.db.models import Member, Outbox

    openid = f"o{tag.capitalize()}{{:06d}}".format
    await session.execute(insert(Member), [
        {"app_id": "wxfake", "openid": openid(i), "first_seen": now, "last_seen": now, "subscribed": True,
         "msg_window_at": now - timedelta(minutes=1), "msg_window_used": 0, "evt_window_used": 0}
        for i in range(rows)])
    await session.execute(insert(Outbox), [
        {"key": f"{tag}:{i}", "openid": openid(i), "kind": "text", "purpose": "bench",
         "payload": {"text": f"{tag} {i}"}, "status": "pending", "attempts": 0, "next_attempt_at": now,
         "created_at": now} for i in range(rows)])


def fake_stats(port: int) -> dict:
    """What the fake WeChat server (bench/fake_server.py) counted, from its stats port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one bench, dropped afterwards."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    base = make_url(PG_URL)
    name = "unionbot_bench_" + uuid.uuid4().hex[:8]
    admin_url = base

    async def ddl(sql: str) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        eng = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with eng.connect() as conn:
            await conn.execute(text(sql))
        await eng.dispose()

    asyncio.run(ddl(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(ddl(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def tempdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="unionbot-bench-")


def run_load(url: str, n: int, concurrency: int = 32, warmup: int = 500, users: int = 1000,
             procs: int = 1) -> dict:
    """Drive `url` from separate load process(es), each sending as users of its own (`users` in all:
    one user's messages never race each other from two processes); figures merged from all of them."""
    share = max(1, users // procs)
    args = [PY, "-m", "bench.load", "--url", url, "--n", str(n // procs), "--warmup", str(warmup // procs),
            "--concurrency", str(max(1, concurrency // procs)), "--users", str(share), "--token", TOKEN]
    base = int(time.time() * 1000) * 1000
    ps = [subprocess.Popen([*args, "--msgid-base", str(base + i * 10_000_000), "--first-user", str(i * share)],
                           cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
          for i in range(procs)]
    results = [json.loads(p.communicate()[0].decode().strip().splitlines()[-1]) for p in ps]
    if procs == 1:
        return results[0]
    merged = {"n": sum(r["n"] for r in results), "concurrency": concurrency,
              "seconds": max(r["seconds"] for r in results), "statuses": {}}
    merged["rps"] = round(sum(r["rps"] for r in results), 1)
    for r in results:
        for k, v in r["statuses"].items():
            merged["statuses"][k] = merged["statuses"].get(k, 0) + v
    for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
        merged[k] = max(r[k] for r in results)  # conservative: the worst process's percentile
    return merged


def line(label: str, r: dict) -> str:
    return (f"  {label:<34} {r['rps']:>8.0f} msg/s   p50 {r['p50_ms']:>7.2f} ms   p99 {r['p99_ms']:>8.2f} ms"
            f"   statuses {r['statuses']}")
