"""What staff see of the chairs feature: the quarter grid and the street's three
indicators (latest figures per chair, per community and overall, and the trend)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.chairs import Chair, ChairReminder, ChairReport
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


async def quarter_grid(session: AsyncSession, ctx: OpsContext, quarter: Quarter,
                       community: str | None = None, only_missing: bool = False) -> list[GridRow]:
    """Every chair (active, or with a report this quarter) with the quarter's report status and reminders.

    `only_missing`: the list for the 通报 — units without a report, and units
    that reported only after they were put on the list."""
    q = select(Chair).order_by(Chair.community, Chair.organisation, Chair.id)
    if community:
        q = q.where(Chair.community == community)
    chairs = list((await session.scalars(q)).all())
    reports = {r.chair_id: r for r in (await session.scalars(
        select(ChairReport).where(ChairReport.quarter == quarter.label))).all()}
    rems: dict[int, list[ChairReminder]] = {}
    for r in (await session.scalars(select(ChairReminder).where(ChairReminder.quarter == quarter.label)
                                    .order_by(ChairReminder.due_at))).all():
        rems.setdefault(r.chair_id, []).append(r)
    keys = [r.outbox_key for rs in rems.values() for r in rs if r.outbox_key]
    boxes = {m.key: m for m in await outbox_api.messages(session, keys=keys)}
    past = ctx.now >= deadline_end(ctx, quarter)
    listing = {s.name for s in ladder(ctx, quarter) if s.listing}
    rows = []
    for chair in chairs:
        report = reports.get(chair.id)
        if not chair.active and report is None:
            continue
        if report is not None:
            status = "on_time" if report.on_time else "late"
        else:
            status = "missing" if past else "pending"
        mine = rems.get(chair.id, [])
        ob = {r.outbox_key: boxes[r.outbox_key] for r in mine if r.outbox_key in boxes}
        unreachable = any(r.status == "unbound" for r in mine) or any(o.status == "unreachable" for o in ob.values())
        failed = any(o.status in ("failed", "uncertain") for o in ob.values())
        listed = any(r.stage in listing for r in mine)
        row = GridRow(chair, report, status, mine, ob, listed, unreachable, failed)
        if only_missing and report is not None and not row.on_notice:
            continue
        rows.append(row)
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
                    community: str | None = None) -> dict[str, Any]:
    """The three indicators from each active chair's latest report up to `upto`, per community
    and overall; the trend computes the same figure as it stood at the end of each quarter.
    With `community`, that community's chairs only (its "overall" is the community's)."""
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
    for chair_id, r in latest.items():
        overall.add(r)
        per.setdefault(chairs[chair_id].community, Totals()).add(r)
    return {"overall": overall, "communities": sorted(per.items()), "trend": trend}
