"""CSRF protection: one random token per staff session, required on every unsafe request.

Forms carry it as `<input type="hidden" name="_csrf" value="{{ csrf_token }}">`;
scripts send the `X-CSRF-Token` header. A mismatch answers 403 with a Chinese page.
The token of a logged-in staff member lives in their server-side session row (a new one at
every login). Before login, the login form's token is a random value also sent as a separate
cookie (double-submit), so the login POST is protected as well.
"""
from __future__ import annotations

import hmac

from aiohttp import web

from bot.admin.sessions import request_session

FIELD = "_csrf"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def token_for(request: web.Request) -> str:
    """This request's token: the staff session's, or the anonymous login form's."""
    state = request_session(request)
    return state.csrf_token if state.id is not None else state.anonymous_csrf()


async def csrf_processor(request: web.Request) -> dict[str, str]:
    """Jinja2 context processor: `{{ csrf_token }}` in every template."""
    return {"csrf_token": token_for(request)}


def expected_tokens(request: web.Request, *, public_route: bool) -> list[str]:
    """Tokens an unsafe request may carry: the session's; on a public route (the login form)
    also the anonymous one."""
    state = request_session(request)
    tokens = [state.csrf_token] if state.id is not None and state.csrf_token else []
    if public_route and state.pre_token:
        tokens.append(state.pre_token)
    return tokens


def matches(expected: list[str], sent: str) -> bool:
    ok = False
    for token in expected:
        ok |= bool(sent) and hmac.compare_digest(token.encode(), sent.encode())
    return ok


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
