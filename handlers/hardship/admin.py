"""帮扶审核: the staff pages of hardship help — list, detail, decisions, 代办, export.

The pages hold no queries or business rules: every read and change calls an operation in
`handlers.hardship.ops` with `ops_context(request)` (the logged-in staff member acts), shows
its `HardshipError` as it is, and writes an audit row in the same transaction.

Pages and actions:
- every action redirects back to the detail page with a message (POST → 303 → GET); a refused
  one shows the page again (400) with the error beside the form and what was typed kept;
- reveal is a POST too: audited, then the page shows the value for `ops.REVEAL_FOR` after this
  staff member's audit row, so a refresh neither re-submits nor audits again;
- the detail page carries `?back=` (the list's URL with its filters and page), so 返回列表 and
  every action keep them;
- decisions that tell the worker ask first (`data-confirm`); 更正 puts a mistaken one right.
"""
from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web
from markupsafe import Markup

from bot.admin import audit, lists, permissions
from bot.admin.auth import current_staff
from bot.admin.web import SERVICES, db_session, flash, ops_context, render
from bot.feature import TodoItem
from bot.db.models.hardship import HardshipRequest
from handlers.hardship import ops, staging
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


LIST_PATH = "/admin/hardship"


def safe_back(raw: object) -> str:
    """A 返回列表 target from the query: the list's own URL (with its filters and page), else ""."""
    back = str(raw or "")
    if len(back) > 1000 or any(c in back for c in "\\\r\n\t") or "//" in back:
        return ""
    return back if back == LIST_PATH or back.startswith(LIST_PATH + "?") else ""


def _back_qs(back: str) -> str:
    return f"?back={quote(back, safe='')}" if back else ""


def detail_url(request: web.Request, request_id: int, back: str = "") -> str:
    return str(request.app.router["hardship.detail"].url_for(id=str(request_id))) + _back_qs(back)


def _ref_cell(row: ops.ListRow, page: lists.ListPage) -> Markup:
    r = row.req
    back = page.back if page.state.request.query else ""
    link = page.link(page.url("hardship.detail", id=r.id) + _back_qs(safe_back(back)), r.ref)
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


async def _list_context(request: web.Request) -> dict[str, Any]:
    """The list's tabs: 全部 / 我的待办 (with how many are assigned to me and still open)."""
    staff = current_staff(request)
    async with db_session(request) as db:
        mine = await ops.my_open_count(db, staff.id, permissions.community(request))
    return {"mine_count": mine, "mine_active": request.query.get("mine") == "me"}


