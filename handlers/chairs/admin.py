"""Staff pages of the chairs feature: the quarter grid, the 通报 export, the
registry (add, edit, deactivate, binding codes) and the street's dashboard.

Every rule and query lives in ops.py (and stats.py, reminders.py); these handlers parse
the request, call an operation with `ops_context(request)` (the clock, the settings, the
logged-in staff member), write the audit row and render. A refused operation's
`ChairError` is flashed as it is.
"""
from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import case
from yarl import URL

from bot.admin import audit, lists, permissions
from bot.admin.export import spreadsheet_response
from bot.admin.filters import mask, with_query
from bot.admin.web import db_session, flash, ops_context, render
from bot.db.models.chairs import Chair, ChairReport
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
STATUS_FILTER = [(k, v[0]) for k, v in STATUS.items()] + [("unreachable", "需电话联系")]


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
    if mine is not None:
        return [mine]
    return sorted(set(await stats.communities(db)) | set(permissions.configured_communities(request)))


# ---- quarters, dates and links as staff read them ---------------------------------------------

def _day(ctx: OpsContext, day: date) -> str:
    """12月25日（周五）; with the year when it is not this year: 2025年12月25日（周四）."""
    text = format_day(day)
    return text if day.year == ctx.local().year else f"{day.year}年{text}"


def _when(ctx: OpsContext, at: datetime) -> str:
    """A moment as staff read it: 12月26日 10:05 (2025年12月26日 10:05 in another year)."""
    local = ctx.local(at)
    text = f"{local.month}月{local.day}日 {local:%H:%M}"
    return text if local.year == ctx.local().year else f"{local.year}年{text}"


def _quarter_param(request: web.Request) -> Quarter | None:
    try:
        return Quarter.parse(request.query.get("quarter", ""))
    except ValueError:
        return None


async def _quarter(request: web.Request, ctx: OpsContext) -> Quarter:
    """The quarter asked for; without one (or with one that isn't a quarter we report on),
    redirect to the quarter being reported now (`ops.default_quarter`), so the page and the
    address say which quarter it shows and the address can be shared."""
    raw = request.query.get("quarter", "").strip()
    quarter = _quarter_param(request)
    if quarter is not None:
        return quarter
    default = ops.default_quarter(ctx)
    if raw:
        await flash(request, f"地址里的季度「{raw[:20]}」不对，已显示正在报送的{default.label_zh}。", "warn")
    raise web.HTTPFound(request.rel_url.update_query(quarter=default.label, page=[]))


def _quarter_options(ctx: OpsContext, n: int = 8) -> list[Quarter]:
    """The quarters to jump to: the calendar quarter back over two years."""
    qs = [ops.current_quarter(ctx)]
    while len(qs) < n:
        qs.append(qs[-1].prev())
    return qs


def _quarter_nav(request: web.Request, ctx: OpsContext, quarter: Quarter) -> dict[str, Any]:
    """The quarter switcher: ‹ previous, this one, next ›, back to the quarter being reported,
    and a jump list (the other filters kept, the page reset)."""
    default = ops.default_quarter(ctx)
    newest = ops.current_quarter(ctx)

    def at(q: Quarter) -> str:
        return with_query(request, quarter=q.label, page=None)

    keep = [(k, v) for k, v in request.query.items() if k not in ("quarter", "page")]
    return {"quarter": quarter, "default": default, "is_default": quarter == default,
            "prev_url": at(quarter.prev()), "prev": quarter.prev(),
            "next_url": at(quarter.next()) if quarter.next() <= newest else "", "next": quarter.next(),
            "default_url": at(default), "keep": keep,
            "options": [(q.label, q.label_zh) for q in sorted({quarter, *_quarter_options(ctx)}, reverse=True)]}


async def _previous_missing(request: web.Request, db: Any, ctx: OpsContext, quarter: Quarter) -> dict[str, Any] | None:
    """On the quarter being reported: the previous quarter's units still without a report, with
    a link to them in the grid (None when all reported, or when another quarter is shown)."""
    if quarter != ops.default_quarter(ctx):
        return None
    prev = quarter.prev()
    community = _community(request) or ""
    n = await stats.previous_missing(db, ctx, prev, community)
    if not n:
        return None
    url = request.app.router["chairs.grid"].url_for().with_query(
        {"quarter": prev.label, "status": "missing", **({"community": community} if community else {})})
    return {"quarter": prev, "count": n, "url": str(url), "deadline": _day(ctx, ops.deadline_of(ctx, prev))}


