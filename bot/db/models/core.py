"""Tables of the framework itself: members, dialogues, inbound dedup, outbox,
access token, staff accounts, audit log, sequences and leases."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime


class Member(Base):
    """Everyone who ever wrote to or followed the account."""

    __tablename__ = "member"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[str] = mapped_column(String(64), default="")
    openid: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Optional profile, given by the member in a dialogue (and removable by them).
    name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    employer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # WeChat customer-service windows: a user message opens 48 h / 5 messages,
    # a click, follow or scan opens 1 min / 3 messages.
    msg_window_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    msg_window_used: Mapped[int] = mapped_column(Integer, default=0)
    evt_window_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    evt_window_used: Mapped[int] = mapped_column(Integer, default=0)
    # Profile too (last, as migration 0006 added it): the community (社区) the member named
    # ([federation] communities); "" = asked, didn't know (not asked again); None = never asked.
    community: Mapped[str | None] = mapped_column(String(64), nullable=True)
    __table_args__ = (UniqueConstraint("app_id", "openid", name="uq_member_app_openid"),)


class Dialogue(Base):
    """The open conversation of one user: state name plus collected data."""

    __tablename__ = "dialogue"
    app_id: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class InboundMessage(Base):
    """Dedup record of every webhook message, with the reply we gave."""

    __tablename__ = "inbound_message"
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    openid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # processing | done | failed | detached (reply went to the outbox)
    status: Mapped[str] = mapped_column(String(16), default="processing")
    reply: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    reply_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Outbox(Base):
    """A message to send outside the passive reply; a row first, sent later."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    # text | news | template
    kind: Mapped[str] = mapped_column(String(16), default="text")
    # What it is about, e.g. hardship.status, chairs.reminder (for staff and templates).
    purpose: Mapped[str] = mapped_column(String(64), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending | sending | sent | simulated | failed | unreachable | uncertain | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    via: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A message that did not reach the person (unreachable/failed/uncertain) that staff followed
    # up by phone: when, and who (bot.outbox.mark_followed_up); it leaves the 工作台's list.
    followed_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    followed_up_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)


class AccessToken(Base):
    """The deployment's one WeChat access token, shared by every process."""

    __tablename__ = "access_token"
    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(600), default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Roles (bot/admin/roles.py); several per account. The first account is an admin.
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A community union's account sees only its community's records; None = the federation.
    community: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Set by a password reset: the next login must choose a new password.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StaffSession(Base):
    """A staff login: the cookie carries only a random token; its hash is the id here.

    Logout, a password change, deactivation and "end all sessions" set `revoked_at`; idle and
    absolute lifetimes are checked on every request.
    """

    __tablename__ = "staff_session"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie token
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # flash messages and the like
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(32), default="")


class LoginThrottle(Base):
    """Failed logins counted per key ("addr:<ip>" or "user:<name>|<ip>") and window: one bounded
    row per key, never one row per attempt."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditLog(Base):
    """Every staff action (and reveals of personal data)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The action was asked for and not done (a rule or a missing right refused it).
    refused: Mapped[bool] = mapped_column(Boolean, default=False)


class Sequence(Base):
    """Named counters, e.g. per-year reference numbers (BF-2026-0001)."""

    __tablename__ = "sequence"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Lease(Base):
    """A named, time-limited lease (e.g. who runs the scheduler on SQLite)."""

    __tablename__ = "lease"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
