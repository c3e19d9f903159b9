"""Tables of the chairs feature."""
from __future__ import annotations

from bot.db.base import Base, UTCDateTime  # noqa: F401
