"""审计日志 (`/admin/audit`, admin role): who did what to which record, and when.

Filters: staff member, action, target (a reference such as BF-2026-0012, or its beginning),
result (done / refused) and a date range (local dates). Export (CSV / Excel) of the filtered
log for the data-protection officer; the export itself is audited as `audit.export`. Every
answer carries `Cache-Control: no-store` (bot/admin/headers.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit, lists
from bot.admin.roles import ADMIN
from bot.db.models.core import AuditLog, Staff
from bot.feature import NavEntry

NAV = NavEntry("审计日志", "/audit", 90)
SYSTEM = "system"  # the staff filter's value for rows without a staff member
DETAIL_LABELS = {
    "reason": "原因", "amount": "金额", "rows": "行数", "ip": "地址", "changed": "修改", "query": "筛选",
    "bulk": "批量", "linked": "关联微信", "name_mismatch": "姓名不一致", "added": "新增", "updated": "更新",
    "error": "错误", "format": "格式", "message": "留言", "assignee": "经办人", "kind": "内容", "date": "日期",
    "searched": "按关键词搜索",  # what was typed stays out of the log (docs/security.md §6)
}


def _is_admin(staff: Any) -> bool:
    """Until the permissions middleware decides, the page checks the admin role itself."""
    if staff is None:
        return False
    roles = getattr(staff, "roles", None)
    return roles is None or ADMIN in roles  # None: an account object from before roles


def permission(staff: Any, what: str) -> bool:
    return _is_admin(staff)


@dataclass(frozen=True)
class Row:
    log: AuditLog
    staff: str

    @property
    def id(self) -> int:
        return self.log.id


def _like_prefix(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def query(st: lists.ListState) -> Any:
    f = st.filters
    stmt = select(AuditLog)
    if f["staff"] == SYSTEM:
        stmt = stmt.where(AuditLog.staff_id.is_(None))
    elif f["staff"]:
        stmt = stmt.where(AuditLog.staff_id == int(f["staff"]))
    if f["action"]:
        stmt = stmt.where(AuditLog.action == f["action"])
    if f["target"]:
        term = f["target"]
        stmt = stmt.where(or_(AuditLog.target == term, AuditLog.target.like(_like_prefix(term), escape="\\")))
    if f["result"] == "refused":
        stmt = stmt.where(AuditLog.refused.is_(True))
    elif f["result"] == "done":
        stmt = stmt.where(AuditLog.refused.is_(False))
    start, end = f["from"], f["to"]
    if start and end and start > end:
        start, end = end, start
    tz = st.ops.tz
    if start:
        stmt = stmt.where(AuditLog.at >= datetime.combine(start, time(0), tz))
    if end:
        stmt = stmt.where(AuditLog.at < datetime.combine(end + timedelta(days=1), time(0), tz))
    return stmt


async def _staff_choices(db: AsyncSession) -> list[tuple[str, str]]:
    rows = (await db.execute(select(Staff.id, Staff.username, Staff.display_name).order_by(Staff.username))).all()
    return [(str(i), f"{d or u}（{u}）" if d and d != u else u) for i, u, d in rows] + [(SYSTEM, "（系统 / 未登录）")]


async def _action_choices(db: AsyncSession) -> list[tuple[str, str]]:
    used = set(await db.scalars(select(AuditLog.action).distinct()))
    actions = sorted(used | set(audit.ACTION_LABELS))
    return [(a, f"{audit.action_label(a)}（{a}）" if audit.action_label(a) != a else a) for a in actions]


async def _rows(db: AsyncSession, logs: list[AuditLog], st: lists.ListState) -> list[Row]:
    ids = {r.staff_id for r in logs if r.staff_id is not None}
    names: dict[int, str] = {}
    if ids:
        for i, u, d in (await db.execute(select(Staff.id, Staff.username, Staff.display_name)
                                         .where(Staff.id.in_(ids)))).all():
            names[i] = f"{d}（{u}）" if d and d != u else u
    return [Row(r, names.get(r.staff_id, "（已删除的账号）") if r.staff_id is not None else "（系统 / 未登录）")
            for r in logs]


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, (list, tuple)):
        return "、".join(_value(x) for x in v)
    if isinstance(v, dict):
        return "，".join(f"{k}={_value(x)}" for k, x in v.items())
    return "" if v is None else str(v)


def detail_text(detail: Any) -> str:
    if not isinstance(detail, dict) or not detail:
        return ""
    return "；".join(f"{DETAIL_LABELS.get(k, k)}：{_value(v)}" for k, v in detail.items())


def _result_cell(row: Row, page: lists.ListPage) -> Markup:
    return page.m.badge("x", "被拒绝", "bad") if row.log.refused else page.m.badge("x", "完成", "ok")


def _action_cell(row: Row, page: lists.ListPage) -> Markup:
    label = audit.action_label(row.log.action)
    if label == row.log.action:
        return Markup("{}").format(label)
    return Markup('{}<br><span class="muted">{}</span>').format(label, row.log.action)


LOG = lists.ListView(
    title="审计日志",
    template="audit.html",
    query=query,
    filters=[
        lists.Choice("staff", "工作人员", _staff_choices),
        lists.Choice("action", "操作", _action_choices),
        lists.Text("target", "对象", placeholder="如 BF-2026-0012", max_len=128),
        lists.Choice("result", "结果", [("done", "完成"), ("refused", "被拒绝")]),
        lists.DateRange("from", "to", "日期从", "至"),
    ],
    rows=_rows,
    columns=[
        lists.Column("at", "时间", value=lambda r: r.log.at, sort=AuditLog.at),
        lists.Column("staff", "工作人员", value=lambda r: r.staff),
        lists.Column("action", "操作", value=lambda r: r.log.action, render=_action_cell),
        lists.Column("target", "对象", value=lambda r: r.log.target),
        lists.Column("result", "结果", value=lambda r: "被拒绝" if r.log.refused else "完成", render=_result_cell),
        lists.Column("detail", "详情", value=lambda r: detail_text(r.log.detail)),
    ],
    default_sort="-at",
    tiebreak=AuditLog.id.desc(),
    export=lists.Export("审计日志", sheet="审计日志", audit="audit.export", columns=[
        lists.Column("at", "时间", value=lambda r: r.log.at),
        lists.Column("staff", "工作人员", value=lambda r: r.staff),
        lists.Column("action", "操作代码", value=lambda r: r.log.action),
        lists.Column("label", "操作", value=lambda r: audit.action_label(r.log.action)),
        lists.Column("target", "对象", value=lambda r: r.log.target),
        lists.Column("result", "结果", value=lambda r: "被拒绝" if r.log.refused else "完成"),
        lists.Column("detail", "详情", value=lambda r: detail_text(r.log.detail)),
    ]),
    permission=permission,
    unit="条",
    empty="没有符合条件的记录。",
)


def setup(app: web.Application) -> None:
    LOG.add_routes(app.router, "/audit", name="audit", export_name="audit.export")
