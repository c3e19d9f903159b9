"""Operations of the hardship feature: every change to a request goes through here.

The bot dialogue, the admin pages, jobs and tests all call these functions, by the
convention of `bot.operations`: `async def verb_object(session, ctx: OpsContext, ...)`,
the caller owning the transaction and `ctx` carrying the clock (configured timezone),
the settings, the services (`crypto`, `api_available`, `media_dir`) and the acting staff
member. They write the request, its timeline and any outbox message together, and raise
`HardshipError` (a `DomainError`: one complete sentence, shown as it is) when a rule refuses.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from bot import outbox
from bot.config import OfficeSettings
from bot.core.validators import mask_id, mask_phone
from bot.db.engine import dialect_insert
from bot.db.models.core import AuditLog, Member, Sequence as Counter, Staff
from bot.db.models.hardship import HardshipEvent, HardshipPhoto, HardshipRequest
from bot.feature import MemberFact
from bot.operations import DomainError, OpsContext

# Only the staff list's date filter (`filtered`) and its export (export.py) still read this:
# both belong to the declarative list, which does not hand its functions the configured
# timezone yet. Everything else uses `ctx.tz` / `ctx.local()` ([app] timezone).

KINDS = ("因病", "因灾", "子女就学", "失业待岗", "工伤", "其他")
TIERS = ("深度困难", "相对困难")

# Internal status names → what staff read.
STATUS_LABELS = {
    "submitted": "已提交", "reviewing": "审核中", "waiting": "待补充材料", "approved": "已通过",
    "rejected": "未通过", "delivered": "已发放", "closed": "已结束",
}
# What the worker reads (kept apart from the internal names on purpose).
WORKER_STATUS = {
    "submitted": "已收到，等待审核", "reviewing": "正在审核", "waiting": "需要您补充材料",
    "approved": "审核通过，帮扶待发放", "rejected": "未通过", "delivered": "帮扶已发放",
    "closed": "已办结",
}
OPEN_STATUSES = ("submitted", "reviewing", "waiting", "approved")
# Final states: nothing more is done for the worker (closing a rejected or delivered request
# is staff's bookkeeping). Retention and a pending 删除我的信息 count from any of them.
FINISHED_STATUSES = ("rejected", "delivered", "closed")

# One operation per transition: action → (allowed from, to).
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "start_review": (frozenset({"submitted", "waiting"}), "reviewing"),
    "request_more": (frozenset({"reviewing"}), "waiting"),
    "supplement": (frozenset({"waiting"}), "reviewing"),
    "approve": (frozenset({"reviewing"}), "approved"),
    "reject": (frozenset({"reviewing"}), "rejected"),
    "deliver": (frozenset({"approved"}), "delivered"),
    "close": (frozenset({"delivered", "rejected"}), "closed"),
}
# The decisions staff take (the worker's own transition is "supplement").
STAFF_ACTIONS = ("start_review", "request_more", "approve", "reject", "deliver", "close")
ACTION_LABELS = {
    "submit": "提交申请", "submit_for": "代办录入", "start_review": "开始审核", "request_more": "请职工补充材料",
    "supplement": "职工补充材料", "approve": "审核通过", "reject": "不予通过", "deliver": "登记发放",
    "close": "结束", "note": "内部备注", "assign": "分配经办人", "erase_request": "职工申请删除个人信息",
    "anonymise": "个人信息已匿名化", "material": "职工补充新材料", "community": "更改所属社区",
    "correct": "更正", "photos": "上传证明材料",
}
NOTIFY_PURPOSE = "hardship.status"
TEMPLATE_KIND = "hardship_status"

# What one delivery may record: a sensible ceiling for a union's one-off aid (a typo such as an
# extra zero beyond it is refused, never stored or sent to the worker as 「inf 元」).
MAX_AID_AMOUNT = 100_000
MAX_NOTE = 2000  # characters of an internal note
MAX_MESSAGE = 500  # characters of a message to the worker (reason, what to add, a remark)
REVEAL_FOR = timedelta(minutes=30)  # a revealed phone or ID number shows this long on the page
REVEAL_ACTIONS = {"phone": "hardship.reveal_phone", "id": "hardship.reveal_id"}

# Photos staff upload with a 代办 request: what they may be.
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 9
PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}

# 更正: putting right a decision taken by mistake. kind → (from statuses, label staff read).
# The status it goes to: `_correction_target`.
CORRECTIONS: dict[str, tuple[frozenset[str], str]] = {
    "reopen": (frozenset({"approved", "rejected"}), "撤回决定，改回「审核中」"),
    "undo_delivery": (frozenset({"delivered"}), "撤回「登记发放」（实际还没有发放），改回「已通过」"),
    "fix_delivery": (frozenset({"delivered"}), "更正发放信息（金额、内容或日期）"),
    "reopen_closed": (frozenset({"closed"}), "撤回「结束」"),
}


class HardshipError(DomainError):
    """A rule refused the change; the message (one complete sentence) is shown as it is."""


# --- self-check -----------------------------------------------------------------------

@dataclass(frozen=True)
class SelfCheck:
    per_capita: float
    dibao: float | None
    tier: str  # 深度困难 | 相对困难 | ""

    def text(self) -> str:
        """What the worker reads: a hint about the help they may qualify for, never a label on them."""
        head = f"家庭人均月收入（扣除因困难产生的固定支出后）约 {self.per_capita:.0f} 元"
        if self.dibao is None:
            return f"{head}。能否获得帮扶，由工作人员审核后告诉您。"
        if self.tier:
            hint = f"按这个测算，可能符合{self.tier}帮扶条件。这只是参考，以工作人员审核为准。"
        else:
            hint = "按这个测算，人均收入高于低保标准的2倍；这只是参考，工作人员审核时会结合您的具体困难综合考虑。"
        return f"{head}，本地低保标准 {self.dibao:.0f} 元/人·月。{hint}"


def dibao_for(dibao: Mapping[str, float], year: int) -> float | None:
    """The 低保 standard of `year`, or of the latest earlier year configured."""
    years = sorted(int(y) for y in dibao if str(y).isdecimal() and int(y) <= year)
    return float(dibao[str(years[-1])]) if years else None


def self_check(income: float, expenses: float, household: int, dibao: float | None) -> SelfCheck:
    per_capita = round(max(income - expenses, 0.0) / max(household, 1), 2)
    tier = ""
    if dibao:
        if per_capita <= dibao:
            tier = TIERS[0]
        elif per_capita <= 2 * dibao:
            tier = TIERS[1]
    return SelfCheck(per_capita, dibao, tier)


# --- reference numbers ----------------------------------------------------------------

async def next_reference(session: AsyncSession, year: int) -> str:
    """BF-YYYY-NNNN from a per-year counter; one atomic UPDATE ... RETURNING per number."""
    name = f"hardship:{year}"
    stmt = update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
    value = (await session.execute(stmt)).scalar()
    if value is None:
        insert = dialect_insert(session.get_bind().dialect.name)
        await session.execute(insert(Counter).values(name=name, value=0).on_conflict_do_nothing())
        value = (await session.execute(stmt)).scalar()
    return f"BF-{year}-{int(value):04d}"


# --- reading --------------------------------------------------------------------------

async def get_request(session: AsyncSession, request_id: int, *, lock: bool = False) -> HardshipRequest:
    stmt = select(HardshipRequest).where(HardshipRequest.id == request_id)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise HardshipError("没有找到这条申请。")
    return row


def correction_label(kind: str, status: str) -> str:
    """What staff read for a 更正 of a request in `status` (e.g. 撤回「审核通过」，改回「审核中」)."""
    if kind == "reopen" and status in ("approved", "rejected"):
        return f"撤回「{ACTION_LABELS['approve' if status == 'approved' else 'reject']}」，改回「审核中」"
    return CORRECTIONS[kind][1]


def corrections(req: HardshipRequest) -> tuple[str, ...]:
    """The 更正 staff can make on this request now (see `correct`)."""
    if req.anonymised_at is not None:
        return ()
    return tuple(k for k, (allowed, _) in CORRECTIONS.items() if req.status in allowed)


async def recent_reveals(session: AsyncSession, ctx: OpsContext, ref: str) -> set[str]:
    """What this staff member revealed on request `ref` in the last REVEAL_FOR ("phone", "id"):
    the page shows it for that long after the audited click, so a refresh is no new reveal."""
    if ctx.staff_id is None:
        return set()
    rows = await session.scalars(select(AuditLog.action).where(
        AuditLog.staff_id == ctx.staff_id, AuditLog.target == ref, AuditLog.refused.is_(False),
        AuditLog.action.in_(list(REVEAL_ACTIONS.values())), AuditLog.at > ctx.now - REVEAL_FOR))
    found = set(rows)
    return {field for field, action in REVEAL_ACTIONS.items() if action in found}


def next_actions(req: HardshipRequest) -> tuple[str, ...]:
    """The decisions staff can take on this request now (by the rules `_transition` checks)."""
    return tuple(a for a in STAFF_ACTIONS
                 if req.status in TRANSITIONS[a][0] and (req.anonymised_at is None or a == "close"))


@dataclass
class RequestDetail:
    """What the staff's detail page shows beside the request itself."""

    req: HardshipRequest
    actions: tuple[str, ...]  # the decisions staff can take now (`next_actions`)
    staff: list[Staff]  # every staff member by id: names on the timeline, active ones to assign
    notices: list[outbox.Message]  # the notices sent to the worker about this request, oldest first
    unreachable: bool  # the latest notice could not be delivered: phone the worker
    check: SelfCheck


