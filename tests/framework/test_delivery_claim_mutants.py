"""Delivery's promises that mutation testing found untested (group `outbox`, Delivery._claim,
Delivery._record, Delivery.run_once): how many rows one pass takes, in which order rows are taken,
when a dead sender's expired claim is taken over (and how often one is looked for), what a sent
row keeps of an earlier failure, and how writing results rides out a database that fails for a
moment (retries, the pauses between them, what the operator reads) or for good."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import event, text, update
from sqlalchemy.exc import OperationalError

import bot.delivery as delivery_module
from bot.db.models import Outbox
from bot.outbox import enqueue
from bot.wechat.api import WeChatAPI
from tests.framework.test_delivery import HOUR, NOTICE, World, _crash_mid_send


@pytest.fixture
async def world(fake_wechat, sessionmaker, clock, db_url):  # noqa: ANN001, ANN201
    w = World(fake_wechat, sessionmaker, clock, db_url)
    yield w
    await w.close()


async def _templates_of_dead_senders(world: World, n: int) -> None:
    """n people each with a template notice whose sender died mid-send a minute ago (claims run out)."""
    for i in range(n):
        await world.enqueue(f"dead{i}", f"oD{i}", text=None, template=NOTICE)
        await _crash_mid_send(world, f"dead{i}", via="template")
    world.clock.advance(seconds=61)


def _template_keys(world: World) -> list[str]:
    return [d["client_msg_id"] for d in world.fake.delivered if d["kind"] == "template"]


# ---- how many rows a pass takes ------------------------------------------------------------


async def test_a_pass_without_a_limit_takes_at_most_two_hundred_rows(world):  # noqa: ANN001
    async with world.sessionmaker() as s, s.begin():
        for i in range(201):
            await enqueue(s, key=f"k{i:03}", openid=f"o{i}", now=world.clock.now(), text="通知")
    delivery = world.delivery(offline=True, concurrency=100)
    assert await delivery.run_once() == 200
    statuses = await world.statuses()
    assert sorted(statuses.values()) == ["pending"] + ["simulated"] * 200
    assert statuses["k200"] == "pending"  # the last queued waits for the next pass
    assert await delivery.run_once() == 1


async def test_a_pass_takes_no_more_expired_claims_than_its_limit(world):  # noqa: ANN001
    await _templates_of_dead_senders(world, 3)
    delivery = world.delivery()
    assert await delivery.run_once(2) == 2
    statuses = await world.statuses()
    assert sorted(statuses.values()) == ["sending", "sent", "sent"]
    assert len(world.fake.delivered) == 2
    assert await world.delivery().run_once(2) == 1
    assert sorted(_template_keys(world)) == ["dead0", "dead1", "dead2"]


async def test_expired_claims_and_new_rows_together_stay_within_the_limit(world):  # noqa: ANN001
    await _templates_of_dead_senders(world, 1)
    for i in range(3):
        await world.enqueue(f"new{i}", f"oN{i}", text=None, template=NOTICE)
    assert await world.delivery().run_once(2) == 2
    statuses = await world.statuses()
    assert statuses == {"dead0": "sent", "new0": "sent", "new1": "pending", "new2": "pending"}
    assert sorted(_template_keys(world)) == ["dead0", "new0"]


async def test_expired_claims_filling_more_than_a_batch_are_all_taken_in_one_pass(world):  # noqa: ANN001
    await _templates_of_dead_senders(world, 3)
    delivery = world.delivery(concurrency=2)  # claims are taken two at a time
    assert await delivery.run_once() == 3
    assert await world.statuses() == {"dead0": "sent", "dead1": "sent", "dead2": "sent"}
    assert sorted(_template_keys(world)) == ["dead0", "dead1", "dead2"]


# ---- the order rows are taken in -----------------------------------------------------------


async def test_rows_are_taken_in_the_order_they_fall_due_not_the_order_they_were_written(world):  # noqa: ANN001
    await world.enqueue("retry", "oB", text=None, template=NOTICE)
    world.fake.fail_next("/template/send", errcode=-1)  # system busy: tried again 2 s later
    await world.delivery(backoff_base=2.0).run_once()
    retry = await world.row("retry")
    assert retry.status == "pending" and retry.next_attempt_at == world.clock.now() + timedelta(seconds=2)
    world.clock.advance(seconds=1)
    await world.enqueue("fresh", "oA", text=None, template=NOTICE)  # due at once: before the retry
    world.clock.advance(seconds=2)  # both are due now
    async with world.sessionmaker() as s, s.begin():
        # The table's statistics are current, as autovacuum keeps them on a live database: with
        # them, PostgreSQL reads a short queue straight through the table rather than the index.
        await s.execute(text("ANALYZE outbox"))
    await world.delivery(concurrency=1).run_once()  # one at a time: sent in the order taken
    assert _template_keys(world) == ["fresh", "retry"]


# ---- expired claims: when and how often ----------------------------------------------------


async def test_a_claim_runs_out_only_after_its_full_minute(world):  # noqa: ANN001
    await world.enqueue("k1", "oW", text=None, template=NOTICE)
    await _crash_mid_send(world, "k1", via="template")  # claimed for 60 s from now
    world.clock.advance(seconds=60)
    assert await world.delivery().run_once() == 0
    assert (await world.row("k1")).status == "sending"
    assert world.fake.delivered == []
    world.clock.advance(microseconds=1)
    assert await world.delivery().run_once() == 1
    assert (await world.row("k1")).status == "sent"
    assert _template_keys(world) == ["k1"]


async def test_expired_claims_are_looked_for_every_five_seconds(world):  # noqa: ANN001
    await world.enqueue("k1", "oW", text=None, template=NOTICE)
    async with world.sessionmaker() as s, s.begin():  # a dead sender's claim, running out in half a second
        await s.execute(update(Outbox).where(Outbox.key == "k1").values(
            status="sending", via="template", claimed_until=world.clock.now() + timedelta(seconds=0.5)))
    delivery = world.delivery()
    assert await delivery.run_once() == 0  # looked: nothing has run out yet
    world.clock.advance(seconds=1)  # the claim has run out, but the last look was a second ago
    assert await delivery.run_once() == 0
    assert (await world.row("k1")).status == "sending"
    world.clock.advance(seconds=4)  # five seconds since the last look
    assert await delivery.run_once() == 1
    row = await world.row("k1")
    assert (row.status, row.via) == ("sent", "template")
    assert _template_keys(world) == ["k1"]


# ---- what a result keeps -------------------------------------------------------------------


async def test_a_message_sent_after_a_failed_try_keeps_the_earlier_error_for_staff(world):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您的申请已受理。")
    world.fake.fail_http("/custom/send", status=502)
    delivery = world.delivery(backoff_base=2.0)
    await delivery.run_once()
    first = await world.row("k1")
    assert first.status == "pending" and first.last_error.startswith("customer-service message failed: ")
    world.clock.advance(seconds=2)
    await delivery.run_once()
    row = await world.row("k1")
    assert (row.status, row.via, row.attempts) == ("sent", "cs", 2)
    assert row.last_error == first.last_error
    assert world.fake.delivered == [{"openid": "oW", "kind": "text", "text": "您的申请已受理。"}]


# ---- writing results while the database fails ----------------------------------------------


class FailingWrites:
    """The database refuses the first `times` writes of delivery results (a connection lost)."""

    def __init__(self, world: World, times: int) -> None:
        self.engine = world.sessionmaker.kw["bind"].sync_engine
        self.left = times
        self.tries = 0

    def __call__(self, conn, cursor, statement, params, context, executemany):  # noqa: ANN001, ANN204
        if statement.lstrip().upper().startswith("UPDATE OUTBOX") and "attempts" in statement:
            self.tries += 1
            if self.left > 0:
                self.left -= 1
                raise OperationalError(statement, params, ConnectionError("server closed the connection"))

    def __enter__(self) -> FailingWrites:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        event.remove(self.engine, "before_cursor_execute", self)


class Pauses:
    """Stands in for `asyncio` in bot.delivery to note the pauses between tries of a write
    (the record-linger timer is left out); every pause still really happens."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(asyncio, name)

    async def sleep(self, delay, result=None):  # noqa: ANN001, ANN201
        if delay != delivery_module.RECORD_LINGER:
            self.taken.append(delay)
        return await asyncio.sleep(delay, result)


