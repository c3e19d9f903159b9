"""Helpers for admin-site tests (reused by every feature's admin page tests).

    client = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    await log_in_staff(client, sessionmaker)  # creates staff1 and logs in through the form
    token = await csrf_at(client, "/admin/some")
    await client.post("/admin/some/action", data={"_csrf": token, ...})
"""
from __future__ import annotations

import re
from html import unescape

from aiohttp import web

from bot.admin import staff as staff_ops
from bot.admin.site import create_admin_app
from bot.app import features
from bot.clock import FakeClock
from bot.db.models.core import Staff

DEFAULT_USER = "staff1"
DEFAULT_PASSWORD = "correct-horse-9"

_CSRF_RE = re.compile(r'name="_csrf"\s+value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token from the first form in a rendered admin page."""
    match = _CSRF_RE.search(html)
    if not match:
        raise AssertionError("no _csrf field in the page")
    return unescape(match.group(1))


async def csrf_at(client, path: str) -> str:  # noqa: ANN001
    """The CSRF token of the admin page at `path`."""
    return csrf_from(await (await client.get(path)).text())


def make_admin_parent(settings, sessionmaker, clock, services: dict | None = None) -> web.Application:  # noqa: ANN001
    """A parent app with the admin site mounted at /admin, as the real app does."""
    parent = web.Application()
    parent.add_subapp("/admin", create_admin_app(settings, sessionmaker, clock, services, features()))
    return parent


async def make_admin_client(aiohttp_client, settings, sessionmaker, clock, services: dict | None = None):  # noqa: ANN001, ANN201
    return await aiohttp_client(make_admin_parent(settings, sessionmaker, clock, services))


async def create_staff_user(
    sessionmaker, username: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD,  # noqa: ANN001
    display_name: str = "张干事", roles: tuple[str, ...] = ("admin",), community: str | None = None,
) -> Staff:
    async with sessionmaker() as db, db.begin():
        return await staff_ops.create_staff(db, username, password, display_name, FakeClock().now(),
                                            roles=roles, community=community)


async def post_login(client, username: str, password: str, next_: str = "/admin/"):  # noqa: ANN001, ANN201
    """Submit the real login form (GET for the CSRF token, then POST); the response, redirect not followed."""
    token = await csrf_at(client, "/admin/login")
    return await client.post("/admin/login", data={"_csrf": token, "username": username, "password": password,
                                                   "next": next_}, allow_redirects=False)


async def login(client, username: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD) -> None:  # noqa: ANN001
    """Log in through the real form; fails the test if refused."""
    resp = await post_login(client, username, password)
    if resp.status != 303:
        raise AssertionError(f"login as {username!r} refused: HTTP {resp.status}")


async def log_in_staff(client, sessionmaker) -> None:  # noqa: ANN001
    """Create the default staff user and log `client` in as them."""
    await create_staff_user(sessionmaker)
    await login(client)


async def audit_rows_holding(sessionmaker, values) -> list[str]:  # noqa: ANN001
    """The audit rows whose target or detail holds one of `values` (a name, phone, ID number …),
    as "action: target detail"; security.md §6 wants none. Compare with the whole values and
    with the parts a log could keep (the last 8 digits of a phone or ID number)."""
    from sqlalchemy import select

    from bot.db.models.core import AuditLog

    async with sessionmaker() as db:
        rows = list(await db.scalars(select(AuditLog).order_by(AuditLog.id)))
    found = []
    for r in rows:
        text = f"{r.target} {r.detail}"
        found += [f"{r.action}: {text}" for v in values if v and v in text][:1]
    return found
