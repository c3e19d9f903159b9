"""Tables of the inbox (a person behind the account) and of the content staff edit:
threads of a worker's questions and staff's answers, quick replies, FAQ entries, and
editable texts (welcome, 帮助, the official-account menu)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime


class InboxThread(Base):
    """One conversation of a worker with the union's staff, open until someone closes it."""

    __tablename__ = "inbox_thread"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"), nullable=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(32), default="其他")
    subject: Mapped[str] = mapped_column(String(200), default="")  # the start of the first question
    # open | closed
    status: Mapped[str] = mapped_column(String(16), default="open")
    # True while the worker's last message has no staff answer after it.
    waiting: Mapped[bool] = mapped_column(Boolean, default=True)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unread: Mapped[int] = mapped_column(Integer, default=0)  # worker messages staff haven't opened
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(16), nullable=True)  # worker | staff
    __table_args__ = (Index("ix_inbox_thread_member_status", "openid", "status"),
                      Index("ix_inbox_thread_status_last", "status", "last_message_at"))


class InboxMessage(Base):
    """One line of a thread: the worker's text, voice or photo, a staff reply, or an internal note."""

    __tablename__ = "inbox_message"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("inbox_thread.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # worker | staff | note | bot (an automatic FAQ answer the worker was given)
    sender: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    # text | voice | image
    kind: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str] = mapped_column(Text, default="")  # for voice: WeChat's recognition
    # The inbound message it came from (a re-send is stored once).
    source_key: Mapped[str | None] = mapped_column(String(160), nullable=True, unique=True)
    # A staff reply: the outbox row that carries it (its status says whether it was delivered).
    outbox_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # A photo: WeChat's MediaId first, the file once fetched (as hardship evidence).
    media_id: Mapped[str] = mapped_column(String(200), default="")
    # pending | fetched | failed | offline ("" for anything but photos)
    media_status: Mapped[str] = mapped_column(String(16), default="")
    path: Mapped[str | None] = mapped_column(String(300), nullable=True)  # relative to media_dir
    content_type: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (Index("ix_inbox_message_media_status", "media_status"),)


class InboxSnippet(Base):
    """A saved quick reply staff insert into an answer."""

    __tablename__ = "inbox_snippet"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FaqEntry(Base):
    """A common question: keywords a worker's message may contain, and the answer."""

    __tablename__ = "faq_entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(500), default="")
    topic: Mapped[str] = mapped_column(String(32), default="")  # the inbox topic it belongs to
    # Also hand the question to a person (legal-aid topics: a first answer now, a person later).
    to_inbox: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher wins among matches
    hits: Mapped[int] = mapped_column(Integer, default=0)
    last_hit_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SiteText(Base):
    """A text or setting staff edit in the admin (welcome, 帮助, the menu); absent = the default."""

    __tablename__ = "site_text"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
