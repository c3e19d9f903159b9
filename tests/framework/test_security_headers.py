"""Security headers of the admin site, and who may read /metrics and health details (over HTTP)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.db.models.core import Member
from bot.keys import SERVICES
from handlers.hardship import ops
from tests.support.admin import create_staff_user, log_in_staff
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.hardship import ops_ctx
from tests.support.settings import make_settings

NONCE_RE = re.compile(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{20,})'")
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def nonce_of(resp) -> str:  # noqa: ANN001
    csp = resp.headers.get("Content-Security-Policy", "")
    m = NONCE_RE.search(csp)
    assert m, f"no CSP nonce on {resp.url}: {csp!r}"
    for part in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'",
                 "form-action 'self'"):
        assert part in csp
    assert "'unsafe-inline'" not in csp.split("style-src-attr")[0]  # scripts and <style> need the nonce
    return m.group(1)


def check_page(html: str, nonce: str, where: str) -> None:
    """Every inline <script>/<style> carries this response's nonce; no inline event handlers."""
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", html, re.I):
        if tag.lower().startswith("<script") and " src=" in tag:
            continue
        assert f'nonce="{nonce}"' in tag, f"{where}: {tag} runs without the nonce"
    handler = INLINE_HANDLER.search(html)
    assert handler is None, f"{where}: inline handler {handler.group(0)[:80]!r} (blocked by the CSP)"


async def seed(app, clock):  # noqa: ANN001, ANN201
    from bot.keys import SESSIONMAKER

    now = clock.now()
    async with app[SESSIONMAKER]() as s, s.begin():
        s.add(Member(openid="oW1", first_seen=now, last_seen=now))
        return await ops.submit_request(
            s, ops_ctx(app), openid="oW1", consent_version="2026-1",
            data={"kind": "因病", "description": "住院", "household": 3, "income": 4500.0, "expenses": 1500.0,
                  "name": "王小明", "phone": "13800138000", "employer": "街道环卫所", "id_number": None,
                  "photos": ["MEDIA1"]})


def admin_get_paths(app) -> list[str]:  # noqa: ANN001
    """Every admin page without a path parameter (the walk below opens each)."""
    admin = next(r._app for r in app.router.resources() if getattr(r, "_app", None) is not None
                 and r.canonical == "/admin")
    out = []
    for resource in admin.router.resources():
        info = resource.get_info()
        if "path" not in info or resource.name in ("static", "logout"):
            continue
        if any(route.method == "GET" for route in resource):
            out.append(info["path"])
    return out


async def test_csp_no_store_and_frames_on_every_admin_page(client, app, db, clock) -> None:  # noqa: ANN001
    req = await seed(app, clock)
    # anonymous: the login page and the redirect to it carry the headers too
    resp = await client.get("/admin/hardship", allow_redirects=False)
    assert resp.status == 302 and "Content-Security-Policy" in resp.headers and resp.headers["Cache-Control"] == "no-store"
    resp = await client.get("/admin/login")
    check_page(await resp.text(), nonce_of(resp), "/admin/login")

    await log_in_staff(client, db)
    paths = admin_get_paths(app) + [f"/admin/hardship/{req.id}", "/admin/hardship/new", "/admin/audit"]
    assert "/admin/" in paths and len(paths) > 10
    seen_nonces = set()
    for path in paths:
        resp = await client.get(path)
        assert resp.status < 500, path
        if not resp.content_type.startswith("text/html"):
            continue
        nonce = nonce_of(resp)
        seen_nonces.add(nonce)
        check_page(await resp.text(), nonce, path)
        assert resp.headers["Cache-Control"] == "no-store", path
        assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["X-Content-Type-Options"] == "nosniff"
    assert len(seen_nonces) > 5  # one per response, never reused

    # downloads and evidence photos are never cached; the versioned static files may be
    for path in ("/admin/hardship/export.csv", "/admin/hardship/export.xlsx", "/admin/audit/export.xlsx",
                 "/admin/chairs/registry/export.csv"):
        resp = await client.get(path)
        assert resp.status == 200 and "no-store" in resp.headers["Cache-Control"], path
        assert "Content-Security-Policy" in resp.headers
    media = Path(app[SERVICES]["media_dir"])
    (media / "hardship").mkdir(parents=True)
    (media / "hardship" / "1.jpg").write_bytes(b"\xff\xd8jpeg")
    from bot.db.models.hardship import HardshipPhoto
    from bot.keys import SESSIONMAKER
    from sqlalchemy import select

    async with app[SESSIONMAKER]() as s, s.begin():
        photo = (await s.scalars(select(HardshipPhoto))).one()
        photo.status, photo.path, photo.content_type = "fetched", "hardship/1.jpg", "image/jpeg"
    resp = await client.get(f"/admin/hardship/photo/{photo.id}")
    assert resp.status == 200 and "no-store" in resp.headers["Cache-Control"]
    page = await (await client.get("/admin/")).text()
    js = re.search(r'src="(/admin/static/admin\.js[^"]*)"', page).group(1)
    resp = await client.get(js)
    assert resp.status == 200 and "no-store" not in resp.headers.get("Cache-Control", "")


