"""帮扶审核: the staff pages of hardship help — list, detail, decisions, 代办, export.

The pages hold no queries or business rules: every read and change calls an operation in
`handlers.hardship.ops` with `ops_context(request)` (the logged-in staff member acts), shows
its `HardshipError` as it is, and writes an audit row in the same transaction.
"""
from __future__ import annotations

import mimetypes
from datetime import date
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot.admin import audit, lists, permissions
from bot.admin.auth import current_staff
from bot.admin.web import SERVICES, db_session, flash, ops_context, render
from bot.feature import TodoItem
from bot.db.models.hardship import HardshipRequest
from handlers.hardship import ops
from handlers.hardship.dialogue import check_answers
from handlers.hardship.export import EXPORT_HEADER, export_rows

ACTIONS = ops.STAFF_ACTIONS
MISSING = "没有找到这条申请。"  # ops.get_request's words: another community's request reads the same


def _not_found() -> ops.HardshipError:
    return ops.HardshipError(MISSING)


async def _scoped_request(db, request: web.Request, request_id: int) -> HardshipRequest:  # noqa: ANN001
    """The request, when this account's community may see it; else as if there were none."""
    req = await ops.get_request(db, request_id)
    permissions.check_scope(request, req.community, error=_not_found())
    return req


# ----------------------------------------------------------------------------- the list
def _status_cell(row: ops.ListRow, page: lists.ListPage) -> Markup:
    r = row.req
    parts = [page.m.badge(r.status, ops.STATUS_LABELS.get(r.status, r.status),
                          {"waiting": "wait", "delivered": "ok"}.get(r.status))]
    if row.unreachable:
        parts.append(page.m.badge("unreachable", "无法送达·请电话联系"))
    if r.erase_requested_at:
        parts.append(page.m.badge("x", "申请删除信息", "bad"))
    return Markup(" ").join(parts)


def _ref_cell(row: ops.ListRow, page: lists.ListPage) -> Markup:
    r = row.req
    link = page.link(page.url("hardship.detail", id=r.id), r.ref)
    return link + (Markup(" ") + page.m.badge("x", "代办", "muted") if r.created_by_staff_id else "")


def _tier_cell(row: ops.ListRow, page: lists.ListPage) -> Markup:
    tier = row.req.tier
    if not tier:
        return Markup('<span class="muted">—</span>')
    return page.m.badge("x", tier, "bad" if tier == ops.TIERS[0] else "wait")


async def _list_rows(db, reqs: list, state: lists.ListState) -> list[ops.ListRow]:  # noqa: ANN001
    return await ops.list_rows(db, state.ops, reqs)


async def _community_choices(db, request: web.Request) -> list[tuple[str, str]]:  # noqa: ANN001
    """The list's community filter: a community account's own only (no other community's name)."""
    if permissions.community(request) is not None:
        return [(c, c) for c in permissions.community_choices(request)]
    names = permissions.configured_communities(request)
    names += [c for c in await ops.communities_in_use(db) if c not in names]
    return [(c, c) for c in names] + [("none", "未指定社区")]


async def _start_review_one(db, request_id: int, ctx: lists.ActionContext) -> str:  # noqa: ANN001
    """批量开始审核, one request: the same operation and audit row as the detail page's button."""
    req = await _scoped_request(db, ctx.request, request_id)
    try:
        await ops.start_review(db, ops_context(ctx.request), request_id)
    except ops.HardshipError as exc:
        raise ops.HardshipError(f"{req.ref}：{exc}") from None
    await audit.record(db, staff_id=ctx.staff.id, action="hardship.start_review", target=req.ref,
                       detail={"bulk": True}, now=ctx.now)
    return req.ref


