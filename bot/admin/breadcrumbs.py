"""Breadcrumbs (工作台 › 帮扶审核 › BF-2026-0012) on the pages below a navigation entry.

The layout (`base.html`) shows them on every page that is not itself a navigation entry
(detail pages, forms, sub-pages), computed from what every page already has:

  - the navigation entry the URL belongs to (the longest matching path, as the nav's
    highlight) — or, for the site's own pages outside the navigation, `SECTIONS`;
  - the page's own title (its `{% block title %}`), without the words that repeat the entry
    ("BF-2026-0012 · 帮扶审核" → "BF-2026-0012", "2026年11月 每月一题" → "2026年11月").

A page may set its own: `breadcrumb` in the template context (or `{% set breadcrumb = ... %}`
at the top of the template) as a list of `(label, url)` pairs after 工作台 — the last one's
url may be "" (the page itself) — or an empty list for none. Error pages show none.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from aiohttp import web

from bot import keys
from bot.admin import nav, permissions

HOME_LABEL = "工作台"
SEPARATOR = " · "
# The site's own sections that are not in the navigation (reached from the top bar).
SECTIONS = {"/admin/staff": "工作人员账号"}


class Crumb(NamedTuple):
    label: str
    url: str = ""  # "" for the current page (not a link)


def _section(request: web.Request) -> tuple[str, str] | None:
    """(title, path) of the navigation entry (or site section) this URL is below; None on the
    entry's own page, the home page and pages belonging to no section."""
    built = request.app[keys.ADMIN_NAV]
    active = nav.active_path(built, request.path)
    if active is not None and active.rstrip("/") != nav.ADMIN_PREFIX:
        if request.path.rstrip("/") == active.rstrip("/"):
            return None
        entry = next(e for e in built if e.path == active)
        return entry.title, entry.path
    for path, title in SECTIONS.items():
        if request.path.startswith(path + "/"):
            return title, path
    return None


def _short(title: str, section: str) -> str:
    """The page's title without the parts that repeat the section's name ("BF-2026-0012 ·
    帮扶审核", "2026年11月 每月一题", "#12 留言咨询" → "BF-2026-0012", "2026年11月", "#12")."""
    parts = [p.strip() for p in title.split(SEPARATOR) if p.strip() and p.strip() != section]
    parts = [p.removesuffix(" " + section).removeprefix(section + " ").strip() for p in parts]
    return SEPARATOR.join(p for p in parts if p) or title.strip()


def trail(request: web.Request, title: Any = "", given: Any = None) -> list[Crumb]:
    """The crumbs of this page (empty: show none). `title`: the page's title; `given`: what
    the page set as `breadcrumb` (None when it set nothing)."""
    home = Crumb(HOME_LABEL, str(request.app.router["home"].url_for()))
    if given is not None:
        return [home, *_crumbs(given)] if given else []
    section = _section(request)
    if section is None:
        return []
    label, path = section
    link = path if permissions.may_open(request, path) else ""
    here = _short(str(title or ""), label)
    return [home, Crumb(label, link)] + ([Crumb(here)] if here and here != label else [])


def _crumbs(given: Iterable[Any]) -> list[Crumb]:
    out = []
    for item in given:
        if isinstance(item, str):
            out.append(Crumb(item))
        else:
            pair: Sequence[Any] = tuple(item)
            out.append(Crumb(str(pair[0]), str(pair[1]) if len(pair) > 1 and pair[1] else ""))
    return out


__all__ = ["Crumb", "HOME_LABEL", "SECTIONS", "trail"]
