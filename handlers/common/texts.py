"""Texts staff edit in the admin: the welcome a new follower reads and the intro of the 帮助 reply.

Stored in `site_text` (absent = the built-in default below). The keyword list and the office
line (「致电…」, hours, address from `[office]`) are always added by the bot itself, so every
「致电」 carries the number and staff never retype it.

Reading is on the path of every 菜单/帮助 message, so values are kept per process for
`CACHE_SECONDS`: an edit shows at once in the process that saved it and within seconds in
the others.
"""
from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import sitetext
from bot.db.engine import session_engine
from bot.operations import DomainError

if TYPE_CHECKING:
    from bot.config import Settings

CACHE_SECONDS = 10.0


class TextError(DomainError):
    """An edited text was refused (empty, too long)."""


@dataclass(frozen=True)
class TextSpec:
    key: str
    title: str  # what staff read
    hint: str
    max_chars: int
    default: str  # may use {name}: the office's name from [office]


WELCOME = TextSpec(
    "welcome", "关注欢迎语", "有人关注公众号时收到的第一段话。后面会自动接上关键词列表和工会的电话、办公时间、地址。",
    300, "您好，欢迎关注{name}！这里是职工的娘家，有困难、想学习、想参加活动，都可以找我们。")
HELP = TextSpec(
    "help", "帮助说明", "职工发「菜单」「帮助」时，关键词列表上面的那句话。关键词列表和工会的电话、办公时间、地址会自动接在后面。",
    200, "您可以回复下面的关键词：")
TEXTS = {t.key: t for t in (WELCOME, HELP)}

# database engine -> key -> (read at, value or None)
_cache: "weakref.WeakKeyDictionary[Any, dict[str, tuple[float, str | None]]]" = weakref.WeakKeyDictionary()


def default_text(key: str, settings: "Settings") -> str:
    return TEXTS[key].default.format(name=settings.office.name)


def _spec(key: str) -> TextSpec:
    if key not in TEXTS:
        raise TextError("没有这项文字。")
    return TEXTS[key]


def _cached(session: AsyncSession) -> dict[str, tuple[float, str | None]]:
    return _cache.setdefault(session_engine(session), {})  # asked on every 菜单/帮助


async def stored_text(session: AsyncSession, key: str, *, fresh: bool = False) -> str | None:
    """What staff saved for `key`, or None (the default applies)."""
    cache = _cached(session)
    hit = cache.get(key)
    if not fresh and hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    value = await sitetext.get(session, key)
    text = value if isinstance(value, str) and value.strip() else None
    cache[key] = (time.monotonic(), text)
    return text


async def get_text(session: AsyncSession, key: str, settings: "Settings", *, fresh: bool = False) -> str:
    """The text in use: the stored one, else the default."""
    _spec(key)
    return await stored_text(session, key, fresh=fresh) or default_text(key, settings)


def check_text(key: str, value: str) -> str:
    """The text as it will be stored, or TextError saying what is wrong."""
    spec = _spec(key)
    text = "\n".join(line.rstrip() for line in (value or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    text = text.strip()
    if not text:
        raise TextError(f"{spec.title}不能为空；想用默认内容请点「恢复默认」。")
    if len(text) > spec.max_chars:
        raise TextError(f"{spec.title}最多 {spec.max_chars} 个字，现在 {len(text)} 个字，请精简一些。")
    return text


async def set_text(session: AsyncSession, key: str, value: str, staff_id: int | None, now: datetime) -> str:
    """Store an edited text (checked first); returns what was stored."""
    text = check_text(key, value)
    await sitetext.put(session, key, text, now=now, staff_id=staff_id)
    _cached(session).pop(key, None)
    return text


async def reset_text(session: AsyncSession, key: str) -> bool:
    """Back to the default; False when the default was in use already."""
    _spec(key)
    _cached(session).pop(key, None)
    return await sitetext.remove(session, key)
