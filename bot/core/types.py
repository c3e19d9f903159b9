"""Plain message types the framework speaks; nothing here knows WeChat's XML."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Incoming:
    """One message or event from a user, already verified and decoded."""

    openid: str
    kind: str  # text | image | voice | video | shortvideo | location | link | event | unknown
    create_time: datetime
    dedup_key: str
    app_id: str = ""  # the account's own id (ToUserName)
    text: str = ""  # text content (stripped); voice recognition result if any
    event: str = ""  # lower-case event name: subscribe, unsubscribe, scan, click, view, ...
    event_key: str = ""  # click key, or scan scene value (without the qrscene_ prefix)
    media_id: str = ""
    pic_url: str = ""
    location: tuple[float, float] | None = None
    msg_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def opens_short_window(self) -> bool:
        """Events after which WeChat allows 3 messages within a minute."""
        return self.kind == "event" and self.event in {"click", "subscribe", "scan"}


@dataclass(frozen=True)
class TextReply:
    text: str


@dataclass(frozen=True)
class Article:
    title: str
    description: str = ""
    url: str = ""
    image: str = ""


@dataclass(frozen=True)
class NewsReply:
    articles: tuple[Article, ...]


@dataclass(frozen=True)
class TransferReply:
    """Hand the message to WeChat's own customer-service system (transfer_customer_service)."""


Reply = TextReply | NewsReply | TransferReply


class _Pass:
    """What an `unmatched` handler returns to leave a message to the next one."""

    def __repr__(self) -> str:
        return "PASS"


PASS = _Pass()


def as_reply(value: Reply | str | None) -> Reply | None:
    """Let handlers return a bare string for a text reply."""
    if value is None or isinstance(value, (TextReply, NewsReply, TransferReply)):
        return value
    if isinstance(value, str):
        return TextReply(value) if value else None
    raise TypeError(f"handler returned {type(value).__name__}, expected Reply, str or None")