R = HardshipRequest
REQUESTS = lists.ListView(
    title="困难帮扶申请",
    template="hardship/list.html",
    query=lambda st: ops.list_query(st.ops.tz, status=st.filters["status"], kind=st.filters["kind"], tier=st.filters["tier"],
                                    date_from=st.filters["from"], date_to=st.filters["to"],
                                    erase=st.filters["erase"] == "1", community=st.filters["community"]),
    scope=R.community,  # a community account: its community's requests only (none without one)
    search=lists.Search(ops.search_clause, placeholder="编号 / 姓名 / 电话"),
    filters=[
        lists.Choice("status", "状态", list(ops.STATUS_LABELS.items())),
        lists.Choice("kind", "类型", [(k, k) for k in ops.KINDS]),
        lists.Choice("tier", "参考档次", [(t, t) for t in ops.TIERS] + [("none", "未达档次")]),
        lists.DateRange("from", "to", "提交日期从", "至"),
        lists.Choice("erase", "删除要求", [("1", "职工已申请删除")]),
        lists.Choice("community", "社区", _community_choices),
    ],
    rows=_list_rows,
    row_id=lambda row: row.req.id,
    columns=[
        lists.Column("ref", "编号", render=_ref_cell, sort=R.id),
        lists.Column("created", "提交时间", value=lambda row: row.req.created_at, sort=R.created_at),
        lists.Column("name", "姓名", value=lambda row: row.req.name),
        lists.Column("phone", "电话", render=lambda row, p: p.m.masked(row.req.phone, "phone")),
        lists.Column("id_number", "身份证", render=lambda row, p: p.m.masked(row.id_masked, "id")),
        lists.Column("kind", "类型", value=lambda row: row.req.kind, sort=R.kind),
        lists.Column("per_capita", "人均(元)", value=lambda row: f"{row.req.per_capita:.0f}", sort=R.per_capita),
        lists.Column("tier", "参考档次", render=_tier_cell),
        lists.Column("community", "社区", value=lambda row: row.req.community or "—", sort=R.community),
        lists.Column("status", "状态", render=_status_cell),
    ],
    default_sort="-ref",
    tiebreak=R.id.desc(),
    # The export has its own, longer row (handlers/hardship/export.py): phone and ID masked.
    export=lists.Export("帮扶申请", sheet="帮扶申请", audit="hardship.export",
                        table=lambda reqs, st: (EXPORT_HEADER, export_rows(reqs, st.ops.tz))),
    actions=[lists.BulkAction(
        "start_review", "批量开始审核", lists.each(_start_review_one),
        confirm="将所选 {n} 份申请转为「审核中」，并通知这些职工申请已进入审核。确定吗？")],
    unit="条",
    empty="没有符合条件的申请。",
)


async def _detail_context(db, request: web.Request, request_id: int) -> dict[str, Any]:  # noqa: ANN001
    try:
        d = await ops.request_detail(db, request_id)
    except ops.HardshipError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    req = d.req
    permissions.check_scope(request, req.community, not_found=MISSING)
    choices = permissions.configured_communities(request)
    return {
        "r": req, "staff_names": {s.id: s.display_name or s.username for s in d.staff},
        "staff_list": [s for s in d.staff if s.active],
        "labels": ops.STATUS_LABELS, "action_labels": ops.ACTION_LABELS, "worker_labels": ops.WORKER_STATUS,
        "notices": d.notices, "unreachable": d.unreachable, "actions": d.actions,
        "has_id": bool(req.id_number_enc), "revealed": {}, "kinds": ops.KINDS, "check": d.check,
        "today": ops_context(request).local().date().isoformat(),
        # Federation accounts move a request between communities (a community account can't).
        "communities": choices + ([req.community] if req.community and req.community not in choices else []),
        "may_set_community": permissions.community(request) is None and permissions.may(request, "hardship.community"),
    }


async def detail(request: web.Request) -> web.Response:
    """Everything the worker gave, the timeline, notes, assignment and the next decisions."""
    async with db_session(request) as db, db.begin():
        ctx = await _detail_context(db, request, int(request.match_info["id"]))
        # Every look at a request is audited (who saw which worker's data), not only reveals.
        await audit.record(db, staff_id=current_staff(request).id, action="hardship.view", target=ctx["r"].ref,
                           now=ops_context(request).now)
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
        unreadable = what == "id" and bool(req.id_number_enc) and not value
        await audit.record(db, staff_id=staff.id, action=f"hardship.reveal_{what}", target=req.ref,
                           detail={"unreadable": True} if unreadable else None, now=ops_context(request).now)
    if unreadable:  # written under a key this service no longer holds (docs/security.md, key rotation)
        value = "无法解密：加密它的密钥不在当前配置中，请联系系统管理员"
    ctx["revealed"] = {what: value}
    return render(request, "hardship/detail.html", ctx)


