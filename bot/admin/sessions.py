"""Server-side staff sessions: the cookie carries only a random token.

A login creates a `StaffSession` row whose id is the SHA-256 of the cookie's token (so the table
holds nothing a thief could replay). Every request looks the row up and refuses it when it is
revoked (logout, password change, deactivation, 结束全部会话, a password reset), idle for more than
`[admin] session_idle_minutes`, or older than `[admin] session_max_age`. `last_seen` is written at
most once a minute. Flash messages and the CSRF token live in the row too.

Before login, the login form's CSRF token is a random value in a separate cookie
(`PRE_COOKIE`, double-submit): it authenticates nothing.

Other modules use: `revoke_all(db, staff_id, reason, now, except_id=None)`,
`request_session(request)` (the `SessionState` of this request), `StaffUser`.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.core import Staff, StaffSession
from bot.keys import ADMIN_CLOCK, ADMIN_SESSIONMAKER, ADMIN_SETTINGS

COOKIE = "unionbot_admin"
PRE_COOKIE = "unionbot_admin_pre"  # the anonymous login form's CSRF token (double-submit)
COOKIE_PATH = "/admin"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most this often
KEEP_ENDED = timedelta(days=30)  # ended sessions are deleted this long after they were last used

# Why a session ended (StaffSession.revoked_reason) as staff read it.
REASONS = {
    "logout": "已退出", "password_change": "密码已修改", "deactivated": "账号已停用", "password_reset": "密码已重置",
    "ended_by_admin": "管理员结束", "ended_by_self": "本人结束", "idle": "长时间未操作", "expired": "超过最长登录时间",
    "relogin": "重新登录",
}


@dataclass(frozen=True)
class StaffUser:
    """The logged-in staff member, as pages see it."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str] = frozenset()
    community: str | None = None  # None: the federation (sees every community)
    must_change_password: bool = False

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @classmethod
    def from_row(cls, row: Staff) -> "StaffUser":
        return cls(row.id, row.username, row.display_name or "", frozenset(row.roles or ()), row.community,
                   bool(row.must_change_password))


@dataclass
class SessionState:
    """This request's session: a live staff session, or an anonymous visitor."""

    id: str | None = None  # StaffSession.id when logged in
    staff: StaffUser | None = None
    csrf_token: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False  # data changed: written back after the handler
    touch: bool = False  # last_seen is more than a minute old: written back after the handler
    pre_token: str = ""  # the anonymous CSRF cookie's value
    set_pre_cookie: bool = False
    new_token: str = ""  # a login: the cookie to set
    clear_cookie: bool = False  # a cookie came that names no live session (or a logout)
    ended: str = ""  # why the cookie's session is no longer valid (idle, expired, revoked)

    def flash(self, kind: str, message: str) -> bool:
        if self.id is None:
            return False
        self.data["flash"] = [*self.data.get("flash", []), [kind, message]][-5:]
        self.dirty = True
        return True

    def pop_flashes(self) -> list[tuple[str, str]]:
        items = self.data.pop("flash", None) if self.id is not None else None
        if items:
            self.dirty = True
        return [tuple(x) for x in (items or [])]

    def anonymous_csrf(self) -> str:
        if not self.pre_token:
            self.pre_token = secrets.token_urlsafe(32)
            self.set_pre_cookie = True
        return self.pre_token


REQUEST_SESSION: web.RequestKey[SessionState] = web.RequestKey("admin_session_state", SessionState)


