"""CSRF protection: one random token per session, required on every unsafe request.

Forms carry it as `<input type="hidden" name="_csrf" value="{{ csrf_token }}">`;
scripts send the `X-CSRF-Token` header. A mismatch answers 403 with a Chinese page.
The login page creates a pre-session so the login POST is protected as well.
(aiohttp has no maintained CSRF middleware that fits aiohttp-session, so this
small one is written here.)
"""
from __future__ import annotations

import hmac
import secrets

from aiohttp import web
from aiohttp_session import Session, get_session

FIELD = "_csrf"
HEADER = "X-CSRF-Token"
SESSION_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def ensure_token(session: Session) -> str:
    token = session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def rotate_token(session: Session) -> str:
    session[SESSION_KEY] = secrets.token_urlsafe(32)
    return session[SESSION_KEY]


async def csrf_processor(request: web.Request) -> dict[str, str]:
    """Jinja2 context processor: `{{ csrf_token }}` in every template."""
    return {"csrf_token": ensure_token(await get_session(request))}


async def _sent_token(request: web.Request) -> str:
    token = request.headers.get(HEADER, "")
    if token:
        return token
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # request.post() caches the parsed body, so handlers can call it again.
        form = await request.post()
        value = form.get(FIELD, "")
        return value if isinstance(value, str) else ""
    return ""


@web.middleware
async def csrf_middleware(request: web.Request, handler):  # noqa: ANN001
    if request.method in SAFE_METHODS:
        return await handler(request)
    expected = (await get_session(request)).get(SESSION_KEY, "")
    sent = await _sent_token(request)
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        from bot.admin.site import render_error  # late import: site imports this module

        back = request.headers.get("Referer", "")
        link = request.rel_url.path if request.rel_url.path.endswith("/login") else ""
        if not link and back.split("://", 1)[-1].split("/", 1)[0] == request.host:
            link = back
        return await render_error(request, 403, "页面已过期或来源不明",
                                  "为了安全，这次提交没有生效。请返回上一页，刷新后再试一次。", link=link or "/admin/")
    return await handler(request)
