"""Staff views of sign-ups: counts, the sign-up list with delivery state, and the
training record (培训台账). Read-only; the rules that change data are in `signup_ops`."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.db.models.signup import Activity, Signup
from bot.operations import OpsContext

ERASED = "（本人已删除个人信息）"

async def counts(session: AsyncSession, activity_id: int) -> dict[str, int]:
    rows = (await session.execute(
        select(Signup.status, func.count(), func.count(Signup.attended_at))
        .where(Signup.activity_id == activity_id).group_by(Signup.status)
    )).all()
    out = {"confirmed": 0, "waitlist": 0, "cancelled": 0, "attended": 0}
    for status, n, att in rows:
        out[status] = n
        if status == "confirmed":
            out["attended"] = att
    return out


def row_status(s: Signup) -> str:
    """signed up / waitlisted / cancelled / attended, as one word."""
    return "attended" if s.status == "confirmed" and s.attended_at else s.status


async def signup_rows(session: AsyncSession, activity_id: int, status: str = "") -> list[dict[str, Any]]:
    """The sign-up list with the delivery state of the last message about each row."""
    q = select(Signup).where(Signup.activity_id == activity_id).order_by(Signup.seq)
    if status == "attended":
        q = q.where(Signup.status == "confirmed", Signup.attended_at.is_not(None))
    elif status:
        q = q.where(Signup.status == status)
    signups = list(await session.scalars(q))
    notices = await outbox.statuses(session, [s.notice_key for s in signups])
    rows = [(s, notices.get(s.notice_key or "")) for s in signups]
    out = []
    pos = 0
    for s, notice_status in rows:
        if s.status == "waitlist":
            pos += 1
        out.append({"signup": s, "status": row_status(s), "notice": notice_status,
                    "position": pos if s.status == "waitlist" else None})
    return out


async def training_record(session: AsyncSession, ctx: OpsContext, start: date, end: date,
                          kind: str = "training", community: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """培训台账: attended trainings per worker and per employer, for activities starting in
    [start, end] (local days, `ctx.tz`); with `community`, only that community's own trainings."""
    tz = ctx.tz
    lo = datetime.combine(start, datetime.min.time(), tz)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), tz)
    rows = (await session.execute(
        select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
        .where(Activity.kind == kind, Activity.status == "open", Activity.starts_at >= lo, Activity.starts_at < hi,
               Signup.status == "confirmed", Signup.attended_at.is_not(None),
               *([Activity.community == community] if community is not None else []))
        .order_by(Activity.starts_at)
    )).all()
    workers: dict[int | str, dict[str, Any]] = {}
    employers: dict[str, dict[str, Any]] = {}
    for s, a in rows:
        # A sign-up whose worker asked for deletion has no member any more: one anonymous line each.
        erased = s.member_id is None
        who: int | str = f"erased:{s.id}" if erased else s.member_id
        employer = ERASED if erased else (s.employer or "未填写")
        w = workers.setdefault(who, {"name": ERASED if erased else s.name, "phone": s.phone, "employer": employer,
                                     "count": 0, "titles": []})
        w["count"] += 1
        w["titles"].append(a.title)
        e = employers.setdefault(employer, {"employer": employer, "people": set(), "count": 0})
        e["count"] += 1
        e["people"].add(who)
    emp = [{"employer": e["employer"], "people": len(e["people"]), "count": e["count"]} for e in employers.values()]
    return {
        "workers": sorted(workers.values(), key=lambda w: (-w["count"], w["employer"], w["name"])),
        "employers": sorted(emp, key=lambda e: (-e["count"], e["employer"])),
    }
