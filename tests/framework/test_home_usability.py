"""The 工作台 as staff use it: follow-ups marked done (and undone), 我的待办, dates with the year
when not this year; breadcrumbs on the pages below a navigation entry."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.admin import breadcrumbs
from bot.admin.site import create_admin_app
from bot.app import features
from bot.db.models.core import AuditLog, Member, Outbox
from bot.feature import Feature, TodoItem
from handlers.hardship import ops as hardship_ops
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_from, log_in_staff, login
from tests.support.hardship import ops_ctx
from tests.support.settings import make_settings

HOME = "幸福社区"


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": [HOME, "和平社区"]})


async def seed_follow_ups(db, clock) -> dict[str, int]:  # noqa: ANN001
    """Three messages that did not reach the worker (one from last year), one that did."""
    now = clock.now()
    async with db() as s, s.begin():
        s.add_all([
            Member(openid="oLi", first_seen=now, last_seen=now, name="李建国", phone="13812345678", community=HOME),
            Member(openid="oWang", first_seen=now, last_seen=now, name="王芳", phone="13987654321",
                   community="和平社区"),
            Member(openid="oZhao", first_seen=now, last_seen=now, name="赵大海", phone="13700001111", community=HOME),
        ])
        rows = {
            "li": Outbox(key="k-li", openid="oLi", purpose=hardship_ops.NOTIFY_PURPOSE, status="unreachable",
                         next_attempt_at=now, created_at=now - timedelta(hours=1)),
            "wang": Outbox(key="k-wang", openid="oWang", purpose=hardship_ops.NOTIFY_PURPOSE, status="failed",
                           next_attempt_at=now, created_at=now - timedelta(days=3)),
            "zhao": Outbox(key="k-zhao", openid="oZhao", purpose=hardship_ops.NOTIFY_PURPOSE, status="uncertain",
                           next_attempt_at=now, created_at=datetime(2025, 12, 30, 2, 5, tzinfo=now.tzinfo)),
            "sent": Outbox(key="k-sent", openid="oLi", purpose=hardship_ops.NOTIFY_PURPOSE, status="sent",
                           next_attempt_at=now, created_at=now),
        }
        s.add_all(rows.values())
        await s.flush()
        return {k: o.id for k, o in rows.items()}


def section(page: str, heading: str) -> str:
    """The text of the page's section under `heading` (to the next section)."""
    start = page.index(f">{heading}<")
    ends = [i for i in (page.find("<section", start), page.find("<details", start)) if i != -1]
    return page[start:min(ends) if ends else len(page)]


def flashes(page: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'<div class="flash[^"]*" role="status">([^<]*)</div>', page)]


