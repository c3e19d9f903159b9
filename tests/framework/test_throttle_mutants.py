"""Sharper tests for bot/admin/throttle.py (mutation group `admin-throttle`): the waits, the
windows and their exact ends, what is stored per key and what a prune keeps, on the real
database through the module's own operations (the login page's behaviour is in
test_login_throttle.py)."""
from __future__ import annotations

import hashlib
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select

from bot.admin import throttle
from bot.admin.throttle import Policy
from bot.db.models.core import LoginThrottle

S = timedelta(seconds=1)
POLICY = Policy(max_failures=3, first_block=60 * S, longest_block=600 * S, address_max_failures=5,
                address_window=900 * S)
A = "198.51.100.7"


async def fail(sessionmaker, now, username: str = "staff1", address: str = A, policy: Policy = POLICY):  # noqa: ANN001, ANN201
    async with sessionmaker() as db, db.begin():
        return await throttle.record_failure(db, policy, username, address, now)


async def rows(sessionmaker) -> dict[str, LoginThrottle]:  # noqa: ANN001
    async with sessionmaker() as db:
        return {r.key: r for r in await db.scalars(select(LoginThrottle))}


async def blocked(sessionmaker, now, username: str = "staff1", address: str = A):  # noqa: ANN001, ANN201
    async with sessionmaker() as db:
        return await throttle.blocked_until(db, username, address, now)


def test_the_policy_from_the_settings() -> None:
    admin = SimpleNamespace(login_max_failures=4, login_block_seconds=30, login_lockout_seconds=300,
                            login_address_max_failures=20, login_address_window_seconds=600)
    assert Policy.from_settings(admin) == Policy(max_failures=4, first_block=30 * S, longest_block=300 * S,
                                                 address_max_failures=20, address_window=600 * S,
                                                 user_window=timedelta(hours=24))
    shorter_cap = SimpleNamespace(**{**vars(admin), "login_lockout_seconds": 10})
    assert Policy.from_settings(shorter_cap).longest_block == 30 * S  # never shorter than the first wait
    assert Policy().user_window == timedelta(hours=24) == throttle.USER_WINDOW


def test_the_wait_after_each_failure() -> None:
    assert [POLICY.block_for(n) for n in range(1, 9)] == [None, None, 60 * S, 120 * S, 240 * S, 480 * S,
                                                          600 * S, 600 * S]
    uncapped = Policy(max_failures=1, first_block=S, longest_block=timedelta(days=10_000))
    assert uncapped.block_for(1) == S
    assert uncapped.block_for(21) == 2 ** 20 * S  # the doubling stops at 2**20 (no huge numbers)
    assert uncapped.block_for(500) == 2 ** 20 * S


def test_keys_hold_a_hash_of_the_name_and_a_bounded_address() -> None:
    digest = hashlib.sha256("王 staff".encode("utf-8")).hexdigest()[:32]
    assert throttle.user_key("王 staff", A) == f"user:{digest}|{A}"
    long = "2001:db8:" + "f" * 100
    assert throttle.user_key("x", long).endswith("|" + long[:64])
    assert throttle.address_key(long) == "addr:" + long[:64]
    assert throttle.address_key("") == "addr:unknown"
    assert throttle.user_key("", "") == f"user:{hashlib.sha256(b'').hexdigest()[:32]}|unknown"
    assert throttle.user_key("a", A) != throttle.user_key("b", A)


