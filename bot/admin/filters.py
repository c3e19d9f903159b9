"""Jinja2 filters and globals for admin templates: local time, masking, query links."""
from __future__ import annotations

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
        elif s.replace("-", "").replace(" ", "").isdigit() and len(s) >= 7:
            kind = "phone"
        elif len(s) >= 15 and s[:-1].isdigit():
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
