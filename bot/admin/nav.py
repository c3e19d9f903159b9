"""The admin navigation, built once per admin app from the features' manifests.

Paths are relative to the admin root (`/admin`); a path already starting with `/admin` is
kept as is.
"""
from __future__ import annotations

from collections.abc import Iterable

from bot.feature import NavEntry

ADMIN_PREFIX = "/admin"


def _full_path(path: str) -> str:
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        return path
    return ADMIN_PREFIX + "/" + path.lstrip("/")


def build(declared: Iterable[NavEntry]) -> list[NavEntry]:
    """The entries in menu order, with full paths; a path declared twice is an error."""
    out: dict[str, NavEntry] = {}
    for e in declared:
        full = NavEntry(e.title, _full_path(e.path), e.order)
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
