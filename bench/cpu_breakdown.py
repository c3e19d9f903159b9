"""Where a message's CPU time goes: the pipeline run in-process, one message after another
(no HTTP, no load process), against the echo baseline's work (signature, parse, render).

With one SQLite connection, the database is held for a whole transaction, so sequential CPU per
message bounds throughput: msgs/s <= 1 / (seconds per message).

    python -m bench.cpu_breakdown [--n 2000] [--text 你好]   (default: the load's mix of texts)
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict

from bench.common import ROOT, TOKEN, create_schema, tempdir
from bench.load import TEXTS, body, signed_params


def by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (tottime) grouped by top-level package of the function's file."""
    groups: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        f = filename.replace("\\", "/")
        if "site-packages/" in f:
            key = f.split("site-packages/")[1].split("/")[0]
        elif f.startswith(str(ROOT)) or f.startswith(("bot", "handlers")):
            key = "unionbot:" + "/".join(f.split("/")[-2:])
        elif f.startswith("<") or "/python3.11/" in f:
            key = "stdlib/builtins"
        else:
            key = f
        groups[key] += tt
    return sorted(groups.items(), key=lambda kv: -kv[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cpu_breakdown")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=1,
                    help="messages in flight at once (32: batches as under load; CPU time, not wall time)")
    ap.add_argument("--text", help="one text for every message (default: bench/load.py's mix, as the load sends it)")
    args = ap.parse_args(argv)
    from multidict import MultiDict
    from wechatpy import parse_message
    from wechatpy.replies import TextReply
    from wechatpy.utils import check_signature

    from bot.app import create_app

    from bot.keys import PROCESSOR
    from bot.config import build_settings
    from bot.wechat.codec import Codec

    params = signed_params(TOKEN)
    msgs = [body(f"oCpu{i % 1000:05d}", 7_000_000_000 + i, args.text or TEXTS[i % len(TEXTS)])
            for i in range(args.n + 200)]

    # echo baseline work
    t0 = time.process_time()
    for b in msgs[: args.n]:
        check_signature(TOKEN, params["signature"], params["timestamp"], params["nonce"])
        m = parse_message(b)
        TextReply(content="收到", message=m).render()
    echo_s = (time.process_time() - t0) / args.n

    with tempdir() as d:
        db = f"sqlite+aiosqlite:///{d}/cpu.db"
        create_schema(db)
        os.chdir(d)
        settings = build_settings({"wechat": {"token": TOKEN}, "database": {"url": db},
                                   "admin": {"secret_key": "bench-secret-key-0123456789abcdef"}}, env={})
        prof = cProfile.Profile()

        async def run() -> float:
            app = create_app(settings, background=False, scheduler=False)
            proc = app[PROCESSOR]
            codec = Codec(TOKEN, "", "", proc.clock)
            q = MultiDict(params)

            async def feed(bodies: list[bytes]) -> None:
                it = iter(bodies)

                async def lane() -> None:
                    for b in it:
                        await proc.handle(codec.decode(q, b))
                await asyncio.gather(*(lane() for _ in range(args.concurrency)))

            await feed(msgs[args.n:])  # warm-up
            half = args.n // 2
            t = time.process_time()
            await feed(msgs[:half])  # unprofiled: the real cost
            dt = (time.process_time() - t) / half
            prof.enable()
            await feed(msgs[half: args.n])  # profiled: where it goes
            prof.disable()
            await proc.drain()
            return dt

        full_s = asyncio.run(run())
        os.chdir("/")
    st = pstats.Stats(prof)
    total = sum(v for _k, v in by_package(st))
    print(f"echo work per message:      {echo_s * 1e3:.3f} ms  -> at most {1 / echo_s:,.0f} msg/s on one core")
    print(f"pipeline CPU per message ({args.concurrency} in flight): {full_s * 1e3:.3f} ms  (unprofiled)  -> at most {1 / full_s:,.0f} msg/s")
    print(f"pipeline / echo CPU = {full_s / echo_s:.1f}x")
    print("own time by package (cProfile, share of profiled time):")
    for k, v in by_package(st)[:14]:
        print(f"  {k:<42} {100 * v / total:5.1f}%")
    print("top functions by own time:")
    st.sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