def token_id(token: str) -> str:
    """The StaffSession id of a cookie token."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def request_session(request: web.Request) -> SessionState:
    state = request.get(REQUEST_SESSION)
    if state is None:  # outside the middleware (e.g. an error page before it ran)
        state = SessionState()
        request[REQUEST_SESSION] = state
    return state


def end_reason(row: StaffSession, now: datetime, idle: timedelta, max_age: timedelta) -> str:
    """'' while the session may be used, else why not."""
    if row.revoked_at is not None:
        return row.revoked_reason or "revoked"
    if now - row.created_at >= max_age:
        return "expired"
    if now - row.last_seen >= idle:
        return "idle"
    return ""


def lifetimes(settings: Any) -> tuple[timedelta, timedelta]:
    admin = settings.admin
    return timedelta(minutes=admin.session_idle_minutes), timedelta(seconds=admin.session_max_age)


# ---- operations on the table ------------------------------------------------------------

async def create(db: AsyncSession, staff_id: int, now: datetime, *, ip: str, user_agent: str) -> tuple[str, StaffSession]:
    """A new session for `staff_id`: returns (the cookie token, the row)."""
    token = secrets.token_urlsafe(32)
    row = StaffSession(id=token_id(token), staff_id=staff_id, created_at=now, last_seen=now, ip=(ip or "")[:64],
                       user_agent=(user_agent or "")[:200], csrf_token=secrets.token_urlsafe(32), data={},
                       revoked_at=None, revoked_reason="")
    db.add(row)
    await db.flush()
    return token, row


async def revoke(db: AsyncSession, session_id: str, reason: str, now: datetime, *, staff_id: int | None = None) -> bool:
    """End one session (only `staff_id`'s when given); True if it was live."""
    stmt = update(StaffSession).where(StaffSession.id == session_id, StaffSession.revoked_at.is_(None))
    if staff_id is not None:
        stmt = stmt.where(StaffSession.staff_id == staff_id)
    result = await db.execute(stmt.values(revoked_at=now, revoked_reason=reason[:32]))
    return bool(result.rowcount)


async def revoke_all(db: AsyncSession, staff_id: int, reason: str, now: datetime, except_id: str | None = None) -> int:
    """End every session of `staff_id` (but `except_id`) at once; returns how many were open."""
    stmt = update(StaffSession).where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
    if except_id is not None:
        stmt = stmt.where(StaffSession.id != except_id)
    result = await db.execute(stmt.values(revoked_at=now, revoked_reason=reason[:32]))
    return result.rowcount or 0


async def live_sessions(db: AsyncSession, staff_id: int, now: datetime, settings: Any) -> list[StaffSession]:
    """The sessions of `staff_id` that may still be used, most recently used first."""
    idle, max_age = lifetimes(settings)
    rows = await db.scalars(
        select(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None),
               StaffSession.last_seen > now - idle, StaffSession.created_at > now - max_age)
        .order_by(StaffSession.last_seen.desc())
    )
    return list(rows)


async def live_counts(db: AsyncSession, now: datetime, settings: Any) -> dict[int, tuple[int, datetime]]:
    """staff id → (live sessions, last seen) for the staff list."""
    idle, max_age = lifetimes(settings)
    rows = await db.execute(
        select(StaffSession.staff_id, StaffSession.last_seen)
        .where(StaffSession.revoked_at.is_(None), StaffSession.last_seen > now - idle,
               StaffSession.created_at > now - max_age)
    )
    out: dict[int, tuple[int, datetime]] = {}
    for staff_id, seen in rows:
        n, last = out.get(staff_id, (0, seen))
        out[staff_id] = (n + 1, max(last, seen))
    return out


async def prune(db: AsyncSession, now: datetime, settings: Any) -> int:
    """Delete sessions that ended (or went idle) more than KEEP_ENDED ago."""
    idle, _max_age = lifetimes(settings)
    result = await db.execute(delete(StaffSession).where(StaffSession.last_seen < now - idle - KEEP_ENDED))
    return result.rowcount or 0


# ---- the middleware ---------------------------------------------------------------------

def is_https(request: web.Request) -> bool:
    """Served over https: the request says so (behind a trusted proxy: X-Forwarded-Proto) or
    the configured public URL is https."""
    public = request.app[ADMIN_SETTINGS].server.public_url.lower()
    return request.secure or public.startswith("https://")


def _cookie_options(request: web.Request) -> dict[str, Any]:
    return {"path": COOKIE_PATH, "httponly": True, "samesite": "Lax", "secure": is_https(request)}


