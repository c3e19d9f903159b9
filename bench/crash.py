"""Crash safety of the embedded default: SIGKILL under load, round after round, on one SQLite file.

    python -m bench crash [--rounds 5] [--seconds 8] [--connections 16] [--kill alternate|group|worker]
                          [--seed N]

The full service (`python -m bot.processes --workers 1`, SQLite in WAL mode with synchronous=NORMAL,
scheduler on, as in production) is loaded by a separate load process (signed text messages, unique
MsgIds, 1,000 users, `--connections` keep-alive connections) for `--seconds`; at a random moment
between 20 % and 80 % of that time it is SIGKILLed:

- `group`: the supervisor and its worker at once (the service's process group). The files are
  left exactly as the crash left them; the checks below open them read-only without any repair
  step (SQLite replays the WAL in memory), then a fresh service opens them (and serves the next
  round) and the app's own engine reads them.
- `worker`: only the serving worker; the supervisor starts another one while the load goes on.
- `alternate` (default): group, worker, group, ...

Per round: messages acknowledged (HTTP 200 with a reply), persisted (in `inbound_message`, `done`,
with the very reply bytes sent), LOST (acknowledged, not persisted: must be 0), DUPLICATES (a
re-send of a persisted acknowledged message answered with other bytes, or a key stored twice, or a
row added by those re-sends: must be 0), rows left `processing` (half done: must be 0),
`PRAGMA integrity_check`, and the time to reopen — SQLite's open with WAL replay (ms), the
integrity check (ms), and until the service answers again (s: a fresh service from its start after
a group kill, the supervisor's new worker from the kill after a worker kill). 200 `success` answers
(reply_timeout passed: the reply goes through the outbox) are counted apart; WeChat does not retry
those.

Exit status 0 when every round passed (PASS on the last line), 1 otherwise.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench.common import PY, ROOT, TOKEN, free_port, stop, tempdir, write_config

WORKER_HEADER = "X-Unionbot-Worker"  # bot.processes.WORKER_HEADER (kept import-free for the load child)
USERS = 1000


# ---- the load process ------------------------------------------------------------------------

def run_load_child(url: str, seconds: float, connections: int, msgid_base: int, out: Path) -> int:
    """Post signed text messages with unique MsgIds for `seconds`; one JSON line per request to `out`."""
    import aiohttp

    from bench.load import TEXTS, body, signed_params

    records: list[dict] = []

    async def one(session: aiohttp.ClientSession, n: int, deadline: float) -> None:
        i = n
        while time.monotonic() < deadline:
            msg_id, openid = msgid_base + i, f"oCrash{(i * 7) % USERS:05d}"
            data = body(openid, msg_id, TEXTS[(i // connections) % len(TEXTS)])
            i += connections
            try:
                async with session.post(url, params={**signed_params(TOKEN), "openid": openid}, data=data,
                                        headers={"Content-Type": "text/xml"}) as resp:
                    raw = await resp.read()
                    status, worker = str(resp.status), resp.headers.get(WORKER_HEADER, "")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                status, raw, worker = type(exc).__name__, b"", ""
            records.append({"msg_id": msg_id, "openid": openid, "status": status, "t": time.time(),
                            "worker": worker, "body": data.decode(), "reply": raw.decode("utf-8", "replace")})
            if not worker:
                await asyncio.sleep(0.05)  # the server is down: do not spin

    async def run() -> None:
        conn = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=15)) as session:
            print("started", flush=True)  # the parent times the kill from here
            deadline = time.monotonic() + seconds
            await asyncio.gather(*(one(session, n, deadline) for n in range(connections)))

    asyncio.run(run())
    with open(out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return 0


# ---- the service -----------------------------------------------------------------------------

def start_service(folder: Path, cfg: Path) -> subprocess.Popen:
    log = open(folder / "server.log", "ab")  # noqa: SIM115 — the child keeps its own descriptor
    try:
        return subprocess.Popen([PY, "-m", "bot.processes", "--config", str(cfg), "--workers", "1",
                                 "--log-level", "WARNING"], cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    finally:
        log.close()


def health(port: int) -> str | None:
    """The pid of the worker that answered /healthz, or None."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.headers.get(WORKER_HEADER) if r.status == 200 else None
    except OSError:
        return None


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 90.0, other_than: str = "") -> tuple[str, float]:
    """Wait until a worker (other than `other_than`) answers /healthz: its pid and the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode} while starting")
        pid = health(port)
        if pid and pid != other_than:
            return pid, time.monotonic() - t0
        time.sleep(0.05)
    raise RuntimeError(f"the service did not answer within {timeout:.0f} s")


def size_mb(path: Path) -> float:
    try:
        return path.stat().st_size / 1e6
    except OSError:
        return 0.0


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


# ---- the checks ------------------------------------------------------------------------------

def inspect(dbfile: Path) -> dict:
    """Open the file as anyone would (SQLite replays the WAL on open), check it, read the dedup rows.
    Read-only: the files stay as the crash left them for the service that opens them next."""
    t0 = time.perf_counter()
    conn = sqlite3.connect(f"file:{dbfile}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT count(*) FROM inbound_message").fetchone()[0]
        open_ms = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check").fetchall())
        integrity_ms = (time.perf_counter() - t1) * 1000
        stored = {k: (st, rep) for k, st, rep in conn.execute("SELECT key, status, reply FROM inbound_message")}
        half = conn.execute("SELECT count(*) FROM inbound_message WHERE status = 'processing'").fetchone()[0]
        twice = conn.execute("SELECT count(*) FROM (SELECT key FROM inbound_message GROUP BY key "
                             "HAVING count(*) > 1)").fetchone()[0]
    finally:
        conn.close()
    return {"open_ms": open_ms, "integrity": integrity, "integrity_ms": integrity_ms,
            "rows": rows, "stored": stored, "twice": twice,
            "half": half}


def engine_opens(url: str) -> bool:
    """The app's own engine (its PRAGMAs, its models) opens the file and reads it."""
    from sqlalchemy import func, select

    import bot.db.models  # noqa: F401
    from bot.db.engine import make_engine
    from bot.db.models.core import InboundMessage

    async def run() -> bool:
        eng = make_engine(url)
        try:
            async with eng.connect() as conn:
                return (await conn.scalar(select(func.count()).select_from(InboundMessage))) is not None
        finally:
            await eng.dispose()

    try:
        return asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 — reported, the round fails
        print(f"    the app's engine could not open the database: {exc!r}")
        return False


