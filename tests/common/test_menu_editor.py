"""Staff edit the official-account menu at /admin/account/menu: an invalid menu is refused with
Chinese reasons naming the button (and kept as typed), a valid one is saved and pushed to the
fake WeChat API (offline: the JSON that would be pushed); `unionbot menu push` pushes it too."""
from __future__ import annotations

import asyncio
import json
import re
from html import unescape

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.db.models.core import AuditLog
from bot.db.models.inbox import SiteText
from bot.keys import SESSIONMAKER
from bot.menu import validate
from tests.support.admin import csrf_at, log_in_staff
from tests.support.settings import TEST_FIELD_KEY, make_settings

URL = "/admin/account/menu"
KEYS = {"HARDSHIP", "SIGNUP", "QUIZ", "REPORT", "CONTACT", "HELP", "OFFICE", "SCORES", "MY_SIGNUPS", "MY_REQUESTS"}

# (name, type, key, url, sub-buttons as (name, type, key, url))
VALID = [
    ("帮扶", "click", "HARDSHIP", "", []),
    ("学习活动", "sub", "", "", [("活动报名", "click", "SIGNUP", ""), ("每月一题", "click", "QUIZ", ""),
                               ("政策文件", "view", "", "https://www.acftu.org/")]),
    ("我的", "sub", "", "", [("联系工会", "click", "CONTACT", ""), ("帮助", "click", "HELP", "")]),
]
VALID_JSON = [
    {"type": "click", "name": "帮扶", "key": "HARDSHIP"},
    {"name": "学习活动", "sub_button": [{"type": "click", "name": "活动报名", "key": "SIGNUP"},
                                    {"type": "click", "name": "每月一题", "key": "QUIZ"},
                                    {"type": "view", "name": "政策文件", "url": "https://www.acftu.org/"}]},
    {"name": "我的", "sub_button": [{"type": "click", "name": "联系工会", "key": "CONTACT"},
                                  {"type": "click", "name": "帮助", "key": "HELP"}]},
]


def form_of(tops: list, action: str = "save", csrf: str = "") -> dict[str, str]:
    """The editor's form fields for these buttons (3 top rows × 5 sub rows at least, as the page has)."""
    data = {"_csrf": csrf, "action": action}
    rows = list(tops) + [("", "sub", "", "", [])] * (3 - len(tops))
    for i, (name, kind, key, url, subs) in enumerate(rows):
        data.update({f"t{i}_name": name, f"t{i}_type": kind, f"t{i}_key": key, f"t{i}_url": url})
        for j, (sname, skind, skey, surl) in enumerate(list(subs) + [("", "click", "", "")] * (5 - len(subs))):
            data.update({f"s{i}_{j}_name": sname, f"s{i}_{j}_type": skind, f"s{i}_{j}_key": skey,
                         f"s{i}_{j}_url": surl})
    return data


async def _stored(db):  # noqa: ANN001, ANN202
    async with db() as s:
        row = await s.get(SiteText, "menu")
        return row.value if row is not None else None


def _pushed_json(page: str) -> dict:
    return json.loads(unescape(re.search(r'<pre class="mn-json">(.*?)</pre>', page, re.S).group(1)))


BAD = [
    ([("工会服务大厅入口", "click", "HARDSHIP", "", [])], "一级按钮「工会服务大厅入口」的名称太长：一级按钮最多 16 个字节"),
    ([("帮扶", "click", "HARDSHIP", "", []), ("报名", "click", "SIGNUP", "", []), ("答题", "click", "QUIZ", "", []),
      ("帮助", "click", "HELP", "", [])], "一级按钮最多 3 个，现在有 4 个"),
    ([("我的", "sub", "", "", [(f"按钮{i}", "click", "HELP", "") for i in range(6)])],
     "一级按钮「我的」下面的子按钮最多 5 个，现在有 6 个"),
    ([("政策", "view", "", "www.gov.cn", [])], "一级按钮「政策」的链接不正确"),
    ([("政策", "view", "", "javascript:alert(1)", [])], "一级按钮「政策」的链接不正确"),
    ([("帮扶", "click", "NOPE", "", [])], "一级按钮「帮扶」选择的功能「NOPE」不存在"),
    ([("帮扶", "click", "", "", [])], "一级按钮「帮扶」还没有选择要打开的功能"),
    ([("我的", "sub", "", "", [("职工服务中心困难帮扶申请与进度查询入口在这里", "click", "HARDSHIP", "")])],
     "「我的」下的「职工服务中心困难帮扶申请与进度查询入口在这里」的名称太长：子按钮最多 60 个字节"),
    ([("我的", "sub", "", "", [])], "一级按钮「我的」下面还没有子按钮"),
    ([("学习", "click", "QUIZ", "", [("报名", "click", "SIGNUP", "")])], "一级按钮「学习」下面有子按钮，就不能再直接打开功能或链接"),
    ([("", "sub", "", "", [("报名", "click", "SIGNUP", "")])], "第 1 个一级按钮还没有名称"),
    ([], "菜单至少要有 1 个按钮"),
]


@pytest.mark.parametrize(("tops", "says"), BAD)
async def test_an_invalid_menu_is_refused_naming_the_button(client, db, tops, says) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    t = await csrf_at(client, URL)
    resp = await client.post(URL, data=form_of(tops, "publish", t))
    page = unescape(await resp.text())
    assert resp.status == 400 and "菜单没有保存" in page and says in page
    for name, *_ in tops:
        assert not name or f'value="{name}"' in page  # kept as typed
    assert await _stored(db) is None


