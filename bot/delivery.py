"""The delivery loop: sends outbox rows through the WeChat API.

A row is claimed first (status `sending`, `claimed_until` a minute ahead) in
its own committed transaction — `FOR UPDATE SKIP LOCKED` on PostgreSQL, the
database write lock on SQLite — so two loops, in one process or several, never
send the same row. A worker that dies leaves `sending` rows whose claim runs
out; the next run takes them again.

WeChat's push rules, decided per row at send time from the Member row:
- customer-service message inside a window the user opened: 5 messages within
  48 h of their last message, or 3 within 60 s of a click, follow or scan;
- outside it, a template message (client_msg_id = the outbox key, so WeChat
  drops a repeat) when the payload names a template kind configured in
  `wechat.templates`;
- otherwise `unreachable`, for staff to phone instead.

A customer-service send is one message: the news articles when the payload has
them, else the text. Delivery is at least once: a worker that dies between the
send and the record leaves a row that is sent again (templates are then
dropped by WeChat through client_msg_id).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.db.models import Member, Outbox
from bot.wechat.api import WeChatAPI, WeChatError

log = logging.getLogger("unionbot.delivery")

CLAIM = timedelta(seconds=60)
MSG_WINDOW, MSG_WINDOW_LIMIT = timedelta(hours=48), 5
EVT_WINDOW, EVT_WINDOW_LIMIT = timedelta(seconds=60), 3
# Customer-service send refused because the user's window is closed or used up,
# or because the user no longer follows the account.
WINDOW_ERRORS = frozenset({45015, 45047, 43004})
UNFOLLOWED = 43004


@dataclass
class _Result:
    status: str  # sent | simulated | pending (retry) | failed | unreachable
    via: str | None = None
    error: str | None = None


class Delivery:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock,
                 api: WeChatAPI | None) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.api = api
        self.offline = settings.wechat.offline or api is None
        self._wake = asyncio.Event()

    # ---- loop ----------------------------------------------------------------

    def wake(self) -> None:
        """Run the next pass now instead of after `poll_seconds`."""
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; an error is logged and the loop goes on."""
        limit = 200
        while not stop.is_set():
            n = 0
            try:
                n = await self.run_once(limit)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery pass failed; retrying after the poll interval")
            if n >= limit:
                continue  # more may be due right now
            waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
            try:
                await asyncio.wait(waiters, timeout=self.settings.outbox.poll_seconds,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            self._wake.clear()

    async def run_once(self, limit: int = 200) -> int:
        """Claim due rows and send them; returns how many rows were claimed."""
        rows = await self._claim(limit)
        if not rows:
            return 0
        sem = asyncio.Semaphore(self.settings.outbox.concurrency)

        async def one(row: Outbox) -> None:
            async with sem:
                await self._deliver(row)

        results = await asyncio.gather(*(one(r) for r in rows), return_exceptions=True)
        for row, res in zip(rows, results):
            if isinstance(res, BaseException):
                log.error("outbox %s: could not record the result: %r", row.key, res)
        return len(rows)

    async def _claim(self, limit: int) -> list[Outbox]:
        now = self.clock.now()
        due = or_(
            and_(Outbox.status == "pending", Outbox.next_attempt_at <= now),
            and_(Outbox.status == "sending", Outbox.claimed_until < now),  # a worker died mid-send
        )
        # FOR UPDATE SKIP LOCKED is rendered on PostgreSQL and dropped on SQLite,
        # where the UPDATE itself holds the database write lock.
        ids = (select(Outbox.id).where(due).order_by(Outbox.next_attempt_at, Outbox.id)
               .limit(limit).with_for_update(skip_locked=True))
        stmt = (update(Outbox).where(Outbox.id.in_(ids), due)
                .values(status="sending", claimed_until=now + CLAIM).returning(Outbox))
        async with self.sessionmaker() as s, s.begin():
            rows = list((await s.scalars(stmt, execution_options={"synchronize_session": False})).all())
        return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))

    # ---- one row ---------------------------------------------------------------

    async def _deliver(self, row: Outbox) -> None:
        try:
            result = await self._attempt(row)
        except Exception as exc:  # a bug or the database: retry later like a transient error
            log.exception("outbox %s: unexpected error", row.key)
            result = self._retry(row, f"unexpected error: {exc!r}"[:500])
        if result is not None:
            await self._record(row, result)

    async def _attempt(self, row: Outbox) -> _Result | None:
        payload: dict[str, Any] = row.payload or {}
        if self.offline:
            log.info("offline: message %s to %s not sent: %s", row.key, row.openid,
                     payload.get("text") or payload.get("articles") or payload.get("template"))
            return _Result("simulated", via="offline")
        assert self.api is not None
        has_cs = bool(payload.get("articles") or payload.get("text"))
        async with self.sessionmaker() as s, s.begin():
            if not await self._extend_claim(s, row):
                log.warning("outbox %s: claim lost to another worker; skipped", row.key)
                return None
            window = await self._reserve_window(s, row.openid) if has_cs else None

        note: str | None = None
        if window is not None:
            try:
                if payload.get("articles"):
                    await self.api.send_news(row.openid, payload["articles"])
                else:
                    await self.api.send_text(row.openid, payload["text"])
                return _Result("sent", via="cs")
            except WeChatError as exc:
                if exc.errcode not in WINDOW_ERRORS:
                    await self._refund_window(row.openid, window)
                    return self._failure(row, exc, "customer-service message")
                note = f"customer-service message refused ({exc.errcode} {exc.errmsg})"
        elif has_cs:
            note = "outside the customer-service window (no message in 48 h, no click in 60 s, or used up)"
        else:
            note = "template-only message"

        template = payload.get("template") or {}
        kind = template.get("kind")
        template_id = self.settings.wechat.templates.get(kind) if kind else None
        if not template_id:
            why = f"no template configured for kind '{kind}'" if kind else "no template in the message"
            return _Result("unreachable", error=f"{note}; {why}")
        try:
            await self.api.send_template(row.openid, template_id, template.get("data") or {},
                                         client_msg_id=row.key, url=template.get("url"))
        except WeChatError as exc:
            if exc.errcode == UNFOLLOWED:
                return _Result("unreachable", error=f"{note}; template refused: user does not follow the account")
            return self._failure(row, exc, f"{note}; template message")
        return _Result("sent", via="template", error=note)

    def _failure(self, row: Outbox, exc: WeChatError, what: str) -> _Result:
        error = f"{what} failed: {exc.errcode} {exc.errmsg}"[:500]
        if exc.retryable:
            return self._retry(row, error)
        return _Result("failed", error=error)

    def _retry(self, row: Outbox, error: str) -> _Result:
        if row.attempts + 1 >= self.settings.outbox.max_attempts:
            return _Result("failed", error=f"gave up after {row.attempts + 1} attempts: {error}")
        return _Result("pending", error=error)

    async def _record(self, row: Outbox, result: _Result) -> None:
        now = self.clock.now()
        attempts = row.attempts + 1
        values: dict[str, Any] = {"status": result.status, "attempts": attempts, "claimed_until": None}
        if result.error is not None:
            values["last_error"] = result.error
        if result.status in ("sent", "simulated"):
            values.update(sent_at=now, via=result.via)
        elif result.status == "pending":
            values["next_attempt_at"] = now + timedelta(seconds=backoff_delay(self.settings, attempts))
        async with self.sessionmaker() as s, s.begin():
            res = await s.execute(
                update(Outbox)
                .where(Outbox.id == row.id, Outbox.status == "sending", Outbox.claimed_until == row.claimed_until)
                .values(**values).execution_options(synchronize_session=False)
            )
        if res.rowcount != 1:
            log.warning("outbox %s: claim expired before the result (%s) was recorded", row.key, result.status)
        level = logging.INFO if result.status in ("sent", "simulated", "pending") else logging.WARNING
        log.log(level, "outbox %s to %s: %s%s%s", row.key, row.openid, result.status,
                f" via {result.via}" if result.via else "", f" ({result.error})" if result.error else "")

    async def _extend_claim(self, s: AsyncSession, row: Outbox) -> bool:
        """Renew our claim just before sending; False if another worker took the row."""
        until = self.clock.now() + CLAIM
        res = await s.execute(
            update(Outbox)
            .where(Outbox.id == row.id, Outbox.status == "sending", Outbox.claimed_until == row.claimed_until)
            .values(claimed_until=until).execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:
            return False
        row.claimed_until = until
        return True

    # ---- windows -----------------------------------------------------------------

    async def _member_id(self, s: AsyncSession, openid: str) -> int | None:
        app_id = self.settings.wechat.app_id
        return await s.scalar(
            select(Member.id).where(Member.openid == openid, Member.app_id.in_({"", app_id}))
            .order_by(case((Member.app_id == app_id, 0), else_=1)).limit(1)
        )

    async def _reserve_window(self, s: AsyncSession, openid: str) -> str | None:
        """Take one message from the user's open window: 'msg', 'evt', or None if closed."""
        member_id = await self._member_id(s, openid)
        if member_id is None:
            return None
        now = self.clock.now()
        for name, at, used, span, limit in (
            ("msg", Member.msg_window_at, Member.msg_window_used, MSG_WINDOW, MSG_WINDOW_LIMIT),
            ("evt", Member.evt_window_at, Member.evt_window_used, EVT_WINDOW, EVT_WINDOW_LIMIT),
        ):
            res = await s.execute(
                update(Member).where(Member.id == member_id, at.is_not(None), at > now - span, used < limit)
                .values({used: used + 1}).execution_options(synchronize_session=False)
            )
            if res.rowcount == 1:
                return name
        return None

    async def _refund_window(self, openid: str, window: str) -> None:
        """Give back a window slot taken for a send that did not go out."""
        used = Member.msg_window_used if window == "msg" else Member.evt_window_used
        async with self.sessionmaker() as s, s.begin():
            member_id = await self._member_id(s, openid)
            if member_id is not None:
                await s.execute(update(Member).where(Member.id == member_id, used > 0)
                                .values({used: used - 1}).execution_options(synchronize_session=False))


def backoff_delay(settings: Settings, attempts: int) -> float:
    """Seconds to wait before attempt `attempts + 1` (exposed for tests and staff pages)."""
    return min(settings.outbox.backoff_base ** attempts, settings.outbox.backoff_cap)
