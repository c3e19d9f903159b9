"""The staff site's front door: login, CSRF, logout, cookies, audit.

Sessions in depth: test_admin_sessions.py; throttling: test_login_throttle.py."""
from __future__ import annotations

import logging
from datetime import timedelta

import aiohttp_jinja2
import jinja2
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.admin import staff as staff_ops
from bot.admin.site import create_admin_app
from bot.admin.web import render
from bot.feature import Feature, NavEntry
from bot.config import ConfigError, build_settings
from bot.db.models.core import AuditLog, Member, Outbox, Staff
from tests.support.admin import (
    DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user, csrf_at, csrf_from, log_in_staff, login, make_admin_client,
    post_login,
)
from tests.support.settings import make_settings


@pytest.fixture
def settings(db_url, tmp_path):
    return make_settings(db_url, tmp_path, admin={"login_max_failures": 3})


@pytest.fixture
async def client(aiohttp_client, settings, sessionmaker, clock):
    return await make_admin_client(aiohttp_client, settings, sessionmaker, clock)


async def audit_rows(sessionmaker):
    async with sessionmaker() as db:
        return (await db.scalars(select(AuditLog).order_by(AuditLog.id))).all()


async def test_login_with_correct_password_shows_home(client, sessionmaker):
    await create_staff_user(sessionmaker, display_name="王主任")
    resp = await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/"
    home = await client.get("/admin/")
    text = await home.text()
    assert home.status == 200
    assert "工作台" in text and "王主任" in text and "退出" in text


async def test_login_returns_to_the_page_asked_for(client, sessionmaker):
    await create_staff_user(sessionmaker)
    resp = await client.get("/admin/?tab=1", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"].startswith("/admin/login?next=")
    page = await client.get(resp.headers["Location"])
    token = csrf_from(await page.text())
    resp = await client.post(str(page.url.relative()), data={"_csrf": token, "username": DEFAULT_USER, "password": DEFAULT_PASSWORD,
                                                              "next": "/admin/?tab=1"}, allow_redirects=False)
    assert resp.headers["Location"] == "/admin/?tab=1"
    # an outside address is never followed
    await client.post("/admin/logout", data={"_csrf": await csrf_at(client, "/admin/")})
    resp = await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD, next_="https://evil.example/")
    assert resp.headers["Location"] == "/admin/"


async def test_wrong_password_and_unknown_user_read_the_same(client, sessionmaker):
    await create_staff_user(sessionmaker)
    bad_pw = await post_login(client, DEFAULT_USER, "wrong-password")
    unknown = await post_login(client, "nobody", "wrong-password")
    for resp in (bad_pw, unknown):
        assert resp.status == 401
        assert "用户名或密码不正确" in await resp.text()
    assert (await client.get("/admin/", allow_redirects=False)).status == 302


async def test_disabled_account_cannot_log_in_and_loses_its_session(client, sessionmaker, clock):
    await log_in_staff(client, sessionmaker)
    await create_staff_user(sessionmaker, "boss2")  # the last active admin can't be switched off
    async with sessionmaker() as db, db.begin():
        await staff_ops.set_active(db, DEFAULT_USER, False, clock.now())
    assert (await client.get("/admin/", allow_redirects=False)).status == 302
    assert (await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD)).status == 401


