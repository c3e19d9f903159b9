"""Values staff edit in the admin (the welcome, the 帮助 intro, the menu) and one-time markers,
kept in the `site_text` table by key; a missing row means "the built-in default"."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import dialect_insert
from bot.db.models.inbox import SiteText


async def get(session: AsyncSession, key: str) -> Any | None:
    """The stored value, or None."""
    return await session.scalar(select(SiteText.value).where(SiteText.key == key))


async def get_row(session: AsyncSession, key: str) -> SiteText | None:
    """The row (value, when and by whom it was last saved), or None."""
    return await session.scalar(select(SiteText).where(SiteText.key == key)
                                .execution_options(populate_existing=True))


async def put(session: AsyncSession, key: str, value: Any, *, now: datetime, staff_id: int | None = None) -> None:
    """Store `value` under `key` (insert or replace; two saves at once: the last one wins)."""
    insert = dialect_insert(session.get_bind().dialect.name)
    stmt = insert(SiteText).values(key=key, value=value, updated_at=now, updated_by=staff_id)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[SiteText.key],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at,
              "updated_by": stmt.excluded.updated_by}))


async def remove(session: AsyncSession, key: str) -> bool:
    """Back to the default; False when nothing was stored."""
    result = await session.execute(delete(SiteText).where(SiteText.key == key))
    return bool(result.rowcount)


async def insert_once(session: AsyncSession, key: str, value: Any, *, now: datetime) -> bool:
    """Store `key` unless it exists: True for exactly one of several processes doing this at once."""
    insert = dialect_insert(session.get_bind().dialect.name)
    stmt = (insert(SiteText).values(key=key, value=value, updated_at=now)
            .on_conflict_do_nothing(index_elements=[SiteText.key]).returning(SiteText.key))
    return (await session.execute(stmt)).scalar() is not None
