"""What admin pages use: the admin app's keys, rendering, flash messages, sessions.

A feature's admin module imports from here (never from `bot.admin.site`, which builds the
admin app): `render(request, "hardship/list.html", {...})`, `await flash(request, "已保存")`,
`async with db_session(request) as db, db.begin(): ...`, `request.app[CLOCK].now()`.
"""
from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot import keys
from bot.admin import csrf, nav, permissions
from bot.admin.sessions import request_session
from bot.operations import OpsContext

SETTINGS = keys.ADMIN_SETTINGS
SESSIONMAKER = keys.ADMIN_SESSIONMAKER
CLOCK = keys.ADMIN_CLOCK
SERVICES = keys.ADMIN_SERVICES
THROTTLE = keys.ADMIN_THROTTLE


def render(request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200) -> web.Response:
    """Render an admin template (the base layout needs the request's context processors)."""
    return aiohttp_jinja2.render_template(template, request, context or {}, status=status)


async def render_error(request: web.Request, status: int, title: str, message: str, *, link: str = "") -> web.Response:
    """A short Chinese error page; usable from middlewares that run before the context processors."""
    if aiohttp_jinja2.REQUEST_CONTEXT_KEY not in request:
        request[aiohttp_jinja2.REQUEST_CONTEXT_KEY] = {
            **await layout_processor(request), **await csrf.csrf_processor(request),
        }
    return aiohttp_jinja2.render_template(
        "error.html", request, {"title": title, "message": message, "link": link, "status": status}, status=status,
    )


async def flash(request: web.Request, message: str, kind: str = "ok") -> None:
    """Show `message` once on the next page rendered (kind: ok | warn | error). Kept in the
    staff member's server-side session; without a login there is nowhere to keep it."""
    request_session(request).flash(kind, message)


def ops_context(request: web.Request) -> OpsContext:
    """The context a feature operation takes, acting as the logged-in staff member."""
    staff = request.get(keys.REQUEST_STAFF)
    return OpsContext(request.app[CLOCK], request.app[SETTINGS], request.app[SERVICES],
                      staff_id=getattr(staff, "id", None))


def db_session(request: web.Request) -> AsyncSession:
    """A new database session: `async with db_session(request) as db, db.begin(): ...`."""
    return request.app[SESSIONMAKER]()


async def layout_processor(request: web.Request) -> dict[str, Any]:
    state = request_session(request)

    def flashes() -> list[tuple[str, str]]:
        # Popped only when a page actually renders them, so a redirect keeps them.
        return state.pop_flashes()

    return {
        "request": request,
        "staff": request.get(keys.REQUEST_STAFF),
        "csp_nonce": request.get(keys.CSP_NONCE, ""),  # <script nonce="{{ csp_nonce }}"> (bot/admin/headers.py)
        "nav_entries": [e for e in nav.entries(request.app[keys.ADMIN_NAV]) if permissions.may_open(request, e.path)],
        "nav_active": nav.active_path(request.app[keys.ADMIN_NAV], request.path),
        "nav_badges": await nav.badges(request),
        "flashes": flashes,
    }