def _safe_back(raw: Any, default: str) -> str:
    """A 返回 address from a form or a query: only a page of the chairs section (no open redirect)."""
    back = str(raw or "")
    if back.startswith("/admin/chairs") and "\\" not in back and "\n" not in back and "\r" not in back:
        return back
    return default


def _calendar(ctx: OpsContext, quarter: Quarter) -> dict[str, Any]:
    warnings = [w for w in {calendar_warning(quarter.year), calendar_warning(quarter.next().year)} if w]
    stages = ops.ladder(ctx, quarter)
    return {
        "deadline": _day(ctx, ops.deadline_of(ctx, quarter)),
        "past": ctx.now >= ops.deadline_end(ctx, quarter),
        "stages": [{"name": stage_label(s.name), "day": _day(ctx, s.day), "chair": s.to_chair, "staff": s.to_staff,
                    "listing": s.listing} for s in stages],
        "warnings": sorted(warnings),
        "staff_count": len(ctx.settings.chairs.staff_openids),
        "staff_escalation": any(s.to_staff for s in stages),
    }


# ---- quarter grid ----------------------------------------------------------------------------

def _grid_quarter(st: lists.ListState) -> Quarter:
    return Quarter.parse(st.filters["quarter"]) if st.filters["quarter"] else ops.default_quarter(st.ops)


async def _quarter_choice(db: Any, request: web.Request) -> list[tuple[str, str]]:
    """The quarter filter (kept through the filter form; switched by the quarter links)."""
    q = _quarter_param(request)
    return [(q.label, q.label_zh)] if q is not None else []


async def _grid_rows(db: Any, chairs: list[Chair], st: lists.ListState) -> list[stats.GridRow]:
    return await stats.grid_rows(db, st.ops, _grid_quarter(st), chairs)


async def _receive_one(db: Any, chair_id: int, actx: lists.ActionContext) -> str:
    """批量登记已收到, one unit: as the single 登记已收到 (scope, rule, audit)."""
    request = actx.request
    back = str((await request.post()).get("back", ""))
    try:
        quarter = Quarter.parse(URL(back).query.get("quarter", ""))
    except ValueError:
        raise ops.ChairError("没有指明是哪个季度的报送，请回到页面重新操作。") from None
    chair = await ops.get_chair(db, chair_id)
    if not permissions.in_scope(request, chair.community):
        raise ops.ChairError(MISSING)
    ctx = actx.ops
    await ops.mark_received(db, ctx, chair_id, quarter)
    await audit.record(db, staff_id=ctx.staff_id, action="chairs.received", target=f"chair:{chair_id}",
                       detail={"quarter": quarter.label, "bulk": True}, now=ctx.now)
    return chair.organisation


def _status_sort() -> Any:
    """报送 column order: not reported first, then late, then on time; each by when it came."""
    return (case((ChairReport.id.is_(None), 0), (ChairReport.on_time.is_(False), 1), else_=2),
            ChairReport.submitted_at)


async def _grid_context(request: web.Request) -> dict[str, Any]:
    """What the grid page shows beside the list: the quarter switcher, the previous quarter's
    missing reports, the deadline and reminder ladder, the tiles and the 通报 export."""
    ctx = ops_context(request)
    quarter = _quarter_param(request) or ops.default_quarter(ctx)
    community = _community(request) or ""
    async with db_session(request) as db:
        counts = await stats.grid_counts(db, ctx, quarter, community)
        previous = await _previous_missing(request, db, ctx, quarter)
    export = [(k, v) for k, v in request.query.items() if k in ("quarter", "community")]
    return {"quarter": quarter, "qnav": _quarter_nav(request, ctx, quarter), "previous": previous,
            "counts": counts, "cal": _calendar(ctx, quarter), "status_labels": STATUS,
            "tile_url": lambda status: with_query(request, status=status, page=None),
            "reminder_labels": REMINDER, "outbox_labels": OUTBOX, "outbox_notes": OUTBOX_NOTES,
            "stage_label": stage_label, "when": lambda at: _when(ctx, at),
            "export_query": urlencode(export), "detail_query": lambda: urlencode(
                {"quarter": quarter.label, "back": str(request.rel_url)})}


class QuarterList(lists.ListView):
    """A list of one quarter: opens on the quarter being reported (a redirect puts it in the
    address), and its bulk actions' confirmation names that quarter (`{quarter}`)."""

    async def page_handler(self, request: web.Request) -> web.Response:
        quarter = await _quarter(request, ops_context(request))
        view = dataclasses.replace(self, actions=[
            dataclasses.replace(a, confirm=a.confirm.replace("{quarter}", quarter.label_zh)) for a in self.actions])
        return await lists.ListView.page_handler(view, request)


