"""The message writer's batch (bot/pipeline.py `_process`, `_run_batch`, `_observe`): promises that
mutation testing found untested (mutation/triage/pipeline-process.txt has the equivalent ones).

- nothing of a message is kept in memory once it is answered (issue 15): a re-send is answered by
  the database;
- on SQLite the writer's own rows and the handlers' prebuilt statements go straight to sqlite3 (the
  fast path), and `fast_rows = False` really sends them through SQLAlchemy (what the tests that
  compare both ways rely on);
- a duplicate whose dedup record is gone by the time its stored reply is read is not an error;
- the latency handed to the metrics is how long the message took."""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, delete, event, select, update
from sqlalchemy.exc import DBAPIError

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.db import prepared
from bot.core.types import Incoming, TransferReply
from bot.db.models import Dialogue, InboundMessage, Member, Outbox, Sequence
from bot.db.hotpath import Rows
from bot.pipeline import MAX_BATCH, TRANSFER_TOO_LATE
from tests.support.writer import incoming, path, recording_processor, says  # noqa: F401  (path: a fixture)

router = Router("pipeline-process-mutants")
RUNS: dict[str, int] = {}
_SEQ = Sequence.__table__
_GET = select(_SEQ.c.value).where(_SEQ.c.name == bindparam("name"))


@router.on(text_is("数一数"))
async def count(ctx: Ctx) -> str:
    RUNS[ctx.openid] = RUNS.get(ctx.openid, 0) + 1
    return f"第{RUNS[ctx.openid]}次"


@router.on(text_is("查一查"))
async def look_up(ctx: Ctx) -> str:
    found = await prepared.fetch(ctx.session, _GET, {"name": "pp:none"})
    return f"查到{len(found)}条"


SLOW = {"seconds": 0.75}


@router.on(text_is("慢一点"))
async def slow(ctx: Ctx) -> str:
    await asyncio.sleep(SLOW["seconds"])
    return "慢好了"


class _DriverError(Exception):
    """What asyncpg raises for a serialization failure (its SQLSTATE in `sqlstate`)."""

    sqlstate = "40001"


@router.on(text_is("撞车"))
async def serialization_failure(ctx: Ctx) -> str:
    RUNS[ctx.openid] = RUNS.get(ctx.openid, 0) + 1
    if RUNS[ctx.openid] == 1:
        raise DBAPIError("UPDATE sequence ...", {}, _DriverError("could not serialize access"))
    return f"第{RUNS[ctx.openid]}次成了"


@router.on(text_is("转人工慢"))
async def slow_transfer(ctx: Ctx) -> TransferReply:
    await asyncio.sleep(SLOW["seconds"])
    return TransferReply()


class _Deadlock(Exception):
    """What asyncpg raises for a deadlock: SQLSTATE 40P01, and the word "lock" in its text."""

    sqlstate = "40P01"


@pytest.fixture(autouse=True)
def _fresh_runs():  # noqa: ANN202
    RUNS.clear()
    yield
    RUNS.clear()


@pytest.fixture
async def proc(make_app, engine, path: str):  # noqa: ANN001
    async for processor in recording_processor(make_app, router, path):
        yield processor


def _through_sqlalchemy(processor: Any) -> list[str]:
    """The SQL that reaches a cursor through SQLAlchemy's engine (the fast path bypasses it)."""
    seen: list[str] = []
    engine = processor.sessionmaker.kw["bind"].sync_engine

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        seen.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", record)
    return seen


# --- _run_batch: nothing kept in memory once answered -------------------------------------------

async def test_an_answered_message_is_not_kept_in_memory_and_a_resend_is_answered_from_the_database(
        proc, engine) -> None:  # noqa: ANN001
    first = await proc.handle(incoming("oMem", "数一数"))
    assert says(first, "第1次")
    await proc.drain()
    assert not proc.inflight  # issue 15: the replies of the last 30 s were most of the heap
    assert says(await proc.handle(incoming("oMem", "数一数")), "第1次")  # the stored reply
    assert RUNS["oMem"] == 1
    # The dedup record gone (retention), the same message is new again: it is not answered from memory.
    async with proc.sessionmaker() as s, s.begin():
        await s.execute(delete(InboundMessage).where(InboundMessage.key == "t:oMem:1"))
    assert says(await proc.handle(incoming("oMem", "数一数")), "第2次")
    assert RUNS["oMem"] == 2


