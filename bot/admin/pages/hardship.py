"""帮扶审核: the staff pages of hardship help — list, detail, decisions, 代办, export.

The pages hold no business rules: every change calls an operation in
`handlers.hardship_ops` and writes an audit row in the same transaction.
"""
from __future__ import annotations

import math
import mimetypes
from datetime import date
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.admin import audit, nav
from bot.admin.pages import home
from bot.admin.auth import current_staff
from bot.admin.export import spreadsheet_response
from bot.admin.site import CLOCK, SERVICES, SETTINGS, db_session, flash, page_number, render
from bot.db.models.core import Member, Outbox, Staff
from bot.db.models.hardship import HardshipPhoto
from bot.outbox import NEEDS_PHONE
from handlers import hardship_ops as ops
from handlers.hardship import check_answers
from handlers.hardship_export import EXPORT_HEADER, export_rows

ACTIONS = ("start_review", "request_more", "approve", "reject", "deliver", "close")


def _filters(request: web.Request) -> ops.Filters:
    q = request.query

    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(q.get(name, ""))
        except ValueError:
            return None

    status = q.get("status", "")
    kind = q.get("kind", "")
    tier = q.get("tier", "")
    return ops.Filters(
        status=status if status in ops.STATUS_LABELS else "", kind=kind if kind in ops.KINDS else "",
        tier=tier if tier in (*ops.TIERS, "none") else "", date_from=day("from"), date_to=day("to"),
        q=q.get("q", "")[:64], erase=q.get("erase") == "1",
    )


def _filter_fields() -> list[dict[str, Any]]:
    return [
        {"name": "q", "label": "搜索", "type": "text", "placeholder": "编号 / 姓名 / 电话"},
        {"name": "status", "label": "状态", "type": "select", "options": list(ops.STATUS_LABELS.items())},
        {"name": "kind", "label": "类型", "type": "select", "options": [(k, k) for k in ops.KINDS]},
        {"name": "tier", "label": "参考档次", "type": "select",
         "options": [(t, t) for t in ops.TIERS] + [("none", "未达档次")]},
        {"name": "from", "label": "提交日期从", "type": "date"},
        {"name": "to", "label": "至", "type": "date"},
        {"name": "erase", "label": "删除要求", "type": "select", "options": [("1", "职工已申请删除")]},
    ]


async def list_requests(request: web.Request) -> web.Response:
    """Requests, newest first, with filters, search and pages."""
    per_page = request.app[SETTINGS].admin.page_size
    page = page_number(request)
    async with db_session(request) as db:
        rows, total = await ops.search(db, _filters(request), page=page, per_page=per_page)
        notices = await ops.notice_statuses(db, [r.last_notice_key or "" for r in rows])
    crypto = request.app[SERVICES]["crypto"]
    items = [{"r": r, "id_number": ops.reveal_id(r, crypto),
              "unreachable": notices.get(r.last_notice_key or "") in NEEDS_PHONE} for r in rows]
    return render(request, "hardship/list.html", {
        "items": items, "total": total, "page": page, "pages": max(1, math.ceil(total / per_page)),
        "fields": _filter_fields(), "labels": ops.STATUS_LABELS, "export_query": request.rel_url.query_string,
    })


async def export(request: web.Request) -> web.Response:
    """The filtered list as CSV or XLSX, phone and ID masked."""
    fmt = request.match_info["fmt"]
    staff = current_staff(request)
    async with db_session(request) as db, db.begin():
        rows = list(await db.scalars(ops.filtered(_filters(request))))
        await audit.record(db, staff_id=staff.id, action="hardship.export", target=fmt,
                           detail={"query": request.rel_url.query_string, "rows": len(rows)},
                           now=request.app[CLOCK].now())
    table = export_rows(rows, request.app[SERVICES]["crypto"])
    stamp = request.app[CLOCK].now().astimezone(ops.TZ).strftime("%Y%m%d")
    return spreadsheet_response(fmt, EXPORT_HEADER, table, filename=f"帮扶申请-{stamp}", sheet="帮扶申请")


async def _detail_context(db, request: web.Request, request_id: int) -> dict[str, Any]:  # noqa: ANN001
    try:
        req = await ops.get_request(db, request_id)
    except ops.HardshipError:
        raise web.HTTPNotFound(text="没有这条申请") from None
    staff_rows = list(await db.scalars(select(Staff).order_by(Staff.id)))
    names = {s.id: s.display_name or s.username for s in staff_rows}
    notices = list(await db.scalars(
        select(Outbox).where(Outbox.key.like(f"hardship:{req.ref}:%")).order_by(Outbox.id)))
    last = next((o for o in notices if o.key == req.last_notice_key), None)
    return {
        "r": req, "staff_names": names, "staff_list": [s for s in staff_rows if s.active],
        "labels": ops.STATUS_LABELS, "action_labels": ops.ACTION_LABELS, "worker_labels": ops.WORKER_STATUS,
        "notices": notices, "unreachable": last is not None and last.status in NEEDS_PHONE,
        "has_id": bool(req.id_number_enc), "revealed": {}, "kinds": ops.KINDS,
        "check": ops.SelfCheck(req.per_capita, req.dibao, req.tier),
        "today": request.app[CLOCK].now().astimezone(ops.TZ).date().isoformat(),
    }


