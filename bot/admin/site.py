"""The staff admin site: an aiohttp sub-application mounted at /admin.

    admin_app = create_admin_app(settings, sessionmaker, clock, services, features)
    app.add_subapp("/admin", admin_app)

Each feature manifest (`bot.feature.Feature`) may bring `admin(admin_app)`, which adds its
routes, its `nav` entries, a `templates` folder and a `todos` counter for the 工作台. Pages
use the helpers of `bot.admin.web`. Every POST form carries
`<input type="hidden" name="_csrf" value="{{ csrf_token }}">`; every staff action is written
with `bot.admin.audit.record`.
"""
from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from collections.abc import Sequence

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import keys
from bot.admin import audit_page, auth, breadcrumbs, csrf, filters, headers, home, nav, permissions
from bot.admin import account, errors, sessions, staff_admin, throttle, uploads
from bot.admin import staff as staff_ops
from bot.admin.web import CLOCK, SERVICES, SESSIONMAKER, SETTINGS, THROTTLE, layout_processor, render_error
from bot.clock import Clock
from bot.config import Settings
from bot.feature import Feature

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
COOKIE_NAME = sessions.COOKIE  # the staff session cookie: a random token, the session is in the database


def _proxy_warning(settings: Settings) -> None:
    """behind_proxy trusts the last X-Forwarded-For hop: only the proxy may reach the port."""
    host = settings.server.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if settings.server.behind_proxy and not loopback:
        log.warning("server.behind_proxy is set and server.host is %s: make sure only the proxy can reach "
                    "port %d (firewall), or anyone can forge X-Forwarded-For (see docs/deploy.md)",
                    host, settings.server.port)


async def _first_start_hint(app: web.Application) -> None:
    try:
        async with app[SESSIONMAKER]() as db:
            if not await staff_ops.any_staff(db):
                log.warning(auth.NO_STAFF_LOG)
    except Exception:  # the database may be down at start: /readyz reports it; don't refuse to start
        log.exception("could not check for staff accounts at start")


@web.middleware
async def _security_headers(request: web.Request, handler):  # noqa: ANN001
    if request.path == nav.ADMIN_PREFIX:  # "/admin" → "/admin/" (the home route)
        raise web.HTTPFound(nav.ADMIN_PREFIX + "/")
    # CSP with a per-response nonce (templates: csp_nonce), no-store, no framing: bot/admin/headers.py
    return await headers.apply(request, handler)


@web.middleware
async def _csrf_middleware(request: web.Request, handler):  # noqa: ANN001
    if request.method in csrf.SAFE_METHODS:
        return await handler(request)
    expected = csrf.expected_tokens(request, public_route=auth._route_name(request) in auth.PUBLIC_ROUTES)
    sent = await csrf.sent_token(request)
    if not csrf.matches(expected, sent):
        back = request.headers.get("Referer", "")
        link = request.rel_url.path if request.rel_url.path.endswith("/login") else ""
        if not link and back.split("://", 1)[-1].split("/", 1)[0] == request.host:
            link = back
        return await render_error(request, 403, "页面已过期或来源不明",
                                  "为了安全，这次提交没有生效。请返回上一页，刷新后再试一次。", link=link or "/admin/")
    return await handler(request)


def create_admin_app(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    services: dict | None = None,
    features: Sequence[Feature] = (),
) -> web.Application:
    """Build the admin sub-application (mount it at /admin) with the features' pages."""
    _proxy_warning(settings)
    app = web.Application(middlewares=[
        _security_headers, errors.error_middleware,  # every error inside /admin as a Chinese page
        sessions.session_middleware, auth.login_required_middleware, uploads.body_limit_middleware, _csrf_middleware,
        permissions.permission_middleware,  # after the login: every route allowed or refused in one place
    ])
    app[SETTINGS] = settings
    app[SESSIONMAKER] = sessionmaker
    app[CLOCK] = clock
    app[SERVICES] = dict(services or {})
    app[THROTTLE] = throttle.Throttle(throttle.Policy.from_settings(settings.admin))
    app[keys.ADMIN_FEATURES] = list(features)
    app[keys.ADMIN_NAV] = nav.build([home.NAV, audit_page.NAV, *(e for f in features for e in f.nav)])

    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader([str(TEMPLATES), *(str(f.templates) for f in features if f.templates)]),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        context_processors=[layout_processor, csrf.csrf_processor, permissions.template_processor,
                            headers.csp_processor],
    )
    env.filters["localtime"] = filters.make_localtime(settings.app.timezone)
    env.filters["mask"] = filters.mask
    env.globals["with_query"] = filters.with_query  # a global, so imported macros see it too
    env.globals["breadcrumb_trail"] = breadcrumbs.trail  # base.html: 工作台 › 帮扶审核 › BF-2026-0012

    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    auth.setup_routes(app)
    home.setup(app)
    account.setup(app)  # /admin/me: own password and sessions (every staff member)
    staff_admin.setup(app)  # /admin/staff (admin role)
    audit_page.setup(app)  # /admin/audit (admin role)
    app[permissions.ROUTE_OWNERS] = {}
    for feature in features:
        if feature.admin is not None:
            before = list(app.router.resources())
            feature.admin(app)
            permissions.record_owners(app, feature, before)  # the feature's routes need its role
    app.on_startup.append(_first_start_hint)
    return app