async def _load(request: web.Request) -> SessionState:
    state = SessionState()
    pre = request.cookies.get(PRE_COOKIE, "")
    if TOKEN_RE.match(pre):
        state.pre_token = pre
    token = request.cookies.get(COOKIE, "")
    if not token:
        return state
    if not TOKEN_RE.match(token):
        state.clear_cookie = True
        return state
    now = request.app[ADMIN_CLOCK].now()
    idle, max_age = lifetimes(request.app[ADMIN_SETTINGS])
    sid = token_id(token)
    async with request.app[ADMIN_SESSIONMAKER]() as db:
        found = (await db.execute(
            select(StaffSession, Staff).join(Staff, Staff.id == StaffSession.staff_id).where(StaffSession.id == sid)
        )).first()
        if found is None:
            state.clear_cookie, state.ended = True, "unknown"
            return state
        row, staff = found
        reason = end_reason(row, now, idle, max_age) or ("" if staff.active else "deactivated")
        if reason:
            state.clear_cookie, state.ended = True, reason
            if row.revoked_at is None:  # record why it ended, so it leaves the sessions list
                await revoke(db, sid, reason, now)
                await db.commit()
            return state
    state.id = sid
    state.staff = StaffUser.from_row(staff)
    state.csrf_token = row.csrf_token
    state.data = dict(row.data or {})
    state.touch = now - row.last_seen >= TOUCH_EVERY
    return state


async def _save(request: web.Request, state: SessionState, response: web.StreamResponse) -> None:
    if state.id is not None and (state.dirty or state.touch):
        values: dict[str, Any] = {}
        if state.dirty:
            values["data"] = state.data
        if state.touch:
            values["last_seen"] = request.app[ADMIN_CLOCK].now()
        async with request.app[ADMIN_SESSIONMAKER]() as db, db.begin():
            await db.execute(update(StaffSession)
                             .where(StaffSession.id == state.id, StaffSession.revoked_at.is_(None)).values(**values))
    if response.prepared:
        return
    options = _cookie_options(request)
    if state.new_token:
        response.set_cookie(COOKIE, state.new_token, max_age=request.app[ADMIN_SETTINGS].admin.session_max_age,
                            **options)
        response.del_cookie(PRE_COOKIE, path=COOKIE_PATH)
    elif state.clear_cookie:
        response.del_cookie(COOKIE, path=COOKIE_PATH)
    if state.set_pre_cookie and not state.new_token:
        response.set_cookie(PRE_COOKIE, state.pre_token, **options)


@web.middleware
async def session_middleware(request: web.Request, handler):  # noqa: ANN001
    """Load the session named by the cookie before the handler; write back flashes, last_seen
    and cookies after it (also when the handler answers by raising a redirect). Static files
    need no session (no database look-up for them)."""
    resource = getattr(request.match_info.route, "resource", None)
    if resource is not None and resource.name == "static":
        request[REQUEST_SESSION] = SessionState()
        return await handler(request)
    state = await _load(request)
    request[REQUEST_SESSION] = state
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        await _save(request, state, exc)
        raise
    await _save(request, state, response)
    return response


def start(request: web.Request, token: str, row: StaffSession, staff: StaffUser) -> None:
    """Make the session just created (`create`) this request's: its cookie goes out with the answer."""
    state = request_session(request)
    state.id, state.staff, state.csrf_token = row.id, staff, row.csrf_token
    state.data, state.dirty, state.touch = {}, False, False
    state.new_token, state.clear_cookie = token, False
    state.pre_token, state.set_pre_cookie = "", False


def end(request: web.Request) -> None:
    """Forget this request's session (it was revoked): the cookie is removed with the answer."""
    state = request_session(request)
    state.id, state.staff, state.csrf_token, state.data = None, None, "", {}
    state.dirty = state.touch = False
    state.new_token, state.clear_cookie = "", True


def describe_agent(user_agent: str) -> str:
    """A short name for a browser, e.g. 「微信 · iPhone」「Chrome · Windows」."""
    ua = user_agent or ""
    if "MicroMessenger" in ua:
        browser = "微信"
    elif "Edg/" in ua:
        browser = "Edge"
    elif "Firefox/" in ua:
        browser = "Firefox"
    elif "Chrome/" in ua or "CriOS/" in ua:
        browser = "Chrome"
    elif "Safari/" in ua:
        browser = "Safari"
    else:
        browser = "其他浏览器" if ua else "未知浏览器"
    for marker, system in (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
                           ("Mac OS X", "Mac"), ("Linux", "Linux")):
        if marker in ua:
            return f"{browser} · {system}"
    return browser