GRID = QuarterList(
    title="主席季度报送",
    template="chairs/grid.html",
    query=lambda st: stats.grid_query(st.ops, _grid_quarter(st), community=st.filters["community"],
                                      status=st.filters["status"]),
    rows=_grid_rows,
    row_id=lambda r: r.chair.id,
    scope=Chair.community,
    search=lists.Search(ops.registry_search, placeholder="单位 / 主席 / 手机号"),
    filters=[lists.Choice("quarter", "季度", _quarter_choice, hidden=True),
             lists.Choice("community", "社区", lambda db, request: _communities(db, request)),
             lists.Choice("status", "状态", STATUS_FILTER)],
    columns=[
        lists.Column("organisation", "单位", value=lambda r: r.chair.organisation, sort=Chair.organisation),
        lists.Column("name", "主席", value=lambda r: r.chair.name, sort=Chair.name),
        lists.Column("mobile", "手机", value=lambda r: mask(r.chair.mobile, "phone")),
        lists.Column("status", "报送", value=lambda r: STATUS[r.status][0], sort=_status_sort()),
        lists.Column("reminders", "提醒记录"),
        lists.Column("actions", "操作", export=False),
    ],
    default_label="按社区、单位",
    tiebreak=Chair.id,
    actions=[lists.BulkAction("received", "批量登记已收到", lists.each(_receive_one, errors=(ops.ChairError,)),
                              confirm="将所选 {n} 家单位登记为已收到{quarter}的报送（纸质、邮件等），确定吗？")],
    context=_grid_context,
    unit="家单位",
    empty="没有符合条件的单位。",
)


EXPORT_HEADER = ["季度", "社区", "单位", "主席", "手机", "报送状态", "已发提醒", "列入通报", "微信可达"]


def _export_rows(rows: list[stats.GridRow], quarter: Quarter, ctx: OpsContext) -> list[list[Any]]:
    out = []
    for r in rows:
        reach = "否（未绑定）" if not r.chair.openid else ("否" if r.unreachable or r.failed else "是")
        state = STATUS[r.status][0]
        if r.report is not None:
            state += f"（{_when(ctx, r.report.submitted_at).split(' ')[0]}）"
        out.append([quarter.label_zh, r.chair.community, r.chair.organisation, r.chair.name,
                    mask(r.chair.mobile, "phone"), state, r.sent, "是" if r.listed else "否", reach])
    return out


async def export(request: web.Request) -> web.StreamResponse:
    """The quarter's 通报 list, CSV or XLSX, phones masked: the units whose deadline has passed
    without a report (the deadline is a working day: quarters.deadline_date), and units that
    reported only after they were listed. Before the deadline there is none to give."""
    fmt = request.match_info["fmt"]
    ctx = ops_context(request)
    quarter = await _quarter(request, ctx)
    community = _community(request)
    if ctx.now < ops.deadline_end(ctx, quarter):
        await flash(request, f"{quarter.label_zh}的报送{_day(ctx, ops.deadline_of(ctx, quarter))}截止，"
                             "截止日过后才有未报送名单可以导出。", "warn")
        grid_url = request.app.router["chairs.grid"].url_for().with_query(request.query)
        raise web.HTTPSeeOther(str(grid_url))
    async with db_session(request) as db, db.begin():
        rows = await stats.quarter_grid(db, ctx, quarter, community, only_missing=True)
        await audit.record(db, staff_id=ctx.staff_id, action="chairs.export", target=f"{quarter.label}.{fmt}",
                           detail={"community": community, "rows": len(rows)}, now=ctx.now)
    return spreadsheet_response(fmt, EXPORT_HEADER, _export_rows(rows, quarter, ctx),
                                filename=f"未报送名单-{quarter.label_zh}{'-' + community if community else ''}",
                                sheet=f"{quarter.label_zh}未报送")


