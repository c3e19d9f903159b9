"""Tables of the hardship feature: requests, their photos and their timeline."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base, UTCDateTime


class HardshipRequest(Base):
    """One request for hardship help (困难帮扶), from submission to closing."""

    __tablename__ = "hardship_request"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(20), unique=True)  # BF-2026-0001
    openid: Mapped[str] = mapped_column(String(64), index=True, default="")
    # submitted | reviewing | waiting | approved | rejected | delivered | closed
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    kind: Mapped[str] = mapped_column(String(16))  # 因病 / 因灾 / 子女就学 / 失业待岗 / 工伤 / 其他
    description: Mapped[str] = mapped_column(Text, default="")
    household_size: Mapped[int] = mapped_column(Integer)
    monthly_income: Mapped[float] = mapped_column(Float)
    fixed_expenses: Mapped[float] = mapped_column(Float, default=0.0)
    # Self-check: per-capita income after hardship expenses, and the suggested tier (a hint only).
    per_capita: Mapped[float] = mapped_column(Float)
    dibao: Mapped[float | None] = mapped_column(Float, nullable=True)
    tier: Mapped[str] = mapped_column(String(8), default="", index=True)  # 深度困难 | 相对困难 | ""
    name: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    employer: Mapped[str] = mapped_column(String(128), default="")
    # The worker's community (their answer, or set by staff): a community account sees only its
    # own community's requests; None = seen by the federation's accounts only.
    community: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    id_number_enc: Mapped[str | None] = mapped_column(Text, nullable=True)  # Fernet token
    # The masked form (110***********002X), kept so lists never decrypt (None before 0003).
    id_number_masked: Mapped[str | None] = mapped_column(String(24), nullable=True)
    consent_version: Mapped[str] = mapped_column(String(32), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)  # 代办
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    last_message: Mapped[str] = mapped_column(Text, default="")  # latest words staff sent the worker
    last_notice_key: Mapped[str | None] = mapped_column(String(200), nullable=True)  # outbox key
    reject_reason: Mapped[str] = mapped_column(Text, default="")
    aid_amount: Mapped[float | None] = mapped_column(Float, nullable=True)
    aid_kind: Mapped[str] = mapped_column(String(200), default="")
    aid_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    erase_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    photos: Mapped[list["HardshipPhoto"]] = relationship(
        back_populates="request", order_by="HardshipPhoto.id", lazy="selectin", cascade="all, delete-orphan")
    events: Mapped[list["HardshipEvent"]] = relationship(
        back_populates="request", order_by="HardshipEvent.id", lazy="selectin", cascade="all, delete-orphan")


class HardshipPhoto(Base):
    """An evidence photo: the WeChat MediaId first, the file once fetched in the background."""

    __tablename__ = "hardship_photo"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("hardship_request.id", ondelete="CASCADE"), index=True)
    media_id: Mapped[str] = mapped_column(String(200), default="")
    # pending | fetched | failed | offline (no WeChat API: the id is kept only)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    path: Mapped[str | None] = mapped_column(String(300), nullable=True)  # relative to media_dir
    content_type: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    request: Mapped[HardshipRequest] = relationship(back_populates="photos")
    __table_args__ = (Index("ix_hardship_photo_status", "status"),)


class HardshipEvent(Base):
    """One line of a request's timeline: who did what, when (notes are internal)."""

    __tablename__ = "hardship_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("hardship_request.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(16))  # worker | staff | system
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request: Mapped[HardshipRequest] = relationship(back_populates="events")
