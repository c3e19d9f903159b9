"""Personal data of hardship requests: the retention clean-up and 删除我的信息.

Anonymising keeps the figures (type, household, income, tier, aid, dates) for
statistics and removes everything that names or reaches the worker: contact
details, ID number, description, staff messages, timeline texts and photos.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.core import Member
from bot.db.models.hardship import HardshipRequest
from handlers.hardship_ops import OPEN_STATUSES, _event

ANON_NAME = "（已匿名）"
# Finished without being closed by staff: the retention period runs from the last change.
FINISHED_UNCLOSED = ("rejected", "delivered")


def _anonymise(req: HardshipRequest, now: datetime, media_dir: Path | None) -> None:
    req.name = ANON_NAME
    req.phone = ""
    req.employer = ""
    req.id_number_enc = None
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


async def anonymise_expired(session: AsyncSession, *, now: datetime, retention_days: int,
                            media_dir: Path | None = None) -> int:
    """Anonymise finished requests past the retention period, and closed ones whose worker
    asked for deletion while they were open. The figures stay. Idempotent."""
    cutoff = now - timedelta(days=retention_days)
    rows = list(await session.scalars(select(HardshipRequest).where(
        HardshipRequest.anonymised_at.is_(None),
        or_(
            and_(HardshipRequest.status == "closed",
                 or_(HardshipRequest.closed_at <= cutoff, HardshipRequest.erase_requested_at.is_not(None))),
            and_(HardshipRequest.status.in_(FINISHED_UNCLOSED), HardshipRequest.updated_at <= cutoff),
        ))))
    for req in rows:
        _anonymise(req, now, media_dir)
    await session.flush()
    return len(rows)


async def erase_worker_data(session: AsyncSession, *, now: datetime, openid: str, member: Member | None,
                            media_dir: Path | None = None) -> list[HardshipRequest]:
    """删除我的信息: remove the profile and finished requests' personal data now.

    Open requests keep their own copy of the contact details (staff need them to
    finish) and are flagged, so staff see the wish; they are anonymised as soon as
    they are closed. Returns those open requests.
    """
    reqs = list(await session.scalars(select(HardshipRequest).where(HardshipRequest.openid == openid)))
    still_open = [r for r in reqs if r.status in OPEN_STATUSES]
    for req in reqs:
        if req.status in OPEN_STATUSES:
            if req.erase_requested_at is None:
                req.erase_requested_at = now
                _event(req, now, "erase_request", actor="worker")
        elif req.anonymised_at is None:
            _anonymise(req, now, media_dir)
    if member is not None:  # the profile only serves to prefill the next form
        member.name = member.phone = member.employer = None
    await session.flush()
    return still_open