async def mark_received(request: web.Request) -> web.StreamResponse:
    """登记已收到: a report received by other means (paper, e-mail). The page asked first
    (naming the unit and the quarter); nothing is sent to the chair."""
    chair_id = int(request.match_info["chair_id"])
    form = await request.post()
    ctx = ops_context(request)
    back = _safe_back(form.get("back"), str(request.app.router["chairs.grid"].url_for()))
    try:
        quarter = ops.parse_quarter(str(form.get("quarter", "")))
        async with db_session(request) as db, db.begin():
            chair = await _scoped_chair(request, db, chair_id, error=ops.ChairError(MISSING))
            await ops.mark_received(db, ctx, chair_id, quarter, str(form.get("note", ""))[:500])
            await audit.record(db, staff_id=ctx.staff_id, action="chairs.received", target=f"chair:{chair_id}",
                               detail={"quarter": quarter.label}, now=ctx.now)
        await flash(request, f"已登记收到{chair.organisation}（{chair.name}）{quarter.label_zh}的报送。"
                             "如果登记错了，可以在这一行点「更正」撤销。")
    except ops.ChairError as exc:
        await audit.record_refused(request, action="chairs.received", target=f"chair:{chair_id}", reason=str(exc))
        await flash(request, str(exc), "error")
    raise web.HTTPSeeOther(back)


async def undo_received(request: web.Request) -> web.StreamResponse:
    """更正: undo a mistaken 登记已收到 (audited). Nothing was sent to the chair when it was
    recorded, so nothing is sent now (ops.undo_received)."""
    chair_id = int(request.match_info["chair_id"])
    form = await request.post()
    ctx = ops_context(request)
    back = _safe_back(form.get("back"), str(request.app.router["chairs.grid"].url_for()))
    try:
        quarter = ops.parse_quarter(str(form.get("quarter", "")))
        async with db_session(request) as db, db.begin():
            chair = await _scoped_chair(request, db, chair_id, error=ops.ChairError(MISSING))
            report = await ops.undo_received(db, ctx, chair_id, quarter)
            await audit.record(db, staff_id=ctx.staff_id, action="chairs.received_undo", target=f"chair:{chair_id}",
                               detail={"quarter": quarter.label, "received_at": report.submitted_at.isoformat(),
                                       "received_by": report.received_by}, now=ctx.now)
        late = " 截止日已过，现在算作未报送。" if ctx.now >= ops.deadline_end(ctx, quarter) else ""
        await flash(request, f"已更正：撤销了{chair.organisation}{quarter.label_zh}的「已收到」登记，"
                             f"该单位恢复为未报送。{late}")
    except ops.ChairError as exc:
        await audit.record_refused(request, action="chairs.received_undo", target=f"chair:{chair_id}",
                                   reason=str(exc))
        await flash(request, str(exc), "error")
    raise web.HTTPSeeOther(back)


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
                     render=lambda c, p: p.link(p.url("chairs.detail", chair_id=c.id) + "?" + urlencode(
                         {"back": p.back}), c.organisation)),
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
                               detail={"organisation": chair.organisation}, now=ctx.now)  # no name (security.md §6)
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


