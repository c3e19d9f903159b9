"""The WeChat webhook view: GET for the server check, POST for messages and events.

The view only moves bytes: it caps the body, lets the codec verify and decode it, hands the
`Incoming` to the processor and wraps the processor's plain reply XML for this delivery.
A processor failure is never a 500: WeChat would retry and then tell the user the account is
broken, so the view answers `success` and logs the dedup key.
"""
from __future__ import annotations

import logging
from typing import Protocol

from aiohttp import web

from bot.core.types import Incoming
from bot.wechat.codec import SUCCESS, TEXT_TYPE, XML_TYPE, Codec, CodecError, TooLarge

log = logging.getLogger("unionbot.webhook")

_CHUNK = 16 * 1024


class Processor(Protocol):
    async def handle(self, incoming: Incoming) -> bytes | None:
        """Return the plain reply XML (see `Codec.render_plain`), or None for `success`."""


def _text(status: int, body: str) -> web.Response:
    return web.Response(status=status, text=body, content_type=TEXT_TYPE)


def _success() -> web.Response:
    return web.Response(body=SUCCESS, content_type=TEXT_TYPE)


async def read_capped(request: web.Request, max_body: int) -> bytes:
    """Read the whole body, refusing more than `max_body` bytes (declared or actual)."""
    declared = request.content_length
    if declared is not None and declared > max_body:
        raise TooLarge("body too large")
    if declared is not None:  # the HTTP parser ends the body at the declared length: one read
        return await request.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_body:
            raise TooLarge("body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def add_webhook_routes(
    app: web.Application, path: str, codec: Codec, processor: Processor, max_body: int
) -> None:
    """Mount GET (server check) and POST (messages) on `path`."""

    async def verify(request: web.Request) -> web.Response:
        try:
            echo = codec.verify_echo(request.query)
        except CodecError as exc:
            log.warning("webhook GET refused: %s (from %s)", exc.reason, request.remote)
            return _text(exc.status, exc.reason)
        return _text(200, echo)

    async def receive(request: web.Request) -> web.Response:
        try:
            body = await read_capped(request, max_body)
            incoming = codec.decode(request.query, body)
        except CodecError as exc:
            log.warning("webhook POST refused: %s (from %s)", exc.reason, request.remote)
            return _text(exc.status, exc.reason)
        try:
            plain = await processor.handle(incoming)
            if not plain:
                return _success()
            reply = codec.wrap(plain, request.query)
        except Exception:
            log.exception("processing failed for %s; answered success", incoming.dedup_key)
            return _success()
        return web.Response(body=reply, content_type=XML_TYPE, charset="utf-8")

    app.router.add_get(path, verify)
    app.router.add_post(path, receive)
