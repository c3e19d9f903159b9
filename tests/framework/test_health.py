"""Operations endpoints as an operator sees them: liveness, readiness, Prometheus metrics, logs."""
from __future__ import annotations

import asyncio
import json
import logging

from prometheus_client.parser import text_string_to_metric_families

from bot import outbox
from sqlalchemy.engine import make_url

import bot.db.models  # noqa: F401
from bot.app import create_app
from bot.db.base import Base
from bot.db.engine import make_engine
from bot.metrics import JsonFormatter, KeyValueFormatter
from bot.health import add_ops_routes
from tests.support.db import PG_URL


def samples(body: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_healthz_and_readyz(client) -> None:  # noqa: ANN001
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json())["status"] == "ok"
    r = await client.get("/readyz")
    assert r.status == 200 and (await r.json())["database"] == "ok"


class Proxy:
    """A loopback TCP proxy we can cut, to make PostgreSQL unreachable for a running app."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.conns: list[asyncio.StreamWriter] = []
        self.up = True

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer) -> None:  # noqa: ANN001
        if not self.up:
            writer.close()
            return
        r2, w2 = await asyncio.open_connection(*self.target)
        self.conns += [writer, w2]

        async def pipe(a, b) -> None:  # noqa: ANN001
            try:
                while data := await a.read(65536):
                    b.write(data)
                    await b.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                b.close()

        await asyncio.gather(pipe(reader, w2), pipe(r2, writer))

    def cut(self) -> None:
        self.up = False
        for w in self.conns:
            w.close()
        self.conns.clear()

    def restore(self) -> None:
        self.up = True


async def test_readyz_is_503_when_the_database_is_unreachable(aiohttp_client, backend, db_url, settings, clock,
                                                              tmp_path) -> None:  # noqa: ANN001
    """The service keeps answering /healthz; /readyz says 503 while the database is gone, 200 once back."""
    proxy = None
    if backend == "sqlite":
        dbdir = tmp_path / "dbdir"
        eng = make_engine(f"sqlite+aiosqlite:///{dbdir}/ops.db")
    else:
        url = make_url(PG_URL)
        proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
        port = await proxy.start()
        schema = db_url.partition("unionbot_schema=")[2]
        eng = make_engine(url.set(port=port).render_as_string(hide_password=False),
                          connect_args={"server_settings": {"search_path": schema}})
    async with eng.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    app = create_app(settings, clock=clock, engine=eng, background=False)
    client = await aiohttp_client(app)
    assert (await client.get("/readyz")).status == 200

    if proxy is None:  # the disk holding the database goes away
        await eng.dispose()
        dbdir.rename(tmp_path / "moved")
    else:  # the network to PostgreSQL goes away
        proxy.cut()
    r = await client.get("/readyz")
    assert r.status == 503 and (await r.json())["status"] == "unavailable"
    assert (await client.get("/healthz")).status == 200  # alive, just not ready
    r = await client.get("/metrics")  # scraping still works without the database
    assert r.status == 200 and "unionbot_messages_handled" in await r.text()

    if proxy is None:
        (tmp_path / "moved").rename(dbdir)
    else:
        proxy.restore()
    assert (await client.get("/readyz")).status == 200


async def test_metrics_count_messages_latency_and_backlog(client, sim, db) -> None:  # noqa: ANN001
    u = sim.user("oOps1")
    assert await u.send("菜单")
    assert await u.send("帮助")
    await u.follow()
    async with db() as s, s.begin():
        await outbox.enqueue(s, key="ops:1", openid="oOps1", now=sim.clock.now(), text="你好")
    r = await client.get("/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    m = samples(await r.text())
    assert m[("unionbot_messages_handled_total", (("kind", "text"), ("outcome", "ok")))] == 2
    assert m[("unionbot_messages_handled_total", (("kind", "event"), ("outcome", "ok")))] == 1
    assert m[("unionbot_handler_seconds_count", (("kind", "text"),))] == 2
    assert m[("unionbot_outbox_backlog", ())] >= 1


async def test_two_apps_keep_separate_metrics(client, make_app) -> None:  # noqa: ANN001
    other = make_app()
    m1 = add_ops_routes(other)
    assert add_ops_routes(other) is m1  # idempotent
    assert m1 is not client.app[__import__("bot.health", fromlist=["METRICS"]).METRICS]


def test_json_log_lines_carry_the_message_key() -> None:
    rec = logging.LogRecord("unionbot.pipeline", logging.ERROR, __file__, 1, "handler failed for %s", ("m:1",), None)
    rec.key = "m:1"
    line = json.loads(JsonFormatter().format(rec))
    assert line["key"] == "m:1" and line["level"] == "error" and line["msg"] == "handler failed for m:1"
    assert "key=m:1" in KeyValueFormatter().format(rec)
