"""活动报名: staff pages of trainings and events — publish, edit, cancel, sign-up lists,
manual check-in, check-in code and QR, exports, and the training record (培训台账).

All rules and queries are in `handlers.signup.ops` (and the read-only `reports`); this module
parses forms, calls them with `ops_context(request)` and renders (a refusal is shown as its text).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.admin import audit, lists, permissions
from bot.admin.export import spreadsheet_response
from bot.admin.filters import mask
from bot.admin.web import db_session, flash, ops_context, render
from bot.db.models.signup import KINDS, Activity, Signup
from bot.operations import OpsContext
from handlers.signup import ops
from handlers.signup import reports

ROW_STATUS = {"confirmed": "报名成功", "waitlist": "候补", "cancelled": "已取消", "attended": "已签到"}
VIA = {"code": "签到码", "qr": "扫码", "staff": "工作人员"}
CANCEL_REFUSED = {"attended": "该职工已签到，不能取消报名"}
QR_IMAGE = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="


def _back(request: web.Request, activity_id: int) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(str(request.app.router["signup.detail"].url_for(activity_id=str(activity_id))))


async def _audit(db: Any, ctx: OpsContext, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """The audit row of this staff action: who acts and when come from the context."""
    await audit.record(db, staff_id=ctx.staff_id, action=action, target=target, detail=detail, now=ctx.now)


MISSING = "没有这个活动。"  # ops.get_activity's words: another community's activity reads the same


async def _scoped_activity(request: web.Request, db: Any, activity_id: int, *, act: bool,
                           error: Exception | None = None) -> Activity:
    """The activity as this account may see it (`act`: to act on — its own community's only; a
    federation-wide one is read-only for community accounts). Another community's is "not found"."""
    a = await ops.find_activity(db, activity_id)
    if a is None:
        if error is not None:
            raise error
        raise web.HTTPNotFound(text=MISSING)
    if act:
        permissions.check_own(request, a.community, not_found=MISSING, error=error)
    else:
        permissions.check_scope(request, a.community, shared=True, not_found=MISSING, error=error)
    return a


async def _get_signup(db: Any, activity_id: int, signup_id: int) -> Signup:
    try:
        return await ops.get_signup(db, activity_id, signup_id)
    except ops.SignupError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None


# ----------------------------------------------------------------------------- list
class _Row(NamedTuple):
    a: Activity
    counts: ops.ListCounts
    phase: tuple[str, str]  # (label, tone)


async def _list_rows(db, acts: list[Activity], state: lists.ListState) -> list[_Row]:  # noqa: ANN001
    counts = await ops.list_counts(db, [a.id for a in acts])
    return [_Row(a, counts[a.id], ops.phase(a, state.now)) for a in acts]


def _seats(a: Activity) -> str:
    return f"{a.taken} / {a.capacity if a.capacity is not None else '不限'}"


A = Activity
ACTIVITIES = lists.ListView(
    title="培训与活动",
    template="signup/list.html",
    query=lambda st: ops.list_query(kind=st.filters["kind"], state=st.filters["state"], now=st.now),
    # A community account: its community's activities and the federation's own (read-only).
    scope=Activity.community, scope_shared=True,
    search=lists.Search(ops.list_search, placeholder="名称 / 地点"),
    filters=[lists.Choice("kind", "类别", list(KINDS.items())),
             lists.Choice("state", "状态", list(ops.LIST_STATES.items()))],
    rows=_list_rows,
    row_id=lambda row: row.a.id,
    columns=[
        lists.Column("kind", "类别", value=lambda row: row.a.kind_zh, sort=A.kind),
        lists.Column("title", "名称", value=lambda row: row.a.title, sort=A.title,
                     render=lambda row, p: p.link(p.url("signup.detail", activity_id=row.a.id), row.a.title)),
        lists.Column("starts", "时间", value=lambda row: row.a.starts_at, sort=A.starts_at,
                     render=lambda row, p: ops.when_text(row.a, p.state.ops.tz)),
        lists.Column("place", "地点", value=lambda row: row.a.place),
        lists.Column("seats", "报名 / 名额", value=lambda row: _seats(row.a), sort=A.taken),
        lists.Column("waiting", "候补", value=lambda row: row.counts.waiting),
        lists.Column("came", "签到", value=lambda row: row.counts.came),
        lists.Column("phase", "状态", value=lambda row: row.phase[0],
                     render=lambda row, p: p.m.badge("x", *row.phase)),
        lists.Column("organiser", "主办", value=lambda row: row.a.community or "街道总工会", sort=A.community),
    ],
    default_sort="-starts",
    desc_first=frozenset({"starts", "seats"}),
    tiebreak=A.id.desc(),
    export=lists.Export("活动列表", sheet="活动", audit="signup.list_export"),
    unit="个",
    empty="没有符合条件的活动。点「发布新活动」开始。",
)


