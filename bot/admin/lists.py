"""Declarative admin lists: one small list-view helper (in the spirit of Django admin's ModelAdmin).

A feature declares WHAT its list shows; this module does the HOW — reading the query
string, filters, search, sorting, pagination, export, bulk actions and the permission
check — and renders through the shared template `_list.html` (a feature's template may
extend it and fill its blocks). The data comes from a query builder in the feature's ops:

    REQUESTS = ListView(
        title="困难帮扶申请",
        query=lambda st: ops.list_query(now=st.now, **st.filters),   # a Select, from ops
        search=Search(ops.search_clause, placeholder="编号 / 姓名 / 电话"),
        filters=[Choice("status", "状态", list(ops.STATUS_LABELS.items())),
                 DateRange("from", "to", "提交日期从", "至")],
        columns=[Column("ref", "编号", value=lambda r: r.ref, sort=HardshipRequest.id,
                        render=lambda r, p: p.link(p.url("hardship.detail", id=r.id), r.ref)),
                 Column("created", "提交时间", value=lambda r: r.created_at, sort=HardshipRequest.created_at)],
        default_sort="-ref",
        export=Export("帮扶申请", audit="hardship.export"),
        actions=[BulkAction("start_review", "批量开始审核", each(start_one, errors=(ops.HardshipError,)),
                            confirm="将给所选职工发送「已进入审核」的通知，确定吗？")],
    )
    REQUESTS.add_routes(app.router, "/hardship", name="hardship.list", export_name="hardship.export")

Query parameters: the filters' names, the search box's (`q`), `sort` (a column key, `-key`
for descending; only declared sort keys are accepted), `page`. A query string may be typed,
bookmarked or edited by hand, so nothing in it gives an error page: a bad page number reads as
the first page (past the end: the last), an unknown sort as the default order; a date that
isn't one (or outside 1900–2100) and a choice that doesn't exist are left out, and the page
says so in a warning (`ListState.problems`); a date range given backwards is swapped. Export
(`<path>/export.csv`, `.xlsx`) takes the same parameters without the page, and is audited. Bulk actions POST
`action`, `ids` and `back` (plus `_csrf`, checked by the site's middleware) to `<path>/bulk`.

Permissions: the list's routes are allowed or refused by `bot.admin.permissions` like every
admin route (the feature's role; viewers read but don't export personal data or act), and the
export links and bulk buttons show only when they would be allowed. `permission(staff, what)`
may refuse more (`"view"`, `"export"`, `"act"`); a bulk action may add its own `allowed(staff)`.
`scope=Model.community` keeps a community account to its own community's rows
(`scope_shared=True`: and the federation's own rows, community NULL) — in the page, the
export and the count alike.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup
from multidict import MultiDict
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import keys
from bot.admin import audit, permissions
from bot.admin.export import spreadsheet_response
from bot.admin.filters import MAX_PAGE, MAX_YEAR, MIN_YEAR  # noqa: F401  (still read as lists.MIN_YEAR …)
from bot.admin.filters import BadValue, clean_text, page_number, parse_date, with_query
from bot.admin.web import CLOCK, SERVICES, SETTINGS, db_session, flash, ops_context, render, render_error
from bot.operations import DomainError, OpsContext

log = logging.getLogger(__name__)

MAX_BULK = 500  # ids in one bulk action
# MAX_PAGE (a bigger page number reads as this) and MIN_YEAR..MAX_YEAR (dates outside are left
# out): bot/admin/filters.py, shared with the pages that read their own query parameters.

Permission = Callable[[Any, str], bool]  # (staff, "view" | "export" | "act") -> allowed


def everyone(staff: Any, what: str) -> bool:
    """The default permission: every logged-in staff member may view, export and act."""
    return staff is not None


# ----------------------------------------------------------------------------- declaration
@dataclass(frozen=True)
class Column:
    """One column. `value(row)` is the plain value (shown escaped, and exported); `render(row,
    page)` the cell's HTML when it needs more (links, badges, masks). `sort` is the SQL
    expression (or a tuple of them) ordering by this column; without it the column is not
    sortable. `export=False` keeps it out of the default export (e.g. a buttons column)."""

    key: str
    label: str
    value: Callable[[Any], Any] | None = None
    render: Callable[[Any, "ListPage"], Any] | None = None
    sort: Any = None
    export: bool = True
    css: str = ""

    def plain(self, row: Any) -> Any:
        return self.value(row) if self.value is not None else ""


Choices = Sequence[tuple[str, str]] | Callable[[AsyncSession], Awaitable[Sequence[tuple[str, str]]]]


@dataclass(frozen=True)
class Choice:
    """A select box; only one of `choices` (value, label) is accepted, else "" (= 全部).
    `choices` may be an async function of the database session (e.g. the communities in use), or
    of the session and the request (choices that depend on the account, e.g. its community).
    `hidden=True` keeps the value through the filter form without showing a box (a view
    switched by a link, e.g. 已移出的题目)."""

    name: str
    label: str
    choices: Choices = ()
    hidden: bool = False


@dataclass(frozen=True)
class DateRange:
    """Two date boxes; the query builder gets `date` objects (or None) under both names."""

    name_from: str
    name_to: str
    label_from: str = "日期从"
    label_to: str = "至"


@dataclass(frozen=True)
class Text:
    """A free text box (trimmed, at most `max_len` characters)."""

    name: str
    label: str
    placeholder: str = ""
    max_len: int = 64


Filter = Choice | DateRange | Text


@dataclass(frozen=True)
class Search:
    """The search box: `where(term)` — from the feature's ops — is the condition added to the
    query for a non-empty term. A search scans anyway, so its total is counted in the same
    pass as the page."""

    where: Callable[[str], Any]
    placeholder: str = ""
    label: str = "搜索"
    param: str = "q"
    max_len: int = 64


@dataclass(frozen=True)
class Export:
    """CSV / XLSX of the filtered, sorted list (no pages). `columns` default to the list's
    columns with `export=True`; `table(items, state)` returns (header, rows) instead when the
    export has its own shape. Cells are made formula-safe by bot.spreadsheet. Every export is
    audited as `audit` (default "<view name>.export")."""

    filename: str
    sheet: str = ""
    columns: Sequence[Column] | None = None
    table: Callable[[list[Any], "ListState"], tuple[Sequence[str], Sequence[Sequence[Any]]]] | None = None
    audit: str = ""
    max_rows: int = 100_000


@dataclass
class ActionResult:
    """What a bulk action did: `done` (labels of the rows changed) and `failed` (label: reason)."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ActionContext:
    request: web.Request
    staff: Any
    now: datetime

    @property
    def settings(self) -> Any:
        return self.request.app[SETTINGS]

    @property
    def services(self) -> dict[str, Any]:
        return self.request.app[SERVICES]

    @property
    def ops(self) -> OpsContext:
        """The context the feature's operations take, acting as this staff member."""
        return ops_context(self.request)

    def session(self) -> AsyncSession:
        return db_session(self.request)


