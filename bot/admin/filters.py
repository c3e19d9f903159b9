"""Jinja2 filters and globals for admin templates (local time, masking, query links), and the
readers of query parameters that every page shares: dates, page numbers, free text.

A query string is typed, bookmarked or edited by hand: a reader never raises on what it gets.
`parse_date` says what was wrong (`BadValue`, worded for staff) so a page can show it and go on
without that condition; `page_number` and `clean_text` fall back quietly.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from multidict import MultiDict


def make_localtime(tz: str):  # noqa: ANN201
    zone = ZoneInfo(tz)

    def localtime(value: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(zone)
            return value.strftime(fmt)
        return value.strftime("%Y-%m-%d")

    return localtime


def mask(value: object, kind: str = "auto") -> str:
    """Hide most of a personal value: 138****5678, 110***********1234, 张*, a***@x.cn."""
    s = "" if value is None else str(value).strip()
    if not s:
        return ""
    if kind == "auto":
        if "@" in s:
            kind = "email"
        elif s.replace("-", "").replace(" ", "").isdecimal() and len(s) >= 7:
            kind = "phone"
        elif len(s) >= 15 and s[:-1].isdecimal():
            kind = "id"
        else:
            kind = "name"
    if kind == "phone":
        digits = s.replace(" ", "").replace("-", "")
        return digits[:3] + "*" * max(len(digits) - 7, 1) + digits[-4:] if len(digits) > 7 else "*" * len(digits)
    if kind == "id":
        return s[:3] + "*" * (len(s) - 7) + s[-4:] if len(s) > 7 else "*" * len(s)
    if kind == "email":
        user, _, host = s.partition("@")
        return (user[:1] + "***@" + host) if user else "***@" + host
    # names and anything else: keep the first character only
    return s[:1] + "*" * max(len(s) - 1, 1)


def with_query(request, **params: object) -> str:  # noqa: ANN001
    """The current URL with some query parameters replaced (None removes one)."""
    query = MultiDict(request.rel_url.query)
    for key, value in params.items():
        query.popall(key, None)
        if value is not None and value != "":
            query[key] = str(value)
    return str(request.rel_url.with_query(query))


# ----------------------------------------------------------------------------- query parameters
MIN_YEAR, MAX_YEAR = 1900, 2100  # dates outside are refused (no 5xx from 0001-01-01 or 9999-12-31)
MAX_PAGE = 100_000  # a page number beyond this is read as this (no 5xx from a huge offset)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # NUL etc.: PostgreSQL refuses them in text
_SLASHED = re.compile(r"(\d{4})\s*[/.年]\s*(\d{1,2})\s*[/.月]\s*(\d{1,2})\s*日?")


class BadValue(ValueError):
    """A parameter that can't be used; the message is for staff."""


def _shown(raw: str, limit: int = 20) -> str:
    raw = clean_text(raw, limit + 1)
    return raw if len(raw) <= limit else raw[:limit] + "…"


def parse_date(raw: str | None, label: str = "日期") -> date | None:
    """A date from a query or form: 2026-05-01 (also 2026/5/1, 2026年5月1日); None when empty.
    Raises BadValue (saying which and what was wrong) for anything else, and for a year
    outside MIN_YEAR..MAX_YEAR."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        match = _SLASHED.fullmatch(text)
        d = date(int(match[1]), int(match[2]), int(match[3])) if match else date.fromisoformat(text)
    except ValueError:
        raise BadValue(f"「{label}」填的「{_shown(text)}」不是有效的日期（请按 2026-05-01 这样的格式填写，"
                       "或用日期选择框）") from None
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise BadValue(f"「{label}」填的「{d.isoformat()}」不在 {MIN_YEAR} 年到 {MAX_YEAR} 年之间") from None
    return d


def date_or_none(raw: str | None) -> date | None:
    """`parse_date` that answers None for what it can't use (where there is no place to say why)."""
    try:
        return parse_date(raw)
    except BadValue:
        return None


def page_number(raw: str | None) -> int:
    """?page=: 1 for anything but a whole number, at most MAX_PAGE (a page past the end is the
    list's to clamp to its last)."""
    text = (raw or "").strip()
    if not text.isdecimal():
        return 1
    return MAX_PAGE if len(text) > 12 else min(max(1, int(text)), MAX_PAGE)


def clean_text(raw: object, max_len: int = 64) -> str:
    """Free text from a query (a search term, a text filter): without control characters (NUL
    would make PostgreSQL refuse the query), trimmed, at most `max_len` characters."""
    return _CONTROL.sub("", "" if raw is None else str(raw)).strip()[:max_len]
