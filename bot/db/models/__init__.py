"""All tables. Feature tables live in one module per feature."""
from bot.db.base import Base
from bot.db.models.core import (  # noqa: F401
    AccessToken, AuditLog, Dialogue, InboundMessage, Lease, LoginThrottle, Member, Outbox, Sequence, Staff,
    StaffSession,
)
from bot.db.models import hardship, signup, quiz, chairs, inbox  # noqa: F401,E402

__all__ = ["Base", "AccessToken", "AuditLog", "Dialogue", "InboundMessage", "Lease", "Member", "Outbox", "Sequence", "Staff"]