def _retry_warnings(caplog) -> list[str]:  # noqa: ANN001
    return [r.getMessage() for r in caplog.records
            if r.name == "unionbot.delivery" and "results failed" in r.getMessage()]


async def test_a_result_is_written_after_the_database_fails_once(world, caplog):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您好")
    with caplog.at_level(logging.WARNING, logger="unionbot.delivery"), FailingWrites(world, 1) as db:
        assert await world.delivery().run_once() == 1
    assert db.tries == 2
    row = await world.row("k1")
    assert (row.status, row.via, row.attempts) == ("sent", "cs", 1)
    assert _retry_warnings(caplog) == ["outbox: recording 1 results failed (try 1); retrying"]
    assert len(world.fake.delivered) == 1


async def test_writing_results_is_tried_three_times_with_growing_pauses(world, monkeypatch, caplog):  # noqa: ANN001
    pauses = Pauses()
    monkeypatch.setattr(delivery_module, "asyncio", pauses)
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您好")
    with caplog.at_level(logging.WARNING, logger="unionbot.delivery"), FailingWrites(world, 2) as db:
        assert await world.delivery().run_once() == 1
    assert db.tries == 3
    assert pauses.taken == [0.2, 0.4]
    assert (await world.row("k1")).status == "sent"
    assert _retry_warnings(caplog) == ["outbox: recording 1 results failed (try 1); retrying",
                                       "outbox: recording 1 results failed (try 2); retrying"]


