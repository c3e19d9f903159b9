"""The WeChat codec: signatures, freshness, AES, parsing, replies."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from bot.clock import FakeClock
from bot.core.types import Article, NewsReply, TextReply
from bot.wechat.codec import BadRequest, Codec, CodecError, Forbidden
from bot.wechat.simulator import TEST_AES_KEY, sign, to_xml

TOKEN = "tok-123"
APP_ID = "wxTESTAPP"
ACCOUNT = "gh_test_account"


class _NoClient:
    """WeChatSim is only used here to build requests, never to post them."""


@pytest.fixture
def codec(clock: FakeClock) -> Codec:
    return Codec(TOKEN, APP_ID, TEST_AES_KEY, clock)


def _sim(clock, mode="plain"):
    from bot.wechat.simulator import WeChatSim

    return WeChatSim(_NoClient(), token=TOKEN, app_id=APP_ID, account=ACCOUNT,
                     aes_key=TEST_AES_KEY, mode=mode, clock=clock)


def _now(clock) -> int:
    return int(clock.now().timestamp())


def _plain_query(clock, **over) -> dict[str, str]:
    ts, nonce = str(_now(clock)), "n0nce"
    q = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    q.update(over)
    return q


def _text_xml(clock, content="你好", openid="oUser1", msg_id=1001) -> bytes:
    return to_xml({
        "ToUserName": ACCOUNT, "FromUserName": openid, "CreateTime": _now(clock),
        "MsgType": "text", "Content": content, "MsgId": msg_id,
    }).encode()


# ---------------------------------------------------------------- GET echo

def test_echo_plain_good(codec, clock):
    assert codec.verify_echo(_plain_query(clock, echostr="abc123")) == "abc123"


def test_echo_forged_signature(codec, clock):
    with pytest.raises(Forbidden):
        codec.verify_echo(_plain_query(clock, echostr="abc", signature="0" * 40))
    with pytest.raises(Forbidden):
        codec.verify_echo({"echostr": "abc", "timestamp": str(_now(clock)), "nonce": "x"})


def test_echo_safe_mode_decrypts(codec, clock):
    crypto = WeChatCrypto(TOKEN, TEST_AES_KEY, APP_ID)
    ts, nonce = str(_now(clock)), "abc"
    env = xmltodict.parse(crypto.encrypt_message("echo-中文", nonce, ts))["xml"]
    q = {"msg_signature": env["MsgSignature"], "timestamp": ts, "nonce": nonce,
         "echostr": env["Encrypt"], "signature": sign(TOKEN, ts, nonce)}
    assert codec.verify_echo(q) == "echo-中文"
    with pytest.raises(Forbidden):
        codec.verify_echo({**q, "msg_signature": "f" * 40})


# ---------------------------------------------------------------- plain POST

def test_plain_good(codec, clock):
    inc = codec.decode(_plain_query(clock), _text_xml(clock, content="  帮扶 \n"))
    assert inc.openid == "oUser1"
    assert inc.app_id == ACCOUNT
    assert inc.kind == "text"
    assert inc.text == "帮扶"
    assert inc.msg_id == "1001"
    assert inc.dedup_key == "m:1001"
    assert inc.create_time == clock.now().replace(microsecond=0)
    assert inc.create_time.tzinfo is not None
    assert inc.raw["MsgType"] == "text"


@pytest.mark.parametrize("query", [
    {},
    {"signature": "", "timestamp": "1", "nonce": "x"},
    {"signature": "0" * 40},
    {"signature": "测试签名"},
])
def test_plain_missing_or_forged_signature(codec, clock, query):
    with pytest.raises(Forbidden) as err:
        codec.decode({**_plain_query(clock), **query} if query else {}, _text_xml(clock))
    assert err.value.status == 403


def test_signature_for_other_token_is_forged(codec, clock):
    ts = str(_now(clock))
    q = {"signature": sign("other-token", ts, "n"), "timestamp": ts, "nonce": "n"}
    with pytest.raises(Forbidden):
        codec.decode(q, _text_xml(clock))


@pytest.mark.parametrize("delta", [-301, 301, 3600, -86400])
def test_stale_timestamp(codec, clock, delta):
    ts, nonce = str(_now(clock) + delta), "n"
    q = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    with pytest.raises(Forbidden, match="stale"):
        codec.decode(q, _text_xml(clock))


@pytest.mark.parametrize("ts", ["", "abc", "-5", "1e9", "１２３", " 1"])
def test_bad_timestamp(codec, clock, ts):
    q = {"signature": sign(TOKEN, ts, "n"), "timestamp": ts, "nonce": "n"}
    with pytest.raises(Forbidden):
        codec.decode(q, _text_xml(clock))


def test_timestamp_within_tolerance(codec, clock):
    ts = str(_now(clock) - 299)
    q = {"signature": sign(TOKEN, ts, "n"), "timestamp": ts, "nonce": "n"}
    assert codec.decode(q, _text_xml(clock)).text == "你好"


# ---------------------------------------------------------------- safe / compat

@pytest.mark.parametrize("mode", ["safe", "compat"])
def test_aes_round_trip(codec, clock, mode):
    sim = _sim(clock, mode)
    params, body = sim.build("oSafe", MsgType="text", Content="我要报名", MsgId=77)
    assert params["encrypt_type"] == "aes"
    if mode == "safe":
        assert "我要报名".encode() not in body
    inc = codec.decode(params, body)
    assert (inc.openid, inc.text, inc.dedup_key) == ("oSafe", "我要报名", "m:77")

    body_out, ctype = codec.encode(TextReply("收到，谢谢"), inc, params)
    assert ctype == "application/xml"
    assert "收到".encode() not in body_out
    parsed = sim.parse_reply(body_out, params, "oSafe")  # checks signature + addressing
    assert parsed["text"] == "收到，谢谢"


def test_aes_forged_msg_signature(codec, clock):
    params, body = _sim(clock, "safe").build("oSafe", MsgType="text", Content="x", MsgId=1)
    with pytest.raises(Forbidden):
        codec.decode({**params, "msg_signature": "0" * 40}, body)
    without = {k: v for k, v in params.items() if k != "msg_signature"}
    with pytest.raises(Forbidden):
        codec.decode(without, body)


def test_aes_ciphertext_tampered(codec, clock):
    params, body = _sim(clock, "safe").build("oSafe", MsgType="text", Content="x", MsgId=1)
    tampered = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[A")
    with pytest.raises(Forbidden):
        codec.decode(params, tampered)


def test_aes_without_key_configured(clock):
    plain_only = Codec(TOKEN, APP_ID, "", clock)
    params, body = _sim(clock, "safe").build("oSafe", MsgType="text", Content="x", MsgId=1)
    with pytest.raises(Forbidden):
        plain_only.decode(params, body)


def test_aes_other_app_id_is_forbidden(clock):
    other = Codec(TOKEN, "wxOTHER", TEST_AES_KEY, clock)
    params, body = _sim(clock, "safe").build("oSafe", MsgType="text", Content="x", MsgId=1)
    with pytest.raises(Forbidden):
        other.decode(params, body)


def test_bad_aes_key_fails_at_start(clock):
    with pytest.raises(ValueError):
        Codec(TOKEN, APP_ID, "short", clock)


# ---------------------------------------------------------------- message kinds

def _decode_fields(codec, clock, **fields):
    sim = _sim(clock)
    params, body = sim.build("oKind", **fields)
    return codec.decode(params, body)


def test_image(codec, clock):
    inc = _decode_fields(codec, clock, MsgType="image", PicUrl="http://p/1", MediaId="M1", MsgId=5)
    assert (inc.kind, inc.media_id, inc.pic_url, inc.dedup_key) == ("image", "M1", "http://p/1", "m:5")


def test_voice_uses_recognition(codec, clock):
    inc = _decode_fields(codec, clock, MsgType="voice", MediaId="V1", Format="amr",
                         Recognition="我要请假。", MsgId=6)
    assert (inc.kind, inc.text, inc.media_id) == ("voice", "我要请假。", "V1")
    inc = _decode_fields(codec, clock, MsgType="voice", MediaId="V2", Format="amr", MsgId=7)
    assert inc.text == ""


@pytest.mark.parametrize("kind", ["video", "shortvideo"])
def test_video(codec, clock, kind):
    inc = _decode_fields(codec, clock, MsgType=kind, MediaId="VID", ThumbMediaId="T", MsgId=8)
    assert (inc.kind, inc.media_id) == (kind, "VID")


def test_location_message(codec, clock):
    inc = _decode_fields(codec, clock, MsgType="location", Location_X=31.2304,
                         Location_Y=121.4737, Scale=15, Label="人民广场", MsgId=9)
    assert inc.kind == "location"
    assert inc.location == (31.2304, 121.4737)


def test_link(codec, clock):
    inc = _decode_fields(codec, clock, MsgType="link", Title="通知", Description="d",
                         Url="http://x", MsgId=10)
    assert inc.kind == "link"


def test_unknown_type_is_not_an_error(codec, clock):
    inc = _decode_fields(codec, clock, MsgType="miniprogrampage", Title="x", MsgId=11)
    assert inc.kind == "unknown"
    assert inc.dedup_key == "m:11"


def test_click_event(codec, clock):
    inc = _decode_fields(codec, clock, MsgType="event", Event="CLICK", EventKey="HARDSHIP")
    assert (inc.kind, inc.event, inc.event_key) == ("event", "click", "HARDSHIP")
    assert inc.msg_id == ""
    assert inc.dedup_key == f"e:oKind:{_now(clock)}:click"


def test_subscribe_plain_and_with_scene(codec, clock):
    inc = _decode_fields(codec, clock, MsgType="event", Event="subscribe", EventKey="")
    assert (inc.event, inc.event_key) == ("subscribe", "")
    inc = _decode_fields(codec, clock, MsgType="event", Event="subscribe",
                         EventKey="qrscene_chair42", Ticket="T")
    assert (inc.event, inc.event_key) == ("subscribe", "chair42")
    assert inc.raw["EventKey"] == "qrscene_chair42"


def test_scan_event(codec, clock):
    inc = _decode_fields(codec, clock, MsgType="event", Event="SCAN", EventKey="chair42", Ticket="T")
    assert (inc.event, inc.event_key) == ("scan", "chair42")
    inc = _decode_fields(codec, clock, MsgType="event", Event="SCAN", EventKey="qrscene_7")
    assert inc.event_key == "7"


def test_unsubscribe_view_location_events(codec, clock):
    assert _decode_fields(codec, clock, MsgType="event", Event="unsubscribe").event == "unsubscribe"
    view = _decode_fields(codec, clock, MsgType="event", Event="VIEW", EventKey="http://u")
    assert (view.event, view.event_key) == ("view", "http://u")
    loc = _decode_fields(codec, clock, MsgType="event", Event="LOCATION",
                         Latitude=23.1, Longitude=113.3, Precision=50)
    assert (loc.event, loc.location) == ("location", (23.1, 113.3))


def test_missing_from_user_is_bad_request(codec, clock):
    body = to_xml({"ToUserName": ACCOUNT, "CreateTime": _now(clock),
                   "MsgType": "text", "Content": "x", "MsgId": 1}).encode()
    with pytest.raises(BadRequest):
        codec.decode(_plain_query(clock), body)


@pytest.mark.parametrize("body", [
    b"", b"<xml>", b"not xml", b"<xml></xml>", b"<xml>text</xml>", b"<root/>",
    b"<xml><FromUserName>a</FromUserName><FromUserName>b</FromUserName></xml>",
    b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><FromUserName>&a;</FromUserName></xml>',
    b"<xml><FromUserName>o</FromUserName><CreateTime>99999999999999999999</CreateTime>"
    b"<MsgType>text</MsgType></xml>",
    b"\xff\xfe<xml/>",
])
def test_malformed_bodies_are_bad_requests(codec, clock, body):
    with pytest.raises(BadRequest):
        codec.decode(_plain_query(clock), body)


def test_random_bytes_only_codec_errors(codec, clock):
    rnd = random.Random(20261124)
    for i in range(100):
        body = rnd.randbytes(rnd.randint(0, 400))
        query = _plain_query(clock) if i % 2 else {"signature": "x" * rnd.randint(0, 50)}
        if i % 3 == 0:
            query = {**query, "encrypt_type": "aes", "msg_signature": "y"}
        with pytest.raises(CodecError) as err:
            codec.decode(query, body)
        assert err.value.status in (400, 403)


def test_random_well_signed_garbage_only_codec_errors(codec, clock):
    rnd = random.Random(7)
    crypto = WeChatCrypto(TOKEN, TEST_AES_KEY, APP_ID)
    pieces = ["<xml>", "</xml>", "<FromUserName>", "</FromUserName>", "<MsgType>text</MsgType>",
              "<CreateTime>", "</CreateTime>", "<![CDATA[", "]]>", "&amp;", "&bogus;", "o1",
              "<MsgId>1</MsgId>", "<Event>", "</Event>", "\x00", "中", "<a b='1'>", "</a>", "12"]
    for i in range(100):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12)))
        if i % 2:
            ts, nonce = str(_now(clock)), f"n{i}"
            envelope = xmltodict.parse(crypto.encrypt_message(text, nonce, ts))["xml"]
            query = {"timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
                     "msg_signature": envelope["MsgSignature"]}
            body = to_xml({"ToUserName": ACCOUNT, "Encrypt": envelope["Encrypt"]}).encode()
        else:
            query, body = _plain_query(clock), text.encode("utf-8", "replace")
        try:
            codec.decode(query, body)
        except CodecError as exc:
            assert exc.status == 400, exc.reason
        # A piece soup may, rarely, be a valid message: that is fine.


# ---------------------------------------------------------------- replies

def _incoming(codec, clock):
    return codec.decode(_plain_query(clock), _text_xml(clock, openid="oR"))


def test_encode_none_is_success(codec, clock):
    assert codec.encode(None, _incoming(codec, clock), {}) == (b"success", "text/plain")


def test_render_plain_text_swaps_addresses_and_is_stable(codec, clock):
    inc = _incoming(codec, clock)
    first = codec.render_plain(TextReply("您好 ]]> <b>&"), inc)
    clock.advance(minutes=5)
    assert codec.render_plain(TextReply("您好 ]]> <b>&"), inc) == first
    reply = xmltodict.parse(first)["xml"]
    assert reply["ToUserName"] == "oR" and reply["FromUserName"] == ACCOUNT
    assert reply["Content"] == "您好 ]]> <b>&"
    assert reply["CreateTime"] == str(int(inc.create_time.timestamp()))
    # plain mode: wrap leaves the bytes alone
    assert codec.wrap(first, _plain_query(clock)) == first


def test_render_news(codec, clock):
    inc = _incoming(codec, clock)
    news = NewsReply((Article("活动一", "说明", "http://a", "http://img"), Article("活动二")))
    reply = xmltodict.parse(codec.render_plain(news, inc))["xml"]
    assert reply["MsgType"] == "news" and reply["ArticleCount"] == "2"
    assert [i["Title"] for i in reply["Articles"]["item"]] == ["活动一", "活动二"]
    assert reply["Articles"]["item"][0]["Url"] == "http://a"


def test_encode_uses_clock_for_create_time(codec, clock):
    inc = _incoming(codec, clock)
    clock.advance(seconds=3)
    body, ctype = codec.encode(TextReply("hi"), inc, _plain_query(clock))
    assert ctype == "application/xml"
    assert xmltodict.parse(body)["xml"]["CreateTime"] == str(_now(clock))


def test_wrap_reencrypts_same_plaintext(codec, clock):
    sim = _sim(clock, "safe")
    params, body = sim.build("oR", MsgType="text", Content="x", MsgId=3)
    inc = codec.decode(params, body)
    plain = codec.render_plain(TextReply("同一回复"), inc)
    a, b = codec.wrap(plain, params), codec.wrap(plain, params)
    assert a != b  # fresh nonce and random prefix each delivery
    assert sim.parse_reply(a, params, "oR")["text"] == sim.parse_reply(b, params, "oR")["text"]


def test_create_time_is_utc(codec, clock):
    clock.set(datetime(2026, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8))))
    inc = _incoming(codec, clock)
    assert inc.create_time == datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert inc.create_time.utcoffset() == timedelta(0)


def test_documents_with_a_dtd_are_refused_not_expanded() -> None:
    import pytest

    from bot.wechat.codec import parse_xml

    bomb = (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<xml><Content>&b;</Content></xml>")
    with pytest.raises(ValueError):
        parse_xml(bomb)
    assert parse_xml("<xml><A><![CDATA[x]]></A><B><C>1</C></B><D>1</D><D>2</D></xml>") == {
        "A": "x", "B": {"C": "1"}, "D": ["1", "2"]}
