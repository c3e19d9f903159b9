"""The dialogue store: one row per (app id, openid), read fresh per message.

Read and written with Core statements built once (this runs for every
message; the ORM's unit of work cost more than the statements themselves).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Dialogue

_T = Dialogue.__table__
_LOAD = select(_T.c.state, _T.c.data, _T.c.version, _T.c.expires_at).where(
    _T.c.app_id == bindparam("app_id"), _T.c.openid == bindparam("openid"))
_LOAD_MANY = select(_T.c.openid, _T.c.state, _T.c.data, _T.c.version, _T.c.expires_at).where(
    _T.c.app_id == bindparam("app_id"), _T.c.openid.in_(bindparam("openids", expanding=True)))
_SAVE = {}
for _name, _ins in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert)):
    _stmt = _ins(_T)
    _SAVE[_name] = _stmt.on_conflict_do_update(
        index_elements=[_T.c.app_id, _T.c.openid],
        set_={"state": _stmt.excluded.state, "data": _stmt.excluded.data, "version": _T.c.version + 1,
              "updated_at": _stmt.excluded.updated_at, "expires_at": _stmt.excluded.expires_at})


class DialogueState:
    """The user's open dialogue plus drafts of flows they stepped away from.

    `state` names the step (e.g. `hardship:income`); `data` holds what the
    active flow collected. When another flow starts while one is open, the
    open one is kept as a draft (`drafts[flow]`) so nothing half-filled is
    lost; starting that flow again resumes it.
    """

    def __init__(self, row: Any, app_id: str, openid: str, now: datetime) -> None:
        self.app_id = app_id
        self.openid = openid
        self.now = now
        stored = (row.data if row is not None else None) or {}
        self.state: str | None = row.state if row is not None else None
        self.data: dict[str, Any] = dict(stored.get("d") or {})
        self.drafts: dict[str, dict[str, Any]] = dict(stored.get("drafts") or {})
        self.expires_at: datetime | None = row.expires_at if row is not None else None
        self.version = row.version if row is not None else 0
        self.expired_state: str | None = None
        self.expired_data: dict[str, Any] = {}
        self.dirty = False
        if self.state and self.expires_at is not None and self.expires_at <= now:
            self.expired_state, self.expired_data = self.state, self.data
            self.state, self.data, self.expires_at = None, {}, None
            self.dirty = True
        for flow in [f for f, d in self.drafts.items() if _expired(d, now)]:
            del self.drafts[flow]
            self.dirty = True

    @property
    def flow(self) -> str | None:
        return self.state.split(":", 1)[0] if self.state else None

    def set(self, state: str, data: dict[str, Any] | None = None, ttl: timedelta | None = None) -> None:
        """Enter `state`; a different open flow is stashed as a draft first."""
        new_flow = state.split(":", 1)[0]
        if self.state and self.flow != new_flow and self.data:
            self.drafts[self.flow] = {  # type: ignore[index]
                "state": self.state, "data": self.data,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            }
        self.state = state
        if data is not None:
            self.data = data
        if ttl is not None:
            self.expires_at = self.now + ttl
        self.dirty = True

    def clear(self, *, keep_drafts: bool = True) -> None:
        self.state, self.data, self.expires_at = None, {}, None
        if not keep_drafts:
            self.drafts = {}
        self.dirty = True

    def pop_draft(self, flow: str) -> dict[str, Any] | None:
        d = self.drafts.pop(flow, None)
        if d is not None:
            self.dirty = True
        return d

    def drop_draft(self, flow: str) -> None:
        if self.drafts.pop(flow, None) is not None:
            self.dirty = True

    def mark(self) -> None:
        """Call after mutating `data` in place."""
        self.dirty = True

    def _params(self) -> dict[str, Any]:
        return {"app_id": self.app_id, "openid": self.openid, "state": self.state,
                "data": {"d": self.data, "drafts": self.drafts}, "version": self.version + 1,
                "updated_at": self.now, "expires_at": self.expires_at}

    async def save(self, session: AsyncSession) -> None:
        await save_dialogues(session, [self])


def _expired(draft: dict[str, Any], now: datetime) -> bool:
    exp = draft.get("expires_at")
    return bool(exp) and datetime.fromisoformat(exp) <= now


async def save_dialogues(session: AsyncSession, states: list[DialogueState]) -> None:
    """Write every changed dialogue with one (executemany) statement."""
    dirty = [d for d in states if d.dirty]
    if not dirty:
        return
    conn = await session.connection()
    await conn.execute(_SAVE[conn.dialect.name], [d._params() for d in dirty])
    for d in dirty:
        d.version += 1
        d.dirty = False


async def load_dialogues(session: AsyncSession, app_id: str, openids: list[str],
                         now: datetime) -> dict[str, DialogueState]:
    """The dialogues of several users with one query."""
    conn = await session.connection()
    rows = {r.openid: r for r in await conn.execute(_LOAD_MANY, {"app_id": app_id, "openids": openids})}
    return {o: DialogueState(rows.get(o), app_id, o, now) for o in openids}


async def load_dialogue(session: AsyncSession, app_id: str, openid: str, now: datetime) -> DialogueState:
    conn = await session.connection()
    row = (await conn.execute(_LOAD, {"app_id": app_id, "openid": openid})).first()
    return DialogueState(row, app_id, openid, now)