async def request_detail(session: AsyncSession, request_id: int) -> RequestDetail:
    """The request with its staff names, notices and whether the worker must be phoned."""
    req = await get_request(session, request_id)
    staff = list(await session.scalars(select(Staff).order_by(Staff.id)))
    notices = await outbox.messages(session, prefix=f"hardship:{req.ref}:")
    last = next((o for o in notices if o.key == req.last_notice_key), None)
    return RequestDetail(req, next_actions(req), staff, notices, last is not None and last.needs_phone,
                         SelfCheck(req.per_capita, req.dibao, req.tier))


async def get_photo(session: AsyncSession, photo_id: int) -> HardshipPhoto | None:
    """An evidence photo row (its file is served only once fetched)."""
    return await session.get(HardshipPhoto, photo_id)


async def open_request(session: AsyncSession, openid: str) -> HardshipRequest | None:
    return await session.scalar(
        select(HardshipRequest).where(HardshipRequest.openid == openid, HardshipRequest.status.in_(OPEN_STATUSES))
        .order_by(HardshipRequest.id.desc()).limit(1))


async def worker_requests(session: AsyncSession, openid: str, limit: int = 10) -> list[HardshipRequest]:
    return list(await session.scalars(
        select(HardshipRequest).where(HardshipRequest.openid == openid)
        .order_by(HardshipRequest.id.desc()).limit(limit)))


async def member_context(session: AsyncSession, openid: str) -> list[MemberFact]:
    """The worker's latest requests, for staff answering them in the inbox."""
    return [MemberFact("困难帮扶", f"{r.ref} {STATUS_LABELS.get(r.status, r.status)}", f"/admin/hardship/{r.id}")
            for r in await worker_requests(session, openid, limit=3)]


