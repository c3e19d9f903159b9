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

import hashlib
import hmac
import logging
import secrets
from pathlib import Path
from collections.abc import Sequence

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import keys
from bot.admin import auth, csrf, filters, home, nav
from bot.admin import staff as staff_ops
from bot.admin.web import CLOCK, SERVICES, SESSIONMAKER, SETTINGS, THROTTLE, layout_processor, render_error
from bot.clock import Clock
from bot.config import Settings
from bot.feature import Feature

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
COOKIE_NAME = "unionbot_admin"



def session_key(secret_key: str) -> bytes:
    """32 bytes for the cookie cipher: SHA-256 of the configured secret, or random."""
    if secret_key:
        return hashlib.sha256(secret_key.encode("utf-8")).digest()
    log.warning(
        "admin.secret_key is empty: using a random key for this process; "
        "staff sessions will not survive a restart (set admin.secret_key or UNIONBOT_ADMIN_SECRET_KEY)"
    )
    return secrets.token_bytes(32)


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
    response = await handler(request)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def _csrf_middleware(request: web.Request, handler):  # noqa: ANN001
    if request.method in csrf.SAFE_METHODS:
        return await handler(request)
    expected = (await get_session(request)).get(csrf.SESSION_KEY, "")
    sent = await csrf.sent_token(request)
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
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
    storage = EncryptedCookieStorage(
        session_key(settings.admin.secret_key),  # raw 32 bytes; the storage base64-encodes them
        cookie_name=COOKIE_NAME,
        max_age=settings.admin.session_max_age,
        path=nav.ADMIN_PREFIX,
        secure=settings.server.public_url.lower().startswith("https://"),
        httponly=True,
        samesite="Lax",
    )
    app = web.Application(middlewares=[
        _security_headers, session_middleware(storage), auth.login_required_middleware, _csrf_middleware,
    ])
    app[SETTINGS] = settings
    app[SESSIONMAKER] = sessionmaker
    app[CLOCK] = clock
    app[SERVICES] = dict(services or {})
    app[THROTTLE] = auth.FailureCounter(settings.admin.login_max_failures, settings.admin.login_lockout_seconds)
    app[keys.ADMIN_FEATURES] = list(features)
    app[keys.ADMIN_NAV] = nav.build([home.NAV, *(e for f in features for e in f.nav)])

    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader([str(TEMPLATES), *(str(f.templates) for f in features if f.templates)]),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        context_processors=[layout_processor, csrf.csrf_processor],
    )
    env.filters["localtime"] = filters.make_localtime(settings.app.timezone)
    env.filters["mask"] = filters.mask
    env.globals["with_query"] = filters.with_query  # a global, so imported macros see it too

    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    auth.setup_routes(app)
    home.setup(app)
    for feature in features:
        if feature.admin is not None:
            feature.admin(app)
    app.on_startup.append(_first_start_hint)
    return app
