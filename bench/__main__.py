"""`python -m bench [name ...]` (what `make bench` runs): every bench, or the named ones.

Names: webhook (a), scaling (b), fanout (c), admin (d), reliability (e), hol (head-of-line blocking),
sustained (wrk for 60 s; `python -m bench sustained [--seconds 60] [--connections 32]`),
soak (mixed real flows for 10 minutes; `python -m bench soak [--minutes 10]`), crash (SIGKILL under
load; `python -m bench crash [--rounds 5]`).
PostgreSQL benches use UNIONBOT_BENCH_DATABASE_URL, else UNIONBOT_TEST_DATABASE_URL, else
postgresql+asyncpg://postgres@127.0.0.1:5432/test.
"""
from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[0] in ("sustained", "soak", "crash"):  # these take options of their own
        import importlib

        return importlib.import_module(f"bench.{argv[0]}").main(argv[1:])
    if len(argv) > 1 and argv[0] == "scaling":  # `--workers-list 1,2,4` and the like
        from bench.webhook import main as webhook_main

        return webhook_main(argv)
    from bench.admin_list import bench_admin
    from bench.crash import bench_crash
    from bench.fanout import bench_fanout
    from bench.hol import bench_hol
    from bench.reliability import bench_reliability
    from bench.soak import bench_soak
    from bench.sustained import bench_sustained
    from bench.webhook import bench_scaling, bench_webhook

    benches = {"webhook": bench_webhook, "scaling": bench_scaling, "fanout": bench_fanout,
               "admin": bench_admin, "reliability": bench_reliability, "hol": bench_hol,
               "sustained": bench_sustained, "soak": bench_soak, "crash": bench_crash}
    names = argv or list(benches)
    unknown = [n for n in names if n not in benches]
    if unknown:
        print(f"unknown bench {unknown[0]!r}; choose from: {', '.join(benches)}", file=sys.stderr)
        return 2
    for name in names:
        t0 = time.monotonic()
        benches[name]()
        print(f"  ({name}: {time.monotonic() - t0:.0f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
