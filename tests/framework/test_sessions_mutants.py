"""The staff's sessions (mutation/report-admin-sessions.txt): how a signed-in browser is named on
the sessions page (staff recognise their own phone or computer there before signing one out),
which sessions the page and the staff list count as usable, ending one, logging out."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.admin import sessions
from bot.admin.sessions import describe_agent
from bot.db.models.core import Staff, StaffSession
from tests.support.admin import csrf_at, log_in_staff, make_admin_client
from tests.support.settings import make_settings

IPHONE_WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148 MicroMessenger/8.0.44 NetType/WIFI Language/zh_CN")
EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Safari/537.36 Edg/120.0.0.0")
CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Safari/537.36")
CHROME_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.1 Safari/605.1.15")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Mobile Safari/537.36")


@pytest.mark.parametrize("agent,name", [
    (IPHONE_WECHAT, "微信 · iPhone"),
    (EDGE, "Edge · Windows"),
    (CHROME_MAC, "Chrome · Mac"),
    (CHROME_IPAD, "Chrome · iPad"),
    (FIREFOX_LINUX, "Firefox · Linux"),
    (SAFARI_MAC, "Safari · Mac"),
    (CHROME_ANDROID, "Chrome · Android"),
    ("curl/8.4.0", "其他浏览器"),
    ("", "未知浏览器"),
])
def test_a_browser_is_named_by_its_program_and_device(agent, name):  # noqa: ANN001
    assert describe_agent(agent) == name


# --- the sessions page's list, the staff list's counts, ending a session (sharper tests) ------------

IDLE, MAX_AGE = timedelta(minutes=30), timedelta(hours=8)


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, admin={"session_idle_minutes": 30, "session_max_age": 8 * 3600})


async def _two_staff_with_sessions(sessionmaker, now) -> tuple[int, int]:  # noqa: ANN001
    m = timedelta(minutes=1)
    async with sessionmaker() as db, db.begin():
        me, other = (Staff(username=u, password_hash="x", created_at=now - timedelta(days=9), roles=["admin"])
                     for u in ("me", "other"))
        db.add_all([me, other])
        await db.flush()
        rows = {  # id: (staff, created_at, last_seen, revoked_at)
            "phone": (me, now - 2 * 60 * m, now - 5 * m, None),
            "desk": (me, now - 60 * m, now - m, None),
            "old-laptop": (me, now - 3 * 60 * m, now - 20 * m, None),
            "logged-out": (me, now - 10 * m, now - 2 * m, now - 2 * m),
            "idle-at-limit": (me, now - 60 * m, now - IDLE, None),
            "idle-just-not": (me, now - 60 * m, now - IDLE + m, None),
            "lifetime-at-limit": (me, now - MAX_AGE, now - 3 * m, None),
            "lifetime-just-not": (me, now - MAX_AGE + m, now - 4 * m, None),
            "other-desk": (other, now - 60 * m, now - m, None),
        }
        db.add_all([StaffSession(id=sid, staff_id=st.id, created_at=c, last_seen=seen, revoked_at=r,
                                 revoked_reason="logout" if r else "", ip="", user_agent="", csrf_token="t", data={})
                    for sid, (st, c, seen, r) in rows.items()])
    return me.id, other.id


async def test_the_sessions_page_lists_only_my_usable_sessions_latest_first(sessionmaker, settings, clock) -> None:  # noqa: ANN001
    now = clock.now()
    me, _other = await _two_staff_with_sessions(sessionmaker, now)
    async with sessionmaker() as db:
        live = await sessions.live_sessions(db, me, now, settings)
    # the limits as the login middleware applies them: idle or old for exactly the limit is ended
    assert [r.id for r in live] == ["desk", "lifetime-just-not", "phone", "old-laptop", "idle-just-not"]
    for row in live:
        assert sessions.end_reason(row, now, IDLE, MAX_AGE) == ""


async def test_the_staff_list_counts_usable_sessions_per_account(sessionmaker, settings, clock) -> None:  # noqa: ANN001
    now = clock.now()
    me, other = await _two_staff_with_sessions(sessionmaker, now)
    async with sessionmaker() as db:
        counts = await sessions.live_counts(db, now, settings)
    assert counts == {me: (5, now - timedelta(minutes=1)), other: (1, now - timedelta(minutes=1))}


async def test_ending_a_session_twice_keeps_the_first_ending(sessionmaker, settings, clock) -> None:  # noqa: ANN001
    now = clock.now()
    await _two_staff_with_sessions(sessionmaker, now)
    async with sessionmaker() as db, db.begin():
        assert await sessions.revoke(db, "desk", "ended_by_self", now) is True
    async with sessionmaker() as db, db.begin():
        assert await sessions.revoke(db, "desk", "ended_by_admin", now + timedelta(minutes=3)) is False
        assert await sessions.revoke(db, "logged-out", "ended_by_admin", now) is False
    async with sessionmaker() as db:
        rows = {r.id: r for r in await db.scalars(select(StaffSession))}
    assert (rows["desk"].revoked_reason, rows["desk"].revoked_at) == ("ended_by_self", now)
    assert (rows["logged-out"].revoked_reason, rows["logged-out"].revoked_at) == ("logout", now - timedelta(minutes=2))


async def test_logging_out_removes_the_cookie(aiohttp_client, settings, sessionmaker, clock) -> None:  # noqa: ANN001
    client = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    await log_in_staff(client, sessionmaker)
    token = await csrf_at(client, "/admin/")
    resp = await client.post("/admin/logout", data={"_csrf": token}, allow_redirects=False)
    assert resp.status == 303
    morsel = resp.cookies[sessions.COOKIE]
    assert morsel.value == "" and morsel["max-age"] == "0" and morsel["path"] == sessions.COOKIE_PATH
    assert (await client.get("/admin/", allow_redirects=False)).status == 302  # logged out in this browser


def test_flashes_keep_the_last_five_and_only_in_a_session() -> None:
    state = sessions.SessionState(id="s")
    for i in range(7):
        assert state.flash("ok", f"第{i}条") is True
    assert state.dirty and state.data["flash"] == [["ok", f"第{i}条"] for i in range(2, 7)]
    state.dirty = False
    assert state.pop_flashes() == [("ok", f"第{i}条") for i in range(2, 7)]
    assert state.dirty and state.data == {}
    state.dirty = False
    assert state.pop_flashes() == [] and not state.dirty  # nothing to show: nothing to write back
    visitor = sessions.SessionState(data={"flash": [["ok", "x"]]})
    assert visitor.flash("ok", "已保存") is False and visitor.data == {"flash": [["ok", "x"]]} and not visitor.dirty
    assert visitor.pop_flashes() == [] and visitor.data == {"flash": [["ok", "x"]]}


def test_the_login_forms_token_is_made_once() -> None:
    state = sessions.SessionState()
    token = state.anonymous_csrf()
    assert sessions.TOKEN_RE.match(token) and state.set_pre_cookie
    state.set_pre_cookie = False
    assert state.anonymous_csrf() == token and not state.set_pre_cookie
    known = sessions.SessionState(pre_token="t" * 43)
    assert known.anonymous_csrf() == "t" * 43 and not known.set_pre_cookie


def test_why_a_session_ended_at_its_exact_limits(clock) -> None:  # noqa: ANN001
    now = clock.now()

    def row(created, seen, revoked=None, reason=""):  # noqa: ANN001, ANN202
        return StaffSession(id="x", staff_id=1, created_at=created, last_seen=seen, revoked_at=revoked,
                            revoked_reason=reason)

    m = timedelta(minutes=1)
    assert sessions.end_reason(row(now - m, now, now, "logout"), now, IDLE, MAX_AGE) == "logout"
    assert sessions.end_reason(row(now - m, now, now, ""), now, IDLE, MAX_AGE) == "revoked"
    assert sessions.end_reason(row(now - MAX_AGE, now), now, IDLE, MAX_AGE) == "expired"
    assert sessions.end_reason(row(now - MAX_AGE + m, now - IDLE), now, IDLE, MAX_AGE) == "idle"
    assert sessions.end_reason(row(now - MAX_AGE + m, now - IDLE + m), now, IDLE, MAX_AGE) == ""


async def test_a_new_session_row_holds_bounded_details(sessionmaker, settings, clock) -> None:  # noqa: ANN001
    now = clock.now()
    me, _other = await _two_staff_with_sessions(sessionmaker, now)
    async with sessionmaker() as db, db.begin():
        token, row = await sessions.create(db, me, now, ip="2001:db8:" + "a" * 80, user_agent="U" * 300)
    assert sessions.TOKEN_RE.match(token) and row.id == sessions.token_id(token)
    async with sessionmaker() as db:
        stored = await db.get(StaffSession, row.id)
    assert (stored.ip, stored.user_agent) == (("2001:db8:" + "a" * 80)[:64], "U" * 200)
    assert (stored.created_at, stored.last_seen, stored.revoked_at, stored.revoked_reason, stored.data) == (
        now, now, None, "", {})
    assert len(stored.csrf_token) == 43 and stored.csrf_token != token


async def test_ending_sessions_only_of_the_account_named(sessionmaker, settings, clock) -> None:  # noqa: ANN001
    now = clock.now()
    me, other = await _two_staff_with_sessions(sessionmaker, now)
    async with sessionmaker() as db, db.begin():
        assert await sessions.revoke(db, "other-desk", "ended_by_self", now, staff_id=me) is False  # not mine
        assert await sessions.revoke(db, "desk", "ended_by_self_with_a_long_reason_text", now, staff_id=me)
        assert await sessions.revoke_all(db, me, "password_change", now, except_id="phone") == 5
        assert await sessions.revoke_all(db, me, "password_change", now) == 1  # the phone, kept before
        assert await sessions.revoke_all(db, me, "password_change", now) == 0
    async with sessionmaker() as db:
        rows = {r.id: r for r in await db.scalars(select(StaffSession))}
    assert rows["other-desk"].revoked_at is None
    assert rows["desk"].revoked_reason == "ended_by_self_with_a_long_reason"  # cut to the column's 32
    assert {r.revoked_reason for k, r in rows.items() if k not in ("desk", "other-desk", "logged-out")} == \
        {"password_change"}
    assert rows["logged-out"].revoked_reason == "logout"


async def test_ended_sessions_are_deleted_thirty_days_after_their_last_use(sessionmaker, settings, clock) -> None:  # noqa: ANN001
    now = clock.now()
    me, _other = await _two_staff_with_sessions(sessionmaker, now)
    cutoff = now - IDLE - sessions.KEEP_ENDED
    async with sessionmaker() as db, db.begin():
        db.add_all([StaffSession(id=sid, staff_id=me, created_at=seen - timedelta(hours=1), last_seen=seen,
                                 revoked_at=None, revoked_reason="", ip="", user_agent="", csrf_token="t", data={})
                    for sid, seen in (("at-cutoff", cutoff), ("older", cutoff - timedelta(seconds=1)))])
    async with sessionmaker() as db, db.begin():
        assert await sessions.prune(db, now, settings) == 1
    async with sessionmaker() as db:
        ids = set(await db.scalars(select(StaffSession.id)))
    assert "at-cutoff" in ids and "older" not in ids and len(ids) == 10


def test_the_logged_in_account_as_pages_see_it() -> None:
    row = Staff(id=4, username="li.hong", display_name=None, roles=None, community="东湖社区",
                must_change_password=None)
    assert sessions.StaffUser.from_row(row) == sessions.StaffUser(4, "li.hong", "", frozenset(), "东湖社区", False)
    row = Staff(id=5, username="boss", display_name="王主任", roles=["admin", "quiz"], community=None,
                must_change_password=True)
    user = sessions.StaffUser.from_row(row)
    assert user == sessions.StaffUser(5, "boss", "王主任", frozenset({"admin", "quiz"}), None, True)
    assert (user.name, user.is_admin) == ("王主任", True)
    assert sessions.StaffUser(6, "x", "").name == "x"


async def test_ending_every_session_records_a_bounded_reason(sessionmaker, settings, clock) -> None:  # noqa: ANN001
    now = clock.now()
    me, _other = await _two_staff_with_sessions(sessionmaker, now)
    async with sessionmaker() as db, db.begin():
        assert await sessions.revoke_all(db, me, "password_reset_by_the_administrator", now) == 7
    async with sessionmaker() as db:
        reasons = set(await db.scalars(select(StaffSession.revoked_reason).where(StaffSession.staff_id == me)))
    assert reasons == {"password_reset_by_the_administra", "logout"}  # cut to the column's 32 characters


async def test_an_account_switched_off_in_the_database_loses_its_session(aiohttp_client, settings, sessionmaker,
                                                                          clock) -> None:  # noqa: ANN001
    """Switched off behind the site's back (no session ended by set_active): the next request finds
    the account inactive, is sent to the login page and the session is recorded as ended."""
    client = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    await log_in_staff(client, sessionmaker)
    clock.advance(minutes=3)
    async with sessionmaker() as db, db.begin():
        (await db.scalar(select(Staff))).active = False
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status == 302 and "ended=1" in resp.headers["Location"]
    async with sessionmaker() as db:
        [row] = list(await db.scalars(select(StaffSession)))
    assert (row.revoked_reason, row.revoked_at) == ("deactivated", clock.now())



def test_the_state_outside_the_middleware_is_made_once() -> None:
    from aiohttp.test_utils import make_mocked_request

    request = make_mocked_request("GET", "/admin/nowhere")
    state = sessions.request_session(request)
    assert isinstance(state, sessions.SessionState) and state.id is None and state.staff is None
    assert sessions.request_session(request) is state


async def test_cookies_of_a_login_and_of_the_pages_after_it(aiohttp_client, settings, sessionmaker, clock) -> None:  # noqa: ANN001
    from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user

    client = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    await create_staff_user(sessionmaker)
    form = await client.get("/admin/login")
    assert form.cookies[sessions.PRE_COOKIE].value  # the login form's own token
    again = await client.get("/admin/login")
    assert sessions.PRE_COOKIE not in again.cookies  # kept, not sent again
    token = await csrf_at(client, "/admin/login")
    resp = await client.post("/admin/login", data={"_csrf": token, "username": DEFAULT_USER, "password": DEFAULT_PASSWORD},
                             allow_redirects=False)
    login_cookie = resp.cookies[sessions.COOKIE]
    assert login_cookie["max-age"] == str(8 * 3600) and login_cookie["path"] == "/admin"  # lives as long as the session may
    pre = resp.cookies[sessions.PRE_COOKIE]
    assert pre.value == "" and pre["max-age"] == "0" and pre["path"] == "/admin"  # the pre-login token goes
    page = await client.get("/admin/", allow_redirects=False)
    assert page.status == 200 and not page.cookies  # a page of a live session sets no cookie


async def test_one_browser_using_the_site_touches_only_its_own_session(aiohttp_client, settings, sessionmaker,
                                                                       clock) -> None:  # noqa: ANN001
    from tests.support.admin import create_staff_user, login

    await create_staff_user(sessionmaker)
    laptop = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    phone = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    await login(laptop)
    start = clock.now()
    await login(phone)
    clock.advance(seconds=60)  # exactly a minute later: last_seen is written
    assert (await laptop.get("/admin/")).status == 200
    async with sessionmaker() as db:
        seen = sorted(await db.scalars(select(StaffSession.last_seen)))
    assert seen == [start, clock.now()]  # the phone's session untouched