# --- _process: which way the batch's rows go (SQLite) ---------------------------------------------

async def test_on_sqlite_the_fast_path_keeps_the_writers_rows_and_prebuilt_statements_off_sqlalchemy(
        proc, backend: str, path: str) -> None:
    if backend != "sqlite" or path != "fast":
        pytest.skip("the fast path exists on SQLite only")
    seen = _through_sqlalchemy(proc)
    assert says(await proc.handle(incoming("oFast", "查一查")), "查到0条")
    assert says(await proc.handle(incoming("oFast", "数一数", 2)), "第1次")
    assert not [s for s in seen if "inbound_message" in s or "member" in s or "dialogue" in s], seen
    assert not [s for s in seen if "sequence" in s], seen  # the handler's prebuilt SELECT: sqlite3 too


async def test_with_fast_rows_off_the_writers_rows_go_through_sqlalchemy(proc, backend: str, path: str) -> None:
    if path != "core":
        pytest.skip("the SQLAlchemy path")
    seen = _through_sqlalchemy(proc)
    assert says(await proc.handle(incoming("oCore", "查一查")), "查到0条")
    assert [s for s in seen if s.startswith("insert into inbound_message")], seen
    assert [s for s in seen if "from inbound_message" in s or "update inbound_message" in s], seen
    assert [s for s in seen if "sequence" in s], seen


# --- _process: a duplicate whose record vanished ---------------------------------------------------

async def test_a_duplicate_whose_record_vanished_before_its_reply_was_read_is_not_an_error(
        proc, caplog) -> None:  # noqa: ANN001
    assert says(await proc.handle(incoming("oGone", "数一数")), "第1次")
    await proc.drain()
    claim = proc._claim

    async def claim_then_purge(rows, batch, now):  # noqa: ANN001, ANN202
        claimed = await claim(rows, batch, now)
        # Another process (retention) deletes the record between the claim and the read of it.
        await rows.conn.execute(delete(InboundMessage.__table__).where(InboundMessage.key == "t:oGone:1"))
        return claimed

    proc._claim = claim_then_purge
    caplog.set_level(logging.INFO, logger="unionbot.pipeline")
    reply = await proc.handle(incoming("oGone", "数一数"))
    assert reply is None  # `success`: what a delivery still being processed gets, not an apology
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert RUNS["oGone"] == 1


# --- _observe: the latency handed to the metrics ----------------------------------------------------

class _Latencies:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, float]] = []

    def handled(self, msg, outcome: str, seconds: float) -> None:  # noqa: ANN001
        self.seen.append((msg.dedup_key, outcome, seconds))


async def test_the_metrics_get_how_long_a_message_took(proc) -> None:  # noqa: ANN001
    observer = _Latencies()
    proc.observer = observer
    before = time.perf_counter()
    assert says(await proc.handle(incoming("oTime", "数一数")), "第1次")
    elapsed = time.perf_counter() - before
    [(key, outcome, seconds)] = observer.seen
    assert (key, outcome) == ("t:oTime:1", "ok")
    assert 0 <= seconds <= elapsed


# --- _process: the member row an event leaves ----------------------------------------------------

async def test_a_menu_click_opens_the_short_window_on_the_member_row(proc) -> None:  # noqa: ANN001
    click = Incoming(openid="oClick", kind="event", create_time=datetime.now(timezone.utc),
                     dedup_key="e:oClick:1", event="click", event_key="MENU_UNKNOWN")
    await proc.handle(click)
    view = Incoming(openid="oView", kind="event", create_time=datetime.now(timezone.utc),
                    dedup_key="e:oView:1", event="view", event_key="https://example.org/")
    await proc.handle(view)
    async with proc.sessionmaker() as s:
        rows = {m.openid: m for m in (await s.scalars(select(Member).where(
            Member.openid.in_(["oClick", "oView"])))).all()}
    # WeChat allows 3 messages within a minute after a click: the delivery counts them from here.
    assert rows["oClick"].evt_window_at is not None and rows["oClick"].evt_window_used == 0
    assert rows["oView"].evt_window_at is None  # a link opened in the menu opens no window