async def test_after_three_failed_writes_the_pass_fails_and_the_row_waits_for_its_claim_to_run_out(world, caplog):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您好")
    with caplog.at_level(logging.WARNING, logger="unionbot.delivery"), FailingWrites(world, 100) as db:
        with pytest.raises(OperationalError):
            await world.delivery().run_once()
    assert db.tries == 3
    assert len(_retry_warnings(caplog)) == 2
    assert (await world.row("k1")).status == "sending"  # sent, but nobody could write it down
    assert len(world.fake.delivered) == 1
    world.clock.advance(seconds=61)
    await world.delivery().run_once()
    assert (await world.row("k1")).status == "uncertain"  # staff check with the member
    assert len(world.fake.delivered) == 1


async def test_a_row_another_sender_holds_is_skipped_not_waited_for(world, backend):  # noqa: ANN001
    """Two senders (two loops, two processes): a row the other one has locked is passed over, so this
    pass sends the rest at once instead of waiting for the other's transaction (SKIP LOCKED)."""
    if backend != "postgresql":
        pytest.skip("row locks: SQLite lets one transaction write at a time")
    await world.enqueue("k1", "oA", text=None, template=NOTICE)
    world.clock.advance(seconds=1)
    await world.enqueue("k2", "oB", text=None, template=NOTICE)
    async with world.sessionmaker() as other, other.begin():
        await other.execute(text("SELECT id FROM outbox WHERE key = 'k1' FOR UPDATE"))
        assert await asyncio.wait_for(world.delivery().run_once(), 5) == 1
    assert [(await world.row(k)).status for k in ("k1", "k2")] == ["pending", "sent"]


async def test_offline_a_delivery_given_an_api_still_only_simulates(world):  # noqa: ANN001
    """`[wechat] offline` wins over an API client at hand: nothing reaches WeChat."""
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您好")
    online = world.settings()
    api = WeChatAPI(online.wechat, world.sessionmaker, world.clock)
    try:
        offline = world.settings(offline=True)
        assert await delivery_module.Delivery(offline, world.sessionmaker, world.clock, api).run_once() == 1
    finally:
        await api.close()
    assert (await world.row("k1")).status == "simulated"
    assert world.fake.delivered == []
