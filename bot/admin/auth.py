"""Staff login, logout, throttling and the middleware that requires a login.

Throttling: after `login_max_failures` failures for one username, the account
is locked for `login_lockout_seconds` (kept in the Staff row, so it survives a
restart and holds across processes). Failures from one client IP, and for
unknown usernames, are counted in memory over the same window. A correct
password is refused while locked. Wrong user and wrong password read the same.
"""
from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from aiohttp_session import get_session, new_session
from sqlalchemy import select

from bot.admin import audit, csrf, staff as staff_ops
from bot.admin.web import CLOCK, SESSIONMAKER, SETTINGS, THROTTLE, flash, render, render_error
from bot.db.models.core import Staff
from bot.keys import REQUEST_STAFF as _REQUEST_STAFF


SESSION_STAFF = "staff_id"
# Route names (inside the admin app) reachable without a login.
PUBLIC_ROUTES = frozenset({"login", "static"})

BAD_LOGIN = "用户名或密码不正确"
NO_STAFF_HINT = "尚未创建管理员账号：请在服务器上运行 unionbot staff add 用户名"
NO_STAFF_LOG = "no staff account exists yet: create one on the server with `unionbot staff add USERNAME`"


@dataclass(frozen=True)
class StaffUser:
    """The logged-in staff member, as pages see it."""

    id: int
    username: str
    display_name: str

    @property
    def name(self) -> str:
        return self.display_name or self.username


REQUEST_STAFF = _REQUEST_STAFF  # the staff member of this request


def current_staff(request: web.Request) -> StaffUser:
    """The staff member behind this request (set by the login middleware)."""
    staff = request.get(REQUEST_STAFF)
    if staff is None:
        raise web.HTTPUnauthorized(text="login required")
    return staff


def locked_message(seconds: int) -> str:
    return f"尝试次数过多，请{max(1, math.ceil(seconds / 60))}分钟后再试"


