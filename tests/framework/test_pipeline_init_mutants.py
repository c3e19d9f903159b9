"""The message writer as it is built (bot/pipeline.py `Processor.__init__`), its claim's lock waits
(`_lock_wait`) and the purpose of a late "send it again": promises that mutation testing found
untested (mutation/report-pipeline.txt).

- what the constructor is given is used: the delivery loop's wake-up, the metrics, and no services
  at all still gives the handlers an empty dict;
- built by default on SQLite the writer runs one batch at a time (a slow handler holds everyone),
  on PostgreSQL batches run side by side (a user known to be slow holds nobody else); on SQLite it
  writes its rows straight to sqlite3 (the fast path);
- a claim that waits too long for the message's key (PostgreSQL's lock_timeout under either driver's
  spelling of its SQLSTATE, SQLite's busy timeout) answers `success` and stores nothing, so WeChat's
  re-send is processed; any other database error at the claim gets the apology;
- the "too late to transfer" message reads 消息回复 to staff when it cannot be delivered."""
from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError

from bot.admin.home import purpose_labels
from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.core.types import Incoming, TransferReply
from bot.db.hotpath import Rows
from bot.db.models import InboundMessage, Outbox
from bot.keys import PROCESSOR, SESSIONMAKER
from bot.pipeline import APOLOGY, TRANSFER_TOO_LATE, Processor
from tests.support.writer import incoming, says

router = Router("pipeline-init-mutants")
RUNS: dict[str, int] = {}
EVENTS: list[str] = []
SLOW = 1.0  # seconds the slow handlers take; every quick step here takes far less


@router.on(text_is("点一点"))
async def count(ctx: Ctx) -> str:
    RUNS[ctx.openid] = RUNS.get(ctx.openid, 0) + 1
    return f"第{RUNS[ctx.openid]}次"


@router.on(text_is("慢慢来"))
async def slow(ctx: Ctx) -> str:
    await asyncio.sleep(SLOW)
    EVENTS.append(f"{ctx.openid} handled")
    return "慢慢好了"


@router.on(text_is("转人工迟"))
async def slow_transfer(ctx: Ctx) -> TransferReply:
    await asyncio.sleep(SLOW)
    return TransferReply()


@router.on(text_is("记着提醒"))
async def remind(ctx: Ctx) -> str:
    await ctx.notify(ctx.openid, "这是提醒", key=f"remind:{ctx.openid}")
    return "记下了"


@router.on(text_is("看服务"))
async def services(ctx: Ctx) -> str:
    return "接口在线" if ctx.services.get("api_available") else "接口离线"


@pytest.fixture(autouse=True)
def _fresh():  # noqa: ANN202
    RUNS.clear()
    EVENTS.clear()
    yield
    RUNS.clear()
    EVENTS.clear()


@pytest.fixture
def built() -> list[Processor]:
    """Every writer a test built (closed at its end)."""
    return []


@pytest.fixture
async def app(make_app, engine, built: list[Processor]):  # noqa: ANN001
    """The app with this module's router; its writer as built by default is app[PROCESSOR]."""
    app = make_app(extra_routers=[router])
    built.append(app[PROCESSOR])
    yield app
    for p in built:
        await asyncio.wait_for(p.close(), 30)  # bounded: a broken writer must not hang the run
    await app[SESSIONMAKER].kw["bind"].dispose()


@pytest.fixture
def build(app, built: list[Processor]):  # noqa: ANN001
    """A Processor built through its constructor, like bot.app does, from the app's own parts."""
    def make(**kwargs: Any) -> Processor:
        p = app[PROCESSOR]
        processor = Processor(p.settings, p.sessionmaker, p.dispatcher, p.render, p.clock, **kwargs)
        built.append(processor)
        return processor
    return make


# --- __init__: what the constructor is given is used -----------------------------------------------

