"""What a feature declares: one manifest object per feature package.

`handlers/<feature>/__init__.py` builds a `Feature`; the composition root (`bot/app.py`)
builds the dispatcher, the admin site, the scheduler, the default menu, the staff-facing
labels and the config checks from the list of manifests. Nothing else keeps a registry.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from aiohttp import web

    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.core.router import Router
    from bot.operations import OpsContext
    from bot.jobs import JobSpec


class NavEntry(NamedTuple):
    """A link in the admin's navigation (path relative to /admin)."""

    title: str
    path: str
    order: int = 100
    # How many things wait there (shown beside the link), counted per page view; a badge with a
    # keyword `community` counts a community account's own (bot/admin/nav.py), else it shows none.
    badge: "Callable[[AsyncSession], Awaitable[int]] | None" = None


class MenuItem(NamedTuple):
    """A click key of the official-account menu, with its default button name and group."""

    key: str
    name: str
    group: str = ""  # the parent button of the default menu ("" = a top-level button)
    order: int = 100  # position in the default menu


class TodoItem(NamedTuple):
    """One line of the 工作台: what waits for staff, counted."""

    label: str
    count: int
    url: str


class MemberFact(NamedTuple):
    """What a feature knows of one worker, shown beside their inbox thread (with a link)."""

    label: str  # e.g. 「困难帮扶」
    text: str  # e.g. 「BF-2026-0012 待审核」
    url: str = ""


TodoFunc = Callable[[Any], Awaitable[list[TodoItem]]]
# (session, openid) → facts; the admin shows them to staff answering that worker.
MemberContextFunc = Callable[["AsyncSession", str], Awaitable[list[MemberFact]]]
# Run once per process start, in one transaction (e.g. seed editable content once).
StartupFunc = Callable[["AsyncSession", "OpsContext"], Awaitable[None]]


@dataclass(frozen=True)
class Feature:
    name: str
    router: "Router | None" = None
    jobs: tuple["JobSpec", ...] = ()
    # Adds the feature's admin routes to the admin sub-application.
    admin: "Callable[[web.Application], None] | None" = None
    nav: tuple[NavEntry, ...] = ()
    templates: Path | None = None  # a folder of admin templates (named "<feature>/<page>.html")
    menu: tuple[MenuItem, ...] = ()
    template_kinds: tuple[str, ...] = ()  # `[wechat] templates` kinds the feature sends
    outbox_purposes: Mapping[str, str] = field(default_factory=dict)  # purpose → staff-facing label
    # The 工作台's to-dos; optional keywords `community` and `assigned_to` (bot/admin/home.py).
    todos: TodoFunc | None = None
    # The staff role (bot/admin/roles.py) whose accounts use this feature's admin pages.
    role: str | None = None
    member_context: MemberContextFunc | None = None
    startup: StartupFunc | None = None