ActionHandler = Callable[[ActionContext, list[int]], Awaitable[ActionResult]]


@dataclass(frozen=True)
class BulkAction:
    """A named action on the ticked rows: `handler(ctx, ids)`; `confirm` is asked first ("{n}"
    in it reads the number of rows ticked); `allowed(staff)` may refuse it for some staff (on
    top of the list's `act` permission); `shown(state)` offers it only in some views of the
    list (e.g. 恢复 among removed questions)."""

    name: str
    label: str
    handler: ActionHandler
    confirm: str = ""
    allowed: Callable[[Any], bool] | None = None
    shown: Callable[[ListState], bool] | None = None
    style: str = ""


def each(fn: Callable[[AsyncSession, int, ActionContext], Awaitable[str]], *,
         errors: tuple[type[Exception], ...] = (DomainError,)) -> ActionHandler:
    """A bulk handler running `fn(db, id, ctx)` for every id in a transaction of its own, so
    one refusal doesn't undo the others. `fn` returns the row's label (e.g. its reference)
    and raises one of `errors` (a feature's DomainError, worded for staff) to refuse; its
    audit row goes in its transaction, exactly as the single action's."""

    async def handler(ctx: ActionContext, ids: list[int]) -> ActionResult:
        result = ActionResult()
        for row_id in ids:
            try:
                async with ctx.session() as db, db.begin():
                    result.done.append(await fn(db, row_id, ctx))
            except errors as exc:
                result.failed.append(str(exc))
        return result

    return handler


# ----------------------------------------------------------------------------- one request
@dataclass
class ListState:
    """The list as asked for in this request, checked against the declaration."""

    request: web.Request
    staff: Any
    now: datetime
    filters: dict[str, Any]
    search: str
    sort: str  # "key" or "-key", always a declared sort key (or "")
    page: int
    per_page: int
    problems: list[str] = field(default_factory=list)  # what the query asked that was left out (staff wording)

    @property
    def ops(self) -> OpsContext:
        """The context the feature's operations take (clock with the timezone, settings, services)."""
        return ops_context(self.request)


