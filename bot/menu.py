"""The official account's custom menu: which menu to push, WeChat's limits, the JSON.

The menu pushed (by `unionbot menu push` and the admin's 发布) is, in this order: the one staff
saved in the admin (the `site_text` row "menu"), the config's `[wechat].menu`, or the default
built from the click keys the features declare. Buttons are WeChat's JSON (`name`, `type`
click/view with `key`/`url`, or `sub_button`); `validate` checks them against WeChat's limits
and answers in Chinese, naming the button.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from bot import sitetext
from bot.config import MenuButton, Settings
from bot.feature import Feature
from bot.wechat.api import TransportError, WeChatError

MENU_KEY = "menu"  # the site_text row of the menu staff saved
PUBLISHED_KEY = "menu_published"  # what was last pushed, when and with what result

# WeChat's limits (https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html)
MAX_TOP, MAX_SUB = 3, 5
TOP_NAME_BYTES, SUB_NAME_BYTES, KEY_BYTES, URL_BYTES = 16, 60, 128, 1024

SOURCE_LABELS = {"stored": "后台保存的菜单", "config": "配置文件 [wechat].menu", "default": "系统默认菜单"}


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


def click_keys(features: Sequence[Feature]) -> dict[str, str]:
    """The click keys the features declare → their default button names (menu order)."""
    items = sorted((m for f in features for m in f.menu), key=lambda m: m.order)
    return {m.key: m.name for m in items}


# ------------------------------------------------------------------------------ which menu
async def stored_menu(session: AsyncSession) -> list[dict[str, Any]] | None:
    """The menu staff saved in the admin, or None."""
    value = await sitetext.get(session, MENU_KEY)
    return value if isinstance(value, list) and value else None


async def save_menu(session: AsyncSession, buttons: list[dict[str, Any]], *, now: datetime,
                    staff_id: int | None) -> None:
    """Store the menu staff edited (checked by `validate` first); it is pushed from now on."""
    await sitetext.put(session, MENU_KEY, buttons, now=now, staff_id=staff_id)


async def clear_menu(session: AsyncSession) -> bool:
    """Forget the stored menu (back to the config's or the default); False if none was stored."""
    return await sitetext.remove(session, MENU_KEY)


async def record_push(session: AsyncSession, buttons: list[dict[str, Any]], ok: bool, message: str, *,
                      now: datetime, staff_id: int | None) -> None:
    """Remember the last push (shown in the admin: whether the saved menu is live)."""
    await sitetext.put(session, PUBLISHED_KEY, {"ok": ok, "message": message, "buttons": buttons},
                       now=now, staff_id=staff_id)


async def last_push(session: AsyncSession) -> tuple[dict[str, Any], datetime] | None:
    """(what the last push stored, when), or None."""
    row = await sitetext.get_row(session, PUBLISHED_KEY)
    return (row.value, row.updated_at) if row is not None and isinstance(row.value, dict) else None


def configured_menu(settings: Settings, features: Sequence[Feature]) -> tuple[list[dict[str, Any]], str]:
    """(buttons, source) without a stored menu: the config's, else the default."""
    if settings.wechat.menu:
        return menu_payload(settings.wechat.menu), "config"
    return default_menu(features), "default"


async def menu_to_push(session: AsyncSession, settings: Settings,
                       features: Sequence[Feature]) -> tuple[list[dict[str, Any]], str]:
    """(buttons, source): the stored menu, else the config's, else the default."""
    stored = await stored_menu(session)
    if stored is not None:
        return stored, "stored"
    return configured_menu(settings, features)


# ------------------------------------------------------------------------------ validation
def _bytes(s: str) -> int:
    return len(s.encode("utf-8"))


def good_url(url: str) -> bool:
    """An absolute http(s) address without spaces."""
    if not url or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "." in (parts.hostname or "")


def _leaf(b: dict[str, Any], label: str, known_keys: Collection[str]) -> list[str]:
    kind = b.get("type", "")
    if kind == "click":
        key = str(b.get("key") or "")
        if not key:
            return [f"{label}还没有选择要打开的功能。"]
        if _bytes(key) > KEY_BYTES:
            return [f"{label}的功能代码太长（最多 {KEY_BYTES} 个字节）。"]
        if key not in known_keys:
            return [f"{label}选择的功能「{key}」不存在，请从列表中重新选择。"]
        return []
    if kind == "view":
        url = str(b.get("url") or "")
        if not url:
            return [f"{label}还没有填写网页链接。"]
        if _bytes(url) > URL_BYTES:
            return [f"{label}的链接太长：最多 {URL_BYTES} 个字节，现在 {_bytes(url)} 个。"]
        if not good_url(url):
            return [f"{label}的链接不正确：请填写以 https:// 或 http:// 开头的完整网址。"]
        return []
    if not kind:
        return [f"{label}还没有选择类型：打开功能，或打开网页链接。"]
    return [f"{label}的类型「{kind}」这里不支持，请改为打开功能或网页链接。"]


def validate(buttons: Any, known_keys: Collection[str]) -> list[str]:
    """What WeChat would refuse in `buttons`, one Chinese sentence per problem ([] = fine)."""
    if not isinstance(buttons, list) or not buttons:
        return ["菜单至少要有 1 个按钮。"]
    errors: list[str] = []
    if len(buttons) > MAX_TOP:
        errors.append(f"一级按钮最多 {MAX_TOP} 个，现在有 {len(buttons)} 个。")
    for i, top in enumerate(buttons, 1):
        if not isinstance(top, dict):
            errors.append(f"第 {i} 个一级按钮的格式不正确。")
            continue
        name = str(top.get("name") or "").strip()
        label = f"一级按钮「{name}」" if name else f"第 {i} 个一级按钮"
        if not name:
            errors.append(f"{label}还没有名称。")
        elif _bytes(name) > TOP_NAME_BYTES:
            errors.append(f"{label}的名称太长：一级按钮最多 {TOP_NAME_BYTES} 个字节（5 个汉字），"
                          f"现在 {_bytes(name)} 个字节。")
        if "sub_button" not in top:
            errors += _leaf(top, label, known_keys)
            continue
        subs = top.get("sub_button")
        if top.get("type") or top.get("key") or top.get("url"):
            errors.append(f"{label}下面有子按钮，就不能再直接打开功能或链接：请把类型选为「子菜单」，"
                          "或删掉它下面的子按钮。")
        if not isinstance(subs, list) or not subs:
            errors.append(f"{label}下面还没有子按钮：请至少填写 1 个，或改为直接打开功能或链接。")
            continue
        if len(subs) > MAX_SUB:
            errors.append(f"{label}下面的子按钮最多 {MAX_SUB} 个，现在有 {len(subs)} 个。")
        for j, sub in enumerate(subs, 1):
            if not isinstance(sub, dict):
                errors.append(f"{label}下第 {j} 个子按钮的格式不正确。")
                continue
            sname = str(sub.get("name") or "").strip()
            slabel = f"「{name or i}」下的「{sname}」" if sname else f"「{name or i}」下第 {j} 个子按钮"
            if not sname:
                errors.append(f"{slabel}还没有名称。")
            elif _bytes(sname) > SUB_NAME_BYTES:
                errors.append(f"{slabel}的名称太长：子按钮最多 {SUB_NAME_BYTES} 个字节（20 个汉字），"
                              f"现在 {_bytes(sname)} 个字节。")
            if "sub_button" in sub:
                errors.append(f"{slabel}下面不能再有子按钮（微信只支持两级）。")
            else:
                errors += _leaf(sub, slabel, known_keys)
    return errors


# ------------------------------------------------------------------------------ push errors
# WeChat's answers to menu/create that staff may meet, in words they can act on.
PUSH_ERRORS = {
    -1: "微信系统繁忙，请稍后再试。",
    40001: "公众号的 AppSecret 不正确或 access_token 已失效，请联系技术人员检查配置。",
    40013: "公众号的 AppID 不正确，请联系技术人员检查配置。",
    40016: "按钮数量不符合微信的要求。",
    40017: "按钮类型不符合微信的要求。",
    40018: "按钮名称太长。",
    40019: "按钮的功能代码太长。",
    40023: "子按钮数量不符合微信的要求。",
    40025: "子按钮名称太长。",
    40027: "子按钮的链接太长。",
    40054: "子按钮的链接不正确（请检查网址）。",
    40055: "按钮的链接不正确（请检查网址）。",
    40164: "本服务器的 IP 地址不在公众号的 IP 白名单中：请在公众平台「基本配置」里把它加入白名单。",
    45064: "菜单中的链接域名未经授权。",
    48001: "公众号没有自定义菜单接口的权限（需要微信认证）。",
    65301: "菜单中有不存在的按钮。",
}


def push_error_text(errcode: int, errmsg: str = "") -> str:
    """WeChat's refusal of a menu, in Chinese for staff (with the code for the technician)."""
    known = PUSH_ERRORS.get(errcode, "微信拒绝了这次发布。")
    return f"{known}（错误码 {errcode}{'：' + errmsg if errmsg else ''}）"


async def push(api: Any, buttons: list[dict[str, Any]]) -> tuple[bool, str]:
    """Create the menu through WeChat's API: (done, what to tell staff). Call it outside an open
    database session (the API client reads its access token from the database)."""
    try:
        await api.create_menu(buttons)
    except TransportError as exc:
        return False, f"暂时连不上微信服务器，请稍后再试（{exc.errmsg}）。"
    except WeChatError as exc:
        return False, push_error_text(exc.errcode, exc.errmsg)
    return True, "菜单已发布到公众号。关注者重新进入公众号就能看到新菜单（微信有时需要几分钟刷新）。"
