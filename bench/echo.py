"""The baseline: a minimal aiohttp + wechatpy webhook that checks the signature, parses the
message and renders a text reply — no database, no dispatch.

    python -m bench.echo --port 8081 --token unionbot-bench-token
"""
from __future__ import annotations

import argparse
import sys

from aiohttp import web
from wechatpy import parse_message
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature


def make_app(token: str, path: str = "/wechat") -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        q = request.query
        try:
            check_signature(token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", ""))
        except InvalidSignatureException:
            return web.Response(status=403, text="forbidden")
        msg = parse_message(await request.read())
        reply = TextReply(content=f"收到：{getattr(msg, 'content', '')}", message=msg).render()
        return web.Response(body=reply.encode("utf-8"), content_type="application/xml")

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post(path, receive)
    return app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.echo")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--token", default="unionbot-bench-token")
    args = ap.parse_args(argv)
    web.run_app(make_app(args.token), host=args.host, port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