class FailureCounter:
    """Failed logins per key (client IP, unknown username) in a sliding window, in memory."""

    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max = max_failures
        self.window = timedelta(seconds=window_seconds)
        self._fails: dict[str, deque[datetime]] = defaultdict(deque)

    def _prune(self, key: str, now: datetime) -> deque[datetime]:
        q = self._fails[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._fails[key]
        return q

    def limit(self, key: str) -> int:
        # An office behind one NAT address shares the per-address counter: allow it more
        # tries than a single username gets, so one person's typos don't lock everyone out.
        return self.max * 4 if key.startswith("ip:") else self.max

    def locked(self, key: str, now: datetime) -> bool:
        return key in self._fails and len(self._prune(key, now)) >= self.limit(key)

    def fail(self, key: str, now: datetime) -> bool:
        """Count a failure; True when the key is now locked."""
        self._prune(key, now)
        self._fails[key].append(now)
        return len(self._fails[key]) >= self.limit(key)

    def clear(self, key: str) -> None:
        self._fails.pop(key, None)


def safe_next(target: str | None) -> str:
    """Only redirect back inside the admin site (no open redirects)."""
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin/"


def _client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


async def login_page(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    if session.get(SESSION_STAFF) and await _load_staff(request, session) is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")))  # already logged in
    return await _render_login(request, error="", username="", status=200)


async def _render_login(request: web.Request, *, error: str, username: str, status: int) -> web.Response:
    async with request.app[SESSIONMAKER]() as db:
        has_staff = await staff_ops.any_staff(db)
    return render(
        request, "login.html",
        {"error": error, "username": username, "next": safe_next(request.query.get("next")),
         "no_staff_hint": "" if has_staff else NO_STAFF_HINT},
        status=status,
    )


async def login_submit(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS].admin
    now = request.app[CLOCK].now()
    form = await request.post()
    username = staff_ops.normalize_username(str(form.get("username", "")))
    password = str(form.get("password", ""))
    ip = _client_ip(request)
    throttle: FailureCounter = request.app[THROTTLE]
    locked_text = locked_message(settings.login_lockout_seconds)
    result, staff_id = "bad", None

    async with request.app[SESSIONMAKER]() as db, db.begin():
        async def failed(reason: str, sid: int | None) -> None:
            await audit.record(db, staff_id=sid, action="login_failed", target=username,
                               detail={"ip": ip, "reason": reason}, now=now)

        staff = await staff_ops.get_staff(db, username) if username else None
        if throttle.locked("ip:" + ip, now):
            result = "locked"
            await failed("ip_locked", staff.id if staff else None)
        elif staff is None:
            staff_ops.verify_dummy(password)
            name_locked = throttle.locked("user:" + username, now) or throttle.fail("user:" + username, now)
            ip_locked = throttle.fail("ip:" + ip, now)
            result = "locked" if (name_locked or ip_locked) else "bad"
            await failed("unknown_user", None)
        elif staff.locked_until is not None and staff.locked_until > now:
            result = "locked"
            await failed("locked", staff.id)
        elif staff.active and staff_ops.verify_password(staff.password_hash, password):
            staff.failed_logins = 0
            staff.locked_until = None
            if staff_ops.needs_rehash(staff.password_hash):
                staff.password_hash = staff_ops.hash_password(password)
            await audit.record(db, staff_id=staff.id, action="login", target=username, detail={"ip": ip}, now=now)
            result, staff_id = "ok", staff.id
        else:
            staff.failed_logins = (staff.failed_logins or 0) + 1
            user_locked = staff.failed_logins >= settings.login_max_failures
            if user_locked:
                staff.locked_until = now + timedelta(seconds=settings.login_lockout_seconds)
                staff.failed_logins = 0
            ip_locked = throttle.fail("ip:" + ip, now)
            result = "locked" if (user_locked or ip_locked) else "bad"
            await failed("inactive" if not staff.active else "bad_password", staff.id)

    if result == "ok":
        throttle.clear("user:" + username)
        session = await new_session(request)  # a fresh session: no fixation
        session[SESSION_STAFF] = staff_id
        csrf.rotate_token(session)
        raise web.HTTPSeeOther(safe_next(str(form.get("next", "")) or request.query.get("next")))
    if result == "locked":
        return await _render_login(request, error=locked_text, username=username, status=429)
    return await _render_login(request, error=BAD_LOGIN, username=username, status=401)


async def logout(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    async with request.app[SESSIONMAKER]() as db, db.begin():
        await audit.record(db, staff_id=staff.id, action="logout", target=staff.username, now=request.app[CLOCK].now())
    session = await get_session(request)
    session.invalidate()
    await new_session(request)
    await flash(request, "您已安全退出")
    raise web.HTTPSeeOther(str(request.app.router["login"].url_for()))


async def _load_staff(request: web.Request, session) -> StaffUser | None:  # noqa: ANN001
    staff_id = session.get(SESSION_STAFF)
    if not isinstance(staff_id, int):
        return None
    async with request.app[SESSIONMAKER]() as db:
        row = await db.scalar(select(Staff).where(Staff.id == staff_id))
    if row is None or not row.active:
        return None
    return StaffUser(row.id, row.username, row.display_name or "")


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    resource = getattr(route, "resource", None)
    return resource.name if resource is not None else None


@web.middleware
async def login_required_middleware(request: web.Request, handler):  # noqa: ANN001
    """Every admin URL needs a logged-in, active staff member, except login and static files."""
    if _route_name(request) in PUBLIC_ROUTES:
        return await handler(request)
    session = await get_session(request)
    staff = await _load_staff(request, session)
    if staff is None:
        if session.get(SESSION_STAFF) is not None:
            session.invalidate()  # account gone or disabled
        wants_json = "application/json" in request.headers.get("Accept", "")
        if wants_json:
            return web.json_response({"error": "login required"}, status=401)
        if request.method not in ("GET", "HEAD"):
            return await render_error(request, 401, "请先登录", "登录已过期，请重新登录后再操作。", link="/admin/login")
        login_url = request.app.router["login"].url_for().with_query(next=request.rel_url.path_qs)
        raise web.HTTPFound(str(login_url))
    request[REQUEST_STAFF] = staff
    return await handler(request)


def setup_routes(app: web.Application) -> None:
    login = app.router.add_resource("/login", name="login")
    login.add_route("GET", login_page)
    login.add_route("POST", login_submit)
    app.router.add_post("/logout", logout, name="logout")