async def detail(request: web.Request) -> web.Response:
    """One chair: edit form, binding, the recent quarters' reports (登记已收到 / 更正 there) and
    reminders. The mobile number shows masked until this staff member's audited 查看 (then for
    `ops.REVEAL_FOR`, as a tel: link). `?back=` is the list it was opened from (filters, page)."""
    chair_id = int(request.match_info["chair_id"])
    ctx = ops_context(request)
    default = ops.default_quarter(ctx)
    page_quarter = _quarter_param(request) or default
    async with db_session(request) as db:
        chair = await _scoped_chair(request, db, chair_id)
        reports = await ops.reports_of(db, chair_id)
        reminders = await ops.recent_reminders(db, chair_id)
        revealed = permissions.may(request, "chairs.reveal", "POST") and await ops.revealed_recently(db, ctx, chair_id)
    grid_url = str(request.app.router["chairs.grid"].url_for().with_query(quarter=page_quarter.label))
    back = _safe_back(request.query.get("back"), grid_url)
    from_registry = back.startswith(str(request.app.router["chairs.registry"].url_for()))
    by_quarter = {r.quarter: r for r in reports}
    recent = [default]
    while len(recent) < 4:
        recent.append(recent[-1].prev())
    if page_quarter not in recent:
        recent.insert(0, page_quarter)
    quarters = []
    for q in recent:
        report = by_quarter.get(q.label)
        status = ("on_time" if report.on_time else "late") if report is not None else (
            "missing" if ctx.now >= ops.deadline_end(ctx, q) and chair.created_at < ops.deadline_end(ctx, q)
            else "pending")
        quarters.append({"quarter": q, "report": report, "status": status,
                         "deadline": _day(ctx, ops.deadline_of(ctx, q)),
                         "when": _when(ctx, report.submitted_at) if report is not None else ""})
    here = request.path_qs
    return render(request, "chairs/detail.html", {
        "chair": chair, "reports": [r for r in reports if r.enterprises is not None
                                    or r.quarter not in {q.label for q in recent}],
        "reminders": reminders, "reminder_labels": REMINDER, "revealed": chair.mobile if revealed else "",
        "quarters": quarters, "status_labels": STATUS, "here": here, "back": back,
        "back_label": "返回名册" if from_registry else "返回报送情况",
        "breadcrumb": [("主席名册" if from_registry else "主席报送", back), (chair.name, "")],
        "stage_label": stage_label, "quarter_zh": lambda label: Quarter.parse(label).label_zh,
        "when": lambda at: _when(ctx, at), "reveal_for": int(ops.REVEAL_FOR.total_seconds() // 60),
    })


async def reveal(request: web.Request) -> web.StreamResponse:
    """查看 the chair's full mobile number: audited once, then back to the chair's page (PRG: a
    refresh shows it again without a new reveal; the page shows it for ops.REVEAL_FOR)."""
    chair_id = int(request.match_info["chair_id"])
    form = await request.post()
    ctx = ops_context(request)
    async with db_session(request) as db, db.begin():
        await _scoped_chair(request, db, chair_id)
        await audit.record(db, staff_id=ctx.staff_id, action=ops.REVEAL_ACTION, target=f"chair:{chair_id}",
                           now=ctx.now)
    raise web.HTTPSeeOther(_detail_return(request, form, chair_id))


def _detail_return(request: web.Request, form: Any, chair_id: int) -> str:
    """The chair's page as it was opened (`return`: its address with ?back= and ?quarter=)."""
    page = str(request.app.router["chairs.detail"].url_for(chair_id=str(chair_id)))
    back = str(form.get("return", "")) if form is not None else ""
    return back if back.startswith(page + "?") and "\\" not in back and "\n" not in back else page


async def edit(request: web.Request) -> web.StreamResponse:
    chair_id = int(request.match_info["chair_id"])
    form = await request.post()
    fields = _form_fields(form)
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
    raise web.HTTPSeeOther(_detail_return(request, form, chair_id))


async def toggle(request: web.Request) -> web.StreamResponse:
    """Deactivate (stops reminders, unbinds WeChat) or reactivate a chair."""
    chair_id = int(request.match_info["chair_id"])
    form = await request.post()
    active = form.get("active") == "1"
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
    raise web.HTTPSeeOther(_detail_return(request, form, chair_id))


async def new_code(request: web.Request) -> web.Response:
    """Issue a one-time binding code and show it once (earlier codes stop working)."""
    chair_id = int(request.match_info["chair_id"])
    form = await request.post()
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            await _scoped_chair(request, db, chair_id, error=ops.ChairError(MISSING))
            code, expires = await ops.issue_bind_code(db, ctx, chair_id)
            await audit.record(db, staff_id=ctx.staff_id, action="chairs.bind_code", target=f"chair:{chair_id}",
                               now=ctx.now)
    except ops.ChairError as exc:
        await flash(request, str(exc), "error")
        raise web.HTTPSeeOther(_detail_return(request, form, chair_id)) from None
    await flash(request, f"绑定码：{code}（{_when(ctx, expires)}前有效，"
                         f"只能使用一次）。请告诉主席向公众号发送「绑定 {code}」。")
    raise web.HTTPSeeOther(_detail_return(request, form, chair_id))


# ---- dashboard ---------------------------------------------------------------------------------

async def dashboard(request: web.Request) -> web.Response:
    """The three indicators against their targets, overall and for every community (those
    without figures yet say 无数据), and the trend; on the quarter being reported by default."""
    ctx = ops_context(request)
    quarter = await _quarter(request, ctx)
    community = permissions.community(request)
    async with db_session(request) as db:
        data = await stats.dashboard(db, quarter, community=community,
                                     names=permissions.configured_communities(request))
        previous = await _previous_missing(request, db, ctx, quarter)
    return render(request, "chairs/dashboard.html", {
        "quarter": quarter, "data": data, "cal": _calendar(ctx, quarter), "previous": previous,
        "qnav": _quarter_nav(request, ctx, quarter), "trend": _trend_charts(data["trend"]),
        "grid_url": lambda **q: str(request.app.router["chairs.grid"].url_for().with_query(
            {"quarter": quarter.label, **{k: v for k, v in q.items() if v}})),
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
    GRID.add_routes(app.router, "/chairs", name="chairs.grid", bulk_name="chairs.grid_bulk")
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
    app.router.add_post("/chairs/{chair_id:\\d{1,9}}/received/undo", undo_received, name="chairs.received_undo")
