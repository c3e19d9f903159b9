"""Personal data of workers: the hardship retention clean-up and 删除我的信息.

Anonymising a hardship request keeps the figures (type, household, income, tier,
aid, dates) for statistics and removes everything that names or reaches the
worker: contact details, ID number, description, staff messages, timeline texts
and photos. 删除我的信息 does that for finished requests at once, empties the
profile and the sign-ups (`signup_ops.erase_member_signups`), and keeps only what
staff still need to finish something for the worker, until it is finished.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.core import Member
from bot.operations import OpsContext
from bot.db.models.hardship import HardshipRequest
from handlers.inbox import ops as inbox_ops
from handlers.signup import ops as signup_ops
from handlers.hardship.ops import FINISHED_STATUSES, OPEN_STATUSES, _event

ANON_NAME = "（已匿名）"
PROFILE_FIELDS = (("name", "姓名"), ("phone", "手机号"), ("employer", "工作单位"), ("community", "所在社区"))
# Half-filled dialogues (drafts) by flow, as the worker knows them.
DRAFT_LABELS = {"hardship": "未填完的帮扶申请", "signup": "未完成的报名", "chairs_report": "未填完的报送",
                "inbox": "未写完的留言", "inbox_photo": "还没转交给工作人员的照片"}


def _media_dir(ctx: OpsContext) -> Path | None:
    """Where fetched photos are stored (`ctx.services["media_dir"]`), to delete their files."""
    media_dir = ctx.services.get("media_dir")
    return Path(media_dir) if media_dir else None


def _anonymise(req: HardshipRequest, now: datetime, media_dir: Path | None) -> None:
    req.name = ANON_NAME
    req.phone = ""
    req.employer = ""
    req.id_number_enc = None
    req.id_number_masked = None
    req.description = ""
    req.openid = ""
    req.last_message = ""
    req.reject_reason = ""
    req.anonymised_at = now
    for ev in req.events:  # staff messages and worker texts may name people
        ev.text = ""
    for photo in req.photos:
        if photo.path and media_dir is not None:
            (media_dir / photo.path).unlink(missing_ok=True)
        photo.path = None
        photo.media_id = ""
        photo.status = "deleted"
    _event(req, now, "anonymise", actor="system", internal=True)


async def anonymise_expired(session: AsyncSession, ctx: OpsContext) -> int:
    """Anonymise finished requests (rejected, delivered or closed) past the retention period
    (`[hardship] retention_days`), and finished ones whose worker asked for deletion while they
    were open. The figures stay. Idempotent.

    The period runs from the closing, or for a request left rejected or delivered, from its
    last change."""
    now = ctx.now
    media_dir = _media_dir(ctx)
    cutoff = now - timedelta(days=ctx.settings.hardship.retention_days)
    rows = list(await session.scalars(select(HardshipRequest).where(
        HardshipRequest.anonymised_at.is_(None),
        HardshipRequest.status.in_(FINISHED_STATUSES),
        or_(HardshipRequest.erase_requested_at.is_not(None),
            func.coalesce(HardshipRequest.closed_at, HardshipRequest.updated_at) <= cutoff),
    ).order_by(HardshipRequest.id)))
    for req in rows:
        _anonymise(req, now, media_dir)
    await session.flush()
    return len(rows)


# --- 删除我的信息 -------------------------------------------------------------------------

@dataclass
class ErasureResult:
    """What 删除我的信息 removed and what it kept (and why): the reply is composed from it."""

    profile: list[str] = field(default_factory=list)  # profile fields that held something: 姓名, 手机号 …
    drafts: list[str] = field(default_factory=list)  # half-filled dialogues thrown away
    requests_anonymised: list[str] = field(default_factory=list)  # finished hardship requests (refs)
    requests_kept: list[str] = field(default_factory=list)  # open ones: until they are finished
    signups_erased: int = 0  # past or cancelled sign-ups emptied now
    signups_kept: list[tuple[str, datetime]] = field(default_factory=list)  # (title, start) until it is over
    conversations_erased: int = 0  # conversations with staff (留言咨询), deleted now
    conversation_photos: int = 0  # photos the worker had sent in them


async def erase_worker_data(session: AsyncSession, ctx: OpsContext, *, openid: str, member: Member | None,
                            drafts: Sequence[str] = ()) -> ErasureResult:
    """删除我的信息: remove the profile, finished requests' and past sign-ups' personal data now.

    Open requests keep their own copy of the contact details (staff need them to
    finish) and are flagged, so staff see the wish; they are anonymised by the
    retention job once they reach any final state. Upcoming sign-ups keep theirs
    until the activity is over (`signup_ops.erase_pending_signups`). `drafts` are
    the flows of half-filled dialogues the caller threw away.
    """
    now = ctx.now
    media_dir = _media_dir(ctx)
    result = ErasureResult(drafts=[DRAFT_LABELS.get(f, "未填完的表单") for f in drafts])
    reqs = list(await session.scalars(
        select(HardshipRequest).where(HardshipRequest.openid == openid).order_by(HardshipRequest.id)))
    for req in reqs:
        if req.status in OPEN_STATUSES:
            if req.erase_requested_at is None:
                req.erase_requested_at = now
                _event(req, now, "erase_request", actor="worker")
            result.requests_kept.append(req.ref)
        elif req.anonymised_at is None:
            _anonymise(req, now, media_dir)
            result.requests_anonymised.append(req.ref)
    if member is not None:  # the profile only serves to prefill the next form
        result.profile = [label for attr, label in PROFILE_FIELDS if getattr(member, attr)]
        member.name = member.phone = member.employer = member.community = None
        if member.id is not None:
            signups = await signup_ops.erase_member_signups(session, ctx, member.id)
            result.signups_erased = signups.erased
            result.signups_kept = [(act.title, act.starts_at) for _, act in signups.kept]
    result.conversations_erased, result.conversation_photos = await inbox_ops.erase_member_threads(
        session, ctx, openid)
    await session.flush()
    return result


def _day(dt: datetime, ctx: OpsContext) -> str:
    d = ctx.local(dt)
    return f"{d.month}月{d.day}日"


def erasure_reply(result: ErasureResult, ctx: OpsContext) -> str:
    """The worker's answer to 确认删除: exactly what was removed, what is kept and why."""
    removed: list[str] = []
    if result.profile:
        removed.append("、".join(result.profile))
    removed.extend(result.drafts)
    if result.requests_anonymised:
        removed.append(f"帮扶申请 {'、'.join(result.requests_anonymised)} 中的个人信息和证明材料照片")
    if result.signups_erased:
        removed.append(f"{result.signups_erased}条已结束或已取消的报名记录中的姓名、手机号、工作单位")
    if result.conversations_erased:
        photos = f"（含{result.conversation_photos}张照片）" if result.conversation_photos else ""
        removed.append(f"您和工作人员的{result.conversations_erased}次留言咨询记录{photos}")

    kept: list[str] = []
    if result.requests_kept:
        kept.append(f"帮扶申请 {'、'.join(result.requests_kept)} 还在办理，其中的联系方式和材料要用来联系您、"
                    "完成办理，办结后自动删除，工作人员已收到您的删除要求")
    if result.signups_kept:
        acts = "、".join(f"「{title}」（{_day(start, ctx)}）" for title, start in result.signups_kept)
        kept.append(f"{acts}的报名信息，活动有变动时要通知您、到场时要核对名单，活动结束后自动删除；"
                    "不想参加了可以回复「我的报名」取消")

    if not removed and not kept:
        return "您在这里没有留下需要删除的个人信息。今后如需帮扶或参加活动，欢迎随时再来。"
    lines = ["已删除您的个人信息：" + "；".join(removed) + "。"] if removed else ["目前没有可以马上删除的个人信息。"]
    if kept:
        lines.append("暂时保留：" + "；".join(kept) + "。")
    if result.requests_anonymised or result.requests_kept or result.signups_erased or result.signups_kept:
        lines.append("申请和活动的统计数字会保留，其中不含您的姓名、电话等个人信息。")
    lines.append(f"如有疑问，欢迎{ctx.settings.office.call_line()}。")
    return "\n".join(lines)
