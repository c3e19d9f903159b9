"""The office's phone, hours and address (the worked example of a feature)."""
from __future__ import annotations

from bot.feature import Feature, MenuItem
from handlers.office.dialogue import router

FEATURE = Feature(name="office", router=router, menu=(MenuItem("OFFICE", "办公时间", "我的", 42),))
