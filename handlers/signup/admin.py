"""活动报名: staff pages of trainings and events — publish, edit, cancel, sign-up lists,
check-in (one by one or ticked rows at once) and its 「更正」, 代报名 and 补录到场, check-in
code and QR, exports, and the training record (培训台账).

All rules and queries are in `handlers.signup.ops` (and the read-only `reports`); this module
parses forms, calls them with `ops_context(request)` and renders (a refusal is shown as its text).
A missing activity or sign-up (or another community's) is a Chinese 404 page in the layout.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.admin import audit, lists, permissions
from bot.admin.export import spreadsheet_response
from bot.admin.filters import mask
from bot.admin.sessions import request_session
from bot.admin.web import db_session, flash, ops_context, render, render_error
from bot.core.forms import Invalid
from bot.core.validators import parse_mobile, parse_name
from bot.db.models.signup import KINDS, Activity, Signup
from bot.operations import OpsContext
from handlers.signup import ops
from handlers.signup import reports

ROW_STATUS = {"confirmed": "报名成功", "waitlist": "候补", "cancelled": "已取消", "attended": "已签到"}
# The sign-up list's filter: 报名成功 there means "signed up, not checked in yet" (who is still to come).
ROW_FILTER = {"confirmed": "报名成功未签到", "attended": "已签到", "waitlist": "候补", "cancelled": "已取消"}
VIA = {"code": "签到码", "qr": "扫码", "staff": "工作人员", "record": "补录"}
CANCEL_REFUSED = {"attended": "该职工已签到，不能取消报名"}
QR_IMAGE = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="
MAX_BATCH = 500  # sign-ups in one batch check-in
REVEALED = "signup_revealed"  # session key: the phone just revealed (shown once, as a tel: link)
# What a detail page's links and redirects keep: its own filter and the list's (for 「返回列表」).
DETAIL_KEEP = ("status", "q", "list")
LIST_KEEP = ("kind", "state", "q", "sort", "page")


class Gone(Exception):
    """A missing record (or another community's): answered with a Chinese 404 page."""

    def __init__(self, what: str = "活动") -> None:
        super().__init__(what)
        self.what = what


def answers_missing(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Callable[..., Any]:
    """The handler's `Gone` becomes the 404 page (the same for a missing record and another
    community's, so nobody learns that one exists)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Gone as exc:
            return await render_error(request, 404, f"没有找到这个{exc.what}",
                                      f"这个{exc.what}不存在，可能已被删除或链接有误。", link=_list_url(request))

    return wrapped


def _list_url(request: web.Request) -> str:
    return str(request.app.router["signup.list"].url_for())


def _kept(raw: str | Mapping[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    """The parameters of `raw` (a query string or mapping) worth keeping: known names, short values."""
    pairs = parse_qsl(raw, keep_blank_values=False) if isinstance(raw, str) else list(raw.items())
    out: dict[str, str] = {}
    for k, v in pairs:
        if k in keys and k not in out and v and len(v) <= 300:
            out[k] = v
    return out


def _list_back(query: Mapping[str, str]) -> str:
    """The activity list as staff left it (filters, sort, page): the `list` parameter."""
    kept = _kept(str(query.get("list", "")), LIST_KEEP)
    return "/admin/signup" + (f"?{urlencode(kept)}" if kept else "")


def _detail_url(request: web.Request, activity_id: int, keep: Mapping[str, str] | None = None) -> str:
    url = str(request.app.router["signup.detail"].url_for(activity_id=str(activity_id)))
    kept = _kept(keep or {}, DETAIL_KEEP)
    return url + (f"?{urlencode(kept)}" if kept else "")


def _back(request: web.Request, activity_id: int, form: Mapping[str, Any] | None = None) -> web.HTTPSeeOther:
    """Back to the activity's page, with the filters it had (the forms post them as `back`)."""
    keep = _kept(str((form or {}).get("back", "")), DETAIL_KEEP)
    return web.HTTPSeeOther(_detail_url(request, activity_id, keep))


async def _audit(db: Any, ctx: OpsContext, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """The audit row of this staff action: who acts and when come from the context."""
    await audit.record(db, staff_id=ctx.staff_id, action=action, target=target, detail=detail, now=ctx.now)


MISSING = "没有这个活动。"  # ops.get_activity's words: another community's activity reads the same


async def _scoped_activity(request: web.Request, db: Any, activity_id: int, *, act: bool,
                           error: Exception | None = None) -> Activity:
    """The activity as this account may see it (`act`: to act on — its own community's only; a
    federation-wide one is read-only for community accounts). Another community's is "not found"."""
    error = error or Gone()
    a = await ops.find_activity(db, activity_id)
    if a is None:
        raise error
    if act:
        permissions.check_own(request, a.community, not_found=MISSING, error=error)
    else:
        permissions.check_scope(request, a.community, shared=True, not_found=MISSING, error=error)
    return a


async def _get_signup(db: Any, activity_id: int, signup_id: int) -> Signup:
    try:
        return await ops.get_signup(db, activity_id, signup_id)
    except ops.SignupError:
        raise Gone("报名记录") from None


def _ids(request: web.Request) -> tuple[int, int]:
    return int(request.match_info["activity_id"]), int(request.match_info["signup_id"])


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


def _title_link(row: _Row, p: lists.ListPage) -> Any:
    """The activity's page, remembering the list as it is (its 「返回列表」 comes back here)."""
    url = p.url("signup.detail", activity_id=row.a.id)
    kept = _kept(p.state.request.query, LIST_KEEP)
    return p.link(url + (f"?{urlencode({'list': urlencode(kept)})}" if kept else ""), row.a.title)


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
        lists.Column("title", "名称", value=lambda row: row.a.title, sort=A.title, render=_title_link,
                     css="su-name"),
        lists.Column("starts", "时间", value=lambda row: row.a.starts_at, sort=A.starts_at,
                     render=lambda row, p: ops.when_text(row.a, p.state.ops.tz, p.state.now), css="su-when"),
        lists.Column("kind", "类别", value=lambda row: row.a.kind_zh, sort=A.kind, css="su-kind"),
        lists.Column("phase", "状态", value=lambda row: row.phase[0],
                     render=lambda row, p: p.m.badge("x", *row.phase), css="su-phase"),
        lists.Column("seats", "报名 / 名额", value=lambda row: _seats(row.a), sort=A.taken, css="su-num"),
        lists.Column("waiting", "候补", value=lambda row: row.counts.waiting, css="su-num"),
        lists.Column("came", "签到", value=lambda row: row.counts.came, css="su-num"),
        lists.Column("place", "地点", value=lambda row: row.a.place, css="su-place"),
        lists.Column("organiser", "主办", value=lambda row: row.a.community or "街道总工会", sort=A.community,
                     css="su-org"),
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


CAPACITY_HINT = f"请填写 1 到 {ops.MAX_CAPACITY} 之间的整数，不限人数请留空"
YEARS_HINT = f"日期超出范围，请填写 {ops.MIN_YEAR} 年到 {ops.MAX_YEAR} 年之间的日期"


def _capacity(raw: str) -> int:
    """人数上限 as typed: digits (full-width too), 「50人」; ValueError with the hint otherwise."""
    text = unicodedata.normalize("NFKC", raw).strip().removesuffix("人").strip()
    if not re.fullmatch(r"[0-9]{1,7}", text):
        raise ValueError(CAPACITY_HINT)
    n = int(text)
    if not 1 <= n <= ops.MAX_CAPACITY:
        raise ValueError(CAPACITY_HINT)
    return n


def _parse_form(form: Any, tz: ZoneInfo) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """(raw values, clean fields, errors by field)."""
    values = {k: str(form.get(k, "")).strip()[:2000] for k in
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
            value = datetime.fromisoformat(raw)
        except ValueError:
            errors[name] = "时间格式不对，请按「2026-12-08 14:00」的样子填写"
            return None
        if not ops.in_years(value):
            errors[name] = YEARS_HINT
            return None
        return value.replace(tzinfo=tz)

    capacity = None
    if values["capacity"]:
        try:
            capacity = _capacity(values["capacity"])
        except ValueError as exc:
            errors["capacity"] = str(exc)
    fields = {"kind": values["kind"], "title": values["title"][:120], "description": values["description"],
              "place": values["place"][:200], "starts_at": when("starts_at"), "ends_at": when("ends_at"),
              "deadline": when("deadline", required=False), "capacity": capacity,
              "waitlist": bool(values["waitlist"]), "audience": values["audience"][:200]}
    return values, fields, errors


async def _form_page(request: web.Request, values: dict[str, str], errors: dict[str, str], activity: Activity | None,
                     status: int = 200) -> web.Response:
    choices = permissions.community_choices(request)
    if activity is not None and activity.community and activity.community not in choices:
        choices = [*choices, activity.community]  # a name no longer configured stays selectable
    people = 0
    if activity is not None:
        async with db_session(request) as db:
            c = await reports.counts(db, activity.id)
        people = c["confirmed"] + c["waitlist"]
    return render(request, "signup/form.html", {
        "values": values, "errors": errors, "kinds": KINDS, "activity": activity, "people": people,
        "communities": choices, "own_community": permissions.community(request),
        "max_capacity": ops.MAX_CAPACITY}, status=status)


@answers_missing
async def new_form(request: web.Request) -> web.Response:
    return await _form_page(request, _form_values(None, ops_context(request).tz), {}, None)


@answers_missing
async def edit_form(request: web.Request) -> web.Response:
    async with db_session(request) as db:
        a = await _scoped_activity(request, db, int(request.match_info["activity_id"]), act=True)
    return await _form_page(request, _form_values(a, ops_context(request).tz), {}, a)


@answers_missing
async def save(request: web.Request) -> web.StreamResponse:
    """Create (no id) or edit an activity."""
    ctx = ops_context(request)
    aid = request.match_info.get("activity_id")
    values, fields, errors = _parse_form(await request.post(), ctx.tz)
    try:  # the organiser: a community account's own community; the federation chooses
        fields["community"] = permissions.chosen_community(request, values["community"])
    except permissions.BadCommunity as exc:
        errors["community"] = str(exc)
    activity, told, by_phone = None, 0, 0
    if aid is not None:  # a missing (or another community's) activity is a 404 before anything else
        async with db_session(request) as db:
            await _scoped_activity(request, db, int(aid), act=True)
    if not errors:
        try:
            async with db_session(request) as db, db.begin():
                if aid is None:
                    activity = await ops.create_activity(db, ctx, **fields)
                else:
                    was = await _scoped_activity(request, db, int(aid), act=True)
                    before = (was.starts_at, was.ends_at, was.place)
                    activity, told = await ops.update_activity(db, ctx, int(aid), **fields)
                    moved = (activity.starts_at, activity.ends_at, activity.place) != before
                    by_phone = await reports.unlinked_count(db, activity.id) if moved else 0
                await _audit(db, ctx, "signup.create" if aid is None else "signup.edit", f"activity:{activity.id}",
                             {"title": activity.title})
        except ops.SignupError as exc:
            errors["_"] = str(exc)
    if errors:
        async with db_session(request) as db:
            current = await ops.find_activity(db, int(aid)) if aid else None
        return await _form_page(request, values, errors, current, status=400)
    said = f"，时间地点的变动已通知 {told} 位报名和候补的职工" if told else ""
    if by_phone:
        said += (f"；另有 {by_phone} 位未关联微信，请电话告知" if told
                 else f"，时间地点有变动，请电话告知 {by_phone} 位未关联微信的职工")
    await flash(request, "活动已发布" if aid is None else "活动已保存" + said)
    raise _back(request, activity.id)


@answers_missing
async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancel the activity; everyone signed up or waitlisted is told through the outbox."""
    ctx = ops_context(request)
    aid = int(request.match_info["activity_id"])
    form = await request.post()
    reason = str(form.get("reason", "")).strip()[:200]
    async with db_session(request) as db, db.begin():
        a = await _scoped_activity(request, db, aid, act=True)
        if a.status == "cancelled":
            await flash(request, "这个活动已经取消过了", "warn")
            raise _back(request, aid, form)
        by_phone = await reports.unlinked_count(db, aid)
        told = await ops.cancel_activity(db, ctx, aid, reason)
        await _audit(db, ctx, "signup.cancel", f"activity:{aid}", {"reason": reason, "notified": told,
                                                                   "by_phone": by_phone})
    await flash(request, f"活动已取消，已通知 {told} 位报名和候补的职工"
                + (f"；另有 {by_phone} 位未关联微信，请电话告知" if by_phone else ""))
    raise _back(request, aid, form)


# ----------------------------------------------------------------------------- detail
@answers_missing
async def detail(request: web.Request) -> web.Response:
    """One activity: facts, counts, check-in code and QR, the sign-up list."""
    ctx = ops_context(request)
    now = ctx.now
    aid = int(request.match_info["activity_id"])
    status = request.query.get("status", "")
    status = status if status in ROW_FILTER else ""
    search = request.query.get("q", "").strip()[:32]
    async with db_session(request) as db:
        a = await _scoped_activity(request, db, aid, act=False)
        # The sign-up list (workers' names and phones) only to those who run the activity.
        own = permissions.in_scope(request, a.community)
        counts = await reports.counts(db, aid)
        rows = await reports.signup_rows(db, aid, status, search) if own else []
    opens, closes = ops.checkin_window(ctx, a)
    state = request_session(request)
    revealed = state.data.pop(REVEALED, None) if state.id is not None else None
    if revealed is not None:
        state.dirty = True
    fields = [{"name": "q", "label": "查找", "type": "search", "placeholder": "姓名 / 手机尾号", "value": search},
              {"name": "status", "label": "状态", "type": "select", "options": list(ROW_FILTER.items())}]
    here = _kept(request.query, DETAIL_KEEP)

    def moment(value: datetime | None, weekday: bool = True) -> str:
        return ops.day_text(value, ctx.tz, now, weekday=weekday) if value else ""

    can_check_in = own and a.status != "cancelled" and permissions.may(request, "signup.checkin_bulk", "POST")
    return render(request, "signup/detail.html", {
        "a": a, "counts": counts, "rows": rows, "fields": fields, "labels": ROW_STATUS, "via": VIA,
        "when": ops.when_text(a, ctx.tz, now), "window": ops.span_text(opens, closes, ctx.tz, now), "moment": moment,
        "qr_image": QR_IMAGE + a.qr_ticket if a.qr_ticket else "",
        "online": not ctx.settings.wechat.offline, "export_query": urlencode(_kept(request.query, ("status", "q"))),
        "own": own, "list_url": _list_back(request.query), "back_query": urlencode(here),
        "revealed": tuple(revealed) if isinstance(revealed, list) and len(revealed) == 2 else None,
        "can_check_in": can_check_in, "checkable": sum(1 for r in rows if r["status"] == "confirmed"),
        "started": now >= a.starts_at, "phase": ops.phase(a, now), "filtered": bool(status or search),
    })


@answers_missing
async def check_in(request: web.Request) -> web.StreamResponse:
    """Manual check-in by staff."""
    ctx = ops_context(request)
    aid, sid = _ids(request)
    form = await request.post()
    try:
        async with db_session(request) as db, db.begin():
            await _scoped_activity(request, db, aid, act=True)
            s = await ops.staff_check_in(db, ctx, aid, sid)
            await _audit(db, ctx, "signup.checkin", f"signup:{sid}", {"activity": aid})
        await flash(request, f"{s.name or '该职工'} 已签到")
    except ops.SignupError as exc:
        await flash(request, str(exc), "error")
    raise _back(request, aid, form)


@answers_missing
async def check_in_many(request: web.Request) -> web.StreamResponse:
    """Batch check-in: the ticked rows of the sign-up list (each audited as a check-in)."""
    ctx = ops_context(request)
    aid = int(request.match_info["activity_id"])
    form = await request.post()
    ids: list[int] = []
    for raw in form.getall("ids", []):
        if isinstance(raw, str) and raw.isdecimal() and len(raw) < 10 and int(raw) not in ids:
            ids.append(int(raw))
    async with db_session(request) as db:
        await _scoped_activity(request, db, aid, act=True)
    if not ids:
        await flash(request, "请先勾选要签到的人员", "warn")
        raise _back(request, aid, form)
    if len(ids) > MAX_BATCH:
        await flash(request, f"一次最多为 {MAX_BATCH} 人签到，请分批操作", "error")
        raise _back(request, aid, form)
    async with db_session(request) as db, db.begin():
        await _scoped_activity(request, db, aid, act=True)
        res = await ops.staff_check_in_many(db, ctx, aid, ids)
        for s in res.done:
            await _audit(db, ctx, "signup.checkin", f"signup:{s.id}", {"activity": aid, "batch": True})
    if res.done:
        names = "、".join(s.name or "（未留姓名）" for s in res.done[:10])
        more = f" 等 {len(res.done)} 人" if len(res.done) > 10 else ""
        await flash(request, f"已为 {len(res.done)} 人登记签到：{names}{more}")
    if res.already:
        await flash(request, f"{len(res.already)} 人此前已签到，未重复登记", "warn")
    if res.failed:
        more = f"（另有 {len(res.failed) - 5} 条）" if len(res.failed) > 5 else ""
        await flash(request, f"{len(res.failed)} 人未签到：" + "；".join(res.failed[:5]) + more, "warn")
    raise _back(request, aid, form)


@answers_missing
async def undo_check_in(request: web.Request) -> web.StreamResponse:
    """「更正」 a mistaken check-in (audited; a worker who checked in themselves is told)."""
    ctx = ops_context(request)
    aid, sid = _ids(request)
    form = await request.post()
    try:
        async with db_session(request) as db, db.begin():
            await _get_signup(db, aid, sid)
            await _scoped_activity(request, db, aid, act=True, error=Gone("报名记录"))
            c = await ops.undo_check_in(db, ctx, aid, sid)
            await _audit(db, ctx, "signup.checkin_undo", f"signup:{sid}", {
                "activity": aid, "was_at": ctx.local(c.was_at).strftime("%Y-%m-%d %H:%M"),
                "was_via": VIA.get(c.was_via, c.was_via), "worker_told": c.told})
    except ops.SignupError as exc:
        await flash(request, str(exc), "error")
        raise _back(request, aid, form) from None
    name = c.signup.name or "该职工"
    note = "，已通过微信告知本人" if c.told else ""
    if c.was_via == "record":
        note += "；如该人员并未参加，可再点「取消报名」将其移出名单"
    await flash(request, f"已更正：{name} 改为未签到{note}")
    raise _back(request, aid, form)


@answers_missing
async def cancel_one(request: web.Request) -> web.StreamResponse:
    """Staff cancel one sign-up (e.g. the worker phoned); the waitlist moves up."""
    ctx = ops_context(request)
    aid, sid = _ids(request)
    form = await request.post()
    async with db_session(request) as db, db.begin():
        await _get_signup(db, aid, sid)
        await _scoped_activity(request, db, aid, act=True, error=Gone("报名记录"))
        res = await ops.cancel_signup(db, ctx, sid)
        await _audit(db, ctx, "signup.cancel_one", f"signup:{sid}",
                     {"activity": aid, "promoted": res.promoted.id if res.promoted else None})
    if res.ok:
        promoted = ""
        if res.promoted is not None:
            who = res.promoted.name or "候补第一位"
            promoted = (f"，{who}已递补，并已发送通知" if res.promoted.openid
                        else f"，{who}已递补（未关联微信，请电话告知）")
        await flash(request, "已取消该报名" + promoted)
    else:
        await flash(request, CANCEL_REFUSED.get(res.reason, "这条报名已经取消过了"), "warn")
    raise _back(request, aid, form)


@answers_missing
async def reveal(request: web.Request) -> web.StreamResponse:
    """Show one worker's full phone number (audited), e.g. to phone an unreachable promotion:
    a POST that redirects back; the number shows once, as a link to call it."""
    ctx = ops_context(request)
    aid, sid = _ids(request)
    form = await request.post()
    async with db_session(request) as db, db.begin():
        s = await _get_signup(db, aid, sid)
        await _scoped_activity(request, db, aid, act=True, error=Gone("报名记录"))
        await _audit(db, ctx, "signup.reveal_phone", f"signup:{sid}", {"activity": aid})
    state = request_session(request)
    if state.id is not None and s.phone:
        state.data[REVEALED] = [s.id, s.phone]
        state.dirty = True
    await flash(request, f"已显示{s.name or '该职工'}的完整电话（本次查看已记录）" if s.phone
                else f"{s.name or '该职工'}没有留电话")
    raise _back(request, aid, form)


@answers_missing
async def export(request: web.Request) -> web.Response:
    """The (filtered) sign-up list as CSV or XLSX; phones masked."""
    ctx = ops_context(request)
    aid, fmt = int(request.match_info["activity_id"]), request.match_info["fmt"]
    status = request.query.get("status", "")
    status = status if status in ROW_FILTER else ""
    search = request.query.get("q", "").strip()[:32]
    async with db_session(request) as db, db.begin():
        a = await _scoped_activity(request, db, aid, act=True)
        rows = await reports.signup_rows(db, aid, status, search)
        await _audit(db, ctx, "signup.export", f"activity:{aid}", {"format": fmt, "status": status, "rows": len(rows)})

    def state(r: dict[str, Any]) -> str:
        return ROW_STATUS[r["status"]] + (f"第{r['position']}位" if r["position"] else "")

    table = [[i, r["signup"].name, mask(r["signup"].phone, "phone"), r["signup"].employer, state(r),
              r["signup"].created_at, r["signup"].cancelled_at if r["signup"].status == "cancelled" else None,
              r["signup"].attended_at, VIA.get(r["signup"].checkin_via or "", ""),
              "未关联（电话联系）" if r["unlinked"] else "已关联"]
             for i, r in enumerate(rows, 1)]
    header = ["序号", "姓名", "手机", "工作单位", "状态", "报名时间", "取消时间", "签到时间", "签到方式", "微信"]
    return spreadsheet_response(fmt, header, table, filename=f"{a.title}-报名名单", sheet="报名名单", tz=ctx.tz)


@answers_missing
async def make_qr(request: web.Request) -> web.StreamResponse:
    """Create the permanent check-in QR code through the WeChat API (online accounts only)."""
    ctx = ops_context(request)
    aid = int(request.match_info["activity_id"])
    try:
        async with db_session(request) as db:  # apart: the API call must not wait inside a transaction
            await _scoped_activity(request, db, aid, act=True)
        async with db_session(request) as db, db.begin():
            await ops.create_checkin_qr(db, ctx, aid)
            await _audit(db, ctx, "signup.qr", f"activity:{aid}")
    except ops.SignupError as exc:
        await flash(request, str(exc), "error")
        raise _back(request, aid) from None
    await flash(request, "签到二维码已生成")
    raise _back(request, aid)


# ----------------------------------------------------------------------------- 代报名 / 补录到场
ENROL_FIELDS = ("name", "phone", "employer")


def _check_person(values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(clean values, errors by field) of the person staff typed."""
    clean, errors = {}, {}
    try:
        clean["name"] = parse_name(values["name"])
    except Invalid:
        errors["name"] = "请填写姓名（2–20 个字，不含数字和符号）"
    try:
        clean["phone"] = parse_mobile(values["phone"])
    except Invalid:
        errors["phone"] = "请填写 11 位手机号，例如 13800138000"
    employer = values["employer"]
    if len(employer) > 128:
        errors["employer"] = "工作单位最多 128 个字"
    clean["employer"] = employer
    return clean, errors


async def _enrol_page(request: web.Request, a: Activity, values: dict[str, str], errors: dict[str, str], *,
                      match: ops.FollowerMatch | None = None, status: int = 200) -> web.Response:
    ctx = ops_context(request)
    return render(request, "signup/enrol.html", {
        "a": a, "values": values, "errors": errors, "match": match, "started": ctx.now >= a.starts_at,
        "when": ops.when_text(a, ctx.tz, ctx.now), "seats": ops.seats_text(a),
        "moment": lambda v: ops.day_text(v, ctx.tz, ctx.now) if v else "",
        "back_query": str(request.query.get("back", "") or values.get("back", ""))[:300],
    }, status=status)


@answers_missing
async def enrol_form(request: web.Request) -> web.Response:
    """代报名 (before the start) or 补录到场 (after it): the person's name, phone and employer."""
    aid = int(request.match_info["activity_id"])
    async with db_session(request) as db:
        a = await _scoped_activity(request, db, aid, act=True)
    if a.status == "cancelled":
        await flash(request, "活动已取消，不能再添加人员", "warn")
        raise _back(request, aid)
    return await _enrol_page(request, a, {"back": request.query.get("back", "")}, {})


@answers_missing
async def enrol_save(request: web.Request) -> web.StreamResponse:
    """Add the person: the follower with this phone is offered first and linked only when staff
    tick that they checked it is the same person (as hardship's 代办); otherwise unlinked."""
    ctx = ops_context(request)
    aid = int(request.match_info["activity_id"])
    form = await request.post()
    values = {k: str(form.get(k, "")).strip()[:200] for k in (*ENROL_FIELDS, "back")}
    async with db_session(request) as db:
        a = await _scoped_activity(request, db, aid, act=True)
    clean, errors = _check_person(values)
    if errors:
        return await _enrol_page(request, a, values, errors, status=400)
    started = ctx.now >= a.starts_at
    try:
        async with db_session(request) as db, db.begin():
            current = await _scoped_activity(request, db, aid, act=True)
            match, note = await ops.find_follower(db, phone=clean["phone"], name=clean["name"])
            shown = match is not None and str(form.get("link_to", "")) == str(match.member_id)
            if match is not None and not shown:
                return await _enrol_page(request, current, values, {}, match=match)  # show it; nothing stored yet
            member = (await ops.member_by_id(db, match.member_id)
                      if match is not None and shown and form.get("link_confirm") == "1" else None)
            add = ops.record_attendance if started else ops.staff_sign_up
            res = await add(db, ctx, aid, member=member, **clean)
            await _audit(db, ctx, "signup.attend" if started else "signup.enrol", f"signup:{res.signup.id}", {
                "activity": aid, "outcome": res.outcome, "linked": member is not None,
                "match_offered": match is not None, "worker_told": res.told,
                **({"name_mismatch": match.name_mismatch} if match is not None else {})})
    except ops.SignupError as exc:
        async with db_session(request) as db:  # (the refused transaction's objects went with it)
            a = await _scoped_activity(request, db, aid, act=True)
        return await _enrol_page(request, a, values, {"_": str(exc)}, status=400)
    name = clean["name"]
    if res.outcome == "attended":
        msg = f"已补录 {name} 到场" + ("，计入培训台账" if a.kind == "training" else "")
    elif res.outcome == "waitlist":
        msg = f"名额已满，已将 {name} 登记为候补第{res.position}位"
    else:
        msg = f"已为 {name} 代报名，报名成功"
    if res.outcome != "attended":
        msg += "，已通过微信通知本人" if res.told else "（未关联微信，之后的变动请电话告知本人）"
    if note:
        msg += f"。{note}"
    await flash(request, msg, "warn" if note else "ok")
    raise _back(request, aid, values)


# ----------------------------------------------------------------------------- training record
def _range(request: web.Request) -> tuple[date, date, list[str]]:
    """The record's dates (default: this year so far) and what was wrong with the ones given."""
    today = ops_context(request).local().date()
    start, end, notes = date(today.year, 1, 1), today, []
    for name, label in (("from", "开始日期"), ("to", "结束日期")):
        raw = request.query.get(name, "").strip()
        if not raw:
            continue
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            notes.append(f"{label}「{raw[:20]}」看不懂，请按 2026-01-31 的样子填写")
            continue
        if not ops.MIN_YEAR <= value.year <= ops.MAX_YEAR:
            notes.append(f"{label}超出范围，请填写 {ops.MIN_YEAR} 年到 {ops.MAX_YEAR} 年之间的日期")
            continue
        if name == "from":
            start = value
        else:
            end = value
    if end < start:
        notes.append("结束日期早于开始日期，已按开始日期当天显示")
        end = start
    return start, end, notes


@answers_missing
async def record(request: web.Request) -> web.Response:
    """培训台账: trainings attended per worker and per employer in a date range."""
    start, end, notes = _range(request)
    async with db_session(request) as db:
        data = await reports.training_record(db, ops_context(request), start, end,
                                             community=permissions.community(request))
    fields = [{"name": "from", "label": "开始日期", "type": "date", "value": start.isoformat()},
              {"name": "to", "label": "结束日期", "type": "date", "value": end.isoformat()}]
    return render(request, "signup/record.html", {"data": data, "start": start, "end": end, "fields": fields,
                                                  "notes": notes, "export_query": f"from={start}&to={end}"},
                  status=400 if notes and any("超出" in n or "看不懂" in n for n in notes) else 200)


@answers_missing
async def record_export(request: web.Request) -> web.Response:
    ctx = ops_context(request)
    start, end, _ = _range(request)
    fmt, by = request.match_info["fmt"], request.query.get("by", "worker")
    by = by if by in ("worker", "employer") else "worker"
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
    return spreadsheet_response(fmt, header, rows, filename=f"培训台账-{start}至{end}",
                                sheet="按单位" if by == "employer" else "按职工", tz=ctx.tz)


def setup(app: web.Application) -> None:
    r = app.router
    ACTIVITIES.add_routes(r, "/signup", name="signup.list", export_name="signup.list_download")  # no personal data
    r.add_get("/signup/new", new_form, name="signup.new")
    r.add_post("/signup/new", save, name="signup.create")
    r.add_get("/signup/record", record, name="signup.record")
    r.add_get("/signup/record/export.{fmt:csv|xlsx}", record_export, name="signup.record_export")
    one = "/signup/{activity_id:\\d{1,9}}"
    r.add_get(one, detail, name="signup.detail")
    r.add_get(one + "/edit", edit_form, name="signup.edit")
    r.add_post(one + "/edit", save, name="signup.save")
    r.add_post(one + "/cancel", cancel, name="signup.cancel")
    r.add_post(one + "/qr", make_qr, name="signup.qr")
    r.add_get(one + "/export.{fmt:csv|xlsx}", export, name="signup.export")
    r.add_get(one + "/add", enrol_form, name="signup.enrol")
    r.add_post(one + "/add", enrol_save, name="signup.enrol_save")
    r.add_post(one + "/checkin", check_in_many, name="signup.checkin_bulk")
    row = one + "/signups/{signup_id:\\d{1,9}}"
    r.add_post(row + "/checkin", check_in, name="signup.checkin")
    r.add_post(row + "/uncheckin", undo_check_in, name="signup.checkin_undo")
    r.add_post(row + "/cancel", cancel_one, name="signup.cancel_one")
    r.add_post(row + "/contact", reveal, name="signup.reveal")
