"""Sign-up operations: the business rules the bot, the admin pages and the jobs all call.

Seats are never oversold: every change to an activity's seats runs under a
lock on the activity row (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's one
connection serialises writers), the seat itself is claimed with one
conditional UPDATE (`taken < capacity`), and (activity, member) is unique.
A freed seat goes to the first waitlisted sign-up (lowest `seq`) in the same
transaction, so each freed seat promotes exactly one person, once.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.core.validators import mask_phone
from bot.db.models.core import Member
from bot.db.models.signup import Activity, Signup
from bot.feature import MemberFact
from bot.operations import DomainError, OpsContext

log = logging.getLogger(__name__)


# What the feature sends (declared in its manifest): outbox purposes with staff-facing labels,
# and `[wechat] templates` kinds.
CHANGED_PURPOSE, CANCELLED_PURPOSE = "signup.changed", "signup.cancelled"
PROMOTED_PURPOSE, REMINDER_PURPOSE = "signup.promoted", "signup.reminder"
ADDED_PURPOSE, CORRECTED_PURPOSE = "signup.added", "signup.corrected"
OUTBOX_PURPOSES = {CHANGED_PURPOSE: "活动变更", CANCELLED_PURPOSE: "活动取消", PROMOTED_PURPOSE: "候补递补",
                   REMINDER_PURPOSE: "活动提醒", ADDED_PURPOSE: "工作人员代报名", CORRECTED_PURPOSE: "签到更正"}
STATUS_TEMPLATE, REMINDER_TEMPLATE = "signup_status", "signup_reminder"
TEMPLATE_KINDS = (STATUS_TEMPLATE, REMINDER_TEMPLATE)

WEEKDAYS = "一二三四五六日"
ACTIVE = ("confirmed", "waitlist")
# How to check in, for every message sent ahead: the code itself is only announced on site
# (a code sent beforehand would let people check in from home).
CHECKIN_HOW = "到场后回复「签到」加现场公布的6位数字即可签到"
CHECKIN_SCENE = "checkin:"  # the scene of an activity's check-in QR code: checkin:<activity id>
# Sensible bounds of what staff type: a seat count, and the years an activity may fall in (a date
# like 0001-01-01 or 9999-12-31 is a slip of the keyboard, and would overflow the time arithmetic).
MAX_CAPACITY = 100_000
MIN_YEAR, MAX_YEAR = 2000, 2100


class SignupError(DomainError):
    """A refused sign-up operation: `str(exc)` is a complete Chinese sentence, shown as it is."""


# ----------------------------------------------------------------------------- formatting
def local(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.astimezone(tz)


def day_text(dt: datetime, tz: ZoneInfo, now: datetime | None = None, *, weekday: bool = True) -> str:
    """12月8日（周二）14:00 — with the year (2027年1月8日（周五）14:00) when it is not the year
    of `now` (the caller's instant; without `now` the year is always shown); `weekday=False`
    for the short form in tables (12月8日 14:00)."""
    d = local(dt, tz)
    year = "" if now is not None and local(now, tz).year == d.year else f"{d.year}年"
    return f"{year}{d.month}月{d.day}日" + (f"（周{WEEKDAYS[d.weekday()]}）" if weekday else " ") + f"{d:%H:%M}"


def span_text(start: datetime, end: datetime, tz: ZoneInfo, now: datetime | None = None) -> str:
    """From … to …: 11月26日（周四）13:00 至 16:30, the end's day only when it differs."""
    s, e = local(start, tz), local(end, tz)
    tail = f"{e:%H:%M}" if e.date() == s.date() else day_text(end, tz, now)
    return f"{day_text(start, tz, now)} 至 {tail}"


def when_text(act: Activity, tz: ZoneInfo, now: datetime | None = None) -> str:
    """11月26日（周三）14:00–16:00, with the end date when it differs, and the year when the
    activity is not in the year of `now` (the caller's instant; without it no year is shown)."""
    s, e = local(act.starts_at, tz), local(act.ends_at, tz)
    year = "" if now is None or local(now, tz).year == s.year else f"{s.year}年"
    head = f"{year}{s.month}月{s.day}日（周{WEEKDAYS[s.weekday()]}）{s:%H:%M}"
    if e.date() == s.date():
        return f"{head}–{e:%H:%M}"
    end_year = f"{e.year}年" if e.year != s.year else ""
    return f"{head}–{end_year}{e.month}月{e.day}日 {e:%H:%M}"


def seats_text(act: Activity) -> str:
    if act.capacity is None:
        return "名额不限"
    left = act.seats_left()
    if left:
        return f"剩余{left}个名额"
    return "名额已满，可候补" if act.waitlist else "名额已满"


# ----------------------------------------------------------------------------- activities
async def _new_code(session: AsyncSession) -> str:
    while True:
        code = f"{secrets.randbelow(900000) + 100000}"
        if await session.scalar(select(Activity.id).where(Activity.checkin_code == code)) is None:
            return code


def in_years(dt: datetime) -> bool:
    """Whether a date staff typed lies in the years an activity may have (MIN_YEAR–MAX_YEAR)."""
    return MIN_YEAR <= dt.year <= MAX_YEAR


def _check_fields(fields: dict[str, Any]) -> None:
    if not (fields.get("title") or "").strip():
        raise SignupError("请填写活动名称。")
    if not (fields.get("place") or "").strip():
        raise SignupError("请填写活动地点。")
    if fields.get("starts_at") is None or fields.get("ends_at") is None:
        raise SignupError("请填写活动的开始时间和结束时间。")
    if fields["ends_at"] <= fields["starts_at"]:
        raise SignupError("结束时间应晚于开始时间。")
    if fields.get("deadline") and fields["deadline"] > fields["starts_at"]:
        raise SignupError("报名截止时间不能晚于活动开始时间。")
    for name in ("starts_at", "ends_at", "deadline"):
        if fields.get(name) is not None and not in_years(fields[name]):
            raise SignupError(f"日期超出范围：请填写 {MIN_YEAR} 年到 {MAX_YEAR} 年之间的日期。")
    cap = fields.get("capacity")
    if cap is not None and cap < 1:
        raise SignupError("人数上限至少为 1（不限人数请留空）。")
    if cap is not None and cap > MAX_CAPACITY:
        raise SignupError(f"人数上限最多 {MAX_CAPACITY} 人（不限人数请留空）。")
    if fields.get("kind") not in ("training", "event"):
        raise SignupError("请选择类别：培训或活动。")


async def find_activity(session: AsyncSession, activity_id: int) -> Activity | None:
    return await session.get(Activity, activity_id)


async def get_activity(session: AsyncSession, activity_id: int) -> Activity:
    """The activity, or SignupError when there is none."""
    act = await session.get(Activity, activity_id)
    if act is None:
        raise SignupError("没有这个活动。")
    return act


async def activities_by_id(session: AsyncSession, ids: Iterable[int]) -> list[Activity]:
    """These activities read afresh (seats and deadlines move); a vanished one is absent."""
    ids = list(ids)
    if not ids:
        return []
    return list((await session.scalars(
        select(Activity).where(Activity.id.in_(ids)).execution_options(populate_existing=True)
    )).all())


async def create_activity(session: AsyncSession, ctx: OpsContext, **fields: Any) -> Activity:
    """Publish a new activity; `deadline` defaults to the start time."""
    _check_fields(fields)
    now = ctx.now
    fields["deadline"] = fields.get("deadline") or fields["starts_at"]
    act = Activity(**fields, checkin_code=await _new_code(session), status="open", taken=0, seq=0,
                   created_at=now, updated_at=now)
    session.add(act)
    await session.flush()
    return act


async def lock_activity(session: AsyncSession, activity_id: int) -> Activity | None:
    """The activity row, locked for this transaction (FOR UPDATE; a no-op on SQLite)."""
    return await session.scalar(
        select(Activity).where(Activity.id == activity_id).with_for_update()
        .execution_options(populate_existing=True)
    )


async def update_activity(session: AsyncSession, ctx: OpsContext, activity_id: int,
                          **fields: Any) -> tuple[Activity, int]:
    """Edit an activity; more seats promote the waitlist, fewer than taken is refused.

    A new time or place is told to everyone signed up or waitlisted; returns
    (activity, how many were told)."""
    now = ctx.now
    act = await lock_activity(session, activity_id)
    if act is None:
        raise SignupError("没有这个活动。")
    if act.status == "cancelled":
        raise SignupError("活动已取消，不能再修改。")
    _check_fields(fields)
    fields["deadline"] = fields.get("deadline") or fields["starts_at"]
    cap = fields.get("capacity")
    if cap is not None and cap < act.taken:
        raise SignupError(f"已有 {act.taken} 人报名成功，人数上限不能少于 {act.taken}。")
    before = (act.starts_at, act.ends_at, act.place)
    for k, v in fields.items():
        setattr(act, k, v)
    act.updated_at = now
    await session.flush()
    told = await _tell_changed(session, ctx, act, now) if (act.starts_at, act.ends_at, act.place) != before else 0
    while await _fill_seat(session, ctx, act, now):
        pass
    return act, told


async def _tell_changed(session: AsyncSession, ctx: OpsContext, act: Activity, now: datetime) -> int:
    """A new time or place: tell everyone signed up or waitlisted (one message per edit)."""
    rows = (await session.scalars(
        select(Signup).where(Signup.activity_id == act.id, Signup.status.in_(ACTIVE), Signup.openid != "")
        .order_by(Signup.seq)
    )).all()
    for s in rows:  # (people added by staff without WeChat are phoned: the page says so)
        key = f"signup:changed:{act.id}:{s.member_id}:{now:%Y%m%d%H%M%S%f}"
        how = f"{CHECKIN_HOW}。" if s.status == "confirmed" else ""
        text = (f"您报名的「{act.title}」时间或地点有变动，请留意：\n时间：{when_text(act, ctx.tz, now)}\n地点：{act.place}\n"
                f"{how}如不能参加，请回复「我的报名」取消，把名额留给其他职工。")
        await outbox.enqueue(session, key=key, openid=s.openid, now=now, text=text, purpose=CHANGED_PURPOSE,
                             template=_status_template(act, "时间或地点变动", "请按新的时间地点参加", ctx.tz, now))
        s.notice_key = key
    return len(rows)


async def cancel_activity(session: AsyncSession, ctx: OpsContext, activity_id: int, reason: str = "") -> int:
    """Cancel an activity and tell everyone signed up or waitlisted; returns how many were told."""
    now = ctx.now
    act = await lock_activity(session, activity_id)
    if act is None:
        raise SignupError("没有这个活动。")
    if act.status == "cancelled":
        return 0
    act.status, act.cancelled_at, act.updated_at, act.cancel_reason = "cancelled", now, now, reason[:200]
    rows = (await session.scalars(
        select(Signup).where(Signup.activity_id == act.id, Signup.status.in_(ACTIVE), Signup.openid != "")
        .order_by(Signup.seq)
    )).all()
    why = f"（原因：{reason}）" if reason else ""
    for s in rows:
        key = f"signup:cancelled:{act.id}:{s.member_id}"
        text = (f"很抱歉通知您：您报名的「{act.title}」（{when_text(act, ctx.tz, now)}）已取消{why}。"
                "给您带来不便，敬请谅解。更多活动请回复「报名」查看。")
        await outbox.enqueue(session, key=key, openid=s.openid, now=now, text=text, purpose=CANCELLED_PURPOSE,
                             template=_status_template(act, "活动已取消", reason or "活动取消", ctx.tz, now))
        s.notice_key = key
    return len(rows)


def _status_template(act: Activity, status: str, remark: str, tz: ZoneInfo,
                     now: datetime | None = None) -> dict[str, Any]:
    return {"kind": STATUS_TEMPLATE, "data": {
        "keyword1": act.title, "keyword2": when_text(act, tz, now), "keyword3": act.place, "keyword4": status,
        "remark": remark,
    }}


def refusal(act: Activity | None, now: datetime) -> str | None:
    """Why this activity cannot be signed up for at `now` (a code), or None. A pure rule on the
    instant given (the caller's `ctx.now`), so one operation judges with one instant."""
    if act is None:
        return "missing"
    if act.status == "cancelled":
        return "cancelled"
    if now >= act.deadline:
        return "deadline"
    if act.capacity is not None and act.taken >= act.capacity and not act.waitlist:
        return "full"
    return None


async def open_activities(session: AsyncSession, ctx: OpsContext) -> list[Activity]:
    """Activities one can still sign up for (or join the waitlist of), soonest first."""
    rows = (await session.scalars(
        select(Activity).where(Activity.status == "open", Activity.deadline > ctx.now)
        .order_by(Activity.starts_at, Activity.id)
    )).all()
    return list(rows)


# ----------------------------------------------------------------------------- the staff list
LIST_STATES = {"upcoming": "未结束", "past": "已结束", "cancelled": "已取消"}


def list_query(*, kind: str = "", state: str = "", now: datetime) -> Select:
    """The staff list of activities (newest start first), by kind and state (LIST_STATES)."""
    q = select(Activity).order_by(Activity.starts_at.desc(), Activity.id.desc())
    if kind:
        q = q.where(Activity.kind == kind)
    if state == "cancelled":
        q = q.where(Activity.status == "cancelled")
    elif state == "upcoming":
        q = q.where(Activity.status == "open", Activity.ends_at > now)
    elif state == "past":
        q = q.where(Activity.status == "open", Activity.ends_at <= now)
    return q


def list_search(q: str):  # noqa: ANN201
    """The staff search box: a word of the title or the place."""
    return or_(Activity.title.contains(q, autoescape=True), Activity.place.contains(q, autoescape=True))


def phase(act: Activity, now: datetime) -> tuple[str, str]:
    """Where an activity stands, for staff: (label, tone ok|wait|muted)."""
    if act.status == "cancelled":
        return ("已取消", "muted")
    if act.ends_at <= now:
        return ("已结束", "muted")
    if act.starts_at <= now:
        return ("进行中", "ok")
    if act.deadline <= now:
        return ("报名截止", "wait")
    return ("报名中", "ok")


@dataclass
class ListCounts:
    waiting: int = 0  # on the waitlist
    came: int = 0  # checked in


async def list_counts(session: AsyncSession, activity_ids: list[int]) -> dict[int, ListCounts]:
    """Waitlist and check-in counts of these activities (one query)."""
    out = {i: ListCounts() for i in activity_ids}
    if not activity_ids:
        return out
    rows = await session.execute(
        select(Signup.activity_id,
               func.count().filter(Signup.status == "waitlist"), func.count(Signup.attended_at))
        .where(Signup.activity_id.in_(activity_ids)).group_by(Signup.activity_id))
    for activity_id, waiting, came in rows.all():
        out[activity_id] = ListCounts(waiting, came)
    return out


async def member_statuses(session: AsyncSession, member_id: int, activity_ids: list[int]) -> dict[int, str]:
    """The member's live status (confirmed | waitlist) on each of these activities."""
    rows = (await session.execute(
        select(Signup.activity_id, Signup.status).where(
            Signup.member_id == member_id, Signup.activity_id.in_(activity_ids), Signup.status.in_(ACTIVE))
    )).all()
    return dict(rows)


# ----------------------------------------------------------------------------- signing up
@dataclass
class SignupResult:
    # confirmed | waitlist | already_confirmed | already_waitlist | refused
    outcome: str
    activity: Activity | None = None
    signup: Signup | None = None
    reason: str = ""  # refusal code (see `refusal`)
    position: int = 0  # waitlist position (1 = next)


async def waitlist_position(session: AsyncSession, s: Signup) -> int:
    ahead = await session.scalar(select(func.count()).select_from(Signup).where(
        Signup.activity_id == s.activity_id, Signup.status == "waitlist", Signup.seq < s.seq))
    return (ahead or 0) + 1


async def _next_seq(session: AsyncSession, activity_id: int) -> int:
    return (await session.execute(
        update(Activity).where(Activity.id == activity_id).values(seq=Activity.seq + 1)
        .returning(Activity.seq).execution_options(synchronize_session=False)
    )).scalar_one()


async def _claim_seat(session: AsyncSession, activity_id: int) -> bool:
    """One conditional UPDATE: take a seat only if one is free."""
    result = await session.execute(
        update(Activity).where(
            Activity.id == activity_id, Activity.status == "open",
            or_(Activity.capacity.is_(None), Activity.taken < Activity.capacity),
        ).values(taken=Activity.taken + 1).execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def sign_up(session: AsyncSession, ctx: OpsContext, activity_id: int, member: Member, *,
                  name: str, phone: str, employer: str = "") -> SignupResult:
    """Give `member` a seat on the activity, or a waitlist place, or the reason why not."""
    now = ctx.now
    act = await lock_activity(session, activity_id)
    why = refusal(act, now)
    existing = await session.scalar(
        select(Signup).where(Signup.activity_id == activity_id, Signup.member_id == member.id)
        .execution_options(populate_existing=True))
    if existing is not None and existing.status in ACTIVE:
        pos = await waitlist_position(session, existing) if existing.status == "waitlist" else 0
        return SignupResult(f"already_{existing.status}", act, existing, position=pos)
    if why is not None:
        return SignupResult("refused", act, reason=why)
    assert act is not None
    got_seat = await _claim_seat(session, act.id)
    if not got_seat and not act.waitlist:
        return SignupResult("refused", act, reason="full")
    seq = await _next_seq(session, act.id)
    status = "confirmed" if got_seat else "waitlist"
    if existing is None:
        existing = Signup(activity_id=act.id, member_id=member.id, openid=member.openid)
        session.add(existing)
    existing.created_at = now  # when this sign-up was made (a re-sign-up reuses the row)
    existing.name, existing.phone, existing.employer = name, phone, employer or ""
    existing.openid, existing.erase_requested_at = member.openid, None  # given again: a fresh sign-up
    existing.status, existing.seq, existing.updated_at = status, seq, now
    existing.confirmed_at = now if got_seat else None
    existing.cancelled_at, existing.attended_at, existing.checkin_via = None, None, None
    await session.flush()
    await session.refresh(act)
    pos = await waitlist_position(session, existing) if status == "waitlist" else 0
    return SignupResult(status, act, existing, position=pos)


async def _fill_seat(session: AsyncSession, ctx: OpsContext, act: Activity, now: datetime) -> Signup | None:
    """Give a free seat to the first waitlisted sign-up (caller holds the activity lock;
    `now` is the caller's instant)."""
    if act.status != "open" or now >= act.starts_at:
        return None
    if act.capacity is not None and act.taken >= act.capacity:
        return None
    while True:
        nxt = await session.scalar(
            select(Signup).where(Signup.activity_id == act.id, Signup.status == "waitlist")
            .order_by(Signup.seq).limit(1).execution_options(populate_existing=True))
        if nxt is None:
            return None
        moved = await session.execute(
            update(Signup).where(Signup.id == nxt.id, Signup.status == "waitlist")
            .values(status="confirmed", confirmed_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
        if moved.rowcount == 1:
            break
    act.taken += 1
    await session.flush()
    await session.refresh(nxt)
    if not nxt.openid:  # added by staff without WeChat: staff phone them (the sign-up list says so)
        return nxt
    key = f"signup:promoted:{act.id}:{nxt.member_id}:{nxt.seq}"
    text = (f"好消息！有人取消了报名，您已从候补转为正式报名「{act.title}」。\n"
            f"时间：{when_text(act, ctx.tz, now)}\n地点：{act.place}\n"
            f"{CHECKIN_HOW}。如不能参加，请回复「我的报名」取消，把名额留给其他职工。")
    await outbox.enqueue(session, key=key, openid=nxt.openid, now=now, text=text, purpose=PROMOTED_PURPOSE,
                         template=_status_template(act, "候补转正式报名", "请准时参加", ctx.tz, now))
    nxt.notice_key = key
    return nxt


@dataclass
class CancelResult:
    ok: bool
    reason: str = ""  # not_found | attended | started | already
    activity: Activity | None = None
    promoted: Signup | None = None
    was: str = ""


async def cancel_signup(session: AsyncSession, ctx: OpsContext, signup_id: int,
                        member_id: int | None = None) -> CancelResult:
    """Cancel one sign-up; a freed seat goes to the first waitlisted person, exactly once.

    The sign-up is read again after the activity lock is held: a waitlisted row
    promoted meanwhile must free its seat when cancelled.
    """
    now = ctx.now
    activity_id = await session.scalar(select(Signup.activity_id).where(Signup.id == signup_id))
    if activity_id is None:
        return CancelResult(False, "not_found")
    act = await lock_activity(session, activity_id)
    s = await session.get(Signup, signup_id, populate_existing=True)
    if act is None or s is None or (member_id is not None and s.member_id != member_id):
        return CancelResult(False, "not_found")
    if s.attended_at is not None:
        return CancelResult(False, "attended", act)
    if now >= act.starts_at and member_id is not None:
        return CancelResult(False, "started", act)
    was = s.status
    done = await session.execute(
        update(Signup).where(Signup.id == s.id, Signup.status.in_(ACTIVE))
        .values(status="cancelled", cancelled_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        return CancelResult(False, "already", act)
    await session.refresh(s)
    promoted = None
    if was == "confirmed":
        act.taken -= 1
        await session.flush()
        promoted = await _fill_seat(session, ctx, act, now)
    return CancelResult(True, "", act, promoted, was)


async def my_signups(session: AsyncSession, ctx: OpsContext, member_id: int) -> list[tuple[Signup, Activity]]:
    """The member's live sign-ups (not ended, not cancelled), numbered in this order."""
    rows = (await session.execute(
        select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
        .where(Signup.member_id == member_id, Signup.status.in_(ACTIVE), Activity.ends_at > ctx.now,
               Activity.status == "open")
        .order_by(Activity.starts_at, Signup.id)
    )).all()
    return [(s, a) for s, a in rows]


async def member_context(session: AsyncSession, openid: str) -> list[MemberFact]:
    """The worker's latest sign-ups, for staff answering them in the inbox."""
    rows = (await session.execute(
        select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
        .where(Signup.openid == openid, Signup.status.in_(ACTIVE))
        .order_by(Activity.starts_at.desc()).limit(3))).all()
    return [MemberFact("活动报名", f"{a.title} " + ("已签到" if s.attended_at else "候补中" if s.status == "waitlist"
                                                   else "已报名"), f"/admin/signup/{a.id}") for s, a in rows]


async def attended(session: AsyncSession, member_id: int, limit: int = 5) -> list[tuple[Signup, Activity]]:
    rows = (await session.execute(
        select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
        .where(Signup.member_id == member_id, Signup.attended_at.is_not(None))
        .order_by(Activity.starts_at.desc()).limit(limit)
    )).all()
    return [(s, a) for s, a in rows]


# ----------------------------------------------------------------------------- check-in
@dataclass
class CheckinResult:
    # ok | already | unknown_code | cancelled | early | late | not_signed | waitlist
    outcome: str
    activity: Activity | None = None
    signup: Signup | None = None
    opens_at: datetime | None = None


def checkin_window(ctx: OpsContext, act: Activity) -> tuple[datetime, datetime]:
    """When check-in opens and closes (`[signup] checkin_before_minutes` / `checkin_after_minutes`)."""
    cfg = ctx.settings.signup
    return (act.starts_at - timedelta(minutes=cfg.checkin_before_minutes),
            act.ends_at + timedelta(minutes=cfg.checkin_after_minutes))


async def find_by_code(session: AsyncSession, code: str) -> Activity | None:
    return await session.scalar(select(Activity).where(Activity.checkin_code == code.strip().upper()))


async def check_in(session: AsyncSession, ctx: OpsContext, act: Activity | None, member_id: int, *,
                   via: str) -> CheckinResult:
    """Mark the member's attendance within the activity's check-in window."""
    if act is None:
        return CheckinResult("unknown_code")
    if act.status == "cancelled":
        return CheckinResult("cancelled", act)
    now = ctx.now
    opens, closes = checkin_window(ctx, act)
    if now < opens:
        return CheckinResult("early", act, opens_at=opens)
    if now > closes:
        return CheckinResult("late", act)
    s = await session.scalar(select(Signup).where(Signup.activity_id == act.id, Signup.member_id == member_id)
                             .execution_options(populate_existing=True))
    if s is None or s.status == "cancelled":
        return CheckinResult("not_signed", act, s)
    if s.status == "waitlist":
        return CheckinResult("waitlist", act, s)
    if s.attended_at is not None:
        return CheckinResult("already", act, s)
    s.attended_at, s.checkin_via, s.updated_at = now, via, now
    await session.flush()
    return CheckinResult("ok", act, s)


async def get_signup(session: AsyncSession, activity_id: int, signup_id: int) -> Signup:
    """One sign-up of this activity, or SignupError when there is none."""
    s = await session.get(Signup, signup_id)
    if s is None or s.activity_id != activity_id:
        raise SignupError("没有这条报名。")
    return s


async def staff_check_in(session: AsyncSession, ctx: OpsContext, activity_id: int, signup_id: int) -> Signup:
    """Manual check-in by staff (no time window: staff know who came)."""
    s = await session.get(Signup, signup_id, populate_existing=True)
    if s is None or s.activity_id != activity_id:
        raise SignupError("没有这条报名。")
    act = await session.get(Activity, activity_id)
    if act is not None and act.status == "cancelled":
        raise SignupError("活动已取消，不能再签到。")
    who = s.name or "该职工"
    if s.status == "waitlist":
        raise SignupError(f"{who}还在候补中，只有报名成功的人员可以签到。")
    if s.status != "confirmed":
        raise SignupError(f"{who}的报名已取消，只有报名成功的人员可以签到。")
    if s.attended_at is None:
        now = ctx.now
        s.attended_at, s.checkin_via, s.updated_at = now, "staff", now
        await session.flush()
    return s


@dataclass
class BatchCheckin:
    """What a batch check-in did: the sign-ups checked in now, those already checked in, and
    the refusals (complete sentences naming the person)."""

    done: list[Signup] = field(default_factory=list)
    already: list[Signup] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


async def staff_check_in_many(session: AsyncSession, ctx: OpsContext, activity_id: int,
                              signup_ids: Iterable[int]) -> BatchCheckin:
    """Batch check-in by staff (the ticked rows of the sign-up list); each row is judged as
    `staff_check_in` judges it, one refusal doesn't stop the others."""
    out = BatchCheckin()
    for sid in dict.fromkeys(signup_ids):
        s = await session.get(Signup, sid, populate_existing=True)
        was_in = s is not None and s.activity_id == activity_id and s.attended_at is not None
        try:
            s = await staff_check_in(session, ctx, activity_id, sid)
        except SignupError as exc:
            out.failed.append(str(exc))
            continue
        (out.already if was_in else out.done).append(s)
    return out


@dataclass
class Correction:
    """A check-in undone (「更正」): the sign-up, when and how it had been checked in, and
    whether the worker — who had been told 签到成功 — was told of the correction."""

    signup: Signup
    was_at: datetime
    was_via: str
    told: bool


async def undo_check_in(session: AsyncSession, ctx: OpsContext, activity_id: int, signup_id: int) -> Correction:
    """「更正」 a mistaken check-in: the sign-up is back to 报名成功, not attended (so it leaves
    the 培训台账). A worker who checked in themselves (code or QR) was told 签到成功, so they
    are told of the correction, with the office's number."""
    now = ctx.now
    act = await lock_activity(session, activity_id)
    s = await session.get(Signup, signup_id, populate_existing=True)
    if act is None or s is None or s.activity_id != activity_id:
        raise SignupError("没有这条报名。")
    if s.attended_at is None:
        raise SignupError(f"{s.name or '该职工'}还没有签到，无需更正。")
    was_at, was_via = s.attended_at, s.checkin_via or ""
    told = False
    if was_via in ("code", "qr") and s.openid:
        key = f"signup:corrected:{act.id}:{s.id}:{now:%Y%m%d%H%M%S%f}"
        text = (f"您在「{act.title}」（{when_text(act, ctx.tz, now)}）的签到记录，工作人员已更正为「未签到」。"
                f"如有疑问，欢迎{ctx.settings.office.call_line()}。")
        await outbox.enqueue(session, key=key, openid=s.openid, now=now, text=text, purpose=CORRECTED_PURPOSE,
                             template=_status_template(act, "签到记录已更正为未签到", "如有疑问请致电工会", ctx.tz, now))
        s.notice_key, told = key, True
    s.attended_at, s.checkin_via, s.updated_at = None, None, now
    await session.flush()
    return Correction(s, was_at, was_via, told)


# ----------------------------------------------------------------------------- staff add people (代报名, 补录)
@dataclass
class FollowerMatch:
    """The WeChat follower a person staff add may be linked to, as staff see it before confirming."""

    member_id: int
    name: str  # the follower's name in their profile ("" when they gave none)
    phone_masked: str
    last_seen: datetime
    name_mismatch: bool  # the profile's name differs from the name staff typed


def _same_name(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


async def find_follower(session: AsyncSession, *, phone: str, name: str) -> tuple[FollowerMatch | None, str]:
    """代报名: the one follower who left this mobile number in the chat, to be offered to staff
    (nothing is linked here: staff confirm, as for hardship's 代办), and a note when none can
    be offered. A number left by several followers is never guessed."""
    if not phone:
        return None, ""
    rows = list(await session.scalars(select(Member).where(Member.phone == phone).limit(2)))
    if len(rows) > 1:
        return None, "这个手机号对应多位微信用户，无法确定是哪一位，本次不关联微信。"
    if not rows:
        return None, ""
    m = rows[0]
    profile = (m.name or "").strip()
    return FollowerMatch(member_id=m.id, name=profile, phone_masked=mask_phone(m.phone or ""), last_seen=m.last_seen,
                         name_mismatch=bool(profile) and not _same_name(profile, name)), ""


async def member_by_id(session: AsyncSession, member_id: int) -> Member | None:
    return await session.get(Member, member_id)


@dataclass
class StaffAdd:
    """A person staff added: the sign-up, its outcome (confirmed | waitlist | attended), the
    waitlist position, and whether the worker was told through WeChat."""

    signup: Signup
    outcome: str
    position: int = 0
    told: bool = False


async def _row_for(session: AsyncSession, activity_id: int, member: Member | None, phone: str) -> Signup | None:
    """The activity's row for this person: the linked follower's own, else a live one with this
    phone (the same person, e.g. already signed up in the chat), else a cancelled one of the same
    link (reused, as a re-sign-up is). A cancelled row of a follower staff did not confirm is not
    reused: it would send this sign-up's news to that WeChat."""
    if member is not None:
        row = await session.scalar(select(Signup).where(Signup.activity_id == activity_id,
                                                        Signup.member_id == member.id)
                                   .execution_options(populate_existing=True))
        if row is not None:
            return row
    rows = list(await session.scalars(
        select(Signup).where(Signup.activity_id == activity_id, Signup.phone == phone)
        .order_by(Signup.seq.desc()).execution_options(populate_existing=True)))
    live = [r for r in rows if r.status in ACTIVE]
    if live:
        return live[0]
    mine = member.id if member is not None else None
    return next((r for r in rows if r.member_id == mine), None)


def _fill_row(row: Signup, member: Member | None, *, name: str, phone: str, employer: str, now: datetime) -> None:
    row.member_id = member.id if member is not None else None
    row.openid = member.openid if member is not None else ""
    row.name, row.phone, row.employer = name[:64], phone[:20], (employer or "")[:128]
    row.created_at, row.updated_at, row.erase_requested_at = now, now, None
    row.cancelled_at, row.attended_at, row.checkin_via, row.notice_key = None, None, None, None


async def _locked_for_staff(session: AsyncSession, activity_id: int) -> Activity:
    act = await lock_activity(session, activity_id)
    if act is None:
        raise SignupError("没有这个活动。")
    if act.status == "cancelled":
        raise SignupError("活动已取消，不能再添加人员。")
    return act


async def staff_sign_up(session: AsyncSession, ctx: OpsContext, activity_id: int, *, name: str, phone: str,
                        employer: str = "", member: Member | None = None) -> StaffAdd:
    """代报名: staff sign a worker up by hand (e.g. one who phoned). The seat rules are the
    chat's: a free seat, else the waitlist when the activity keeps one, else refused. The
    sign-up deadline binds workers, not staff; an activity that has started takes 补录 instead.
    `member` is the follower staff confirmed is this worker (they are told in WeChat, and hear
    of changes like everyone else); without one the sign-up is unlinked and staff phone them."""
    now = ctx.now
    act = await _locked_for_staff(session, activity_id)
    if now >= act.starts_at:
        raise SignupError("活动已经开始，请用「补录到场」登记来参加的人员。")
    row = await _row_for(session, act.id, member, phone)
    if row is not None and row.status in ACTIVE:
        where = "报名成功" if row.status == "confirmed" else f"候补第{await waitlist_position(session, row)}位"
        raise SignupError(f"{row.name or '这位职工'}（{mask_phone(row.phone)}）已在报名名单中：{where}。")
    got_seat = await _claim_seat(session, act.id)
    if not got_seat and not act.waitlist:
        raise SignupError("名额已满，本活动不设候补。如需增加名额，请先「编辑」人数上限。")
    seq = await _next_seq(session, act.id)
    if row is None:
        row = Signup(activity_id=act.id)
        session.add(row)
    _fill_row(row, member, name=name, phone=phone, employer=employer, now=now)
    row.status, row.seq = ("confirmed" if got_seat else "waitlist"), seq
    row.confirmed_at = now if got_seat else None
    await session.flush()
    await session.refresh(act)
    pos = await waitlist_position(session, row) if row.status == "waitlist" else 0
    told = False
    if row.openid:
        key = f"signup:added:{act.id}:{row.member_id}:{seq}"
        if row.status == "confirmed":
            text = (f"工作人员已为您报名「{act.title}」。\n时间：{when_text(act, ctx.tz, now)}\n地点：{act.place}\n"
                    f"活动前一天会提醒您；{CHECKIN_HOW}。如不能参加，请回复「我的报名」取消，把名额留给其他职工。")
            template = _status_template(act, "已报名", "工作人员代为报名，请准时参加", ctx.tz, now)
        else:
            text = (f"工作人员已为您登记「{act.title}」的候补，目前排第{pos}位。"
                    "有人取消时会按顺序自动递补并通知您。回复「我的报名」可查看或取消。")
            template = _status_template(act, f"候补第{pos}位", "有名额时会通知您", ctx.tz, now)
        await outbox.enqueue(session, key=key, openid=row.openid, now=now, text=text, purpose=ADDED_PURPOSE,
                             template=template)
        row.notice_key, told = key, True
    return StaffAdd(row, row.status, pos, told)


async def record_attendance(session: AsyncSession, ctx: OpsContext, activity_id: int, *, name: str, phone: str,
                            employer: str = "", member: Member | None = None) -> StaffAdd:
    """补录到场: after the start (also long after, for the 培训台账), staff record someone who
    came. Someone on the list is checked in; anyone else is added as 报名成功 and checked in —
    a seat is taken even past the capacity, since they did come. Checked in `via="record"`
    at the moment of recording (the record shows 补录). Nobody is messaged."""
    now = ctx.now
    act = await _locked_for_staff(session, activity_id)
    if now < act.starts_at:
        raise SignupError("活动还没有开始，请用「代报名」。")
    row = await _row_for(session, act.id, member, phone)
    if row is not None and row.status == "confirmed" and row.attended_at is not None:
        raise SignupError(f"{row.name or '这位职工'}（{mask_phone(row.phone)}）已签到，无需重复登记。")
    if row is None or row.status != "confirmed":
        await session.execute(update(Activity).where(Activity.id == act.id).values(taken=Activity.taken + 1)
                              .execution_options(synchronize_session=False))
        seq = await _next_seq(session, act.id)
        if row is None or row.status == "cancelled":
            if row is None:
                row = Signup(activity_id=act.id)
                session.add(row)
            _fill_row(row, member, name=name, phone=phone, employer=employer, now=now)
        row.status, row.seq, row.confirmed_at = "confirmed", seq, now
    row.attended_at, row.checkin_via, row.updated_at = now, "record", now
    await session.flush()
    await session.refresh(act)
    return StaffAdd(row, "attended")


async def create_checkin_qr(session: AsyncSession, ctx: OpsContext, activity_id: int) -> Activity:
    """The activity's permanent check-in QR code, made through the WeChat API (`ctx.services["api"]`;
    None on an offline account) and kept on the activity. The API is called before the database
    is touched, so no transaction waits on the network."""
    api = ctx.services.get("api")
    if api is None:
        raise SignupError("当前为离线模式，无法生成二维码，请使用签到码。")
    try:
        result = await api.create_qrcode(f"{CHECKIN_SCENE}{activity_id}")
    except Exception as exc:  # noqa: BLE001 — any API failure is told to staff, not a 500
        log.warning("check-in QR for activity %s failed: %s", activity_id, exc)
        raise SignupError("生成二维码失败，请稍后再试；现场可先使用签到码。") from None
    act = await get_activity(session, activity_id)
    act.qr_ticket, act.qr_url = result.get("ticket"), result.get("url")
    await session.flush()
    return act


# ----------------------------------------------------------------------------- reminders
def reminder_due_at(ctx: OpsContext, act: Activity) -> datetime:
    """The day before the start, at `[signup] reminder_time`, local time."""
    day = ctx.local(act.starts_at).date() - timedelta(days=1)
    return datetime.combine(day, ctx.settings.signup.reminder_time, ctx.tz)


async def queue_reminders(session: AsyncSession, ctx: OpsContext) -> int:
    """Queue the day-before reminder for every confirmed sign-up that is due; idempotent, catches up.

    One per activity, worker and start day: moving an activity to another day
    reminds again; a time change on the same day is told by the change notice.
    """
    now, tz = ctx.now, ctx.tz
    acts = (await session.scalars(
        # a pre-filter only (the due time below decides): the day before can be 25 hours long
        # where clocks go back, so a reminder at 00:00 may be due up to 49 hours ahead of the start
        select(Activity).where(Activity.status == "open", Activity.starts_at > now,
                               Activity.starts_at <= now + timedelta(days=3))
    )).all()
    queued = 0
    for act in acts:
        due = reminder_due_at(ctx, act)
        if now < due:
            continue
        people = (await session.scalars(
            select(Signup).where(Signup.activity_id == act.id, Signup.status == "confirmed", Signup.openid != "",
                                 or_(Signup.confirmed_at.is_(None), Signup.confirmed_at <= due))
        )).all()
        for s in people:
            text = (f"温馨提醒：您报名的「{act.title}」明天举行。\n时间：{when_text(act, tz, now)}\n地点：{act.place}\n"
                    f"{CHECKIN_HOW}。如不能参加，请回复「我的报名」取消。")
            row = await outbox.enqueue(
                session, key=f"signup:remind:{act.id}:{s.member_id}:{local(act.starts_at, tz):%Y%m%d}",
                openid=s.openid, now=now, text=text,
                purpose=REMINDER_PURPOSE,
                template={"kind": REMINDER_TEMPLATE, "data": {
                    "keyword1": act.title, "keyword2": when_text(act, tz, now), "keyword3": act.place,
                    "remark": CHECKIN_HOW}})
            queued += row is not None
    return queued


# ----------------------------------------------------------------------------- 删除我的信息
@dataclass
class SignupErasure:
    """What 删除我的信息 did to one member's sign-ups."""

    erased: int = 0  # sign-ups whose name, phone and employer were removed now
    # Upcoming sign-ups kept until the activity is over (staff need the contact for changes
    # and the attendance list on the day), then removed by `erase_pending_signups`.
    kept: list[tuple[Signup, Activity]] = field(default_factory=list)


def _still_needed(s: Signup, act: Activity, now: datetime) -> bool:
    """A live sign-up for an activity that is still to come (or under way)."""
    return s.status in ACTIVE and act.status == "open" and act.ends_at > now


def _strip(s: Signup, now: datetime) -> None:
    """Remove everything that names or reaches the person; the row stays for the figures."""
    s.name = s.phone = s.employer = s.openid = ""
    s.member_id = None
    s.notice_key = None
    s.erase_requested_at = s.erase_requested_at or now
    s.updated_at = now


async def erase_member_signups(session: AsyncSession, ctx: OpsContext, member_id: int) -> SignupErasure:
    """删除我的信息 for sign-ups: past and cancelled ones lose the personal data at once;
    upcoming ones are flagged and keep it until the activity is over."""
    now = ctx.now
    rows = (await session.execute(
        select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
        .where(Signup.member_id == member_id).order_by(Activity.starts_at, Signup.id)
        .execution_options(populate_existing=True)
    )).all()
    out = SignupErasure()
    for s, act in rows:
        if _still_needed(s, act, now):
            s.erase_requested_at = s.erase_requested_at or now
            out.kept.append((s, act))
        else:
            _strip(s, now)
            out.erased += 1
    await session.flush()
    return out


async def erase_pending_signups(session: AsyncSession, ctx: OpsContext) -> int:
    """Remove the personal data of flagged sign-ups no longer needed (activity over or
    cancelled, sign-up cancelled). Idempotent; returns how many rows were emptied."""
    now = ctx.now
    rows = (await session.execute(
        select(Signup, Activity).join(Activity, Activity.id == Signup.activity_id)
        .where(Signup.erase_requested_at.is_not(None), Signup.member_id.is_not(None))
    )).all()
    done = 0
    for s, act in rows:
        if not _still_needed(s, act, now):
            _strip(s, now)
            done += 1
    await session.flush()
    return done
