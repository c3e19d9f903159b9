"""A WeChat server simulator: real XML, real signatures, real AES (tests and `unionbot chat`).

    sim = WeChatSim(client, mode="safe", aes_key=KEY, clock=clock)
    user = sim.user("oWorker1")
    assert "帮扶" in await user.send("帮扶")

Each call builds the XML WeChat would send, signs it (and encrypts it in safe/compat mode with
wechatpy's WeChatCrypto), posts it to the app, checks the answer is 200 and a well-formed,
correctly addressed (and, in aes mode, correctly signed) reply, and returns the reply's text:
the text of a text reply, the article titles joined by newlines for news, None for `success`.
"""
from __future__ import annotations

import itertools
import secrets
import time
from typing import Any, Literal

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

DEFAULT_TOKEN = "unionbot-test-token"
# A valid 43-character EncodingAESKey for tests.
TEST_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

# Unique across every simulator in the process, so two sims on one database never collide.
# Seeded from the clock so `unionbot chat` runs against one database never reuse an id.
_msg_ids = itertools.count(time.time_ns() // 1000)


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def to_xml(fields: dict[str, Any]) -> str:
    """WeChat-style XML: strings in CDATA, numbers bare, in the given order."""
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        inner = str(value) if isinstance(value, (int, float)) else _cdata(str(value))
        parts.append(f"<{name}>{inner}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


class SimUser:
    """One WeChat user talking to the account."""

    def __init__(self, sim: WeChatSim, openid: str) -> None:
        self.sim = sim
        self.openid = openid
        self.last: dict[str, Any] = {}
        self._last_request: tuple[dict[str, str], bytes] | None = None
        self._last_event_time = 0

    async def _post(self, fields: dict[str, Any]) -> str | None:
        params, body = self.sim.build(self.openid, **fields)
        self._last_request = (params, body)
        return await self._deliver(params, body)

    async def _deliver(self, params: dict[str, str], body: bytes) -> str | None:
        resp = await self.sim.post_raw(body, params, sign=False)
        raw = await resp.read()
        assert resp.status == 200, f"webhook answered {resp.status}: {raw[:200]!r}"
        self.last = self.sim.parse_reply(raw, params, self.openid)
        self.last["status"] = resp.status
        return self.last["text"]

    async def resend(self) -> str | None:
        """Post the very same bytes and params again, as WeChat does when it retries."""
        assert self._last_request is not None, "nothing sent yet"
        params, body = self._last_request
        return await self._deliver(params, body)

    def _msg_id(self, msg_id: int | str | None) -> int | str:
        return next(_msg_ids) if msg_id is None else msg_id

    def _event_time(self) -> int:
        # Events are deduplicated by openid + CreateTime + event: keep them apart.
        now = self.sim.now()
        if now <= self._last_event_time:
            now = self._last_event_time + 1
        self._last_event_time = now
        return now

    async def send(self, text: str, msg_id: int | str | None = None) -> str | None:
        return await self._post(
            {"MsgType": "text", "Content": text, "MsgId": self._msg_id(msg_id)}
        )

    async def image(self, media_id: str = "MEDIA1", pic_url: str = "") -> str | None:
        pic = pic_url or f"http://mmbiz.qpic.cn/sim/{media_id}/0"
        return await self._post(
            {"MsgType": "image", "PicUrl": pic, "MediaId": media_id, "MsgId": self._msg_id(None)}
        )

    async def voice(self, media_id: str = "VOICE1", recognition: str = "") -> str | None:
        fields: dict[str, Any] = {"MsgType": "voice", "MediaId": media_id, "Format": "amr"}
        if recognition:
            fields["Recognition"] = recognition
        fields["MsgId"] = self._msg_id(None)
        return await self._post(fields)

    async def location(self, lat: float, lon: float, label: str = "") -> str | None:
        return await self._post(
            {
                "MsgType": "location",
                "Location_X": lat,
                "Location_Y": lon,
                "Scale": 15,
                "Label": label,
                "MsgId": self._msg_id(None),
            }
        )

    async def event(self, name: str, key: str = "", **extra: Any) -> str | None:
        fields: dict[str, Any] = {
            "MsgType": "event",
            "Event": name,
            "EventKey": key,
            "CreateTime": self._event_time(),
        }
        fields.update(extra)
        return await self._post(fields)

    async def click(self, key: str) -> str | None:
        return await self.event("CLICK", key)

    async def follow(self, scene: str | None = None) -> str | None:
        if scene is None:
            return await self.event("subscribe", "")
        return await self.event("subscribe", f"qrscene_{scene}", Ticket="SIMTICKET")

    async def unfollow(self) -> str | None:
        return await self.event("unsubscribe", "")

    async def scan(self, scene: str) -> str | None:
        return await self.event("SCAN", scene, Ticket="SIMTICKET")


class WeChatSim:
    """Plays WeChat's server against an app mounted at `path` on a pytest-aiohttp client."""

    def __init__(
        self,
        client: Any,
        path: str = "/wechat",
        token: str = DEFAULT_TOKEN,
        app_id: str = "wxTESTAPP",
        account: str = "gh_test_account",
        aes_key: str = "",
        mode: Literal["plain", "safe", "compat"] = "plain",
        clock: Any = None,
    ) -> None:
        if mode not in ("plain", "safe", "compat"):
            raise ValueError(f"unknown mode {mode!r}")
        if mode != "plain" and not aes_key:
            raise ValueError(f"{mode} mode needs aes_key")
        self.client = client
        self.path = path
        self.token = token
        self.app_id = app_id
        self.account = account
        self.aes_key = aes_key
        self.mode = mode
        self.clock = clock
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self._users: dict[str, SimUser] = {}

    def now(self) -> int:
        if self.clock is not None:
            return int(self.clock.now().timestamp())
        return int(time.time())

    def user(self, openid: str) -> SimUser:
        if openid not in self._users:
            self._users[openid] = SimUser(self, openid)
        return self._users[openid]

    def signed_params(self) -> dict[str, str]:
        timestamp, nonce = str(self.now()), secrets.token_hex(5)
        return {
            "signature": sign(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }

    def build(self, openid: str, **fields: Any) -> tuple[dict[str, str], bytes]:
        """The query params and body WeChat would post for a message from `openid`."""
        message: dict[str, Any] = {
            "ToUserName": self.account,
            "FromUserName": openid,
            "CreateTime": self.now(),
        }
        message.update(fields)
        plain = to_xml(message)
        params = self.signed_params()
        params["openid"] = openid
        if self.mode == "plain":
            return params, plain.encode("utf-8")
        assert self.crypto is not None
        envelope = xmltodict.parse(
            self.crypto.encrypt_message(plain, params["nonce"], params["timestamp"])
        )["xml"]
        encrypted = envelope["Encrypt"]
        params["encrypt_type"] = "aes"
        params["msg_signature"] = envelope["MsgSignature"]
        if self.mode == "safe":
            body = to_xml({"ToUserName": self.account, "Encrypt": encrypted})
        else:  # compat: the plaintext fields and the ciphertext side by side
            body = plain[: -len("</xml>")] + f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
        return params, body.encode("utf-8")

    async def post_raw(
        self, body: bytes, params: dict[str, str] | None = None, sign: bool = True
    ) -> Any:
        """POST arbitrary bytes; with `sign`, fresh valid signature params come first."""
        query = self.signed_params() if sign else {}
        query.update(params or {})
        return await self.client.post(
            self.path, params=query, data=body, headers={"Content-Type": "text/xml"}
        )

    async def verify(self, echostr: str = "sim-echo-123") -> Any:
        """WeChat's GET server check with a valid signature."""
        query = self.signed_params()
        query["echostr"] = echostr
        return await self.client.get(self.path, params=query)

    def parse_reply(self, raw: bytes, params: dict[str, str], openid: str) -> dict[str, Any]:
        """Decode a webhook answer the way WeChat would, asserting it is well-formed."""
        result: dict[str, Any] = {"kind": "success", "text": None, "articles": [], "raw": raw}
        if raw.strip() in (b"", b"success"):
            return result
        xml = raw.decode("utf-8")
        if params.get("encrypt_type") == "aes":
            assert self.crypto is not None
            env = xmltodict.parse(xml)["xml"]
            # Verifies the reply's msg_signature and app id, as WeChat does.
            xml = self.crypto.decrypt_message(
                xml, env["MsgSignature"], env["TimeStamp"], env["Nonce"]
            )
        reply = xmltodict.parse(xml)["xml"]
        assert reply["ToUserName"] == openid, f"reply addressed to {reply['ToUserName']!r}"
        assert reply["FromUserName"] == self.account, f"reply from {reply['FromUserName']!r}"
        assert str(reply["CreateTime"]).isdecimal()
        kind = reply["MsgType"]
        result["kind"] = kind
        if kind == "text":
            result["text"] = reply.get("Content") or ""
        elif kind == "news":
            items = (reply.get("Articles") or {}).get("item") or []
            if isinstance(items, dict):
                items = [items]
            result["articles"] = [
                {
                    "title": i.get("Title") or "",
                    "description": i.get("Description") or "",
                    "url": i.get("Url") or "",
                    "image": i.get("PicUrl") or "",
                }
                for i in items
            ]
            assert int(reply["ArticleCount"]) == len(items)
            result["text"] = "\n".join(a["title"] for a in result["articles"])
        else:
            raise AssertionError(f"unexpected reply type {kind!r}")
        return result