# ----------------------------------------------------------------------------- create / edit
def _form_values(a: Activity | None, tz: ZoneInfo) -> dict[str, str]:
    if a is None:
        return {"kind": "training", "waitlist": "1"}

    def dt(v: datetime) -> str:
        return v.astimezone(tz).strftime("%Y-%m-%dT%H:%M")

    return {"kind": a.kind, "title": a.title, "description": a.description, "place": a.place,
            "starts_at": dt(a.starts_at), "ends_at": dt(a.ends_at), "deadline": dt(a.deadline),
            "capacity": "" if a.capacity is None else str(a.capacity), "waitlist": "1" if a.waitlist else "",
            "audience": a.audience, "community": a.community or ""}


def _parse_form(form: Any, tz: ZoneInfo) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """(raw values, clean fields, errors by field)."""
    values = {k: str(form.get(k, "")).strip() for k in
              ("kind", "title", "description", "place", "starts_at", "ends_at", "deadline", "capacity", "waitlist",
               "audience", "community")}
    errors: dict[str, str] = {}

    def when(name: str, required: bool = True) -> datetime | None:
        raw = values[name]
        if not raw:
            if required:
                errors[name] = "请填写时间"
            return None
        try:
            return datetime.fromisoformat(raw).replace(tzinfo=tz)
        except ValueError:
            errors[name] = "时间格式不对"
            return None

    capacity = None
    if values["capacity"]:
        try:
            capacity = int(values["capacity"])  # at least 1: the operation says so
        except ValueError:
            errors["capacity"] = "请填写正整数，不限人数请留空"
    fields = {"kind": values["kind"], "title": values["title"][:120], "description": values["description"],
              "place": values["place"][:200], "starts_at": when("starts_at"), "ends_at": when("ends_at"),
              "deadline": when("deadline", required=False), "capacity": capacity,
              "waitlist": bool(values["waitlist"]), "audience": values["audience"][:200]}
    return values, fields, errors


def _form_page(request: web.Request, values: dict[str, str], errors: dict[str, str], activity: Activity | None,
               status: int = 200) -> web.Response:
    choices = permissions.community_choices(request)
    if activity is not None and activity.community and activity.community not in choices:
        choices = [*choices, activity.community]  # a name no longer configured stays selectable
    return render(request, "signup/form.html", {
        "values": values, "errors": errors, "kinds": KINDS, "activity": activity,
        "communities": choices, "own_community": permissions.community(request)}, status=status)


async def new_form(request: web.Request) -> web.Response:
    return _form_page(request, _form_values(None, ops_context(request).tz), {}, None)


async def edit_form(request: web.Request) -> web.Response:
    async with db_session(request) as db:
        a = await _scoped_activity(request, db, int(request.match_info["activity_id"]), act=True)
    return _form_page(request, _form_values(a, ops_context(request).tz), {}, a)


