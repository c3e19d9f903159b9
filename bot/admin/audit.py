"""The staff audit log: every staff action is recorded through `record`."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.core import AuditLog


async def record(
    session: AsyncSession,
    *,
    staff_id: int | None,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    now: datetime,
) -> AuditLog:
    """Add one audit row to `session` (the caller commits with its own change)."""
    row = AuditLog(at=now, staff_id=staff_id, action=action[:64], target=str(target)[:128], detail=detail or {})
    session.add(row)
    await session.flush()
    return row