# ---------------------------------------------------------------------------------- ops endpoints
async def test_metrics_and_health_details_only_for_loopback_or_token(make_app, aiohttp_client, engine, db_url,
                                                                       tmp_path) -> None:  # noqa: ANN001
    settings = make_settings(db_url, tmp_path, server={"metrics_token": "scrape-token-0123456789"})
    client = await aiohttp_client(make_app(settings))
    proxied = {"X-Forwarded-For": "203.0.113.9"}  # what nginx adds for an outside caller

    assert (await client.get("/metrics")).status == 200  # loopback, straight
    resp = await client.get("/metrics", headers=proxied)
    assert resp.status == 403 and "unionbot_" not in await resp.text()
    assert (await client.get("/metrics", headers={**proxied, "Authorization": "Bearer wrong"})).status == 403
    resp = await client.get("/metrics", headers={**proxied, "Authorization": "Bearer scrape-token-0123456789"})
    assert resp.status == 200 and "unionbot_" in await resp.text()

    assert await (await client.get("/healthz", headers=proxied)).json() == {"status": "ok"}
    assert await (await client.get("/readyz", headers=proxied)).json() == {"status": "ok"}
    assert (await (await client.get("/readyz")).json())["database"] == "ok"


async def test_behind_proxy_outside_callers_are_not_loopback(make_app, aiohttp_client, engine, db_url,
                                                              tmp_path) -> None:  # noqa: ANN001
    settings = make_settings(db_url, tmp_path, server={"behind_proxy": True})  # no token: loopback only
    client = await aiohttp_client(make_app(settings))
    assert (await client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})).status == 403
    assert (await client.get("/metrics")).status == 200  # Prometheus on this machine, straight
    # without a configured token, no Authorization header opens it
    assert (await client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7",
                                                  "Authorization": "Bearer "})).status == 403


# ---------------------------------------------------------------------------------- a real browser
browser_test = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                  reason=f"{CHROMIUM} is missing (run .ci/install-browser.sh); in CI it always runs")


@browser_test
async def test_browser_runs_the_pages_without_csp_violations(aiohttp_server, app, db, clock) -> None:  # noqa: ANN001
    from playwright.async_api import async_playwright
    from sqlalchemy import select

    from bot.db.models.hardship import HardshipRequest

    await create_staff_user(db)
    for i in range(3):
        now = clock.now()
        async with db() as s, s.begin():
            s.add(Member(openid=f"oW{i}", first_seen=now, last_seen=now))
            await ops.submit_request(s, ops_ctx(app), openid=f"oW{i}", consent_version="2026-1", data={
                "kind": "因病", "description": "住院", "household": 3, "income": 4500.0, "expenses": 1500.0,
                "name": f"王{i}", "phone": f"1380013800{i}", "employer": "环卫所", "id_number": None})
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"

    violations: list[str] = []
    asked: list[str] = []

    async def answer(dialog) -> None:  # noqa: ANN001
        asked.append(dialog.message)
        await dialog.dismiss()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                    has_touch=True)).new_page()
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            await page.goto(f"{base}/admin/login")
            await page.get_by_label("用户名").fill("staff1")
            await page.get_by_label("密码").fill("correct-horse-9")
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url(f"{base}/admin/")
            for path in ("/admin/", "/admin/hardship/1", "/admin/chairs/registry", "/admin/chairs/dashboard",
                         "/admin/audit", "/admin/hardship/new", "/admin/hardship"):
                await page.goto(base + path)
            # the list's filters fold on a phone (admin.js runs) and unfold on a tap
            await page.get_by_role("button", name=re.compile("更多筛选")).click()
            assert await page.get_by_role("button", name="收起筛选").is_visible()
            # a confirmation question (data-confirm) is asked; dismissing it sends nothing
            page.on("dialog", answer)
            await page.locator('input[name="ids"]').first.check()
            await page.get_by_role("button", name="批量开始审核").click()
            assert asked and "1 份申请" in asked[0]
        finally:
            await browser.close()
    assert violations == []
    async with db() as s:
        assert {r.status for r in await s.scalars(select(HardshipRequest))} == {"submitted"}
