"""The codec's promises that mutation testing found untested (mutation/report-codec.txt).

Driven through the webhook view, as WeChat (or someone forging WeChat) would: what is
refused, with which status and which reason in the body (the reason is what an operator
sees in WeChat's debugging console), and what a message turns into."""
from __future__ import annotations

from datetime import timedelta

import pytest
import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from bot.clock import FakeClock
from bot.core.types import Article, Incoming, NewsReply, TextReply, TransferReply
from bot.wechat.codec import BadRequest, Codec, Forbidden, parse_xml
from bot.wechat.simulator import TEST_AES_KEY, sign, to_xml
from bot.wechat.webhook import add_webhook_routes

TOKEN = "mutant-token"
APP_ID = "wxTESTAPP"
ACCOUNT = "gh_account"


class Recorder:
    """Answers every message with a fixed reply and keeps what it was given."""

    def __init__(self, codec: Codec, reply=None) -> None:  # noqa: ANN001
        self.codec = codec
        self.reply = reply or TextReply("收到")
        self.seen: list[Incoming] = []

    async def handle(self, incoming: Incoming) -> bytes | None:
        self.seen.append(incoming)
        return self.codec.render_plain(self.reply, incoming)


async def _client(aiohttp_client, codec: Codec, processor: Recorder):  # noqa: ANN001, ANN202
    app = web.Application()
    add_webhook_routes(app, "/wechat", codec, processor, 64 * 1024)
    return await aiohttp_client(app)


@pytest.fixture
def codec(clock: FakeClock) -> Codec:
    return Codec(TOKEN, APP_ID, TEST_AES_KEY, clock)


@pytest.fixture
async def wx(aiohttp_client, codec):  # noqa: ANN001, ANN201
    processor = Recorder(codec)
    client = await _client(aiohttp_client, codec, processor)
    return client, processor


def _ts(clock: FakeClock, delta: int = 0) -> str:
    return str(int(clock.now().timestamp()) + delta)


def _plain(clock: FakeClock, ts: str | None = None, nonce: str = "n1") -> dict[str, str]:
    ts = ts if ts is not None else _ts(clock)
    return {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}


def _msg(clock: FakeClock, **fields) -> bytes:  # noqa: ANN003
    base = {"ToUserName": ACCOUNT, "FromUserName": "oUser1", "CreateTime": int(clock.now().timestamp()),
            "MsgType": "text", "Content": "你好", "MsgId": 42}
    base.update(fields)
    return to_xml(base).encode()


def _aes(clock: FakeClock, xml: bytes, app_id: str = APP_ID) -> tuple[dict[str, str], bytes]:
    ts, nonce = _ts(clock), "aesnonce"
    envelope = WeChatCrypto(TOKEN, TEST_AES_KEY, app_id).encrypt_message(xml.decode(), nonce, ts)
    env = xmltodict.parse(envelope)["xml"]
    query = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
             "encrypt_type": "aes", "msg_signature": env["MsgSignature"]}
    body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{env['Encrypt']}]]></Encrypt></xml>"
    return query, body.encode()


async def _refused(resp, status: int, reason: str) -> None:  # noqa: ANN001
    assert resp.status == status, await resp.text()
    assert await resp.text() == reason


# ---------------------------------------------------------------- refusals, with their reason

async def test_get_refusals_say_why(wx, clock):  # noqa: ANN001
    client, _ = wx
    ts = _ts(clock)
    await _refused(await client.get("/wechat", params={"timestamp": ts, "nonce": "n", "echostr": "e"}),
                   403, "missing signature")
    await _refused(await client.get("/wechat", params={**_plain(clock), "signature": "0" * 40, "echostr": "e"}),
                   403, "bad signature")
    await _refused(await client.get("/wechat", params=_plain(clock)), 400, "missing echostr")
    # safe mode: the echostr is part of what is signed; signed but empty is still no echostr
    q = {"timestamp": ts, "nonce": "n", "msg_signature": sign(TOKEN, ts, "n", "")}
    await _refused(await client.get("/wechat", params=q), 400, "missing echostr")


@pytest.mark.parametrize("ts,reason", [
    ("12ab", "bad timestamp"),
    (str(1_700_000_000_000), "bad timestamp"),   # milliseconds, 13 digits: not a WeChat timestamp
    (str(100_000_000_000), "stale timestamp"),   # 12 digits: a number, just far away
])
async def test_timestamp_refusals_say_why(wx, clock, ts, reason):  # noqa: ANN001
    client, processor = wx
    resp = await client.post("/wechat", params=_plain(clock, ts=ts), data=_msg(clock))
    await _refused(resp, 403, reason)
    assert processor.seen == []


