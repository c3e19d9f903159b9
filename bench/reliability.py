"""Reliability: 1,000 messages each delivered 3 times to `serve --workers 2` on PostgreSQL while a
worker is SIGKILLed mid-run (the supervisor restarts it), and 2,000 queued outbox rows are being
sent to the fake WeChat API (50 ms per call) at the same time.

Checks: every message that got a 200 is persisted; no message processed twice (all 200 replies
to one MsgId are the same bytes, one dedup row each); no outbox row sent twice. Rows the killed
worker had claimed are not resent as customer-service messages: they end `uncertain` for staff
to check (see bot/delivery.py); the run also says how many of those WeChat had in fact received.

    python -m bench reliability [--n 1000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from bench.common import (PY, ROOT, TOKEN, create_schema, fake_stats, free_port, pg_database, process, seed_outbox,
                          tempdir, write_config)


def worker_pids(port: int, tries: int = 20) -> set[str]:
    pids = set()
    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                pids.add(r.headers["X-Unionbot-Worker"])
        except OSError:
            pass
    return pids


async def seed(db: str, rows: int) -> None:
    from bot.clock import Clock
    from bot.db.engine import make_engine, make_sessionmaker

    eng = make_engine(db)
    async with make_sessionmaker(eng)() as s, s.begin():
        await seed_outbox(s, "rel", rows, Clock().now())
    await eng.dispose()


async def db_state(db: str) -> tuple[dict[str, str], dict[str, int]]:
    from sqlalchemy import func, select

    import bot.db.models  # noqa: F401
    from bot.db.engine import make_engine
    from bot.db.models import InboundMessage, Outbox

    eng = make_engine(db)
    async with eng.connect() as conn:
        inbound = {k: st for k, st in (await conn.execute(select(InboundMessage.key, InboundMessage.status))).all()}
        outbox = dict((await conn.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all())
    await eng.dispose()
    return inbound, outbox


def bench_reliability(n: int = 1000, outbox_rows: int = 2000, wait_outbox: float = 150.0) -> dict:
    print(f"(e) reliability: {n} messages x 3 deliveries, 2 workers on PostgreSQL, one SIGKILLed mid-run; "
          f"{outbox_rows} outbox rows sent meanwhile")
    with pg_database() as db, tempdir() as d:
        d = Path(d)
        create_schema(db)
        asyncio.run(seed(db, outbox_rows))
        port, fport, sport = free_port(), free_port(), free_port()
        cfg = write_config(d, db, port, scheduler={"enabled": False},
                           wechat={"token": TOKEN, "app_id": "wxfake", "app_secret": "fake-secret",
                                   "api_base_url": f"http://127.0.0.1:{fport}"})
        record = d / "record.jsonl"
        with process([PY, "-m", "bench.fake_server", "--port", str(fport), "--stats-port", str(sport),
                      "--latency", "0.05"], port=sport, ready_path="/"), \
             process([PY, "-m", "bot.processes", "--config", str(cfg), "--workers", "2", "--log-level", "WARNING"],
                     cwd=d, port=port, ready_path="/healthz", log=d / "server.log"):
            pids = worker_pids(port)
            load = subprocess.Popen([PY, "-m", "bench.load", "--url", f"http://127.0.0.1:{port}/wechat",
                                     "--n", str(n), "--warmup", "0", "--repeat", "3", "--concurrency", "32",
                                     "--token", TOKEN, "--record", str(record)], cwd=ROOT,
                                    stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
            time.sleep(2.0)
            victim = sorted(pids)[0]
            os.kill(int(victim), signal.SIGKILL)
            killed_at = time.monotonic()
            print(f"  SIGKILLed worker pid {victim} during the run")
            result = json.loads(load.communicate()[0].decode().strip().splitlines()[-1])
            deadline = time.monotonic() + wait_outbox
            while time.monotonic() < deadline:  # rows claimed by the dead worker come back after their claim
                _, outbox = asyncio.run(db_state(db))
                if not outbox.get("pending") and not outbox.get("sending"):
                    break
                time.sleep(2)
            after = worker_pids(port)
            fake = fake_stats(sport)
        inbound, outbox = asyncio.run(db_state(db))
        lines = [json.loads(x) for x in record.read_text(encoding="utf-8").splitlines()]
    replies: dict[str, set[str]] = defaultdict(set)
    ok: set[str] = set()
    for x in lines:
        if x["status"] == "200":
            ok.add(x["msg_id"])
            if x["reply"] and x["reply"] != "success":
                replies[x["msg_id"]].add(x["reply"])
    lost = [m for m in ok if f"m:{m}" not in inbound or inbound[f"m:{m}"] == "processing"]
    differing = [m for m, r in replies.items() if len(r) > 1]
    print(f"  requests {result['n']}: statuses {result['statuses']}; worker restarted: "
          f"{victim not in after and len(after) == 2} (now {sorted(after)})")
    print(f"  messages answered 200 at least once: {len(ok)} of {n}; persisted: {len(ok) - len(lost)}; "
          f"LOST: {len(lost)}")
    print(f"  messages with different replies across deliveries (processed twice): {len(differing)}")
    print(f"  outbox rows by status {outbox}; fake WeChat received {fake['delivered']} messages, "
          f"SENT TWICE: {len(fake['duplicates'])}  (outbox settled {time.monotonic() - killed_at:.0f} s after the kill)")
    uncertain = outbox.get("uncertain", 0)
    arrived = fake["delivered"] - sum(c - 1 for c in fake["duplicates"].values()) - outbox.get("sent", 0)
    print(f"  rows left 'uncertain' for staff (claimed by the killed worker): {uncertain}; "
          f"of those WeChat had in fact received: {arrived}")
    return {"lost": len(lost), "twice": len(differing), "outbox_dups": len(fake["duplicates"]), "ok": len(ok),
            "statuses": result["statuses"], "outbox": outbox}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.reliability")
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args(argv)
    r = bench_reliability(args.n)
    return 0 if not (r["lost"] or r["twice"] or r["outbox_dups"]) else 1


if __name__ == "__main__":
    sys.exit(main())
