"""Operational endpoints: /healthz (liveness), /readyz (database reachable), /metrics (Prometheus).

`add_ops_routes(app)` mounts them on the app built by `bot.app.create_app` and attaches a
per-app `Metrics` to the Processor (as its observer) and to the delivery loop (as `.metrics`).
It is idempotent: calling it twice on one app keeps the first set.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from bot.keys import DELIVERY, ENGINE, PROCESSOR, SESSIONMAKER
from bot.metrics import Metrics

log = logging.getLogger("unionbot.ops")

METRICS = web.AppKey("metrics", Metrics)
READY_TIMEOUT = 2.0


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
            return web.json_response({"status": "unavailable", "database": type(exc).__name__}, status=503)
        return web.json_response({"status": "ok", "database": "ok"})

    async def metrics_view(request: web.Request) -> web.Response:
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