async def test_the_wake_up_given_to_the_constructor_is_called_once_a_handler_queued_a_message(build) -> None:  # noqa: ANN001
    woken: list[int] = []
    proc = build(services={}, on_queued=lambda: woken.append(1))  # bot.app passes delivery.wake
    assert says(await proc.handle(incoming("oInitWake", "点一点", 1)), "第1次")
    assert woken == []  # nothing queued: nothing to wake for
    assert says(await proc.handle(incoming("oInitWake", "记着提醒", 2)), "记下了")
    assert woken == [1]  # the reminder goes out now, not at the delivery loop's next poll


class _Seen:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def handled(self, msg: Incoming, outcome: str, seconds: float) -> None:
        self.seen.append((msg.dedup_key, outcome))


async def test_the_metrics_given_to_the_constructor_see_every_message(build) -> None:  # noqa: ANN001
    metrics = _Seen()
    proc = build(services={}, observer=metrics)
    assert says(await proc.handle(incoming("oInitSeen", "点一点", 1)), "第1次")
    assert metrics.seen == [("t:oInitSeen:1", "ok")]


async def test_a_writer_built_without_services_gives_the_handlers_an_empty_dict(build) -> None:  # noqa: ANN001
    proc = build()  # no services: the handlers still read ctx.services like a dict
    reply = await proc.handle(incoming("oInitSvc", "看服务"))
    assert says(reply, "接口离线"), reply
    assert not says(reply, APOLOGY)


# --- __init__: one batch at a time on SQLite, side by side on PostgreSQL ---------------------------

async def test_a_user_known_to_be_slow_holds_the_others_on_sqlite_only(app, backend: str) -> None:  # noqa: ANN001
    """Built by default. On SQLite (one connection) the writer runs one batch at a time, so another
    user's quick message sent together with a slow one is answered only once the slow handler has
    finished. On PostgreSQL a user whose last handler was slow gets a batch of their own and the
    quick message is answered meanwhile."""
    proc = app[PROCESSOR]
    assert says(await proc.handle(incoming("oSlowUser", "慢慢来", 1)), "慢慢好了")  # now known to be slow
    EVENTS.clear()

    async def send(m: Incoming) -> bytes | None:
        reply = await proc.handle(m)
        EVENTS.append(f"{m.openid} answered")
        return reply

    quick, slow_reply = await asyncio.gather(send(incoming("oQuickUser", "点一点", 1)),
                                             send(incoming("oSlowUser", "慢慢来", 2)))
    assert says(quick, "第1次") and says(slow_reply, "慢慢好了")
    if backend == "sqlite":
        assert EVENTS.index("oSlowUser handled") < EVENTS.index("oQuickUser answered"), EVENTS
    else:
        assert EVENTS.index("oQuickUser answered") < EVENTS.index("oSlowUser handled"), EVENTS


# --- __init__: the fast path on SQLite ---------------------------------------------------------------

async def test_on_sqlite_a_writer_built_by_default_keeps_its_rows_off_sqlalchemy(app, backend: str) -> None:  # noqa: ANN001
    """The writer's own rows (dedup record, member, dialogue) go straight to sqlite3: nothing of
    them reaches SQLAlchemy's engine (its echo log, its events)."""
    if backend != "sqlite":
        pytest.skip("the fast path exists on SQLite only")
    proc = app[PROCESSOR]
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        seen.append(" ".join(statement.split()).lower())

    event.listen(proc.sessionmaker.kw["bind"].sync_engine, "before_cursor_execute", record)
    assert says(await proc.handle(incoming("oInitFast", "点一点", 1)), "第1次")
    assert says(await proc.handle(incoming("oInitFast", "点一点", 1)), "第1次")  # the re-send: the stored reply
    assert not [s for s in seen if "inbound_message" in s or "member" in s or "dialogue" in s], seen


# --- _queue_late_reply: what staff read for a transfer too late ------------------------------------

