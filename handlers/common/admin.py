"""公众号设置: the official-account menu editor (/admin/account/menu) and the welcome and 帮助
texts (/admin/account/texts). Plain HTML forms that work without JavaScript.

The menu's rules (WeChat's limits, which menu is pushed, the push itself) live in `bot/menu.py`,
the texts' in `handlers/common/texts.py`; these handlers parse the forms, call them, audit and
render. A refused menu or text is shown again as typed, with the reasons in Chinese.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot import keys, menu, sitetext
from bot.admin import audit
from bot.admin.web import SERVICES, db_session, flash, ops_context, render
from bot.operations import OpsContext
from handlers.common import texts
from handlers.common.dialogue import compose_menu, welcome_reply

MENU_URL = "/admin/account/menu"
TEXTS_URL = "/admin/account/texts"
MAX_TOP_ROWS, MAX_SUB_ROWS = 8, 10  # rows read from a posted form (more than WeChat allows: validate says so)
TYPES = {"sub": "子菜单", "click": "打开功能", "view": "打开网页"}


def _features(request: web.Request) -> list[Any]:
    return request.app[keys.ADMIN_FEATURES]


# ----------------------------------------------------------------------------- the menu form
def _row(b: dict[str, Any] | None) -> dict[str, str]:
    b = b or {}
    return {"name": str(b.get("name") or ""), "type": str(b.get("type") or "click"),
            "key": str(b.get("key") or ""), "url": str(b.get("url") or "")}


def rows_from_buttons(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The editor's rows (at least 3 top buttons × 5 sub-buttons, blanks included)."""
    rows = []
    for i in range(max(menu.MAX_TOP, len(buttons))):
        b = buttons[i] if i < len(buttons) and isinstance(buttons[i], dict) else {}
        subs = b.get("sub_button") if isinstance(b.get("sub_button"), list) else []
        top = _row(b)
        if "sub_button" in b or not b:
            top["type"] = "sub"
        top["subs"] = [_row(subs[j] if j < len(subs) and isinstance(subs[j], dict) else None)
                       for j in range(max(menu.MAX_SUB, len(subs)))]
        rows.append(top)
    return rows


def _leaf(row: dict[str, str]) -> dict[str, Any]:
    kind = row["type"]
    if kind == "click":
        return {"type": "click", "name": row["name"], "key": row["key"]}
    if kind == "view":
        return {"type": "view", "name": row["name"], "url": row["url"]}
    return {"type": kind, "name": row["name"]}