async def notice_statuses(session: AsyncSession, keys: Sequence[str]) -> dict[str, str]:
    """Outbox status by key (to show 'unreachable' so staff phone instead)."""
    return await outbox.statuses(session, keys)


@dataclass
class Filters:
    status: str = ""
    kind: str = ""
    tier: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    erase: bool = False  # only requests whose worker asked for deletion (not yet anonymised)
    community: str = ""  # a community's requests; "none": those without one
    assignee: int | None = None  # requests assigned to this staff member
    open_only: bool = False  # not finished yet (我的待办)
    unassigned: bool = False  # assigned to nobody
    tz: ZoneInfo | None = None  # the service's timezone: dates are local days

    def midnight(self, d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=self.tz)


def filtered(f: Filters) -> Select:
    """Requests matching the staff's filters, newest first."""
    stmt = select(HardshipRequest)
    if f.status:
        stmt = stmt.where(HardshipRequest.status == f.status)
    if f.kind:
        stmt = stmt.where(HardshipRequest.kind == f.kind)
    if f.tier == "none":
        stmt = stmt.where(HardshipRequest.tier == "")
    elif f.tier:
        stmt = stmt.where(HardshipRequest.tier == f.tier)
    if f.date_from:
        stmt = stmt.where(HardshipRequest.created_at >= f.midnight(f.date_from))
    if f.date_to:
        stmt = stmt.where(HardshipRequest.created_at < f.midnight(f.date_to + timedelta(days=1)))
    if f.erase:
        stmt = stmt.where(HardshipRequest.erase_requested_at.is_not(None), HardshipRequest.anonymised_at.is_(None))
    if f.community == "none":
        stmt = stmt.where(HardshipRequest.community.is_(None))
    elif f.community:
        stmt = stmt.where(HardshipRequest.community == f.community)
    if f.assignee is not None:
        stmt = stmt.where(HardshipRequest.assigned_staff_id == f.assignee)
    if f.unassigned:
        stmt = stmt.where(HardshipRequest.assigned_staff_id.is_(None))
    if f.open_only:
        stmt = stmt.where(HardshipRequest.status.in_(OPEN_STATUSES))
    q = f.q.strip()
    if q:
        stmt = stmt.where(_matches(q))
    # Newest first by id (ids grow with time): every single-column index ends in the row id,
    # so a filtered page is read straight off the index instead of sorting all matches.
    return stmt.order_by(HardshipRequest.id.desc())


def _matches(q: str):  # noqa: ANN202
    """The search box: a reference (prefix, indexed), a phone number or reference digits, or a name."""
    upper = q.upper()
    if upper.startswith("BF"):
        return and_(HardshipRequest.ref >= upper, HardshipRequest.ref < upper + "\uffff")
    if q.isdecimal():
        return or_(HardshipRequest.phone.contains(q, autoescape=True),
                   HardshipRequest.ref.endswith(q, autoescape=True))
    return HardshipRequest.name.contains(q, autoescape=True)


# The list's 经办 filter: value → what staff read.
MINE_CHOICES = (("me", "我的待办（分配给我、未办结）"), ("me_all", "分配给我的（全部）"), ("none", "未分配经办人"))


def list_query(tz: ZoneInfo, *, status: str = "", kind: str = "", tier: str = "", date_from: date | None = None,
               date_to: date | None = None, erase: bool = False, community: str = "", mine: str = "",
               staff_id: int | None = None) -> Select:
    """The staff list's query (filters only; the search box adds `search_clause`), newest first.

    `mine` (MINE_CHOICES) keeps the requests assigned to `staff_id` ("me": still open, "me_all")
    or to nobody ("none"). The timeline and photos are not loaded: a list row shows neither.
    (A community account's scope is added by the admin list itself.)"""
    assignee = staff_id if mine in ("me", "me_all") else None
    if mine in ("me", "me_all") and staff_id is None:
        assignee = -1  # nobody is logged in: nothing is "mine"
    return filtered(Filters(status=status, kind=kind, tier=tier, date_from=date_from, date_to=date_to,
                            erase=erase, community=community, tz=tz, assignee=assignee, open_only=mine == "me",
                            unassigned=mine == "none")).options(raiseload(HardshipRequest.photos), raiseload(HardshipRequest.events))


def search_clause(q: str):  # noqa: ANN201
    """The staff search box: a reference (prefix), a phone number or reference digits, or a name."""
    return _matches(q.strip())


@dataclass
class ListRow:
    """One line of the staff list: the request and what the list shows beside it."""

    req: HardshipRequest
    unreachable: bool  # the latest notice could not be delivered: phone the worker
    id_masked: str  # 110***********002X, or ""


async def list_rows(session: AsyncSession, ctx: OpsContext, reqs: Sequence[HardshipRequest]) -> list[ListRow]:
    """The list's lines for one page of requests. The ID number shows as the mask stored at
    submission: a list never decrypts (requests from before the mask was kept show 已加密)."""
    notices = await notice_statuses(session, [r.last_notice_key or "" for r in reqs])
    return [ListRow(r, notices.get(r.last_notice_key or "") in outbox.NEEDS_PHONE,
                    r.id_number_masked or ("已加密" if r.id_number_enc else ""))
            for r in reqs]


def _in_community(stmt: Select, community: str | None) -> Select:
    return stmt if community is None else stmt.where(HardshipRequest.community == community)


async def status_counts(session: AsyncSession, community: str | None = None) -> dict[str, int]:
    """How many requests are in each status (of one community's requests, when given)."""
    rows = await session.execute(_in_community(
        select(HardshipRequest.status, func.count()).group_by(HardshipRequest.status), community))
    return {status: n for status, n in rows.all()}


