"""The official account's custom menu: config → WeChat's JSON."""
from __future__ import annotations

from typing import Any

from bot.config import MenuButton


def _button(b: MenuButton) -> dict[str, Any]:
    if b.sub:
        return {"name": b.name, "sub_button": [_button(s) for s in b.sub]}
    if b.url:
        return {"type": "view", "name": b.name, "url": b.url}
    return {"type": "click", "name": b.name, "key": b.key}


def menu_payload(buttons: list[MenuButton]) -> list[dict[str, Any]]:
    return [_button(b) for b in buttons]


def default_menu() -> list[dict[str, Any]]:
    """The menu used when the config names none: every feature's click key."""
    return [
        {"type": "click", "name": "困难帮扶", "key": "HARDSHIP"},
        {"name": "学习活动", "sub_button": [
            {"type": "click", "name": "活动报名", "key": "SIGNUP"},
            {"type": "click", "name": "每月一题", "key": "QUIZ"},
        ]},
        {"name": "我的", "sub_button": [
            {"type": "click", "name": "工会主席报送", "key": "REPORT"},
            {"type": "click", "name": "帮助", "key": "HELP"},
        ]},
    ]
