"""Login throttling that cannot be turned against staff, through HTTP against the real app behind
a (simulated) proxy: `behind_proxy = true`, the client's address from X-Forwarded-For as nginx
sends it (bot/app.py's middleware)."""
from __future__ import annotations

import re
import secrets
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from bot.admin import staff as staff_ops
from bot.db.models.core import AuditLog, LoginThrottle
from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user, csrf_from
from tests.support.settings import make_settings

A, B = "198.51.100.7", "203.0.113.20"


@pytest.fixture
def settings(db_url, tmp_path):
    return make_settings(db_url, tmp_path, server={"behind_proxy": True}, admin={
        "login_max_failures": 3, "login_block_seconds": 60, "login_lockout_seconds": 600,
        "login_address_max_failures": 10, "login_address_window_seconds": 900,
    })


@pytest.fixture
async def client(aiohttp_client, make_app, engine):
    return await aiohttp_client(make_app())


class Browser:
    """One browser (its own cookies) at one address: the login form's CSRF token, then POSTs.
    The address reaches the app as nginx sends it: X-Forwarded-For, the last hop appended."""

    def __init__(self, client, address: str) -> None:  # noqa: ANN001
        self.client, self.headers, self.token = client, {"X-Forwarded-For": f"10.9.9.9, {address}"}, ""
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, **kwargs):  # noqa: ANN003, ANN201
        self.client.session.cookie_jar.clear()
        resp = await self.client.request(method, path, headers=self.headers, cookies=self.cookies,
                                         allow_redirects=False, **kwargs)
        for name, morsel in resp.cookies.items():
            if morsel.value and morsel["max-age"] != "0":
                self.cookies[name] = morsel.value
            else:
                self.cookies.pop(name, None)
        return resp

    async def login(self, username: str, password: str):  # noqa: ANN201
        if not self.token:
            self.token = csrf_from(await (await self.request("GET", "/admin/login")).text())
        return await self.request("POST", "/admin/login", data={"_csrf": self.token, "username": username,
                                                                "password": password})


async def audit_rows(sessionmaker):  # noqa: ANN001, ANN201
    async with sessionmaker() as db:
        return list(await db.scalars(select(AuditLog).order_by(AuditLog.id)))


async def throttle_rows(sessionmaker):  # noqa: ANN001, ANN201
    async with sessionmaker() as db:
        return list(await db.scalars(select(LoginThrottle)))


