"""A small async client for the WeChat official-account API, on aiohttp.

Written here rather than using wechatpy's client: that one is synchronous,
recurses without bound on token errors and has no cross-process lock.

One access token serves the whole deployment. It lives in the `access_token`
row keyed by app id, is refreshed under a lock (an asyncio.Lock in the process
plus the row lock in the database) before it expires, and on a token error it
is expired only if it is still the token that failed, then refreshed and the
call retried once.

Call it outside an open database session: the token lives in the database, and
the embedded SQLite engine has a single connection (a caller holding it while
the client waits for it would stall until the pool timeout). A refresh holds
that connection (or, on PostgreSQL, the row lock) for the one token request.
"""
from __future__ import annotations

import asyncio
import json as jsonlib
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import WeChatSettings
from bot.db.models import AccessToken

log = logging.getLogger("unionbot.wechat.api")

# WeChat answers these when the access token is invalid, malformed or expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# A token with less than this left is refreshed before use.
REFRESH_MARGIN = timedelta(minutes=5)
REQUEST_TIMEOUT = 10.0
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class WeChatError(Exception):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def retryable(self) -> bool:
        return self.errcode == -1  # "system busy"


class TransportError(WeChatError):
    """HTTP error status, network failure, timeout or a garbled answer."""

    def __init__(self, errmsg: str, status: int | None = None) -> None:
        super().__init__(-1, errmsg)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429 or self.status < 400


