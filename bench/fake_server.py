"""tests/support/fake_wechat.py's FakeWeChat as a separate process, plus a stats endpoint for benches.

    python -m bench.fake_server --port 9000 --stats-port 9001 --latency 0.05
    GET http://127.0.0.1:9001/ -> {"delivered": n, "calls": n, "duplicates": {text: count}}
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter

from aiohttp import web

from tests.support.fake_wechat import FakeWeChat


async def serve(port: int, stats_port: int, latency: float) -> None:
    fake = FakeWeChat()
    fake.latency = latency

    async def stats(_request: web.Request) -> web.Response:
        texts = Counter(d.get("text") or "" for d in fake.delivered)
        return web.json_response({"delivered": len(fake.delivered), "calls": len(fake.calls),
                                  "duplicates": {t: c for t, c in texts.items() if c > 1}})

    stats_app = web.Application()
    stats_app.router.add_get("/", stats)
    runners = []
    for app, p in ((fake.make_app(), port), (stats_app, stats_port)):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", p).start()
        runners.append(runner)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fake_server")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stats-port", type=int, required=True)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args(argv)
    try:
        asyncio.run(serve(args.port, args.stats_port, args.latency))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