async def my_open_count(session: AsyncSession, staff_id: int, community: str | None = None) -> int:
    """Open requests assigned to this staff member (我的待办; of one community's, when given)."""
    return await session.scalar(_in_community(select(func.count()).select_from(HardshipRequest).where(
        HardshipRequest.assigned_staff_id == staff_id, HardshipRequest.status.in_(OPEN_STATUSES)), community)) or 0


async def erase_requested_count(session: AsyncSession, community: str | None = None) -> int:
    """Requests whose worker asked for deletion while they were open (still holding data)."""
    return await session.scalar(_in_community(select(func.count()).select_from(HardshipRequest).where(
        HardshipRequest.erase_requested_at.is_not(None), HardshipRequest.anonymised_at.is_(None)), community)) or 0


async def communities_in_use(session: AsyncSession) -> list[str]:
    """The communities requests belong to (the list's filter)."""
    return list(await session.scalars(select(HardshipRequest.community).where(
        HardshipRequest.community.is_not(None)).distinct().order_by(HardshipRequest.community)))


# --- creating -------------------------------------------------------------------------

def _event(req: HardshipRequest, now: datetime, action: str, *, actor: str = "staff", staff_id: int | None = None,
           from_status: str = "", to_status: str = "", text: str = "", internal: bool = False,
           detail: dict[str, Any] | None = None) -> HardshipEvent:
    ev = HardshipEvent(at=now, actor=actor, staff_id=staff_id, action=action, from_status=from_status,
                       to_status=to_status, text=text, internal=internal, detail=detail or {})
    req.events.append(ev)
    req.updated_at = now
    return ev


def _photos_online(ctx: OpsContext) -> bool:
    """Whether photos can be fetched from WeChat (else only their media ids are kept)."""
    return bool(ctx.services.get("api_available"))


async def submit_request(
    session: AsyncSession, ctx: OpsContext, *, openid: str, data: Mapping[str, Any], consent_version: str,
    consent_at: datetime | None = None, member: Member | None = None,
) -> HardshipRequest:
    """Store a new request and save the contact back to the profile.

    From the worker (`ctx.staff_id` None), or 代办 by the staff member acting (`ctx.staff_id`).
    The self-check uses the 低保 standard of the local year (`[hardship] dibao`); the ID
    number is encrypted with `ctx.services["crypto"]`. `data["community"]` (the worker's answer,
    or the one staff chose) decides which community accounts see the request; the worker's
    own answer is kept on the profile too ("" = 不清楚, not asked again)."""
    now = ctx.now
    staff_id = ctx.staff_id
    if openid:
        existing = await open_request(session, openid)
        if existing is not None:
            raise HardshipError(f"已有一份进行中的申请 {existing.ref}，办结前不能再提交新的申请。")
    kind = data["kind"]
    if kind not in KINDS:
        raise HardshipError(f"困难类型不正确，请从{'、'.join(KINDS)}中选择。")
    household = int(data["household"])
    income = float(data["income"])
    expenses = float(data.get("expenses") or 0)
    if household < 1 or income < 0 or expenses < 0:
        raise HardshipError("家庭人口和收入、支出需为有效数字。")
    local = ctx.local(now)
    check = self_check(income, expenses, household, dibao_for(ctx.settings.hardship.dibao, local.year))
    id_number = data.get("id_number") or None
    crypto = ctx.services["crypto"]
    photos_online = _photos_online(ctx)
    req = HardshipRequest(
        ref=await next_reference(session, local.year), openid=openid, status="submitted", kind=kind,
        description=str(data.get("description") or ""), household_size=household, monthly_income=income,
        fixed_expenses=expenses, per_capita=check.per_capita, dibao=check.dibao, tier=check.tier,
        name=str(data.get("name") or ""), phone=str(data.get("phone") or ""),
        employer=str(data.get("employer") or ""), community=str(data.get("community") or "") or None,
        id_number_enc=crypto.encrypt(id_number) if id_number else None,
        id_number_masked=mask_id(id_number) if id_number else None,
        consent_version=consent_version, consent_at=consent_at or now, created_at=now, updated_at=now,
        created_by_staff_id=staff_id, photos=[], events=[],
    )
    for media_id in data.get("photos") or []:
        req.photos.append(HardshipPhoto(media_id=media_id, status="pending" if photos_online else "offline",
                                        created_at=now))
    _event(req, now, "submit_for" if staff_id else "submit", actor="staff" if staff_id else "worker",
           staff_id=staff_id, to_status="submitted")
    session.add(req)
    if openid:
        if member is None:
            member = await session.scalar(select(Member).where(Member.openid == openid))
        if member is not None:  # save the contact back to the profile for next time
            member.name = req.name or member.name
            member.phone = req.phone or member.phone
            member.employer = req.employer or member.employer
            if "community" in data and staff_id is None:  # the worker's own answer (or 不清楚)
                member.community = req.community or ""
    await session.flush()
    return req


NO_FOLLOWER = "没有找到这个微信用户编号；不关联微信的话，这一栏可以留空。"


@dataclass(frozen=True)
class LinkMatch:
    """The WeChat follower a 代办 request could be linked to, as staff see it before confirming."""

    openid: str
    name: str  # the follower's name in their profile ("" when they gave none)
    phone_masked: str
    last_seen: datetime
    name_mismatch: bool  # the profile's name differs from the name typed for the request
    by: str  # "openid" (typed by staff) | "phone" (the mobile number they left)


