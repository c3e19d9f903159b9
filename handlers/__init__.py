"""Feature modules, composed in one place (order = match order within a tier)."""
from __future__ import annotations

from bot.core.router import Router


def all_routers() -> list[Router]:
    from handlers import chairs, common, hardship, quiz, signup

    return [common.router, hardship.router, signup.router, quiz.router, chairs.router]
