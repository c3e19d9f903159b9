"""Staff views of sign-ups: counts, the sign-up list with delivery state, and the
training record (培训台账). Read-only; the rules that change data are in `signup_ops`."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
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


async def signup_rows(session: AsyncSession, activity_id: int, status: str = "",
                      search: str = "") -> list[dict[str, Any]]:
    """The sign-up list with the delivery state of the last message about each row; `search`:
    a piece of the name, or digits of the phone (e.g. its last four)."""
    q = select(Signup).where(Signup.activity_id == activity_id).order_by(Signup.seq)
    if status == "attended":
        q = q.where(Signup.status == "confirmed", Signup.attended_at.is_not(None))
    elif status == "confirmed":  # 报名成功, not yet checked in: who is still to come
        q = q.where(Signup.status == "confirmed", Signup.attended_at.is_(None))
    elif status:
        q = q.where(Signup.status == status)
    if search:
        q = q.where(or_(Signup.name.contains(search, autoescape=True),
                        Signup.phone.contains(search, autoescape=True) if search.isdecimal() else False))
    signups = list(await session.scalars(q))
    # Waitlist positions count the whole waitlist, whatever the filter shows.
    place = {seq: i for i, seq in enumerate(await session.scalars(
        select(Signup.seq).where(Signup.activity_id == activity_id, Signup.status == "waitlist")
        .order_by(Signup.seq)), 1)}
    notices = await outbox.statuses(session, [s.notice_key for s in signups])
    rows = [(s, notices.get(s.notice_key or "")) for s in signups]
    out = []
    for s, notice_status in rows:
        out.append({"signup": s, "status": row_status(s), "notice": notice_status,
                    "position": place.get(s.seq) if s.status == "waitlist" else None,
                    "unlinked": not s.openid and s.member_id is None and s.erase_requested_at is None})
    return out


async def unlinked_count(session: AsyncSession, activity_id: int) -> int:
    """Live sign-ups staff added without WeChat: they hear of changes only by phone."""
    return await session.scalar(select(func.count()).select_from(Signup).where(
        Signup.activity_id == activity_id, Signup.status.in_(("confirmed", "waitlist")), Signup.openid == "",
        Signup.member_id.is_(None), Signup.erase_requested_at.is_(None))) or 0


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
    # People staff added without WeChat (代报名, 补录) are one person per phone number — the same
    # person as a follower who signed up with that number in the chat.
    by_phone = {s.phone: s.member_id for s, _ in rows if s.member_id is not None and s.phone}
    for s, a in rows:
        # A sign-up whose worker asked for deletion has no member any more: one anonymous line each.
        erased = s.member_id is None and s.erase_requested_at is not None
        who: int | str
        if erased:
            who = f"erased:{s.id}"
        elif s.member_id is not None:
            who = s.member_id
        else:
            who = by_phone.get(s.phone) or (f"phone:{s.phone}" if s.phone else f"name:{s.name}|{s.employer}")
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