async def test_freshness_window_is_inclusive(wx, clock):  # noqa: ANN001
    """Five minutes of clock difference are accepted, a second more is not."""
    client, processor = wx
    resp = await client.post("/wechat", params=_plain(clock, ts=_ts(clock, -300)), data=_msg(clock, MsgId=1))
    assert resp.status == 200
    resp = await client.post("/wechat", params=_plain(clock, ts=_ts(clock, -301)), data=_msg(clock, MsgId=2))
    await _refused(resp, 403, "stale timestamp")
    assert [m.msg_id for m in processor.seen] == ["1"]


async def test_message_refusals_say_why(wx, clock):  # noqa: ANN001
    client, processor = wx
    post = lambda body: client.post("/wechat", params=_plain(clock), data=body)  # noqa: E731
    await _refused(await post(b"<xml><unclosed>"), 400, "malformed message")
    await _refused(await post(_msg(clock, FromUserName=None)), 400, "missing FromUserName")
    nested = _msg(clock).replace(b"<FromUserName><![CDATA[oUser1]]></FromUserName>",
                                 b"<FromUserName><a>x</a></FromUserName>")
    await _refused(await post(nested), 400, "missing FromUserName")
    await _refused(await post(_msg(clock, CreateTime="soon")), 400, "bad CreateTime")
    await _refused(await post(_msg(clock, CreateTime="１２３")), 400, "bad CreateTime")  # full-width digits
    await _refused(await post(_msg(clock, CreateTime=1_700_000_000_000)), 400, "bad CreateTime")  # ms
    # a document type declaration is refused even without entities (no DTD tricks at all)
    doctype = b'<?xml version="1.0"?><!DOCTYPE xml [<!ELEMENT xml ANY>]>' + _msg(clock)
    await _refused(await post(doctype), 400, "malformed message")
    assert processor.seen == []


async def test_safe_mode_refusals_say_why(wx, clock):  # noqa: ANN001
    client, processor = wx
    query, body = _aes(clock, _msg(clock))
    await _refused(await client.post("/wechat", params={**query, "msg_signature": ""}, data=body),
                   403, "missing msg_signature")
    await _refused(await client.post("/wechat", params={**query, "msg_signature": "f" * 40}, data=body),
                   403, "bad msg_signature")
    await _refused(await client.post("/wechat", params=query, data=b"<xml><Encrypt>"), 400, "malformed xml")
    await _refused(await client.post("/wechat", params=query, data=b"<xml><ToUserName>a</ToUserName></xml>"),
                   403, "missing Encrypt")
    other_query, other_body = _aes(clock, _msg(clock), app_id="wxSOMEONEELSE")
    await _refused(await client.post("/wechat", params=other_query, data=other_body), 403, "wrong app id")
    garbage = "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0"
    ts, nonce = query["timestamp"], query["nonce"]
    q = {**query, "msg_signature": sign(TOKEN, ts, nonce, garbage)}
    await _refused(await client.post("/wechat", params=q, data=f"<xml><Encrypt>{garbage}</Encrypt></xml>".encode()),
                   400, "cannot decrypt")
    assert processor.seen == []


async def test_without_an_aes_key_safe_mode_is_refused(aiohttp_client, clock):  # noqa: ANN001
    codec = Codec(TOKEN, APP_ID, "", clock)
    client = await _client(aiohttp_client, codec, Recorder(codec))
    query, body = _aes(clock, _msg(clock))
    await _refused(await client.post("/wechat", params=query, data=body), 403, "aes key not configured")
    ts = _ts(clock)
    q = {"timestamp": ts, "nonce": "n", "echostr": "abc", "msg_signature": sign(TOKEN, ts, "n", "abc")}
    await _refused(await client.get("/wechat", params=q), 403, "aes key not configured")


def test_a_signature_that_is_not_text_is_forged_not_malformed(codec, clock):  # noqa: ANN001
    """Whatever characters a forger puts in the signature, the answer is 'forbidden'."""
    with pytest.raises(Forbidden):
        codec.decode({**_plain(clock), "signature": "\ud800" * 40}, _msg(clock))


def test_a_bad_aes_key_is_refused_at_start(clock):  # noqa: ANN001
    for key in ("!" * 43, TEST_AES_KEY[:-1] + "!", TEST_AES_KEY[:42]):
        with pytest.raises(ValueError, match=r"^EncodingAESKey must be 43 base64 characters$"):
            Codec(TOKEN, APP_ID, key, clock)


# ---------------------------------------------------------------- what a message becomes

