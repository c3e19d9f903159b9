"""Staff accounts: the /admin/staff pages (admin only), the forced password change after a
reset, the own-account page's password rules, and `unionbot staff …` (click's CliRunner)."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.admin import staff as staff_ops
from bot.cli import main
from bot.db.models.core import AuditLog, Staff, StaffSession
from tests.support.admin import (
    DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user, csrf_at, csrf_from, login, make_admin_client, post_login,
)
from tests.support.settings import make_settings

COMMUNITIES = ["东湖社区", "西园社区"]
TEMP_RE = re.compile(r'class="temp-password">([a-z0-9-]+)<')


@pytest.fixture
def settings(db_url, tmp_path):
    return make_settings(db_url, tmp_path, federation={"communities": COMMUNITIES})


@pytest.fixture
def new_client(aiohttp_client, settings, sessionmaker, clock):
    async def make():
        return await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    return make


@pytest.fixture
async def admin(new_client, sessionmaker):
    """An admin's browser, logged in."""
    await create_staff_user(sessionmaker, "boss1", "boss-password-1", "王主任")
    client = await new_client()
    await login(client, "boss1", "boss-password-1")
    return client


async def audit_actions(sessionmaker) -> list[tuple[str, str, bool]]:  # noqa: ANN001
    async with sessionmaker() as db:
        return [(r.action, r.target, r.refused) for r in await db.scalars(select(AuditLog).order_by(AuditLog.id))]


async def get_staff(sessionmaker, username: str) -> Staff:  # noqa: ANN001
    async with sessionmaker() as db:
        return await staff_ops.get_staff(db, username)


async def add_account(admin, **fields):  # noqa: ANN001, ANN003, ANN201
    data = {"_csrf": await csrf_at(admin, "/admin/staff"), "username": "", "display_name": "", "community": ""}
    roles = fields.pop("roles", ())
    data.update(fields)
    return await admin.post("/admin/staff/add", data=[*data.items(), *(("roles", r) for r in roles)])


async def test_only_admins_open_the_staff_pages(admin, new_client, sessionmaker):
    text = await (await admin.get("/admin/")).text()
    assert "工作人员" in text and "修改密码" in text
    await create_staff_user(sessionmaker, roles=("hardship",))
    worker = await new_client()
    await login(worker)
    home = await (await worker.get("/admin/")).text()
    assert "修改密码" in home and 'href="/admin/staff"' not in home
    for path in ("/admin/staff", "/admin/staff/1"):
        resp = await worker.get(path)
        assert resp.status == 403 and "管理员" in await resp.text()
    resp = await worker.post("/admin/staff/add", data={"_csrf": csrf_from(home), "username": "sneaky1",
                                                       "roles": "admin"})
    assert resp.status == 403
    assert await get_staff(sessionmaker, "sneaky1") is None