def _date(raw: str, label: str = "日期", problems: list[str] | None = None) -> date | None:
    try:
        return parse_date(raw, label)
    except BadValue as exc:
        if problems is not None:
            problems.append(f"{exc}，这个条件没有使用。")
        return None


def _range_labels(f: "DateRange") -> tuple[str, str]:
    """How a warning names the two boxes: 「提交日期（起）」「提交日期（止）」 for 「提交日期从 … 至」."""
    base = f.label_from.removesuffix("从").strip()
    start = f"{base}（起）" if base != f.label_from else f.label_from
    end = f.label_to if f.label_to.strip() not in ("至", "到") else f"{base or '日期'}（止）"
    return start, end


def _page_number(raw: str) -> int:
    return page_number(raw)


def _query_without(query: Mapping[str, str], drop: Sequence[str]) -> MultiDict[str]:
    out: MultiDict[str] = MultiDict()
    for k, v in query.items():
        if k not in drop:
            out.add(k, v)
    return out


@dataclass
class ListPage:
    """What `_list.html` renders; also handed to column `render` functions, which use its
    helpers: `url(route, **parts)`, `link(url, text)`, `localtime(dt)`, and `m` — the
    shared macros (`m.badge`, `m.masked`, `m.post_button`)."""

    view: "ListView"
    state: ListState
    rows: list[Any]
    total: int
    fields: list[dict[str, Any]]
    m: Any
    localtime: Callable[..., str]
    csrf_token: str = ""
    exports: list[tuple[str, str]] = field(default_factory=list)
    actions: list[BulkAction] = field(default_factory=list)
    bulk_url: str = ""

    # ---- helpers for render functions
    def url(self, route: str, **parts: Any) -> str:
        return str(self.state.request.app.router[route].url_for(**{k: str(v) for k, v in parts.items()}))

    @staticmethod
    def link(url: str, text: Any) -> Markup:
        return Markup('<a href="{}">{}</a>').format(url, text)

    # ---- what the template reads
    @property
    def title(self) -> str:
        return self.view.title

    @property
    def page(self) -> int:
        return self.state.page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.state.per_page))

    @property
    def columns(self) -> list[dict[str, Any]]:
        out = []
        req = self.state.request
        current = self.state.sort
        for col in self.view.columns:
            entry: dict[str, Any] = {"key": col.key, "label": col.label, "css": col.css, "sort_url": "", "dir": ""}
            if col.sort is not None:
                if current == col.key:
                    entry["dir"], nxt = "asc", "-" + col.key
                elif current == "-" + col.key:
                    entry["dir"], nxt = "desc", col.key
                else:
                    nxt = "-" + col.key if self.view.default_sort == "-" + col.key or col.key in self.view.desc_first else col.key
                entry["sort_url"] = with_query(req, sort=nxt if nxt != self.view.default_sort else None, page=None)
            out.append(entry)
        return out

    @property
    def sort_options(self) -> list[tuple[str, str]]:
        """(value, label) for the sort box: "" is the default order."""
        opts = []
        for col in self.view.columns:
            if col.sort is None:
                continue
            for value, arrow in (("-" + col.key, "↓"), (col.key, "↑")):
                if value != self.view.default_sort:
                    opts.append((value, f"{col.label} {arrow}"))
        return opts

    @property
    def default_sort_label(self) -> str:
        key = self.view.default_sort.lstrip("-")
        col = next((c for c in self.view.columns if c.key == key), None)
        if col is None:
            return f"默认（{self.view.default_label}）" if self.view.default_label else "默认"
        return f"默认（{col.label} {'↓' if self.view.default_sort.startswith('-') else '↑'}）"

    @property
    def sort_param(self) -> str:
        return "" if self.state.sort == self.view.default_sort else self.state.sort

    @property
    def body(self) -> list[dict[str, Any]]:
        """Per row: its id (for bulk actions) and its cells."""
        out = []
        for row in self.rows:
            cells = []
            for col in self.view.columns:
                if col.render is not None:
                    cells.append(col.render(row, self))
                else:
                    value = col.plain(row)
                    cells.append(self.localtime(value) if isinstance(value, (datetime, date)) else value)
            out.append({"id": self.view.row_id(row), "cells": cells})
        return out

    @property
    def back(self) -> str:
        return str(self.state.request.rel_url)

    @property
    def has_filters(self) -> bool:
        return bool(self.state.request.query)

    @property
    def active_filters(self) -> int:
        """Filters in use besides the search box (the sort order counts as one)."""
        n = sum(1 for f in self.fields if f["type"] not in ("search", "hidden") and f["value"])
        return n + (1 if self.sort_param else 0)


