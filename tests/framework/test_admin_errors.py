"""Errors inside /admin: every one a Chinese page in the site's layout with a way back, never
aiohttp's English text or a crash page; the inputs that gave a 500 (huge page numbers, dates
like 0001-01-01, ids past any row, unknown sorts and quarters) answer a 4xx page or fall back.
Over HTTP as a logged-in admin, on both databases."""
from __future__ import annotations

import logging
import re

import pytest
from aiohttp import web

from bot.admin import errors
from bot.admin.errors import BadParameter
from bot.admin.filters import BadValue, clean_text, page_number, parse_date
from bot.admin.lists import DateRange, ListView
from bot.app import features
from bot.feature import Feature
from bot.keys import SESSIONMAKER
from tests.framework.test_permissions import admin_app, routes, seed, url_of
from tests.support.admin import csrf_at, csrf_from, log_in_staff
from tests.support.settings import make_settings

ENGLISH = ("Not Found", "Internal Server Error", "Traceback", "Method Not Allowed", "Server got itself in trouble",
           "Bad Request", "Forbidden", "Too Many Requests", "Unauthorized", "Exception", "Error:")
HOSTILE = {"page": "99999999999999999999", "sort": "x", "date_from": "0001-01-01", "date_to": "9999-12-31",
           "from": "0001-01-01", "to": "9999-12-31", "start": "2026-02-30", "end": "garbage",
           "quarter": "9999Q4", "status": "zz", "q": "a\x00b", "kind": "%", "community": "x" * 300, "by": "x",
           "view": "x", "period": "9999-99", "year": "99999999999999999999", "id": "-1"}
BAD_PAGES = ("99999999999999999999", "-1", "abc", "0", "1e9")
BAD_DATES = ("0001-01-01", "9999-12-31", "2026-02-30", "garbage", "2026-13-01", "99999-01-01")


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": ["幸福社区", "和平社区"]})


def assert_chinese_page(body: str, *, back: str | None = None) -> None:
    """The site's error page: in the layout (navigation, logged-in staff), Chinese, a way back."""
    for word in ENGLISH:
        assert word not in body, f"English error text {word!r} in the page"
    assert '<nav class="nav"' in body, "not inside the site's layout (no navigation)"
    assert 'class="card narrow error-page"' in body
    assert re.search(r"[\u4e00-\u9fff]", body.split('class="card narrow error-page"', 1)[1])
    links = re.findall(r'<a class="btn[^"]*" href="([^"]+)">', body.split("error-page", 1)[1])
    assert links, "no way back"
    if back is not None:
        assert re.sub(r"^https?://[^/]+", "", links[0]) == back, (links, back)


def in_layout(body: str) -> None:
    """A 4xx answer that is a page of the site (an error page or a form saying what was wrong)."""
    for word in ENGLISH:
        assert word not in body, f"English error text {word!r} in the page"
    assert '<nav class="nav"' in body and re.search(r"[\u4e00-\u9fff]", body)


def no_english(body: str) -> None:
    for word in ("Not Found", "Internal Server Error", "Traceback", "Method Not Allowed", "Server got itself"):
        assert word not in body, word


# ----------------------------------------------------------------------------- a feature raising on purpose
async def _bad_parameter(request: web.Request) -> web.Response:
    raise BadParameter("发放金额", "不能超过 100000 元")


async def _english_400(request: web.Request) -> web.Response:
    raise web.HTTPBadRequest(text="invalid literal for int() with base 10: 'x'")


async def _bare_403(request: web.Request) -> web.Response:
    raise web.HTTPForbidden()


async def _too_many(request: web.Request) -> web.Response:
    raise web.HTTPTooManyRequests(headers={"Retry-After": "60"})


async def _crash(request: web.Request) -> web.Response:
    raise RuntimeError("secret-detail-4711 of the database")


async def _returned_404(request: web.Request) -> web.Response:
    return web.Response(status=404, text="Not Found")


async def _overflow(request: web.Request) -> web.Response:
    from datetime import date, timedelta

    return web.Response(text=str(date(9999, 12, 31) + timedelta(days=1)))