def test_the_limits_are_wechats() -> None:
    from bot.app import features
    from bot.menu import click_keys, default_menu

    assert set(click_keys(features())) == KEYS and validate(default_menu(features()), KEYS) == []
    assert validate(VALID_JSON, KEYS) == []
    assert validate([{"type": "click", "name": "五个汉字好", "key": "HELP"}], KEYS) == []  # 15 bytes
    assert validate([{"name": "我的", "sub_button": [{"type": "click", "name": "字" * 20, "key": "HELP"}]}], KEYS) == []
    assert validate([{"type": "view", "name": "链接", "url": "https://a.cn/" + "x" * 1011}], KEYS) == []
    assert "链接太长" in validate([{"type": "view", "name": "链接", "url": "https://a.cn/" + "x" * 1012}], KEYS)[0]
    assert "不支持" in validate([{"type": "miniprogram", "name": "小程序"}], KEYS)[0]
    assert "只支持两级" in " ".join(validate([{"name": "a", "sub_button": [{"name": "b", "sub_button": []}]}], KEYS))


async def test_offline_save_then_publish_shows_the_json(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    page = unescape(await (await client.get(URL)).text())
    assert "现在用的是：系统默认菜单" in page and 'value="困难帮扶"' in page and "离线模式" in page

    t = await csrf_at(client, URL)
    resp = await client.post(URL, data=form_of(VALID, "save", t))
    page = unescape(await resp.text())
    assert "菜单已保存" in page and "现在用的是：后台保存的菜单" in page and 'value="政策文件"' in page
    assert await _stored(db) == VALID_JSON

    resp = await client.post(URL, data=form_of(VALID, "publish", t))
    page = await resp.text()
    assert resp.status == 200 and "离线模式，没有真的发布" in page
    assert _pushed_json(page) == {"button": VALID_JSON}

    # 恢复默认 forgets the stored menu
    await client.post(f"{URL}/reset", data={"_csrf": t})
    assert await _stored(db) is None
    async with db() as s:
        actions = (await s.scalars(select(AuditLog.action).where(AuditLog.action.like("menu.%"))
                                   .order_by(AuditLog.id))).all()
    assert actions == ["menu.save", "menu.save", "menu.publish", "menu.reset"]


async def test_publish_pushes_to_wechat_and_shows_its_answer(make_app, engine, aiohttp_client, db_url, tmp_path,
                                                             fake_wechat) -> None:  # noqa: ANN001
    app = make_app(make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config()))
    client = await aiohttp_client(app)
    db = app[SESSIONMAKER]
    await log_in_staff(client, db)
    t = await csrf_at(client, URL)
    page = unescape(await (await client.post(URL, data=form_of(VALID, "publish", t))).text())
    assert "菜单已发布到公众号" in page and "公众号里的菜单和这里一致" in page
    assert fake_wechat.menu == VALID_JSON
    [call] = fake_wechat.calls_to("/cgi-bin/menu/create")
    assert call["json"] == {"button": VALID_JSON}

    # WeChat refuses: staff read why, in Chinese; the menu stays saved
    changed = [VALID[0], VALID[1]]
    fake_wechat.fail_next("/cgi-bin/menu/create", errcode=48001)
    page = unescape(await (await client.post(URL, data=form_of(changed, "publish", t))).text())
    assert "菜单已保存，但没有发布成功：公众号没有自定义菜单接口的权限（需要微信认证）。（错误码 48001" in page
    assert "有改动还没发布" in page
    assert await _stored(db) == VALID_JSON[:2] and fake_wechat.menu == VALID_JSON
    async with db() as s:
        details = (await s.scalars(select(AuditLog.detail).where(AuditLog.action == "menu.publish")
                                   .order_by(AuditLog.id))).all()
    assert [d["ok"] for d in details] == [True, False]


async def test_cli_menu_push_pushes_the_menu_staff_saved(tmp_path, fake_wechat) -> None:  # noqa: ANN001
    from bot.cli import main
    from bot.clock import FakeClock
    from bot.db.engine import make_engine, make_sessionmaker
    from bot.db.migrate import upgrade
    from bot.menu import save_menu

    url = f"sqlite+aiosqlite:///{tmp_path}/m.db"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[wechat]\napp_id = "{fake_wechat.app_id}"\napp_secret = "{fake_wechat.secret}"\n'
                   f'api_base_url = "{fake_wechat.base_url}"\n[admin]\nfield_key = "{TEST_FIELD_KEY}"\n'
                   f'[database]\nurl = "{url}"\n', encoding="utf-8")
    await asyncio.to_thread(upgrade, url)

    def push():  # noqa: ANN202
        return CliRunner().invoke(main, ["menu", "push", "--config", str(cfg)])

    result = await asyncio.to_thread(push)  # nothing stored, no [wechat].menu: the default menu
    assert result.exit_code == 0, result.output
    assert "(default)" in result.output and fake_wechat.menu[0] == {"type": "click", "name": "困难帮扶", "key": "HARDSHIP"}

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s, s.begin():
        await save_menu(s, VALID_JSON, now=FakeClock().now(), staff_id=None)
    await engine.dispose()
    result = await asyncio.to_thread(push)
    assert result.exit_code == 0, result.output
    assert "(stored)" in result.output and fake_wechat.menu == VALID_JSON

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s, s.begin():  # an invalid stored menu is not pushed
        await save_menu(s, VALID_JSON + [VALID_JSON[0]], now=FakeClock().now(), staff_id=None)
    await engine.dispose()
    result = await asyncio.to_thread(push)
    assert result.exit_code == 2 and "一级按钮最多 3 个" in result.output
    assert len(fake_wechat.calls_to("/cgi-bin/menu/create")) == 2