async def test_an_admin_adds_an_account_whose_first_login_must_set_a_password(admin, new_client, sessionmaker):
    page = await (await admin.get("/admin/staff")).text()
    assert "东湖社区" in page and "帮扶审核" in page  # the configured communities, the roles
    resp = await add_account(admin, username="Li.Hong", display_name="李红", roles=("hardship", "events"),
                             community="东湖社区")
    text = await resp.text()
    assert resp.status == 200 and "临时密码" in text and "只显示这一次" in text
    temp = TEMP_RE.search(text).group(1)
    row = await get_staff(sessionmaker, "li.hong")
    assert row.roles == ["hardship", "events"] and row.community == "东湖社区" and row.must_change_password
    assert temp not in repr(await audit_actions(sessionmaker))
    assert ("staff.create", "li.hong", False) in await audit_actions(sessionmaker)

    li = await new_client()
    resp = await post_login(li, "li.hong", temp)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/me"
    # every other page sends her back to choose a password; actions are refused
    resp = await li.get("/admin/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/admin/me"
    text = await (await li.get("/admin/me")).text()
    assert "临时密码" in text and "我的登录" not in text
    token = csrf_from(text)
    resp = await li.post("/admin/outbox/1/contact", data={"_csrf": token})
    assert resp.status == 403 and "请先设置一个新密码" in await resp.text()
    for weak, why in (("short-1", "至少需要10个字符"), ("1234567890", "不能全是数字"), ("li.hong-2026", "不能包含用户名"),
                      ("aaaaaaaaaaaa", "太简单"), (temp, "不能与当前密码相同")):
        resp = await li.post("/admin/me/password", data={"_csrf": token, "current": temp, "new": weak, "again": weak})
        assert resp.status == 400 and why in await resp.text(), weak
    resp = await li.post("/admin/me/password", data={"_csrf": token, "current": temp, "new": "my-own-secret-9",
                                                     "again": "my-own-secret-90"})
    assert "两次输入的新密码不一致" in await resp.text()
    resp = await li.post("/admin/me/password", data={"_csrf": token, "current": temp, "new": "my-own-secret-9",
                                                     "again": "my-own-secret-9"})
    assert resp.status == 200 and "密码已修改" in await resp.text()
    assert (await li.get("/admin/", allow_redirects=False)).status == 200
    row = await get_staff(sessionmaker, "li.hong")
    assert not row.must_change_password and staff_ops.verify_password(row.password_hash, "my-own-secret-9")


async def test_adding_refuses_bad_input_in_chinese(admin, sessionmaker):
    for fields, message in (
        ({"username": "boss1", "roles": ("quiz",)}, "已存在"),
        ({"username": "new1", "roles": ()}, "请至少选择一个角色"),
        ({"username": "new1", "roles": ("quiz",), "community": "南山社区"}, "不在配置的社区列表中"),
        ({"username": "x", "roles": ("quiz",)}, "用户名需为3到32位"),
    ):
        resp = await add_account(admin, **fields)
        assert resp.status == 400 and message in await resp.text(), fields
    assert await get_staff(sessionmaker, "new1") is None
    assert ("staff.create", "new1", True) in await audit_actions(sessionmaker)


async def test_editing_roles_and_community(admin, sessionmaker):
    worker = await create_staff_user(sessionmaker, roles=("hardship",))
    page = f"/admin/staff/{worker.id}"
    token = await csrf_at(admin, page)
    resp = await admin.post(f"{page}/update", data=[("_csrf", token), ("display_name", "张干事"), ("roles", "viewer"),
                                                    ("roles", "chairs"), ("community", "西园社区")])
    assert resp.status == 200 and "已保存" in await resp.text()
    row = await get_staff(sessionmaker, DEFAULT_USER)
    assert row.roles == ["chairs", "viewer"] and row.community == "西园社区"
    async with sessionmaker() as db:
        entry = await db.scalar(select(AuditLog).where(AuditLog.action == "staff.update"))
    assert entry.detail["changed"] == ["roles", "community"] and entry.target == DEFAULT_USER
    listing = await (await admin.get("/admin/staff")).text()
    assert "主席报送与指标看板、只读" in listing and "西园社区" in listing and "街道（全部社区）" in listing
    # an admin cannot take away their own admin role (nor lock themselves out)
    me = await get_staff(sessionmaker, "boss1")
    resp = await admin.post(f"/admin/staff/{me.id}/update", data=[("_csrf", token), ("roles", "quiz")])
    assert resp.status == 400 and "不能取消自己的管理员角色" in await resp.text()
    resp = await admin.post(f"/admin/staff/{me.id}/active", data={"_csrf": token, "active": "0"})
    assert "不能停用自己的账号" in await resp.text()
    assert (await get_staff(sessionmaker, "boss1")).roles == ["admin"]


async def test_deactivate_reactivate_and_reset(admin, new_client, sessionmaker):
    worker = await create_staff_user(sessionmaker, roles=("quiz",))
    page = f"/admin/staff/{worker.id}"
    token = await csrf_at(admin, page)
    resp = await admin.post(f"{page}/active", data={"_csrf": token, "active": "0"})
    assert "已停用 staff1" in await resp.text()
    client = await new_client()
    resp = await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD)
    assert resp.status == 401 and "用户名或密码不正确" in await resp.text()  # the same answer as a wrong password
    await admin.post(f"{page}/active", data={"_csrf": token, "active": "1"})
    assert (await post_login(client, DEFAULT_USER, DEFAULT_PASSWORD)).status == 303

    resp = await admin.post(f"{page}/reset", data={"_csrf": token})
    temp = TEMP_RE.search(await resp.text()).group(1)
    assert (await client.get("/admin/", allow_redirects=False)).status == 302  # her session ended
    other = await new_client()
    assert (await post_login(other, DEFAULT_USER, DEFAULT_PASSWORD)).status == 401
    resp = await post_login(other, DEFAULT_USER, temp)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/me"
    actions = [a for a, _t, _r in await audit_actions(sessionmaker) if a.startswith("staff.")]
    assert actions == ["staff.deactivate", "staff.reactivate", "staff.reset_password"]