async def save(request: web.Request) -> web.StreamResponse:
    """Create (no id) or edit an activity."""
    ctx = ops_context(request)
    aid = request.match_info.get("activity_id")
    values, fields, errors = _parse_form(await request.post(), ctx.tz)
    try:  # the organiser: a community account's own community; the federation chooses
        fields["community"] = permissions.chosen_community(request, values["community"])
    except permissions.BadCommunity as exc:
        errors["community"] = str(exc)
    activity, told = None, 0
    if not errors:
        try:
            async with db_session(request) as db, db.begin():
                if aid is not None:
                    await _scoped_activity(request, db, int(aid), act=True, error=ops.SignupError(MISSING))
                if aid is None:
                    activity = await ops.create_activity(db, ctx, **fields)
                else:
                    activity, told = await ops.update_activity(db, ctx, int(aid), **fields)
                await _audit(db, ctx, "signup.create" if aid is None else "signup.edit", f"activity:{activity.id}",
                             {"title": activity.title})
        except ops.SignupError as exc:
            errors["_"] = str(exc)
    if errors:
        async with db_session(request) as db:
            current = await ops.find_activity(db, int(aid)) if aid else None
        if current is not None and not permissions.in_scope(request, current.community):
            current = None  # shown as for an activity that doesn't exist
        return _form_page(request, values, errors, current, status=400)
    await flash(request, "活动已发布" if aid is None else
                "活动已保存" + (f"，时间地点的变动已通知 {told} 位报名和候补的职工" if told else ""))
    raise _back(request, activity.id)


async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancel the activity; everyone signed up or waitlisted is told through the outbox."""
    ctx = ops_context(request)
    aid = int(request.match_info["activity_id"])
    reason = str((await request.post()).get("reason", "")).strip()
    try:
        async with db_session(request) as db, db.begin():
            await _scoped_activity(request, db, aid, act=True, error=ops.SignupError(MISSING))
            told = await ops.cancel_activity(db, ctx, aid, reason)
            await _audit(db, ctx, "signup.cancel", f"activity:{aid}", {"reason": reason, "notified": told})
    except ops.SignupError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    await flash(request, f"活动已取消，已通知 {told} 位报名和候补的职工")
    raise _back(request, aid)


# ----------------------------------------------------------------------------- detail
async def detail(request: web.Request) -> web.Response:
    """One activity: facts, counts, check-in code and QR, the sign-up list."""
    ctx = ops_context(request)
    aid = int(request.match_info["activity_id"])
    status = request.query.get("status", "")
    async with db_session(request) as db:
        a = await _scoped_activity(request, db, aid, act=False)
        # The sign-up list (workers' names and phones) only to those who run the activity.
        own = permissions.in_scope(request, a.community)
        counts = await reports.counts(db, aid)
        rows = await reports.signup_rows(db, aid, status if status in ROW_STATUS else "") if own else []
    opens, closes = ops.checkin_window(ctx, a)
    fields = [{"name": "status", "label": "状态", "type": "select", "options": list(ROW_STATUS.items())}]
    return render(request, "signup/detail.html", {
        "a": a, "counts": counts, "rows": rows, "fields": fields, "labels": ROW_STATUS, "via": VIA,
        "when": ops.when_text(a, ctx.tz), "opens": opens, "closes": closes,
        "qr_image": QR_IMAGE + a.qr_ticket if a.qr_ticket else "",
        "online": not ctx.settings.wechat.offline, "export_query": request.rel_url.query_string,
        "own": own,
    })


async def check_in(request: web.Request) -> web.StreamResponse:
    """Manual check-in by staff."""
    ctx = ops_context(request)
    aid, sid = int(request.match_info["activity_id"]), int(request.match_info["signup_id"])
    try:
        async with db_session(request) as db, db.begin():
            await _scoped_activity(request, db, aid, act=True, error=ops.SignupError("没有这条报名。"))
            s = await ops.staff_check_in(db, ctx, aid, sid)
            await _audit(db, ctx, "signup.checkin", f"signup:{sid}", {"activity": aid})
        await flash(request, f"{s.name or '该职工'} 已签到")
    except ops.SignupError as exc:
        await flash(request, str(exc), "error")
    raise _back(request, aid)


async def cancel_one(request: web.Request) -> web.StreamResponse:
    """Staff cancel one sign-up (e.g. the worker phoned); the waitlist moves up."""
    ctx = ops_context(request)
    aid, sid = int(request.match_info["activity_id"]), int(request.match_info["signup_id"])
    async with db_session(request) as db, db.begin():
        await _get_signup(db, aid, sid)
        await _scoped_activity(request, db, aid, act=True, error=web.HTTPNotFound(text="没有这条报名。"))
        res = await ops.cancel_signup(db, ctx, sid)
        await _audit(db, ctx, "signup.cancel_one", f"signup:{sid}",
                     {"activity": aid, "promoted": res.promoted.id if res.promoted else None})
    if res.ok:
        await flash(request, "已取消该报名" + (f"，{res.promoted.name or '候补第一位'}已递补，并已发送通知"
                                              if res.promoted else ""))
    else:
        await flash(request, CANCEL_REFUSED.get(res.reason, "这条报名已经取消过了"), "warn")
    raise _back(request, aid)


async def reveal(request: web.Request) -> web.StreamResponse:
    """Show one worker's full phone number (audited), e.g. to phone an unreachable promotion."""
    ctx = ops_context(request)
    aid, sid = int(request.match_info["activity_id"]), int(request.match_info["signup_id"])
    async with db_session(request) as db, db.begin():
        s = await _get_signup(db, aid, sid)
        await _scoped_activity(request, db, aid, act=True, error=web.HTTPNotFound(text="没有这条报名。"))
        await _audit(db, ctx, "signup.reveal_phone", f"signup:{sid}", {"activity": aid})
    await flash(request, f"{s.name or '该职工'}的电话：{s.phone or '未留'}")
    raise _back(request, aid)


