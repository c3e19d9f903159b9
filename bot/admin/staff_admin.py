"""Staff accounts (/admin/staff, admin role): list, add, edit roles and community,
deactivate or reactivate, reset a password, end an account's sessions.

A new account and a reset password get a temporary password, shown once on the page that
answers the POST (never stored or sent elsewhere), which must be changed at the first login.
Every action is audited (`staff.create`, `staff.update`, `staff.deactivate`, `staff.reactivate`,
`staff.reset_password`, `staff.end_sessions`).
"""
from __future__ import annotations

from aiohttp import web

from bot.admin import audit, sessions, staff as staff_ops
from bot.admin.auth import require_role
from bot.admin.account import session_rows
from bot.admin.roles import ADMIN, ROLES
from bot.admin.sessions import request_session
from bot.admin.web import CLOCK, SETTINGS, db_session, flash, render
from bot.db.models.core import Staff

ROLE_NAMES = {role: label.split("（")[0] for role, label in ROLES.items()}  # short names for the table


def _communities(request: web.Request) -> list[str]:
    return staff_ops.configured_communities(request.app[SETTINGS])


def _form_roles(form) -> list[str]:  # noqa: ANN001
    return [str(r) for r in form.getall("roles", [])]


async def _load(db, request: web.Request) -> Staff:  # noqa: ANN001
    staff = await staff_ops.get_by_id(db, int(request.match_info["staff_id"]))
    if staff is None:
        raise web.HTTPNotFound(text="没有这个账号")
    return staff


def _detail_url(request: web.Request, staff_id: int) -> str:
    return str(request.app.router["staff.detail"].url_for(staff_id=str(staff_id)))


async def staff_list(request: web.Request, *, error: str = "", form: dict | None = None,
                     status: int = 200) -> web.Response:
    await require_role(request, ADMIN)
    now = request.app[CLOCK].now()
    async with db_session(request) as db:
        accounts = await staff_ops.all_staff(db)
        live = await sessions.live_counts(db, now, request.app[SETTINGS])
    return render(request, "staff_list.html", {
        "accounts": accounts, "live": live, "roles": ROLES, "role_names": ROLE_NAMES,
        "communities": _communities(request), "error": error, "form": form or {"roles": []},
    }, status=status)


async def list_page(request: web.Request) -> web.Response:
    return await staff_list(request)


async def _detail(request: web.Request, staff: Staff, *, temp_password: str = "", error: str = "",
                  status: int = 200) -> web.Response:
    now = request.app[CLOCK].now()
    async with db_session(request) as db:
        rows = await sessions.live_sessions(db, staff.id, now, request.app[SETTINGS])
    return render(request, "staff_detail.html", {
        "account": staff, "roles": ROLES, "role_names": ROLE_NAMES, "communities": _communities(request),
        "sessions": session_rows(rows, request_session(request).id), "temp_password": temp_password,
        "error": error, "is_self": staff.id == request_session(request).staff.id,
    }, status=status)


async def detail_page(request: web.Request) -> web.Response:
    await require_role(request, ADMIN)
    async with db_session(request) as db:
        staff = await _load(db, request)
    return await _detail(request, staff)


async def add(request: web.Request) -> web.Response:
    me = await require_role(request, ADMIN)
    form = await request.post()
    now = request.app[CLOCK].now()
    values = {"username": str(form.get("username", "")).strip(), "display_name": str(form.get("display_name", "")),
              "roles": _form_roles(form), "community": str(form.get("community", ""))}
    temp = staff_ops.temporary_password()
    try:
        async with db_session(request) as db, db.begin():
            staff = await staff_ops.create_staff(
                db, values["username"], temp, values["display_name"], now, roles=values["roles"],
                community=values["community"], communities=_communities(request), must_change_password=True)
            await audit.record(db, staff_id=me.id, action="staff.create", target=staff.username, now=now,
                               detail={"roles": staff.roles, "community": staff.community})
    except ValueError as exc:
        await audit.record_refused(request, action="staff.create", target=staff_ops.normalize_username(values["username"])[:64],
                                   reason=str(exc))
        return await staff_list(request, error=str(exc), form=values, status=400)
    return await _detail(request, staff, temp_password=temp)


