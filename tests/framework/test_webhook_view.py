"""The webhook view on a bare aiohttp app, driven through the WeChat simulator."""
from __future__ import annotations

import logging

import pytest
from aiohttp import web

from bot.clock import FakeClock
from bot.core.types import Article, Incoming, NewsReply, TextReply
from bot.wechat.codec import Codec
from bot.wechat.webhook import add_webhook_routes
from bot.wechat.simulator import TEST_AES_KEY, WeChatSim, sign

TOKEN = "view-token"
APP_ID = "wxTESTAPP"
MAX_BODY = 64 * 1024


class EchoProcessor:
    """Answers a text with the same text; `新闻` gets news; `静默` gets nothing."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.seen: list[Incoming] = []

    async def handle(self, incoming: Incoming) -> bytes | None:
        self.seen.append(incoming)
        if incoming.kind == "event":
            reply = TextReply(f"事件:{incoming.event}:{incoming.event_key}")
        elif incoming.text == "静默":
            return None
        elif incoming.text == "新闻":
            reply = NewsReply((Article("第一条"), Article("第二条")))
        else:
            reply = TextReply(f"收到：{incoming.text}")
        return self.codec.render_plain(reply, incoming)


class BrokenProcessor:
    async def handle(self, incoming: Incoming) -> bytes | None:
        raise RuntimeError("boom")


@pytest.fixture
def codec(clock: FakeClock) -> Codec:
    return Codec(TOKEN, APP_ID, TEST_AES_KEY, clock)


async def _client(aiohttp_client, codec, processor):
    app = web.Application()
    add_webhook_routes(app, "/wechat", codec, processor, MAX_BODY)
    return await aiohttp_client(app)


@pytest.fixture(params=["plain", "safe", "compat"])
async def setup(request, aiohttp_client, codec, clock):
    processor = EchoProcessor(codec)
    client = await _client(aiohttp_client, codec, processor)
    sim = WeChatSim(client, token=TOKEN, app_id=APP_ID, aes_key=TEST_AES_KEY,
                    mode=request.param, clock=clock)
    return sim, processor


async def test_text_round_trip(setup):
    sim, processor = setup
    user = sim.user("oWorker1")
    assert await user.send("你好") == "收到：你好"
    assert user.last["kind"] == "text"
    assert processor.seen[-1].openid == "oWorker1"
    if sim.mode != "plain":
        assert "收到".encode() not in user.last["raw"]


async def test_news_and_success(setup):
    sim, _ = setup
    user = sim.user("oWorker2")
    assert await user.send("新闻") == "第一条\n第二条"
    assert [a["title"] for a in user.last["articles"]] == ["第一条", "第二条"]
    assert await user.send("静默") is None
    assert user.last["raw"] == b"success"


async def test_events_through_the_view(setup):
    sim, processor = setup
    user = sim.user("oWorker3")
    assert await user.follow("chair42") == "事件:subscribe:chair42"
    assert await user.click("HARDSHIP") == "事件:click:HARDSHIP"
    assert await user.scan("chair7") == "事件:scan:chair7"
    assert await user.unfollow() == "事件:unsubscribe:"
    keys = [i.dedup_key for i in processor.seen]
    assert len(set(keys)) == 4  # same-second events still get distinct dedup keys


async def test_resend_delivers_the_same_message(setup):
    sim, processor = setup
    user = sim.user("oWorker4")
    first = await user.send("重复")
    assert await user.resend() == first
    assert processor.seen[-1].dedup_key == processor.seen[-2].dedup_key


async def test_other_kinds(setup):
    sim, processor = setup
    user = sim.user("oWorker5")
    await user.image("MEDIA9")
    assert processor.seen[-1].media_id == "MEDIA9"
    assert await user.voice("V1", recognition="帮扶") == "收到：帮扶"
    await user.location(31.2, 121.5)
    assert processor.seen[-1].location == (31.2, 121.5)


async def test_get_echo(aiohttp_client, codec, clock):
    client = await _client(aiohttp_client, codec, EchoProcessor(codec))
    sim = WeChatSim(client, token=TOKEN, app_id=APP_ID, clock=clock)
    resp = await sim.verify("echo-789")
    assert resp.status == 200 and await resp.text() == "echo-789"
    resp = await client.get("/wechat", params={"signature": "0" * 40, "timestamp": "1",
                                                "nonce": "n", "echostr": "x"})
    assert resp.status == 403
    assert "x" not in await resp.text()


async def test_forged_and_malformed_posts(aiohttp_client, codec, clock):
    processor = EchoProcessor(codec)
    client = await _client(aiohttp_client, codec, processor)
    sim = WeChatSim(client, token=TOKEN, app_id=APP_ID, clock=clock)
    params, body = sim.build("oX", MsgType="text", Content="hi", MsgId=1)
    resp = await sim.post_raw(body, {**params, "signature": "0" * 40}, sign=False)
    assert resp.status == 403
    resp = await sim.post_raw(body, {}, sign=False)
    assert resp.status == 403
    resp = await sim.post_raw(b"<xml><oops", sign=True)
    assert resp.status == 400
    assert resp.content_type == "text/plain"
    assert processor.seen == []


async def test_body_too_large(aiohttp_client, codec, clock):
    processor = EchoProcessor(codec)
    client = await _client(aiohttp_client, codec, processor)
    sim = WeChatSim(client, token=TOKEN, app_id=APP_ID, clock=clock)
    resp = await sim.post_raw(b"<xml>" + b"a" * (70 * 1024) + b"</xml>")
    assert resp.status == 413
    assert processor.seen == []


async def test_body_too_large_without_content_length(aiohttp_client, codec, clock):
    client = await _client(aiohttp_client, codec, EchoProcessor(codec))
    sim = WeChatSim(client, token=TOKEN, app_id=APP_ID, clock=clock)

    async def chunks():
        for _ in range(70):
            yield b"a" * 1024

    ts = str(int(clock.now().timestamp()))
    params = {"signature": sign(TOKEN, ts, "n"), "timestamp": ts, "nonce": "n"}
    resp = await sim.client.post("/wechat", params=params, data=chunks())
    assert resp.status == 413


async def test_processor_error_answers_success(aiohttp_client, codec, clock, caplog):
    client = await _client(aiohttp_client, codec, BrokenProcessor())
    sim = WeChatSim(client, token=TOKEN, app_id=APP_ID, clock=clock)
    with caplog.at_level(logging.ERROR, logger="unionbot.webhook"):
        assert await sim.user("oBroken").send("hi", msg_id=4242) is None
    assert sim.user("oBroken").last["status"] == 200
    assert "m:4242" in caplog.text