async def export(request: web.Request) -> web.Response:
    """The (filtered) sign-up list as CSV or XLSX; phones masked."""
    ctx = ops_context(request)
    aid, fmt = int(request.match_info["activity_id"]), request.match_info["fmt"]
    status = request.query.get("status", "")
    async with db_session(request) as db, db.begin():
        a = await _scoped_activity(request, db, aid, act=True)
        rows = await reports.signup_rows(db, aid, status if status in ROW_STATUS else "")
        await _audit(db, ctx, "signup.export", f"activity:{aid}", {"format": fmt, "status": status, "rows": len(rows)})

    def t(v: datetime | None) -> str:
        return ctx.local(v).strftime("%Y-%m-%d %H:%M") if v else ""

    table = [[i, r["signup"].name, mask(r["signup"].phone, "phone"), r["signup"].employer,
              ROW_STATUS[r["status"]] + (f"第{r['position']}位" if r["position"] else ""),
              t(r["signup"].created_at), t(r["signup"].cancelled_at if r["signup"].status == "cancelled" else None),
              t(r["signup"].attended_at), VIA.get(r["signup"].checkin_via or "", "")]
             for i, r in enumerate(rows, 1)]
    header = ["序号", "姓名", "手机", "工作单位", "状态", "报名时间", "取消时间", "签到时间", "签到方式"]
    return spreadsheet_response(fmt, header, table, filename=f"{a.title}-报名名单")


async def make_qr(request: web.Request) -> web.StreamResponse:
    """Create the permanent check-in QR code through the WeChat API (online accounts only)."""
    ctx = ops_context(request)
    aid = int(request.match_info["activity_id"])
    try:
        async with db_session(request) as db:  # apart: the API call must not wait inside a transaction
            await _scoped_activity(request, db, aid, act=True, error=ops.SignupError(MISSING))
        async with db_session(request) as db, db.begin():
            await ops.create_checkin_qr(db, ctx, aid)
            await _audit(db, ctx, "signup.qr", f"activity:{aid}")
    except ops.SignupError as exc:
        await flash(request, str(exc), "error")
        raise _back(request, aid) from None
    await flash(request, "签到二维码已生成")
    raise _back(request, aid)


