"""A fake WeChat API server on loopback: records every call, injects faults.

Usage, standalone::

    fake = FakeWeChat()
    base_url = await fake.start()
    ...
    await fake.close()

or with pytest-aiohttp, through the `fake_wechat` fixture (tests/conftest.py offers it)::

    async def test_x(fake_wechat): ...

It imitates only the endpoints unionbot uses, with WeChat's error codes:
every token call issues a NEW token and invalidates the previous one; a bad
or expired token gets errcode 40001; a repeated template `client_msg_id` is
accepted but not delivered twice.
"""
from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"

_TOKEN_PATHS = ("/cgi-bin/stable_token", "/cgi-bin/token")
_JSON: Any = web.RequestKey("json", object) if hasattr(web, "RequestKey") else "json"


@dataclass
class _Fault:
    suffix: str
    times: int
    errcode: int | None = None
    status: int | None = None


class FakeWeChat:
    def __init__(self, app_id: str = "wxfake", secret: str = "fake-secret", expires_in: int = 7200) -> None:
        self.app_id = app_id
        self.secret = secret
        self.expires_in = expires_in
        self.latency: float = 0.0
        self.calls: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.unreachable_cs: set[str] = set()
        self.menu: list[dict[str, Any]] | None = None
        self.media: dict[str, tuple[bytes, str]] = {}
        self.tokens_issued: list[str] = []
        self._valid_tokens: set[str] = set()
        self._faults: list[_Fault] = []
        self._client_msg_ids: dict[str, int] = {}
        self._ids = itertools.count(1000)
        self._runner: web.AppRunner | None = None
        self.base_url: str = ""

    def wechat_config(self) -> dict[str, str]:
        """The `[wechat]` settings that point unionbot at this server (once it is started)."""
        return {"app_id": self.app_id, "app_secret": self.secret, "api_base_url": self.base_url}

    # ---- fault injection -------------------------------------------------

    def fail_next(self, path_suffix: str, errcode: int = -1, times: int = 1) -> None:
        """The next `times` calls whose path ends with `path_suffix` answer `errcode`."""
        self._faults.append(_Fault(path_suffix, times, errcode=errcode))

    def fail_http(self, path_suffix: str, status: int = 500, times: int = 1) -> None:
        """The next `times` calls whose path ends with `path_suffix` answer HTTP `status`."""
        self._faults.append(_Fault(path_suffix, times, status=status))

    def expire_tokens(self) -> None:
        """Every token issued so far becomes invalid (40001)."""
        self._valid_tokens.clear()

    # ---- helpers for tests -------------------------------------------------

    def calls_to(self, path_suffix: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["path"].endswith(path_suffix)]

    def delivered_to(self, openid: str) -> list[dict[str, Any]]:
        return [d for d in self.delivered if d["openid"] == openid]

    @property
    def current_token(self) -> str | None:
        return self.tokens_issued[-1] if self.tokens_issued else None

    # ---- server lifecycle --------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_post("/cgi-bin/message/template/send", self._template_send)
        app.router.add_post("/cgi-bin/menu/create", self._menu_create)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/cgi-bin/qrcode/create", self._qrcode_create)
        return app

    async def start(self) -> str:
        """Serve on a free loopback port; returns the base URL."""
        self._runner = web.AppRunner(self.make_app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def attach(self, aiohttp_server) -> str:  # noqa: ANN001
        """Serve through pytest-aiohttp's `aiohttp_server` fixture (closed by it)."""
        server = await aiohttp_server(self.make_app())
        self.base_url = str(server.make_url("")).rstrip("/")
        return self.base_url

    # ---- request plumbing --------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler):  # noqa: ANN001
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw.decode("utf-8")) if raw else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                body = None
        request[_JSON] = body
        self.calls.append({"method": request.method, "path": request.path,
                           "query": dict(request.query), "json": body})
        if self.latency:
            await asyncio.sleep(self.latency)
        for fault in self._faults:
            if fault.times > 0 and request.path.endswith(fault.suffix):
                fault.times -= 1
                if fault.status is not None:
                    return web.Response(status=fault.status, text="injected failure")
                return self._err(fault.errcode or -1, "injected")
        if request.path not in _TOKEN_PATHS:
            if request.query.get("access_token") not in self._valid_tokens:
                return self._err(40001, "invalid credential, access_token is invalid or not latest")
        return await handler(request)

    @staticmethod
    def _err(errcode: int, errmsg: str) -> web.Response:
        return web.json_response({"errcode": errcode, "errmsg": errmsg})

    @staticmethod
    def _ok(**extra: Any) -> web.Response:
        return web.json_response({"errcode": 0, "errmsg": "ok", **extra})

    def _issue(self, appid: str | None, secret: str | None) -> web.Response:
        if appid != self.app_id:
            return self._err(40013, "invalid appid")
        if secret != self.secret:
            return self._err(40125, "invalid appsecret")
        token = f"TOKEN-{len(self.tokens_issued) + 1}-{next(self._ids)}"
        self.tokens_issued.append(token)
        self._valid_tokens = {token}  # the previous one stops working, like WeChat
        return web.json_response({"access_token": token, "expires_in": self.expires_in})

    # ---- endpoints ---------------------------------------------------------

    async def _stable_token(self, request: web.Request) -> web.Response:
        body = request[_JSON] or {}
        if body.get("grant_type") != "client_credential":
            return self._err(40002, "invalid grant_type")
        return self._issue(body.get("appid"), body.get("secret"))

    async def _token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "client_credential":
            return self._err(40002, "invalid grant_type")
        return self._issue(q.get("appid"), q.get("secret"))

    async def _custom_send(self, request: web.Request) -> web.Response:
        body = request[_JSON] or {}
        openid, msgtype = body.get("touser"), body.get("msgtype")
        if not openid:
            return self._err(40003, "invalid openid")
        if openid in self.unreachable_cs:
            return self._err(45015, "response out of time limit or subscription is canceled")
        if msgtype == "text":
            content = (body.get("text") or {}).get("content")
            if not content:
                return self._err(44003, "empty content")
            self.delivered.append({"openid": openid, "kind": "text", "text": content})
        elif msgtype == "news":
            articles = (body.get("news") or {}).get("articles") or []
            if not articles:
                return self._err(44003, "empty news data")
            self.delivered.append({"openid": openid, "kind": "news", "articles": articles})
        else:
            return self._err(40008, "invalid message type")
        return self._ok()

    async def _template_send(self, request: web.Request) -> web.Response:
        body = request[_JSON] or {}
        openid, template_id = body.get("touser"), body.get("template_id")
        if not openid:
            return self._err(40003, "invalid openid")
        if not template_id:
            return self._err(40037, "invalid template_id")
        cmid = body.get("client_msg_id")
        if cmid and cmid in self._client_msg_ids:
            return self._ok(msgid=self._client_msg_ids[cmid])  # accepted, not delivered again
        msgid = next(self._ids)
        if cmid:
            self._client_msg_ids[cmid] = msgid
        self.delivered.append({"openid": openid, "kind": "template", "template_id": template_id,
                               "data": body.get("data") or {}, "url": body.get("url"),
                               "client_msg_id": cmid})
        return self._ok(msgid=msgid)

    async def _menu_create(self, request: web.Request) -> web.Response:
        body = request[_JSON] or {}
        if not body.get("button"):
            return self._err(40016, "invalid button size")
        self.menu = body["button"]
        return self._ok()

    async def _media_get(self, request: web.Request) -> web.Response:
        media_id = request.query.get("media_id", "")
        if not media_id:
            return self._err(40007, "invalid media_id")
        data, ctype = self.media.get(media_id, (JPEG_BYTES, "image/jpeg"))
        return web.Response(body=data, content_type=ctype,
                            headers={"Content-Disposition": f'attachment; filename="{media_id}.jpg"'})

    async def _qrcode_create(self, request: web.Request) -> web.Response:
        body = request[_JSON] or {}
        action = body.get("action_name")
        if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"):
            return self._err(40097, "invalid args")
        ticket = f"TICKET-{next(self._ids)}"
        out: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket}"}
        if "LIMIT" not in action:
            out["expire_seconds"] = body.get("expire_seconds", 60)
        return web.json_response(out)


@pytest.fixture
async def fake_wechat(aiohttp_server) -> FakeWeChat:  # noqa: ANN001
    """A FakeWeChat served on loopback for one test."""
    fake = FakeWeChat()
    await fake.attach(aiohttp_server)
    return fake
