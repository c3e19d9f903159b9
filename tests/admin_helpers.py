"""Helpers for admin-site tests (reused by every feature's admin page tests).

    client = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    await create_staff_user(sessionmaker)
    await login(client, "staff1", "correct-horse-9")
    resp = await client.get("/admin/")
    token = csrf_from(await resp.text())
    await client.post("/admin/some/action", data={"_csrf": token, ...})
"""
from __future__ import annotations

import re

import pytest
from html import unescape

from aiohttp import web

from bot.admin import staff as staff_ops
from bot.admin.site import create_admin_app
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


def make_admin_parent(settings, sessionmaker, clock, services: dict | None = None) -> web.Application:  # noqa: ANN001
    """A parent app with the admin site mounted at /admin, as the real app does."""
    parent = web.Application()
    parent.add_subapp("/admin", create_admin_app(settings, sessionmaker, clock, services))
    return parent


async def make_admin_client(aiohttp_client, settings, sessionmaker, clock, services: dict | None = None):  # noqa: ANN001, ANN201
    return await aiohttp_client(make_admin_parent(settings, sessionmaker, clock, services))


async def create_staff_user(
    sessionmaker, username: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD,  # noqa: ANN001
    display_name: str = "张干事", clock=None,  # noqa: ANN001
) -> Staff:
    from bot.clock import FakeClock

    now = (clock or FakeClock()).now()
    async with sessionmaker() as db, db.begin():
        return await staff_ops.create_staff(db, username, password, display_name, now)


async def login(client, username: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD) -> None:  # noqa: ANN001
    """Log in through the real form (GET for the CSRF token, then POST); fails the test if refused."""
    resp = await client.get("/admin/login")
    token = csrf_from(await resp.text())
    resp = await client.post(
        "/admin/login", data={"_csrf": token, "username": username, "password": password, "next": "/admin/"},
        allow_redirects=False,
    )
    if resp.status != 303:
        raise AssertionError(f"login as {username!r} refused: HTTP {resp.status}")


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):  # noqa: ANN001, ANN201
    """Cheap argon2 parameters in tests (the real ones cost ~0.3 s per login); import it into a test module."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(staff_ops, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(staff_ops, "_DUMMY_HASH", staff_ops._hasher.hash("unionbot-dummy-password"))