R = HardshipRequest
REQUESTS = lists.ListView(
    title="困难帮扶申请",
    template="hardship/list.html",
    query=lambda st: ops.list_query(st.ops.tz, status=st.filters["status"], kind=st.filters["kind"], tier=st.filters["tier"],
                                    date_from=st.filters["from"], date_to=st.filters["to"],
                                    erase=st.filters["erase"] == "1", community=st.filters["community"],
                                    mine=st.filters["mine"], staff_id=getattr(st.staff, "id", None)),
    context=_list_context,
    scope=R.community,  # a community account: its community's requests only (none without one)
    search=lists.Search(ops.search_clause, placeholder="编号 / 姓名 / 电话"),
    filters=[
        lists.Choice("status", "状态", list(ops.STATUS_LABELS.items())),
        lists.Choice("kind", "类型", [(k, k) for k in ops.KINDS]),
        lists.Choice("tier", "参考档次", [(t, t) for t in ops.TIERS] + [("none", "未达档次")]),
        lists.DateRange("from", "to", "提交日期从", "至"),
        lists.Choice("erase", "删除要求", [("1", "职工已申请删除")]),
        lists.Choice("community", "社区", _community_choices),
        lists.Choice("mine", "经办", list(ops.MINE_CHOICES)),
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


def _confirms(req: HardshipRequest) -> dict[str, str]:
    """The questions asked before a decision that tells the worker (admin.js: data-confirm)."""
    if req.openid:
        told = "职工会通过微信收到通知"
    else:
        told = "这份申请没有关联微信，职工收不到通知，请电话告诉本人"
    return {
        "start_review": f"开始审核：{told}（「申请已进入审核」）。确定吗？",
        "approve": f"确定审核通过吗？{told}（「审核通过」和您的留言）。",
        "request_more": f"请职工补充材料：{told}（您写的补充要求）。确定发送吗？",
        "reject": f"确定不予通过吗？{told}（「未通过」和您写的原因）。",
        "deliver": f"确定登记发放吗？{told}（发放的金额或实物和日期）。",
        "close": "确定结束这条申请吗？不会通知职工；结束后如有需要，可以用「更正」撤回。",
        "correct": ("更正后，职工会通过微信收到一条更正通知。确定吗？" if ops.worker_was_told(req)
                    else "确定更正吗？（之前没有通过微信通知过职工，这次也不会发通知。）"),
    }


async def _detail_context(db, request: web.Request, request_id: int) -> dict[str, Any]:  # noqa: ANN001
    try:
        d = await ops.request_detail(db, request_id)
    except ops.HardshipError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    req = d.req
    permissions.check_scope(request, req.community, not_found=MISSING)
    choices = permissions.configured_communities(request)
    ctx = ops_context(request)
    back = safe_back(request.query.get("back"))
    back_url = back or LIST_PATH
    revealed: dict[str, str] = {}
    for field in await ops.recent_reveals(db, ctx, req.ref):
        if field == "phone":
            revealed["phone"] = req.phone
        elif req.id_number_enc:
            revealed["id"] = ops.reveal_id(req, request.app[SERVICES]["crypto"]) or \
                "无法解密：加密它的密钥不在当前配置中，请联系系统管理员"
    return {
        "r": req, "staff_names": {s.id: s.display_name or s.username for s in d.staff},
        "staff_list": [s for s in d.staff if s.active],
        "labels": ops.STATUS_LABELS, "action_labels": ops.ACTION_LABELS, "worker_labels": ops.WORKER_STATUS,
        "notices": d.notices, "unreachable": d.unreachable, "actions": d.actions,
        "has_id": bool(req.id_number_enc), "revealed": revealed, "reveal_minutes": int(ops.REVEAL_FOR.total_seconds() // 60),
        "kinds": ops.KINDS, "check": d.check,
        "today": ctx.local().date().isoformat(), "submitted_day": ctx.local(req.created_at).date().isoformat(),
        "max_amount": ops.MAX_AID_AMOUNT, "max_message": ops.MAX_MESSAGE, "max_note": ops.MAX_NOTE,
        "corrections": [(k, ops.correction_label(k, req.status)) for k in ops.corrections(req)],
        "confirms": _confirms(req),
        "back": back, "back_qs": _back_qs(back), "back_url": back_url,
        "breadcrumb": [("帮扶审核", back_url), (req.ref, "")],
        "error": "", "kept": {},
        # Federation accounts move a request between communities (a community account can't).
        "communities": choices + ([req.community] if req.community and req.community not in choices else []),
        "may_set_community": permissions.community(request) is None and permissions.may(request, "hardship.community", "POST"),
    }


async def _detail_page(request: web.Request, request_id: int, *, status: int = 200, error: str = "",
                       kept: dict[str, str] | None = None) -> web.Response:
    """The detail page; after a refused action (status 400) with the error beside the form and
    what was typed in it kept (`kept["action"]` names the form)."""
    async with db_session(request) as db, db.begin():
        ctx = await _detail_context(db, request, request_id)
        # Every look at a request is audited (who saw which worker's data), not only reveals.
        await audit.record(db, staff_id=current_staff(request).id, action="hardship.view", target=ctx["r"].ref,
                           now=ops_context(request).now)
    ctx.update(error=error, kept=kept or {})
    return render(request, "hardship/detail.html", ctx, status=status)


async def detail(request: web.Request) -> web.Response:
    """Everything the worker gave, the decisions first, the timeline, notes, assignment."""
    return await _detail_page(request, int(request.match_info["id"]))


async def reveal(request: web.Request) -> web.StreamResponse:
    """查看完整号码 / 身份证号: audited, then back to the page (POST → 303 → GET), which shows the
    value for a while after this audit row — a refresh is not a new reveal."""
    staff = current_staff(request)
    form = await request.post()
    what = "id" if form.get("field") == "id" else "phone"
    request_id = int(request.match_info["id"])
    async with db_session(request) as db, db.begin():
        try:
            req = await ops.get_request(db, request_id)
        except ops.HardshipError:
            raise web.HTTPNotFound(text=MISSING) from None
        permissions.check_scope(request, req.community, not_found=MISSING)
        value = ops.reveal_id(req, request.app[SERVICES]["crypto"]) if what == "id" else req.phone
        unreadable = what == "id" and bool(req.id_number_enc) and not value
        await audit.record(db, staff_id=staff.id, action=ops.REVEAL_ACTIONS[what], target=req.ref,
                           detail={"unreadable": True} if unreadable else None, now=ops_context(request).now)
    if not value and not unreadable:
        await flash(request, "这份申请没有填写" + ("身份证号。" if what == "id" else "手机号。"), "warn")
    raise web.HTTPSeeOther(detail_url(request, request_id, safe_back(request.query.get("back"))) + "#hs-contact")


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
    """Back to the detail page, keeping the list's filters (`?back=` of the form's URL)."""
    return web.HTTPSeeOther(detail_url(request, request_id, safe_back(request.query.get("back"))))


def _kept(form: Any, action: str, names: tuple[str, ...]) -> dict[str, str]:
    return {"action": action, **{k: str(form.get(k, ""))[:5000] for k in names}}


async def act(request: web.Request) -> web.StreamResponse:
    """One status decision (a button on the detail page) through its operation."""
    staff = current_staff(request)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound(text="没有这个操作")
    request_id = int(request.match_info["id"])
    form = await request.post()
    kept = _kept(form, action, ("message", "amount", "aid_kind", "aid_date"))
    ctx = ops_context(request)  # the logged-in staff member decides
    message = kept["message"].strip()
    amount = None
    try:
        if action == "deliver":  # what staff typed, checked before anything is stored or sent
            amount = ops.parse_amount(kept["amount"])
            aid_date = ops.parse_day(kept["aid_date"], "发放日期")
        async with db_session(request) as db, db.begin():
            await _scoped_request(db, request, request_id)
            if action == "deliver":
                req = await ops.deliver(db, ctx, request_id, amount=amount,
                                        aid_kind=kept["aid_kind"], aid_date=aid_date)
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
        return await _refused_page(request, request_id, f"hardship.{action}", exc, kept,
                                   {"amount": amount if amount is not None else kept["amount"][:30]}
                                   if action == "deliver" and kept["amount"].strip() else None)
    if action == "close":
        tail = ""
    elif req.openid:
        tail = "，已给职工发送通知"
    else:
        tail = "。这份申请没有关联微信，请电话告知本人"
    await flash(request, f"已{ops.ACTION_LABELS[action]}：{req.ref}{tail}")
    raise _back(request, request_id)


async def _refused_page(request: web.Request, request_id: int, action: str, exc: ops.HardshipError,
                        kept: dict[str, str], detail: dict[str, Any] | None = None) -> web.StreamResponse:
    """A refused action: audited as refused, the page again with the error and the input kept
    (a request not found — or another community's — goes back with the same words instead)."""
    if str(exc) == MISSING:
        await flash(request, MISSING, "error")
        raise _back(request, request_id) from None
    await _refused(request, request_id, action, str(exc), detail)
    return await _detail_page(request, request_id, status=400, error=str(exc), kept=kept)


async def note(request: web.Request) -> web.StreamResponse:
    """An internal note (never sent to the worker)."""
    staff = current_staff(request)
    request_id = int(request.match_info["id"])
    form = await request.post()
    kept = _kept(form, "note", ("text",))
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            req = await _scoped_request(db, request, request_id)
            await ops.add_note(db, ctx, request_id, text=kept["text"])
            await audit.record(db, staff_id=staff.id, action="hardship.note", target=req.ref, now=ctx.now)
    except ops.HardshipError as exc:
        if str(exc) == MISSING:
            raise web.HTTPNotFound(text=MISSING) from None
        return await _detail_page(request, request_id, status=400, error=str(exc), kept=kept)
    await flash(request, "已添加备注（仅工作人员可见，不会发给职工）")
    raise _back(request, request_id)


async def correct(request: web.Request) -> web.StreamResponse:
    """更正 a decision taken by mistake (ops.correct): audited with before/after; the worker gets a
    short correction where they were told the mistaken decision."""
    staff = current_staff(request)
    request_id = int(request.match_info["id"])
    form = await request.post()
    kind = str(form.get("kind", ""))
    kept = _kept(form, "correct", ("kind", "reason", "amount", "aid_kind", "aid_date"))
    ctx = ops_context(request)
    try:
        amount = aid_date = None
        if kind == "fix_delivery":
            amount = ops.parse_amount(kept["amount"])
            aid_date = ops.parse_day(kept["aid_date"], "发放日期")
        async with db_session(request) as db, db.begin():
            await _scoped_request(db, request, request_id)
            done = await ops.correct(db, ctx, request_id, kind=kind, reason=kept["reason"], amount=amount,
                                     aid_kind=kept["aid_kind"], aid_date=aid_date)
            await audit.record(db, staff_id=staff.id, action="hardship.correct", target=done.req.ref, now=ctx.now,
                               detail={"kind": kind, "before": done.before, "after": done.after, "told": done.told})
    except ops.HardshipError as exc:
        return await _refused_page(request, request_id, "hardship.correct", exc, kept, {"kind": kind[:30]})
    label = ops.correction_label(kind, done.before["status"])
    if done.told:
        tail = "。已给职工发送更正通知"
    elif not done.req.openid and kind != "reopen_closed":
        tail = "。这份申请没有关联微信，请电话告诉本人更正的内容"
    else:
        tail = ""
    await flash(request, f"已更正 {done.req.ref}：{label}{tail}")
    raise _back(request, request_id)


async def assign(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    request_id = int(request.match_info["id"])
    raw = str((await request.post()).get("assignee", ""))
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            await _scoped_request(db, request, request_id)
            assignee_id = int(raw) if raw.isdecimal() and len(raw) <= 9 else None
            if raw and assignee_id is None:
                raise ops.HardshipError("没有找到这位工作人员。")
            req = await ops.assign(db, ctx, request_id, assignee_id=assignee_id)
            who = await ops.staff_name(db, req.assigned_staff_id)
            await audit.record(db, staff_id=staff.id, action="hardship.assign", target=req.ref,
                               detail={"assignee": req.assigned_staff_id}, now=ctx.now)
    except ops.HardshipError as exc:
        await flash(request, str(exc), "error")
        raise _back(request, request_id) from None
    await flash(request, f"已将 {req.ref} 的经办人改为「{who}」" if who else f"已取消 {req.ref} 的经办人")
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
    async with db_session(request) as db, db.begin():  # evidence is sensitive: every view is audited
        await audit.record(db, staff_id=current_staff(request).id, action="hardship.view_photo",
                           target=owner.ref if owner is not None else "", detail={"photo": row.id},
                           now=ops_context(request).now)
    ctype = row.content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return web.FileResponse(path, headers={"Content-Type": ctype.split(";")[0],
                                           "Cache-Control": "private, no-store"})


NEW_FIELDS = ("openid", "kind", "description", "household", "income", "expenses", "name", "phone", "employer",
              "id_number", "community", "consent")


def _media_dir(request: web.Request) -> Path:
    return Path(request.app[SERVICES].get("media_dir") or "data/media")


def _new_page(request: web.Request, values: dict[str, str], errors: dict[str, str], status: int = 200,
              match: ops.LinkMatch | None = None, staged: tuple[str, int] = ("", 0)) -> web.Response:
    return render(request, "hardship/new.html", {"values": values, "errors": errors, "kinds": ops.KINDS,
                                                 "match": match, "staged_token": staged[0], "staged_count": staged[1],
                                                 "max_photos": ops.MAX_PHOTOS,
                                                 "max_photo_mb": ops.MAX_PHOTO_BYTES // (1024 * 1024),
                                                 "communities": permissions.community_choices(request),
                                                 "own_community": permissions.community(request)},
                  status=status)


async def new_form(request: web.Request) -> web.Response:
    """代办: record a request on a worker's behalf (e.g. after a home visit)."""
    values = {k: str(v) for k, v in request.query.items() if k in NEW_FIELDS}
    return _new_page(request, {"expenses": "0", **values}, {})


def _uploads(form: Any) -> tuple[list[ops.UploadedPhoto], list[str]]:
    """The photos chosen in the form's file box, checked (type by content, size): (good, problems)."""
    good: list[ops.UploadedPhoto] = []
    problems: list[str] = []
    for item in form.getall("photos", []):
        if not isinstance(item, web.FileField) or not item.filename:
            continue  # an empty file box
        data = item.file.read(ops.MAX_PHOTO_BYTES + 1)
        try:
            good.append(ops.check_photo(unquote(item.filename), data))  # some clients send names %-encoded
        except ops.HardshipError as exc:
            problems.append(str(exc))
    return good, problems


async def new_submit(request: web.Request) -> web.StreamResponse:
    """代办: the dialogue's own rules check the values, then the same operation stores them.

    Photos chosen with the form are checked, and kept (handlers/hardship/staging.py) while the
    form comes back for a correction or to confirm the WeChat follower, so nothing is chosen twice."""
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
    root = _media_dir(request)
    staging.sweep(root)
    token = str(form.get("staged", ""))
    if form.get("drop_staged") == "1":
        staging.discard(root, staff.id, token)
        token = ""
    kept = staging.load(root, staff.id, token)
    new, problems = _uploads(form)
    room = max(0, ops.MAX_PHOTOS - len(kept))
    if len(new) > room:
        problems.append(f"一份申请最多 {ops.MAX_PHOTOS} 张照片，多出的 {len(new) - room} 张没有保存。")
        new = new[:room]
    if problems:
        errors["photos"] = "".join(problems)
    photos = kept + new

    def again(status: int, errors: dict[str, str], match: ops.LinkMatch | None = None) -> web.Response:
        staged = staging.keep(root, staff.id, token, new) if new else token
        return _new_page(request, values, errors, status=status, match=match,
                         staged=(staged, len(photos)) if photos else ("", 0))

    if errors:
        return again(400, errors)
    ctx = ops_context(request)  # the logged-in staff member records it
    try:
        async with db_session(request) as db, db.begin():
            # A follower is linked only when staff saw who it is and confirmed it (a typo in the
            # phone number would otherwise send someone's decisions to a stranger's WeChat).
            match, link_note = await ops.find_link(db, openid=values["openid"], phone=str(data.get("phone") or ""),
                                                   name=str(data.get("name") or ""),
                                                   community=permissions.community(request))
            shown = match is not None and str(form.get("link_to", "")) == match.openid
            if match is not None and not shown:  # show the match (a view of a follower's profile: audited)
                await audit.record(db, staff_id=staff.id, action="hardship.link_lookup", target=f"member:{match.openid}",
                                   detail={"by": match.by, "name_mismatch": match.name_mismatch}, now=ctx.now)
                return again(200, {}, match)  # nothing else stored yet
            link = match.openid if shown and form.get("link_confirm") == "1" else ""
            req = await ops.submit_on_behalf(db, ctx, openid=link, data=data, photos=photos)
            await audit.record(db, staff_id=staff.id, action="hardship.submit_for", target=req.ref, now=ctx.now,
                               detail={"linked": bool(link), "match_offered": match is not None,
                                       **({"photos": len(photos)} if photos else {}),
                                       **({"name_mismatch": match.name_mismatch} if match is not None else {})})
    except ops.HardshipError as exc:
        return again(400, {"openid": str(exc)})
    staging.discard(root, staff.id, token)
    if req.openid:
        linked = "已关联微信，进度会通知本人"
    elif match is not None:
        linked = "未确认匹配的微信用户，未关联微信，进度请电话告知本人"
    else:
        linked = "未关联微信，进度请电话告知本人"
    shots = f"，附照片 {len(photos)} 张" if photos else ""
    await flash(request, f"已代办录入：{req.ref}（{linked}{shots}）" + (f"。{link_note}" if link_note else ""),
                "warn" if link_note else "ok")
    raise _back(request, req.id)


async def todo(db, community: str | None = None, assigned_to: int | None = None) -> list[TodoItem]:  # noqa: ANN001
    """The 工作台's hardship to-dos: what waits for staff (of a community account: its own); with
    `assigned_to`, 我的待办 — the open requests assigned to that staff member."""
    if assigned_to is not None:
        mine = await ops.my_open_count(db, assigned_to, community)
        return [TodoItem("分配给我的帮扶申请", mine, "/admin/hardship?mine=me")]
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
    app.router.add_post(r"/hardship/{id:\d{1,9}}/correct", correct, name="hardship.correct")
    app.router.add_post(r"/hardship/{id:\d{1,9}}/reveal", reveal, name="hardship.reveal")
    app.router.add_get(r"/hardship/photo/{photo_id:\d{1,9}}", photo, name="hardship.photo")