async def test_location_label_link_title_and_bad_coordinates(wx, clock):  # noqa: ANN001
    client, processor = wx
    post = lambda **f: client.post("/wechat", params=_plain(clock), data=_msg(clock, **f))  # noqa: E731
    loc = {"MsgType": "location", "Content": None, "Scale": 15}
    assert (await post(MsgId=1, Location_X="31.2", Location_Y="121.5", Label=" 人民广场 ", **loc)).status == 200
    assert (await post(MsgId=2, Location_X="31.2", Location_Y="east", Label="x", **loc)).status == 200
    assert (await post(MsgId=3, Location_X="nan", Location_Y="inf", Label="x", **loc)).status == 200
    assert (await post(MsgId=4, MsgType="link", Content=None, Title=" 工会章程 ", Description="d",
                       Url="https://example.org")).status == 200
    first, half, nonsense, link = processor.seen
    assert (first.location, first.text) == ((31.2, 121.5), "人民广场")
    assert half.location is None
    assert nonsense.location is None
    assert (link.kind, link.text) == ("link", "工会章程")


async def test_location_event_with_one_bad_coordinate_has_no_location(wx, clock):  # noqa: ANN001
    client, processor = wx
    body = _msg(clock, MsgType="event", Event="LOCATION", Content=None, MsgId=None,
                Latitude="31.2", Longitude="", Precision="30")
    assert (await client.post("/wechat", params=_plain(clock), data=body)).status == 200
    assert processor.seen[-1].event == "location"
    assert processor.seen[-1].location is None


async def test_unknown_message_and_event_types_are_accepted(wx, clock):  # noqa: ANN001
    """WeChat adds message and event types; the bot must still answer them (kind 'unknown')."""
    client, processor = wx
    r1 = await client.post("/wechat", params=_plain(clock), data=_msg(clock, MsgType="some_new_type", MsgId=7))
    r2 = await client.post("/wechat", params=_plain(clock),
                           data=_msg(clock, MsgType="event", Event="some_new_event", Content=None, MsgId=None))
    assert (r1.status, r2.status) == (200, 200)
    assert [(m.kind, m.event) for m in processor.seen] == [("unknown", ""), ("event", "some_new_event")]


def test_repeated_elements_become_one_list():
    assert parse_xml("<xml><a>1</a><a>2</a><a>3</a><b>x</b></xml>") == {"a": ["1", "2", "3"], "b": "x"}


# ---------------------------------------------------------------- replies

async def test_news_reply_carries_description_and_picture(aiohttp_client, clock):  # noqa: ANN001
    codec = Codec(TOKEN, APP_ID, TEST_AES_KEY, clock)
    art = Article("标题", description="说明文字", url="https://example.org/a", image="https://example.org/p.jpg")
    client = await _client(aiohttp_client, codec, Recorder(codec, NewsReply((art,))))
    resp = await client.post("/wechat", params=_plain(clock), data=_msg(clock))
    item = xmltodict.parse(await resp.read())["xml"]["Articles"]["item"]
    assert (item["Title"], item["Description"], item["Url"], item["PicUrl"]) == (
        "标题", "说明文字", "https://example.org/a", "https://example.org/p.jpg")


async def test_transfer_reply_hands_over_to_customer_service(aiohttp_client, clock):  # noqa: ANN001
    codec = Codec(TOKEN, APP_ID, TEST_AES_KEY, clock)
    client = await _client(aiohttp_client, codec, Recorder(codec, TransferReply()))
    resp = await client.post("/wechat", params=_plain(clock), data=_msg(clock))
    reply = xmltodict.parse(await resp.read())["xml"]
    assert reply["MsgType"] == "transfer_customer_service"
    assert reply["ToUserName"] == "oUser1"


async def test_encrypted_reply_is_stamped_with_the_service_clock(wx, clock):  # noqa: ANN001
    """The reply's signed timestamp is the service's time, so WeChat's freshness check passes."""
    client, _ = wx
    clock.set(clock.now() + timedelta(days=400))  # far from the real time
    query, body = _aes(clock, _msg(clock))
    resp = await client.post("/wechat", params=query, data=body)
    env = xmltodict.parse(await resp.read())["xml"]
    assert env["TimeStamp"] == _ts(clock)
    plain = WeChatCrypto(TOKEN, TEST_AES_KEY, APP_ID).decrypt_message(
        await resp.read(), env["MsgSignature"], env["TimeStamp"], env["Nonce"])
    assert xmltodict.parse(plain)["xml"]["Content"] == "收到"


def test_bad_requests_are_400_and_forgeries_403():
    assert (BadRequest("x").status, Forbidden("x").status) == (400, 403)