def resend(port: int, acked: list[dict], connections: int) -> int:
    """Post every acknowledged message again (fresh signature, same body); how many got other bytes."""
    import aiohttp

    from bench.load import signed_params

    failed: list[str] = []

    async def run() -> int:
        differ = 0
        sem = asyncio.Semaphore(connections)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            async def one(r: dict) -> None:
                nonlocal differ
                async with sem:
                    try:
                        differ += await post(r)
                    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                        failed.append(repr(exc))

            async def post(r: dict) -> int:
                async with session.post(f"http://127.0.0.1:{port}/wechat",
                                        params={**signed_params(TOKEN), "openid": r["openid"]},
                                        data=r["body"].encode(), headers={"Content-Type": "text/xml"}) as resp:
                    raw = (await resp.read()).decode("utf-8", "replace")
                    return int(resp.status != 200 or raw != r["reply"])

            await asyncio.gather(*(one(r) for r in acked))
        return differ

    differ = asyncio.run(run())
    if failed:
        raise RuntimeError(f"{len(failed)} re-sends got no answer, e.g. {failed[0]}")
    return differ


def row_count(dbfile: Path) -> int:
    with contextlib.closing(sqlite3.connect(dbfile, timeout=30)) as conn:
        return conn.execute("SELECT count(*) FROM inbound_message").fetchone()[0]


# ---- the bench -------------------------------------------------------------------------------