# ----------------------------------------------------------------------------- training record
def _range(request: web.Request) -> tuple[date, date]:
    today = ops_context(request).local().date()
    try:
        start = date.fromisoformat(request.query.get("from", "")) if request.query.get("from") else date(today.year, 1, 1)
        end = date.fromisoformat(request.query.get("to", "")) if request.query.get("to") else today
    except ValueError:
        start, end = date(today.year, 1, 1), today
    return start, max(start, end)


async def record(request: web.Request) -> web.Response:
    """培训台账: trainings attended per worker and per employer in a date range."""
    start, end = _range(request)
    async with db_session(request) as db:
        data = await reports.training_record(db, ops_context(request), start, end,
                                             community=permissions.community(request))
    fields = [{"name": "from", "label": "开始日期", "type": "date", "value": start.isoformat()},
              {"name": "to", "label": "结束日期", "type": "date", "value": end.isoformat()}]
    return render(request, "signup/record.html", {"data": data, "start": start, "end": end, "fields": fields,
                                                  "export_query": f"from={start}&to={end}"})


async def record_export(request: web.Request) -> web.Response:
    ctx = ops_context(request)
    start, end = _range(request)
    fmt, by = request.match_info["fmt"], request.query.get("by", "worker")
    async with db_session(request) as db, db.begin():
        data = await reports.training_record(db, ctx, start, end, community=permissions.community(request))
        await _audit(db, ctx, "signup.record_export", f"{start}~{end}", {"format": fmt, "by": by})
    if by == "employer":
        header = ["序号", "工作单位", "参训人数", "参训人次"]
        rows = [[i, e["employer"], e["people"], e["count"]] for i, e in enumerate(data["employers"], 1)]
    else:
        header = ["序号", "姓名", "手机", "工作单位", "参训次数", "培训项目"]
        rows = [[i, w["name"], mask(w["phone"], "phone"), w["employer"], w["count"], "、".join(w["titles"])]
                for i, w in enumerate(data["workers"], 1)]
    return spreadsheet_response(fmt, header, rows, filename=f"培训台账-{start}至{end}")


def setup(app: web.Application) -> None:
    r = app.router
    ACTIVITIES.add_routes(r, "/signup", name="signup.list", export_name="signup.list_download")  # no personal data
    r.add_get("/signup/new", new_form, name="signup.new")
    r.add_post("/signup/new", save, name="signup.create")
    r.add_get("/signup/record", record, name="signup.record")
    r.add_get("/signup/record/export.{fmt:csv|xlsx}", record_export, name="signup.record_export")
    r.add_get("/signup/{activity_id:\\d{1,9}}", detail, name="signup.detail")
    r.add_get("/signup/{activity_id:\\d{1,9}}/edit", edit_form, name="signup.edit")
    r.add_post("/signup/{activity_id:\\d{1,9}}/edit", save, name="signup.save")
    r.add_post("/signup/{activity_id:\\d{1,9}}/cancel", cancel, name="signup.cancel")
    r.add_post("/signup/{activity_id:\\d{1,9}}/qr", make_qr, name="signup.qr")
    r.add_get("/signup/{activity_id:\\d{1,9}}/export.{fmt:csv|xlsx}", export, name="signup.export")
    r.add_post("/signup/{activity_id:\\d{1,9}}/signups/{signup_id:\\d{1,9}}/checkin", check_in, name="signup.checkin")
    r.add_post("/signup/{activity_id:\\d{1,9}}/signups/{signup_id:\\d{1,9}}/cancel", cancel_one, name="signup.cancel_one")
    r.add_post("/signup/{activity_id:\\d{1,9}}/signups/{signup_id:\\d{1,9}}/contact", reveal, name="signup.reveal")

