"""Staff pages of the chairs feature: the quarter grid, the 通报 export, the
registry (add, edit, deactivate, binding codes) and the street's dashboard.

Every rule and query lives in ops.py (and stats.py, reminders.py); these handlers parse
the request, call an operation with `ops_context(request)` (the clock, the settings, the
logged-in staff member), write the audit row and render. A refused operation's
`ChairError` is flashed as it is.
"""
from __future__ import annotations

from datetime import tzinfo
from typing import Any

from aiohttp import web

from bot.admin import audit, lists, permissions
from bot.admin.export import spreadsheet_response
from bot.admin.filters import mask
from bot.admin.web import db_session, flash, ops_context, render
from bot.db.models.chairs import Chair
from bot.operations import OpsContext
from handlers.chairs import ops
from handlers.chairs import registry_import as chairs_import
from handlers.chairs import stats
from bot.workdays import calendar_warning, format_day
from handlers.chairs.quarters import Quarter, stage_label

STATUS = {"on_time": ("按时报送", "ok"), "late": ("逾期补报", "wait"), "missing": ("未报送", "bad"),
          "pending": ("待报送", "muted")}
# What staff read beside a reminder's delivery status (the technical error is in the tooltip).
OUTBOX_NOTES = {"unreachable": "微信发不出去（不在48小时互动期内且没有可用的模板消息，或已取消关注），请电话通知",
                "failed": "发送失败，请电话通知", "cancelled": ops.CANCELLED_NOTE,
                "uncertain": "发送中途中断，不确定是否送达，请电话确认"}
REMINDER = {"queued": "已安排发送", "skipped": "停机跳过", "unbound": "未绑定", "listed": "列入通报"}
OUTBOX = {"pending": "待发送", "sending": "发送中", "sent": "已送达", "simulated": "已模拟（离线）",
          "failed": "发送失败", "unreachable": "无法送达", "cancelled": "已取消",
          "uncertain": "可能未送达"}


MISSING = "没有这位主席。"  # ops.get_chair's words: another community's chair reads the same


async def _scoped_chair(request: web.Request, db: Any, chair_id: int, *, error: Exception | None = None) -> Chair:
    """The chair, when this account's community may see it; else as if there were none."""
    try:
        chair = await ops.get_chair(db, chair_id)
    except ops.ChairError:
        if error is not None:
            raise error from None
        raise web.HTTPNotFound(text=MISSING) from None
    permissions.check_scope(request, chair.community, not_found=MISSING, error=error)
    return chair


def _community(request: web.Request) -> str | None:
    """The community filter: a community account's own, whatever the address says."""
    return permissions.community(request) or request.query.get("community", "").strip() or None


async def _community_names(request: web.Request, db: Any) -> list[str]:
    mine = permissions.community(request)
    return [mine] if mine is not None else await stats.communities(db)


def _quarter(request: web.Request, ctx: OpsContext) -> Quarter:
    """The quarter asked for; without one, redirect to the quarter being worked on (so the
    quarter filter shows it, and the address can be shared)."""
    raw = request.query.get("quarter", "").strip()
    if raw:
        try:
            return Quarter.parse(raw)
        except ValueError:
            pass
    raise web.HTTPFound(request.rel_url.update_query(quarter=ops.focus_quarter(ctx).label))


def _quarter_options(current: Quarter, n: int = 8) -> list[tuple[str, str]]:
    qs = [current.next()]
    while len(qs) < n:
        qs.append(qs[-1].prev())
    return [(q.label, q.label_zh) for q in qs]


def _calendar(ctx: OpsContext, quarter: Quarter) -> dict[str, Any]:
    warnings = [w for w in {calendar_warning(quarter.year), calendar_warning(quarter.next().year)} if w]
    stages = ops.ladder(ctx, quarter)
    return {
        "deadline": format_day(ops.deadline_of(ctx, quarter)),
        "stages": [{"name": stage_label(s.name), "day": format_day(s.day), "chair": s.to_chair, "staff": s.to_staff,
                    "listing": s.listing} for s in stages],
        "warnings": sorted(warnings),
        "staff_openids": [mask(o) for o in ctx.settings.chairs.staff_openids],
        "staff_escalation": any(s.to_staff for s in stages),
    }


# ---- quarter grid ----------------------------------------------------------------------------

