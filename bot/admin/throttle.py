"""Login throttling that cannot be turned against staff.

Failures are counted per (username, client address) and per client address, in `LoginThrottle`
rows: one row per key, updated in place, never one row per attempt; old rows are deleted on write.

- (username, address): after `login_max_failures` failures that pair waits
  `login_block_seconds`, doubling with every further failure up to `login_lockout_seconds`.
  Only that pair: the same account from another address still logs in. A correct password
  clears the pair's count.
- address: `login_address_max_failures` failures within `login_address_window_seconds` (any
  usernames) block the address for one window.

Unknown usernames are counted exactly like known ones, so the answers (and the work behind them)
never tell whether an account exists. Keys hold a hash of what was typed as the username, never
the text itself (people type passwords into that field).
"""
from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.core import LoginThrottle

USER_WINDOW = timedelta(hours=24)  # a (username, address) count is forgotten a day after it began
MAX_KEY_ADDRESS = 64


@dataclass(frozen=True)
class Policy:
    max_failures: int = 5
    first_block: timedelta = timedelta(minutes=1)
    longest_block: timedelta = timedelta(minutes=15)
    address_max_failures: int = 50
    address_window: timedelta = timedelta(minutes=15)
    user_window: timedelta = USER_WINDOW

    @classmethod
    def from_settings(cls, admin: Any) -> "Policy":
        return cls(
            max_failures=admin.login_max_failures,
            first_block=timedelta(seconds=admin.login_block_seconds),
            longest_block=timedelta(seconds=max(admin.login_lockout_seconds, admin.login_block_seconds)),
            address_max_failures=admin.login_address_max_failures,
            address_window=timedelta(seconds=admin.login_address_window_seconds),
        )

    def block_for(self, failures: int) -> timedelta | None:
        """How long a (username, address) pair waits after its `failures`-th failure."""
        over = failures - self.max_failures
        if over < 0:
            return None
        return min(self.first_block * (2 ** min(over, 20)), self.longest_block)


@dataclass
class Throttle:
    """The admin app's throttle: the policy, and a bound on password hashes run at once (each
    costs ~64 MiB and a core for a moment; a flood of logins must not starve the webhook)."""

    policy: Policy
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))


@dataclass(frozen=True)
class Failure:
    blocked_until: datetime | None  # the pair or the address is now blocked until then
    first_in_window: bool  # the pair's first failure in its window (audit at most this once)
    address_blocked: bool  # this failure blocked the address (audit a summary once)


def address_key(address: str) -> str:
    return "addr:" + (address or "unknown")[:MAX_KEY_ADDRESS]


def user_key(username: str, address: str) -> str:
    digest = hashlib.sha256((username or "").encode("utf-8")).hexdigest()[:32]
    return f"user:{digest}|{(address or 'unknown')[:MAX_KEY_ADDRESS]}"


async def blocked_until(db: AsyncSession, username: str, address: str, now: datetime) -> datetime | None:
    """When the pair or the address may try again, if it is blocked now."""
    rows = await db.scalars(select(LoginThrottle.blocked_until).where(
        LoginThrottle.key.in_([address_key(address), user_key(username, address)]),
        LoginThrottle.blocked_until > now,
    ))
    until = [r for r in rows if r is not None]
    return max(until) if until else None


async def _row(db: AsyncSession, key: str, now: datetime) -> LoginThrottle:
    """The key's row, locked for update (created when missing; safe against a concurrent insert)."""
    row = await db.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    if row is not None:
        return row
    try:
        async with db.begin_nested():
            row = LoginThrottle(key=key, window_start=now, failures=0, blocked_until=None)
            db.add(row)
    except IntegrityError:
        row = await db.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        assert row is not None
    return row


async def record_failure(db: AsyncSession, policy: Policy, username: str, address: str, now: datetime) -> Failure:
    """Count one failed login (wrong password, unknown or disabled account alike)."""
    pair = await _row(db, user_key(username, address), now)
    if pair.failures and now - pair.window_start >= policy.user_window:
        pair.failures, pair.window_start, pair.blocked_until = 0, now, None
    first = pair.failures == 0
    if first:
        pair.window_start = now
    pair.failures += 1
    block = policy.block_for(pair.failures)
    if block is not None:
        pair.blocked_until = now + block

    addr = await _row(db, address_key(address), now)
    if addr.failures and now - addr.window_start >= policy.address_window:
        addr.failures, addr.window_start, addr.blocked_until = 0, now, None
    if addr.failures == 0:
        addr.window_start = now
    addr.failures += 1
    address_blocked = addr.failures == policy.address_max_failures
    if addr.failures >= policy.address_max_failures:
        addr.blocked_until = now + policy.address_window
    await db.flush()
    await prune(db, policy, now)
    until = [t for t in (pair.blocked_until, addr.blocked_until) if t is not None and t > now]
    return Failure(max(until) if until else None, first, address_blocked)


async def clear(db: AsyncSession, username: str, address: str) -> None:
    """A correct password: forget that pair's failures (the address's count stays)."""
    await db.execute(delete(LoginThrottle).where(LoginThrottle.key == user_key(username, address)))


async def prune(db: AsyncSession, policy: Policy, now: datetime) -> int:
    """Delete rows whose window and block are over."""
    not_blocked = or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until <= now)
    result = await db.execute(delete(LoginThrottle).where(
        not_blocked,
        or_(and_(LoginThrottle.key.like("addr:%"), LoginThrottle.window_start < now - policy.address_window),
            LoginThrottle.window_start < now - policy.user_window),
    ))
    return result.rowcount or 0
