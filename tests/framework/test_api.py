"""The async WeChat API client against the fake WeChat server on loopback."""
from __future__ import annotations

import asyncio

import pytest

import bot.db.models  # noqa: F401  (registers every table)
from bot.config import WeChatSettings
from bot.db.models import AccessToken
from bot.wechat.api import TransportError, WeChatAPI, WeChatError
from tests.support.fake_wechat import FakeWeChat


@pytest.fixture
async def make_api(fake_wechat: FakeWeChat, sessionmaker, clock):
    made: list[WeChatAPI] = []

    def make(**overrides) -> WeChatAPI:
        api = WeChatAPI(WeChatSettings(**{**fake_wechat.wechat_config(), **overrides}), sessionmaker, clock)
        made.append(api)
        return api

    yield make
    for api in made:
        await api.close()


def token_fetches(fake: FakeWeChat) -> int:
    return len(fake.calls_to("/cgi-bin/stable_token"))


async def stored_token(sessionmaker, app_id: str) -> AccessToken:
    async with sessionmaker() as s:
        return await s.get(AccessToken, app_id)


async def test_one_token_shared_by_two_clients_on_one_database(fake_wechat, make_api, sessionmaker):
    a, b = make_api(), make_api()
    await asyncio.gather(a.send_text("oA", "您好"), b.send_text("oB", "您好"), a.send_text("oC", "您好"))
    assert token_fetches(fake_wechat) == 1
    assert sorted(d["openid"] for d in fake_wechat.delivered) == ["oA", "oB", "oC"]
    row = await stored_token(sessionmaker, fake_wechat.app_id)
    assert row.token == fake_wechat.current_token
    # a client started later (another process, a restart) uses the stored token
    await make_api().send_text("oD", "您好")
    assert token_fetches(fake_wechat) == 1
    assert len(fake_wechat.delivered) == 4


async def test_token_refreshed_five_minutes_before_expiry(fake_wechat, make_api, clock):
    api = make_api()
    await api.send_text("oA", "一")
    first = fake_wechat.current_token
    clock.advance(seconds=7200 - 600)  # 10 minutes left: still used
    await api.send_text("oA", "二")
    assert token_fetches(fake_wechat) == 1
    clock.advance(seconds=400)  # under 5 minutes left: refreshed before use
    await api.send_text("oA", "三")
    assert token_fetches(fake_wechat) == 2
    assert fake_wechat.current_token != first
    assert fake_wechat.calls_to("/custom/send")[-1]["query"]["access_token"] == fake_wechat.current_token
    assert fake_wechat.calls_to("/stable_token")[-1]["json"]["force_refresh"] is False
    assert [d["text"] for d in fake_wechat.delivered] == ["一", "二", "三"]


async def test_invalid_token_refreshes_and_retries_once(fake_wechat, make_api):
    api = make_api()
    await api.send_text("oA", "一")
    fake_wechat.expire_tokens()  # e.g. someone used the secret elsewhere
    await api.send_text("oA", "二")
    assert token_fetches(fake_wechat) == 2
    assert fake_wechat.calls_to("/stable_token")[-1]["json"]["force_refresh"] is True
    assert [d["text"] for d in fake_wechat.delivered] == ["一", "二"]


async def test_token_error_that_persists_is_retried_only_once(fake_wechat, make_api):
    api = make_api()
    fake_wechat.fail_next("/custom/send", errcode=40001, times=100)
    with pytest.raises(WeChatError) as err:
        await api.send_text("oA", "一")
    assert err.value.errcode == 40001
    assert len(fake_wechat.calls_to("/custom/send")) == 2
    assert token_fetches(fake_wechat) == 2
    assert fake_wechat.delivered == []