async def grid(request: web.Request) -> web.Response:
    """Chairs × this quarter's status, reminders and reachability; filter by community and status."""
    ctx = ops_context(request)
    quarter = _quarter(request, ctx)
    community = _community(request)
    want = request.query.get("status", "").strip()
    async with db_session(request) as db:
        rows = await stats.quarter_grid(db, ctx, quarter, community)
        names = await _community_names(request, db)
    counts = {k: sum(1 for r in rows if r.status == k) for k in STATUS}
    counts["unreachable"] = sum(1 for r in rows if r.needs_call)
    if want == "unreachable":
        rows = [r for r in rows if r.needs_call]
    elif want in STATUS:
        rows = [r for r in rows if r.status == want]
    fields = [
        {"name": "quarter", "label": "季度", "type": "select", "options": _quarter_options(ops.current_quarter(ctx))},
        {"name": "community", "label": "社区", "type": "select", "options": [(c, c) for c in names]},
        {"name": "status", "label": "状态", "type": "select",
         "options": [(k, v[0]) for k, v in STATUS.items()] + [("unreachable", "需电话联系")]},
    ]
    return render(request, "chairs/grid.html", {
        "quarter": quarter, "rows": rows, "counts": counts, "fields": fields, "status_labels": STATUS,
        "reminder_labels": REMINDER, "outbox_labels": OUTBOX, "outbox_notes": OUTBOX_NOTES, "cal": _calendar(ctx, quarter),
        "export_query": request.rel_url.query_string, "stage_label": stage_label,
    })


EXPORT_HEADER = ["季度", "社区", "单位", "主席", "手机", "报送状态", "已发提醒", "列入通报", "微信可达"]


def _export_rows(rows: list[stats.GridRow], quarter: Quarter, tz: tzinfo) -> list[list[Any]]:
    out = []
    for r in rows:
        reach = "否（未绑定）" if not r.chair.openid else ("否" if r.unreachable or r.failed else "是")
        state = STATUS[r.status][0]
        if r.report is not None:
            state += f"（{r.report.submitted_at.astimezone(tz):%m月%d日}）"
        out.append([quarter.label_zh, r.chair.community, r.chair.organisation, r.chair.name,
                    mask(r.chair.mobile, "phone"), state, r.sent, "是" if r.listed else "否", reach])
    return out


async def export(request: web.Request) -> web.Response:
    """The quarter's 通报 list (units without a report, and units listed before they reported),
    CSV or XLSX, phones masked."""
    fmt = request.match_info["fmt"]
    ctx = ops_context(request)
    quarter = _quarter(request, ctx)
    community = _community(request)
    async with db_session(request) as db, db.begin():
        rows = await stats.quarter_grid(db, ctx, quarter, community, only_missing=True)
        await audit.record(db, staff_id=ctx.staff_id, action="chairs.export", target=f"{quarter.label}.{fmt}",
                           detail={"community": community, "rows": len(rows)}, now=ctx.now)
    return spreadsheet_response(fmt, EXPORT_HEADER, _export_rows(rows, quarter, ctx.tz),
                                filename=f"未报送名单-{quarter.label}{'-' + community if community else ''}",
                                sheet=f"{quarter.label}未报送")


async def mark_received(request: web.Request) -> web.StreamResponse:
    """Record a report received by other means (paper, e-mail)."""
    chair_id = int(request.match_info["chair_id"])
    form = await request.post()
    ctx = ops_context(request)
    try:
        quarter = ops.parse_quarter(str(form.get("quarter", "")))
        async with db_session(request) as db, db.begin():
            await _scoped_chair(request, db, chair_id, error=ops.ChairError(MISSING))
            await ops.mark_received(db, ctx, chair_id, quarter, str(form.get("note", "")))
            await audit.record(db, staff_id=ctx.staff_id, action="chairs.received", target=f"chair:{chair_id}",
                               detail={"quarter": quarter.label}, now=ctx.now)
        await flash(request, f"已登记收到{quarter.label_zh}报送")
    except ops.ChairError as exc:
        await flash(request, str(exc), "error")
    back = str(form.get("back", "")) or str(request.app.router["chairs.grid"].url_for())
    raise web.HTTPSeeOther(back if back.startswith("/admin/") else "/admin/chairs")