@dataclass(eq=False)
class ListView:
    """The declaration of one admin list (see the module's docstring)."""

    title: str
    query: Callable[[ListState], Select]
    columns: Sequence[Column]
    filters: Sequence[Filter] = ()
    search: Search | None = None
    default_sort: str = ""  # a sort key, "-key" for descending; "" keeps the query's own order
    default_label: str = ""  # how the sort box names the default order when it is the query's own
    desc_first: frozenset[str] = frozenset()  # sort keys whose first click sorts descending
    tiebreak: Any = None  # appended to every order (e.g. Model.id.desc()): a stable page order
    rows: Callable[[AsyncSession, list[Any], ListState], Awaitable[list[Any]]] | None = None
    row_id: Callable[[Any], int] = lambda row: row.id
    export: Export | None = None
    actions: Sequence[BulkAction] = ()
    permission: Permission = everyone
    # The community column of the rows (community accounts see only theirs); see the docstring.
    scope: Any = None
    scope_shared: bool = False
    template: str = "_list.html"
    context: Callable[[web.Request], Awaitable[dict[str, Any]]] | None = None  # extra template context
    unit: str = "条"
    empty: str = "没有符合条件的记录。"
    per_page: int | None = None  # default: [admin] page_size
    name: str = ""  # route name of the list (set by add_routes)
    export_name: str = ""
    bulk_name: str = ""

    # ---- routes
    def add_routes(self, router: web.UrlDispatcher, path: str, *, name: str, export_name: str = "",
                   bulk_name: str = "") -> None:
        """GET `path` (the page), GET `path`/export.{csv|xlsx} and POST `path`/bulk."""
        self.name = name
        router.add_get(path, self.page_handler, name=name)
        if self.export is not None:
            self.export_name = export_name or f"{name}.export"
            router.add_get(path.rstrip("/") + "/export.{fmt:csv|xlsx}", self.export_handler, name=self.export_name)
        if self.actions:
            self.bulk_name = bulk_name or f"{name}.bulk"
            router.add_post(path.rstrip("/") + "/bulk", self.bulk_handler, name=self.bulk_name)

    # ---- reading the request
    async def _choices(self, db: AsyncSession, f: Choice, request: web.Request) -> list[tuple[str, str]]:
        raw = f.choices
        if callable(raw):
            takes_request = len(inspect.signature(raw).parameters) > 1
            raw = await (raw(db, request) if takes_request else raw(db))
        return [(str(v), str(label)) for v, label in raw]

    async def state(self, request: web.Request, db: AsyncSession) -> tuple[ListState, list[dict[str, Any]]]:
        """The checked parameters, and the filter form's fields."""
        q = request.query
        values: dict[str, Any] = {}
        fields: list[dict[str, Any]] = []
        problems: list[str] = []
        search = clean_text(q.get(self.search.param, ""), self.search.max_len) if self.search else ""
        if self.search is not None:
            s = self.search
            fields.append({"name": s.param, "label": s.label, "type": "search", "placeholder": s.placeholder,
                           "value": search})
        for f in self.filters:
            if isinstance(f, Choice):
                options = await self._choices(db, f, request)
                raw = q.get(f.name, "")
                values[f.name] = raw if raw in {v for v, _ in options} else ""
                if raw and not values[f.name]:
                    problems.append(f"「{f.label}」没有「{clean_text(raw, 20)}」这一项（可能已经不再使用），已显示全部。")
                fields.append({"name": f.name, "label": f.label, "type": "hidden" if f.hidden else "select",
                               "options": options, "value": values[f.name]})
            elif isinstance(f, DateRange):
                label_from, label_to = _range_labels(f)
                start = _date(q.get(f.name_from, ""), label_from, problems)
                end = _date(q.get(f.name_to, ""), label_to, problems)
                if start is not None and end is not None and start > end:
                    start, end = end, start
                    problems.append(f"开始日期晚于结束日期，已按 {start.isoformat()} 至 {end.isoformat()} 查询。")
                values[f.name_from], values[f.name_to] = start, end
                for name, label in ((f.name_from, f.label_from), (f.name_to, f.label_to)):
                    fields.append({"name": name, "label": label, "type": "date",
                                   "value": values[name].isoformat() if values[name] else ""})
            else:
                values[f.name] = clean_text(q.get(f.name, ""), f.max_len)
                fields.append({"name": f.name, "label": f.label, "type": "text", "placeholder": f.placeholder,
                               "value": values[f.name]})
        raw_sort = q.get("sort", "")
        key = raw_sort.lstrip("-")
        sort = ("-" if raw_sort.startswith("-") else "") + key if key in self._sort_keys() else self.default_sort
        settings = request.app[SETTINGS]
        state = ListState(
            request=request, staff=request.get(keys.REQUEST_STAFF), now=request.app[CLOCK].now(),
            filters=values, search=search,
            sort=sort, page=_page_number(q.get("page", "1")), per_page=self.per_page or settings.admin.page_size,
            problems=problems,
        )
        return state, fields

    def _sort_keys(self) -> dict[str, Any]:
        return {c.key: c.sort for c in self.columns if c.sort is not None}

    def statement(self, state: ListState) -> Select:
        """The feature's query with the search and the order applied (no page)."""
        stmt = self.query(state)
        if self.scope is not None:
            stmt = stmt.where(permissions.scope_filter(state.request, self.scope, shared=self.scope_shared))
        if self.search is not None and state.search:
            stmt = stmt.where(self.search.where(state.search))
        if not state.sort:
            return stmt
        exprs = self._sort_keys()[state.sort.lstrip("-")]
        exprs = exprs if isinstance(exprs, (tuple, list)) else (exprs,)
        desc = state.sort.startswith("-")
        order = [e.desc() if desc else e.asc() for e in exprs]
        if self.tiebreak is not None:
            order.append(self.tiebreak)
        return stmt.order_by(None).order_by(*order)

    async def fetch(self, db: AsyncSession, state: ListState) -> tuple[list[Any], int]:
        """One page of items and the total."""
        stmt = self.statement(state)
        offset = (state.page - 1) * state.per_page
        if state.search:
            # A text search scans the table anyway: count the matches in the same pass.
            found = (await db.execute(stmt.add_columns(func.count().over()).offset(offset).limit(state.per_page))).all()
            if found:
                return [r[0] for r in found], found[0][-1]
        total = await db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        last = max(1, -(-total // state.per_page))
        if state.page > last:  # past the end (a bookmark, a bulk action that emptied the last page)
            state.page = last
            offset = (last - 1) * state.per_page
        items = list(await db.scalars(stmt.offset(offset).limit(state.per_page))) if total else []
        return items, total

    def _allowed(self, request: web.Request, what: str) -> bool:
        route = {"view": self.name, "export": self.export_name, "act": self.bulk_name}.get(what, "")
        if route and not permissions.may(request, route, "POST" if what == "act" else "GET"):
            return False
        return self.permission(request.get(keys.REQUEST_STAFF), what)

    async def _refuse(self, request: web.Request) -> web.Response:
        return await render_error(request, 403, "没有权限", "您的账号不能进行这项操作。如需开通，请联系管理员。",
                                  link=self._list_url(request))

    def _list_url(self, request: web.Request) -> str:
        return str(request.app.router[self.name].url_for()) if self.name else "/admin/"

    # ---- the page
    async def page_handler(self, request: web.Request) -> web.Response:
        if not self._allowed(request, "view"):
            return await self._refuse(request)
        async with db_session(request) as db:
            state, fields = await self.state(request, db)
            items, total = await self.fetch(db, state)
            rows = await self.rows(db, items, state) if self.rows is not None and items else items
        for problem in state.problems:  # shown above the list, in this very page
            await flash(request, problem, "warn")
        env = aiohttp_jinja2.get_env(request.app)
        staff = state.staff
        page = ListPage(
            view=self, state=state, rows=rows, total=total, fields=fields,
            m=env.get_template("macros.html").module, localtime=env.filters["localtime"],
            csrf_token=request.get(aiohttp_jinja2.REQUEST_CONTEXT_KEY, {}).get("csrf_token", ""),
        )
        if self.export is not None and self.export_name and self._allowed(request, "export"):
            query = _query_without(request.query, ("page",))
            for fmt, label in (("csv", "导出 CSV"), ("xlsx", "导出 Excel")):
                url = request.app.router[self.export_name].url_for(fmt=fmt)
                page.exports.append((label, str(url.with_query(query) if query else url)))
        if self.actions and self.bulk_name and self._allowed(request, "act"):
            page.actions = [a for a in self.actions if (a.allowed is None or a.allowed(staff))
                            and (a.shown is None or a.shown(state))]
            page.bulk_url = str(request.app.router[self.bulk_name].url_for())
        context = {"lv": page}
        if self.context is not None:
            context.update(await self.context(request))
        response = render(request, self.template, context)
        return response

    # ---- export
    async def export_handler(self, request: web.Request) -> web.Response:
        assert self.export is not None
        if not self._allowed(request, "export"):
            return await self._refuse(request)
        exp = self.export
        fmt = request.match_info["fmt"]
        async with db_session(request) as db, db.begin():
            state, _ = await self.state(request, db)
            items = list(await db.scalars(self.statement(state).limit(exp.max_rows)))
            if exp.table is not None:
                header, table = exp.table(items, state)
            else:
                cols = exp.columns if exp.columns is not None else [c for c in self.columns if c.export]
                rows = items
                if self.rows is not None:
                    rows = [r for i in range(0, len(items), 500) for r in await self.rows(db, items[i:i + 500], state)]
                header = [c.label for c in cols]
                table = [[_cell(c.plain(r), state) for c in cols] for r in rows]
            # The filters used, but not what was typed in the search box: it may be a name or a
            # phone, and personal values stay out of the audit log (docs/security.md §6).
            drop = (self.search.param,) if self.search is not None else ()
            query = "&".join(f"{k}={v}" for k, v in _query_without(request.query, drop).items())
            await audit.record(db, staff_id=getattr(state.staff, "id", None),
                               action=exp.audit or f"{self.name.split('.')[0]}.export", target=fmt,
                               detail={"query": query, "rows": len(table), **({"searched": True} if state.search else {})},
                               now=state.now)
        stamp = state.now.astimezone(_tz(request)).strftime("%Y%m%d")
        return spreadsheet_response(fmt, header, table, filename=f"{exp.filename}-{stamp}",
                                    sheet=exp.sheet or exp.filename)

    # ---- bulk actions
    async def bulk_handler(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        back = str(form.get("back", ""))
        list_url = self._list_url(request)
        if not (back == list_url or back.startswith(list_url + "?")):
            back = list_url
        staff = request.get(keys.REQUEST_STAFF)
        action = next((a for a in self.actions if a.name == form.get("action")), None)
        if action is None:
            await flash(request, "没有这个批量操作", "error")
            raise web.HTTPSeeOther(back)
        if not self._allowed(request, "act") or (action.allowed is not None and not action.allowed(staff)):
            return await self._refuse(request)
        ids: list[int] = []
        for raw in form.getall("ids", []):
            if isinstance(raw, str) and raw.isdecimal() and len(raw) < 12 and int(raw) not in ids:
                ids.append(int(raw))
        if not ids:
            await flash(request, f"请先勾选要{action.label.removeprefix('批量')}的记录", "warn")
            raise web.HTTPSeeOther(back)
        if len(ids) > MAX_BULK:
            await flash(request, f"一次最多处理 {MAX_BULK} 条", "error")
            raise web.HTTPSeeOther(back)
        result = await action.handler(ActionContext(request, staff, request.app[CLOCK].now()), ids)
        if result.done:
            shown = "、".join(result.done[:10]) + (f" 等 {len(result.done)} 条" if len(result.done) > 10 else "")
            await flash(request, f"{action.label}：已处理 {len(result.done)} 条（{shown}）")
        if result.failed:
            more = f"（另有 {len(result.failed) - 5} 条）" if len(result.failed) > 5 else ""
            await flash(request, f"{len(result.failed)} 条未处理：" + "；".join(result.failed[:5]) + more, "warn")
        raise web.HTTPSeeOther(back)


def _tz(request: web.Request) -> ZoneInfo:
    return request.app[CLOCK].tz


def _cell(value: Any, state: ListState) -> Any:
    """An export cell: local times as text (as the lists show them), markup as plain text."""
    if isinstance(value, datetime):
        return value.astimezone(_tz(state.request)).strftime("%Y-%m-%d %H:%M") if value.tzinfo else value
    if isinstance(value, Markup):
        return value.striptags()
    return value


__all__ = ["ActionContext", "ActionResult", "BulkAction", "Choice", "Column", "DateRange", "Export", "ListPage",
           "ListState", "ListView", "Search", "Text", "each", "everyone"]