async def _refused(request: web.Request, request_id: int, action: str, reason: str,
                   detail: dict[str, Any] | None = None) -> None:
    """A decision the rules refused, audited as refused under the request's reference."""
    if reason == MISSING:  # not found / another community's: the scope check records it
        return
    async with db_session(request) as db:
        try:
            ref = (await ops.get_request(db, request_id)).ref
        except ops.HardshipError:
            ref = f"#{request_id}"
    await audit.record_refused(request, action=action, target=ref, reason=reason, detail=detail)


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
    ctx = ops_context(request)  # the logged-in staff member decides
    message = str(form.get("message", "")).strip()[:500]
    amount_raw = str(form.get("amount", "")).strip()
    try:
        amount = float(amount_raw) if amount_raw else None
    except ValueError:
        await flash(request, "发放金额请填写数字。", "error")
        raise _back(request, request_id) from None
    try:
        aid_date: date | None = date.fromisoformat(str(form.get("aid_date", "")).strip())
    except ValueError:
        aid_date = None  # the operation asks for it
    try:
        async with db_session(request) as db, db.begin():
            await _scoped_request(db, request, request_id)
            if action == "deliver":
                req = await ops.deliver(db, ctx, request_id, amount=amount,
                                        aid_kind=str(form.get("aid_kind", ""))[:200], aid_date=aid_date)
            elif action == "reject":
                req = await ops.reject(db, ctx, request_id, reason=message)
            elif action == "request_more":
                req = await ops.request_more(db, ctx, request_id, message=message)
            elif action == "approve":
                req = await ops.approve(db, ctx, request_id, message=message)
            elif action == "start_review":
                req = await ops.start_review(db, ctx, request_id)
            else:
                req = await ops.close(db, ctx, request_id)
            detail: dict[str, Any] = {"message": message} if message else {}
            if action == "deliver":  # what was handed out, as recorded
                detail.update(amount=req.aid_amount, kind=req.aid_kind,
                              date=req.aid_date.isoformat() if req.aid_date else None)
            await audit.record(db, staff_id=staff.id, action=f"hardship.{action}", target=req.ref,
                               detail=detail, now=ctx.now)
    except ops.HardshipError as exc:
        await _refused(request, request_id, f"hardship.{action}", str(exc),
                       {"amount": amount} if action == "deliver" and amount is not None else None)
        await flash(request, str(exc), "error")
        raise _back(request, request_id) from None
    await flash(request, f"已{ops.ACTION_LABELS[action]}：{req.ref}")
    raise _back(request, request_id)


async def note(request: web.Request) -> web.StreamResponse:
    """An internal note (never sent to the worker)."""
    staff = current_staff(request)
    request_id = int(request.match_info["id"])
    text = str((await request.post()).get("text", ""))
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            req = await _scoped_request(db, request, request_id)
            await ops.add_note(db, ctx, request_id, text=text)
            await audit.record(db, staff_id=staff.id, action="hardship.note", target=req.ref, now=ctx.now)
    except ops.HardshipError as exc:
        await flash(request, str(exc), "error")
    raise _back(request, request_id)