# ---- registry ----------------------------------------------------------------------------------

async def _communities(db: Any, request: web.Request) -> list[tuple[str, str]]:
    return [(c, c) for c in await _community_names(request, db)]


def _bound(c: Chair) -> str:
    return "已绑定" if c.openid else "未绑定"


def _in_office(c: Chair) -> str:
    return "在任" if c.active else "已停用"


REGISTRY = lists.ListView(
    title="基层工会主席名册",
    template="chairs/registry.html",
    query=lambda st: ops.registry_query(community=st.filters["community"], state=st.filters["state"]),
    scope=Chair.community,  # a community account: its community's chairs only
    search=lists.Search(ops.registry_search, placeholder="姓名 / 单位 / 手机号"),
    filters=[lists.Choice("community", "社区", _communities),
             lists.Choice("state", "状态", [("active", "在任"), ("unbound", "在任·未绑定微信"), ("inactive", "已停用")])],
    columns=[
        lists.Column("community", "社区", value=lambda c: c.community, sort=Chair.community),
        lists.Column("organisation", "单位", value=lambda c: c.organisation, sort=Chair.organisation,
                     render=lambda c, p: p.link(p.url("chairs.detail", chair_id=c.id), c.organisation)),
        lists.Column("name", "主席", value=lambda c: c.name, sort=Chair.name),
        lists.Column("mobile", "手机", value=lambda c: mask(c.mobile, "phone"),
                     render=lambda c, p: p.m.masked(c.mobile, "phone")),
        lists.Column("wechat", "微信", value=_bound,
                     render=lambda c, p: p.m.badge("x", _bound(c), "ok" if c.openid else "muted")),
        lists.Column("active", "状态", value=_in_office,
                     render=lambda c, p: p.m.badge("x", _in_office(c), "ok" if c.active else "muted")),
    ],
    default_label="在任在前",
    tiebreak=Chair.id,
    export=lists.Export("主席名册", sheet="主席名册", audit="chairs.registry_export"),
    unit="位",
    empty="没有符合条件的主席。",
)


def _form_fields(form: Any) -> dict[str, str]:
    return {k: str(form.get(k, "")).strip() for k in ("name", "organisation", "community", "mobile")}


async def add(request: web.Request) -> web.StreamResponse:
    fields = _form_fields(await request.post())
    fields["community"] = permissions.forced_community(request, fields["community"])
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            chair = await ops.add_chair(db, ctx, **fields)
            await audit.record(db, staff_id=ctx.staff_id, action="chairs.add", target=f"chair:{chair.id}",
                               detail={"name": chair.name, "organisation": chair.organisation}, now=ctx.now)
    except ops.ChairError as exc:
        await flash(request, str(exc), "error")
        raise web.HTTPSeeOther("/admin/chairs/registry") from None
    await flash(request, f"已添加{chair.name}（{chair.organisation}），可以为其生成绑定码")
    raise web.HTTPSeeOther(f"/admin/chairs/{chair.id}")


MAX_UPLOAD = 5 * 1024 * 1024


