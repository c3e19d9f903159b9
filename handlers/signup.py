"""The signup feature (to be built)."""
from __future__ import annotations

from bot.core.router import Router

router = Router("signup")
