"""Words that work everywhere (菜单, 帮助, 取消), follows and the friendly fallback."""
from __future__ import annotations

from bot.feature import Feature, MenuItem
from handlers.common.dialogue import fallback, router

FEATURE = Feature(name="common", router=router, menu=(MenuItem("HELP", "帮助", "我的", 41),))
FALLBACK = fallback