async def test_a_transfer_too_late_is_labelled_as_a_reply_for_staff(app) -> None:  # noqa: ANN001
    proc = app[PROCESSOR]
    proc.timeout = 0.2
    assert await proc.handle(incoming("oInitLateKf", "转人工迟")) is None  # the window passed
    await proc.drain()
    async with proc.sessionmaker() as s:
        rows = list(await s.scalars(select(Outbox).where(Outbox.openid == "oInitLateKf")))
    assert [r.payload.get("text") for r in rows] == [TRANSFER_TOO_LATE]
    labels = purpose_labels([])  # what the staff pages show for a message that could not be delivered
    assert [labels.get(r.purpose, r.purpose or "消息") for r in rows] == ["消息回复"]


# --- _claim / _lock_wait: a claim that waited too long, or failed otherwise --------------------------

class _SqlState(Exception):
    """asyncpg's way: the SQLSTATE in `sqlstate`."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.sqlstate = code


class _PgCode(Exception):
    """psycopg's way: the SQLSTATE in `pgcode`."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.pgcode = code


def _claim_fails_once(monkeypatch, orig: Exception, raw: bool = False) -> dict[str, int]:  # noqa: ANN001
    """The claim fails once with `orig`, as SQLAlchemy raises it (a DBAPIError) or, `raw`, as the
    SQLite fast path's own sqlite3 connection does."""
    claim = Rows.claim
    hit = {"n": 0}

    async def fail_once(self, items, now):  # noqa: ANN001, ANN202
        hit["n"] += 1
        if hit["n"] == 1:
            raise orig if raw else DBAPIError("INSERT INTO inbound_message ...", {}, orig)
        return await claim(self, items, now)

    monkeypatch.setattr(Rows, "claim", fail_once)
    return hit


async def _stored(proc: Processor, key: str) -> InboundMessage | None:
    async with proc.sessionmaker() as s:
        return await s.get(InboundMessage, key)


@pytest.mark.parametrize("orig", [
    _SqlState("canceling statement due to lock timeout", "55P03"),
    _PgCode("canceling statement due to lock timeout", "55P03"),
    # SQLite's busy timeout as SQLAlchemy raises it (the CoreRows path) and as the fast path's own
    # sqlite3 connection raises it (no DBAPIError: it once got the apology)
    sqlite3.OperationalError("database is locked"),
    sqlite3.OperationalError("database is locked"),
], ids=["sqlstate", "pgcode", "sqlite-busy", "sqlite-busy-fast-path"])
async def test_a_claim_that_waited_too_long_answers_success_and_the_resend_is_processed(
        app, monkeypatch, orig: Exception, request) -> None:  # noqa: ANN001
    """Another process holds the message (or the database): WeChat gets `success`, nothing is stored
    and the handler did not run, so WeChat's re-send is processed as new — no apology anywhere."""
    proc = app[PROCESSOR]
    hit = _claim_fails_once(monkeypatch, orig, raw=request.node.callspec.id.endswith("fast-path"))
    assert await proc.handle(incoming("oInitWait", "点一点")) is None
    assert RUNS.get("oInitWait", 0) == 0
    assert await _stored(proc, "t:oInitWait:1") is None  # no apology stored for the re-send
    assert says(await proc.handle(incoming("oInitWait", "点一点")), "第1次")  # the re-send
    assert hit["n"] == 2 and RUNS["oInitWait"] == 1


async def test_any_other_database_error_at_the_claim_gets_the_apology(app, monkeypatch) -> None:  # noqa: ANN001
    proc = app[PROCESSOR]
    hit = _claim_fails_once(monkeypatch, sqlite3.OperationalError("disk I/O error"))
    reply = await proc.handle(incoming("oInitIO", "点一点"))
    assert says(reply, APOLOGY), reply
    assert RUNS.get("oInitIO", 0) == 0  # the handler did not run
    assert says(await proc.handle(incoming("oInitIO", "点一点")), APOLOGY)  # the re-send: the stored apology
    assert hit["n"] == 2 and RUNS.get("oInitIO", 0) == 0
