"""The own-account page (/admin/me, 修改密码 in every page's header): change the password
(the current one is required) and see, and end, one's other logins.

A password change ends every other session of the account; an account whose password was
reset (must_change_password) is sent here before any other page.
"""
from __future__ import annotations

import asyncio
import dataclasses

from aiohttp import web

from bot.admin import audit, sessions, staff as staff_ops, throttle as throttle_mod
from bot.admin.auth import REQUEST_STAFF, blocked_message, client_address, current_staff
from bot.admin.sessions import request_session
from bot.admin.web import CLOCK, SETTINGS, THROTTLE, db_session, flash, render
from bot.db.models.core import Staff

MAX_PASSWORD = 1024


def session_rows(rows: list, current_id: str | None) -> list[dict]:
    """What the sessions table shows of each live session."""
    return [{"id": r.id, "ip": r.ip or "—", "agent": sessions.describe_agent(r.user_agent), "created_at": r.created_at,
             "last_seen": r.last_seen, "current": r.id == current_id} for r in rows]


async def _page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    staff = current_staff(request)
    now = request.app[CLOCK].now()
    async with db_session(request) as db:
        rows = await sessions.live_sessions(db, staff.id, now, request.app[SETTINGS])
    listed = session_rows(rows, request_session(request).id)
    return render(request, "account.html", {
        "error": error, "sessions": listed, "others": sum(1 for s in listed if not s["current"]),
        "min_password": staff_ops.MIN_PASSWORD, "idle_minutes": request.app[SETTINGS].admin.session_idle_minutes,
    }, status=status)


async def account_page(request: web.Request) -> web.Response:
    return await _page(request)


async def change_password(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    state = request_session(request)
    app = request.app
    throttle: throttle_mod.Throttle = app[THROTTLE]
    now = app[CLOCK].now()
    form = await request.post()
    current = str(form.get("current", ""))[:MAX_PASSWORD]
    new = str(form.get("new", ""))[:MAX_PASSWORD]
    again = str(form.get("again", ""))[:MAX_PASSWORD]
    address = client_address(request)

    async with db_session(request) as db:
        until = await throttle_mod.blocked_until(db, staff.username, address, now)
        row = await db.get(Staff, staff.id)
    if until is not None:
        return await _page(request, error=blocked_message(until, now, app[CLOCK].tz), status=429)
    assert row is not None
    async with throttle.hashing:
        ok = await asyncio.to_thread(staff_ops.verify_password, row.password_hash, current)
    if not ok:
        async with db_session(request) as db, db.begin():
            failure = await throttle_mod.record_failure(db, throttle.policy, staff.username, address, now)
            if failure.first_in_window:
                await audit.record(db, staff_id=staff.id, action="auth.password_change", target=staff.username,
                                   detail={"ip": address, "reason": "wrong current password"}, now=now, refused=True)
        if failure.blocked_until is not None:
            return await _page(request, error=blocked_message(failure.blocked_until, now, app[CLOCK].tz), status=429)
        return await _page(request, error="当前密码不正确", status=400)
    if new != again:
        return await _page(request, error="两次输入的新密码不一致", status=400)
    if new == current:
        return await _page(request, error="新密码不能与当前密码相同", status=400)
    try:
        staff_ops.check_password(new, staff.username)
    except ValueError as exc:
        return await _page(request, error=str(exc), status=400)

    async with db_session(request) as db, db.begin():
        ended = len(await sessions.live_sessions(db, staff.id, now, app[SETTINGS])) - (1 if state.id else 0)
        await staff_ops.set_password(db, staff.username, new, now, keep_session=state.id)
        await throttle_mod.clear(db, staff.username, address)
        await audit.record(db, staff_id=staff.id, action="auth.password_change", target=staff.username,
                           detail={"ip": address, "ended_sessions": max(ended, 0)}, now=now)
    updated = dataclasses.replace(staff, must_change_password=False)
    state.staff = updated
    request[REQUEST_STAFF] = updated
    await flash(request, "密码已修改" + ("，其他设备上的登录已全部结束。" if ended > 0 else "。"))
    raise web.HTTPSeeOther(str(app.router["me"].url_for()))


async def end_session(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    sid = request.match_info["sid"]
    now = request.app[CLOCK].now()
    if sid == request_session(request).id:
        await flash(request, "这是您现在使用的登录；要结束它，请点右上角的「退出」。", "warn")
        raise web.HTTPSeeOther(str(request.app.router["me"].url_for()))
    async with db_session(request) as db, db.begin():
        done = await sessions.revoke(db, sid, "ended_by_self", now, staff_id=staff.id)
        if done:
            await audit.record(db, staff_id=staff.id, action="staff.end_sessions", target=staff.username,
                               detail={"count": 1, "own": True}, now=now)
    await flash(request, "已结束该登录" if done else "该登录已经结束了", "ok" if done else "warn")
    raise web.HTTPSeeOther(str(request.app.router["me"].url_for()))


async def end_others(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    now = request.app[CLOCK].now()
    async with db_session(request) as db, db.begin():
        count = await sessions.revoke_all(db, staff.id, "ended_by_self", now, except_id=request_session(request).id)
        if count:
            await audit.record(db, staff_id=staff.id, action="staff.end_sessions", target=staff.username,
                               detail={"count": count, "own": True}, now=now)
    await flash(request, f"已结束其他 {count} 处登录" if count else "没有其他登录")
    raise web.HTTPSeeOther(str(request.app.router["me"].url_for()))


def setup(app: web.Application) -> None:
    app.router.add_get("/me", account_page, name="me")
    app.router.add_post("/me/password", change_password, name="me.password")
    app.router.add_post("/me/sessions/end-others", end_others, name="me.end_others")
    app.router.add_post("/me/sessions/{sid:[0-9a-f]{64}}/end", end_session, name="me.end_session")
