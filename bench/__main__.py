"""`python -m bench [name ...]` (what `make bench` runs): every bench, or the named ones.

Names: webhook (a), scaling (b), fanout (c), admin (d), reliability (e), hol (head-of-line blocking),
sustained (wrk for 60 s; `python -m bench sustained [--seconds 60] [--connections 32]`).
PostgreSQL benches use UNIONBOT_BENCH_DATABASE_URL, else UNIONBOT_TEST_DATABASE_URL, else
postgresql+asyncpg://postgres@127.0.0.1:5432/test.
"""
from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    if argv[:1] == ["sustained"] and len(argv) > 1:  # takes options of its own
        from bench.sustained import main as sustained_main

        return sustained_main(argv[1:])
    from bench.admin_list import bench_admin
    from bench.fanout import bench_fanout
    from bench.hol import bench_hol
    from bench.reliability import bench_reliability
    from bench.sustained import bench_sustained
    from bench.webhook import bench_scaling, bench_webhook

    benches = {"webhook": bench_webhook, "scaling": bench_scaling, "fanout": bench_fanout,
               "admin": bench_admin, "reliability": bench_reliability, "hol": bench_hol,
               "sustained": bench_sustained}
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
