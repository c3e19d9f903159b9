"""Words that work everywhere (菜单, 帮助, 取消), follows and the friendly fallback; and the
公众号设置 pages where staff edit the menu, the welcome and the 帮助 text."""
from __future__ import annotations

from pathlib import Path

from bot.feature import Feature, MenuItem, NavEntry
from handlers.common import admin
from handlers.common.dialogue import fallback, router

FEATURE = Feature(
    name="common",
    role="admin",  # the menu, the welcome and 帮助: admins (bot/admin/roles.py)
    router=router,
    menu=(MenuItem("HELP", "帮助", "我的", 41),),
    admin=admin.setup,
    nav=(NavEntry("公众号设置", "/account", 80),),
    templates=Path(__file__).parent / "templates",
)
FALLBACK = fallback
