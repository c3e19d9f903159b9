"""Tables of the quiz feature: the question bank, periods, their questions, answers.

A question removed from the bank is soft-deleted (`deleted_at`), so periods
that used it and answers given to it stay intact. One attempt per question
is enforced by the unique constraint on (period, question, openid).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime


class QuizQuestion(Base):
    __tablename__ = "quiz_question"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stem: Mapped[str] = mapped_column(Text)
    # Option texts in letter order: options[0] is A.
    options: Mapped[list[str]] = mapped_column(JSON)
    # Correct letters, sorted, e.g. "B" or "AC".
    answer: Mapped[str] = mapped_column(String(6))
    explanation: Mapped[str] = mapped_column(Text, default="")
    topic: Mapped[str] = mapped_column(String(64), default="")
    # 1 易, 2 中, 3 难
    difficulty: Mapped[int] = mapped_column(Integer, default=2)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(200), default="")

    @property
    def multiple(self) -> bool:
        return len(self.answer) > 1


class QuizPeriod(Base):
    """A month (`2026-12`) or a half-year test (`2026-H2`) with its answer window."""

    __tablename__ = "quiz_period"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # month | half
    year: Mapped[int] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(64), default="")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # immediate: right/wrong, the answer and the explanation at once;
    # after_close: only "recorded" until the window closes (then 解析 shows them).
    reveal: Mapped[str] = mapped_column(String(16), default="immediate")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuizPeriodQuestion(Base):
    __tablename__ = "quiz_period_question"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("quiz_period.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_question.id"))
    position: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("period_id", "question_id", name="uq_quiz_pq_question"),
        UniqueConstraint("period_id", "position", name="uq_quiz_pq_position"),
    )


class QuizAnswer(Base):
    __tablename__ = "quiz_answer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("quiz_period.id"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_question.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    chosen: Mapped[str] = mapped_column(String(6))
    correct: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        UniqueConstraint("period_id", "question_id", "openid", name="uq_quiz_answer_once"),
    )


class QuizNotice(Base):
    """A taker's choice about "a new quiz is open" messages (答题提醒 / 退订答题提醒)."""

    __tablename__ = "quiz_notice"
    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


__all__ = ["QuizQuestion", "QuizPeriod", "QuizPeriodQuestion", "QuizAnswer", "QuizNotice"]