def _own_rows_only(request: web.Request, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """A community account imports its own community's chairs only: every row or none."""
    mine = permissions.community(request)
    if mine is None:
        return
    wrong = [line for line, row in rows if str(row.get("community") or "").strip() != mine]
    if wrong:
        shown = "、".join(str(n) for n in wrong[:10]) + (" 等" if len(wrong) > 10 else "")
        raise ops.ChairError(f"第 {shown} 行的社区不是「{mine}」：本账号只能导入本社区的主席，这次没有导入任何数据。")


async def import_upload(request: web.Request) -> web.StreamResponse:
    """Add or update chairs from an uploaded CSV/XLSX: every row or none."""
    form = await request.post()
    upload = form.get("file")
    back = "/admin/chairs/registry"
    if upload is None or not hasattr(upload, "file") or not upload.filename:
        await flash(request, "请选择要导入的 CSV 或 Excel 文件", "error")
        raise web.HTTPSeeOther(back)
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        await flash(request, "文件太大（上限 5 MB）", "error")
        raise web.HTTPSeeOther(back)
    ctx = ops_context(request)
    try:
        rows = chairs_import.read_chair_bytes(upload.filename, data)
        _own_rows_only(request, rows)
        async with db_session(request) as db, db.begin():
            result = await chairs_import.import_chairs(db, ctx, rows, source=upload.filename)
            await audit.record(db, staff_id=ctx.staff_id, action="chairs.import", target=upload.filename[:128],
                               detail={"added": result.added, "updated": result.updated}, now=ctx.now)
    except ops.ChairError as exc:  # unreadable file, or some rows wrong (then nothing is imported)
        await audit.record_refused(request, action="chairs.import", target=upload.filename[:128], reason=str(exc))
        await flash(request, str(exc), "error")
        raise web.HTTPSeeOther(back) from None
    await flash(request, f"导入完成：新增 {result.added} 人，更新 {result.updated} 人")
    raise web.HTTPSeeOther(back)


async def detail(request: web.Request, *, revealed: str = "") -> web.Response:
    """One chair: edit form, binding, reports and reminders. The mobile number shows masked;
    `reveal` shows it in full (audited)."""
    chair_id = int(request.match_info["chair_id"])
    ctx = ops_context(request)
    async with db_session(request) as db, db.begin():
        chair = await _scoped_chair(request, db, chair_id)
        reports = await ops.reports_of(db, chair_id)
        reminders = await ops.recent_reminders(db, chair_id)
        if revealed:
            await audit.record(db, staff_id=ctx.staff_id, action="chairs.reveal_mobile", target=f"chair:{chair_id}",
                               now=ctx.now)
    return render(request, "chairs/detail.html", {
        "chair": chair, "reports": reports, "reminders": reminders, "reminder_labels": REMINDER,
        "revealed": chair.mobile if revealed else "",
        "current": ops.focus_quarter(ctx), "code": None,
        "quarters": _quarter_options(ops.current_quarter(ctx)),
        "stage_label": stage_label, "quarter_zh": lambda label: Quarter.parse(label).label_zh,
    })


async def reveal(request: web.Request) -> web.Response:
    """The chair's full mobile number on the detail page; the click is audited."""
    return await detail(request, revealed="mobile")


async def edit(request: web.Request) -> web.StreamResponse:
    chair_id = int(request.match_info["chair_id"])
    fields = _form_fields(await request.post())
    fields["community"] = permissions.forced_community(request, fields["community"])  # can't move it away
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            chair = await _scoped_chair(request, db, chair_id, error=ops.ChairError(MISSING))
            if not fields["mobile"]:  # the form shows the number masked: empty keeps it
                fields["mobile"] = chair.mobile
            before = {k: getattr(chair, k) for k in fields}
            await ops.update_chair(db, ctx, chair_id, **fields)
            changed = [k for k in fields if getattr(chair, k) != before[k]]
            # The names of the fields changed; the new values of the non-personal ones.
            await audit.record(db, staff_id=ctx.staff_id, action="chairs.edit", target=f"chair:{chair_id}",
                               detail={"changed": changed, **{k: getattr(chair, k) for k in changed
                                                              if k in ("organisation", "community")}},
                               now=ctx.now)
        await flash(request, "已保存")
    except ops.ChairError as exc:
        await flash(request, str(exc), "error")
    raise web.HTTPSeeOther(f"/admin/chairs/{chair_id}")


async def toggle(request: web.Request) -> web.StreamResponse:
    """Deactivate (stops reminders, unbinds WeChat) or reactivate a chair."""
    chair_id = int(request.match_info["chair_id"])
    active = (await request.post()).get("active") == "1"
    ctx = ops_context(request)
    async with db_session(request) as db, db.begin():
        await _scoped_chair(request, db, chair_id)
        try:
            chair = await ops.set_active(db, ctx, chair_id, active)
        except ops.ChairError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        await audit.record(db, staff_id=ctx.staff_id, action="chairs.activate" if active else "chairs.deactivate",
                           target=f"chair:{chair_id}", now=ctx.now)
    await flash(request, f"已{'启用' if active else '停用'}{chair.name}")
    raise web.HTTPSeeOther(f"/admin/chairs/{chair_id}")


async def new_code(request: web.Request) -> web.Response:
    """Issue a one-time binding code and show it once (earlier codes stop working)."""
    chair_id = int(request.match_info["chair_id"])
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            await _scoped_chair(request, db, chair_id, error=ops.ChairError(MISSING))
            code, expires = await ops.issue_bind_code(db, ctx, chair_id)
            await audit.record(db, staff_id=ctx.staff_id, action="chairs.bind_code", target=f"chair:{chair_id}",
                               now=ctx.now)
    except ops.ChairError as exc:
        await flash(request, str(exc), "error")
        raise web.HTTPSeeOther(f"/admin/chairs/{chair_id}") from None
    await flash(request, f"绑定码：{code}（{ctx.local(expires):%m月%d日 %H:%M}前有效，"
                         f"只能使用一次）。请告诉主席向公众号发送「绑定 {code}」。")
    raise web.HTTPSeeOther(f"/admin/chairs/{chair_id}")


# ---- dashboard ---------------------------------------------------------------------------------

async def dashboard(request: web.Request) -> web.Response:
    """The three indicators against their targets, per community and overall, and the trend."""
    ctx = ops_context(request)
    quarter = _quarter(request, ctx)
    async with db_session(request) as db:
        data = await stats.dashboard(db, quarter, community=permissions.community(request))
    fields = [{"name": "quarter", "label": "截至季度", "type": "select",
               "options": _quarter_options(ops.current_quarter(ctx))}]
    return render(request, "chairs/dashboard.html", {
        "quarter": quarter, "data": data, "fields": fields, "cal": _calendar(ctx, quarter),
        "trend": _trend_charts(data["trend"]),
    })


def _trend_charts(trend: list[dict[str, Any]], width: int = 360, height: int = 200) -> list[dict[str, Any]]:
    """Per indicator, the SVG geometry of its rate over the quarters (0–100 %) and the target line.

    Quarters before the first report are left out (at least two are kept), so a
    new deployment's chart is not mostly empty. Sized to be read at about 1:1
    in a 300–400 px column, phone or desktop."""
    first = next((i for i, t in enumerate(trend) if t["totals"].reports), len(trend))
    trend = trend[min(first, len(trend) - 2):]
    left, right, top, bottom, inset = 44, 12, 18, 30, 22
    step = (width - left - right - 2 * inset) / max(len(trend) - 1, 1)

    def y(rate: float) -> float:
        return round(top + (1 - rate) * (height - top - bottom), 1)

    charts = []
    for i, (label, _num, _den, target) in enumerate(stats.INDICATORS):
        points, labels = [], []
        for j, t in enumerate(trend):
            x = round(left + inset + j * step, 1)
            rate = t["indicators"][i]["rate"]
            labels.append({"x": x, "text": f"{t['quarter'].year % 100}年{t['quarter'].q}季"})
            if rate is not None:
                points.append({"x": x, "y": y(min(rate, 1.0)), "pct": f"{rate:.0%}"})
        charts.append({"label": label, "target": target, "target_y": y(target), "width": width, "height": height,
                       "left": left, "right": width - right, "top": top, "base": height - bottom,
                       "points": points, "labels": labels,
                       "polyline": " ".join(f"{p['x']},{p['y']}" for p in points)})
    return charts


def setup(app: web.Application) -> None:
    app.router.add_get("/chairs", grid, name="chairs.grid")
    app.router.add_get("/chairs/export.{fmt:csv|xlsx}", export, name="chairs.export")
    app.router.add_get("/chairs/dashboard", dashboard, name="chairs.dashboard")
    REGISTRY.add_routes(app.router, "/chairs/registry", name="chairs.registry",
                        export_name="chairs.registry_export")
    app.router.add_post("/chairs/registry", add, name="chairs.add")
    app.router.add_post("/chairs/registry/import", import_upload, name="chairs.upload")
    app.router.add_get("/chairs/{chair_id:\\d{1,9}}", detail, name="chairs.detail")
    app.router.add_post("/chairs/{chair_id:\\d{1,9}}/edit", edit, name="chairs.edit")
    app.router.add_post("/chairs/{chair_id:\\d{1,9}}/reveal", reveal, name="chairs.reveal")
    app.router.add_post("/chairs/{chair_id:\\d{1,9}}/active", toggle, name="chairs.toggle")
    app.router.add_post("/chairs/{chair_id:\\d{1,9}}/code", new_code, name="chairs.code")
    app.router.add_post("/chairs/{chair_id:\\d{1,9}}/received", mark_received, name="chairs.received")
