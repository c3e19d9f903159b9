"""Operational endpoints: /healthz (liveness), /readyz (database reachable), /metrics (Prometheus).

`add_ops_routes(app)` mounts them on the app built by `bot.app.create_app` and attaches a
per-app `Metrics` to the Processor (as its observer) and to the delivery loop (as `.metrics`).
It is idempotent: calling it twice on one app keeps the first set.

Who may read what: /healthz is public and says only `{"status": "ok"}`; /readyz is public
with its status code and `status`, and gives details (which part failed) to trusted callers
only; /metrics answers trusted callers only (403 otherwise). Trusted: a loopback caller whose
request came through no proxy (no X-Forwarded-For / Forwarded / X-Real-IP header — behind
nginx every request would otherwise come from 127.0.0.1), or any caller sending
`Authorization: Bearer <[server] metrics_token>`.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from bot.keys import DELIVERY, ENGINE, PROCESSOR, SESSIONMAKER, SETTINGS
from bot.metrics import Metrics

log = logging.getLogger("unionbot.ops")

METRICS = web.AppKey("metrics", Metrics)
READY_TIMEOUT = 2.0


PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def trusted(request: web.Request) -> bool:
    """A caller allowed the metrics and health details (see the module's docstring)."""
    settings = request.app.get(SETTINGS)
    token = getattr(getattr(settings, "server", None), "metrics_token", "") or ""
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return True
    if any(h in request.headers for h in PROXY_HEADERS):
        return False
    return _loopback(request.remote)


def _has_route(app: web.Application, path: str) -> bool:
    return any(getattr(r, "canonical", None) == path for r in app.router.resources())


def add_ops_routes(app: web.Application, metrics: Metrics | None = None) -> Metrics:

    if METRICS in app:
        return app[METRICS]
    metrics = metrics or Metrics()
    app[METRICS] = metrics
    processor = app.get(PROCESSOR)
    if processor is not None and getattr(processor, "observer", None) is None:
        processor.observer = metrics
    delivery = app.get(DELIVERY)
    if delivery is not None and getattr(delivery, "metrics", None) is None:
        try:
            delivery.metrics = metrics
        except AttributeError:  # a delivery class with __slots__: leave it unobserved
            pass

    async def healthz(_request: web.Request) -> web.Response:
        """The process is up and its event loop answers; no database involved."""
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        """Ready to take traffic: the database answers `SELECT 1` within two seconds."""
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                async with request.app[ENGINE].connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            log.warning("readyz: database unreachable: %r", exc)
            body = {"status": "unavailable", "database": type(exc).__name__} if trusted(request) else \
                {"status": "unavailable"}
            return web.json_response(body, status=503)
        return web.json_response({"status": "ok", "database": "ok"} if trusted(request) else {"status": "ok"})

    async def metrics_view(request: web.Request) -> web.Response:
        if not trusted(request):
            return web.json_response({"error": "forbidden: metrics answer loopback or a Bearer metrics_token"},
                                     status=403)
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await metrics.refresh_backlog(request.app[SESSIONMAKER])
        except Exception as exc:  # noqa: BLE001 - scraping must work while the database is down
            log.warning("metrics: outbox backlog not refreshed: %r", exc)
        resp = web.Response(body=metrics.exposition())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    if not _has_route(app, "/healthz"):
        app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return metrics