async def test_a_follow_up_marked_done_leaves_the_list_is_audited_and_can_be_undone(client, db, clock):  # noqa: ANN001
    ids = await seed_follow_ups(db, clock)
    await log_in_staff(client, db)
    page = await (await client.get("/admin/")).text()
    waiting = section(page, "需要电话联系")
    assert "李建国" in waiting and "王芳" in waiting and "赵大海" in waiting
    assert "今天 09:00" in waiting  # today's: no date at all
    assert "11月21日" in waiting  # this year's: without the year
    assert "2025年12月30日 10:05" in waiting  # last year's: with it
    assert "最近已联系" not in page

    resp = await client.post(f"/admin/outbox/{ids['li']}/followed-up", data={"_csrf": csrf_from(page)},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/"
    page = await (await client.get("/admin/")).text()
    [done] = flashes(page)
    assert done.startswith("已标记为已电话联系：李建国（") and done.endswith("如果标错了，可在「最近已联系」中撤销。")
    assert "李建国" not in section(page, "需要电话联系")
    recent = page[page.index("最近已联系"):]
    assert "李建国" in recent and "张干事" in recent and "撤销" in recent
    # the counter no longer alarms about the message staff phoned about
    assert re.search(r'stat-num">0</span><span class="stat-label">无法送达', page)
    async with db() as s:
        row = await s.get(Outbox, ids["li"])
        assert row.followed_up_at is not None and row.status == "unreachable"  # the feature still sees it failed
        audit = (await s.scalars(select(AuditLog).where(AuditLog.action == "member.follow_up_done"))).one()
    assert audit.target == f"outbox:{ids['li']}"

    # marking it twice, or a message that did go out: told so, nothing changes
    for key, text in (("li", "已经标记为已电话联系"), ("sent", "不需要电话联系")):
        page = await (await client.post(f"/admin/outbox/{ids[key]}/followed-up", data={"_csrf": csrf_from(page)})).text()
        assert any(text in f for f in flashes(page)), flashes(page)

    # undone: back on the list, audited
    page = await (await client.post(f"/admin/outbox/{ids['li']}/follow-up/undo", data={"_csrf": csrf_from(page)})).text()
    assert any(f.startswith("已撤销：李建国") for f in flashes(page))
    assert "李建国" in section(page, "需要电话联系") and "最近已联系" not in page
    async with db() as s:
        assert (await s.get(Outbox, ids["li"])).followed_up_at is None
        assert (await s.scalars(select(AuditLog).where(AuditLog.action == "member.follow_up_undo"))).one()


async def test_a_mark_older_than_a_week_is_no_longer_offered_for_undo(client, db, clock):  # noqa: ANN001
    ids = await seed_follow_ups(db, clock)
    await log_in_staff(client, db)
    page = await (await client.get("/admin/")).text()
    await client.post(f"/admin/outbox/{ids['wang']}/followed-up", data={"_csrf": csrf_from(page)})
    clock.advance(days=8)
    page = await (await client.get("/admin/")).text()
    assert "王芳" not in page and "最近已联系" not in page


async def test_read_only_and_other_communities_cannot_mark(client, db, clock):  # noqa: ANN001
    ids = await seed_follow_ups(db, clock)
    await create_staff_user(db, "reader", roles=("viewer",))
    await login(client, "reader", DEFAULT_PASSWORD)
    page = await (await client.get("/admin/")).text()
    assert "李建国" in page and "已联系" not in section(page, "需要电话联系")
    resp = await client.post(f"/admin/outbox/{ids['li']}/followed-up", data={"_csrf": csrf_from(page)})
    assert resp.status == 403 and "只读账号只能查看" in await resp.text()

    client.session.cookie_jar.clear()
    await create_staff_user(db, "community", roles=("hardship",), community=HOME)
    await login(client, "community", DEFAULT_PASSWORD)
    page = await (await client.get("/admin/")).text()
    waiting = section(page, "需要电话联系")
    assert "李建国" in waiting and "王芳" not in waiting  # another community's worker
    resp = await client.post(f"/admin/outbox/{ids['wang']}/followed-up", data={"_csrf": csrf_from(page)})
    assert resp.status == 404  # as if there were no such message
    resp = await client.post(f"/admin/outbox/{ids['li']}/followed-up", data={"_csrf": csrf_from(page)})
    assert resp.status == 200 and "已标记为已电话联系：李建国" in await resp.text()
    async with db() as s:
        assert (await s.get(Outbox, ids["wang"])).followed_up_at is None
        assert (await s.get(Outbox, ids["li"])).followed_up_at is not None


def _with_assignments(calls: list[dict], assigned: dict[int, int]) -> Feature:
    """A feature counting what is assigned to each staff member (as a feature's `todos` would)."""

    async def todos(db, community: str | None = None, assigned_to: int | None = None) -> list[TodoItem]:  # noqa: ANN001
        calls.append({"community": community, "assigned_to": assigned_to})
        if assigned_to is None:
            return [TodoItem("待处理的测试事项", 5, "/admin/hardship")]
        return [TodoItem("分给我的测试事项", assigned.get(assigned_to, 0), "/admin/hardship?mine=1"),
                TodoItem("分给我的其他事项", 0, "/admin/hardship")]

    return Feature(name="assigning", todos=todos, role="hardship")


async def test_my_todos_show_what_each_feature_counts_as_assigned_to_me(aiohttp_client, settings, sessionmaker,
                                                                       clock):  # noqa: ANN001
    calls: list[dict] = []
    assigned: dict[int, int] = {}
    feature = _with_assignments(calls, assigned)
    app = create_admin_app(settings, sessionmaker, clock, None, [*features(), feature])
    parent = web.Application()
    parent.add_subapp("/admin", app)
    client = await aiohttp_client(parent)
    me = await create_staff_user(sessionmaker)
    await login(client)
    page = await (await client.get("/admin/")).text()
    mine = section(page, "我的待办")
    assert "暂无分配给您的事项" in mine and "分给我的" not in mine
    assert {"community": None, "assigned_to": me.id} in calls

    assigned[me.id] = 2
    page = await (await client.get("/admin/")).text()
    mine = section(page, "我的待办")
    assert "分给我的测试事项" in mine and '<span class="todo-num">2</span>' in mine
    assert "分给我的其他事项" not in mine  # nothing waits there: left out
    assert "待处理的测试事项" in section(page, "待办事项")


async def test_no_my_todos_without_a_feature_that_counts_assignments(aiohttp_client, settings, sessionmaker,
                                                                    clock):  # noqa: ANN001
    async def todos(db) -> list[TodoItem]:  # noqa: ANN001
        return [TodoItem("待处理的测试事项", 1, "/admin/")]

    parent = web.Application()
    parent.add_subapp("/admin", create_admin_app(settings, sessionmaker, clock, None,
                                                 [Feature(name="plain", todos=todos, role="hardship")]))
    client = await aiohttp_client(parent)
    await create_staff_user(sessionmaker)
    await login(client)
    page = await (await client.get("/admin/")).text()
    assert "待处理的测试事项" in page and "我的待办" not in page


# ----------------------------------------------------------------------------- breadcrumbs
def crumbs(page: str) -> list[str]:
    """The breadcrumb labels of a page ([] when it shows none)."""
    found = re.search(r'<nav class="crumbs"[^>]*>(.*?)</nav>', page, re.S)
    if not found:
        return []
    return [unescape(re.sub(r"<[^>]+>", "", li)).strip() for li in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]


async def test_breadcrumbs_on_pages_below_a_navigation_entry(client, db, app, clock):  # noqa: ANN001
    async with db() as s, s.begin():
        s.add(Member(openid="oW", first_seen=clock.now(), last_seen=clock.now()))
        await s.flush()
        req = await hardship_ops.submit_request(
            s, ops_ctx(app), openid="oW", consent_version="2026-1",
            data={"kind": "因病", "description": "母亲住院做手术，自付医药费很多。", "household": 3, "income": 4500,
                  "expenses": 1500, "name": "王小明", "phone": "13800138000", "employer": "环卫所"})
    await log_in_staff(client, db)
    other = await create_staff_user(db, "lisi", display_name="李四", roles=("hardship",))

    detail = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert crumbs(detail) == ["工作台", "帮扶审核", req.ref]  # "BF-… · 帮扶审核": the repeat dropped
    nav = re.search(r'<nav class="crumbs"[^>]*>(.*?)</nav>', detail, re.S).group(1)
    assert '<a href="/admin/">工作台</a>' in nav and '<a href="/admin/hardship">帮扶审核</a>' in nav
    assert f'<span aria-current="page">{req.ref}</span>' in nav

    assert crumbs(await (await client.get("/admin/hardship/new")).text()) == ["工作台", "帮扶审核", "代办录入"]
    assert crumbs(await (await client.get(f"/admin/staff/{other.id}")).text()) == ["工作台", "工作人员账号", "账号 lisi"]
    # the navigation entries' own pages, the 工作台 and error pages: none
    for path in ("/admin/", "/admin/hardship", "/admin/signup/record", "/admin/staff"):
        assert crumbs(await (await client.get(path)).text()) == [], path
    missing = await client.get("/admin/hardship/999999")
    assert missing.status == 404 and crumbs(await missing.text()) == []


def test_a_page_may_set_its_own_breadcrumb() -> None:
    class Router(dict):
        def __getitem__(self, name):  # noqa: ANN001, ANN204
            class R:
                @staticmethod
                def url_for():  # noqa: ANN205
                    return "/admin/"
            return R()

    class App(dict):
        router = Router()

    class Request:
        app = App()
        path = "/admin/quiz/periods/2026-11/delete"

    given = [("每月一题", "/admin/quiz"), ("2026年11月", "/admin/quiz/periods/2026-11"), "删除"]
    assert breadcrumbs.trail(Request(), "删除「2026年11月」", given) == [
        breadcrumbs.Crumb("工作台", "/admin/"), breadcrumbs.Crumb("每月一题", "/admin/quiz"),
        breadcrumbs.Crumb("2026年11月", "/admin/quiz/periods/2026-11"), breadcrumbs.Crumb("删除")]
    assert breadcrumbs.trail(Request(), "x", []) == []  # a page that wants none


@pytest.mark.parametrize(("title", "section", "shown"), [
    ("BF-2026-0012 · 帮扶审核", "帮扶审核", "BF-2026-0012"), ("2026年11月 每月一题", "每月一题", "2026年11月"),
    ("#12 留言咨询", "留言咨询", "#12"), ("王建国 · 主席", "主席报送", "王建国 · 主席"),
    ("自定义菜单 · 公众号设置", "公众号设置", "自定义菜单"),
])
def test_the_last_crumb_does_not_repeat_the_section(title: str, section: str, shown: str) -> None:
    assert breadcrumbs._short(title, section) == shown  # noqa: SLF001