async def update(request: web.Request) -> web.StreamResponse:
    me = await require_role(request, ADMIN)
    form = await request.post()
    now = request.app[CLOCK].now()
    roles = _form_roles(form)
    try:
        async with db_session(request) as db, db.begin():
            staff = await _load(db, request)
            if staff.id == me.id and ADMIN not in roles:
                raise ValueError("不能取消自己的管理员角色；如需调整，请另一位管理员操作")
            changed = await staff_ops.update_staff(
                db, staff, roles=roles, community=str(form.get("community", "")),
                display_name=str(form.get("display_name", "")), communities=_communities(request))
            if changed:
                await audit.record(db, staff_id=me.id, action="staff.update", target=staff.username, now=now,
                                   detail={"changed": changed, "roles": staff.roles, "community": staff.community})
    except ValueError as exc:
        await audit.record_refused(request, action="staff.update", target=request.match_info["staff_id"], reason=str(exc))
        async with db_session(request) as db:
            staff = await _load(db, request)
        return await _detail(request, staff, error=str(exc), status=400)
    await flash(request, "已保存" if changed else "没有改动")
    raise web.HTTPSeeOther(_detail_url(request, staff.id))


async def set_active(request: web.Request) -> web.StreamResponse:
    me = await require_role(request, ADMIN)
    form = await request.post()
    active = str(form.get("active", "")) == "1"
    now = request.app[CLOCK].now()
    action = "staff.reactivate" if active else "staff.deactivate"
    try:
        async with db_session(request) as db, db.begin():
            staff = await _load(db, request)
            if staff.id == me.id and not active:
                raise ValueError("不能停用自己的账号")
            await staff_ops.set_active(db, staff, active, now)
            await audit.record(db, staff_id=me.id, action=action, target=staff.username, now=now)
    except ValueError as exc:
        await audit.record_refused(request, action=action, target=request.match_info["staff_id"], reason=str(exc))
        await flash(request, str(exc), "error")
        raise web.HTTPSeeOther(_detail_url(request, int(request.match_info["staff_id"]))) from None
    await flash(request, f"已{'启用' if active else '停用'} {staff.username}" + ("" if active else "，其所有登录已结束"))
    raise web.HTTPSeeOther(_detail_url(request, staff.id))


async def reset(request: web.Request) -> web.Response:
    me = await require_role(request, ADMIN)
    now = request.app[CLOCK].now()
    async with db_session(request) as db, db.begin():
        staff = await _load(db, request)
        staff, temp = await staff_ops.reset_password(db, staff, now)
        await audit.record(db, staff_id=me.id, action="staff.reset_password", target=staff.username, now=now)
    if staff.id == me.id:  # one's own reset ends one's own session too
        sessions.end(request)
        raise web.HTTPSeeOther(str(request.app.router["login"].url_for()))
    return await _detail(request, staff, temp_password=temp)


async def end_sessions(request: web.Request) -> web.StreamResponse:
    me = await require_role(request, ADMIN)
    now = request.app[CLOCK].now()
    async with db_session(request) as db, db.begin():
        staff = await _load(db, request)
        keep = request_session(request).id if staff.id == me.id else None
        count = await sessions.revoke_all(db, staff.id, "ended_by_admin", now, except_id=keep)
        await audit.record(db, staff_id=me.id, action="staff.end_sessions", target=staff.username, now=now,
                           detail={"count": count})
    await flash(request, f"已结束 {staff.username} 的 {count} 处登录" if count else f"{staff.username} 目前没有其他登录")
    raise web.HTTPSeeOther(_detail_url(request, staff.id))


def setup(app: web.Application) -> None:
    app.router.add_get("/staff", list_page, name="staff.list")
    app.router.add_post("/staff/add", add, name="staff.add")
    app.router.add_get("/staff/{staff_id:\\d{1,9}}", detail_page, name="staff.detail")
    app.router.add_post("/staff/{staff_id:\\d{1,9}}/update", update, name="staff.update")
    app.router.add_post("/staff/{staff_id:\\d{1,9}}/active", set_active, name="staff.active")
    app.router.add_post("/staff/{staff_id:\\d{1,9}}/reset", reset, name="staff.reset")
    app.router.add_post("/staff/{staff_id:\\d{1,9}}/end-sessions", end_sessions, name="staff.end_sessions")
