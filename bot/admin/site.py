"""The staff admin site: an aiohttp sub-application mounted at /admin.

    admin_app = create_admin_app(settings, sessionmaker, clock, services)
    app.add_subapp("/admin", admin_app)

Page modules (listed in `bot.admin.pages.PAGE_MODULES`) each expose
`setup(admin_app)`, which adds routes and calls `nav.register(...)`. Handlers
reach shared objects through the app keys below, e.g.
`request.app[SESSIONMAKER]`, `request.app[CLOCK].now()`, and render with
`render(request, "feature/list.html", {...})`. Every POST form carries
`<input type="hidden" name="_csrf" value="{{ csrf_token }}">`; every staff
action is written with `bot.admin.audit.record`.
"""
from __future__ import annotations

import hashlib
import importlib
import logging
import secrets
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin import auth, csrf, filters, nav
from bot.admin import staff as staff_ops
from bot.clock import Clock
from bot.config import Settings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
COOKIE_NAME = "unionbot_admin"
FLASH_KEY = "flash"

SETTINGS = web.AppKey("admin_settings", Settings)
SESSIONMAKER = web.AppKey("admin_sessionmaker", async_sessionmaker)
CLOCK = web.AppKey("admin_clock", Clock)
SERVICES = web.AppKey("admin_services", dict)
THROTTLE = web.AppKey("admin_throttle", auth.FailureCounter)


def session_key(secret_key: str) -> bytes:
    """32 bytes for the cookie cipher: SHA-256 of the configured secret, or random."""
    if secret_key:
        return hashlib.sha256(secret_key.encode("utf-8")).digest()
    log.warning(
        "admin.secret_key is empty: using a random key for this process; "
        "staff sessions will not survive a restart (set admin.secret_key or UNIONBOT_ADMIN_SECRET_KEY)"
    )
    return secrets.token_bytes(32)


def render(request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200) -> web.Response:
    """Render an admin template (the base layout needs the request's context processors)."""
    return aiohttp_jinja2.render_template(template, request, context or {}, status=status)


async def render_error(request: web.Request, status: int, title: str, message: str, *, link: str = "") -> web.Response:
    """A short Chinese error page; usable from middlewares that run before the context processors."""
    if aiohttp_jinja2.REQUEST_CONTEXT_KEY not in request:
        request[aiohttp_jinja2.REQUEST_CONTEXT_KEY] = {
            **await _layout_processor(request), **await csrf.csrf_processor(request),
        }
    return aiohttp_jinja2.render_template(
        "error.html", request, {"title": title, "message": message, "link": link, "status": status}, status=status,
    )


async def flash(request: web.Request, message: str, kind: str = "ok") -> None:
    """Show `message` once on the next page rendered (kind: ok | warn | error)."""
    session = await get_session(request)
    session[FLASH_KEY] = [*session.get(FLASH_KEY, []), [kind, message]][-5:]


def page_number(request: web.Request) -> int:
    """The `?page=` of a paginated list (1 when missing or not a number)."""
    try:
        return max(1, int(request.query.get("page", "1")))
    except ValueError:
        return 1


def db_session(request: web.Request) -> AsyncSession:
    """A new database session: `async with db_session(request) as db, db.begin(): ...`."""
    return request.app[SESSIONMAKER]()


async def _layout_processor(request: web.Request) -> dict[str, Any]:
    session = await get_session(request)

    def flashes() -> list[tuple[str, str]]:
        # Popped only when a page actually renders them, so a redirect keeps them.
        return [tuple(x) for x in session.pop(FLASH_KEY, [])]

    return {
        "request": request,
        "staff": request.get(auth.REQUEST_STAFF),
        "nav_entries": nav.entries(),
        "nav_active": nav.active_path(request.path),
        "flashes": flashes,
    }


def _load_page_modules(app: web.Application) -> None:
    from bot.admin.pages import PAGE_MODULES, home

    home.setup(app)
    for name in PAGE_MODULES:
        dotted = name if "." in name else f"bot.admin.pages.{name}"
        try:
            module = importlib.import_module(dotted)
        except ImportError as exc:
            raise RuntimeError(f"admin page module {dotted!r} listed in PAGE_MODULES cannot be imported: {exc}") from exc
        setup = getattr(module, "setup", None)
        if not callable(setup):
            raise RuntimeError(f"admin page module {dotted!r} has no setup(admin_app) function")
        setup(app)


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


def create_admin_app(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    services: dict | None = None,
) -> web.Application:
    """Build the admin sub-application (mount it at /admin)."""
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
        _security_headers, session_middleware(storage), auth.login_required_middleware, csrf.csrf_middleware,
    ])
    app[SETTINGS] = settings
    app[SESSIONMAKER] = sessionmaker
    app[CLOCK] = clock
    app[SERVICES] = dict(services or {})
    app[THROTTLE] = auth.FailureCounter(settings.admin.login_max_failures, settings.admin.login_lockout_seconds)

    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        context_processors=[_layout_processor, csrf.csrf_processor],
    )
    env.filters["localtime"] = filters.make_localtime(settings.scheduler.timezone)
    env.filters["mask"] = filters.mask
    env.globals["with_query"] = filters.with_query  # a global, so imported macros see it too

    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    auth.setup_routes(app)
    _load_page_modules(app)
    app.on_startup.append(_first_start_hint)
    return app
