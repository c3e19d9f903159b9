"""The admin navigation, built once per admin app from the features' manifests.

Paths are relative to the admin root (`/admin`); a path already starting with `/admin` is
kept as is. An entry's `badge` (how many things wait there) is counted per page view by
`badges`: one short query per counted entry the account may open, only on a logged-in staff
member's GET pages; of a community account, its community's count (a badge taking `community`)
or none.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import keys
from bot.admin import permissions
from bot.feature import NavEntry

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/admin"


def _full_path(path: str) -> str:
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        return path
    return ADMIN_PREFIX + "/" + path.lstrip("/")


def build(declared: Iterable[NavEntry]) -> list[NavEntry]:
    """The entries in menu order, with full paths; a path declared twice is an error."""
    out: dict[str, NavEntry] = {}
    for e in declared:
        full = NavEntry(e.title, _full_path(e.path), e.order, e.badge)
        if full.path in out:
            raise ValueError(f"admin nav path {full.path} declared twice")
        out[full.path] = full
    return sorted(out.values(), key=lambda e: (e.order, e.title))


def entries(built: list[NavEntry]) -> list[NavEntry]:
    return built


def active_path(built: list[NavEntry], request_path: str) -> str | None:
    """The entry path that best matches the current URL (longest prefix)."""
    best: str | None = None
    for e in built:
        path = e.path
        home = path.rstrip("/") == ADMIN_PREFIX
        hit = request_path == path if home else (request_path == path or request_path.startswith(path.rstrip("/") + "/"))
        if hit and (best is None or len(path) > len(best)):
            best = path
    return best


async def _count(request: web.Request, db, e: NavEntry) -> int:  # noqa: ANN001
    """An entry's badge, counted for this account's community when the badge can (a keyword
    `community`, as the 工作台's to-dos); a community account gets no federation-wide count."""
    badge = e.badge
    assert badge is not None
    if "community" in inspect.signature(badge).parameters:
        return await badge(db, community=permissions.community(request))  # type: ignore[call-arg]
    if permissions.community(request) is not None:
        return 0
    return await badge(db)


async def badges(request: web.Request) -> dict[str, int]:
    """path -> the count shown beside that link, for the page being rendered (0s left out)."""
    if request.method != "GET" or request.get(keys.REQUEST_STAFF) is None:
        return {}
    resource = getattr(request.match_info.route, "resource", None)
    if resource is not None and resource.name == "static":
        return {}
    counted = [e for e in request.app[keys.ADMIN_NAV]
               if e.badge is not None and permissions.may_open(request, e.path)]
    if not counted:
        return {}
    out: dict[str, int] = {}
    try:
        async with request.app[keys.ADMIN_SESSIONMAKER]() as db:
            for e in counted:
                n = await _count(request, db, e)
                if n:
                    out[e.path] = n
    except (SQLAlchemyError, OSError):  # a count is not worth an error page
        log.exception("admin nav badge count failed")
    return out