async def test_a_pair_is_blocked_after_max_failures_until_exactly_the_wait_is_over(sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    first = await fail(sessionmaker, now)
    assert first == throttle.Failure(None, True, False)
    assert await fail(sessionmaker, now + S) == throttle.Failure(None, False, False)
    third = await fail(sessionmaker, now + 2 * S)
    assert third == throttle.Failure(now + 2 * S + 60 * S, False, False)
    until = third.blocked_until
    assert await blocked(sessionmaker, until - S) == until
    assert await blocked(sessionmaker, until) is None  # the wait is over at that very second
    assert await blocked(sessionmaker, now, address="203.0.113.20") is None  # another address
    assert await blocked(sessionmaker, now, username="staff2") is None  # another name
    stored = await rows(sessionmaker)
    pair = stored[throttle.user_key("staff1", A)]
    assert (pair.failures, pair.window_start, pair.blocked_until) == (3, now, until)
    addr = stored[throttle.address_key(A)]
    assert (addr.failures, addr.window_start, addr.blocked_until) == (3, now, None)
    assert len(stored) == 2  # one row per key, not per try


async def test_the_pair_count_restarts_a_day_after_its_first_failure(sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    await fail(sessionmaker, now)
    await fail(sessionmaker, now + S)
    almost = await fail(sessionmaker, now + timedelta(hours=24) - S)  # still the same window: the third
    assert almost.blocked_until is not None and not almost.first_in_window
    later = now + timedelta(hours=24)
    again = await fail(sessionmaker, later)  # exactly a day after the window began: a new window
    assert again == throttle.Failure(None, True, False)
    pair = (await rows(sessionmaker))[throttle.user_key("staff1", A)]
    assert (pair.failures, pair.window_start, pair.blocked_until) == (1, later, None)


async def test_an_address_is_blocked_once_at_its_limit_for_one_window(sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    results = [await fail(sessionmaker, now + i * S, username=f"name{i}") for i in range(7)]
    assert [r.address_blocked for r in results] == [False] * 4 + [True] + [False] * 2  # summarised once
    assert [r.blocked_until for r in results[:4]] == [None] * 4
    assert [r.blocked_until for r in results[4:]] == [now + i * S + 900 * S for i in (4, 5, 6)]
    assert all(r.first_in_window for r in results)  # each name's own first try
    addr = (await rows(sessionmaker))[throttle.address_key(A)]
    assert (addr.failures, addr.window_start) == (7, now)
    assert await blocked(sessionmaker, now + 6 * S, username="anyone") == now + 906 * S
    # the window is counted from its first failure: exactly 900 s later it starts again
    fresh = await fail(sessionmaker, now + 900 * S, username="late")
    addr = (await rows(sessionmaker))[throttle.address_key(A)]
    assert (addr.failures, addr.window_start, addr.blocked_until) == (1, now + 900 * S, None)
    assert fresh == throttle.Failure(None, True, False)


async def test_a_correct_password_clears_only_its_pair(sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    await fail(sessionmaker, now)
    await fail(sessionmaker, now, username="other")
    async with sessionmaker() as db, db.begin():
        await throttle.clear(db, "staff1", A)
    assert set(await rows(sessionmaker)) == {throttle.user_key("other", A), throttle.address_key(A)}


async def test_prune_keeps_what_still_counts_or_blocks(sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    day, window = timedelta(hours=24), 900 * S
    keep = {  # key: (window_start, blocked_until)
        "addr:window-not-over": (now - window, None),
        "addr:still-blocked": (now - 2 * day, now + S),
        "user:x|day-not-over": (now - day, None),
        "user:y|still-blocked": (now - 2 * day, now + S),
        "user:z|recent-window": (now - window - S, None),  # a pair's window is a day, not 15 minutes
    }
    gone = {
        "addr:window-over": (now - window - S, None),
        "addr:block-over": (now - window - S, now),
        "user:a|day-over": (now - day - S, None),
        "user:b|block-over": (now - day - S, now),
    }
    async with sessionmaker() as db, db.begin():
        db.add_all([LoginThrottle(key=k, window_start=w, failures=1, blocked_until=b)
                    for k, (w, b) in {**keep, **gone}.items()])
    async with sessionmaker() as db, db.begin():
        assert await throttle.prune(db, POLICY, now) == len(gone)
    assert set(await rows(sessionmaker)) == set(keep)


async def test_a_failure_prunes_the_old_rows(sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    await fail(sessionmaker, now, address="192.0.2.1")
    later = now + timedelta(hours=25)
    await fail(sessionmaker, later)
    assert set(await rows(sessionmaker)) == {throttle.user_key("staff1", A), throttle.address_key(A)}


async def test_nothing_old_prunes_nothing(sessionmaker, clock) -> None:  # noqa: ANN001
    now = clock.now()
    await fail(sessionmaker, now)
    async with sessionmaker() as db, db.begin():
        assert await throttle.prune(db, POLICY, now + S) == 0
    assert len(await rows(sessionmaker)) == 2


async def test_two_failures_at_once_count_on_the_same_row(sessionmaker, clock) -> None:  # noqa: ANN001
    """Another login's failure inserted the pair's row between this one's look-up and its insert:
    the insert meets the row, and this failure is counted on it (not lost, no error page)."""
    now = clock.now()
    await fail(sessionmaker, now)
    await fail(sessionmaker, now)
    pair = throttle.user_key("staff1", A)
    async with sessionmaker() as db, db.begin():
        real_get, missed = db.get, []

        async def racing_get(model, key, **kw):  # noqa: ANN001, ANN003, ANN202
            if key == pair and not missed:  # the look-up ran just before the other insert committed
                missed.append(key)
                return None
            return await real_get(model, key, **kw)

        db.get = racing_get
        failure = await throttle.record_failure(db, POLICY, "staff1", A, now + S)
    assert missed == [pair]
    assert failure == throttle.Failure(now + S + 60 * S, False, False)
    stored = (await rows(sessionmaker))[pair]
    assert (stored.failures, stored.window_start, stored.blocked_until) == (3, now, now + 61 * S)
