"""What staff see of the chairs feature: the quarter grid and the street's three
indicators (latest figures per chair, per community and overall, and the trend)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.chairs import Chair, ChairReminder, ChairReport
from bot.db.models.core import Outbox
from bot import outbox as outbox_api
from bot.operations import OpsContext
from handlers.chairs.ops import FIGURES, deadline_end, ladder
from handlers.chairs.quarters import Quarter

# The street's three assessment indicators: (label, numerator, denominator, target).
INDICATORS = (
    ("建会率", "unionised", "enterprises", 0.95),
    ("工资集体协商签约率", "wage_agreements", "unionised", 0.90),
    ("A级以上和谐企业占比", "harmonious", "unionised", 0.40),
)



@dataclass
class GridRow:
    chair: Chair
    report: ChairReport | None
    status: str  # on_time | late | missing (past the deadline) | pending (before it)
    reminders: list[ChairReminder]
    outbox: dict[str, "outbox_api.Message"]
    listed: bool
    unreachable: bool
    failed: bool

    @property
    def sent(self) -> int:
        """Reminders that went (or are going) out; cancelled ones do not count."""
        return sum(1 for r in self.reminders if r.status == "queued"
                   and getattr(self.outbox.get(r.outbox_key or ""), "status", "") != "cancelled")

    @property
    def needs_call(self) -> bool:
        """Not reported and WeChat cannot reach them (not bound, or a reminder failed): staff phone."""
        return self.report is None and (not self.chair.openid or self.unreachable or self.failed)

    @property
    def on_notice(self) -> bool:
        """On the quarter's 通报 list: listed and not reported, or reported only after being listed."""
        return self.listed and (self.report is None or not self.report.on_time)


STATUSES = ("on_time", "late", "missing", "pending", "unreachable")  # the grid's status filter


def _status_of(ctx: OpsContext, quarter: Quarter, chair: Chair, report: ChairReport | None) -> str:
    """A unit without a report is `missing` once the deadline has passed — if it was registered
    before then (a unit added afterwards was never asked for this quarter: `pending`)."""
    if report is not None:
        return "on_time" if report.on_time else "late"
    end = deadline_end(ctx, quarter)
    return "missing" if ctx.now >= end and chair.created_at < end else "pending"


def grid_query(ctx: OpsContext, quarter: Quarter, *, community: str = "", status: str = "") -> Select:
    """The quarter grid's units as a query (the staff list pages, sorts and counts it): active
    chairs, and inactive ones with a report this quarter; the quarter's report is joined (for
    sorting by it). `status` as in STATUSES ("unreachable": not reported, and WeChat can't reach
    them — not bound, or a reminder of the quarter undeliverable: staff phone)."""
    joined = and_(ChairReport.chair_id == Chair.id, ChairReport.quarter == quarter.label)
    q = (select(Chair).outerjoin(ChairReport, joined)
         .where(or_(Chair.active.is_(True), ChairReport.id.is_not(None)))
         .order_by(Chair.community, Chair.organisation, Chair.id))
    if community:
        q = q.where(Chair.community == community)
    end = deadline_end(ctx, quarter)
    no_report = ChairReport.id.is_(None)
    asked = Chair.created_at < end  # registered before the deadline
    if status == "on_time":
        q = q.where(ChairReport.on_time.is_(True))
    elif status == "late":
        q = q.where(ChairReport.id.is_not(None), ChairReport.on_time.is_(False))
    elif status == "missing":
        q = q.where(no_report, asked) if ctx.now >= end else q.where(false())
    elif status == "pending":
        q = q.where(no_report, ~asked) if ctx.now >= end else q.where(no_report)
    elif status == "unreachable":
        mine = and_(ChairReminder.chair_id == Chair.id, ChairReminder.quarter == quarter.label)
        bad_box = select(Outbox.id).where(Outbox.key == ChairReminder.outbox_key,
                                          Outbox.status.in_(("unreachable", "failed", "uncertain")))
        q = q.where(no_report, or_(Chair.openid.is_(None),
                                   exists().where(mine, ChairReminder.status == "unbound"),
                                   exists().where(mine, exists(bad_box))))
    return q


async def grid_counts(session: AsyncSession, ctx: OpsContext, quarter: Quarter, community: str = "") -> dict[str, int]:
    """How many units of the quarter are in each of STATUSES (the grid's tiles)."""
    out = {}
    for status in STATUSES:
        stmt = grid_query(ctx, quarter, community=community, status=status).order_by(None)
        out[status] = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return out


async def previous_missing(session: AsyncSession, ctx: OpsContext, quarter: Quarter, community: str = "") -> int:
    """Units still without a report for `quarter` although its deadline has passed."""
    stmt = grid_query(ctx, quarter, community=community, status="missing").order_by(None)
    return await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


