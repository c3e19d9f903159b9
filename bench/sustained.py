"""Sustained load: the full service held under wrk for a minute (or longer), window by window.

    python -m bench sustained [--seconds 60] [--connections 32] [--echo-seconds 20]

The echo baseline (bench/echo.py) and the full service (`python -m bot.processes --workers 1`,
SQLite, scheduler on — its WAL checkpoint job is part of what is measured) each run pinned to
CPU 0 with taskset (when there are 2+ CPUs); wrk runs pinned to the other CPU(s). Load is
consecutive 10-second wrk runs back to back, each with a generated Lua script posting signed
text messages with unique MsgIds over 1,000 users (the signature covers token/timestamp/nonce
only, so it is fixed per run); wrk's `done` hook prints that window's requests and latency
percentiles. Per window: msg/s, p50/p99/p99.9, non-2xx/socket errors, the worker's RSS, the
database and -wal file sizes; then the same sizes 15 s after the load stops, bytes stored per
message, and PASS/FAIL against the targets (issue 15):

  ratio full/echo >= 0.5x; p99 < 20 ms in every window; worker RSS < 250 MB at the end and flat
  (last window within 25 MB of the first); WAL < 64 MB 15 s after the load stops.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench.common import PY, ROOT, TOKEN, create_schema, free_port, process, tempdir, write_config

WINDOW = 10
TARGET_RATIO, TARGET_P99_MS, TARGET_RSS_MB, TARGET_RSS_GROWTH_MB, TARGET_WAL_MB = 0.5, 20.0, 250.0, 25.0, 64.0

LUA = r"""
local base = 0
local counter = 0
local threads = {}
local texts = {"你好", "菜单", "帮助", "我想问问", "谢谢"}
local path = "%(path)s"
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

function init(args)
  base = tonumber(args[1]) or 0
  tid = tonumber(tid) or 0  -- global, set per thread by setup()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/xml"
end

