"""Staff edit the welcome and the 帮助 intro at /admin/account/texts; followers and workers read
them through the signed webhook, always with the office's phone, hours and address appended."""
from __future__ import annotations

from html import unescape

from sqlalchemy import select

from bot.db.models.core import AuditLog
from bot.db.models.inbox import SiteText
from bot.keys import SETTINGS
from tests.support.admin import csrf_at, log_in_staff

URL = "/admin/account/texts"
WELCOME = "欢迎来到幸福街道职工之家！\n有急事请直接打电话。"
HELP = "下面这些都可以直接问我："


async def _stored(db) -> dict[str, str]:  # noqa: ANN001
    async with db() as s:
        return {r.key: r.value for r in (await s.scalars(select(SiteText).where(SiteText.key.in_(["welcome", "help"]))))}


async def test_staff_edit_the_welcome_and_help_workers_read_them_with_the_phone(client, sim, db, app) -> None:  # noqa: ANN001
    office = app[SETTINGS].office
    before = await sim.user("oT0").follow()
    assert "欢迎关注街道总工会" in before and office.phone in before

    await log_in_staff(client, db)
    page = unescape(await (await client.get(URL)).text())
    assert "欢迎关注街道总工会" in page and "（默认内容）" in page and office.call_line() in page

    t = await csrf_at(client, URL)
    # 预览 shows the texts as workers will read them, saves nothing
    resp = await client.post(URL, data={"_csrf": t, "welcome": WELCOME, "help": HELP, "action": "preview"})
    page = unescape(await resp.text())
    assert resp.status == 200 and "这是预览" in page
    assert f"{WELCOME}\n\n{HELP}\n【帮扶】" in page and office.call_line() in page
    assert await _stored(db) == {}

    resp = await client.post(URL, data={"_csrf": t, "welcome": WELCOME, "help": HELP, "action": "save"})
    assert resp.status == 200 and "已保存" in await resp.text()
    assert await _stored(db) == {"welcome": WELCOME, "help": HELP}

    welcome = await sim.user("oT1").follow()
    assert welcome.startswith(WELCOME + "\n\n" + HELP)
    assert "欢迎关注" not in welcome and f"找工作人员：{office.call_line()}，{office.hours}" in welcome
    menu = await sim.user("oT2").send("帮助")
    assert menu.startswith(HELP + "\n【帮扶】") and office.phone in menu
    assert (await sim.user("oT2").click("HELP")).startswith(HELP)

    # 恢复默认 for the welcome only
    t = await csrf_at(client, URL)
    await client.post(f"{URL}/reset", data={"_csrf": t, "key": "welcome"})
    assert await _stored(db) == {"help": HELP}
    again = await sim.user("oT3").follow()
    assert again.startswith("您好，欢迎关注街道总工会！") and HELP in again and office.phone in again

    async with db() as s:
        actions = (await s.scalars(select(AuditLog.action).where(AuditLog.action.like("texts.%")))).all()
    assert sorted(actions) == ["texts.edit", "texts.edit", "texts.reset"]


async def test_bad_texts_are_refused_and_kept_as_typed(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    t = await csrf_at(client, URL)
    long_welcome = "欢迎" * 151
    resp = await client.post(URL, data={"_csrf": t, "welcome": long_welcome, "help": "  ", "action": "save"})
    page = unescape(await resp.text())
    assert resp.status == 400
    assert "关注欢迎语最多 300 个字，现在 302 个字" in page and "帮助说明不能为空" in page
    assert long_welcome in page
    assert await _stored(db) == {}
    # without the CSRF token nothing is stored
    resp = await client.post(URL, data={"welcome": "新的欢迎语", "help": HELP, "action": "save"})
    assert resp.status == 403 and await _stored(db) == {}


async def test_saving_the_default_unchanged_stores_nothing(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    page = unescape(await (await client.get(URL)).text())
    welcome = page.split('name="welcome"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    t = await csrf_at(client, URL)
    resp = await client.post(URL, data={"_csrf": t, "welcome": welcome, "help": "您可以回复下面的关键词：",
                                        "action": "save"})
    assert "内容没有变化" in await resp.text() and await _stored(db) == {}
