"""Security headers of every admin response (the site's `_security_headers` middleware calls `apply`).

- `Content-Security-Policy` on every admin response: scripts and style sheets only from the
  site itself (`/admin/static/…`) or inline with this response's nonce; no plugins, no
  framing, forms post only to the site, no `<base>`. Templates read the nonce as
  `csp_nonce`: `<script nonce="{{ csp_nonce }}">…</script>`, `<style nonce="{{ csp_nonce }}">`.
  Inline event handlers (`onclick=`, `onsubmit=`) never run: use `data-confirm="…"` on a form
  or button (bot/admin/static/admin.js asks it), or a script with the nonce. Style attributes
  (`style="width: 40%"`, the bars of the dashboards) are allowed: they can't run code.
- `Cache-Control: no-store` on every admin response except the versioned static files: pages,
  exports and evidence photos hold personal data and must not stay in a browser's or a
  proxy's cache.
- `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`.
  `Strict-Transport-Security` is nginx's job (docs/deploy.md), as it knows the site is https.
"""
from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.keys import CSP_NONCE

STATIC_ROUTE = "static"


def content_security_policy(nonce: str) -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' 'nonce-{nonce}'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def nonce(request: web.Request) -> str:
    """This request's CSP nonce (made once per request)."""
    value = request.get(CSP_NONCE)
    if value is None:
        value = request[CSP_NONCE] = secrets.token_urlsafe(18)
    return value


async def csp_processor(request: web.Request) -> dict[str, str]:
    """Templates' `csp_nonce`."""
    return {"csp_nonce": nonce(request)}


def _is_static(request: web.Request) -> bool:
    resource = getattr(request.match_info.route, "resource", None)
    return resource is not None and resource.name == STATIC_ROUTE


def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", content_security_policy(nonce(request)))
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    if not _is_static(request):
        cache = h.get("Cache-Control", "")
        if "no-store" not in cache:
            h["Cache-Control"] = "no-store"


async def apply(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    nonce(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and plain error answers carry them too
        add_headers(request, exc)
        raise
    add_headers(request, response)
    return response
