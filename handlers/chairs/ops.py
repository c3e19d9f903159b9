"""Operations of the chairs feature: registry, binding and reports.

The convention of bot/operations.py: `async def verb_object(session, ctx: OpsContext, ...)`,
the clock (`ctx.now`, `ctx.tz`), the settings and who acts (`ctx.staff_id`) from `ctx`; a
refused operation raises `ChairError` (a `DomainError`) whose text is shown as it is. The
dialogue, the admin pages, the CLI and the scheduled job all call these. Nothing here
commits: the caller owns the transaction. The reminder ladder is in reminders.py, the
staff views (grid, dashboard) in stats.py, the file import in registry_import.py.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.core.forms import Invalid
from bot.core.validators import parse_mobile, parse_name
from bot.db.models.chairs import Chair, ChairBindCode, ChairBindFailure, ChairReminder, ChairReport
from bot.db.models.core import AuditLog
from bot.feature import MemberFact
from bot.operations import DomainError, OpsContext
from bot.workdays import format_day
from handlers.chairs.quarters import Quarter, Stage, deadline_date, stages

log = logging.getLogger("unionbot.chairs")

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 6
THROTTLE_WINDOW = timedelta(hours=1)
REMINDER_PURPOSE = "chairs.reminder"
ESCALATION_PURPOSE = "chairs.escalation"
TEMPLATE_KIND = "chair_reminder"
FIGURES = ("enterprises", "unionised", "wage_agreements", "harmonious")
REPORT_FIELDS = (*FIGURES, "visits", "problems", "summary")
CANCELLED_NOTE = "主席已报送，提醒不再发送"


class ChairError(DomainError):
    """A rule refused the operation; `str(exc)` is a complete Chinese sentence for staff or the chair."""


# ---- time helpers (the clock, its timezone and the settings all come from ctx) ----------------

def current_quarter(ctx: OpsContext) -> Quarter:
    return Quarter.of(ctx.local().date())


def parse_quarter(text: str) -> Quarter:
    """A quarter as a form sends it (2026Q4; staff pick it from a list, never type it)."""
    try:
        return Quarter.parse(text)
    except ValueError:
        raise ChairError("没有指明是哪个季度的报送，请回到页面重新操作。") from None


def deadline_of(ctx: OpsContext, quarter: Quarter) -> date:
    return deadline_date(quarter, ctx.settings.chairs.deadline_day)


def deadline_end(ctx: OpsContext, quarter: Quarter) -> datetime:
    """The last instant a report counts as on time: the end of the deadline day (local)."""
    d = deadline_of(ctx, quarter) + timedelta(days=1)
    return datetime(d.year, d.month, d.day, tzinfo=ctx.tz)


def ladder(ctx: OpsContext, quarter: Quarter) -> list[Stage]:
    c = ctx.settings.chairs
    return stages(quarter, deadline_day=c.deadline_day, remind_before=c.remind_before,
                  escalate_after=c.escalate_after, notice_after=c.notice_after, remind_hour=c.remind_hour,
                  tz=ctx.tz)


def reminder_key(quarter: Quarter, chair_id: int, stage: str) -> str:
    return f"chairs:{quarter.label}:chair{chair_id}:{stage}"


def default_quarter(ctx: OpsContext) -> Quarter:
    """The quarter whose reports are being collected now: what every staff quarter view (主席报送,
    指标看板, the 通报 export, 登记已收到) opens on.

    A quarter's reports are due on `deadline_day` of the quarter's OWN last month (25 December
    for the fourth quarter, moved back to a working day), so they are collected during the
    quarter itself: on 5 December the fourth quarter is the one being reported (its first
    reminder is 7 working days before the deadline), and the third quarter is finished — its
    deadline and its 通报 list are behind us. So the default is the calendar quarter.

    The one exception: the quarter just ended stays the default while its reminder ladder is
    still running in the new quarter — with a deadline at the very end of the quarter
    (deadline_day = 31) the reminders after the deadline and the 通报 list fall in the first
    working days of the next one (2026Q3: deadline 30 September, 通报 on 10 October). Until the
    end of the day of its last stage, that quarter's reports are the ones being chased.

    The previous quarter's reports still missing after that are announced on the default
    quarter's pages with a link (`stats.previous_missing`), not by opening on it.
    (`focus_quarter` is the chairs' side: which quarter 「报送」 files.)
    """
    cur = current_quarter(ctx)
    prev = cur.prev()
    if ctx.local().date() <= max(s.day for s in ladder(ctx, prev)):
        return prev
    return cur


def focus_quarter(ctx: OpsContext) -> Quarter:
    """The quarter chairs are working on (what 「报送」 files first): the previous one until the
    current quarter's first reminder (late reports and the 通报 happen then), else the current one.
    Staff pages open on `default_quarter`."""
    now = ctx.now
    cur = Quarter.of(ctx.local(now).date())
    return cur.prev() if now < min(s.due_at for s in ladder(ctx, cur)) else cur


async def reporting_quarter(session: AsyncSession, ctx: OpsContext, chair: Chair
                            ) -> tuple[Quarter, ChairReport | None]:
    """The quarter `报送` files for this chair, and the chair's report for it so far.

    The current quarter, except that a previous quarter this chair still owes
    (the late reminders say "回复「报送」补报", and a chair often answers after
    the quarter has turned, e.g. after the New Year or National Day holiday) is
    offered first, until the current quarter's own reminders begin.
    """
    cur = current_quarter(ctx)
    focus = focus_quarter(ctx)
    if focus != cur and chair.created_at < deadline_end(ctx, focus):
        if await report_for(session, chair.id, focus) is None:
            return focus, None
    return cur, await report_for(session, chair.id, cur)


async def next_deadline_note(session: AsyncSession, ctx: OpsContext, chair: Chair) -> str:
    """One sentence for every chair reply: what they owe next, and by when."""
    return deadline_note(ctx, *await reporting_quarter(session, ctx, chair))


def deadline_note(ctx: OpsContext, q: Quarter, report: ChairReport | None) -> str:
    """`next_deadline_note` for a reporting quarter and its report already at hand."""
    if ctx.now >= deadline_end(ctx, q):
        if report is None:
            return f"您{q.label_zh}的报送还没有收到，回复「报送」即可补报。"
        q = q.next()
    elif report is not None:
        q = q.next()
        return f"下一次是{q.label_zh}信息报送，截止{format_day(deadline_of(ctx, q))}。"
    return f"{q.label_zh}信息报送截止：{format_day(deadline_of(ctx, q))}。"


def days_left(ctx: OpsContext, q: Quarter) -> str:
    """「（还有5天）」「（就是今天）」 before the deadline, "" after it."""
    left = (deadline_of(ctx, q) - ctx.local().date()).days
    return "（就是今天）" if left == 0 else f"（还有{left}天）" if left > 0 else ""


def deadline_answer(ctx: OpsContext, q: Quarter, report: ChairReport | None) -> str:
    """A chair asking when the report is due (「截止是哪天」): the reporting quarter's deadline,
    whether their report is in, and what to do next."""
    when = format_day(deadline_of(ctx, q))
    if ctx.now >= deadline_end(ctx, q):
        nxt = q.next()
        later = f"{nxt.label_zh}信息报送截止：{format_day(deadline_of(ctx, nxt))}。"
        if report is None:
            return f"{q.label_zh}的报送已于{when}截止，我们还没有收到您的报送，回复「报送」即可补报。\n{later}"
        return f"{q.label_zh}的报送已于{when}截止，您的报送我们已经收到了，谢谢！\n下一次是{later}"
    head = f"{q.label_zh}信息报送{when}截止{days_left(ctx, q)}。"
    if report is None:
        return head + "我们还没有收到您的报送，回复「报送」就可以填写，共7项，几分钟就好。"
    if report.enterprises is None:  # received by other means (登记已收到)
        return head + "街道总工会已登记收到您的报送，截止前回复「报送」可以补填具体数字。"
    day = ctx.local(report.submitted_at).date()
    return head + f"您的报送我们{day.month}月{day.day}日已经收到了，截止前如需修改，回复「报送」即可。"


# ---- registry ---------------------------------------------------------------------------------

def _clean(value: Any, label: str, max_len: int) -> str:
    text = str(value or "").strip()
    if not text:
        raise ChairError(f"{label}不能为空。")
    if len(text) > max_len:
        raise ChairError(f"{label}太长了（最多{max_len}字）。")
    return text


def validate_chair(name: Any, organisation: Any, community: Any, mobile: Any) -> dict[str, str]:
    """Check one chair's fields; raises ChairError with a complete Chinese sentence."""
    try:
        clean_name = parse_name(str(name or ""))
    except Invalid:
        raise ChairError("姓名应为2–20个字、不含数字。") from None
    try:
        clean_mobile = parse_mobile(str(mobile or "").split(".")[0])  # XLSX may give 13800138000.0
    except Invalid:
        raise ChairError(f"手机号“{mobile or ''}”不是11位手机号码。") from None
    return {"name": clean_name, "organisation": _clean(organisation, "单位", 128),
            "community": _clean(community, "社区", 64), "mobile": clean_mobile}


async def add_chair(session: AsyncSession, ctx: OpsContext, *, name: Any, organisation: Any, community: Any,
                    mobile: Any) -> Chair:
    fields = validate_chair(name, organisation, community, mobile)
    if await session.scalar(select(Chair.id).where(Chair.mobile == fields["mobile"])):
        raise ChairError(f"手机号 {fields['mobile']} 已登记过，不能重复添加。")
    now = ctx.now
    chair = Chair(**fields, active=True, created_at=now, updated_at=now)
    session.add(chair)
    await session.flush()
    return chair


async def update_chair(session: AsyncSession, ctx: OpsContext, chair_id: int, *, name: Any, organisation: Any,
                       community: Any, mobile: Any) -> Chair:
    chair = await get_chair(session, chair_id)
    fields = validate_chair(name, organisation, community, mobile)
    other = await session.scalar(select(Chair.id).where(Chair.mobile == fields["mobile"], Chair.id != chair_id))
    if other:
        raise ChairError(f"手机号 {fields['mobile']} 已被另一位主席使用。")
    for k, v in fields.items():
        setattr(chair, k, v)
    chair.updated_at = ctx.now
    return chair


async def set_active(session: AsyncSession, ctx: OpsContext, chair_id: int, active: bool) -> Chair:
    """Deactivate (no reminders, no reports) or reactivate a chair. Deactivating unbinds the account."""
    now = ctx.now
    chair = await get_chair(session, chair_id)
    chair.active = active
    if not active:
        chair.openid = None
        chair.bound_at = None
        await _revoke_codes(session, now, chair.id)
    chair.updated_at = now
    return chair


async def get_chair(session: AsyncSession, chair_id: int) -> Chair:
    chair = await session.get(Chair, chair_id)
    if chair is None:
        raise ChairError("没有这位主席。")
    return chair


async def reports_of(session: AsyncSession, chair_id: int) -> list[ChairReport]:
    """The chair's reports, latest quarter first (the detail page)."""
    return list((await session.scalars(select(ChairReport).where(ChairReport.chair_id == chair_id)
                                       .order_by(ChairReport.quarter.desc()))).all())


async def recent_reminders(session: AsyncSession, chair_id: int, limit: int = 30) -> list[ChairReminder]:
    """The chair's latest reminder records, latest first (the detail page)."""
    return list((await session.scalars(select(ChairReminder).where(ChairReminder.chair_id == chair_id)
                                       .order_by(ChairReminder.due_at.desc()).limit(limit))).all())


def registry_query(*, community: str = "", state: str = "") -> Select:
    """The staff registry: chairs in office first, then by community and unit.
    `state`: "active" (在任), "inactive" (已停用), "unbound" (在任未绑定微信) or "" (all)."""
    q = select(Chair).order_by(Chair.active.desc(), Chair.community, Chair.organisation, Chair.id)
    if community:
        q = q.where(Chair.community == community)
    if state == "active":
        q = q.where(Chair.active.is_(True))
    elif state == "inactive":
        q = q.where(Chair.active.is_(False))
    elif state == "unbound":
        q = q.where(Chair.active.is_(True), Chair.openid.is_(None))
    return q


def registry_search(q: str):  # noqa: ANN201
    """The registry's search box: the chair's name, the unit, or digits of the mobile number."""
    if q.isdecimal():
        return Chair.mobile.contains(q, autoescape=True)
    return or_(Chair.name.contains(q, autoescape=True), Chair.organisation.contains(q, autoescape=True))



# ---- binding ---------------------------------------------------------------------------------

def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def _revoke_codes(session: AsyncSession, now: datetime, chair_id: int) -> None:
    await session.execute(update(ChairBindCode).where(
        ChairBindCode.chair_id == chair_id, ChairBindCode.used_at.is_(None), ChairBindCode.revoked_at.is_(None),
    ).values(revoked_at=now))


async def issue_bind_code(session: AsyncSession, ctx: OpsContext, chair_id: int) -> tuple[str, datetime]:
    """A new one-time code for the chair (earlier unused codes stop working); returns (code, expires_at)."""
    now = ctx.now
    chair = await get_chair(session, chair_id)
    if not chair.active:
        raise ChairError("该主席已停用，请先启用后再生成绑定码。")
    await _revoke_codes(session, now, chair_id)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = now + timedelta(hours=ctx.settings.chairs.bind_code_ttl_hours)
    session.add(ChairBindCode(chair_id=chair_id, code_hash=_hash(code), created_at=now, expires_at=expires))
    await session.flush()
    return code, expires


class BindRefused(ChairError):
    """The code was not accepted. The refused attempt is already added to the session (it
    counts toward the per-account limit): the caller commits its transaction anyway."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status  # wrong | expired | used | throttled


@dataclass
class BindResult:
    chair: Chair
    already: bool = False  # the account was bound to this chair with this code before


def _bind_refusal(ctx: OpsContext, status: str, attempts_left: int = 0) -> BindRefused:
    call = ctx.settings.office.call_line()
    throttled = f"尝试次数太多了，请一小时后再试，或直接{call}。"
    text = {
        "wrong": (f"绑定码不对，请核对后重新发送（还可以再试{attempts_left}次）。" if attempts_left
                  else "绑定码不对。" + throttled),
        "expired": f"这个绑定码已失效，请{call}重新获取。",
        "used": f"这个绑定码已经用过了。如需重新绑定，请{call}获取新的绑定码。",
        "throttled": throttled,
    }[status]
    return BindRefused(text, status)


async def bind(session: AsyncSession, ctx: OpsContext, openid: str, code: str) -> BindResult:
    """Link `openid` to the chair whose code this is. Wrong codes count toward a per-openid limit;
    a refused code raises `BindRefused` (see there: the caller still commits)."""
    now = ctx.now
    limit = ctx.settings.chairs.bind_max_failures
    since = now - THROTTLE_WINDOW
    failures = await session.scalar(select(func.count()).select_from(ChairBindFailure).where(
        ChairBindFailure.openid == openid, ChairBindFailure.at > since)) or 0
    if failures >= limit:
        raise _bind_refusal(ctx, "throttled")
    row = await session.scalar(select(ChairBindCode).where(ChairBindCode.code_hash == _hash(code)))
    chair = await session.get(Chair, row.chair_id) if row is not None else None

    async def fail(status: str) -> BindRefused:
        await session.execute(delete(ChairBindFailure).where(ChairBindFailure.openid == openid,
                                                             ChairBindFailure.at <= since))
        session.add(ChairBindFailure(openid=openid, at=now))
        return _bind_refusal(ctx, status, max(limit - failures - 1, 0))

    if row is None or chair is None or not chair.active:
        raise await fail("wrong")
    if row.used_at is not None:
        if row.used_by == openid and chair.openid == openid:
            return BindResult(chair, already=True)
        raise await fail("used")
    if row.revoked_at is not None or row.expires_at <= now:
        raise await fail("expired")
    row.used_at = now
    row.used_by = openid
    # One chair per account: an account bound elsewhere moves to this chair.
    await session.execute(update(Chair).where(Chair.openid == openid, Chair.id != chair.id)
                          .values(openid=None, bound_at=None, updated_at=now))
    await session.flush()
    chair.openid = openid
    chair.bound_at = now
    chair.updated_at = now
    await session.execute(delete(ChairBindFailure).where(ChairBindFailure.openid == openid))
    return BindResult(chair)


async def chair_for_openid(session: AsyncSession, openid: str) -> Chair | None:
    return await session.scalar(select(Chair).where(Chair.openid == openid, Chair.active.is_(True)))


async def member_context(session: AsyncSession, openid: str) -> list[MemberFact]:
    """The worker is a bound chair: who, and their latest report (for staff in the inbox)."""
    chair = await chair_for_openid(session, openid)
    if chair is None:
        return []
    url = f"/admin/chairs/{chair.id}"
    latest = await session.scalar(select(ChairReport.quarter).where(ChairReport.chair_id == chair.id)
                                  .order_by(ChairReport.quarter.desc()).limit(1))
    reported = f"最近报送：{Quarter.parse(latest).label_zh}" if latest else "尚无报送记录"
    return [MemberFact("工会主席", f"{chair.name} · {chair.organisation}（{chair.community}）", url),
            MemberFact("季度报送", reported, url)]


async def bound_chairs(session: AsyncSession) -> dict[str, Chair]:
    """openid → the active chair bound to it (for other features, e.g. the quiz's chair column)."""
    rows = await session.scalars(select(Chair).where(Chair.openid.is_not(None), Chair.active.is_(True)))
    return {c.openid: c for c in rows.all() if c.openid}


# ---- reports ---------------------------------------------------------------------------------

def figure_problem(data: Mapping[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    """(a Chinese sentence, the fields involved) when the figures contradict each other."""
    e, u, w, h = (data.get(k) for k in FIGURES)
    if e is not None and u is not None and u > e:
        return f"已建会企业（{u}家）不能多于25人以上企业总数（{e}家）。", ("enterprises", "unionised")
    if u is not None and w is not None and w > u:
        return f"签订工资集体协议的企业（{w}家）不能多于已建会企业（{u}家）。", ("unionised", "wage_agreements")
    if u is not None and h is not None and h > u:
        return f"A级以上和谐企业（{h}家）不能多于已建会企业（{u}家）。", ("unionised", "harmonious")
    return None


def check_figures(data: Mapping[str, Any]) -> str | None:
    """A Chinese sentence when the figures contradict each other, else None."""
    problem = figure_problem(data)
    return problem[0] if problem else None


async def report_for(session: AsyncSession, chair_id: int, quarter: Quarter) -> ChairReport | None:
    return await session.scalar(select(ChairReport).where(
        ChairReport.chair_id == chair_id, ChairReport.quarter == quarter.label))


async def last_figures(session: AsyncSession, chair_id: int, before: Quarter) -> ChairReport | None:
    """The chair's latest report with figures from a quarter before `before` (to offer with 沿用)."""
    return await session.scalar(select(ChairReport).where(
        ChairReport.chair_id == chair_id, ChairReport.quarter < before.label, ChairReport.enterprises.is_not(None)
    ).order_by(ChairReport.quarter.desc()).limit(1))


@dataclass
class ReportStart:
    """How the 报送 dialogue begins for a chair."""
    quarter: Quarter
    mode: str  # new | correct (figures on file) | fill (received by other means, no figures) | late
    prefill: dict[str, Any] | None  # the report's values (correct, fill), or the last figures (new, late)


async def start_report(session: AsyncSession, ctx: OpsContext, chair: Chair) -> ReportStart:
    """The quarter the chair files now and how: a report on file may be corrected until the
    deadline (after it, ChairError); a first report after the deadline, or for a quarter
    already over, is late; earlier figures are offered with 沿用."""
    quarter, report = await reporting_quarter(session, ctx, chair)
    if report is not None:
        if ctx.now >= deadline_end(ctx, quarter):
            raise ChairError(f"{chair.name}主席您好，您{quarter.label_zh}的报送我们已经收到，谢谢！"
                             f"报送已于{format_day(deadline_of(ctx, quarter))}截止，不能再修改；"
                             f"如需更正请{ctx.settings.office.call_line()}。")
        return ReportStart(quarter, "correct" if report.enterprises is not None else "fill",
                           {k: getattr(report, k) for k in REPORT_FIELDS})
    last = await last_figures(session, chair.id, quarter)
    late = quarter < current_quarter(ctx) or ctx.now >= deadline_end(ctx, quarter)
    return ReportStart(quarter, "late" if late else "new",
                       {k: getattr(last, k) for k in FIGURES} if last is not None else None)


async def submit_report(session: AsyncSession, ctx: OpsContext, chair: Chair, quarter: Quarter,
                        data: Mapping[str, Any]) -> tuple[ChairReport, bool]:
    """Store the chair's report for `quarter`; returns (report, corrected).

    One report per quarter: a second submission corrects the first, allowed
    until the deadline. A first report after the deadline is accepted as late.
    """
    problem = check_figures(data)
    if problem:
        raise ChairError(problem)
    now = ctx.now
    end = deadline_end(ctx, quarter)
    report = await report_for(session, chair.id, quarter)
    corrected = report is not None
    if report is not None and now >= end:
        raise ChairError(f"{quarter.label_zh}的报送已于{format_day(deadline_of(ctx, quarter))}截止，"
                         f"截止后不能再修改了。如需更正，请{ctx.settings.office.call_line()}。")
    if report is None:
        report = ChairReport(chair_id=chair.id, quarter=quarter.label, submitted_at=now, on_time=now < end)
        session.add(report)
    for k in REPORT_FIELDS:
        setattr(report, k, data.get(k))
    report.channel = "wechat"
    report.updated_at = now
    await cancel_pending_reminders(session, ctx, chair.id, quarter)
    await session.flush()
    return report, corrected


async def mark_received(session: AsyncSession, ctx: OpsContext, chair_id: int, quarter: Quarter,
                        note: str = "") -> ChairReport:
    """Staff (`ctx.staff_id`) record a report received by other means (paper, e-mail): the chair
    counts as reported."""
    chair = await get_chair(session, chair_id)
    report = await report_for(session, chair.id, quarter)
    if report is not None:
        raise ChairError(f"{chair.name}的{quarter.label_zh}报送已经收到，无需重复登记。")
    now = ctx.now
    report = ChairReport(chair_id=chair.id, quarter=quarter.label, channel="other", submitted_at=now,
                         updated_at=now, on_time=now < deadline_end(ctx, quarter), received_by=ctx.staff_id,
                         note=note.strip() or None)
    session.add(report)
    await cancel_pending_reminders(session, ctx, chair.id, quarter)
    await session.flush()
    return report


async def undo_received(session: AsyncSession, ctx: OpsContext, chair_id: int, quarter: Quarter) -> ChairReport:
    """更正 a mistaken 登记已收到: the report staff recorded (paper, e-mail) is removed and the
    unit counts as not reported again; the removed row is returned (for the audit).

    Only a receipt staff recorded, whose figures the chair hasn't filled in since on WeChat
    (then it is the chair's report: correcting it is the chair's, or a phone call). Nothing was
    sent to the chair when the receipt was recorded, so nothing is sent now; reminders the
    receipt cancelled stay cancelled, the quarter's later reminders go out as usual."""
    chair = await get_chair(session, chair_id)
    report = await report_for(session, chair.id, quarter)
    if report is None:
        raise ChairError(f"{chair.organisation}{quarter.label_zh}的报送没有登记过，无需撤销。")
    if report.channel != "other":
        raise ChairError(f"{chair.organisation}{quarter.label_zh}的报送是{chair.name}主席在微信上填报的，"
                         "不能在这里撤销。")
    await session.delete(report)
    await session.flush()
    return report


REVEAL_ACTION = "chairs.reveal_mobile"
REVEAL_FOR = timedelta(minutes=30)  # the chair's page shows the number this long after the audited 查看


async def revealed_recently(session: AsyncSession, ctx: OpsContext, chair_id: int) -> bool:
    """Did this staff member reveal the chair's mobile number lately (its audit row)? The page
    shows it again on a refresh without a new reveal (and a new audit row)."""
    if ctx.staff_id is None:
        return False
    found = await session.scalar(select(AuditLog.id).where(
        AuditLog.staff_id == ctx.staff_id, AuditLog.action == REVEAL_ACTION, AuditLog.target == f"chair:{chair_id}",
        AuditLog.refused.is_(False), AuditLog.at > ctx.now - REVEAL_FOR).limit(1))
    return found is not None


async def cancel_pending_reminders(session: AsyncSession, ctx: OpsContext, chair_id: int, quarter: Quarter
                                   ) -> int:
    """Reminders of `quarter` still waiting in the outbox (e.g. for a retry) will not go out:
    they become `cancelled`, in the transaction that stores the report. Returns how many."""
    keys = [reminder_key(quarter, chair_id, s.name) for s in ladder(ctx, quarter)]
    return await outbox.cancel_pending(session, keys, CANCELLED_NOTE)