async def grid_rows(session: AsyncSession, ctx: OpsContext, quarter: Quarter, chairs: list[Chair]) -> list[GridRow]:
    """The quarter's report, status and reminders (with their messages) of these chairs, in order."""
    ids = [c.id for c in chairs]
    if not ids:
        return []
    reports = {r.chair_id: r for r in (await session.scalars(
        select(ChairReport).where(ChairReport.quarter == quarter.label, ChairReport.chair_id.in_(ids)))).all()}
    rems: dict[int, list[ChairReminder]] = {}
    found = await session.scalars(select(ChairReminder).where(
        ChairReminder.quarter == quarter.label, ChairReminder.chair_id.in_(ids)).order_by(ChairReminder.due_at))
    for r in found.all():
        rems.setdefault(r.chair_id, []).append(r)
    keys = [r.outbox_key for rs in rems.values() for r in rs if r.outbox_key]
    boxes = {m.key: m for m in await outbox_api.messages(session, keys=keys)}
    listing = {s.name for s in ladder(ctx, quarter) if s.listing}
    rows = []
    for chair in chairs:
        report = reports.get(chair.id)
        mine = rems.get(chair.id, [])
        ob = {r.outbox_key: boxes[r.outbox_key] for r in mine if r.outbox_key in boxes}
        unreachable = any(r.status == "unbound" for r in mine) or any(o.status == "unreachable" for o in ob.values())
        failed = any(o.status in ("failed", "uncertain") for o in ob.values())
        listed = any(r.stage in listing for r in mine)
        rows.append(GridRow(chair, report, _status_of(ctx, quarter, chair, report), mine, ob, listed, unreachable,
                            failed))
    return rows


async def quarter_grid(session: AsyncSession, ctx: OpsContext, quarter: Quarter,
                       community: str | None = None, only_missing: bool = False) -> list[GridRow]:
    """Every chair (active, or with a report this quarter) with the quarter's report status and reminders.

    `only_missing`: the list for the 通报 — units past the deadline without a report
    (status `missing`: the deadline is a working day, see quarters.deadline_date), and units
    that reported only after they were put on the list. Before the deadline it is empty."""
    chairs = list((await session.scalars(grid_query(ctx, quarter, community=community or ""))).all())
    rows = await grid_rows(session, ctx, quarter, chairs)
    if only_missing:
        rows = [r for r in rows if r.status == "missing" or (r.report is not None and r.on_notice)]
    return rows


async def communities(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(Chair.community).distinct().order_by(Chair.community))).all())


@dataclass
class Totals:
    enterprises: int = 0
    unionised: int = 0
    wage_agreements: int = 0
    harmonious: int = 0
    reports: int = 0

    def add(self, r: ChairReport) -> None:
        for k in FIGURES:
            setattr(self, k, getattr(self, k) + (getattr(r, k) or 0))
        self.reports += 1

    def indicators(self) -> list[dict[str, Any]]:
        out = []
        for label, num, den, target in INDICATORS:
            n, d = getattr(self, num), getattr(self, den)
            rate = n / d if d else None
            out.append({"label": label, "num": n, "den": den, "den_value": d, "rate": rate, "target": target,
                        "met": rate is not None and rate >= target})
        return out


async def dashboard(session: AsyncSession, upto: Quarter, trend_quarters: int = 8,
                    community: str | None = None, names: list[str] | None = None) -> dict[str, Any]:
    """The three indicators from each active chair's latest report up to `upto`, per community
    and overall; the trend computes the same figure as it stood at the end of each quarter.
    With `community`, that community's chairs only (its "overall" is the community's).

    `communities` lists every community with active chairs, and every one of `names` (the
    configured communities), including those without any figures yet (`totals.reports` 0:
    the page says 无数据): (name, totals, units) with `units` its active chairs."""
    q = select(Chair).where(Chair.active.is_(True))
    if community is not None:
        q = q.where(Chair.community == community)
    chairs = {c.id: c for c in (await session.scalars(q)).all()}
    quarters = [upto]
    while len(quarters) < trend_quarters:
        quarters.insert(0, quarters[0].prev())
    rows = (await session.scalars(select(ChairReport).where(
        ChairReport.quarter <= upto.label, ChairReport.enterprises.is_not(None)
    ).order_by(ChairReport.quarter))).all()
    latest: dict[int, ChairReport] = {}
    trend = []
    pending = iter(rows)
    nxt = next(pending, None)
    for q in quarters:
        while nxt is not None and nxt.quarter <= q.label:
            if nxt.chair_id in chairs:
                latest[nxt.chair_id] = nxt
            nxt = next(pending, None)
        t = Totals()
        for r in latest.values():
            t.add(r)
        trend.append({"quarter": q, "totals": t, "indicators": t.indicators()})
    overall = Totals()
    per: dict[str, Totals] = {}
    units: dict[str, int] = {}
    for c in chairs.values():
        units[c.community] = units.get(c.community, 0) + 1
    for name in names or ():
        if community is None or name == community:
            units.setdefault(name, 0)
    for chair_id, r in latest.items():
        overall.add(r)
        per.setdefault(chairs[chair_id].community, Totals()).add(r)
    return {"overall": overall, "units": len(chairs), "trend": trend,
            "communities": [(name, per.get(name, Totals()), units[name]) for name in sorted(units)]}