async def detail(request: web.Request) -> web.Response:
    """Everything the worker gave, the timeline, notes, assignment and the next decisions."""
    async with db_session(request) as db:
        ctx = await _detail_context(db, request, int(request.match_info["id"]))
    return render(request, "hardship/detail.html", ctx)


async def reveal(request: web.Request) -> web.Response:
    """Show the full phone or ID number on the detail page; the click is audited."""
    staff = current_staff(request)
    form = await request.post()
    what = "id" if form.get("field") == "id" else "phone"
    request_id = int(request.match_info["id"])
    async with db_session(request) as db, db.begin():
        ctx = await _detail_context(db, request, request_id)
        req = ctx["r"]
        value = ops.reveal_id(req, request.app[SERVICES]["crypto"]) if what == "id" else req.phone
        await audit.record(db, staff_id=staff.id, action=f"hardship.reveal_{what}", target=req.ref,
                           now=request.app[CLOCK].now())
    ctx["revealed"] = {what: value}
    return render(request, "hardship/detail.html", ctx)


def _back(request: web.Request, request_id: int) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(str(request.app.router["hardship.detail"].url_for(id=str(request_id))))


async def act(request: web.Request) -> web.StreamResponse:
    """One status decision (a button on the detail page) through its operation."""
    staff = current_staff(request)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound(text="没有这个操作")
    request_id = int(request.match_info["id"])
    form = await request.post()
    now = request.app[CLOCK].now()
    message = str(form.get("message", "")).strip()[:500]
    office = request.app[SETTINGS].office  # the number workers are told to call
    try:
        async with db_session(request) as db, db.begin():
            if action == "deliver":
                amount_raw = str(form.get("amount", "")).strip()
                try:
                    amount = float(amount_raw) if amount_raw else None
                except ValueError:
                    raise ops.HardshipError("发放金额请填数字") from None
                try:
                    aid_date = date.fromisoformat(str(form.get("aid_date", "")).strip())
                except ValueError:
                    aid_date = None
                req = await ops.deliver(db, request_id, now=now, staff_id=staff.id, amount=amount,
                                        aid_kind=str(form.get("aid_kind", ""))[:200], aid_date=aid_date,
                                        office=office)
            elif action == "reject":
                req = await ops.reject(db, request_id, now=now, staff_id=staff.id, reason=message, office=office)
            elif action == "request_more":
                req = await ops.request_more(db, request_id, now=now, staff_id=staff.id, message=message, office=office)
            elif action == "approve":
                req = await ops.approve(db, request_id, now=now, staff_id=staff.id, message=message, office=office)
            elif action == "start_review":
                req = await ops.start_review(db, request_id, now=now, staff_id=staff.id, office=office)
            else:
                req = await ops.close(db, request_id, now=now, staff_id=staff.id)
            await audit.record(db, staff_id=staff.id, action=f"hardship.{action}", target=req.ref,
                               detail={"message": message} if message else {}, now=now)
    except ops.HardshipError as exc:
        await flash(request, str(exc), "error")
        raise _back(request, request_id) from None
    await flash(request, f"已{ops.ACTION_LABELS[action]}：{req.ref}")
    raise _back(request, request_id)


async def note(request: web.Request) -> web.StreamResponse:
    """An internal note (never sent to the worker)."""
    staff = current_staff(request)
    request_id = int(request.match_info["id"])
    text = str((await request.post()).get("text", ""))
    now = request.app[CLOCK].now()
    try:
        async with db_session(request) as db, db.begin():
            await ops.add_note(db, request_id, now=now, staff_id=staff.id, text=text)
            await audit.record(db, staff_id=staff.id, action="hardship.note", target=str(request_id), now=now)
    except ops.HardshipError as exc:
        await flash(request, str(exc), "error")
    raise _back(request, request_id)