async def test_unauthenticated_html_redirects_json_gets_401(client):
    resp = await client.get("/admin/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/admin/login?next=/admin/"
    resp = await client.get("/admin/", headers={"Accept": "application/json"}, allow_redirects=False)
    assert resp.status == 401
    assert (await resp.json())["error"] == "login required"
    resp = await client.post("/admin/logout", data={}, allow_redirects=False)
    assert resp.status == 401
    assert "请先登录" in await resp.text()


async def test_admin_root_and_static_css_need_no_login(client):
    resp = await client.get("/admin", allow_redirects=False)
    assert resp.headers["Location"] == "/admin/"
    resp = await client.get("/admin/static/admin.css")
    assert resp.status == 200
    assert "#c0392b" in await resp.text()


async def test_post_without_or_with_wrong_csrf_is_refused(client, sessionmaker):
    await create_staff_user(sessionmaker)
    # login POST needs the token from the form
    resp = await client.post("/admin/login", data={"username": DEFAULT_USER, "password": DEFAULT_PASSWORD}, allow_redirects=False)
    assert resp.status == 403
    assert "页面已过期" in await resp.text()
    await login(client)
    resp = await client.post("/admin/logout", data={"_csrf": "forged"}, allow_redirects=False)
    assert resp.status == 403
    resp = await client.post("/admin/logout", data={}, allow_redirects=False)
    assert resp.status == 403
    assert (await client.get("/admin/", allow_redirects=False)).status == 200  # still logged in
    token = await csrf_at(client, "/admin/")
    resp = await client.post("/admin/logout", headers={"X-CSRF-Token": token}, allow_redirects=False)
    assert resp.status == 303


async def test_logout_ends_the_session(client, sessionmaker):
    await log_in_staff(client, sessionmaker)
    token = await csrf_at(client, "/admin/")
    resp = await client.post("/admin/logout", data={"_csrf": token})
    assert resp.status == 200 and "您已安全退出" in await resp.text()
    assert str(resp.url.relative()) == "/admin/login?bye=1"
    assert (await client.get("/admin/", allow_redirects=False)).status == 302


async def test_first_start_hint_on_login_page_and_in_log(aiohttp_client, settings, sessionmaker, clock, caplog):
    caplog.set_level(logging.WARNING)
    client = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    assert "unionbot staff add" in caplog.text
    text = await (await client.get("/admin/login")).text()
    assert "尚未创建管理员账号：请在服务器上运行 unionbot staff add 用户名" in text
    await create_staff_user(sessionmaker)
    assert "尚未创建管理员账号" not in await (await client.get("/admin/login")).text()


async def test_logins_are_audited(client, sessionmaker, clock):
    """An existing account's failure is recorded (refused, never the password typed); an unknown
    name is only counted by the throttle."""
    staff = await create_staff_user(sessionmaker)
    await post_login(client, DEFAULT_USER, "wrong-password")
    await post_login(client, "ghost", "wrong-password")
    await login(client)
    rows = await audit_rows(sessionmaker)
    assert [(r.action, r.target, r.staff_id, r.refused) for r in rows] == [
        ("auth.login", DEFAULT_USER, staff.id, True), ("auth.login", DEFAULT_USER, staff.id, False),
    ]
    assert rows[0].detail == {"ip": "127.0.0.1", "reason": "bad_password"}
    assert "wrong-password" not in repr([r.detail for r in rows]) and "ghost" not in repr([r.target for r in rows])
    assert rows[1].at == clock.now()
    token = await csrf_at(client, "/admin/")
    await client.post("/admin/logout", data={"_csrf": token})
    assert (await audit_rows(sessionmaker))[-1].action == "auth.logout"


async def test_session_cookie_is_httponly_samesite_and_scoped(client, sessionmaker):
    await create_staff_user(sessionmaker)
    page = await client.get("/admin/login")
    token = csrf_from(await page.text())
    resp = await client.post("/admin/login", data={"_csrf": token, "username": DEFAULT_USER, "password": DEFAULT_PASSWORD},
                             allow_redirects=False)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/admin" in cookie
    assert "Secure" not in cookie  # public_url is not https here


async def test_secure_cookie_when_public_url_is_https(aiohttp_client, sessionmaker, clock):
    settings = build_settings({"server": {"public_url": "https://union.example", "behind_proxy": True}}, env={})
    client = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    resp = await client.get("/admin/login")
    assert "Secure" in resp.headers["Set-Cookie"]


def test_https_public_url_without_behind_proxy_is_refused_at_start():
    with pytest.raises(ConfigError, match="'server.behind_proxy' must be true"):
        build_settings({"server": {"public_url": "https://union.example"}}, env={})


async def test_session_survives_a_restart(aiohttp_client, settings, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    first = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    await login(first)
    cookie = first.session.cookie_jar.filter_cookies(first.make_url("/admin/"))["unionbot_admin"].value
    second = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    resp = await second.get("/admin/", cookies={"unionbot_admin": cookie}, allow_redirects=False)
    assert resp.status == 200


async def test_home_lists_messages_to_follow_up_by_phone(client, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    now = clock.now()
    async with sessionmaker() as db, db.begin():
        db.add(Member(openid="o1", first_seen=now, last_seen=now, name="李师傅", phone="13812345678"))
        db.add(Member(openid="o2", first_seen=now, last_seen=now))
        db.add(Outbox(key="a", openid="o1", purpose="hardship.status", status="unreachable", next_attempt_at=now, created_at=now))
        db.add(Outbox(key="b", openid="o2", status="failed", next_attempt_at=now, created_at=now - timedelta(hours=1)))
        db.add(Outbox(key="c", openid="o2", status="pending", next_attempt_at=now, created_at=now))
        db.add(Outbox(key="d", openid="o2", status="sent", next_attempt_at=now, created_at=now))
    await login(client)
    text = await (await client.get("/admin/")).text()
    assert "李师傅" in text and "帮扶进度" in text and "无法送达" in text and "发送失败" in text
    assert "138****5678" in text and "13812345678" not in text
    # revealing the number is audited and shown once
    async with sessionmaker() as db:
        outbox_id = await db.scalar(select(Outbox.id).where(Outbox.key == "a"))
    resp = await client.post(f"/admin/outbox/{outbox_id}/contact", data={"_csrf": csrf_from(text)})
    assert "13812345678" in await resp.text()
    assert (await audit_rows(sessionmaker))[-1].action == "member.reveal_phone"


async def test_create_staff_validates_in_chinese(sessionmaker, clock):
    async with sessionmaker() as db, db.begin():
        with pytest.raises(ValueError, match="用户名"):
            await staff_ops.create_staff(db, "ab", "long-enough-1", "", clock.now())
        with pytest.raises(ValueError, match="密码至少需要10个字符"):
            await staff_ops.create_staff(db, "staff2", "short", "", clock.now())
        assert not await staff_ops.any_staff(db)
        await staff_ops.create_staff(db, "Staff2", "long-enough-1", "", clock.now())
        with pytest.raises(ValueError, match="已存在"):
            await staff_ops.create_staff(db, "staff2", "long-enough-2", "", clock.now())
        with pytest.raises(ValueError, match="请至少选择一个角色"):  # only the first account may omit roles
            await staff_ops.create_staff(db, "staff3", "long-enough-2", "", clock.now())
        with pytest.raises(ValueError, match="未知的角色"):
            await staff_ops.create_staff(db, "staff3", "long-enough-2", "", clock.now(), roles=["boss"])
        assert await staff_ops.any_staff(db)
        row = await db.scalar(select(Staff))
        assert row.username == "staff2" and "long-enough-1" not in row.password_hash
        assert row.roles == ["admin"] and row.community is None  # the first account is an admin


async def test_set_password_replaces_the_old_one(client, sessionmaker, clock):
    await create_staff_user(sessionmaker)
    async with sessionmaker() as db, db.begin():
        await staff_ops.set_password(db, DEFAULT_USER, "brand-new-pass", clock.now())
    assert (await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD)).status == 401
    assert (await post_login(client, DEFAULT_USER, "brand-new-pass")).status == 303


async def test_layout_macros_render_for_feature_pages(aiohttp_client, settings, sessionmaker, clock):
    """The shared macros a feature page uses: filters, badge, masked value, pagination, post button."""
    demo_feature = Feature("demo", nav=(NavEntry("演示", "/demo", 99),))
    admin = create_admin_app(settings, sessionmaker, clock, features=[demo_feature])

    async def demo(request):
        return render(request, "_demo.html", {"page": 2, "pages": 3})

    admin.router.add_get("/demo", demo, name="demo")
    env = admin[aiohttp_jinja2.APP_KEY]
    env.loader = jinja2.ChoiceLoader([env.loader, jinja2.DictLoader({"_demo.html": """
{% extends "base.html" %}{% import "macros.html" as m %}{% block content %}
{{ m.filter_form(request, [{"name": "status", "label": "状态", "type": "select", "options": [("open", "进行中")]},
                           {"name": "q", "label": "搜索"}]) }}
{{ m.badge("approved") }} {{ m.badge("weird", label="自定义", tone="bad") }}
{{ m.masked("110105194912310021", "id") }} {{ m.masked(none) }}
{{ m.pagination(request, page, pages, total=45) }}
{{ m.post_button("/admin/x", "删除", csrf_token, confirm="确定删除吗？", style="btn-danger") }}
{% endblock %}"""})])
    parent = web.Application()
    parent.add_subapp("/admin", admin)
    client = await aiohttp_client(parent)
    await log_in_staff(client, sessionmaker)
    text = await (await client.get("/admin/demo?status=open&q=%E5%BC%A0&page=2")).text()
    assert '<option value="open" selected>' in text and 'value="张"' in text
    assert "已通过" in text and "badge-bad" in text and "自定义" in text
    assert "110***********0021" in text
    assert "第 2 / 3 页，共 45 条" in text
    assert "page=1" in text and "page=3" in text and "status=open" in text
    assert 'class="active" aria-current="page">演示' in text
    assert csrf_from(text) and "确定删除吗？" in text


def test_two_features_declaring_one_admin_path_stop_the_start(settings, clock):
    twice = [Feature("a", nav=(NavEntry("甲", "/same", 1),)), Feature("b", nav=(NavEntry("乙", "/same", 2),))]
    with pytest.raises(ValueError, match="/admin/same declared twice"):
        create_admin_app(settings, None, clock, features=twice)
