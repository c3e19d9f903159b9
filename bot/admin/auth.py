"""Staff login and logout, and the middleware that requires a login.

Sessions are server-side (bot/admin/sessions.py). Throttling (bot/admin/throttle.py) counts
failures per (username, client address) and per address, never locks an account itself, and
answers the same — after the same work — whether or not the username exists: the password is
always checked against a hash (a dummy one for unknown names), and the failure is always
counted. The audit log gets an existing account's failure at most once per window per
(username, address), and one summary row when an address is blocked; never one row per try.

The client address is `request.remote`: behind nginx with `[server] behind_proxy = true`, the
X-Forwarded-For middleware of bot/app.py sets it from the one trusted proxy (docs/deploy.md).
"""
from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime

from aiohttp import web

from bot.admin import audit, sessions, staff as staff_ops, throttle as throttle_mod
from bot.admin.sessions import StaffUser, request_session
from bot.admin.web import CLOCK, SESSIONMAKER, SETTINGS, THROTTLE, render, render_error
from bot.db.models.core import Staff
from bot.keys import REQUEST_STAFF as _REQUEST_STAFF

log = logging.getLogger(__name__)

# Route names (inside the admin app) reachable without a login.
PUBLIC_ROUTES = frozenset({"login", "static"})
# What an account that must choose a new password may still open.
PASSWORD_CHANGE_ROUTES = frozenset({"me", "me.password", "logout"})

BAD_LOGIN = "用户名或密码不正确"
LOGGED_OUT = "您已安全退出"
SESSION_ENDED = "登录已过期或已结束，请重新登录。"
MUST_CHANGE = "请先设置一个新密码，再继续使用管理后台。"
NO_STAFF_HINT = "尚未创建管理员账号：请在服务器上运行 unionbot staff add 用户名"
NO_STAFF_LOG = "no staff account exists yet: create one on the server with `unionbot staff add USERNAME`"
MAX_PASSWORD = 1024  # longer input is cut before hashing (the hash's work must not grow with it)

__all__ = ["StaffUser", "REQUEST_STAFF", "current_staff", "require_role", "client_address"]

REQUEST_STAFF = _REQUEST_STAFF  # the staff member of this request


def current_staff(request: web.Request) -> StaffUser:
    """The staff member behind this request (set by the login middleware)."""
    staff = request.get(REQUEST_STAFF)
    if staff is None:
        raise web.HTTPUnauthorized(text="login required")
    return staff


async def require_role(request: web.Request, role: str) -> StaffUser:
    """The staff member, if they hold `role`; else a 403 page (and a refused audit row)."""
    staff = current_staff(request)
    if role in staff.roles:
        return staff
    await audit.record_refused(request, action="staff.access", target=request.path, reason=f"needs role {role}")
    page = await render_error(request, 403, "没有权限", "这个页面只有管理员可以使用。如需开通，请联系管理员。",
                              link="/admin/")
    raise web.HTTPForbidden(text=page.text, content_type="text/html")


def client_address(request: web.Request) -> str:
    return (request.remote or "unknown")[:64]


def blocked_message(until: datetime, now: datetime, tz) -> str:  # noqa: ANN001
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return (f"登录尝试次数过多，为保护账号安全，暂时不能从这里登录。"
            f"请在 {until.astimezone(tz):%H:%M} 以后再试（约 {minutes} 分钟）。")