# --- _process: who is known to be slow, where batches run side by side ----------------------------

async def test_only_a_user_whose_last_handler_was_slow_gets_a_batch_of_their_own(proc) -> None:  # noqa: ANN001
    proc.max_batches = 4  # batches side by side, as on PostgreSQL (it is 4 there already)
    proc.stall_after = SLOW["seconds"] / 3  # generous both ways: quick handlers take far less
    assert says(await proc.handle(incoming("oQuick", "数一数", 1)), "第1次")
    assert says(await proc.handle(incoming("oSlowpoke", "慢一点", 1)), "慢好了")
    proc.batches.clear()
    replies = await asyncio.gather(proc.handle(incoming("oNew", "数一数", 1)),
                                   proc.handle(incoming("oQuick", "数一数", 2)),
                                   proc.handle(incoming("oSlowpoke", "数一数", 2)))
    assert [says(r, "第1次") or says(r, "第2次") for r in replies] == [True, True, True]
    assert sorted(sorted(b) for b in proc.batches) == [["oNew", "oQuick"], ["oSlowpoke"]], proc.batches


# --- _again: the log of a handler run again ---------------------------------------------------------

async def test_a_handler_run_again_after_a_serialization_failure_logs_what_it_hit(proc, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.INFO, logger="unionbot.pipeline")
    assert says(await proc.handle(incoming("oRetry", "撞车")), "第2次成了")
    [line] = [r.getMessage() for r in caplog.records if "running it again" in r.getMessage()]
    assert "t:oRetry:1" in line and "DBAPIError" in line, line


# --- _process: the delivery loop is woken for what a handler queued --------------------------------

@router.on(text_is("提醒我"))
async def remind(ctx: Ctx) -> str:
    await ctx.notify(ctx.openid, "这是提醒", key=f"remind:{ctx.openid}")
    return "好的"


async def test_a_handler_that_queues_a_message_wakes_the_delivery_loop_after_the_commit(proc) -> None:  # noqa: ANN001
    woken: list[int] = []
    proc.on_queued = lambda: woken.append(1)  # bot.app wires it to the delivery loop's wake()
    assert says(await proc.handle(incoming("oWake", "数一数", 1)), "第1次")
    assert woken == []  # nothing queued: nothing to wake for
    assert says(await proc.handle(incoming("oWake", "提醒我", 2)), "好的")  # answered in time: not detached
    assert woken == [1]


# --- _process: the outcome the metrics see ------------------------------------------------------

@router.on(text_is("坏掉"))
async def broken(ctx: Ctx) -> str:
    raise RuntimeError("boom")


async def test_the_metrics_count_a_failed_handler_as_an_error(proc) -> None:  # noqa: ANN001
    observer = _Latencies()
    proc.observer = observer
    await proc.handle(incoming("oBroke", "坏掉"))
    assert [(k, o) for k, o, _ in observer.seen] == [("t:oBroke:1", "error")]


# --- after the commit: the metrics or the wake-up failing keeps the stored reply -----------------

class _BrokenMetrics:
    def handled(self, msg, outcome: str, seconds: float) -> None:  # noqa: ANN001
        raise RuntimeError("metrics down")


async def test_a_failure_after_the_commit_still_answers_with_the_stored_reply(proc, caplog) -> None:  # noqa: ANN001
    """The reply is committed: the worker reads it, not the apology, even if the metrics or the
    delivery loop's wake-up raise afterwards (logged); a re-send is answered the same."""
    proc.observer = _BrokenMetrics()
    assert says(await proc.handle(incoming("oAfter", "数一数", 1)), "第1次")
    proc.observer = None

    def wake() -> None:
        raise RuntimeError("delivery gone")

    proc.on_queued = wake
    assert says(await proc.handle(incoming("oAfter", "提醒我", 2)), "好的")
    assert says(await proc.handle(incoming("oAfter", "提醒我", 2)), "好的")  # the re-send: the stored reply
    async with proc.sessionmaker() as s:
        assert [o.payload.get("text") for o in await s.scalars(select(Outbox).where(Outbox.openid == "oAfter"))] == ["这是提醒"]
    assert RUNS["oAfter"] == 1
    assert sum("after the commit" in r.getMessage() for r in caplog.records) == 2


