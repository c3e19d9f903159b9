"""Operations of the chairs feature: registry, binding, reports, reminders.

Plain async functions taking a session, `now` (aware UTC) and the settings;
the bot handlers, the admin pages, the CLI and the scheduled job all call
these. Nothing here commits: the caller owns the transaction.
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import Settings
from bot.core.forms import Invalid
from bot.core.validators import parse_mobile, parse_name
from bot.db.models.chairs import Chair, ChairBindCode, ChairBindFailure, ChairReminder, ChairReport
from bot.db.models.core import Outbox
from scheduler.calendar import Quarter, Stage, calendar_warning, deadline_date, format_day, stages

log = logging.getLogger("unionbot.chairs")

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 6
THROTTLE_WINDOW = timedelta(hours=1)
REMINDER_PURPOSE = "chairs.reminder"
ESCALATION_PURPOSE = "chairs.escalation"
TEMPLATE_KIND = "chair_reminder"
FIGURES = ("enterprises", "unionised", "wage_agreements", "harmonious")
# The street's three assessment indicators: (label, numerator, denominator, target).
INDICATORS = (
    ("建会率", "unionised", "enterprises", 0.95),
    ("工资集体协商签约率", "wage_agreements", "unionised", 0.90),
    ("A级以上和谐企业占比", "harmonious", "unionised", 0.40),
)


class ChairError(Exception):
    """A rule was broken; the message is Chinese, for staff or the chair."""


# ---- time helpers ---------------------------------------------------------------------------

def local_date(settings: Settings, now: datetime) -> date:
    return now.astimezone(ZoneInfo(settings.scheduler.timezone)).date()


def current_quarter(settings: Settings, now: datetime) -> Quarter:
    return Quarter.of(local_date(settings, now))


def deadline_of(settings: Settings, quarter: Quarter) -> date:
    return deadline_date(quarter, settings.chairs.deadline_day)


def deadline_end(settings: Settings, quarter: Quarter) -> datetime:
    """The last instant a report counts as on time: the end of the deadline day (local)."""
    d = deadline_of(settings, quarter) + timedelta(days=1)
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(settings.scheduler.timezone))


def ladder(settings: Settings, quarter: Quarter) -> list[Stage]:
    c = settings.chairs
    return stages(quarter, deadline_day=c.deadline_day, remind_before=c.remind_before,
                  escalate_after=c.escalate_after, notice_after=c.notice_after, remind_hour=c.remind_hour,
                  tz=settings.scheduler.timezone)


def next_deadline_line(settings: Settings, now: datetime) -> str:
    """One sentence naming the next deadline still ahead (for every chair reply)."""
    q = current_quarter(settings, now)
    if now >= deadline_end(settings, q):
        q = q.next()
    return f"{q.label_zh}信息报送截止：{format_day(deadline_of(settings, q))}。"


# ---- registry ---------------------------------------------------------------------------------

def _clean(value: Any, label: str, max_len: int) -> str:
    text = str(value or "").strip()
    if not text:
        raise ChairError(f"{label}不能为空")
    if len(text) > max_len:
        raise ChairError(f"{label}太长（最多{max_len}字）")
    return text


def validate_chair(name: Any, organisation: Any, community: Any, mobile: Any) -> dict[str, str]:
    """Check one chair's fields; raises ChairError with a Chinese message."""
    try:
        clean_name = parse_name(str(name or ""))
    except Invalid:
        raise ChairError("姓名应为2–20个字、不含数字") from None
    try:
        clean_mobile = parse_mobile(str(mobile or "").split(".")[0])  # XLSX may give 13800138000.0
    except Invalid:
        raise ChairError(f"手机号“{mobile or ''}”不是11位手机号码") from None
    return {"name": clean_name, "organisation": _clean(organisation, "单位", 128),
            "community": _clean(community, "社区", 64), "mobile": clean_mobile}


async def add_chair(session: AsyncSession, now: datetime, *, name: Any, organisation: Any, community: Any,
                    mobile: Any) -> Chair:
    fields = validate_chair(name, organisation, community, mobile)
    if await session.scalar(select(Chair.id).where(Chair.mobile == fields["mobile"])):
        raise ChairError(f"手机号 {fields['mobile']} 已登记过")
    chair = Chair(**fields, active=True, created_at=now, updated_at=now)
    session.add(chair)
    await session.flush()
    return chair