async def assign(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    request_id = int(request.match_info["id"])
    raw = str((await request.post()).get("assignee", ""))
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            await _scoped_request(db, request, request_id)
            req = await ops.assign(db, ctx, request_id, assignee_id=int(raw) if raw.isdigit() else None)
            await audit.record(db, staff_id=staff.id, action="hardship.assign", target=req.ref,
                               detail={"assignee": req.assigned_staff_id}, now=ctx.now)
    except ops.HardshipError as exc:
        await flash(request, str(exc), "error")
        raise _back(request, request_id) from None
    await flash(request, "已更新经办人")
    raise _back(request, request_id)


async def photo(request: web.Request) -> web.StreamResponse:
    """A fetched evidence photo (only through the logged-in admin)."""
    media_dir: Path = Path(request.app[SERVICES].get("media_dir") or "data/media")
    async with db_session(request) as db:
        row = await ops.get_photo(db, int(request.match_info["photo_id"]))
        owner = await db.get(HardshipRequest, row.request_id) if row is not None else None
    if row is None or not row.path:
        raise web.HTTPNotFound(text="照片尚未获取")
    permissions.check_scope(request, owner.community if owner is not None else None, not_found="照片尚未获取")
    path = (media_dir / row.path).resolve()
    if not path.is_relative_to(media_dir.resolve()) or not path.is_file():
        raise web.HTTPNotFound(text="照片文件不存在")
    ctype = row.content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return web.FileResponse(path, headers={"Content-Type": ctype.split(";")[0],
                                           "Cache-Control": "private, no-store"})


NEW_FIELDS = ("openid", "kind", "description", "household", "income", "expenses", "name", "phone", "employer",
              "id_number", "community", "consent")


def _new_page(request: web.Request, values: dict[str, str], errors: dict[str, str], status: int = 200,
              match: ops.LinkMatch | None = None) -> web.Response:
    return render(request, "hardship/new.html", {"values": values, "errors": errors, "kinds": ops.KINDS,
                                                 "match": match,
                                                 "communities": permissions.community_choices(request),
                                                 "own_community": permissions.community(request)},
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
    try:  # a community account records for its own community
        data["community"] = permissions.chosen_community(request, values["community"])
    except permissions.BadCommunity as exc:
        errors["community"] = str(exc)
    if not values["consent"]:
        errors["consent"] = "请先向本人说明用途并取得同意"
    if errors:
        return _new_page(request, values, errors, status=400)
    ctx = ops_context(request)  # the logged-in staff member records it
    try:
        async with db_session(request) as db, db.begin():
            # A follower is linked only when staff saw who it is and confirmed it (a typo in the
            # phone number would otherwise send someone's decisions to a stranger's WeChat).
            match, link_note = await ops.find_link(db, openid=values["openid"], phone=str(data.get("phone") or ""),
                                                   name=str(data.get("name") or ""))
            shown = match is not None and str(form.get("link_to", "")) == match.openid
            if match is not None and not shown:
                return _new_page(request, values, {}, match=match)  # show the match; nothing stored yet
            link = match.openid if shown and form.get("link_confirm") == "1" else ""
            req = await ops.submit_on_behalf(db, ctx, openid=link, data=data)
            await audit.record(db, staff_id=staff.id, action="hardship.submit_for", target=req.ref, now=ctx.now,
                               detail={"linked": bool(link), "match_offered": match is not None,
                                       **({"name_mismatch": match.name_mismatch} if match is not None else {})})
    except ops.HardshipError as exc:
        return _new_page(request, values, {"openid": str(exc)}, status=400)
    if req.openid:
        linked = "已关联微信，进度会通知本人"
    elif match is not None:
        linked = "未确认匹配的微信用户，未关联微信，进度请电话告知本人"
    else:
        linked = "未关联微信，进度请电话告知本人"
    await flash(request, f"已代办录入：{req.ref}（{linked}）" + (f"。{link_note}" if link_note else ""),
                "warn" if link_note else "ok")
    raise _back(request, req.id)


async def todo(db, community: str | None = None) -> list[TodoItem]:  # noqa: ANN001
    """The home page's hardship to-dos: what waits for staff (of a community account: its own)."""
    counts = await ops.status_counts(db, community)
    items = [
        TodoItem("待审核的帮扶申请", counts.get("submitted", 0), "/admin/hardship?status=submitted"),
        TodoItem("审核中的帮扶申请", counts.get("reviewing", 0), "/admin/hardship?status=reviewing"),
        TodoItem("已通过待发放", counts.get("approved", 0), "/admin/hardship?status=approved"),
    ]
    erase = await ops.erase_requested_count(db, community)
    if erase:
        items.append(TodoItem("职工申请删除个人信息（办结后自动删除）", erase, "/admin/hardship?erase=1"))
    return items


async def set_community(request: web.Request) -> web.StreamResponse:
    """The federation gives a request to a community (whose accounts then see it), or to none."""
    request_id = int(request.match_info["id"])
    ctx = ops_context(request)
    form = await request.post()
    try:
        if permissions.community(request) is not None:
            raise permissions.Refused("社区账号不能更改申请的所属社区，如需转给其他社区，请联系街道总工会。")
        community = permissions.chosen_community(request, form.get("community"))
        async with db_session(request) as db, db.begin():
            await _scoped_request(db, request, request_id)
            req, before = await ops.set_community(db, ctx, request_id, community=community)
            await audit.record(db, staff_id=ctx.staff_id, action="hardship.set_community", target=req.ref,
                               detail={"from": before, "to": community}, now=ctx.now)
    except (ops.HardshipError, permissions.BadCommunity) as exc:
        await flash(request, str(exc), "error")
        raise _back(request, request_id) from None
    await flash(request, f"已将 {req.ref} 的所属社区改为「{community or '未指定'}」")
    raise _back(request, request_id)


def setup(app: web.Application) -> None:
    REQUESTS.add_routes(app.router, "/hardship", name="hardship.list", export_name="hardship.export",
                        bulk_name="hardship.bulk")
    app.router.add_get("/hardship/new", new_form, name="hardship.new")
    app.router.add_post("/hardship/new", new_submit, name="hardship.create")
    app.router.add_get(r"/hardship/{id:\d{1,9}}", detail, name="hardship.detail")
    app.router.add_post(r"/hardship/{id:\d{1,9}}/act/{action}", act, name="hardship.act")
    app.router.add_post(r"/hardship/{id:\d{1,9}}/note", note, name="hardship.note")
    app.router.add_post(r"/hardship/{id:\d{1,9}}/assign", assign, name="hardship.assign")
    app.router.add_post(r"/hardship/{id:\d{1,9}}/community", set_community, name="hardship.community")
    app.router.add_post(r"/hardship/{id:\d{1,9}}/reveal", reveal, name="hardship.reveal")
    app.router.add_get(r"/hardship/photo/{photo_id:\d{1,9}}", photo, name="hardship.photo")
