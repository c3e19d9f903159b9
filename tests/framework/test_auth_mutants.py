"""Sharper tests for bot/admin/auth.py (mutation group `admin-auth`): what a blocked login page
says and sends back, what logins and logouts leave in the audit log and the sessions table."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from bot.admin import sessions
from bot.admin import staff as staff_ops
from bot.db.models.core import AuditLog, Staff, StaffSession
from tests.support.admin import (
    DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user, csrf_at, log_in_staff, login, make_admin_client, post_login,
)
from tests.support.settings import make_settings


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, admin={"login_max_failures": 3, "login_block_seconds": 60,
                                                  "login_lockout_seconds": 600})


@pytest.fixture
async def client(aiohttp_client, settings, sessionmaker, clock):  # noqa: ANN001, ANN201
    return await make_admin_client(aiohttp_client, settings, sessionmaker, clock)


async def test_the_blocked_page_keeps_the_name_and_says_how_long_to_wait(client, sessionmaker, clock) -> None:  # noqa: ANN001
    await create_staff_user(sessionmaker)
    for _ in range(2):
        assert (await post_login(client, DEFAULT_USER, "wrong-wrong")).status == 401
    blocked = await post_login(client, DEFAULT_USER, "wrong-wrong")
    page = await blocked.text()
    assert blocked.status == 429 and blocked.headers["Retry-After"] == "60"
    assert 'name="username" value="staff1"' in page  # the form keeps what was typed
    assert "请在 10:01 以后再试（约 1 分钟）" in page

    clock.advance(seconds=59.5)  # half a second left: "try again in 1 second", never 0 or 2
    last = await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD)
    assert last.status == 429 and last.headers["Retry-After"] == "1"
    text = await last.text()  # blocked before the password is even checked: the name stays too
    assert "（约 1 分钟）" in text and 'name="username" value="staff1"' in text

    clock.advance(seconds=0.5)
    again = await post_login(client, DEFAULT_USER, "wrong-wrong")  # the fourth failure: two minutes
    assert again.status == 429 and again.headers["Retry-After"] == "120"
    clock.advance(seconds=59)
    later = await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD)
    assert later.headers["Retry-After"] == "61"
    assert "（约 2 分钟）" in await later.text()  # 61 seconds are two started minutes


async def test_a_logout_is_audited_with_who_logged_out(client, sessionmaker, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, sessionmaker)
    token = await csrf_at(client, "/admin/")
    clock.advance(minutes=5)
    assert (await client.post("/admin/logout", data={"_csrf": token}, allow_redirects=False)).status == 303
    async with sessionmaker() as db:
        row = await db.scalar(select(AuditLog).where(AuditLog.action == "auth.logout"))
        staff_id = await db.scalar(select(AuditLog.staff_id).where(AuditLog.action == "auth.login"))
    assert (row.staff_id, row.target, row.at, row.refused) == (staff_id, DEFAULT_USER, clock.now(), False)
    assert staff_id is not None


async def audit(sessionmaker, action: str) -> list[AuditLog]:  # noqa: ANN001
    async with sessionmaker() as db:
        return list(await db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


async def test_a_disabled_accounts_failure_is_audited_as_inactive(client, sessionmaker, clock) -> None:  # noqa: ANN001
    staff = await create_staff_user(sessionmaker)
    await create_staff_user(sessionmaker, "boss2")  # the last active admin can't be switched off
    async with sessionmaker() as db, db.begin():
        await staff_ops.set_active(db, DEFAULT_USER, False, clock.now())
    resp = await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD)  # the right password, a disabled account
    assert resp.status == 401 and "用户名或密码不正确" in await resp.text()
    [row] = await audit(sessionmaker, "auth.login")
    assert (row.staff_id, row.target, row.refused, row.detail) == (
        staff.id, DEFAULT_USER, True, {"ip": "127.0.0.1", "reason": "inactive"})


async def test_a_blocked_address_is_summarised_once_in_the_audit_log(aiohttp_client, db_url, tmp_path, sessionmaker,
                                                                     clock) -> None:  # noqa: ANN001
    settings = make_settings(db_url, tmp_path, admin={"login_address_max_failures": 5,
                                                      "login_address_window_seconds": 600})
    client = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    statuses = [(await post_login(client, f"guess{i}", "guess-guess")).status for i in range(6)]
    assert statuses == [401] * 4 + [429] * 2
    [row] = await audit(sessionmaker, "auth.login_throttled")
    assert (row.staff_id, row.target, row.refused, row.detail) == (
        None, "ip:127.0.0.1", True, {"ip": "127.0.0.1", "failures": 5, "minutes": 10})


async def test_logging_in_again_in_the_same_browser_ends_the_first_session(client, sessionmaker, clock) -> None:  # noqa: ANN001
    await create_staff_user(sessionmaker)
    other = await create_staff_user(sessionmaker, "colleague", display_name="李干事")
    await login(client)
    clock.advance(minutes=2)
    await login(client, "colleague")
    async with sessionmaker() as db:
        rows = list(await db.scalars(select(StaffSession).order_by(StaffSession.created_at)))
    assert [(r.revoked_reason, r.revoked_at) for r in rows] == [("relogin", clock.now()), ("", None)]
    assert rows[1].staff_id == other.id
    assert "李干事" in await (await client.get("/admin/")).text()
    assert [r.target for r in await audit(sessionmaker, "auth.login")] == [DEFAULT_USER, "colleague"]


async def test_a_hash_made_with_old_parameters_is_renewed_at_login(client, sessionmaker) -> None:  # noqa: ANN001
    staff = await create_staff_user(sessionmaker)
    old = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1).hash(DEFAULT_PASSWORD)
    async with sessionmaker() as db, db.begin():
        (await db.get(Staff, staff.id)).password_hash = old
    assert staff_ops.needs_rehash(old)
    await login(client)
    async with sessionmaker() as db:
        renewed = (await db.get(Staff, staff.id)).password_hash
    assert renewed != old and not staff_ops.needs_rehash(renewed)
    assert staff_ops.verify_password(renewed, DEFAULT_PASSWORD)


async def test_the_login_page_sends_a_logged_in_browser_on(client, sessionmaker) -> None:  # noqa: ANN001
    await log_in_staff(client, sessionmaker)
    resp = await client.get("/admin/login?next=/admin/me", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/admin/me"
    resp = await client.get("/admin/login?next=//evil.example/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/admin/"
    assert (await client.get("/admin/login")).url.path == "/admin/"
    assert sessions.COOKIE in {c.key for c in client.session.cookie_jar}


def test_who_and_where_outside_a_login() -> None:
    from unittest import mock

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from bot.admin import auth

    with pytest.raises(web.HTTPUnauthorized) as no_login:  # called where no login was required first
        auth.current_staff(make_mocked_request("GET", "/admin/"))
    assert no_login.value.text == "login required"
    socket = mock.Mock()
    socket.get_extra_info.return_value = None  # e.g. a unix socket: no peer address
    assert auth.client_address(make_mocked_request("GET", "/admin/login", transport=socket)) == "unknown"
    far = mock.Mock()
    far.get_extra_info.return_value = ("2001:db8:" + "9" * 80, 443)
    assert auth.client_address(make_mocked_request("GET", "/admin/login", transport=far)) == ("2001:db8:" + "9" * 80)[:64]


async def test_the_refused_form_shows_the_name_as_typed_and_bounded(client, sessionmaker) -> None:  # noqa: ANN001
    await create_staff_user(sessionmaker)
    token = await csrf_at(client, "/admin/login")
    resp = await client.post("/admin/login", data={"_csrf": token, "password": "wrong-wrong"})  # no name field
    assert resp.status == 401 and 'name="username" value=""' in await resp.text()
    long = "Ab" * 150
    resp = await client.post("/admin/login", data={"_csrf": token, "username": f"  {long} ", "password": "x"})
    page = await resp.text()
    assert resp.status == 401 and f'name="username" value="{long.lower()[:200]}"' in page


async def test_after_login_the_page_asked_for_from_the_form_or_the_address(client, sessionmaker) -> None:  # noqa: ANN001
    await create_staff_user(sessionmaker)

    async def land(query: str, form: dict) -> str:  # noqa: ANN001
        client.session.cookie_jar.clear()
        token = await csrf_at(client, "/admin/login")
        resp = await client.post(f"/admin/login{query}", data={"_csrf": token, "username": DEFAULT_USER,
                                                               "password": DEFAULT_PASSWORD, **form},
                                 allow_redirects=False)
        assert resp.status == 303
        return resp.headers["Location"]

    assert await land("", {"next": "/admin/hardship"}) == "/admin/hardship"  # the form's hidden field
    assert await land("?next=/admin/me", {}) == "/admin/me"  # no field: the address's
    assert await land("?next=/admin/me", {"next": ""}) == "/admin/me"
    assert await land("?next=/admin/me", {"next": "/admin/chairs"}) == "/admin/chairs"  # the form first
    assert await land("", {}) == "/admin/"


async def test_a_browser_that_sends_no_name_is_unknown_on_the_sessions_page(client, sessionmaker) -> None:  # noqa: ANN001
    await create_staff_user(sessionmaker)
    token = await csrf_at(client, "/admin/login")
    resp = await client.post("/admin/login", data={"_csrf": token, "username": DEFAULT_USER, "password": DEFAULT_PASSWORD},
                             skip_auto_headers={"User-Agent"}, allow_redirects=False)
    assert resp.status == 303
    async with sessionmaker() as db:
        assert (await db.scalar(select(StaffSession.user_agent))) == ""
    assert "未知浏览器" in await (await client.get("/admin/me")).text()


def test_only_pages_of_the_staff_site_are_returned_to() -> None:
    from bot.admin.auth import safe_next

    assert safe_next("/admin/hardship?status=new") == "/admin/hardship?status=new"
    for bad in ("/admin\\..\\evil", "//evil.example/admin", "https://evil.example/admin", "/x",
                "", None):
        assert safe_next(bad) == "/admin/", bad


async def test_a_login_is_audited_with_the_address(client, sessionmaker) -> None:  # noqa: ANN001
    staff = await create_staff_user(sessionmaker)
    await login(client)
    [row] = await audit(sessionmaker, "auth.login")
    assert (row.staff_id, row.target, row.refused, row.detail) == (staff.id, DEFAULT_USER, False, {"ip": "127.0.0.1"})


async def test_an_unknown_admin_address_asks_for_a_login_first(client) -> None:  # noqa: ANN001
    resp = await client.get("/admin/no-such-page", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/admin/login?next=/admin/no-such-page"


async def test_the_login_page_as_it_first_opens_and_after_a_wrong_password(client, sessionmaker) -> None:  # noqa: ANN001
    await create_staff_user(sessionmaker)
    page = await (await client.get("/admin/login")).text()
    assert 'class="flash' not in page  # no notice, no error, no first-start hint
    assert 'name="username" value=""' in page and 'name="next" value="/admin/"' in page
    page = await (await client.get("/admin/login?next=/admin/me")).text()
    assert 'name="next" value="/admin/me"' in page and 'class="flash' not in page
    wrong = await (await post_login(client, DEFAULT_USER, "wrong-wrong")).text()
    assert '<div class="flash flash-error" role="alert">用户名或密码不正确</div>' in wrong
    assert "flash-ok" not in wrong and "flash-warn" not in wrong
