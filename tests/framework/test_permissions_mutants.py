"""Sharper tests for bot/admin/permissions.py (mutation group `admin-permissions`): what the 403
page says to a read-only account for each kind of route, and the community rules a form or an
action meets (the walk over every route with every role is test_permissions.py)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from sqlalchemy import select

from bot import keys
from bot.admin import permissions as perm
from bot.admin.permissions import PRINCIPAL, BadCommunity, OutOfScope, Principal, Refused, decide
from bot.db.models.core import AuditLog
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, login
from tests.support.settings import make_settings

HOME, OTHER = "幸福社区", "和平社区"
HARDSHIP = SimpleNamespace(name="hardship", role="hardship")
VIEWER = Principal(1, frozenset({"viewer"}))


def request_of(principal: Principal, settings) -> web.Request:  # noqa: ANN001
    app = web.Application()
    app[keys.ADMIN_SETTINGS] = settings
    request = make_mocked_request("POST", "/admin/x", app=app)
    request[PRINCIPAL] = principal
    return request


@pytest.fixture
def federation(tmp_path):  # noqa: ANN001, ANN201
    settings = make_settings("sqlite+aiosqlite:///unused.db", tmp_path, federation={"communities": [HOME, OTHER]})
    return request_of(Principal(1, frozenset({"hardship"})), settings)


@pytest.fixture
def community(tmp_path):  # noqa: ANN001, ANN201
    settings = make_settings("sqlite+aiosqlite:///unused.db", tmp_path, federation={"communities": [HOME, OTHER]})
    return request_of(Principal(2, frozenset({"hardship"}), HOME), settings)


@pytest.mark.parametrize("owner", [HARDSHIP, None], ids=["feature", "site"])
@pytest.mark.parametrize("name,method,message", [
    ("x.reveal", "POST", "只读账号不能查看完整的个人信息。"),
    ("x.export", "GET", "只读账号不能导出个人信息。"),
    ("x.photo", "GET", "只读账号不能查看证明材料照片。"),
])
def test_what_a_read_only_account_is_told(owner, name, method, message) -> None:  # noqa: ANN001
    verdict = decide(VIEWER, owner, name, "/admin/x/1", method)
    assert verdict == perm.Decision(False, "read_only", message)
    assert verdict.allowed is False


def test_a_read_only_account_sending_a_form_is_told_it_may_only_look() -> None:
    assert decide(VIEWER, HARDSHIP, "hardship.act", "/admin/hardship/1/act", "POST") == \
        perm.Decision(False, "read_only", "只读账号只能查看，不能进行这项操作。")
    assert decide(VIEWER, HARDSHIP, "hardship.detail", "/admin/hardship/1", "GET").allowed


def test_new_records_get_the_community_the_account_may_give(federation, community) -> None:  # noqa: ANN001
    assert perm.forced_community(federation, OTHER) == OTHER
    assert perm.forced_community(federation, "") is None
    assert perm.forced_community(community, OTHER) == HOME
    assert perm.community_choices(federation) == [HOME, OTHER]
    assert perm.community_choices(community) == [HOME]


def test_a_form_chooses_a_configured_community_or_none(federation, community) -> None:  # noqa: ANN001
    assert perm.chosen_community(federation, f" {OTHER} ") == OTHER
    assert perm.chosen_community(federation, None) is None
    assert perm.chosen_community(federation, "") is None
    assert perm.chosen_community(community, OTHER) == HOME
    with pytest.raises(BadCommunity) as bad:
        perm.chosen_community(federation, "别的社区")
    assert str(bad.value) == "请从列表中选择社区。"


def test_an_action_on_a_record_the_account_may_not_touch(community, federation) -> None:  # noqa: ANN001
    with pytest.raises(OutOfScope) as hidden:  # another community's: as the feature's own "not found"
        perm.check_own(community, OTHER, not_found="没有找到这个活动。")
    assert hidden.value.text == "没有找到这个活动。"
    with pytest.raises(Refused) as refused:  # the federation's own: may be read, not acted on
        perm.check_own(community, None)
    assert (refused.value.message, refused.value.why) == ("这是街道总工会组织的活动，社区账号只能查看，不能操作。", "scope")
    perm.check_own(community, HOME)  # its own: fine
    perm.check_own(federation, None)
    perm.check_own(federation, OTHER)


# --- the rules themselves -------------------------------------------------------------------------

@pytest.mark.parametrize("name,method,kind", [
    ("hardship.reveal", "POST", perm.REVEAL), ("home.reveal_contact", "POST", perm.REVEAL),
    ("hardship.photo", "GET", perm.FILE), ("inbox.photo_thumb", "GET", perm.FILE),
    ("hardship.export", "GET", perm.EXPORT), ("signup.record_export", "GET", perm.EXPORT),
    ("signup.list_download", "get", perm.READ), ("hardship.detail", "HEAD", perm.READ),
    ("hardship.detail", "OPTIONS", perm.READ), ("hardship.act", "POST", perm.WRITE), (None, "GET", perm.READ),
    ("hardship.revealing", "POST", perm.WRITE), ("x.exporter", "GET", perm.READ),
    ("account.menu.reveal", "POST", perm.REVEAL), ("account.reveal.menu", "POST", perm.WRITE),
])
def test_what_kind_of_route_a_name_is(name, method, kind) -> None:  # noqa: ANN001
    assert perm.route_kind(name, method) == kind


def test_the_site_pages_for_admins_only_by_name_or_path() -> None:
    chairs = Principal(3, frozenset({"chairs"}))
    admin = Principal(4, frozenset({"admin"}))
    only = perm.Decision(False, "admin_only", "只有管理员可以打开这个页面。")
    assert decide(chairs, None, "staff.list", "/admin/staff", "GET") == only
    assert decide(chairs, None, None, "/admin/audit/export.csv", "GET") == only
    assert decide(chairs, None, "audit", "/admin/audit", "GET") == only
    assert decide(admin, None, "staff.list", "/admin/staff", "GET").allowed
    assert decide(chairs, None, "home", "/admin/", "GET").allowed
    assert decide(chairs, None, "me", "/admin/me", "GET").allowed
    assert decide(chairs, None, "home.reveal_contact", "/admin/outbox/1/reveal", "POST").allowed


def test_what_a_community_account_is_told() -> None:
    scoped = Principal(5, frozenset({"admin"}), HOME)
    quiz = SimpleNamespace(name="quiz", role="quiz")
    inbox = SimpleNamespace(name="inbox", role="inbox")
    assert decide(scoped, quiz, "quiz.index", "/admin/quiz", "GET") == perm.Decision(
        False, "federation_only", "这个页面由街道总工会管理，社区账号不能打开。")
    assert decide(scoped, inbox, "faq.save", "/admin/faq/1", "POST") == perm.Decision(
        False, "federation_content",
        "常见问题和常用回复由街道总工会统一维护，社区账号可以查看和使用，不能修改。如需调整，请联系街道总工会。")
    assert decide(scoped, inbox, "faq.list", "/admin/faq", "GET").allowed
    assert decide(scoped, inbox, "inbox.snippet_add", "/admin/inbox/snippets", "POST").reason == "federation_content"
    assert decide(scoped, inbox, "inbox.reply", "/admin/inbox/1/reply", "POST").allowed
    federation = Principal(6, frozenset({"inbox"}))
    assert decide(federation, inbox, "faq.save", "/admin/faq/1", "POST").allowed


def test_an_account_without_the_role_is_told_which_role() -> None:
    chairs = Principal(3, frozenset({"chairs"}))
    assert decide(chairs, HARDSHIP, "hardship.list", "/admin/hardship", "GET") == perm.Decision(
        False, "role", "这个页面需要「帮扶审核」权限，您的账号没有。如需开通，请联系管理员。")
    odd = SimpleNamespace(name="odd", role="odd")
    assert decide(chairs, odd, "odd.page", "/admin/odd", "GET").message == \
        "这个页面需要「odd」权限，您的账号没有。如需开通，请联系管理员。"
    unowned = SimpleNamespace(name="plain", role=None)  # a feature without a role: admins only
    assert not decide(chairs, unowned, "plain.page", "/admin/plain", "GET").allowed
    assert decide(Principal(1, frozenset({"admin"})), unowned, "plain.page", "/admin/plain", "GET").allowed
    assert decide(Principal(1, frozenset({"viewer"})), unowned, "plain.page", "/admin/plain", "GET").allowed


@pytest.mark.parametrize("name,match,form,action", [
    ("hardship.reveal", {"id": "1"}, {"field": "id"}, "hardship.reveal_id"),
    ("hardship.act", {"id": "1", "action": "approve"}, {}, "hardship.approve"),
    ("hardship.act", {"id": "1"}, {"action": "approve"}, "hardship.approve"),
    ("hardship.act", {"action": "x" * 50}, {}, "staff.access"),
    ("home.reveal_contact", {}, {}, "member.reveal_phone"),
    ("hardship.detail", {"id": "1"}, None, "hardship.view"),
    ("hardship.list", None, None, "staff.access"),
    (None, None, None, "staff.access"),
])
def test_a_refusal_is_named_as_the_action_would_have_been(name, match, form, action) -> None:  # noqa: ANN001
    assert perm.refused_action(name, match, form) == action


def test_the_placeholder_value_is_cut_to_forty_characters(monkeypatch) -> None:  # noqa: ANN001
    from bot.admin import audit

    monkeypatch.setitem(audit.ACTION_LABELS, "hardship." + "a" * 40, "test label")
    assert perm.refused_action("hardship.act", {"action": "a" * 45}, {}) == "hardship." + "a" * 40


def test_who_is_asking(tmp_path) -> None:  # noqa: ANN001
    settings = make_settings("sqlite+aiosqlite:///unused.db", tmp_path)
    app = web.Application()
    app[keys.ADMIN_SETTINGS] = settings
    nobody = make_mocked_request("GET", "/admin/", app=app)
    assert perm.principal(nobody) == Principal(None, frozenset())
    federation = make_mocked_request("GET", "/admin/", app=app)
    federation[keys.REQUEST_STAFF] = SimpleNamespace(id=7, roles=frozenset({"hardship", "viewer"}), community="")
    assert perm.principal(federation) == Principal(7, frozenset({"hardship", "viewer"}), None)
    assert perm.community(federation) is None
    scoped = make_mocked_request("GET", "/admin/", app=app)
    scoped[keys.REQUEST_STAFF] = SimpleNamespace(id=8, roles="events", community=HOME)
    assert perm.principal(scoped) == Principal(8, frozenset({"events"}), HOME)
    assert perm.principal(scoped) is perm.principal(scoped)  # worked out once per request
    assert perm.in_scope(scoped, HOME) and not perm.in_scope(scoped, OTHER) and not perm.in_scope(scoped, None)
    assert perm.in_scope(scoped, None, shared=True) and not perm.in_scope(scoped, OTHER, shared=True)
    assert perm.in_scope(federation, OTHER) and perm.in_scope(federation, None)


# --- through the site: the refusal's page and its audit row ----------------------------------------

@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": [HOME, OTHER]})


async def test_a_refused_page_is_audited_with_who_asked_and_why(client, db) -> None:  # noqa: ANN001
    staff = await create_staff_user(db, "c_hardship", roles=("hardship", "quiz"), community=HOME)
    await login(client, "c_hardship", DEFAULT_PASSWORD)
    resp = await client.get("/admin/quiz?page=2")
    page = await resp.text()
    assert resp.status == 403 and "<p>这个页面由街道总工会管理，社区账号不能打开。</p>" in page
    assert "<h1>没有权限</h1>" in page and '<a class="btn btn-primary" href="/admin/">返回工作台</a>' in page
    token = await csrf_at(client, "/admin/")
    resp = await client.post("/admin/staff/add", data={"_csrf": token, "username": "x"})
    assert resp.status == 403 and "只有管理员可以打开这个页面。" in await resp.text()
    async with db() as s:
        rows = list(await s.scalars(select(AuditLog).where(AuditLog.staff_id == staff.id, AuditLog.refused)
                                    .order_by(AuditLog.id)))
    assert [(r.action, r.target, r.detail) for r in rows] == [
        ("staff.access", "/admin/quiz", {"method": "GET", "path": "/admin/quiz", "reason": "federation_only",
                                         "route": "quiz.index", "roles": ["hardship", "quiz"], "community": HOME}),
        ("staff.create", "/admin/staff/add", {"method": "POST", "path": "/admin/staff/add", "reason": "admin_only",
                                              "route": "staff.add", "roles": ["hardship", "quiz"], "community": HOME}),
    ]


async def test_a_refused_upload_is_not_read_to_name_the_refusal(client, db, app) -> None:  # noqa: ANN001
    """A refused multipart post (an upload) is never parsed for the audit row's name: recorded as
    "opened a page / asked for an action" with the route, not as the reveal its form names."""
    from aiohttp import FormData

    from handlers.hardship import ops as hardship_ops
    from tests.support.hardship import ops_ctx

    async with db() as s, s.begin():
        req = await hardship_ops.submit_request(
            s, ops_ctx(app), openid="oW", consent_version="2026-1",
            data={"kind": "因病", "description": "住院", "household": 1, "income": 1000, "expenses": 0,
                  "name": "王小明", "phone": "13800138000", "id_number": "11010519491231002X"})
    reader = await create_staff_user(db, "reader", roles=("viewer",))
    await login(client, "reader", DEFAULT_PASSWORD)
    token = await csrf_at(client, f"/admin/hardship/{req.id}")
    form = FormData()
    form.add_field("_csrf", token)
    form.add_field("field", "id")
    form.add_field("file", b"\xff\xd8\xff", filename="a.jpg", content_type="image/jpeg")
    resp = await client.post(f"/admin/hardship/{req.id}/reveal", data=form, headers={"X-CSRF-Token": token})
    assert resp.status == 403 and "11010519491231002X" not in await resp.text()
    async with db() as s:
        [row] = list(await s.scalars(select(AuditLog).where(AuditLog.staff_id == reader.id, AuditLog.refused)))
    assert (row.action, row.detail["route"], row.detail["reason"]) == ("staff.access", "hardship.reveal", "read_only")


async def test_a_refused_action_is_named_from_its_address_and_its_target_is_bounded(client, db, app) -> None:  # noqa: ANN001
    from handlers.hardship import ops as hardship_ops
    from tests.support.hardship import ops_ctx

    async with db() as s, s.begin():
        req = await hardship_ops.submit_request(
            s, ops_ctx(app), openid="oW", consent_version="2026-1",
            data={"kind": "因病", "description": "住院", "household": 1, "income": 1000, "expenses": 0,
                  "name": "王小明", "phone": "13800138000"})
    reader = await create_staff_user(db, "reader", roles=("viewer",))
    await login(client, "reader", DEFAULT_PASSWORD)
    token = await csrf_at(client, f"/admin/hardship/{req.id}")
    resp = await client.post(f"/admin/hardship/{req.id}/act/start_review", data={"_csrf": token})
    assert resp.status == 403
    long_path = f"/admin/hardship/{req.id}/act/" + "a" * 150
    resp = await client.post(long_path, data={"_csrf": token})
    assert resp.status == 403
    async with db() as s:
        rows = list(await s.scalars(select(AuditLog).where(AuditLog.staff_id == reader.id, AuditLog.refused)
                                    .order_by(AuditLog.id)))
    assert [(r.action, r.target) for r in rows] == [
        ("hardship.start_review", f"/admin/hardship/{req.id}/act/start_review"),
        ("staff.access", long_path[:128]),
    ]
    assert rows[1].detail["path"] == long_path


# --- links and lists as the pages ask for them -------------------------------------------------------

def _admin_request(app, principal: Principal) -> web.Request:  # noqa: ANN001
    from tests.framework.test_permissions import admin_app

    request = make_mocked_request("GET", "/admin/", app=admin_app(app))
    request[PRINCIPAL] = principal
    return request


async def test_links_are_shown_for_what_opens(app) -> None:  # noqa: ANN001
    viewer = _admin_request(app, VIEWER)
    chairs = _admin_request(app, Principal(3, frozenset({"chairs"})))
    assert perm.may(viewer, "hardship.list")  # a link (GET by default): a viewer reads every page
    assert not perm.may(viewer, "hardship.act", "POST")
    assert not perm.may(chairs, "hardship.list")
    assert perm.may(chairs, "chairs.grid")
    assert not perm.may(viewer, "no.such.route")  # a route the site doesn't have: no link
    assert perm.may_open(viewer, "/hardship") and not perm.may_open(chairs, "/hardship")
    assert perm.may_open(chairs, "/admin/chairs") or perm.may_open(chairs, "/chairs")
    assert perm.may_open(chairs, "https://example.org/help")  # not ours: always shown
    assert not perm.may_open(chairs, "/admin/hardship/")  # a trailing slash is the same page
    assert perm.may_open(viewer, "/admin/hardship/") and perm.may_open(chairs, "/admin/chairs/")


async def test_lists_keep_the_records_of_the_accounts_community(app, db, clock) -> None:  # noqa: ANN001
    from bot.db.models.hardship import HardshipRequest
    from handlers.hardship import ops as hardship_ops
    from tests.support.hardship import ops_ctx

    ids = {}
    async with db() as s, s.begin():
        for where in (HOME, OTHER, None):
            req = await hardship_ops.submit_request(
                s, ops_ctx(app), openid=f"o{where}", consent_version="2026-1",
                data={"kind": "因病", "description": "住院", "household": 1, "income": 1000, "expenses": 0,
                      "name": "王小明", "phone": "13800138000", "community": where})
            ids[where] = req.id

    async def seen(principal: Principal, **kw) -> set:  # noqa: ANN003
        request = _admin_request(app, principal)
        async with db() as s:
            return set(await s.scalars(select(HardshipRequest.id).where(
                perm.scope_filter(request, HardshipRequest.community, **kw))))

    scoped = Principal(2, frozenset({"hardship"}), HOME)
    assert await seen(scoped) == {ids[HOME]}  # not the federation's own (no community), not another's
    assert await seen(scoped, shared=True) == {ids[HOME], ids[None]}
    assert await seen(Principal(1, frozenset({"hardship"}))) == set(ids.values())


def test_a_feature_with_an_unknown_role_stops_the_start() -> None:
    app = web.Application()
    app[perm.ROUTE_OWNERS] = {}
    with pytest.raises(ValueError, match="unknown role 'nope'"):
        perm.record_owners(app, SimpleNamespace(name="odd", role="nope"), [])
    before = list(app.router.resources())
    app.router.add_get("/odd", lambda r: None, name="odd.page")
    perm.record_owners(app, SimpleNamespace(name="odd", role=None), before)  # no role: admins' pages
    assert [f.name for f in app[perm.ROUTE_OWNERS].values()] == ["odd"]