async def test_stale_token_failure_does_not_expire_the_newer_token(fake_wechat, make_api, sessionmaker):
    a, b = make_api(), make_api()
    await a.send_text("oA", "一")
    await b.send_text("oB", "一")  # b now holds the same token in memory
    assert token_fetches(fake_wechat) == 1
    fake_wechat.expire_tokens()
    await a.send_text("oA", "二")  # a refreshes: token 2
    assert token_fetches(fake_wechat) == 2
    newer = fake_wechat.current_token
    await b.send_text("oB", "二")  # b fails with its stale token 1, must not expire token 2
    assert token_fetches(fake_wechat) == 2
    row = await stored_token(sessionmaker, fake_wechat.app_id)
    assert row.token == newer and row.expires_at > row.refreshed_at
    await a.send_text("oA", "三")
    assert token_fetches(fake_wechat) == 2
    assert len(fake_wechat.delivered) == 5


async def test_errors_are_classified(fake_wechat, make_api):
    api = make_api()
    fake_wechat.fail_next("/custom/send", errcode=-1)
    with pytest.raises(WeChatError) as busy:
        await api.send_text("oA", "一")
    assert busy.value.errcode == -1 and busy.value.retryable

    fake_wechat.fail_http("/custom/send", status=500)
    with pytest.raises(TransportError) as http:
        await api.send_text("oA", "一")
    assert http.value.retryable

    fake_wechat.fail_next("/custom/send", errcode=45009)
    with pytest.raises(WeChatError) as limit:
        await api.send_text("oA", "一")
    assert limit.value.errcode == 45009 and not limit.value.retryable
    assert fake_wechat.delivered == []


async def test_network_failure_is_a_retryable_transport_error(sessionmaker, clock):
    fake = FakeWeChat()
    await fake.start()
    await fake.close()  # nothing listens there any more
    api = WeChatAPI(WeChatSettings(**fake.wechat_config()), sessionmaker, clock)
    try:
        with pytest.raises(TransportError) as err:
            await api.send_text("oA", "一")
        assert err.value.retryable
    finally:
        await api.close()


async def test_wrong_secret_is_reported(fake_wechat, make_api):
    api = make_api(app_secret="wrong")
    with pytest.raises(WeChatError) as err:
        await api.token()
    assert err.value.errcode == 40125 and not err.value.retryable


async def test_template_menu_media_and_qrcode(fake_wechat, make_api):
    api = make_api()
    await api.send_template("oA", "TPL1", {"thing1": "帮扶申请", "time2": {"value": "2026-11-24"}},
                            client_msg_id="k1", url="https://example.org/x")
    await api.send_template("oA", "TPL1", {"thing1": "帮扶申请"}, client_msg_id="k1")
    assert len(fake_wechat.delivered) == 1  # same client_msg_id: WeChat drops the repeat
    assert fake_wechat.delivered[0]["data"] == {"thing1": {"value": "帮扶申请"}, "time2": {"value": "2026-11-24"}}

    await api.create_menu([{"type": "click", "name": "困难帮扶", "key": "HARDSHIP"}])
    assert fake_wechat.menu[0]["name"] == "困难帮扶"

    data, ctype = await api.get_media("MEDIA1")
    assert ctype == "image/jpeg" and data.startswith(b"\xff\xd8")

    permanent = await api.create_qrcode("chair:42")
    assert permanent["ticket"] and permanent["url"]
    assert fake_wechat.calls_to("/qrcode/create")[-1]["json"]["action_name"] == "QR_LIMIT_STR_SCENE"
    temporary = await api.create_qrcode("bind:abc", expire_seconds=3600)
    assert temporary["expire_seconds"] == 3600
    assert fake_wechat.calls_to("/qrcode/create")[-1]["json"]["action_name"] == "QR_STR_SCENE"


async def test_media_error_is_raised(fake_wechat, make_api):
    api = make_api()
    fake_wechat.fail_next("/media/get", errcode=40007)
    with pytest.raises(WeChatError) as err:
        await api.get_media("gone")
    assert err.value.errcode == 40007


async def test_fake_server_started_standalone(sessionmaker, clock):
    fake = FakeWeChat()
    await fake.start()
    api = WeChatAPI(WeChatSettings(**fake.wechat_config()), sessionmaker, clock)
    try:
        await api.send_news("oA", [{"title": "培训报名", "url": "https://example.org"}])
        assert fake.delivered == [{"openid": "oA", "kind": "news",
                                   "articles": [{"title": "培训报名", "url": "https://example.org"}]}]
    finally:
        await api.close()
        await fake.close()
