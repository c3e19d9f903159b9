"""WeChat wire codec: signatures, AES, XML in and out.

This is the only place that knows WeChat's message format. It verifies a request (signature in
constant time, timestamp freshness), decrypts it in safe/compatible mode, parses it with wechatpy
and maps it to a plain `Incoming`; on the way out it renders a passive reply with wechatpy and
encrypts it when the request was encrypted.

Every failure on the way in is a `CodecError` (403 or 400); no other exception escapes `decode`,
whatever the bytes.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from xml.etree import ElementTree
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.replies import ArticlesReply, TransferCustomerServiceReply, create_reply
from wechatpy.replies import TextReply as WxTextReply
from wechatpy.utils import WeChatSigner

from bot.clock import Clock
from bot.core.types import Incoming, NewsReply, Reply, TextReply, TransferReply

KINDS = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "event"})
SUCCESS = b"success"
XML_TYPE = "application/xml"
TEXT_TYPE = "text/plain"
# WeChat shows at most 8 articles in a passive news reply.
MAX_ARTICLES = 8
_SCENE_PREFIX = "qrscene_"


class CodecError(Exception):
    """A request the codec refuses; `status` is the HTTP status to answer with."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(CodecError):
    status = 403


class BadRequest(CodecError):
    status = 400


class TooLarge(CodecError):
    status = 413


def _sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that tolerates any given string."""
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))


def _str(value: Any) -> str:
    """The text of a leaf of a parsed message; nested elements and lists are not text."""
    return value if isinstance(value, str) else ""


def _cdata_safe(text: str) -> str:
    """Split any `]]>` so wechatpy's CDATA templates stay well-formed."""
    return text.replace("]]>", "]]]]><![CDATA[>")


def parse_xml(data: str | bytes) -> dict[str, Any]:
    """A WeChat message as a dict of its elements (the shape wechatpy's message classes take).

    ElementTree's C parser, several times faster than xmltodict on this hot path. WeChat never
    sends a DTD, so any document with one is refused before parsing (no entity tricks).
    """
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:  # XML keywords are case-sensitive
        raise ValueError("DTDs are not accepted")
    root = ElementTree.fromstring(data)
    if root.tag != "xml":
        raise ValueError("not a WeChat message")
    return _element_dict(root)