async def test_the_staff_list_shows_live_sessions(admin, new_client, sessionmaker):
    await create_staff_user(sessionmaker, roles=("events",), community="东湖社区")
    for _ in range(2):
        await login(await new_client())
    text = await (await admin.get("/admin/staff")).text()
    assert "2 处" in text and "活动报名与培训台账" in text
    async with sessionmaker() as db:
        assert len(list(await db.scalars(select(StaffSession)))) == 3


# ---- the CLI ------------------------------------------------------------------------------

def _cli(tmp_path):  # noqa: ANN001, ANN202
    db = tmp_path / "cli.db"
    config = tmp_path / "cli.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n[federation]\ncommunities = ["东湖社区"]\n',
                      encoding="utf-8")
    runner = CliRunner()

    def run(*args: str, input: str | None = None):  # noqa: A002, ANN202
        return runner.invoke(main, [*args, "--config", str(config)], input=input)

    return run, create_engine(f"sqlite:///{db}")


def test_cli_staff_add_passwd_list_deactivate(tmp_path):
    run, engine = _cli(tmp_path)
    result = run("staff", "add", "boss", "--name", "王主任", "--role", "quiz", "--password-stdin",
                 input="chief-password-1\n")
    assert result.exit_code == 0, result.output
    assert "the first account is an admin" in result.output and "roles: admin, quiz" in result.output
    result = run("staff", "add", "worker", "--password-stdin", input="helper-pass-001\n")
    assert result.exit_code == 2 and "--role" in result.output
    result = run("staff", "add", "worker", "--role", "hardship", "--role", "viewer", "--community", "东湖社区",
                 "--password-stdin", input="helper-pass-001\n")
    assert result.exit_code == 0 and "community: 东湖社区" in result.output
    result = run("staff", "add", "weak", "--role", "quiz", "--password-stdin", input="123456789012\n")
    assert result.exit_code == 2 and "不能全是数字" in result.output
    result = run("staff", "add", "far", "--role", "quiz", "--community", "南山社区", "--password-stdin",
                 input="far-password-1\n")
    assert result.exit_code == 2 and "不在配置的社区列表中" in result.output

    with Session(engine) as db:
        worker = db.scalar(select(Staff).where(Staff.username == "worker"))
        assert worker.roles == ["hardship", "viewer"] and worker.community == "东湖社区"
        db.add(StaffSession(id="a" * 64, staff_id=worker.id, created_at=worker.created_at,
                            last_seen=worker.created_at, ip="", user_agent="", csrf_token="t", data={},
                            revoked_at=None, revoked_reason=""))
        db.commit()

    result = run("staff", "passwd", "worker", "--password-stdin", input="fresh-secret-002\n")
    assert result.exit_code == 0 and "sessions have ended" in result.output
    result = run("staff", "passwd", "worker", "--temporary")
    assert result.exit_code == 0
    temp = result.output.rsplit(": ", 1)[-1].strip()
    result = run("staff", "deactivate", "worker")
    assert result.exit_code == 0
    result = run("staff", "list")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "admin,quiz" in lines["boss"] and "active" in lines["boss"]
    assert "东湖社区" in lines["worker"] and "deactivated" in lines["worker"] and "must change password" in lines["worker"]
    assert run("staff", "passwd", "ghost", "--password-stdin", input="whatever-pass-1\n").exit_code == 2

    with Session(engine) as db:
        worker = db.scalar(select(Staff).where(Staff.username == "worker"))
        assert staff_ops.verify_password(worker.password_hash, temp) and worker.must_change_password
        assert db.get(StaffSession, "a" * 64).revoked_reason == "password_reset"
        actions = [(a.action, a.target) for a in db.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == [("staff.create", "boss"), ("staff.create", "worker"), ("staff.reset_password", "worker"),
                       ("staff.reset_password", "worker"), ("staff.deactivate", "worker")]
    assert "fresh-secret-002" not in repr(actions)
    engine.dispose()