def _routes(app: web.Application) -> None:
    for path, handler in (("/errtest/bad", _bad_parameter), ("/errtest/english", _english_400),
                          ("/errtest/forbidden", _bare_403), ("/errtest/busy", _too_many), ("/errtest/crash", _crash),
                          ("/errtest/returned", _returned_404), ("/errtest/overflow", _overflow)):
        app.router.add_get(path, handler, name="errtest." + path.rsplit("/", 1)[1])


ERRTEST = Feature(name="errtest", admin=_routes)


@pytest.fixture
async def test_client(aiohttp_client, make_app, engine):  # noqa: ANN001, ANN201
    """The real app plus a feature whose pages fail on purpose; logged in as an admin."""
    app = make_app(feature_list=[*features(), ERRTEST])
    client = await aiohttp_client(app)
    await log_in_staff(client, app[SESSIONMAKER])
    return client


# ----------------------------------------------------------------------------- one test per status
async def test_404_unknown_url_under_admin_goes_through_the_admin_middlewares(client, db) -> None:  # noqa: ANN001
    # Not logged in: an unknown URL under /admin asks for the login first (the sub-app's
    # middlewares run for unmatched paths under its prefix), nothing English.
    resp = await client.get("/admin/no/such/page", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/admin/login?next=")
    await log_in_staff(client, db)
    resp = await client.get("/admin/no/such/page")
    body = await resp.text()
    assert resp.status == 404 and resp.content_type == "text/html"
    assert "页面不存在" in body and "张干事" in body  # the logged-in staff member in the top bar
    assert_chinese_page(body, back="/admin/")
    assert "Content-Security-Policy" in resp.headers and resp.headers["Cache-Control"] == "no-store"
    # an id past the route's digits: the nearest page above it is the way back
    resp = await client.get("/admin/hardship/99999999999999999999")
    assert resp.status == 404
    assert_chinese_page(await resp.text(), back="/admin/hardship")


async def test_404_missing_record_shows_the_feature_text_in_the_layout(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    resp = await client.get("/admin/hardship/999999999")
    body = await resp.text()
    assert resp.status == 404 and "没有找到这条申请" in body
    assert_chinese_page(body, back="/admin/hardship")
    # a plain-text Chinese 404 of a feature (a photo not fetched yet) gets the layout too
    resp = await client.get("/admin/inbox/photo/999999999")
    assert resp.status == 404
    assert_chinese_page(await resp.text())
    # the way back from a record that isn't there is never another page of that record
    resp = await client.get("/admin/signup/999999999/edit")
    assert resp.status == 404
    assert_chinese_page(await resp.text(), back="/admin/signup")


async def test_405_get_on_a_post_only_url_says_to_use_the_buttons(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    resp = await client.get("/admin/logout")
    body = await resp.text()
    assert resp.status == 405 and "POST" in resp.headers["Allow"]
    assert "这个地址只能通过页面上的按钮提交" in body
    assert_chinese_page(body, back="/admin/")
    # from a page of the site: back to it
    resp = await client.get("/admin/staff/add", headers={"Referer": str(client.make_url("/admin/staff?page=2"))})
    assert resp.status == 405
    assert_chinese_page(await resp.text(), back="/admin/staff?page=2")
    # a referer from elsewhere is not followed
    resp = await client.get("/admin/staff/add", headers={"Referer": "https://evil.example/admin/x"})
    assert_chinese_page(await resp.text(), back="/admin/staff")
    # without a referer: the nearest page above that opens (the record's own page)
    from sqlalchemy import func, select

    from bot.db.models.core import Staff

    async with db() as s:
        staff_id = await s.scalar(select(func.min(Staff.id)))
    resp = await client.get(f"/admin/staff/{staff_id}/update")
    assert resp.status == 405
    assert_chinese_page(await resp.text(), back=f"/admin/staff/{staff_id}")


async def test_400_bad_parameter_names_it_and_english_text_is_replaced(test_client) -> None:  # noqa: ANN001
    resp = await test_client.get("/admin/errtest/bad")
    body = await resp.text()
    assert resp.status == 400 and "「发放金额」不能超过 100000 元" in body and "请求有误" in body
    assert_chinese_page(body)
    resp = await test_client.get("/admin/errtest/english")
    body = await resp.text()
    assert resp.status == 400 and "invalid literal" not in body and "没有执行任何操作" in body
    assert_chinese_page(body)


async def test_400_from_a_feature_in_chinese_keeps_its_text(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    token = await csrf_at(client, "/admin/account/texts")
    resp = await client.post("/admin/account/texts/reset", data={"_csrf": token, "key": "no-such-text"})
    body = await resp.text()
    assert resp.status == 400 and "没有这项文字" in body
    assert_chinese_page(body)


async def test_403_in_the_layout(test_client, client, db) -> None:  # noqa: ANN001
    resp = await test_client.get("/admin/errtest/forbidden")
    body = await resp.text()
    assert resp.status == 403 and "没有权限" in body
    assert_chinese_page(body)
    # refused by the permission check (a read-only account on the staff pages)
    from tests.support.admin import create_staff_user, login

    await create_staff_user(db, "reader", roles=("viewer",))
    await login(client, "reader")
    resp = await client.get("/admin/staff")
    assert resp.status == 403
    assert_chinese_page(await resp.text())


async def test_413_in_the_layout(aiohttp_client, make_app, engine, settings, db_url, tmp_path) -> None:  # noqa: ANN001
    small = make_settings(db_url, tmp_path, server={"admin_max_body": 64 * 1024},
                          federation={"communities": ["幸福社区"]})
    app = make_app(small)
    client = await aiohttp_client(app)
    await log_in_staff(client, app[SESSIONMAKER])
    token = await csrf_at(client, "/admin/quiz/questions")
    resp = await client.post("/admin/quiz/questions/import", data={"_csrf": token, "file": "x" * (100 * 1024)},
                             headers={"Referer": str(client.make_url("/admin/quiz/questions"))})
    body = await resp.text()
    assert resp.status == 413 and "文件太大了" in body and "64 KB" in body
    assert_chinese_page(body, back="/admin/quiz/questions")


async def test_429_in_the_layout_keeps_retry_after(test_client) -> None:  # noqa: ANN001
    resp = await test_client.get("/admin/errtest/busy")
    body = await resp.text()
    assert resp.status == 429 and resp.headers["Retry-After"] == "60" and "操作太频繁" in body
    assert_chinese_page(body)


async def test_500_shows_a_reference_logged_with_the_traceback(test_client, caplog) -> None:  # noqa: ANN001
    with caplog.at_level(logging.ERROR, logger="bot.admin.errors"):
        resp = await test_client.get("/admin/errtest/crash")
    body = await resp.text()
    assert resp.status == 500 and "系统出了点问题" in body
    assert "secret-detail-4711" not in body and "RuntimeError" not in body
    assert_chinese_page(body)
    ref = re.search(r"参考编号：<strong>(E-[0-9A-F]{6})</strong>", body)
    assert ref, body
    logged = [r for r in caplog.records if ref.group(1) in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "secret-detail-4711" in str(logged[0].exc_info[1])  # the traceback is for IT, in the log
    # another failure, another reference
    again = await (await test_client.get("/admin/errtest/crash")).text()
    assert re.search(r"E-[0-9A-F]{6}", again).group(0) != ref.group(1)


async def test_500_page_without_the_layout_when_the_layout_itself_fails(test_client, monkeypatch) -> None:  # noqa: ANN001
    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the database is down")

    monkeypatch.setattr(errors.aiohttp_jinja2, "render_template", broken)
    resp = await test_client.get("/admin/errtest/crash")
    body = await resp.text()
    assert resp.status == 500 and "系统出了点问题" in body and re.search(r"E-[0-9A-F]{6}", body)
    assert "database is down" not in body and 'href="' in body
    no_english(body)


async def test_an_unchecked_value_out_of_range_is_a_400_not_a_500(test_client) -> None:  # noqa: ANN001
    resp = await test_client.get("/admin/errtest/overflow")
    body = await resp.text()
    assert resp.status == 400 and "超出了可以处理的范围" in body and re.search(r"E-[0-9A-F]{6}", body)
    assert_chinese_page(body)


async def test_an_error_returned_as_english_text_becomes_the_page(test_client) -> None:  # noqa: ANN001
    resp = await test_client.get("/admin/errtest/returned")
    assert resp.status == 404
    assert_chinese_page(await resp.text())


async def test_redirects_static_files_and_json_clients(test_client) -> None:  # noqa: ANN001
    resp = await test_client.get("/admin", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/admin/"
    token = await csrf_at(test_client, "/admin/hardship")
    resp = await test_client.post("/admin/hardship/bulk", data={"_csrf": token, "action": "nope"},
                                  allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/hardship"
    # a missing static file stays a plain 404 (no page, no session look-up)
    resp = await test_client.get("/admin/static/no-such-file.css")
    assert resp.status == 404 and resp.content_type != "text/html"
    # a JSON client gets JSON, still in Chinese, with the reference of a failure
    resp = await test_client.get("/admin/no/such/page", headers={"Accept": "application/json"})
    assert resp.status == 404 and (await resp.json())["error"]["title"] == "页面不存在"
    resp = await test_client.get("/admin/errtest/crash", headers={"Accept": "application/json"})
    data = (await resp.json())["error"]
    assert resp.status == 500 and re.fullmatch(r"E-[0-9A-F]{6}", data["reference"])
    assert "secret" not in str(data)


# ----------------------------------------------------------------------------- the inputs that gave a 500
def test_query_readers() -> None:
    assert [page_number(p) for p in BAD_PAGES] == [100_000, 1, 1, 1, 1]
    assert parse_date("2026/5/1") == parse_date("2026-05-01") == parse_date("2026年5月1日")
    assert parse_date("") is None
    for raw in BAD_DATES:
        with pytest.raises(BadValue, match="「开始日期」"):
            parse_date(raw, "开始日期")
    assert clean_text(" a\x00b\x1f ", 64) == "ab" and len(clean_text("x" * 500, 64)) == 64


def list_views(admin: web.Application) -> list[tuple[str, ListView, str]]:
    """(route name, its ListView, path) of every declarative list page of the admin."""
    out = []
    for resource in admin.router.resources():
        for route in resource:
            view = getattr(route.handler, "__self__", None)
            if isinstance(view, ListView) and route.handler.__name__ == "page_handler" and route.method == "GET":
                out.append((resource.name, view, resource.canonical))
    return out


async def test_every_list_takes_bad_pages_dates_sorts_and_choices(client, app, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    views = list_views(admin_app(app))
    assert len(views) >= 5, [n for n, _, _ in views]  # hardship, signup, quiz, chairs, inbox, audit …
    with_dates = 0
    for name, view, path in views:
        for page in BAD_PAGES:
            resp = await client.get(path, params={"page": page, "sort": "unknown"})
            assert resp.status == 200, (name, page, resp.status)
        resp = await client.get(path, params={"sort": "-" + "x" * 500})
        assert resp.status == 200, name
        for f in view.filters:
            if not isinstance(f, DateRange):
                continue
            with_dates += 1
            for bad in BAD_DATES:
                resp = await client.get(path, params={f.name_from: bad, f.name_to: bad})
                body = await resp.text()
                assert resp.status == 200, (name, bad, resp.status)
                assert "这个条件没有使用" in body, (name, bad)
                assert f'value="{bad}"' not in body  # the box is empty again, the warning says why
            resp = await client.get(path, params={f.name_from: "2026-03-01", f.name_to: "2026-01-01"})
            assert resp.status == 200 and "开始日期晚于结束日期" in await resp.text()
        for f in view.filters:
            if getattr(f, "choices", None) is not None and not isinstance(f, DateRange) and hasattr(f, "hidden"):
                resp = await client.get(path, params={f.name: "no-such-choice"})
                assert resp.status == 200, (name, f.name)
                if not resp.history:  # (a page may send an unknown value elsewhere, e.g. to this quarter)
                    assert "已显示全部" in await resp.text(), (name, f.name)
    assert with_dates >= 2


async def test_the_warnings_are_shown_once(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    body = await (await client.get("/admin/hardship", params={"from": "0001-01-01"})).text()
    assert body.count("不在 1900 年到 2100 年之间") == 1
    body = await (await client.get("/admin/hardship")).text()
    assert "1900" not in body  # a warning of the page it was about only


async def test_ids_past_any_row_in_every_route_are_a_chinese_404(client, app, db, clock, settings,
                                                                 tmp_path) -> None:  # noqa: ANN001
    params = await seed(app, db, clock, settings, tmp_path)
    await log_in_staff(client, db)
    token = await csrf_at(client, "/admin/")
    checked = 0
    for name, method, resource in routes(admin_app(app)):
        pattern = resource.get_info().get("pattern")
        if pattern is None:
            continue
        numeric = [k for k in pattern.groupindex if re.search(r"\(\?P<%s>\\d\{1,9\}\)" % k, pattern.pattern)]
        if not numeric or name == "logout":
            continue
        base = {k: v for k, v in params.get(name.split(".")[0], {}).items()}
        for huge in ("999999999", "99999999999999999999"):
            values = {**base, **{k: huge for k in numeric}}
            url = url_of(resource, name, {name.split(".")[0]: values})
            if method == "GET":
                resp = await client.get(url, allow_redirects=False)
            else:
                resp = await client.post(url, data={"_csrf": token}, allow_redirects=False)
            body = await resp.text(errors="replace")
            assert resp.status < 500, (name, url, resp.status)
            if resp.status in (302, 303):  # a feature answering "not found" with a flash on the list
                continue
            if resp.status == 400 and method == "POST":  # the empty form refused before the record is looked up
                in_layout(body)
                continue
            assert resp.status == 404, (name, url, resp.status)
            assert_chinese_page(body)
            checked += 1
    assert checked >= 40


async def test_unknown_quarter_falls_back_on_chairs_pages(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    for path in ("/admin/chairs", "/admin/chairs/dashboard", "/admin/chairs/export.csv"):
        for quarter in ("9999Q4", "2026Q9", "abc", "0000Q1", "99999999999999999999Q1"):
            resp = await client.get(path, params={"quarter": quarter})
            assert resp.status == 200, (path, quarter, resp.status)
            no_english(await resp.text(errors="replace"))


async def test_every_get_route_with_hostile_parameters(client, app, db, clock, settings, tmp_path) -> None:  # noqa: ANN001
    """The whole admin, every GET route, with a query string of everything that ever gave a 500."""
    params = await seed(app, db, clock, settings, tmp_path)
    await log_in_staff(client, db)
    walked = 0
    for name, method, resource in routes(admin_app(app)):
        if method != "GET":
            continue
        url = url_of(resource, name, params)
        for query in (HOSTILE, {"page": "-1", "from": "2026-02-30", "to": "abc", "sort": "-unknown"},
                      {"page": "abc", "date_from": "garbage", "date_to": "0001-01-01", "quarter": "2026Q0"}):
            resp = await client.get(url, params=query, allow_redirects=False)
            body = (await resp.read()).decode("utf-8", "replace")
            assert resp.status < 500, (name, url, query, resp.status)
            no_english(body)
            if resp.status >= 400:  # the site's error page, or the page itself saying what was wrong
                in_layout(body)
            walked += 1
    # the quiz period of a code that doesn't exist, and a very long one
    for code in ("9999-99", "x" * 2000):
        resp = await client.get(f"/admin/quiz/periods/{code}")
        assert resp.status == 404, code
        assert_chinese_page(await resp.text())
    assert walked > 100


async def test_an_activity_of_99999999999999999999_places_is_refused(client, db) -> None:  # noqa: ANN001
    """Numbers typed into the features' own forms (their pages check them) never give a 5xx."""
    await log_in_staff(client, db)
    token = await csrf_at(client, "/admin/signup/new")
    resp = await client.post("/admin/signup/new", data={
        "_csrf": token, "kind": "training", "title": "安全培训", "description": "", "place": "街道会议室",
        "starts_at": "2026-12-20T09:00", "ends_at": "2026-12-20T11:00", "deadline": "", "capacity":
        "99999999999999999999"}, allow_redirects=False)
    body = await resp.text()
    assert resp.status < 500
    no_english(body)
    from sqlalchemy import select

    from bot.db.models.signup import Activity

    async with db() as s:
        assert all(a.capacity is None or a.capacity < 10**9 for a in await s.scalars(select(Activity)))


async def test_an_aid_of_1e309_yuan_is_refused_not_shown_as_inf(client, app, db, clock) -> None:  # noqa: ANN001
    from bot.db.models.core import Member
    from handlers.hardship import ops as hardship_ops
    from tests.support.hardship import ops_ctx

    now = clock.now()
    async with db() as s, s.begin():
        s.add(Member(openid="oW", first_seen=now, last_seen=now))
        await s.flush()
        req = await hardship_ops.submit_request(
            s, ops_ctx(app), openid="oW", consent_version="2026-1",
            data={"kind": "因病", "description": "母亲住院做手术，自付医药费很多。", "household": 3, "income": 4500,
                  "expenses": 1500, "name": "王小明", "phone": "13800138000", "employer": "环卫所"})
        await hardship_ops.start_review(s, ops_ctx(app), req.id)
        await hardship_ops.approve(s, ops_ctx(app), req.id)
    await log_in_staff(client, db)
    page = f"/admin/hardship/{req.id}"
    token = await csrf_at(client, page)
    for amount in ("1e309", "inf", "nan", "-5", "99999999999999999999"):
        resp = await client.post(f"{page}/act/deliver", data={
            "_csrf": token, "amount": amount, "aid_kind": "", "aid_date": now.date().isoformat()})
        body = await resp.text()
        assert resp.status < 500, (amount, resp.status)
        no_english(body)
        assert "inf 元" not in body and "nan 元" not in body
        async with db() as s:
            assert (await hardship_ops.get_request(s, req.id)).status == "approved", amount


# ----------------------------------------------------------------------------- in a real browser
async def test_error_pages_in_a_browser_at_phone_and_desk_width(aiohttp_server, make_app, engine) -> None:  # noqa: ANN001
    """404, 405 and 500 at 390 and 1366 px: the way back on the first screen, nothing off-screen.
    UNIONBOT_SAVE_SCREENSHOTS=1 keeps them as docs/screenshots/error-<status>-<width>.png."""
    import os
    from pathlib import Path

    from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user
    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is missing (run .ci/install-browser.sh)")
    from playwright.async_api import async_playwright

    app = make_app(feature_list=[*features(), ERRTEST])
    await create_staff_user(app[SESSIONMAKER])
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    shots = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    save = os.environ.get("UNIONBOT_SAVE_SCREENSHOTS") == "1"
    pages = {"404": "/admin/hardship/99999999999", "405": "/admin/staff/add", "500": "/admin/errtest/crash"}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width, height in ((390, 844), (1366, 800)):
                context = await browser.new_context(viewport={"width": width, "height": height})
                page = await context.new_page()
                await page.goto(f"{base}/admin/login")
                await page.get_by_label("用户名").fill(DEFAULT_USER)
                await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
                await page.get_by_role("button", name="登录").click()
                await page.wait_for_url(f"{base}/admin/")
                for status, path in pages.items():
                    resp = await page.goto(base + path)
                    assert resp is not None and resp.status == int(status)
                    back = page.locator(".error-page a.btn").first
                    box = await back.bounding_box()
                    assert box is not None and box["y"] + box["height"] <= height, (status, width, box)
                    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                    assert overflow <= 0, (status, width, overflow)
                    if save:
                        shots.mkdir(parents=True, exist_ok=True)
                        await page.screenshot(path=str(shots / f"error-{status}-{width}.png"), full_page=True)
                await context.close()
        finally:
            await browser.close()