async def test_a_blocked_address_does_not_lock_the_account_out_elsewhere(client, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    a = Browser(client, A)
    assert (await a.login(DEFAULT_USER, "wrong-one-1")).status == 401
    assert (await a.login(DEFAULT_USER, "wrong-one-2")).status == 401
    third = await a.login(DEFAULT_USER, "wrong-one-3")
    assert third.status == 429 and third.headers["Retry-After"] == "60"
    text = await third.text()
    assert "登录尝试次数过多" in text and "请在 10:01 以后再试（约 1 分钟）" in text  # FakeClock: 10:00 Shanghai
    # the right password from that address waits too …
    assert (await a.login(DEFAULT_USER, DEFAULT_PASSWORD)).status == 429
    # … but the real staff member elsewhere logs in
    b = Browser(client, B)
    assert (await b.login(DEFAULT_USER, DEFAULT_PASSWORD)).status == 303
    clock.advance(seconds=61)
    assert (await a.login(DEFAULT_USER, DEFAULT_PASSWORD)).status == 303


async def test_the_wait_doubles_up_to_a_cap_and_a_correct_password_clears_it(client, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    a = Browser(client, A)
    for _ in range(2):
        await a.login(DEFAULT_USER, "wrong-wrong")
    waits = []
    for _ in range(6):
        resp = await a.login(DEFAULT_USER, "wrong-wrong")
        assert resp.status == 429
        waits.append(int(resp.headers["Retry-After"]))
        assert (await a.login(DEFAULT_USER, "wrong-wrong")).status == 429  # blocked: not even counted
        clock.advance(seconds=waits[-1])
    assert waits == [60, 120, 240, 480, 600, 600]
    assert (await a.login(DEFAULT_USER, DEFAULT_PASSWORD)).status == 303
    assert (await Browser(client, A).login(DEFAULT_USER, "typo-typo")).status == 401  # counting starts afresh


async def test_one_address_trying_many_names_is_blocked_for_a_window(client, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    a = Browser(client, A)
    statuses = [(await a.login(f"user{i}", "guess-guess")).status for i in range(10)]
    assert statuses == [401] * 9 + [429]
    resp = await a.login(DEFAULT_USER, DEFAULT_PASSWORD)
    assert resp.status == 429 and "约 15 分钟" in await resp.text()
    assert (await Browser(client, B).login(DEFAULT_USER, DEFAULT_PASSWORD)).status == 303
    clock.advance(minutes=15)
    assert (await a.login(DEFAULT_USER, DEFAULT_PASSWORD)).status == 303
    summary = [r for r in await audit_rows(sessionmaker) if r.action == "auth.login_throttled"]
    assert len(summary) == 1 and summary[0].refused and summary[0].detail["ip"] == A


async def test_without_behind_proxy_forwarded_addresses_are_not_believed(aiohttp_client, make_app, settings,
                                                                         sessionmaker):
    direct = settings.model_copy(update={"server": settings.server.model_copy(update={"behind_proxy": False})})
    client = await aiohttp_client(make_app(direct))
    await create_staff_user(sessionmaker)
    for i in range(3):  # three "addresses", one real peer: the pair (staff1, 127.0.0.1) is blocked
        resp = await Browser(client, f"192.0.2.{i}").login(DEFAULT_USER, "wrong-wrong")
    assert resp.status == 429
    assert {r.key.split("|")[-1] for r in await throttle_rows(sessionmaker)} >= {"127.0.0.1"}


async def test_known_and_unknown_names_get_the_same_answers(client, sessionmaker):
    await create_staff_user(sessionmaker)

    async def answers(username: str, address: str) -> list[tuple[int, str]]:
        browser, out = Browser(client, address), []
        for _ in range(4):
            resp = await browser.login(username, "wrong-wrong")
            body = re.sub(r'name="_csrf" value="[^"]+"', "", (await resp.text()).replace(username, "NAME"))
            out.append((resp.status, body))
        return out

    known, unknown = await answers(DEFAULT_USER, A), await answers("nobody", B)
    assert [s for s, _ in known] == [401, 401, 429, 429]
    assert known == unknown


async def test_no_audit_row_per_anonymous_failure_and_bounded_throttle_rows(client, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    a = Browser(client, A)
    typed = [secrets.token_hex(6) for _ in range(200)]
    for name in typed:
        await a.login(name, "guess-guess")
    audit = await audit_rows(sessionmaker)
    assert [r.action for r in audit] == ["auth.login_throttled"]  # one summary, not 200 rows
    rows = await throttle_rows(sessionmaker)
    assert len(rows) <= 10 + 1  # the address's allowance of names, plus the address itself
    assert not any(name in r.key for r in rows for name in typed)  # typed names are not stored
    # a day later the next failure prunes the old rows
    clock.advance(hours=25)
    await Browser(client, B).login("someone", "guess-guess")
    assert len(await throttle_rows(sessionmaker)) == 2


async def test_known_and_unknown_names_do_the_same_work(client, sessionmaker, monkeypatch):
    await create_staff_user(sessionmaker)
    real = staff_ops._hasher
    calls: list[str] = []

    class Spy:
        def verify(self, hash_, password):  # noqa: ANN001, ANN201
            calls.append("verify")
            return real.verify(hash_, password)

        def __getattr__(self, name):  # noqa: ANN001, ANN204
            return getattr(real, name)

    monkeypatch.setattr(staff_ops, "_hasher", Spy())
    for username, address in ((DEFAULT_USER, A), ("nobody", B), ("", "192.0.2.1")):
        calls.clear()
        browser = Browser(client, address)
        for _ in range(3):
            await browser.login(username, "wrong-wrong")
        assert calls == ["verify"] * 3, username  # one hash per try, the third one blocks
        calls.clear()
        assert (await browser.login(username, "wrong-wrong")).status == 429
        assert calls == []  # a blocked pair: no hash, for a known name as for an unknown one


async def test_known_and_unknown_names_take_the_same_time(client, sessionmaker, monkeypatch):
    """The bug this guards against: a known name answered in 4 ms, an unknown one in 136 ms.
    With a realistically slow hash, skipping it on either path would show as a whole hash's time."""
    slow = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    monkeypatch.setattr(staff_ops, "_hasher", slow)
    monkeypatch.setattr(staff_ops, "_DUMMY_HASH", slow.hash("unionbot-dummy-password"))
    await create_staff_user(sessionmaker)
    started = time.perf_counter()
    for _ in range(3):
        staff_ops.verify_dummy("x")
    one_hash = (time.perf_counter() - started) / 3

    known, unknown = [], []
    for i in range(8):  # interleaved, each from a fresh address (no blocks), first try for both
        for username, times in ((DEFAULT_USER, known), (f"ghost{i}", unknown)):
            browser = Browser(client, f"192.0.2.{len(known) + len(unknown) + 1}")
            browser.token = csrf_from(await (await browser.request("GET", "/admin/login")).text())
            t0 = time.perf_counter()
            resp = await browser.login(username, "wrong-password")
            times.append(time.perf_counter() - t0)
            assert resp.status == 401
    k, u = min(known), min(unknown)  # the least disturbed run of each (2 cores, shared)
    assert u >= 0.8 * one_hash and k >= 0.8 * one_hash  # both did the hash
    assert abs(k - u) < 0.5 * one_hash, (k, u, one_hash)


async def test_a_block_survives_a_restart(aiohttp_client, make_app, sessionmaker):
    await create_staff_user(sessionmaker)
    first = await aiohttp_client(make_app())
    for _ in range(3):
        await Browser(first, A).login(DEFAULT_USER, "wrong-wrong")
    second = await aiohttp_client(make_app())
    assert (await Browser(second, A).login(DEFAULT_USER, DEFAULT_PASSWORD)).status == 429
    assert (await Browser(second, B).login(DEFAULT_USER, DEFAULT_PASSWORD)).status == 303


async def test_wrong_current_password_on_the_account_page_is_throttled_too(client, sessionmaker):
    await create_staff_user(sessionmaker)
    b = Browser(client, B)
    assert (await b.login(DEFAULT_USER, DEFAULT_PASSWORD)).status == 303
    token = csrf_from(await (await b.request("GET", "/admin/me")).text())
    statuses = []
    for _ in range(4):
        resp = await b.request("POST", "/admin/me/password", data={
            "_csrf": token, "current": "not-my-password", "new": "another-pass-1", "again": "another-pass-1"})
        statuses.append(resp.status)
    assert statuses == [400, 400, 429, 429]
    assert "登录尝试次数过多" in await resp.text()
    refused = [r for r in await audit_rows(sessionmaker) if r.action == "auth.password_change"]
    assert len(refused) == 1 and refused[0].refused  # once per window, not per try
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(LoginThrottle)) == 2