async def update_chair(session: AsyncSession, now: datetime, chair_id: int, *, name: Any, organisation: Any,
                       community: Any, mobile: Any) -> Chair:
    chair = await get_chair(session, chair_id)
    fields = validate_chair(name, organisation, community, mobile)
    other = await session.scalar(select(Chair.id).where(Chair.mobile == fields["mobile"], Chair.id != chair_id))
    if other:
        raise ChairError(f"手机号 {fields['mobile']} 已被另一位主席使用")
    for k, v in fields.items():
        setattr(chair, k, v)
    chair.updated_at = now
    return chair


async def set_active(session: AsyncSession, now: datetime, chair_id: int, active: bool) -> Chair:
    """Deactivate (no reminders, no reports) or reactivate a chair. Deactivating unbinds the account."""
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
        raise ChairError("没有这位主席")
    return chair


HEADERS = {
    "name": ("name", "姓名", "主席", "主席姓名"),
    "organisation": ("organisation", "organization", "单位", "工会", "基层工会", "单位名称"),
    "community": ("community", "社区", "所属社区"),
    "mobile": ("mobile", "phone", "手机", "手机号", "电话", "联系电话"),
}


def read_chair_file(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file as (line number, fields).

    The first row is the header: name, organisation, community, mobile (or 姓名, 单位, 社区, 手机).
    """
    p = Path(path)
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(p, read_only=True, data_only=True)
        raw = [["" if c is None else str(c) for c in row] for row in wb.active.iter_rows(values_only=True)]
        wb.close()
    else:
        text = p.read_bytes().decode("utf-8-sig")
        raw = list(csv.reader(io.StringIO(text)))
    if not raw:
        raise ChairError("文件是空的")
    header = [h.strip().lower() for h in raw[0]]
    cols: dict[str, int] = {}
    for key, names in HEADERS.items():
        for i, h in enumerate(header):
            if h in names:
                cols[key] = i
                break
        else:
            raise ChairError(f"第1行缺少“{HEADERS[key][1]}”（{key}）列")
    out = []
    for n, row in enumerate(raw[1:], start=2):
        if not any(str(c).strip() for c in row):
            continue
        out.append((n, {k: (row[i].strip() if i < len(row) else "") for k, i in cols.items()}))
    return out


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


async def import_chairs(session: AsyncSession, now: datetime, rows: Sequence[tuple[int, Mapping[str, Any]]]
                        ) -> ImportResult:
    """Add or update (matched by mobile) every row, or nothing at all when any row is wrong."""
    result = ImportResult()
    clean: list[tuple[int, dict[str, str]]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            fields = validate_chair(row.get("name"), row.get("organisation"), row.get("community"), row.get("mobile"))
        except ChairError as exc:
            result.errors.append((line, str(exc)))
            continue
        if fields["mobile"] in seen:
            result.errors.append((line, f"手机号 {fields['mobile']} 与第{seen[fields['mobile']]}行重复"))
            continue
        seen[fields["mobile"]] = line
        clean.append((line, fields))
    if result.errors:
        return result
    existing = {c.mobile: c for c in (await session.scalars(
        select(Chair).where(Chair.mobile.in_(list(seen))))).all()}
    for _line, fields in clean:
        chair = existing.get(fields["mobile"])
        if chair is None:
            session.add(Chair(**fields, active=True, created_at=now, updated_at=now))
            result.added += 1
        else:
            for k, v in fields.items():
                setattr(chair, k, v)
            chair.updated_at = now
            result.updated += 1
    await session.flush()
    return result


# ---- binding ---------------------------------------------------------------------------------

def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def _revoke_codes(session: AsyncSession, now: datetime, chair_id: int) -> None:
    await session.execute(update(ChairBindCode).where(
        ChairBindCode.chair_id == chair_id, ChairBindCode.used_at.is_(None), ChairBindCode.revoked_at.is_(None),
    ).values(revoked_at=now))


async def issue_bind_code(session: AsyncSession, now: datetime, settings: Settings, chair_id: int) -> tuple[str, datetime]:
    """A new one-time code for the chair (earlier unused codes stop working); returns (code, expires_at)."""
    chair = await get_chair(session, chair_id)
    if not chair.active:
        raise ChairError("该主席已停用，请先启用")
    await _revoke_codes(session, now, chair_id)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = now + timedelta(hours=settings.chairs.bind_code_ttl_hours)
    session.add(ChairBindCode(chair_id=chair_id, code_hash=_hash(code), created_at=now, expires_at=expires))
    await session.flush()
    return code, expires


@dataclass
class BindResult:
    status: str  # ok | already | wrong | expired | used | throttled
    chair: Chair | None = None
    attempts_left: int = 0


async def bind(session: AsyncSession, now: datetime, settings: Settings, openid: str, code: str) -> BindResult:
    """Link `openid` to the chair whose code this is. Wrong codes count toward a per-openid limit."""
    limit = settings.chairs.bind_max_failures
    since = now - THROTTLE_WINDOW
    failures = await session.scalar(select(func.count()).select_from(ChairBindFailure).where(
        ChairBindFailure.openid == openid, ChairBindFailure.at > since)) or 0
    if failures >= limit:
        return BindResult("throttled")
    row = await session.scalar(select(ChairBindCode).where(ChairBindCode.code_hash == _hash(code)))
    chair = await session.get(Chair, row.chair_id) if row is not None else None

    async def fail(status: str) -> BindResult:
        session.add(ChairBindFailure(openid=openid, at=now))
        return BindResult(status, chair, max(limit - failures - 1, 0))

    if row is None or chair is None or not chair.active:
        return await fail("wrong")
    if row.used_at is not None:
        if row.used_by == openid and chair.openid == openid:
            return BindResult("already", chair)
        return await fail("used")
    if row.revoked_at is not None or row.expires_at <= now:
        return await fail("expired")
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
    return BindResult("ok", chair)


async def chair_for_openid(session: AsyncSession, openid: str) -> Chair | None:
    return await session.scalar(select(Chair).where(Chair.openid == openid, Chair.active.is_(True)))


# ---- reports ---------------------------------------------------------------------------------

def check_figures(data: Mapping[str, Any]) -> str | None:
    """A Chinese sentence when the figures contradict each other, else None."""
    e, u, w, h = (data.get(k) for k in FIGURES)
    if e is not None and u is not None and u > e:
        return f"已建会企业（{u}家）不能多于25人以上企业总数（{e}家）。"
    if u is not None and w is not None and w > u:
        return f"签订工资集体协议的企业（{w}家）不能多于已建会企业（{u}家）。"
    if u is not None and h is not None and h > u:
        return f"A级以上和谐企业（{h}家）不能多于已建会企业（{u}家）。"
    return None


async def report_for(session: AsyncSession, chair_id: int, quarter: Quarter) -> ChairReport | None:
    return await session.scalar(select(ChairReport).where(
        ChairReport.chair_id == chair_id, ChairReport.quarter == quarter.label))


async def submit_report(session: AsyncSession, now: datetime, settings: Settings, chair: Chair, quarter: Quarter,
                        data: Mapping[str, Any]) -> tuple[ChairReport, bool]:
    """Store the chair's report for `quarter`; returns (report, corrected).

    One report per quarter: a second submission corrects the first, allowed
    until the deadline. A first report after the deadline is accepted as late.
    """
    problem = check_figures(data)
    if problem:
        raise ChairError(problem)
    end = deadline_end(settings, quarter)
    report = await report_for(session, chair.id, quarter)
    corrected = report is not None
    if report is not None and now >= end:
        raise ChairError(f"{quarter.label_zh}的报送已于{format_day(deadline_of(settings, quarter))}截止，"
                         "截止后不能再修改了。如需更正，请联系街道总工会。")
    if report is None:
        report = ChairReport(chair_id=chair.id, quarter=quarter.label, submitted_at=now, on_time=now < end)
        session.add(report)
    for k in (*FIGURES, "visits", "problems", "summary"):
        setattr(report, k, data.get(k))
    report.channel = "wechat"
    report.updated_at = now
    await session.flush()
    return report, corrected


async def mark_received(session: AsyncSession, now: datetime, settings: Settings, chair_id: int, quarter: Quarter,
                        staff_id: int | None, note: str = "") -> ChairReport:
    """Staff record a report received by other means (paper, e-mail): the chair counts as reported."""
    chair = await get_chair(session, chair_id)
    report = await report_for(session, chair.id, quarter)
    if report is not None:
        raise ChairError(f"{chair.name}的{quarter.label_zh}报送已经收到，无需重复登记")
    report = ChairReport(chair_id=chair.id, quarter=quarter.label, channel="other", submitted_at=now,
                         updated_at=now, on_time=now < deadline_end(settings, quarter), received_by=staff_id,
                         note=note.strip() or None)
    session.add(report)
    await session.flush()
    return report


# ---- reminders --------------------------------------------------------------------------------

def _chair_text(chair: Chair, quarter: Quarter, stage: Stage, deadline: date) -> tuple[str, dict[str, Any]]:
    """The customer-service text and template data of one reminder."""
    when = format_day(deadline)
    if stage.offset < 0:
        left = "明天就要截止了" if stage.offset == -1 else f"还有{-stage.offset}个工作日截止"
        text = (f"{chair.name}主席您好！{quarter.label_zh}信息报送将于{when}截止，{left}。"
                "直接回复「报送」就能在这里填写，谢谢您的支持！")
        remark = "回复「报送」即可填写"
    else:
        text = (f"{chair.name}主席您好！{quarter.label_zh}信息报送已于{when}截止，我们还没有收到贵单位的报送。"
                "请尽快回复「报送」补报；如有困难，请联系街道总工会。")
        remark = "已逾期，请尽快补报"
    data = {"first": f"{quarter.label_zh}信息报送提醒", "keyword1": chair.organisation,
            "keyword2": f"{quarter.label_zh}信息报送", "keyword3": when, "remark": remark}
    return text, data


def reminder_key(quarter: Quarter, chair_id: int, stage: str) -> str:
    return f"chairs:{quarter.label}:chair{chair_id}:{stage}"


@dataclass
class ReminderRun:
    queued: int = 0
    skipped: int = 0
    unbound: int = 0
    listed: int = 0
    staff: int = 0
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"queued={self.queued} skipped={self.skipped} unbound={self.unbound} "
                f"listed={self.listed} staff={self.staff}")


async def run_reminders(session: AsyncSession, now: datetime, settings: Settings) -> ReminderRun:
    """Queue every reminder that is due and not yet recorded (current and previous quarter).

    Idempotent: each (chair, quarter, stage) is recorded once in ChairReminder
    and each message has a unique outbox key. A stage found more than
    `max_lateness_hours` late is recorded as skipped, not sent. Chairs who have
    reported, were deactivated, or were registered after a stage get nothing.
    """
    run = ReminderRun()
    lateness = timedelta(hours=settings.chairs.max_lateness_hours)
    today = local_date(settings, now)
    chairs = list((await session.scalars(select(Chair).where(Chair.active.is_(True)).order_by(Chair.id))).all())
    cur = Quarter.of(today)
    for quarter in (cur.prev(), cur):
        warning = calendar_warning(quarter.year)
        if warning and warning not in run.warnings:
            run.warnings.append(warning)
        reported = set((await session.scalars(select(ChairReport.chair_id).where(
            ChairReport.quarter == quarter.label))).all())
        done = set((await session.execute(select(ChairReminder.chair_id, ChairReminder.stage).where(
            ChairReminder.quarter == quarter.label))).all())
        deadline = deadline_of(settings, quarter)
        for stage in ladder(settings, quarter):
            if stage.due_at > now:
                continue
            stale = now - stage.due_at > lateness
            missing: list[Chair] = []
            for chair in chairs:
                if chair.id in reported or chair.created_at > stage.due_at:
                    continue
                missing.append(chair)
                if (chair.id, stage.name) in done:
                    continue
                rec = ChairReminder(chair_id=chair.id, quarter=quarter.label, stage=stage.name,
                                    due_at=stage.due_at, created_at=now)
                if stage.to_chair and not stale and chair.openid:
                    key = reminder_key(quarter, chair.id, stage.name)
                    text, data = _chair_text(chair, quarter, stage, deadline)
                    await outbox.enqueue(session, key=key, openid=chair.openid, now=now, text=text,
                                         purpose=REMINDER_PURPOSE, template={"kind": TEMPLATE_KIND, "data": data})
                    rec.status, rec.outbox_key = "queued", key
                    run.queued += 1
                elif stage.to_chair and not stale:
                    rec.status, rec.note = "unbound", "未绑定微信，请电话通知"
                    run.unbound += 1
                elif stage.to_chair:
                    rec.status = "skipped"
                    rec.note = f"服务停机，提醒晚了{int((now - stage.due_at).total_seconds() // 3600)}小时，未补发"
                    run.skipped += 1
                if stage.listing:
                    if rec.status is None:
                        rec.status = "listed"
                    rec.note = ((rec.note + "；") if rec.note else "") + "已列入通报名单"
                    run.listed += 1
                session.add(rec)
            if stage.to_staff and missing and not stale:
                run.staff += await _escalate_to_staff(session, now, settings, quarter, stage, deadline, missing)
    await session.flush()
    return run


async def _escalate_to_staff(session: AsyncSession, now: datetime, settings: Settings, quarter: Quarter,
                             stage: Stage, deadline: date, missing: list[Chair]) -> int:
    names = "、".join(f"{c.organisation}（{c.name}）" for c in missing[:20])
    more = f"等{len(missing)}家" if len(missing) > 20 else f"共{len(missing)}家"
    text = (f"{quarter.label_zh}信息报送已于{format_day(deadline)}截止，尚未报送的单位：{names}，{more}。"
            "详情请在管理后台「主席报送」查看。")
    data = {"first": f"{quarter.label_zh}信息报送逾期提醒", "keyword1": "街道总工会",
            "keyword2": f"{quarter.label_zh}信息报送", "keyword3": format_day(deadline),
            "remark": f"尚未报送{len(missing)}家"}
    n = 0
    for openid in settings.chairs.staff_openids:
        row = await outbox.enqueue(session, key=f"chairs:{quarter.label}:{stage.name}:staff:{openid}", openid=openid,
                                   now=now, text=text, purpose=ESCALATION_PURPOSE,
                                   template={"kind": TEMPLATE_KIND, "data": data})
        n += row is not None
    return n


# ---- staff views -------------------------------------------------------------------------------

@dataclass
class GridRow:
    chair: Chair
    report: ChairReport | None
    status: str  # on_time | late | missing | pending | other
    reminders: list[ChairReminder]
    outbox: dict[str, Outbox]
    listed: bool
    unreachable: bool
    failed: bool

    @property
    def sent(self) -> int:
        return sum(1 for r in self.reminders if r.status == "queued")


async def quarter_grid(session: AsyncSession, now: datetime, settings: Settings, quarter: Quarter,
                       community: str | None = None, only_missing: bool = False) -> list[GridRow]:
    """Every chair (active, or with a report this quarter) with the quarter's report status and reminders."""
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
    boxes = {o.key: o for o in (await session.scalars(select(Outbox).where(Outbox.key.in_(keys))))} if keys else {}
    past = now >= deadline_end(settings, quarter)
    listing = {s.name for s in ladder(settings, quarter) if s.listing}
    rows = []
    for chair in chairs:
        report = reports.get(chair.id)
        if not chair.active and report is None:
            continue
        if report is not None:
            status = "on_time" if report.on_time else "late"
        else:
            status = "missing" if past else "pending"
        if only_missing and report is not None:
            continue
        mine = rems.get(chair.id, [])
        ob = {r.outbox_key: boxes[r.outbox_key] for r in mine if r.outbox_key in boxes}
        unreachable = any(r.status == "unbound" for r in mine) or any(o.status == "unreachable" for o in ob.values())
        failed = any(o.status == "failed" for o in ob.values())
        listed = any(r.stage in listing for r in mine)
        rows.append(GridRow(chair, report, status, mine, ob, listed, unreachable, failed))
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


async def latest_reports(session: AsyncSession, upto: Quarter) -> dict[int, ChairReport]:
    """Each chair's most recent report with figures, up to and including `upto`."""
    rows = (await session.scalars(select(ChairReport).where(
        ChairReport.quarter <= upto.label, ChairReport.enterprises.is_not(None)
    ).order_by(ChairReport.quarter))).all()
    return {r.chair_id: r for r in rows}


async def dashboard(session: AsyncSession, upto: Quarter, trend_quarters: int = 8) -> dict[str, Any]:
    """The three indicators from each chair's latest report, per community and overall, plus the trend."""
    chairs = {c.id: c for c in (await session.scalars(select(Chair))).all()}
    latest = await latest_reports(session, upto)
    overall = Totals()
    per: dict[str, Totals] = {}
    for chair_id, r in latest.items():
        chair = chairs.get(chair_id)
        if chair is None or not chair.active:
            continue
        overall.add(r)
        per.setdefault(chair.community, Totals()).add(r)
    quarters = [upto]
    while len(quarters) < trend_quarters:
        quarters.insert(0, quarters[0].prev())
    trend = []
    all_rows = (await session.scalars(select(ChairReport).where(
        ChairReport.quarter.in_([q.label for q in quarters]), ChairReport.enterprises.is_not(None)))).all()
    for q in quarters:
        t = Totals()
        for r in all_rows:
            if r.quarter == q.label:
                t.add(r)
        trend.append({"quarter": q, "totals": t, "indicators": t.indicators()})
    return {"overall": overall, "communities": sorted(per.items()), "trend": trend}


def quarters_with_data(values: Iterable[str]) -> list[Quarter]:
    return sorted({Quarter.parse(v) for v in values}, reverse=True)