function request()
  counter = counter + 1
  local id = base + tid * 100000000 + counter  -- below 2^53: exact in a Lua double
  local user = string.format("oBench%%05d", (counter * 7 + tid * 131) %% 1000)
  local body = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[" .. user ..
    "]]></FromUserName><CreateTime>" .. os.time() .. "</CreateTime><MsgType><![CDATA[text]]></MsgType>" ..
    "<Content><![CDATA[" .. texts[(counter %% 5) + 1] .. "]]></Content><MsgId>" ..
    string.format("%%d", id) .. "</MsgId></xml>"
  return wrk.format("POST", path .. "&openid=" .. user, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %%d, \"duration_us\": %%d, \"p50_us\": %%d, \"p99_us\": %%d, \"p999_us\": %%d, " ..
    "\"max_us\": %%d, \"non2xx\": %%d, \"connect\": %%d, \"read\": %%d, \"write\": %%d, \"timeout\": %%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


GC_HOOK = """import gc, os, time
_path = os.environ.get("UNIONBOT_BENCH_GC_LOG")
if _path:
    _t = [0.0]
    def _cb(phase, info, _t=_t):
        if phase == "start":
            _t[0] = time.perf_counter()
        else:
            with open(_path, "a") as f:
                f.write(f"{os.getpid()} {time.time():.3f} {info['generation']} {(time.perf_counter() - _t[0]) * 1000:.3f}\\n")
    gc.callbacks.append(_cb)
"""


def gc_summary(path: Path, t0: float, t1: float) -> str:
    """Collections of the serving process between t0 and t1 by generation: count, total and max pause."""
    by: dict[int, list[float]] = {}
    pids: dict[str, int] = {}
    rows = []
    for ln in path.read_text().splitlines() if path.exists() else []:
        pid, t, gen, ms = ln.split()
        pids[pid] = pids.get(pid, 0) + 1
        rows.append((pid, float(t), int(gen), float(ms)))
    busiest = max(pids, key=pids.get) if pids else None
    for pid, t, gen, ms in rows:
        if pid == busiest and t0 <= t <= t1:
            by.setdefault(gen, []).append(ms)
    return "  ".join(f"gen{g}: {len(v)} x, {sum(v):.0f} ms total, max {max(v):.1f} ms" for g, v in sorted(by.items()))


def wrk_script(directory: Path, token: str) -> Path:
    timestamp, nonce = str(int(time.time())), "benchnonce"
    sig = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    path = f"/wechat?signature={sig}&timestamp={timestamp}&nonce={nonce}"
    script = directory / "sustained.lua"
    script.write_text(LUA % {"path": path}, encoding="utf-8")
    return script


def cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def pinned(args: list[str], cpu_list: list[int]) -> list[str]:
    if shutil.which("taskset") and len(cpus()) >= 2 and cpu_list:
        return ["taskset", "-c", ",".join(map(str, cpu_list)), *args]
    return args


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def server_pid(root: int) -> int:
    """The serving process: the largest in the tree under `root` (taskset execs in place; the
    supervisor's worker is its child)."""
    tree, todo = [root], [root]
    while todo:
        kids = children(todo.pop())
        tree.extend(kids)
        todo.extend(kids)
    return max(tree, key=rss_mb)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def size_mb(path: Path) -> float:
    try:
        return path.stat().st_size / 1e6
    except OSError:
        return 0.0


def wrk_window(url: str, script: Path, connections: int, seconds: int, base: int, wrk_cpus: list[int]) -> dict:
    threads = max(1, min(len(wrk_cpus) or 1, 4))
    args = pinned(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
                   "-s", str(script), url, "--", str(base)], wrk_cpus)
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60)
    for ln in out.stdout.splitlines():
        if ln.startswith("WRKJSON "):
            r = json.loads(ln[len("WRKJSON "):])
            secs = r["duration_us"] / 1e6
            r.update(rps=r["requests"] / secs if secs else 0.0, seconds=secs, p50_ms=r["p50_us"] / 1000,
                     p99_ms=r["p99_us"] / 1000, p999_ms=r["p999_us"] / 1000, max_ms=r["max_us"] / 1000,
                     errors=r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"])
            return r
    raise RuntimeError(f"wrk printed no figures (rc {out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")


def drive(label: str, url: str, script: Path, connections: int, seconds: int, pid: int, wrk_cpus: list[int],
          db: Path | None = None) -> list[dict]:
    windows = []
    n_windows = max(1, round(seconds / WINDOW))
    base = (int(time.time() * 10) % 1_000_000) * 1_000_000_000  # MsgIds below 2^53 (Lua doubles)
    for i in range(n_windows):
        server = server_pid(pid)
        cpu0 = cpu_seconds(server)
        r = wrk_window(url, script, connections, WINDOW, base + i * 1_000_000_000, wrk_cpus)
        r["cpu"] = (cpu_seconds(server) - cpu0) / r["seconds"] if r["seconds"] else 0.0
        r["rss_mb"] = rss_mb(server_pid(pid))
        if db is not None:
            r["db_mb"], r["wal_mb"] = size_mb(db), size_mb(Path(f"{db}-wal"))
        windows.append(r)
        t = f"{(i + 1) * WINDOW:>4d} s"
        disk = f"   db {r['db_mb']:7.1f} MB  wal {r['wal_mb']:7.1f} MB" if db is not None else ""
        print(f"  {label:<5} {t}  {r['rps']:7.0f} msg/s  p50 {r['p50_ms']:6.2f}  p99 {r['p99_ms']:7.2f}"
              f"  p99.9 {r['p999_ms']:7.2f}  max {r['max_ms']:7.1f} ms  errors {r['errors']:<3d}  CPU {r['cpu'] * 100:3.0f}%"
              f"  RSS {r['rss_mb']:6.1f} MB{disk}", flush=True)
    return windows


def total_rps(windows: list[dict]) -> float:
    return sum(w["requests"] for w in windows) / sum(w["seconds"] for w in windows)


def count_done(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT count(*) FROM inbound_message").fetchone()[0])
    finally:
        conn.close()


def bench_sustained(seconds: int = 60, connections: int = 32, echo_seconds: int = 20, after: int = 15,
                    scheduler: bool = True, gc_log: bool = False) -> dict:
    if not shutil.which("wrk"):
        print("sustained: wrk is not installed (Debian/Ubuntu: apt-get install -y wrk) — bench NOT run",
              file=sys.stderr)
        return {"passed": False, "missing": "wrk"}
    all_cpus = cpus()
    server_cpus, wrk_cpus = (all_cpus[:1], all_cpus[1:]) if len(all_cpus) >= 2 else (all_cpus, all_cpus)
    pin = "pinned to CPU " + ",".join(map(str, server_cpus)) if len(all_cpus) >= 2 and shutil.which("taskset") \
        else "NOT pinned (needs taskset and 2+ CPUs)"
    print(f"sustained: full service on SQLite {seconds} s vs echo {echo_seconds} s, {connections} connections, "
          f"wrk in {WINDOW}-s windows; server {pin}")
    with tempdir() as d:
        d = Path(d)
        script = wrk_script(d, TOKEN)
        echo_port = free_port()
        with process(pinned([PY, "-m", "bench.echo", "--port", str(echo_port)], server_cpus), port=echo_port) as p:
            echo = drive("echo", f"http://127.0.0.1:{echo_port}", script, connections, echo_seconds, p.pid,
                         wrk_cpus)
        dbfile = d / "bench.db"
        db = f"sqlite+aiosqlite:///{dbfile}"
        create_schema(db)
        port = free_port()
        cfg = write_config(d, db, port, scheduler={"enabled": scheduler})  # on by default: the WAL checkpoint job runs as in production
        args = [PY, "-m", "bot.processes", "--config", str(cfg), "--workers", "1", "--log-level", "WARNING"]
        db0 = size_mb(dbfile)
        env = None
        if gc_log:  # a sitecustomize that times every collection (gc.callbacks) in the server processes
            (d / "gchook").mkdir()
            (d / "gchook" / "sitecustomize.py").write_text(GC_HOOK)
            env = {"PYTHONPATH": f"{d / 'gchook'}{os.pathsep}{ROOT}", "UNIONBOT_BENCH_GC_LOG": str(d / "gc.log")}
        with process(pinned(args, server_cpus), cwd=d, port=port, ready_path="/healthz", log=d / "server.log",
                     env=env) as p:
            time.sleep(1)
            rss0 = rss_mb(server_pid(p.pid))
            print(f"  full  start  RSS {rss0:6.1f} MB   db {size_mb(dbfile):.1f} MB  wal "
                  f"{size_mb(Path(f'{dbfile}-wal')):.1f} MB", flush=True)
            t_load = time.time()
            full = drive("full", f"http://127.0.0.1:{port}", script, connections, seconds, p.pid, wrk_cpus, dbfile)
            if gc_log:
                print("  GC pauses of the worker during the load: " + gc_summary(d / "gc.log", t_load, time.time()))
            time.sleep(after)
            rss_after = rss_mb(server_pid(p.pid))
            db_after, wal_after = size_mb(dbfile), size_mb(Path(f"{dbfile}-wal"))
            print(f"  full  +{after} s idle  RSS {rss_after:6.1f} MB   db {db_after:.1f} MB  wal {wal_after:.1f} MB",
                  flush=True)
            stored = count_done(dbfile)
            log_tail = (d / "server.log").read_text(errors="replace").splitlines()[-5:]
    ratio = total_rps(full) / total_rps(echo)
    sent = sum(w["requests"] for w in full)
    per_msg = (db_after - db0) * 1e6 / stored if stored else float("nan")  # the WAL is copied back
    worst_p99 = max(w["p99_ms"] for w in full)
    growth = full[-1]["rss_mb"] - full[0]["rss_mb"]
    checks = [
        (f"ratio full/echo {ratio:.2f}x ({total_rps(full):.0f} vs {total_rps(echo):.0f} msg/s)",
         f">= {TARGET_RATIO}x", ratio >= TARGET_RATIO),
        (f"worst window p99 {worst_p99:.1f} ms", f"< {TARGET_P99_MS:.0f} ms every window",
         worst_p99 < TARGET_P99_MS),
        (f"RSS {rss0:.0f} MB at start, {full[-1]['rss_mb']:.0f} MB at the end", f"< {TARGET_RSS_MB:.0f} MB",
         full[-1]["rss_mb"] < TARGET_RSS_MB),
        (f"RSS first -> last window {full[0]['rss_mb']:.0f} -> {full[-1]['rss_mb']:.0f} MB ({growth:+.0f})",
         f"flat (within {TARGET_RSS_GROWTH_MB:.0f} MB)", growth <= TARGET_RSS_GROWTH_MB),
        (f"WAL {wal_after:.1f} MB {after} s after the load (max during {max(w['wal_mb'] for w in full):.1f} MB)",
         f"< {TARGET_WAL_MB:.0f} MB", wal_after < TARGET_WAL_MB),
    ]
    print(f"  stored {stored} messages of {sent} sent; database file grew {db_after - db0:.1f} MB = "
          f"{per_msg:.0f} bytes per message (WAL left: {wal_after:.1f} MB); errors {sum(w['errors'] for w in full)}")
    for what, target, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}   (target {target})")
    if any("Traceback" in ln or "ERROR" in ln for ln in log_tail):
        print("  server log tail:\n    " + "\n    ".join(log_tail))
    return {"echo": echo, "full": full, "ratio": ratio, "stored": stored, "bytes_per_msg": per_msg,
            "wal_after_mb": wal_after, "rss_start_mb": rss0, "passed": all(ok for *_, ok in checks)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench sustained")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--echo-seconds", type=int, default=20)
    ap.add_argument("--no-scheduler", action="store_true", help="diagnosis: no WAL checkpoint job")
    ap.add_argument("--gc-log", action="store_true", help="diagnosis: time every GC pass in the server (gc.callbacks)")
    args = ap.parse_args(argv)
    r = bench_sustained(args.seconds, args.connections, args.echo_seconds, scheduler=not args.no_scheduler,
                        gc_log=args.gc_log)
    return 3 if r.get("missing") else 0 if r["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