class WeChatAPI:
    def __init__(
        self,
        settings: WeChatSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        http: aiohttp.ClientSession | None = None,
        *,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.base_url = settings.api_base_url.rstrip("/")
        self._http = http
        self._own_http = http is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._lock = asyncio.Lock()
        # In-memory copy of the stored token: (token, expires_at).
        self._cached: tuple[str, datetime] | None = None

    async def close(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.close()
        self._http = None

    # ---- access token ------------------------------------------------------

    def _fresh(self, token: str, expires_at: datetime) -> bool:
        return bool(token) and expires_at - self.clock.now() > REFRESH_MARGIN

    async def token(self) -> str:
        """The deployment's access token, refreshed first if it is about to expire."""
        if self._cached and self._fresh(*self._cached):
            return self._cached[0]
        async with self.sessionmaker() as s:
            row = await s.get(AccessToken, self.settings.app_id)
            if row is not None and self._fresh(row.token, row.expires_at):
                self._cached = (row.token, row.expires_at)
                return row.token
        async with self._lock:
            return await self._refresh()

    async def _refresh(self) -> str:
        app_id = self.settings.app_id
        async with self.sessionmaker() as s, s.begin():
            # Make sure the row exists, then lock it: FOR UPDATE on PostgreSQL;
            # on SQLite the insert already holds the database write lock.
            await s.execute(_insert_ignore(s, app_id, self.clock.now()))
            row = (await s.execute(
                select(AccessToken).where(AccessToken.app_id == app_id)
                .with_for_update().execution_options(populate_existing=True)
            )).scalar_one()
            if self._fresh(row.token, row.expires_at):  # another worker refreshed meanwhile
                self._cached = (row.token, row.expires_at)
                return row.token
            # A token whose expiry equals its refresh time was rejected by WeChat
            # (see `_expire`): ask for a new one even though WeChat thinks it valid.
            force = bool(row.token) and row.expires_at <= row.refreshed_at
            data, _ = await self._request("POST", "/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": app_id,
                "secret": self.settings.app_secret, "force_refresh": force,
            })
            _check(data)
            try:
                token, expires_in = str(data["access_token"]), int(data["expires_in"])
            except (KeyError, TypeError, ValueError):
                raise TransportError(f"unexpected token answer: {data!r}"[:200]) from None
            now = self.clock.now()
            row.token, row.refreshed_at = token, now
            row.expires_at = now + timedelta(seconds=expires_in)
            self._cached = (token, row.expires_at)
            log.info("access token refreshed for %s (forced=%s), valid %ss", app_id, force, expires_in)
            return token

    async def _expire(self, failed: str) -> None:
        """Expire the stored token, but only if it is still the one that failed."""
        if self._cached and self._cached[0] == failed:
            self._cached = None
        async with self.sessionmaker() as s, s.begin():
            await s.execute(
                update(AccessToken)
                .where(AccessToken.app_id == self.settings.app_id, AccessToken.token == failed)
                .values(expires_at=AccessToken.refreshed_at)
                .execution_options(synchronize_session=False)
            )

    # ---- calls ---------------------------------------------------------------

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                   json: Any = None) -> dict[str, Any]:
        """Call `path` with the access token; returns the JSON or raises WeChatError."""
        data, _ = await self._authed(method, path, params=params, json=json, binary=False)
        assert isinstance(data, dict)
        return data

    async def _authed(self, method: str, path: str, *, params: dict[str, Any] | None, json: Any,
                      binary: bool) -> tuple[dict[str, Any] | bytes, str]:
        """A call with the access token: on a token error, refresh and retry once (never more)."""
        token = await self.token()
        data, ctype = await self._request(method, path, params={**(params or {}), "access_token": token},
                                          json=json, binary=binary)
        if isinstance(data, dict) and _errcode(data) in TOKEN_ERRORS:
            log.warning("access token rejected (%s) on %s; refreshing once", data.get("errcode"), path)
            await self._expire(token)
            token = await self.token()
            data, ctype = await self._request(method, path, params={**(params or {}), "access_token": token},
                                              json=json, binary=binary)
        if isinstance(data, dict):
            _check(data)
        return data, ctype

    async def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                       json: Any = None, binary: bool = False) -> tuple[dict[str, Any] | bytes, str]:
        """One HTTP request. Returns (JSON dict, content type), or (bytes, content type)
        for a non-JSON answer when `binary`; raises TransportError on HTTP/network trouble."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
            self._own_http = True
        body = None
        headers = {}
        if json is not None:
            # WeChat wants raw UTF-8, not \u escapes (they show up literally in menus).
            body = jsonlib.dumps(json, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            async with self._http.request(method, self.base_url + path, params=params, data=body,
                                          headers=headers, timeout=self._timeout) as resp:
                raw = await resp.read()
                ctype = resp.content_type or ""
                status = resp.status
        except asyncio.TimeoutError:
            raise TransportError(f"timeout on {path}") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"{type(exc).__name__} on {path}: {exc}") from None
        if status >= 400:
            raise TransportError(f"HTTP {status} on {path}", status=status)
        if binary and ctype not in ("application/json", "text/plain", "text/json"):
            return raw, ctype
        try:
            data = jsonlib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise TransportError(f"non-JSON answer on {path}", status=status) from None
        if not isinstance(data, dict):
            raise TransportError(f"unexpected answer on {path}", status=status)
        return data, ctype

    # ---- endpoints -----------------------------------------------------------

    async def send_text(self, openid: str, text: str) -> dict[str, Any]:
        return await self.call("POST", "/cgi-bin/message/custom/send",
                               json={"touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_news(self, openid: str, articles: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.call("POST", "/cgi-bin/message/custom/send",
                               json={"touser": openid, "msgtype": "news", "news": {"articles": articles}})

    async def send_template(self, openid: str, template_id: str, data: dict[str, Any], client_msg_id: str,
                            url: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "touser": openid, "template_id": template_id, "client_msg_id": client_msg_id,
            # WeChat wants {"field": {"value": "..."}}; plain values are wrapped.
            "data": {k: v if isinstance(v, dict) else {"value": str(v)} for k, v in data.items()},
        }
        if url:
            body["url"] = url
        return await self.call("POST", "/cgi-bin/message/template/send", json=body)

    async def create_menu(self, buttons: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.call("POST", "/cgi-bin/menu/create", json={"button": buttons})

    async def get_media(self, media_id: str) -> tuple[bytes, str]:
        payload, ctype = await self._authed("GET", "/cgi-bin/media/get", params={"media_id": media_id},
                                            json=None, binary=True)
        if not isinstance(payload, bytes):  # JSON with errcode 0 but no media
            raise WeChatError(40007, f"no media in answer: {payload!r}"[:200])
        return payload, ctype

    async def create_qrcode(self, scene_str: str, expire_seconds: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene_str}}}
        if expire_seconds is None:
            body["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            body["action_name"] = "QR_STR_SCENE"
            body["expire_seconds"] = int(expire_seconds)
        return await self.call("POST", "/cgi-bin/qrcode/create", json=body)


def _errcode(data: dict[str, Any]) -> int:
    try:
        return int(data.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


def _check(data: dict[str, Any]) -> None:
    code = _errcode(data)
    if code != 0:
        raise WeChatError(code, str(data.get("errmsg", "")))


def _insert_ignore(session: AsyncSession, app_id: str, now: datetime):  # noqa: ANN202
    """INSERT the token row unless it exists (dialect-specific ON CONFLICT DO NOTHING)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database: {name}")
    return insert(AccessToken).values(app_id=app_id, token="", expires_at=_EPOCH,
                                      refreshed_at=_EPOCH).on_conflict_do_nothing(index_elements=["app_id"])
