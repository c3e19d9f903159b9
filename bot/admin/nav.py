"""The admin navigation: page modules register their menu entry here.

A page module's `setup(admin_app)` adds its routes and calls
`nav.register("帮扶审核", "/hardship", order=20)`. Paths are relative to the
admin root (`/admin`); a path already starting with `/admin` is kept as is.
Registering the same path again replaces the entry, so building several admin
apps in one process (tests) does not duplicate the menu.
"""
from __future__ import annotations

from dataclasses import dataclass

ADMIN_PREFIX = "/admin"


@dataclass(frozen=True)
class NavEntry:
    title: str
    path: str
    order: int


_entries: dict[str, NavEntry] = {}


def _full_path(path: str) -> str:
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        return path
    return ADMIN_PREFIX + "/" + path.lstrip("/")


def register(title_zh: str, path: str, order: int = 100) -> NavEntry:
    entry = NavEntry(title_zh, _full_path(path), order)
    _entries[entry.path] = entry
    return entry


def unregister(path: str) -> None:
    _entries.pop(_full_path(path), None)


def entries() -> list[NavEntry]:
    return sorted(_entries.values(), key=lambda e: (e.order, e.title))


def active_path(request_path: str) -> str | None:
    """The registered path that best matches the current URL (longest prefix)."""
    best: str | None = None
    for path in _entries:
        home = path.rstrip("/") == ADMIN_PREFIX
        hit = request_path == path if home else (request_path == path or request_path.startswith(path.rstrip("/") + "/"))
        if hit and (best is None or len(path) > len(best)):
            best = path
    return best
