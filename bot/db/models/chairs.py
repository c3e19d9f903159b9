"""Tables of the chairs feature: the registry of grassroots union chairs, their
binding codes, quarterly reports and the reminder ladder's record."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime


class Chair(Base):
    """A grassroots union chair (基层工会主席) and the unit they chair."""

    __tablename__ = "chair"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(128))
    community: Mapped[str] = mapped_column(String(64), index=True)
    mobile: Mapped[str] = mapped_column(String(20), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The WeChat account bound with a one-time code (one chair per openid).
    openid: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChairBindCode(Base):
    """A one-time binding code; only its SHA-256 is stored."""

    __tablename__ = "chair_bind_code"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chair_id: Mapped[int] = mapped_column(ForeignKey("chair.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Set when a newer code is issued for the same chair.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ChairBindFailure(Base):
    """A failed binding attempt, for throttling wrong codes per openid."""

    __tablename__ = "chair_bind_failure"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_chair_bind_failure_openid_at", "openid", "at"),)


class ChairReport(Base):
    """One chair's report for one quarter (figures may be empty when staff
    recorded a report received by other means)."""

    __tablename__ = "chair_report"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chair_id: Mapped[int] = mapped_column(ForeignKey("chair.id"), index=True)
    quarter: Mapped[str] = mapped_column(String(8), index=True)  # 2026Q4
    # The figures behind the street's three indicators.
    enterprises: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 25+ staff, in scope
    unionised: Mapped[int | None] = mapped_column(Integer, nullable=True)
    wage_agreements: Mapped[int | None] = mapped_column(Integer, nullable=True)
    harmonious: Mapped[int | None] = mapped_column(Integer, nullable=True)  # A level or above
    visits: Mapped[int | None] = mapped_column(Integer, nullable=True)
    problems: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    # wechat | other (marked received by staff)
    channel: Mapped[str] = mapped_column(String(16), default="wechat")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    on_time: Mapped[bool] = mapped_column(Boolean, default=True)
    received_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (UniqueConstraint("chair_id", "quarter", name="uq_chair_report_chair_quarter"),)


class ChairReminder(Base):
    """What the reminder job did for one (chair, quarter, stage): the record that
    makes the job idempotent and shows staff what happened.

    status: queued (an outbox row under `outbox_key`), skipped (found more than
    max_lateness_hours late, not sent), unbound (no WeChat account: phone them),
    listed (put on the quarter's 通报 list).
    """

    __tablename__ = "chair_reminder"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chair_id: Mapped[int] = mapped_column(ForeignKey("chair.id"), index=True)
    quarter: Mapped[str] = mapped_column(String(8), index=True)
    stage: Mapped[str] = mapped_column(String(8))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    outbox_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (UniqueConstraint("chair_id", "quarter", "stage", name="uq_chair_reminder_stage"),)