# --- a transfer too late, a deadlock at the claim -----------------------------------------------

async def test_a_transfer_to_a_person_that_comes_too_late_tells_the_worker_to_send_again(proc) -> None:  # noqa: ANN001
    """Only a passive reply can hand a message to customer service: after the reply window the
    worker is told, through the outbox, to send the question again (it is never silently lost)."""
    proc.timeout = 0.2
    assert await proc.handle(incoming("oLateKf", "转人工慢")) is None  # the window passed
    await proc.drain()
    async with proc.sessionmaker() as s:
        rows = list(await s.scalars(select(Outbox).where(Outbox.openid == "oLateKf")))
    assert [r.payload.get("text") for r in rows] == [TRANSFER_TOO_LATE]


async def test_a_deadlock_while_claiming_the_message_runs_it_again(proc, monkeypatch) -> None:  # noqa: ANN001
    """「deadlock detected」 names a lock, but it is no lock timeout (another sender holding the
    message): the message is run again and answered, not dropped with `success`."""
    claim = Rows.claim
    hit = {"n": 0}

    async def deadlock_once(self, items, now):  # noqa: ANN001, ANN202
        hit["n"] += 1
        if hit["n"] == 1:
            raise DBAPIError("INSERT INTO inbound_message ...", {}, _Deadlock("deadlock detected"))
        return await claim(self, items, now)

    monkeypatch.setattr(Rows, "claim", deadlock_once)
    assert says(await proc.handle(incoming("oDeadlock", "数一数")), "第1次")
    assert hit["n"] == 2 and RUNS["oDeadlock"] == 1


# --- _dispatch: the note about a form kept too long ----------------------------------------------

async def test_an_expired_form_is_named_in_the_note(sim, clock) -> None:  # noqa: ANN001
    u = sim.user("oExpiredName")
    assert "哪方面" in await u.send("我要留言")
    clock.advance(hours=73)  # past the form's keeping time
    assert (await u.send("办公时间")).startswith("您之前未完成的留言已超过保留时间，已自动清除。\n")


async def test_a_form_that_asks_for_no_note_gets_none(sim, db, clock) -> None:  # noqa: ANN001
    """补充 keeps every piece as it comes (expired_note = ""): nothing to apologise for when it lapses."""
    u = sim.user("oExpiredQuiet")
    await expire_as(db, clock, u, "hardship_more:parts")
    assert "已超过保留时间" not in await u.send("办公时间")


async def expire_as(db, clock, u, state: str) -> None:  # noqa: ANN001
    """The user's dialogue in `state`, kept past its time."""
    assert "哪方面" in await u.send("我要留言")
    async with db() as s, s.begin():
        await s.execute(update(Dialogue).where(Dialogue.openid == u.openid).values(
            state=state, expires_at=clock.now() - timedelta(minutes=1), version=Dialogue.version + 1))


async def test_an_expired_dialogue_of_a_feature_gone_is_called_a_conversation(sim, db, clock) -> None:  # noqa: ANN001
    u = sim.user("oExpiredGone")
    await expire_as(db, clock, u, "retired_feature:step")  # a feature removed since
    assert (await u.send("办公时间")).startswith("您之前未完成的对话已超过保留时间，已自动清除。\n")


async def test_a_batch_holds_at_most_max_batch_messages(proc) -> None:  # noqa: ANN001
    """65 users at once: one batch of MAX_BATCH (64), the last one in the next (batch-semantics.md)."""
    proc.timeout = 60  # the batching is asserted, not the reply window (a busy machine may pass 4 s)
    replies = await asyncio.gather(*(proc.handle(incoming(f"oMany{i}", "数一数")) for i in range(MAX_BATCH + 1)))
    assert all(says(r, "第1次") for r in replies)
    assert [len(b) for b in proc.batches] == [MAX_BATCH, 1]
