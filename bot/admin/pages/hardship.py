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
from bot.admin.auth import current_staff
from bot.admin.site import CLOCK, SERVICES, SETTINGS, db_session, flash, render
from bot.core.forms import Invalid
from bot.core.validators import parse_id_number, parse_mobile, parse_name
from bot.db.models.core import Member, Outbox, Staff
from bot.db.models.hardship import HardshipPhoto
from handlers import hardship_ops as ops

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
        q=q.get("q", "")[:64],
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
    ]


async def list_requests(request: web.Request) -> web.Response:
    """Requests, newest first, with filters, search and pages."""
    per_page = request.app[SETTINGS].admin.page_size
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    async with db_session(request) as db:
        rows, total = await ops.search(db, _filters(request), page=page, per_page=per_page)
        notices = await ops.notice_statuses(db, [r.last_notice_key or "" for r in rows])
    crypto = request.app[SERVICES]["crypto"]
    items = [{"r": r, "id_number": ops.reveal_id(r, crypto),
              "unreachable": notices.get(r.last_notice_key or "") == "unreachable"} for r in rows]
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
    table = ops.export_rows(rows, request.app[SERVICES]["crypto"])
    stamp = request.app[CLOCK].now().astimezone(ops.TZ).strftime("%Y%m%d")
    if fmt == "csv":
        body, ctype = ops.to_csv(table), "text/csv"
    else:
        body, ctype = ops.to_xlsx(table), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return web.Response(body=body, content_type=ctype, headers={
        "Content-Disposition": f'attachment; filename="hardship-{stamp}.{fmt}"'})


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
        "notices": notices, "unreachable": last is not None and last.status == "unreachable",
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
                                        aid_kind=str(form.get("aid_kind", ""))[:200], aid_date=aid_date)
            elif action == "reject":
                req = await ops.reject(db, request_id, now=now, staff_id=staff.id, reason=message)
            elif action == "request_more":
                req = await ops.request_more(db, request_id, now=now, staff_id=staff.id, message=message)
            elif action == "approve":
                req = await ops.approve(db, request_id, now=now, staff_id=staff.id, message=message)
            elif action == "start_review":
                req = await ops.start_review(db, request_id, now=now, staff_id=staff.id)
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
    async with db_session(request) as db, db.begin():
        assignee = await db.get(Staff, int(raw)) if raw.isdigit() else None
        await ops.assign(db, request_id, now=now, staff_id=staff.id, assignee_id=assignee.id if assignee else None,
                         assignee_name=(assignee.display_name or assignee.username) if assignee else "")
        await audit.record(db, staff_id=staff.id, action="hardship.assign", target=str(request_id),
                           detail={"assignee": assignee.id if assignee else None}, now=now)
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
    return web.Response(body=path.read_bytes(), content_type=ctype.split(";")[0],
                        headers={"Cache-Control": "private, no-store"})


NEW_FIELDS = ("openid", "kind", "description", "household", "income", "expenses", "name", "phone", "employer",
              "id_number")


async def new_form(request: web.Request) -> web.Response:
    """代办: record a request on a worker's behalf (e.g. after a home visit)."""
    return render(request, "hardship/new.html", {"values": dict(request.query), "errors": {}, "kinds": ops.KINDS})


async def new_submit(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    form = await request.post()
    values = {k: str(form.get(k, "")).strip() for k in NEW_FIELDS}
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"kind": values["kind"], "description": values["description"]}
    if values["kind"] not in ops.KINDS:
        errors["kind"] = "请选择困难类型"
    if len(values["description"]) < 5:
        errors["description"] = "请写明困难情况"
    for key, lo, hi in (("household", 1, 20), ("income", 0, 1_000_000), ("expenses", 0, 1_000_000)):
        try:
            number = float(values[key] or ("0" if key == "expenses" else ""))
            if not lo <= number <= hi:
                raise ValueError
            data[key] = int(number) if key == "household" else number
        except ValueError:
            errors[key] = f"请填 {lo}–{hi} 之间的数字"
    for key, parser in (("name", parse_name), ("phone", parse_mobile)):
        try:
            data[key] = parser(values[key])
        except Invalid as exc:
            errors[key] = exc.hint
    data["employer"] = values["employer"][:128]
    if values["id_number"]:
        try:
            data["id_number"] = parse_id_number(values["id_number"])
        except Invalid as exc:
            errors["id_number"] = exc.hint
    if errors:
        return render(request, "hardship/new.html", {"values": values, "errors": errors, "kinds": ops.KINDS},
                      status=400)
    now = request.app[CLOCK].now()
    settings = request.app[SETTINGS]
    try:
        async with db_session(request) as db, db.begin():
            openid = values["openid"]
            member = None
            if openid:
                member = await db.scalar(select(Member).where(Member.openid == openid))
                if member is None:
                    raise ops.HardshipError("没有找到这个微信用户（openid），不关联微信也可以留空")
            req = await ops.submit_request(
                db, now=now, openid=openid, data=data, crypto=request.app[SERVICES]["crypto"],
                dibao=settings.hardship.dibao, consent_version="代办（书面/口头同意）", consent_at=now,
                staff_id=staff.id, member=member)
            await audit.record(db, staff_id=staff.id, action="hardship.submit_for", target=req.ref, now=now)
    except ops.HardshipError as exc:
        errors["openid"] = str(exc)
        return render(request, "hardship/new.html", {"values": values, "errors": errors, "kinds": ops.KINDS},
                      status=400)
    await flash(request, f"已代办录入：{req.ref}")
    raise _back(request, req.id)


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