def safe_next(target: str | None) -> str:
    """Only redirect back inside the admin site (no open redirects)."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin/"


async def login_page(request: web.Request) -> web.StreamResponse:
    if request_session(request).staff is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")))  # already logged in
    notice = LOGGED_OUT if "bye" in request.query else SESSION_ENDED if "ended" in request.query else ""
    return await _render_login(request, error="", username="", status=200, notice=notice)


async def _render_login(request: web.Request, *, error: str, username: str, status: int,
                        notice: str = "") -> web.Response:
    async with request.app[SESSIONMAKER]() as db:
        has_staff = await staff_ops.any_staff(db)
    return render(
        request, "login.html",
        {"error": error, "notice": notice, "username": username, "next": safe_next(request.query.get("next")),
         "no_staff_hint": "" if has_staff else NO_STAFF_HINT},
        status=status,
    )


async def _blocked(request: web.Request, until: datetime, now: datetime, username: str) -> web.Response:
    clock = request.app[CLOCK]
    resp = await _render_login(request, error=blocked_message(until, now, clock.tz), username=username, status=429)
    resp.headers["Retry-After"] = str(max(1, math.ceil((until - now).total_seconds())))
    return resp


async def login_submit(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[SETTINGS]
    throttle: throttle_mod.Throttle = app[THROTTLE]
    now = app[CLOCK].now()
    form = await request.post()
    username = staff_ops.normalize_username(str(form.get("username", "")))[:200]
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    address = client_address(request)
    target = safe_next(str(form.get("next", "")) or request.query.get("next"))

    # The same steps whether or not the account exists: look up, hash, count.
    async with app[SESSIONMAKER]() as db:
        until = await throttle_mod.blocked_until(db, username, address, now)
        staff = await staff_ops.get_staff(db, username)
    if until is not None:
        return await _blocked(request, until, now, username)
    async with throttle.hashing:
        ok = await asyncio.to_thread(staff_ops.verify_password, staff.password_hash if staff else None, password)

    if staff is None or not staff.active or not ok:
        async with app[SESSIONMAKER]() as db, db.begin():
            failure = await throttle_mod.record_failure(db, throttle.policy, username, address, now)
            if staff is not None and failure.first_in_window:
                await audit.record(db, staff_id=staff.id, action="auth.login", target=staff.username, now=now,
                                   detail={"ip": address, "reason": "inactive" if not staff.active else "bad_password"},
                                   refused=True)
            if failure.address_blocked:
                await audit.record(db, staff_id=None, action="auth.login_throttled", target=f"ip:{address}", now=now,
                                   detail={"ip": address, "failures": throttle.policy.address_max_failures,
                                           "minutes": int(throttle.policy.address_window.total_seconds() // 60)},
                                   refused=True)
        if failure.blocked_until is not None:
            log.warning("staff login blocked for an address until %s (%s)", failure.blocked_until.isoformat(),
                        "address limit" if failure.address_blocked else "username and address")
            return await _blocked(request, failure.blocked_until, now, username)
        return await _render_login(request, error=BAD_LOGIN, username=username, status=401)

    state = request_session(request)
    async with app[SESSIONMAKER]() as db, db.begin():
        row = await db.get(Staff, staff.id, with_for_update=True)
        assert row is not None
        await throttle_mod.clear(db, username, address)
        if staff_ops.needs_rehash(row.password_hash):
            row.password_hash = staff_ops.hash_password(password)
        if state.id is not None:  # someone else's session in this browser: it ends here
            await sessions.revoke(db, state.id, "relogin", now)
        token, session_row = await sessions.create(db, row.id, now, ip=address,
                                                   user_agent=request.headers.get("User-Agent", ""))
        await sessions.prune(db, now, settings)
        await audit.record(db, staff_id=row.id, action="auth.login", target=row.username, detail={"ip": address},
                           now=now)
        user = StaffUser.from_row(row)
    sessions.start(request, token, session_row, user)
    if user.must_change_password:  # the account page says why
        raise web.HTTPSeeOther(str(app.router["me"].url_for()))
    raise web.HTTPSeeOther(target)


async def logout(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    state = request_session(request)
    now = request.app[CLOCK].now()
    async with request.app[SESSIONMAKER]() as db, db.begin():
        if state.id is not None:
            await sessions.revoke(db, state.id, "logout", now)
        await audit.record(db, staff_id=staff.id, action="auth.logout", target=staff.username, now=now)
    sessions.end(request)
    raise web.HTTPSeeOther(str(request.app.router["login"].url_for().with_query(bye="1")))


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    resource = getattr(route, "resource", None)
    return resource.name if resource is not None else None


@web.middleware
async def login_required_middleware(request: web.Request, handler):  # noqa: ANN001
    """Every admin URL needs a live session of an active staff member, except login and static
    files; an account whose password was reset may only open the own-account page."""
    name = _route_name(request)
    if name in PUBLIC_ROUTES:
        return await handler(request)
    state = request_session(request)
    staff = state.staff
    if staff is None:
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response({"error": "login required"}, status=401)
        if request.method not in ("GET", "HEAD"):
            return await render_error(request, 401, "请先登录", "登录已过期，请重新登录后再操作。", link="/admin/login")
        query = {"next": request.rel_url.path_qs, **({"ended": "1"} if state.ended else {})}
        raise web.HTTPFound(str(request.app.router["login"].url_for().with_query(query)))
    request[REQUEST_STAFF] = staff
    if staff.must_change_password and name not in PASSWORD_CHANGE_ROUTES:
        if request.method in ("GET", "HEAD"):
            raise web.HTTPFound(str(request.app.router["me"].url_for()))
        return await render_error(request, 403, "请先修改密码", MUST_CHANGE, link="/admin/me")
    return await handler(request)


def setup_routes(app: web.Application) -> None:
    login = app.router.add_resource("/login", name="login")
    login.add_route("GET", login_page)
    login.add_route("POST", login_submit)
    app.router.add_post("/logout", logout, name="logout")