def _same_name(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


async def find_link(session: AsyncSession, *, openid: str, phone: str, name: str,
                    community: str | None = None) -> tuple[LinkMatch | None, str]:
    """代办: the follower the request may be linked to — the one whose openid staff typed, else the
    one follower who left this mobile number — and a note for staff when none can be offered.
    Nothing is linked here: staff confirm the match (`submit_on_behalf(openid=...)`). A community
    account (`community`) is offered only followers of its community: a phone number is no way to
    learn the name of another community's worker."""
    scope = (Member.community == community,) if community is not None else ()
    if openid:
        member = await session.scalar(select(Member).where(Member.openid == openid, *scope))
        if member is None:
            raise HardshipError(NO_FOLLOWER)
        existing = await open_request(session, openid)
        if existing is not None:
            raise HardshipError(f"已有一份进行中的申请 {existing.ref}，办结前不能再提交新的申请。")
        by = "openid"
    else:
        if not phone:
            return None, ""
        rows = list(await session.scalars(select(Member).where(Member.phone == phone, *scope).limit(2)))
        if len(rows) > 1:
            return None, "这个手机号对应多位微信用户，无法确定是哪一位，本次不关联微信。"
        if not rows:
            return None, ""
        member, by = rows[0], "phone"
    profile_name = (member.name or "").strip()
    return LinkMatch(
        openid=member.openid, name=profile_name, phone_masked=mask_phone(member.phone or ""),
        last_seen=member.last_seen, name_mismatch=bool(profile_name) and not _same_name(profile_name, name), by=by,
    ), ""


async def submit_on_behalf(session: AsyncSession, ctx: OpsContext, *, openid: str, data: Mapping[str, Any],
                           photos: Sequence[UploadedPhoto] = ()) -> HardshipRequest:
    """代办: staff (`ctx.staff_id`) record a request for a worker who agreed in person.

    `openid` is the follower staff confirmed is the worker (see `find_link`; they must exist),
    or "" to record the request unlinked (progress then goes by phone). A request is never
    linked by its phone number alone: a typo would send someone's decisions to a stranger.
    `photos` (checked by `check_photo`) are stored with it as evidence."""
    member = None
    if openid:
        member = await session.scalar(select(Member).where(Member.openid == openid))
        if member is None:
            raise HardshipError(NO_FOLLOWER)
    # consent given in person, now (submit_request's own time)
    req = await submit_request(session, ctx, openid=openid, data=data, consent_version="代办（本人当面同意）",
                               member=member)
    await attach_photos(session, ctx, req, photos)
    return req


# --- photos staff upload (代办) ---------------------------------------------------------

@dataclass(frozen=True)
class UploadedPhoto:
    """A photo staff chose in the 代办 form, checked by `check_photo`."""

    data: bytes
    content_type: str  # one of PHOTO_TYPES


def photo_type(data: bytes) -> str:
    """The image type by the file's own first bytes (not its name): a PHOTO_TYPES key or ""."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def check_photo(name: str, data: bytes) -> UploadedPhoto:
    """A photo file staff uploaded, or a HardshipError naming the file and what is wrong."""
    label = f"「{name[-40:]}」" if name else "这张照片"
    if not data:
        raise HardshipError(f"{label}是空文件，请重新选择。")
    if len(data) > MAX_PHOTO_BYTES:
        raise HardshipError(f"{label}超过了 {MAX_PHOTO_BYTES // (1024 * 1024)} MB，请压缩后再上传。")
    ctype = photo_type(data)
    if not ctype:
        raise HardshipError(f"{label}不是 JPG、PNG 或 WEBP 格式的照片，请换一张（手机拍的照片一般是 JPG）。")
    return UploadedPhoto(data, ctype)


def _media_root(ctx: OpsContext) -> Path:
    return Path(ctx.services.get("media_dir") or "data/media")


async def attach_photos(session: AsyncSession, ctx: OpsContext, req: HardshipRequest,
                        photos: Sequence[UploadedPhoto]) -> None:
    """Store photos staff uploaded for `req` as evidence, under media_dir/hardship/<request>/ like the
    photos fetched from WeChat (served by the same page, deleted by the same retention rule)."""
    if len(photos) > MAX_PHOTOS:
        raise HardshipError(f"一份申请最多上传 {MAX_PHOTOS} 张照片。")
    if not photos:
        return
    now = ctx.now
    rows = [HardshipPhoto(media_id="", status="fetched", content_type=p.content_type, created_at=now,
                          fetched_at=now) for p in photos]
    req.photos.extend(rows)
    await session.flush()
    root = _media_root(ctx)
    for row, photo in zip(rows, photos):
        rel = Path("hardship") / str(req.id) / f"{row.id}{PHOTO_TYPES[photo.content_type]}"
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(photo.data)
        tmp.replace(target)
        row.path = rel.as_posix()
    _event(req, now, "photos", staff_id=ctx.staff_id, internal=True, detail={"photos": len(rows)})
    await session.flush()


# --- transitions ----------------------------------------------------------------------

def _notice_text(req: HardshipRequest, to: str, message: str, office: OfficeSettings) -> str:
    """What the worker reads when staff decide (worded apart from the internal status names),
    with the number of this office (`[office]`) to call."""
    ref = req.ref
    call = office.call_line()
    text = {
        "reviewing": f"您的帮扶申请 {ref} 已进入审核。工作人员可能会打电话向您核实情况，请保持电话畅通。",
        "waiting": f"您的帮扶申请 {ref} 还需要补充一些材料：\n{message}\n请回复「补充」，再发送文字或照片。",
        "approved": f"您的帮扶申请 {ref} 审核通过了。我们会尽快安排发放，届时另行通知。"
                    + (f"\n工作人员留言：{message}" if message else ""),
        "rejected": f"很抱歉，您的帮扶申请 {ref} 这次没有通过。\n原因：{message}\n如有疑问，欢迎{call}。",
        "delivered": f"您的帮扶申请 {ref} 帮扶已发放。{message}\n如有疑问，欢迎{call}。",
    }.get(to) or f"您的帮扶申请 {ref} 有新进展：{WORKER_STATUS[to]}。"
    return text + "\n回复「我的申请」可随时查看。"


async def _transition(session: AsyncSession, ctx: OpsContext, request_id: int, action: str, *,
                      message: str = "", notify: bool = True, actor: str = "staff",
                      detail: dict[str, Any] | None = None, internal_text: str = "") -> HardshipRequest:
    """One status change by its rule in TRANSITIONS, on the timeline, and the worker told (`notify`)."""
    now = ctx.now
    allowed, to = TRANSITIONS[action]
    req = await get_request(session, request_id, lock=True)
    if req.anonymised_at is not None and action != "close":  # closing touches no personal data
        raise HardshipError("这份申请的个人信息已经匿名化，不能再办理。")
    if req.status not in allowed:
        raise HardshipError(
            f"当前状态为「{STATUS_LABELS.get(req.status, req.status)}」，不能{ACTION_LABELS[action]}。")
    frm = req.status
    req.status = to
    if to == "closed":
        req.closed_at = now
    ev = _event(req, now, action, actor=actor, staff_id=ctx.staff_id if actor == "staff" else None,
                from_status=frm, to_status=to, text=internal_text or message, detail=detail)
    await session.flush()
    if notify and req.openid:
        text = _notice_text(req, to, message, ctx.settings.office)
        key = f"hardship:{req.ref}:{ev.id}"
        await outbox.enqueue(session, key=key, openid=req.openid, now=now, text=text, purpose=NOTIFY_PURPOSE,
                             template={"kind": TEMPLATE_KIND, "data": {
                                 "ref": req.ref, "status": WORKER_STATUS[to], "remark": message[:100],
                                 "time": ctx.local(now).strftime("%Y-%m-%d %H:%M")}})
        req.last_notice_key = key
        if to in ("waiting", "approved", "rejected", "delivered"):
            req.last_message = message  # a decision's own words, none for none: 「请补充…」 doesn't outlive it
        ev.detail = {**ev.detail, "outbox_key": key}
    return req


async def start_review(session: AsyncSession, ctx: OpsContext, request_id: int) -> HardshipRequest:
    return await _transition(session, ctx, request_id, "start_review")


def _message(text: str, what: str) -> str:
    """A message for the worker, refused (never cut) when longer than MAX_MESSAGE."""
    text = text.strip()
    if len(text) > MAX_MESSAGE:
        raise HardshipError(f"{what}最多 {MAX_MESSAGE} 字（现在 {len(text)} 字），请精简一下。")
    return text


async def request_more(session: AsyncSession, ctx: OpsContext, request_id: int, *, message: str) -> HardshipRequest:
    message = _message(message, "需要补充的材料")
    if not message:
        raise HardshipError("请写明需要职工补充什么材料。")
    return await _transition(session, ctx, request_id, "request_more", message=message.strip())


async def approve(session: AsyncSession, ctx: OpsContext, request_id: int, *, message: str = "") -> HardshipRequest:
    return await _transition(session, ctx, request_id, "approve", message=_message(message, "给职工的留言"))


async def reject(session: AsyncSession, ctx: OpsContext, request_id: int, *, reason: str) -> HardshipRequest:
    """Not approved: the worker is told why, with the office's number."""
    reason = _message(reason, "不通过原因")
    if not reason:
        raise HardshipError("不予通过需要填写原因。")
    req = await _transition(session, ctx, request_id, "reject", message=reason)
    req.reject_reason = reason
    return req


def parse_amount(raw: str) -> float | None:
    """What staff typed as an amount of yuan ("" → None): 500, 500.5, 1,200, ¥300, 300元.
    Refused with a HardshipError: anything not a plain number (inf, nan), below 0, more than
    two decimals or above MAX_AID_AMOUNT (1e309 is far above it)."""
    text = raw.strip()
    for junk in (",", "，", "¥", "￥", " "):
        text = text.replace(junk, "")
    text = text.removesuffix("元")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise HardshipError(f"发放金额「{raw.strip()[:20]}」不是一个数字，请填写例如 500 或 500.50。")
    if value < 0:
        raise HardshipError("发放金额不能是负数。")
    if value > MAX_AID_AMOUNT:
        raise HardshipError(f"发放金额不能超过 {MAX_AID_AMOUNT:,} 元，请核对是否多打了数字。")
    if value != value.quantize(Decimal("0.01")):
        raise HardshipError("发放金额最多保留两位小数（到分）。")
    return float(value)


def parse_day(raw: str, label: str = "日期") -> date | None:
    """A date staff typed or picked (2026-11-24; "" → None), or a HardshipError saying what is wrong."""
    text = raw.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HardshipError(f"{label}「{text[:20]}」不是有效的日期，请用日期选择框或按 2026-11-24 的格式填写。") from None


def worker_was_told(req: HardshipRequest) -> bool:
    """Whether the worker got a notice about the request's current status (a 更正 tells them too)."""
    return _was_told(req)


def _delivery(req: HardshipRequest, ctx: OpsContext, *, amount: float | None, aid_kind: str,
              aid_date: date | None) -> tuple[float | None, str, date]:
    """What a delivery records, checked: an amount in range and/or what was handed out, and a
    date between the request's submission and today. Returns (amount or None, kind, date)."""
    aid_kind = aid_kind.strip()
    if amount is not None and (not math.isfinite(amount) or amount < 0 or amount > MAX_AID_AMOUNT):
        raise HardshipError(f"发放金额应在 0–{MAX_AID_AMOUNT:,} 元之间，请核对。")
    if len(aid_kind) > 200:
        raise HardshipError("实物或说明最多 200 字。")
    if (amount is None or amount <= 0) and not aid_kind:
        raise HardshipError("请填写发放金额或实物内容。")
    if aid_date is None:
        raise HardshipError("请填写发放日期。")
    today = ctx.local().date()
    if aid_date > today:
        raise HardshipError(f"登记的是已经发放的帮扶：发放日期不能晚于今天（{today.isoformat()}）。")
    submitted = ctx.local(req.created_at).date()
    if aid_date < submitted:
        raise HardshipError(f"发放日期不能早于申请提交的日期（{submitted.isoformat()}），请核对。")
    return (round(amount, 2) if amount and amount > 0 else None), aid_kind, aid_date


def _delivery_text(amount: float | None, aid_kind: str, aid_date: date) -> str:
    what = "，".join(p for p in (f"{amount:.2f} 元" if amount else "", aid_kind) if p)
    return f"发放内容：{what}，发放日期：{aid_date.isoformat()}。"


async def deliver(session: AsyncSession, ctx: OpsContext, request_id: int, *, amount: float | None, aid_kind: str,
                  aid_date: date | None) -> HardshipRequest:
    """Aid handed out: the worker is told what and when, with the office's number."""
    amount, aid_kind, aid_date = _delivery(await get_request(session, request_id), ctx, amount=amount,
                                           aid_kind=aid_kind, aid_date=aid_date)
    req = await _transition(session, ctx, request_id, "deliver", message=_delivery_text(amount, aid_kind, aid_date),
                            detail={"amount": amount, "kind": aid_kind, "date": aid_date.isoformat()})
    req.aid_amount = amount
    req.aid_kind = aid_kind
    req.aid_date = aid_date
    return req


async def close(session: AsyncSession, ctx: OpsContext, request_id: int) -> HardshipRequest:
    return await _transition(session, ctx, request_id, "close", notify=False)


# --- 更正: a decision taken by mistake --------------------------------------------------

@dataclass
class Correction:
    """What `correct` did: the request, its state before and after, and whether the worker was told."""

    req: HardshipRequest
    before: dict[str, Any]
    after: dict[str, Any]
    told: bool


def _state(req: HardshipRequest) -> dict[str, Any]:
    state: dict[str, Any] = {"status": req.status}
    if req.status in ("delivered", "closed") or req.aid_date is not None:
        state.update(amount=req.aid_amount, kind=req.aid_kind, date=req.aid_date.isoformat() if req.aid_date else None)
    return state


def _was_told(req: HardshipRequest) -> bool:
    """Whether the worker was sent a notice about the request's current status (by the decision
    that brought it there, or an earlier 更正 of it)."""
    ev = next((e for e in reversed(req.events) if e.to_status == req.status), None)
    return bool(req.openid) and ev is not None and bool((ev.detail or {}).get("outbox_key"))


def _correction_text(req: HardshipRequest, kind: str, before: str, office: OfficeSettings) -> str:
    """What the worker reads after a 更正: what was wrong, where the request stands, an apology."""
    call = office.call_line()
    head = f"关于您的帮扶申请 {req.ref}："
    if kind == "reopen":
        body = (f"之前发给您的「{WORKER_STATUS[before]}」通知有误，给您添麻烦了，非常抱歉。"
                "您的申请目前还在审核中，有结果会第一时间告诉您。")
    elif kind == "undo_delivery":
        body = ("之前发给您的「帮扶已发放」通知有误，给您添麻烦了，非常抱歉。您的申请已审核通过，"
                "帮扶正在安排，发放时会再通知您。")
    else:
        body = f"之前通知的发放信息有误，非常抱歉。更正后为：{_delivery_text(req.aid_amount, req.aid_kind, req.aid_date)}"
    return f"{head}{body}\n如有疑问，欢迎{call}。\n回复「我的申请」可随时查看。"


def _correction_target(req: HardshipRequest, kind: str) -> str:
    """The status a 更正 of `kind` brings the request to (reopen_closed: the one it was closed from)."""
    if kind == "reopen":
        return "reviewing"
    if kind == "undo_delivery":
        return "approved"
    if kind == "fix_delivery":
        return req.status
    closing = next((e for e in reversed(req.events) if e.action == "close"), None)
    return closing.from_status if closing is not None and closing.from_status else "delivered"


async def _one_open_at_a_time(session: AsyncSession, req: HardshipRequest) -> None:
    """A 更正 that opens a finished request again is refused while the worker has another one
    open: one request at a time, as at submission."""
    if not req.openid:
        return
    other = await open_request(session, req.openid)
    if other is not None and other.id != req.id:
        raise HardshipError(f"这位职工还有一份进行中的申请 {other.ref}，同一时间只办理一份；"
                            "请先办结那一份，再更正这一份。")


async def correct(session: AsyncSession, ctx: OpsContext, request_id: int, *, kind: str, reason: str,
                  amount: float | None = None, aid_kind: str = "", aid_date: date | None = None) -> Correction:
    """更正 a decision taken by mistake (`kind`, one of CORRECTIONS), with the reason (internal):

    - "reopen": 审核通过 / 不予通过 → back to 审核中;
    - "undo_delivery": 登记发放 recorded but nothing handed out → back to 已通过 (aid cleared);
    - "fix_delivery": the amount, kind or date recorded → replaced (checked as a delivery);
    - "reopen_closed": 结束 → back to the status it had.

    On the timeline with before/after; where the worker was told the mistaken decision, a short
    correction goes to them through the outbox (NOTIFY_PURPOSE)."""
    if kind not in CORRECTIONS:
        raise HardshipError("没有这种更正。")
    reason = reason.strip()
    if not reason:
        raise HardshipError("请写明更正的原因（仅工作人员可见），方便以后查看。")
    if len(reason) > MAX_MESSAGE:
        raise HardshipError(f"更正原因最多 {MAX_MESSAGE} 字。")
    now = ctx.now
    req = await get_request(session, request_id, lock=True)
    if req.anonymised_at is not None:
        raise HardshipError("这份申请的个人信息已经匿名化，不能再更正。")
    allowed, label = CORRECTIONS[kind]
    if req.status not in allowed:
        raise HardshipError(f"当前状态为「{STATUS_LABELS.get(req.status, req.status)}」，不能{label}。")
    target = _correction_target(req, kind)
    if target in OPEN_STATUSES:  # open again: one request at a time
        await _one_open_at_a_time(session, req)
    before = _state(req)
    told = _was_told(req)
    frm = req.status
    req.status = target
    if kind == "reopen":
        if frm == "rejected":
            req.reject_reason = ""
        req.last_message = ""
    elif kind == "undo_delivery":
        req.aid_amount, req.aid_kind, req.aid_date = None, "", None
        req.last_message = ""
    elif kind == "fix_delivery":
        new = _delivery(req, ctx, amount=amount, aid_kind=aid_kind, aid_date=aid_date)
        if new == (req.aid_amount, req.aid_kind, req.aid_date):
            raise HardshipError("发放信息和原来一样，没有需要更正的内容。")
        req.aid_amount, req.aid_kind, req.aid_date = new
        req.last_message = _delivery_text(*new)
    else:  # reopen_closed
        req.closed_at = None
        told = False  # closing told the worker nothing
    after = _state(req)
    ev = _event(req, now, "correct", staff_id=ctx.staff_id, from_status=frm, to_status=req.status, text=reason,
                internal=True, detail={"kind": kind, "before": before, "after": after})
    await session.flush()
    if told:
        text = _correction_text(req, kind, frm, ctx.settings.office)
        key = f"hardship:{req.ref}:{ev.id}"
        await outbox.enqueue(session, key=key, openid=req.openid, now=now, text=text, purpose=NOTIFY_PURPOSE,
                             template={"kind": TEMPLATE_KIND, "data": {
                                 "ref": req.ref, "status": WORKER_STATUS[req.status],
                                 "remark": "更正：之前的通知有误，请以本条为准"[:100],
                                 "time": ctx.local(now).strftime("%Y-%m-%d %H:%M")}})
        req.last_notice_key = key
        ev.detail = {**ev.detail, "outbox_key": key}
    return Correction(req, before, after, told)


async def add_note(session: AsyncSession, ctx: OpsContext, request_id: int, *, text: str) -> HardshipEvent:
    """An internal note by the staff member acting: on the timeline, never sent to the worker."""
    if not text.strip():
        raise HardshipError("备注内容不能为空。")
    if len(text.strip()) > MAX_NOTE:
        raise HardshipError(f"备注最多 {MAX_NOTE} 字（现在 {len(text.strip())} 字），请分成几条。")
    req = await get_request(session, request_id)
    ev = _event(req, ctx.now, "note", staff_id=ctx.staff_id, text=text.strip(), internal=True)
    await session.flush()
    return ev


async def assign(session: AsyncSession, ctx: OpsContext, request_id: int, *,
                 assignee_id: int | None) -> HardshipRequest:
    """Give the request to a staff member (`assignee_id`), or to nobody (None)."""
    req = await get_request(session, request_id)
    assignee = await session.get(Staff, assignee_id) if assignee_id is not None else None
    if assignee_id is not None and assignee is None:
        raise HardshipError("没有找到这位工作人员。")
    req.assigned_staff_id = assignee.id if assignee is not None else None
    _event(req, ctx.now, "assign", staff_id=ctx.staff_id,
           text=(assignee.display_name or assignee.username) if assignee is not None else "（未分配）", internal=True)
    await session.flush()
    return req


async def staff_name(session: AsyncSession, staff_id: int | None) -> str:
    """How staff read a colleague's name ("" for nobody)."""
    staff = await session.get(Staff, staff_id) if staff_id is not None else None
    return (staff.display_name or staff.username) if staff is not None else ""


async def set_community(session: AsyncSession, ctx: OpsContext, request_id: int, *,
                        community: str | None) -> tuple[HardshipRequest, str | None]:
    """Staff give the request to a community (None: to none, the federation's accounts only);
    on the timeline (internal). Returns (request, the community before)."""
    req = await get_request(session, request_id)
    before = req.community
    if community == before:
        raise HardshipError("所属社区没有变化。")
    req.community = community
    _event(req, ctx.now, "community", staff_id=ctx.staff_id, text=community or "（未指定社区）", internal=True,
           detail={"from": before, "to": community})
    await session.flush()
    return req, before


def reveal_id(req: HardshipRequest, crypto: Any) -> str:
    if not req.id_number_enc:
        return ""
    return crypto.decrypt(req.id_number_enc) or ""


# --- material added by the worker (补充) ------------------------------------------------

async def add_material(session: AsyncSession, ctx: OpsContext, request_id: int, *, text: str = "",
                       media_id: str = "") -> HardshipRequest:
    """One piece of the worker's 补充 (a text or a photo), saved at once on an open request.

    A request waiting for material goes back to review with the first piece; on any other open
    request the piece is added and shown to staff as new material."""
    now = ctx.now
    req = await get_request(session, request_id, lock=True)
    if req.status not in OPEN_STATUSES or req.anonymised_at is not None:
        raise HardshipError("这份申请已经办结，不能再补充材料了。")
    detail = {"photos": 1 if media_id else 0, "new_material": True}
    if req.status == "waiting":
        req = await _transition(session, ctx, request_id, "supplement", actor="worker", notify=False,
                                detail=detail, internal_text=text.strip())
    else:
        _event(req, now, "material", actor="worker", text=text.strip(), internal=True, detail=detail)
    if media_id:
        req.photos.append(HardshipPhoto(media_id=media_id, status="pending" if _photos_online(ctx) else "offline",
                                        created_at=now))
    await session.flush()
    return req
