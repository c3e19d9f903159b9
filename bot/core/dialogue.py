"""The dialogue store: one row per (app id, openid), read fresh per message.

The rows are read and written in batches by the message writer (bot/db/hotpath.py);
this module holds what a handler sees of its dialogue.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


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
        # The row's version as read (None: no row yet). The writer saves the dialogue only if the
        # row is still at this version — an optimistic lock (bot/db/hotpath.py `save_dialogues`).
        self.version: int | None = row.version if row is not None else None
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
            self._keep_draft()
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

    def stash(self) -> str | None:
        """Put the open dialogue aside as a draft (even at its first step); returns its flow."""
        flow = self._keep_draft()
        if flow is None:
            return None
        self.clear()
        return flow

    def _keep_draft(self) -> str | None:
        """Copy the open dialogue into `drafts` under its flow; returns the flow."""
        flow = self.flow
        if flow is not None:
            self.drafts[flow] = {"state": self.state, "data": self.data,
                                 "expires_at": self.expires_at.isoformat() if self.expires_at else None}
        return flow

    def restore(self, flow: str) -> bool:
        """Make a draft the open dialogue again, exactly where it was."""
        d = self.pop_draft(flow)
        if d is None:
            return False
        self.state, self.data = d["state"], d["data"]
        self.expires_at = datetime.fromisoformat(d["expires_at"]) if d.get("expires_at") else None
        return True

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

    def saved(self) -> None:
        """The row was written (by the caller, with `params()`)."""
        self.version = (self.version or 0) + 1
        self.dirty = False

    def params(self) -> dict[str, Any]:
        """What to write; `expected` is the version the row must still have (None: no row)."""
        return {"app_id": self.app_id, "openid": self.openid, "state": self.state,
                "data": {"d": self.data, "drafts": self.drafts}, "expected": self.version,
                "updated_at": self.now, "expires_at": self.expires_at}


def _expired(draft: dict[str, Any], now: datetime) -> bool:
    exp = draft.get("expires_at")
    return bool(exp) and datetime.fromisoformat(exp) <= now
