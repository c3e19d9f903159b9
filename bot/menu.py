"""The official account's custom menu: config → WeChat's JSON."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.config import MenuButton
from bot.feature import Feature


def _button(b: MenuButton) -> dict[str, Any]:
    if b.sub:
        return {"name": b.name, "sub_button": [_button(s) for s in b.sub]}
    if b.url:
        return {"type": "view", "name": b.name, "url": b.url}
    return {"type": "click", "name": b.name, "key": b.key}


def menu_payload(buttons: list[MenuButton]) -> list[dict[str, Any]]:
    return [_button(b) for b in buttons]


def default_menu(features: Sequence[Feature]) -> list[dict[str, Any]]:
    """The menu used when the config names none: every feature's click key, grouped."""
    out: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for item in sorted((m for f in features for m in f.menu), key=lambda m: m.order):
        button = {"type": "click", "name": item.name, "key": item.key}
        if not item.group:
            out.append(button)
        elif item.group in groups:
            groups[item.group]["sub_button"].append(button)
        else:
            groups[item.group] = {"name": item.group, "sub_button": [button]}
            out.append(groups[item.group])
    return out
