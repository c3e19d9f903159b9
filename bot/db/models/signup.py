"""Tables of the signup feature: activities (trainings and events) and sign-ups."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime

KINDS = {"training": "培训", "event": "活动"}


class Activity(Base):
    """A training or event staff publish; workers sign up for it in chat."""

    __tablename__ = "signup_activity"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="event")  # training | event
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # None = unlimited.
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Sign-up closes at this instant (defaults to the start).
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    waitlist: Mapped[bool] = mapped_column(Boolean, default=True)
    audience: Mapped[str] = mapped_column(String(200), default="")
    # The organiser: a community union (its accounts manage it) or None, the federation's own
    # (every account sees it; only the federation's accounts manage it).
    community: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    checkin_code: Mapped[str] = mapped_column(String(12), unique=True)
    # open | cancelled
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Seats taken (confirmed sign-ups); claimed with one conditional UPDATE.
    taken: Mapped[int] = mapped_column(Integer, default=0)
    # Counter handing out sign-up order numbers (waitlist order).
    seq: Mapped[int] = mapped_column(Integer, default=0)
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    qr_ticket: Mapped[str | None] = mapped_column(String(200), nullable=True)
    qr_url: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def kind_zh(self) -> str:
        return KINDS.get(self.kind, self.kind)

    def seats_left(self) -> int | None:
        return None if self.capacity is None else max(self.capacity - self.taken, 0)


class Signup(Base):
    """One member's place on one activity (one row per pair, reused on re-sign-up).

    删除我的信息 empties name, phone, employer and openid and unlinks the member
    (`member_id` NULL) once the activity is over or the sign-up is cancelled; the
    row stays for the activity's figures (seats, attendance).
    """

    __tablename__ = "signup"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("signup_activity.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"), index=True, nullable=True)
    openid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    employer: Mapped[str] = mapped_column(String(128), default="")
    # confirmed | waitlist | cancelled
    status: Mapped[str] = mapped_column(String(16))
    # Sign-up order within the activity (new number on every re-sign-up); waitlist order.
    seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # code | qr | staff
    checkin_via: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Outbox key of the last message about this sign-up (promotion, cancellation), to show delivery.
    notice_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # 删除我的信息 while the sign-up was upcoming: personal data removed once the activity is over.
    erase_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (
        UniqueConstraint("activity_id", "member_id", name="uq_signup_activity_member"),
        Index("ix_signup_queue", "activity_id", "status", "seq"),
    )