def bench_crash(rounds: int = 5, seconds: float = 8.0, connections: int = 16, kill: str = "alternate",
                seed: int | None = None) -> dict:
    from bot.db.migrate import upgrade

    seed = seed if seed is not None else random.SystemRandom().randrange(1_000_000)
    rnd = random.Random(seed)
    print(f"crash: {rounds} rounds of {seconds:g} s load ({connections} connections, unique MsgIds, {USERS} users) "
          f"on SQLite (WAL, synchronous=NORMAL), SIGKILL at a random moment ({kill}; seed {seed})", flush=True)
    results: list[dict] = []
    with tempdir() as d:
        d = Path(d)
        dbfile = d / "data" / "unionbot.db"
        url = f"sqlite+aiosqlite:///{dbfile}"
        upgrade(url)
        port = free_port()
        cfg = write_config(d, url, port)
        proc = start_service(d, cfg)
        try:
            worker, _ = wait_ready(port, proc)
            for n in range(1, rounds + 1):
                target = kill if kill != "alternate" else ("group" if n % 2 else "worker")
                out = d / f"load-{n}.jsonl"
                base = (int(time.time() * 1000) % 10**9) * 10**6
                load = subprocess.Popen([PY, "-m", "bench.crash", "--load-child", f"http://127.0.0.1:{port}/wechat",
                                         "--seconds", str(seconds), "--connections", str(connections),
                                         "--msgid-base", str(base), "--out", str(out)], cwd=ROOT,
                                        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE)
                load.stdout.readline()  # the load process has started sending
                at = rnd.uniform(0.2, 0.8) * seconds
                time.sleep(at)
                killed_at = time.time()
                if target == "group":
                    kill_group(proc)
                else:
                    os.kill(int(worker), signal.SIGKILL)
                wal_mb = size_mb(Path(f"{dbfile}-wal"))
                load.communicate(timeout=seconds + 60)
                records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
                if target == "group":
                    # The files exactly as the crash left them: no service, no repair; then a fresh
                    # service opens them (its re-sends below are answered from the recovered file).
                    info = inspect(dbfile)
                    proc = start_service(d, cfg)
                    worker, ready_s = wait_ready(port, proc)
                    info["engine"] = engine_opens(url)
                else:
                    killed = worker
                    worker, _ = wait_ready(port, proc, other_than=killed)  # the supervisor's new worker
                    later = [r["t"] for r in records if r["worker"] not in ("", killed)]
                    ready_s = (min(later) if later else time.time()) - killed_at
                    info = inspect(dbfile)  # beside the new worker (idle now: the load is over)
                    info["engine"] = engine_opens(url)
                info["wal_mb"] = wal_mb
                r = judge(n, target, at, records, info, ready_s)
                before = row_count(dbfile)
                # re-send what was kept (a lost message sent again is new to the service: counted as LOST)
                r["differ"] = resend(port, r.pop("persisted_records"), connections)
                r["added_by_resend"] = row_count(dbfile) - before
                r["duplicates"] = r["twice"] + r["differ"] + r["added_by_resend"]
                r["passed"] = r["passed"] and r["duplicates"] == 0
                report(r)
                results.append(r)
        finally:
            stop(proc, 45)
        final = inspect(dbfile)["integrity"]
        stopped = proc.returncode == 0
        tracebacks = (d / "server.log").read_text(errors="replace").count("Traceback")
    passed = bool(results) and all(r["passed"] for r in results) and final == "ok" and stopped
    acked = sum(r["acked"] for r in results)
    lost = sum(r["lost"] for r in results)
    dups = sum(r["duplicates"] for r in results)
    print(f"  after the last round: graceful stop {'ok' if stopped else 'FAILED'}, integrity_check {final}, "
          f"tracebacks in the server log {tracebacks}")
    print(f"  {'PASS' if passed else 'FAIL'}  {len(results)} SIGKILLs, {acked} messages acknowledged, "
          f"lost {lost}, duplicates {dups}, integrity_check ok in "
          f"{sum(r['integrity'] == 'ok' for r in results)}/{len(results)} rounds")
    return {"rounds": results, "passed": passed, "seed": seed, "acked": acked, "lost": lost, "duplicates": dups}


def judge(n: int, target: str, at: float, records: list[dict], info: dict, ready_s: float) -> dict:
    stored = info.pop("stored")
    acked = [r for r in records if r["status"] == "200" and r["reply"] not in ("", "success")]
    success = [r for r in records if r["status"] == "200" and r["reply"] in ("", "success")]
    refused = [r for r in records if r["status"] == "ClientConnectorError"]
    cut = [r for r in records if r["status"] not in ("200", "ClientConnectorError")]
    persisted = [r for r in acked if stored.get(f"m:{r['msg_id']}") == ("done", r["reply"].encode())]
    lost = [r for r in acked if f"m:{r['msg_id']}" not in stored]
    other = len(acked) - len(persisted) - len(lost)  # stored, but not as `done` with the reply sent
    ok = info["integrity"] == "ok" and info["engine"] and not lost and not other and not info["half"] \
        and bool(acked)
    return {"round": n, "target": target, "at": at, "sent": len(records), "acked": len(acked),
            "success": len(success), "success_stored": sum(f"m:{r['msg_id']}" in stored for r in success),
            "cut": len(cut), "refused": len(refused), "persisted": len(persisted), "lost": len(lost), "other": other,
            "ready_s": ready_s, "passed": ok, "persisted_records": persisted, **info}


def report(r: dict) -> None:
    extra = (f", stored otherwise {r['other']}" if r["other"] else "") \
        + (f", left half done {r['half']}" if r["half"] else "")
    print(f"  round {r['round']}: SIGKILL {r['target']} at {r['at']:.1f} s  {'ok' if r['passed'] else 'FAILED'}\n"
          f"    messages: sent {r['sent']}, acknowledged {r['acked']}, persisted {r['persisted']}, "
          f"LOST {r['lost']}, DUPLICATES {r['duplicates']}{extra}; no answer: cut in flight {r['cut']}, "
          f"refused {r['refused']}; 200 success {r['success']} ({r['success_stored']} stored)\n"
          f"    file: integrity_check {r['integrity']} ({r['integrity_ms']:.0f} ms), {r['rows']} rows, WAL at the "
          f"kill {r['wal_mb']:.1f} MB, reopen (WAL replay) {r['open_ms']:.1f} ms, app engine "
          f"{'ok' if r['engine'] else 'FAILED'}, serving again {r['ready_s']:.1f} s after "
          + ("the fresh start" if r["target"] == "group" else "the kill (supervisor's restart)"), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench crash")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=8.0, help="load per round; the kill lands at 20-80 %% of it")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--kill", choices=("alternate", "group", "worker"), default="alternate")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--load-child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--msgid-base", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.load_child:
        return run_load_child(args.load_child, args.seconds, args.connections, args.msgid_base, Path(args.out))
    r = bench_crash(args.rounds, args.seconds, args.connections, args.kill, args.seed)
    return 0 if r["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