def buttons_from_form(form: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(WeChat's buttons, the editor's rows as typed) from a posted menu form. Blank rows are
    skipped; a top button with sub-buttons and neither key nor link is a sub-menu."""
    def field(name: str, limit: int = 2048) -> str:
        return str(form.get(name, "")).strip()[:limit]

    def row(prefix: str) -> dict[str, str]:
        return {"name": field(prefix + "name", 200), "type": field(prefix + "type", 16) or "click",
                "key": field(prefix + "key", 200), "url": field(prefix + "url")}

    buttons: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for i in range(MAX_TOP_ROWS):
        if f"t{i}_name" not in form and i >= menu.MAX_TOP:
            break
        top = row(f"t{i}_")
        subs_typed = [row(f"s{i}_{j}_") for j in range(MAX_SUB_ROWS) if f"s{i}_{j}_name" in form]
        subs = [s for s in subs_typed if s["name"] or s["key"] or s["url"]]
        top["subs"] = subs_typed + [_row(None) for _ in range(menu.MAX_SUB - len(subs_typed))]
        rows.append(top)
        leaf_value = (top["type"] == "click" and top["key"]) or (top["type"] == "view" and top["url"])
        if not (top["name"] or leaf_value or subs):
            continue
        if top["type"] == "sub" or (subs and not leaf_value):
            buttons.append({"name": top["name"], "sub_button": [_leaf(s) for s in subs]})
        elif subs:  # a key or link and sub-buttons: validate says which to drop
            buttons.append({**_leaf(top), "sub_button": [_leaf(s) for s in subs]})
        else:
            buttons.append(_leaf(top))
    return buttons, rows


async def _menu_context(request: web.Request, ctx: OpsContext) -> dict[str, Any]:
    """What the page says about the menu in use and the last push."""
    async with db_session(request) as db:
        buttons, source = await menu.menu_to_push(db, ctx.settings, _features(request))
        stored_row = await _stored_row(db)
        pushed = await menu.last_push(db)
    live = pushed is not None and pushed[0].get("ok") and pushed[0].get("buttons") == buttons
    return {"buttons": buttons, "source": source, "source_label": menu.SOURCE_LABELS[source],
            "stored_at": stored_row.updated_at if stored_row is not None else None,
            "pushed": pushed[0] if pushed else None, "pushed_at": pushed[1] if pushed else None, "live": live}


async def _stored_row(db: Any) -> Any:
    return await sitetext.get_row(db, menu.MENU_KEY)


def _menu_page(request: web.Request, info: dict[str, Any], rows: list[dict[str, Any]], *,
               errors: list[str] | None = None, pushed_json: str = "", status: int = 200) -> web.Response:
    keys_known = menu.click_keys(_features(request))
    return render(request, "common/menu.html", {
        **info, "rows": rows, "errors": errors or [], "pushed_json": pushed_json, "types": TYPES,
        "keys_known": keys_known, "offline": _api(request) is None,
        "limits": {"top": menu.TOP_NAME_BYTES, "sub": menu.SUB_NAME_BYTES},
    }, status=status)


def _api(request: web.Request) -> Any:
    if request.app[keys.ADMIN_SETTINGS].wechat.offline:
        return None
    return request.app[SERVICES].get("api")


async def menu_page(request: web.Request) -> web.Response:
    ctx = ops_context(request)
    info = await _menu_context(request, ctx)
    return _menu_page(request, info, rows_from_buttons(info["buttons"]))


async def menu_save(request: web.Request) -> web.StreamResponse:
    """保存 (store the menu) or 保存并发布 (store it and push it through WeChat's API)."""
    ctx = ops_context(request)
    form = await request.post()
    publish = form.get("action") == "publish"
    buttons, rows = buttons_from_form(form)
    errors = menu.validate(buttons, menu.click_keys(_features(request)))
    if errors:
        info = await _menu_context(request, ctx)
        return _menu_page(request, info, rows, errors=errors, status=400)
    async with db_session(request) as db, db.begin():
        await menu.save_menu(db, buttons, now=ctx.now, staff_id=ctx.staff_id)
        await audit.record(db, staff_id=ctx.staff_id, action="menu.save", target="menu",
                           detail={"buttons": buttons}, now=ctx.now)
    if not publish:
        await flash(request, "菜单已保存。点「保存并发布」后，公众号里的菜单才会变。")
        raise web.HTTPSeeOther(MENU_URL)
    api = _api(request)
    if api is None:
        async with db_session(request) as db, db.begin():
            await audit.record(db, staff_id=ctx.staff_id, action="menu.publish", target="menu",
                               detail={"offline": True}, now=ctx.now)
        info = await _menu_context(request, ctx)
        return _menu_page(request, info, rows_from_buttons(buttons),
                          pushed_json=json.dumps({"button": buttons}, ensure_ascii=False, indent=2))
    ok, message = await menu.push(api, buttons)  # outside any database session (the API reads its token)
    async with db_session(request) as db, db.begin():
        await menu.record_push(db, buttons, ok, message, now=ctx.now, staff_id=ctx.staff_id)
        await audit.record(db, staff_id=ctx.staff_id, action="menu.publish", target="menu",
                           detail={"ok": ok, "message": message}, now=ctx.now)
    await flash(request, message if ok else "菜单已保存，但没有发布成功：" + message, "ok" if ok else "error")
    raise web.HTTPSeeOther(MENU_URL)


async def menu_reset(request: web.Request) -> web.StreamResponse:
    """恢复默认: forget the stored menu (the config's or the built-in one is used again)."""
    ctx = ops_context(request)
    async with db_session(request) as db, db.begin():
        cleared = await menu.clear_menu(db)
        if cleared:
            await audit.record(db, staff_id=ctx.staff_id, action="menu.reset", target="menu", now=ctx.now)
    source = menu.configured_menu(ctx.settings, _features(request))[1]
    await flash(request, f"已恢复为{menu.SOURCE_LABELS[source]}。需要时点「保存并发布」让公众号里的菜单也恢复。"
                if cleared else "现在用的就是默认菜单。")
    raise web.HTTPSeeOther(MENU_URL)


# ----------------------------------------------------------------------------- texts
def _menu_items(request: web.Request) -> list[tuple[str, str]]:
    return [item for f in _features(request) if f.router is not None for item in f.router.menu]


def _texts_page(request: web.Request, values: dict[str, str], stored: dict[str, bool], *,
                errors: dict[str, str] | None = None, previewing: bool = False, status: int = 200) -> web.Response:
    settings = request.app[keys.ADMIN_SETTINGS]
    help_reply = compose_menu(values["help"] or texts.default_text("help", settings), _menu_items(request), settings)
    welcome = welcome_reply(values["welcome"] or texts.default_text("welcome", settings), help_reply)
    return render(request, "common/texts.html", {
        "specs": list(texts.TEXTS.values()), "values": values, "stored": stored, "errors": errors or {},
        "previewing": previewing, "preview_welcome": welcome, "preview_help": help_reply,
        "too_long": len(welcome.encode("utf-8")) > 2047, "office": settings.office,
    }, status=status)


async def texts_page(request: web.Request) -> web.Response:
    settings = request.app[keys.ADMIN_SETTINGS]
    values, stored = {}, {}
    async with db_session(request) as db:
        for key in texts.TEXTS:
            saved = await texts.stored_text(db, key, fresh=True)
            values[key] = saved or texts.default_text(key, settings)
            stored[key] = saved is not None
    return _texts_page(request, values, stored)


async def texts_save(request: web.Request) -> web.StreamResponse:
    """预览 (show the texts as workers would read them) or 保存."""
    ctx = ops_context(request)
    form = await request.post()
    values = {key: str(form.get(key, ""))[:5000] for key in texts.TEXTS}
    errors: dict[str, str] = {}
    for key in texts.TEXTS:
        try:
            values[key] = texts.check_text(key, values[key])
        except texts.TextError as exc:
            errors[key] = str(exc)
    async with db_session(request) as db:
        stored = {key: await texts.stored_text(db, key, fresh=True) is not None for key in texts.TEXTS}
    if errors or form.get("action") == "preview":
        return _texts_page(request, values, stored, errors=errors, previewing=not errors,
                           status=400 if errors else 200)
    changed = []
    async with db_session(request) as db, db.begin():
        for key in texts.TEXTS:
            if values[key] == await texts.get_text(db, key, ctx.settings, fresh=True):
                continue
            await texts.set_text(db, key, values[key], ctx.staff_id, ctx.now)
            changed.append(key)
            await audit.record(db, staff_id=ctx.staff_id, action="texts.edit", target=key,
                               detail={"text": values[key]}, now=ctx.now)
    await flash(request, "已保存，职工马上就能看到新的内容。" if changed else "内容没有变化。")
    raise web.HTTPSeeOther(TEXTS_URL)


async def texts_reset(request: web.Request) -> web.StreamResponse:
    ctx = ops_context(request)
    key = str((await request.post()).get("key", ""))
    if key not in texts.TEXTS:
        raise web.HTTPBadRequest(text="没有这项文字")
    async with db_session(request) as db, db.begin():
        if await texts.reset_text(db, key):
            await audit.record(db, staff_id=ctx.staff_id, action="texts.reset", target=key, now=ctx.now)
    await flash(request, f"{texts.TEXTS[key].title}已恢复默认。")
    raise web.HTTPSeeOther(TEXTS_URL)


async def to_menu(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(MENU_URL)


def setup(app: web.Application) -> None:
    app.router.add_get("/account", to_menu, name="account")
    app.router.add_get("/menu", to_menu, name="account.menu_alias")
    app.router.add_get("/account/menu", menu_page, name="account.menu")
    app.router.add_post("/account/menu", menu_save, name="account.menu_save")
    app.router.add_post("/account/menu/reset", menu_reset, name="account.menu_reset")
    app.router.add_get("/account/texts", texts_page, name="account.texts")
    app.router.add_post("/account/texts", texts_save, name="account.texts_save")
    app.router.add_post("/account/texts/reset", texts_reset, name="account.texts_reset")