async def assign(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    request_id = int(request.match_info["id"])
    raw = str((await request.post()).get("assignee", ""))
    now = request.app[CLOCK].now()
    try:
        async with db_session(request) as db, db.begin():
            assignee = await db.get(Staff, int(raw)) if raw.isdigit() else None
            await ops.assign(db, request_id, now=now, staff_id=staff.id,
                             assignee_id=assignee.id if assignee else None,
                             assignee_name=(assignee.display_name or assignee.username) if assignee else "")
            await audit.record(db, staff_id=staff.id, action="hardship.assign", target=str(request_id),
                               detail={"assignee": assignee.id if assignee else None}, now=now)
    except ops.HardshipError as exc:
        await flash(request, str(exc), "error")
        raise _back(request, request_id) from None
    await flash(request, "已更新经办人")
    raise _back(request, request_id)


async def photo(request: web.Request) -> web.StreamResponse:
    """A fetched evidence photo (only through the logged-in admin)."""
    media_dir: Path = Path(request.app[SERVICES].get("media_dir") or "data/media")
    async with db_session(request) as db:
        row = await db.get(HardshipPhoto, int(request.match_info["photo_id"]))
    if row is None or not row.path:
        raise web.HTTPNotFound(text="照片尚未获取")
    path = (media_dir / row.path).resolve()
    if not path.is_relative_to(media_dir.resolve()) or not path.is_file():
        raise web.HTTPNotFound(text="照片文件不存在")
    ctype = row.content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return web.FileResponse(path, headers={"Content-Type": ctype.split(";")[0],
                                           "Cache-Control": "private, no-store"})


NEW_FIELDS = ("openid", "kind", "description", "household", "income", "expenses", "name", "phone", "employer",
              "id_number", "consent")


def _new_page(request: web.Request, values: dict[str, str], errors: dict[str, str], status: int = 200,
              ) -> web.Response:
    return render(request, "hardship/new.html", {"values": values, "errors": errors, "kinds": ops.KINDS},
                  status=status)


async def new_form(request: web.Request) -> web.Response:
    """代办: record a request on a worker's behalf (e.g. after a home visit)."""
    return _new_page(request, {"expenses": "0", **request.query}, {})


async def new_submit(request: web.Request) -> web.StreamResponse:
    """代办: the dialogue's own rules check the values, then the same operation stores them."""
    staff = current_staff(request)
    form = await request.post()
    values = {k: str(form.get(k, "")).strip() for k in NEW_FIELDS}
    data, errors = check_answers(values)
    if not values["consent"]:
        errors["consent"] = "请先向本人说明用途并取得同意"
    if errors:
        return _new_page(request, values, errors, status=400)
    now = request.app[CLOCK].now()
    try:
        async with db_session(request) as db, db.begin():
            openid = values["openid"]
            member = None
            if openid:
                member = await db.scalar(select(Member).where(Member.openid == openid))
                if member is None:
                    raise ops.HardshipError("没有找到这个微信用户（openid），不关联微信也可以留空")
            else:
                member = await ops.member_by_phone(db, data["phone"])
                openid = member.openid if member is not None else ""
            req = await ops.submit_request(
                db, now=now, openid=openid, data=data, crypto=request.app[SERVICES]["crypto"],
                dibao=request.app[SETTINGS].hardship.dibao, consent_version="代办（本人当面同意）", consent_at=now,
                staff_id=staff.id, member=member)
            await audit.record(db, staff_id=staff.id, action="hardship.submit_for", target=req.ref, now=now)
    except ops.HardshipError as exc:
        return _new_page(request, values, {"openid": str(exc)}, status=400)
    linked = "已关联微信，进度会通知本人" if req.openid else "未关联微信，进度请电话告知本人"
    await flash(request, f"已代办录入：{req.ref}（{linked}）")
    raise _back(request, req.id)


async def todo(db) -> list[home.TodoItem]:  # noqa: ANN001
    """The home page's hardship to-dos: what waits for staff."""
    counts = await ops.status_counts(db)
    items = [
        home.TodoItem("待审核的帮扶申请", counts.get("submitted", 0), "/admin/hardship?status=submitted"),
        home.TodoItem("审核中的帮扶申请", counts.get("reviewing", 0), "/admin/hardship?status=reviewing"),
        home.TodoItem("已通过待发放", counts.get("approved", 0), "/admin/hardship?status=approved"),
    ]
    erase = await ops.erase_requested_count(db)
    if erase:
        items.append(home.TodoItem("职工申请删除个人信息（办结后自动删除）", erase, "/admin/hardship?erase=1"))
    return items


def setup(app: web.Application) -> None:
    app.router.add_get("/hardship", list_requests, name="hardship.list")
    app.router.add_get("/hardship/export.{fmt:csv|xlsx}", export, name="hardship.export")
    app.router.add_get("/hardship/new", new_form, name="hardship.new")
    app.router.add_post("/hardship/new", new_submit, name="hardship.create")
    app.router.add_get(r"/hardship/{id:\d+}", detail, name="hardship.detail")
    app.router.add_post(r"/hardship/{id:\d+}/act/{action}", act, name="hardship.act")
    app.router.add_post(r"/hardship/{id:\d+}/note", note, name="hardship.note")
    app.router.add_post(r"/hardship/{id:\d+}/assign", assign, name="hardship.assign")
    app.router.add_post(r"/hardship/{id:\d+}/reveal", reveal, name="hardship.reveal")
    app.router.add_get(r"/hardship/photo/{photo_id:\d+}", photo, name="hardship.photo")
    nav.register("帮扶审核", "/hardship", order=20)
    home.register_todo("hardship", todo)
