"""Request bodies in the admin: its own size limit and the Chinese page past it.

The admin takes bigger bodies than the webhook: question banks, chair registries and photos
(`[server] admin_max_body`, default 10 MB, against the webhook's 64 KB `max_body`). aiohttp
reads every request's limit from the top-level application, which `bot.app` sets to the
admin's; the webhook caps its own body (bot/wechat/webhook.py).

A body over the limit — declared in Content-Length, or found while `request.post()` reads
it (the CSRF check or the page) — gets the site's 413 page in Chinese, never aiohttp's
English «Maximum request body size … exceeded». The site adds `body_limit_middleware` after
the login check and before the CSRF check.
"""
from __future__ import annotations

import logging

from aiohttp import web

from bot.admin.web import SETTINGS, render_error

log = logging.getLogger(__name__)


def admin_limit(request: web.Request) -> int:
    """The admin's body limit in bytes (configured; never above what aiohttp itself accepts)."""
    configured = request.app[SETTINGS].server.admin_max_body
    return min(configured, request.client_max_size) if request.client_max_size else configured


def size_text(n: int) -> str:
    """10485760 → "10 MB", 65536 → "64 KB"."""
    if n >= 1024 * 1024:
        mb = n / (1024 * 1024)
        return f"{mb:.0f} MB" if mb >= 10 or mb.is_integer() else f"{mb:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


def _back_link(request: web.Request) -> str:
    """The page the form was on (same site only), else the 工作台."""
    back = request.headers.get("Referer", "")
    if back and back.split("://", 1)[-1].split("/", 1)[0] == request.host:
        return back
    return "/admin/"


async def too_large(request: web.Request) -> web.Response:
    limit = admin_limit(request)
    log.warning("admin %s %s refused: body over %d bytes (declared %s)", request.method, request.path, limit,
                request.content_length)
    return await render_error(
        request, 413, "文件太大了",
        f"这次提交的内容超过了 {size_text(limit)} 的上限，没有保存。请把文件拆成几个较小的文件，"
        "或把照片压缩后再试一次。", link=_back_link(request))


@web.middleware
async def body_limit_middleware(request: web.Request, handler):  # noqa: ANN001, ANN201
    if request.can_read_body and request.content_length is not None and request.content_length > admin_limit(request):
        return await too_large(request)  # refused before reading a byte of it
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:  # raised by request.post() / read() past the limit
        return await too_large(request)