def _element_dict(elem: ElementTree.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in elem:
        value: Any = _element_dict(child) if len(child) else (child.text or "")
        if child.tag in out:  # repeated elements become a list, as xmltodict did
            prev = out[child.tag]
            out[child.tag] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[child.tag] = value
    return out


def _float(value: Any) -> float | None:
    try:
        f = float(_str(value))
    except ValueError:
        return None
    return f if math.isfinite(f) else None


class Codec:
    """Verify, decrypt and parse WeChat requests; render and encrypt passive replies."""

    def __init__(
        self,
        token: str,
        app_id: str,
        encoding_aes_key: str,
        clock: Clock,
        tolerance: int = 300,
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.clock = clock
        self.tolerance = tolerance
        self._crypto: WeChatCrypto | None = None
        if encoding_aes_key:
            try:
                key = base64.b64decode(encoding_aes_key + "=", validate=True)
            except binascii.Error:
                key = b""
            if len(encoding_aes_key) != 43 or len(key) != 32:
                raise ValueError("EncodingAESKey must be 43 base64 characters")
            self._crypto = WeChatCrypto(token, encoding_aes_key, app_id)

    # ------------------------------------------------------------------ verification

    def _check_timestamp(self, timestamp: str) -> None:
        if not (timestamp.isascii() and timestamp.isdecimal() and len(timestamp) <= 12):
            raise Forbidden("bad timestamp")
        skew = abs(self.clock.now().timestamp() - int(timestamp))
        if skew > self.tolerance:
            raise Forbidden("stale timestamp")

    def _check_plain(self, query: Mapping[str, str]) -> str:
        """Check `signature` over token/timestamp/nonce; return the timestamp."""
        signature = query.get("signature") or ""
        timestamp = query.get("timestamp") or ""
        nonce = query.get("nonce") or ""
        if not signature:
            raise Forbidden("missing signature")
        if not _same(_sign(self.token, timestamp, nonce), signature):
            raise Forbidden("bad signature")
        self._check_timestamp(timestamp)
        return timestamp

    def _check_msg_signature(self, query: Mapping[str, str], encrypted: str) -> None:
        signature = query.get("msg_signature") or ""
        timestamp = query.get("timestamp") or ""
        nonce = query.get("nonce") or ""
        if not signature:
            raise Forbidden("missing msg_signature")
        if not _same(_sign(self.token, timestamp, nonce, encrypted), signature):
            raise Forbidden("bad msg_signature")
        self._check_timestamp(timestamp)

    def _decrypt(self, encrypted: str) -> str:
        assert self._crypto is not None
        try:
            return PrpCrypto(self._crypto.key).decrypt(encrypted, self.app_id)
        except InvalidAppIdException:
            raise Forbidden("wrong app id") from None
        except Exception:  # bad base64, padding, length, UTF-8 ...
            raise BadRequest("cannot decrypt") from None

    def verify_echo(self, query: Mapping[str, str]) -> str:
        """WeChat's server check (GET): return the echostr to send back, or raise."""
        echostr = query.get("echostr") or ""
        if query.get("msg_signature"):
            if self._crypto is None:
                raise Forbidden("aes key not configured")
            self._check_msg_signature(query, echostr)
            if not echostr:
                raise BadRequest("missing echostr")
            return self._decrypt(echostr)
        self._check_plain(query)
        if not echostr:
            raise BadRequest("missing echostr")
        return echostr

    @staticmethod
    def is_aes(query: Mapping[str, str]) -> bool:
        return (query.get("encrypt_type") or "").lower() == "aes"

    # ------------------------------------------------------------------ decoding

    def decode(self, query: Mapping[str, str], body: bytes) -> Incoming:
        """Verify and parse one POSTed message. Raises only CodecError."""
        try:
            return self._decode(query, body)
        except CodecError:
            raise
        except Exception:  # whatever the bytes: never a 500
            raise BadRequest("malformed message") from None

    def _decode(self, query: Mapping[str, str], body: bytes) -> Incoming:
        if self.is_aes(query):
            if self._crypto is None:
                raise Forbidden("aes key not configured")
            try:
                outer = parse_xml(body)
            except Exception:
                raise BadRequest("malformed xml") from None
            encrypted = _str(outer.get("Encrypt") if isinstance(outer, dict) else None)
            if not encrypted:
                # Cannot be signed without the ciphertext: treat as forged.
                raise Forbidden("missing Encrypt")
            self._check_msg_signature(query, encrypted)
            xml = self._decrypt(encrypted)
        else:
            self._check_plain(query)
            xml = body.decode("utf-8")
        return self._to_incoming(xml)

    def _to_incoming(self, xml: str) -> Incoming:
        raw = parse_xml(xml)
        if not isinstance(raw, dict):
            raise BadRequest("malformed xml")
        raw = dict(raw)
        openid = _str(raw.get("FromUserName")).strip()
        if not openid:
            raise BadRequest("missing FromUserName")
        create = _str(raw.get("CreateTime")).strip()
        if not (create.isascii() and create.isdecimal() and len(create) <= 12):
            raise BadRequest("bad CreateTime")

        msg_type = _str(raw.get("MsgType")).strip().lower()
        kind = msg_type if msg_type in KINDS else "unknown"
        fields: dict[str, Any] = {}
        if kind == "text":
            fields["text"] = _str(raw.get("Content")).strip()
        elif kind == "voice":
            fields["text"] = _str(raw.get("Recognition")).strip()
            fields["media_id"] = _str(raw.get("MediaId"))
        elif kind == "image":
            fields["media_id"] = _str(raw.get("MediaId"))
            fields["pic_url"] = _str(raw.get("PicUrl"))
        elif kind in ("video", "shortvideo"):
            fields["media_id"] = _str(raw.get("MediaId"))
        elif kind == "location":
            lat, lon = _float(raw.get("Location_X")), _float(raw.get("Location_Y"))
            if lat is not None and lon is not None:
                fields["location"] = (lat, lon)
            fields["text"] = _str(raw.get("Label")).strip()
        elif kind == "link":
            fields["text"] = _str(raw.get("Title")).strip()
        elif kind == "event":
            event = _str(raw.get("Event")).strip().lower()
            key = _str(raw.get("EventKey")).strip()
            if event in ("subscribe", "scan") and key.startswith(_SCENE_PREFIX):
                key = key[len(_SCENE_PREFIX):]
            fields["event"] = event
            fields["event_key"] = key
            if event == "location":
                lat, lon = _float(raw.get("Latitude")), _float(raw.get("Longitude"))
                if lat is not None and lon is not None:
                    fields["location"] = (lat, lon)

        msg_id = _str(raw.get("MsgId")).strip()
        event_name = fields.get("event", "")
        dedup_key = f"m:{msg_id}" if msg_id else f"e:{openid}:{create}:{event_name}"
        return Incoming(
            openid=openid,
            kind=kind,
            create_time=datetime.fromtimestamp(int(create), tz=timezone.utc),
            dedup_key=dedup_key,
            app_id=_str(raw.get("ToUserName")).strip(),
            msg_id=msg_id,
            raw=raw,
            **fields,
        )

    # ------------------------------------------------------------------ encoding

    def render_plain(
        self, reply: Reply, incoming: Incoming, now: datetime | None = None
    ) -> bytes:
        """The unencrypted passive-reply XML. Pure: CreateTime is the message's own unless
        `now` is given, so the same reply to the same message is the same bytes."""
        when = int((now or incoming.create_time).timestamp())
        common = {"source": incoming.app_id, "target": incoming.openid, "time": when}
        if isinstance(reply, TextReply):
            wx = WxTextReply(content=_cdata_safe(reply.text), **common)
        elif isinstance(reply, NewsReply):
            articles = [
                {
                    "title": _cdata_safe(a.title),
                    "description": _cdata_safe(a.description),
                    "url": _cdata_safe(a.url),
                    "image": _cdata_safe(a.image),
                }
                for a in reply.articles[:MAX_ARTICLES]
            ]
            wx = ArticlesReply(articles=articles, **common)
        elif isinstance(reply, TransferReply):  # hand the message to WeChat's customer service (多客服)
            wx = TransferCustomerServiceReply(**common)
        else:
            raise TypeError(f"cannot render {type(reply).__name__}")
        return create_reply(wx, render=True).encode("utf-8")

    def wrap(self, plain_xml: bytes | None, query: Mapping[str, str]) -> bytes:
        """Encrypt a rendered reply when the request came in aes mode; `success` for none."""
        if not plain_xml:
            return SUCCESS
        if not self.is_aes(query) or self._crypto is None:
            return plain_xml
        timestamp = str(int(self.clock.now().timestamp()))
        nonce = secrets.token_hex(8)
        return self._crypto.encrypt_message(plain_xml, nonce, timestamp).encode("utf-8")

    def encode(
        self, reply: Reply | None, incoming: Incoming, query: Mapping[str, str]
    ) -> tuple[bytes, str]:
        """(body, content type) for a passive reply; `success` when there is nothing to say."""
        if reply is None:
            return SUCCESS, TEXT_TYPE
        plain = self.render_plain(reply, incoming, now=self.clock.now())
        return self.wrap(plain, query), XML_TYPE


__all__ = [
    "BadRequest",
    "Codec",
    "CodecError",
    "Forbidden",
    "TooLarge",
    "SUCCESS",
    "XML_TYPE",
    "TEXT_TYPE",
]
