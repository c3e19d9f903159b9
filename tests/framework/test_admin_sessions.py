"""Server-side staff sessions through HTTP: the cookie is a random token; logout, a password
change, deactivation, a reset and 结束全部会话 end sessions at once (a replayed cookie gets the
login page, and a reveal through it is refused); idle timeout and absolute lifetime."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.admin import sessions
from bot.db.models.core import AuditLog, Member, Outbox, Staff, StaffSession
from tests.support.admin import (
    DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user, csrf_at, csrf_from, login, make_admin_client, post_login,
)
from tests.support.settings import make_settings

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Mobile/15E148 MicroMessenger/8.0.44")


@pytest.fixture
def settings(db_url, tmp_path):
    return make_settings(db_url, tmp_path, admin={"session_idle_minutes": 30, "session_max_age": 3 * 3600})


@pytest.fixture
def new_client(aiohttp_client, settings, sessionmaker, clock):
    async def make():
        return await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    return make


@pytest.fixture
async def client(new_client):
    return await new_client()


def cookie_of(client) -> str:  # noqa: ANN001
    return client.session.cookie_jar.filter_cookies(client.make_url("/admin/"))[sessions.COOKIE].value


async def login_as(client, username=DEFAULT_USER, password=DEFAULT_PASSWORD, agent=CHROME) -> str:  # noqa: ANN001
    token = await csrf_at(client, "/admin/login")
    resp = await client.post("/admin/login", data={"_csrf": token, "username": username, "password": password},
                             headers={"User-Agent": agent}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return cookie_of(client)


async def replay(new_client, cookie: str, path: str = "/admin/"):  # noqa: ANN001
    """GET `path` from a fresh browser carrying only the (stolen) cookie."""
    thief = await new_client()
    return await thief.get(path, cookies={sessions.COOKIE: cookie}, allow_redirects=False)


async def assert_login_page(new_client, cookie: str) -> None:  # noqa: ANN001
    resp = await replay(new_client, cookie)
    assert resp.status == 302
    assert resp.headers["Location"].startswith("/admin/login?")
    assert "ended=1" in resp.headers["Location"]
    assert f"{sessions.COOKIE}=\"\"" in resp.headers.get("Set-Cookie", "")  # the dead cookie is removed
    thief = await new_client()
    page = await thief.get(resp.headers["Location"], cookies={sessions.COOKIE: cookie})
    text = await page.text()
    assert page.status == 200 and "管理后台登录" in text and "登录已过期或已结束" in text


async def session_rows(sessionmaker) -> list[StaffSession]:  # noqa: ANN001
    async with sessionmaker() as db:
        return list(await db.scalars(select(StaffSession).order_by(StaffSession.created_at)))


async def test_the_cookie_is_a_random_token_and_the_row_holds_its_hash(client, sessionmaker):
    await create_staff_user(sessionmaker)
    cookie = await login_as(client)
    assert sessions.TOKEN_RE.match(cookie)
    [row] = await session_rows(sessionmaker)
    assert row.id == hashlib.sha256(cookie.encode()).hexdigest() != cookie
    assert row.ip == "127.0.0.1" and row.user_agent == CHROME and row.revoked_at is None
    assert len(row.csrf_token) >= 40 and row.csrf_token not in cookie


async def test_a_forged_or_malformed_cookie_gets_the_login_page(new_client, sessionmaker):
    await create_staff_user(sessionmaker)
    for forged in ("A" * 43, "not a token"):
        resp = await replay(new_client, forged)
        assert resp.status == 302 and resp.headers["Location"].startswith("/admin/login")
        assert f"{sessions.COOKIE}=\"\"" in resp.headers["Set-Cookie"]  # removed


async def test_replayed_cookie_after_logout_gets_the_login_page_and_cannot_reveal(client, new_client, sessionmaker, clock):
    staff = await create_staff_user(sessionmaker)
    now = clock.now()
    async with sessionmaker() as db, db.begin():
        db.add(Member(openid="o1", first_seen=now, last_seen=now, name="李师傅", phone="13812345678"))
        db.add(Outbox(key="a", openid="o1", purpose="hardship.status", status="unreachable", next_attempt_at=now,
                      created_at=now))
    async with sessionmaker() as db:
        outbox_id = await db.scalar(select(Outbox.id).where(Outbox.key == "a"))
    cookie = await login_as(client)
    token = csrf_from(await (await client.get("/admin/")).text())
    resp = await client.post("/admin/logout", data={"_csrf": token}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/login?bye=1"
    [row] = await session_rows(sessionmaker)
    assert row.revoked_at == clock.now() and row.revoked_reason == "logout"

    await assert_login_page(new_client, cookie)
    thief = await new_client()
    reveal = await thief.post(f"/admin/outbox/{outbox_id}/contact", data={"_csrf": token},
                              cookies={sessions.COOKIE: cookie}, allow_redirects=False)
    assert reveal.status == 401 and "请先登录" in await reveal.text()
    assert "13812345678" not in await reveal.text()
    async with sessionmaker() as db:
        actions = list(await db.scalars(select(AuditLog.action).where(AuditLog.staff_id == staff.id)))
    assert not [a for a in actions if "reveal" in a]


async def test_a_password_change_ends_the_other_sessions_not_this_one(new_client, sessionmaker):
    await create_staff_user(sessionmaker)
    laptop, phone = await new_client(), await new_client()
    await login_as(laptop)
    phone_cookie = await login_as(phone, agent=WECHAT)
    token = await csrf_at(laptop, "/admin/me")
    resp = await laptop.post("/admin/me/password", data={"_csrf": token, "current": DEFAULT_PASSWORD,
                                                        "new": "a-much-better-pass", "again": "a-much-better-pass"})
    assert resp.status == 200 and "密码已修改，其他设备上的登录已全部结束" in await resp.text()
    await assert_login_page(new_client, phone_cookie)
    assert (await laptop.get("/admin/", allow_redirects=False)).status == 200
    reasons = sorted((r.revoked_reason for r in await session_rows(sessionmaker)))
    assert reasons == ["", "password_change"]
    async with sessionmaker() as db:
        row = await db.scalar(select(AuditLog).where(AuditLog.action == "auth.password_change"))
    assert row.detail["ended_sessions"] == 1 and not row.refused
    assert "a-much-better-pass" not in repr(row.detail)


@pytest.mark.parametrize("action", ["deactivate", "end_sessions", "reset"])
async def test_an_admin_ending_an_account_ends_its_sessions_at_once(action, new_client, sessionmaker):
    await create_staff_user(sessionmaker, "boss1", "boss-password-1", "主任")
    worker = await create_staff_user(sessionmaker, roles=("hardship",))
    victim = await new_client()
    cookie = await login_as(victim)
    boss = await new_client()
    await login_as(boss, "boss1", "boss-password-1")
    page = f"/admin/staff/{worker.id}"
    token = await csrf_at(boss, page)
    path, data = {"deactivate": (f"{page}/active", {"active": "0"}),
                  "end_sessions": (f"{page}/end-sessions", {}),
                  "reset": (f"{page}/reset", {})}[action]
    resp = await boss.post(path, data={"_csrf": token, **data})
    assert resp.status == 200
    await assert_login_page(new_client, cookie)
    assert (await victim.get("/admin/", allow_redirects=False)).status == 302
    expected = {"deactivate": "deactivated", "end_sessions": "ended_by_admin", "reset": "password_reset"}[action]
    async with sessionmaker() as db:
        ended = await db.scalar(select(StaffSession).where(StaffSession.staff_id == worker.id))
    assert ended.revoked_reason == expected
    # the boss's own session is untouched
    assert (await boss.get("/admin/", allow_redirects=False)).status == 200


async def test_idle_timeout(client, new_client, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    cookie = await login_as(client)
    for _ in range(3):  # using the site keeps the session alive past the idle limit
        clock.advance(minutes=29)
        assert (await client.get("/admin/", allow_redirects=False)).status == 200
    clock.advance(minutes=30)
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status == 302 and "ended=1" in resp.headers["Location"]
    [row] = await session_rows(sessionmaker)
    assert row.revoked_reason == "idle"
    await assert_login_page(new_client, cookie)


async def test_absolute_lifetime(client, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    await login_as(client)
    for _ in range(7):  # active every 25 minutes: 175 minutes in
        clock.advance(minutes=25)
        assert (await client.get("/admin/", allow_redirects=False)).status == 200
    clock.advance(minutes=5)  # 3 hours: session_max_age in these settings
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status == 302
    [row] = await session_rows(sessionmaker)
    assert row.revoked_reason == "expired"
    assert (await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD)).status == 303  # a new login works


async def test_last_seen_is_written_at_most_once_a_minute(client, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    await login_as(client)
    start = clock.now()
    clock.advance(seconds=30)
    await client.get("/admin/")
    assert (await session_rows(sessionmaker))[0].last_seen == start
    clock.advance(seconds=31)
    await client.get("/admin/")
    assert (await session_rows(sessionmaker))[0].last_seen == clock.now()


async def test_staff_see_their_sessions_and_end_the_others(new_client, sessionmaker):
    await create_staff_user(sessionmaker)
    laptop, phone, tablet = await new_client(), await new_client(), await new_client()
    await login_as(laptop)
    phone_cookie = await login_as(phone, agent=WECHAT)
    tablet_cookie = await login_as(tablet, agent="")
    text = await (await laptop.get("/admin/me")).text()
    assert "修改密码" in text and "Chrome · Windows" in text and "微信 · iPhone" in text and "127.0.0.1" in text
    assert text.count(">当前<") == 1
    rows = {r.user_agent: r for r in await session_rows(sessionmaker)}
    phone_id = rows[WECHAT].id
    resp = await laptop.post(f"/admin/me/sessions/{phone_id}/end", data={"_csrf": csrf_from(text)})
    assert "已结束该登录" in await resp.text()
    await assert_login_page(new_client, phone_cookie)
    # one cannot end another account's session through one's own page
    other = await create_staff_user(sessionmaker, "staff2", "other-password-2", roles=("quiz",))
    spy = await new_client()
    await login_as(spy, "staff2", "other-password-2")
    token = await csrf_at(spy, "/admin/me")
    tablet_id = rows[""].id
    resp = await spy.post(f"/admin/me/sessions/{tablet_id}/end", data={"_csrf": token})
    assert "该登录已经结束了" in await resp.text()
    assert (await tablet.get("/admin/", allow_redirects=False)).status == 200
    # the rest at once
    resp = await laptop.post("/admin/me/sessions/end-others", data={"_csrf": await csrf_at(laptop, "/admin/me")})
    assert "已结束其他 1 处登录" in await resp.text()
    await assert_login_page(new_client, tablet_cookie)
    assert (await laptop.get("/admin/", allow_redirects=False)).status == 200
    assert other.id


async def test_flash_messages_live_in_the_session_row(client, sessionmaker):
    await create_staff_user(sessionmaker)
    cookie = await login_as(client)
    await client.post("/admin/me/sessions/end-others", data={"_csrf": await csrf_at(client, "/admin/me")},
                      allow_redirects=False)
    assert cookie_of(client) == cookie  # nothing but the token in the cookie, unchanged
    [row] = await session_rows(sessionmaker)
    assert row.data["flash"] == [["ok", "没有其他登录"]]
    text = await (await client.get("/admin/me")).text()
    assert "没有其他登录" in text
    assert "没有其他登录" not in await (await client.get("/admin/me")).text()  # shown once
    assert (await session_rows(sessionmaker))[0].data == {}


async def test_csrf_token_is_new_at_every_login(client, sessionmaker):
    await create_staff_user(sessionmaker)
    await login_as(client)
    first = await csrf_at(client, "/admin/")
    await client.post("/admin/logout", data={"_csrf": first})
    await login_as(client)
    second = await csrf_at(client, "/admin/")
    assert first != second
    assert (await client.post("/admin/logout", data={"_csrf": first}, allow_redirects=False)).status == 403


async def test_cookie_is_secure_when_the_proxy_says_https(make_app, aiohttp_client, settings, sessionmaker):
    proxied = settings.model_copy(update={"server": settings.server.model_copy(update={"behind_proxy": True})})
    client = await aiohttp_client(make_app(proxied))
    await create_staff_user(sessionmaker)
    plain = await client.get("/admin/login")
    assert "Secure" not in plain.headers["Set-Cookie"]
    client.session.cookie_jar.clear()
    https = await client.get("/admin/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    cookie = https.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    # without behind_proxy the header is not believed
    direct = await aiohttp_client(make_app())
    resp = await direct.get("/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in resp.headers["Set-Cookie"]


async def test_old_sessions_are_pruned_on_login(client, sessionmaker, clock):
    staff = await create_staff_user(sessionmaker)
    async with sessionmaker() as db, db.begin():
        old = clock.now() - timedelta(days=40)
        db.add(StaffSession(id="f" * 64, staff_id=staff.id, created_at=old, last_seen=old, ip="", user_agent="",
                            csrf_token="x", data={}, revoked_at=None, revoked_reason=""))
    await login(client)
    assert [r.id for r in await session_rows(sessionmaker)] != ["f" * 64]
    assert "f" * 64 not in [r.id for r in await session_rows(sessionmaker)]
    async with sessionmaker() as db:
        assert (await db.get(Staff, staff.id)).active
