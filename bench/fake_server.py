"""tests/support/fake_wechat.py's FakeWeChat as a separate process, plus a stats endpoint for benches.

    python -m bench.fake_server --port 9000 --stats-port 9001 --latency 0.05
    GET http://127.0.0.1:9001/ -> {"delivered": n, "calls": n, "duplicates": {text: count},
                                   "faults": {kind: n}, "tokens_expired": n, "repeated_pairs": n}

Random faults (off by default; used by `python -m bench soak`): `--fault-rate 0.1` makes that
share of the calls to message sends and media downloads fail, each one way picked at random:
HTTP 500 or 503, no answer until `--fault-timeout` seconds (past the client's timeout; nothing
delivered), errcode -1 (system busy) or 45015 (the user's window is closed).
`--expire-tokens-every 60` invalidates every access token that often (the next call gets 40001).
`--media-kb 64` serves every photo (media/get) as a JPEG of that size instead of the tiny default.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections import Counter

from aiohttp import web

from tests.support.fake_wechat import JPEG_BYTES, FakeWeChat


FAULT_PATHS = ("/message/custom/send", "/message/template/send", "/media/get")
FAULT_KINDS = ("http500", "http503", "timeout", "errcode-1", "errcode45015")


def fault_middleware(rate: float, timeout: float, counts: Counter, seed: int = 15):  # noqa: ANN201
    """Fails `rate` of the calls to FAULT_PATHS, before the fake records or delivers anything."""
    rng = random.Random(seed)

    @web.middleware
    async def faults(request: web.Request, handler):  # noqa: ANN001, ANN202
        if rate and request.path.endswith(FAULT_PATHS) and rng.random() < rate:
            kind = rng.choice(FAULT_KINDS)
            if kind == "errcode45015" and not request.path.endswith("/custom/send"):
                kind = "errcode-1"
            counts[kind] += 1
            if kind.startswith("http"):
                return web.Response(status=int(kind[4:]), text="injected failure")
            if kind == "timeout":
                await asyncio.sleep(timeout)
                return web.Response(status=504, text="injected timeout")
            errcode = int(kind[7:])
            return web.json_response({"errcode": errcode, "errmsg": "injected"})
        return await handler(request)

    return faults


class AnyMedia(dict):
    """FakeWeChat.media where every unknown id is one photo of the given size."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.photo = (JPEG_BYTES[:-2] + b"\x00" * max(0, size - len(JPEG_BYTES)) + b"\xff\xd9", "image/jpeg")

    def get(self, key, default=None):  # noqa: ANN001, ANN201
        return super().get(key, self.photo)


async def expire_tokens(fake: FakeWeChat, every: float, counts: Counter) -> None:
    while True:
        await asyncio.sleep(every)
        fake.expire_tokens()
        counts["tokens_expired"] += 1


async def serve(port: int, stats_port: int, latency: float, fault_rate: float = 0.0, fault_timeout: float = 12.0,
                expire_every: float = 0.0, media_kb: int = 0) -> None:
    fake = FakeWeChat()
    fake.latency = latency
    if media_kb:
        fake.media = AnyMedia(media_kb * 1024)
    faults: Counter = Counter()

    async def stats(_request: web.Request) -> web.Response:
        texts = Counter(d.get("text") or "" for d in fake.delivered)
        pairs = Counter((d["openid"], d.get("text") or repr(d.get("data") or d.get("articles")))
                        for d in fake.delivered)
        return web.json_response({"delivered": len(fake.delivered), "calls": len(fake.calls),
                                  "duplicates": {t: c for t, c in texts.items() if c > 1},
                                  "faults": {k: v for k, v in faults.items() if k != "tokens_expired"},
                                  "tokens_expired": faults["tokens_expired"],
                                  "repeated_pairs": sum(c - 1 for c in pairs.values() if c > 1),
                                  "by_path": Counter(c["path"] for c in fake.calls)})

    stats_app = web.Application()
    stats_app.router.add_get("/", stats)
    app = fake.make_app()
    if fault_rate:
        app.middlewares.insert(0, fault_middleware(fault_rate, fault_timeout, faults))
    if expire_every:
        expiring = asyncio.create_task(expire_tokens(fake, expire_every, faults))  # noqa: F841 (lives with the loop)
    runners = []
    for app, p in ((app, port), (stats_app, stats_port)):
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
    ap.add_argument("--fault-rate", type=float, default=0.0, help="share of send/media calls that fail")
    ap.add_argument("--fault-timeout", type=float, default=12.0, help="seconds a 'timeout' fault keeps the caller")
    ap.add_argument("--expire-tokens-every", type=float, default=0.0, help="invalidate access tokens this often (s)")
    ap.add_argument("--media-kb", type=int, default=0, help="size of every photo served (KB); 0: tiny")
    args = ap.parse_args(argv)
    try:
        asyncio.run(serve(args.port, args.stats_port, args.latency, args.fault_rate, args.fault_timeout,
                          args.expire_tokens_every, args.media_kb))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
