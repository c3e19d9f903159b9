"""CSRF protection: one random token per session, required on every unsafe request.

Forms carry it as `<input type="hidden" name="_csrf" value="{{ csrf_token }}">`;
scripts send the `X-CSRF-Token` header. A mismatch answers 403 with a Chinese page.
The login page creates a pre-session so the login POST is protected as well.
(aiohttp has no maintained CSRF middleware that fits aiohttp-session, so this
small one is written here.)
"""
from __future__ import annotations

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


async def sent_token(request: web.Request) -> str:
    token = request.headers.get(HEADER, "")
    if token:
        return token
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # request.post() caches the parsed body, so handlers can call it again.
        form = await request.post()
        value = form.get(FIELD, "")
        return value if isinstance(value, str) else ""
    return ""
