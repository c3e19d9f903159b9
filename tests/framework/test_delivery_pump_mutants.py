"""Delivery's promises that mutation testing found untested (group `outbox`): how a pass winds down
when the service stops (what goes back to the queue, how long it waits, what it logs), how the
delivery loop paces its passes, what a bug while sending leaves on the row, and what staff read on a
message resent after a crash.

A stalled database or a WeChat call that does not answer is imitated by holding one method of the
delivery (or of its API client) until the test lets it go."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, text

import bot.delivery as delivery_module
from bot.db.models import Member
from tests.framework.test_delivery import HOUR, NOTICE, World, _crash_mid_send

WIND_DOWN_FAILED = "could not wind delivery down cleanly"
PASS_FAILED = "delivery pass failed"


@pytest.fixture
async def world(fake_wechat, sessionmaker, clock, db_url):  # noqa: ANN001, ANN201
    w = World(fake_wechat, sessionmaker, clock, db_url)
    yield w
    await w.close()


class Hold:
    """Stands in for one async method of `obj`: the calls numbered in `which` (from 1; None: every
    call) wait until `release()` before going on to the real method; the others go straight on."""

    def __init__(self, monkeypatch, obj, name: str, which=None) -> None:  # noqa: ANN001
        self.real = getattr(obj, name)
        self.which = which
        self.calls = 0
        self.finished = 0
        self.entered = asyncio.Event()
        self._gate = asyncio.Event()
        self._held: set[asyncio.Task] = set()
        monkeypatch.setattr(obj, name, self._call)

    async def _call(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        self.calls += 1
        if self.which is None or self.calls in self.which:
            task = asyncio.current_task()
            self._held.add(task)
            self.entered.set()
            try:
                await self._gate.wait()
            finally:
                self._held.discard(task)
        try:
            return await self.real(*args, **kwargs)
        finally:
            self.finished += 1

    def release(self) -> None:
        self._gate.set()

    async def abandon(self) -> None:
        """Cancel the calls still held (test clean-up: the stall never ends)."""
        held = list(self._held)
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)


async def until(cond, timeout: float = 1.5) -> None:  # noqa: ANN001
    """Wait until `cond()` (a function, or a coroutine function) is true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        ok = cond()
        if asyncio.iscoroutine(ok):
            ok = await ok
        if ok:
            return
        assert loop.time() < end, "timed out waiting"
        await asyncio.sleep(0.005)


async def stop_pass(task: asyncio.Task, timeout: float = 1.5) -> None:
    """Cancel a running pass (the service is stopping) and wait for it to wind down."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout)


def logged(caplog, words: str) -> list[logging.LogRecord]:  # noqa: ANN001
    return [r for r in caplog.records if r.name == "unionbot.delivery" and words in r.getMessage()]


async def window_used(world: World, openid: str) -> int:
    async with world.sessionmaker() as s:
        return await s.scalar(select(Member.msg_window_used).where(Member.openid == openid))


# ---- stopping mid-pass ---------------------------------------------------------------------


async def test_rows_being_claimed_when_the_service_stops_go_back_to_the_queue(world, monkeypatch, caplog):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="第1条")
    await world.enqueue("k2", "oW", text="第2条")
    delivery = world.delivery()
    claim = Hold(monkeypatch, delivery, "_claim", which={1})  # the database is slow to answer the claim
    task = asyncio.create_task(delivery.run_once())
    with caplog.at_level(logging.WARNING, logger="unionbot.delivery"):
        await asyncio.wait_for(claim.entered.wait(), 1.5)
        task.cancel()
        claim.release()  # the claim goes through while the pass is stopping
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 1.5)
        await until(lambda: claim.finished == 1)
    assert logged(caplog, WIND_DOWN_FAILED) == []
    assert world.fake.delivered == []
    assert await world.statuses() == {"k1": "pending", "k2": "pending"}  # not left `sending` to turn uncertain
    assert await window_used(world, "oW") == 0  # their window slots were given back
    assert await world.delivery().run_once() == 2
    assert [d["text"] for d in world.fake.delivered] == ["第1条", "第2条"]


async def test_stopping_does_not_wait_past_the_grace_period_for_a_stalled_claim(world, monkeypatch, caplog):  # noqa: ANN001
    monkeypatch.setattr(delivery_module, "SHUTDOWN_GRACE", 0.1)
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    delivery = world.delivery()
    claim = Hold(monkeypatch, delivery, "_claim", which={1})  # the claim never comes back
    task = asyncio.create_task(delivery.run_once())
    try:
        with caplog.at_level(logging.WARNING, logger="unionbot.delivery"):
            await asyncio.wait_for(claim.entered.wait(), 1.5)
            await stop_pass(task)
        assert logged(caplog, WIND_DOWN_FAILED) == []  # giving up on the claim is not an error
    finally:
        await claim.abandon()
    assert world.fake.delivered == []
    assert await world.delivery().run_once() == 1  # the row is still there for the next start
    assert (await world.row("k1")).status == "sent"


async def test_stopping_does_not_wait_past_the_grace_period_for_wechat(world, monkeypatch, caplog):  # noqa: ANN001
    monkeypatch.setattr(delivery_module, "SHUTDOWN_GRACE", 0.1)
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您好")
    delivery = world.delivery()
    send = Hold(monkeypatch, delivery.api, "send_text")  # WeChat does not answer
    task = asyncio.create_task(delivery.run_once())
    try:
        with caplog.at_level(logging.WARNING, logger="unionbot.delivery"):
            await asyncio.wait_for(send.entered.wait(), 1.5)
            await stop_pass(task)
        assert logged(caplog, WIND_DOWN_FAILED) == []
    finally:
        await send.abandon()
    # The send was cut off: nobody knows whether it arrived, so the row is left to crash recovery.
    assert (await world.row("k1")).status == "sending"
    world.clock.advance(seconds=61)
    await world.delivery().run_once()
    assert (await world.row("k1")).status == "uncertain"
    assert world.fake.delivered == []


async def _stop_while_the_first_result_is_being_written(world, monkeypatch, which):  # noqa: ANN001, ANN202
    """One user's two messages: the first is sent and its result written (held per `which`),
    the second is sent meanwhile; then the service stops."""
    monkeypatch.setattr(delivery_module, "SHUTDOWN_GRACE", 0.2)
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k0", "oW", text="第0条")
    await world.enqueue("k1", "oW", text="第1条")
    delivery = world.delivery(concurrency=2)  # each result is written as soon as it is in
    record = Hold(monkeypatch, delivery, "_record", which=which)
    sends = Hold(monkeypatch, delivery, "_send", which=set())  # counts finished sends only
    task = asyncio.create_task(delivery.run_once())
    await until(lambda: sends.finished == 2 and record.calls >= 1)
    await stop_pass(task)
    return record


async def test_stopping_records_the_results_still_unwritten_when_a_write_stalls(world, monkeypatch, caplog):  # noqa: ANN001
    with caplog.at_level(logging.WARNING, logger="unionbot.delivery"):
        record = await _stop_while_the_first_result_is_being_written(world, monkeypatch, which={1})
    try:
        assert logged(caplog, WIND_DOWN_FAILED) == []
        assert [d["text"] for d in world.fake.delivered] == ["第0条", "第1条"]
        assert (await world.row("k1")).status == "sent"  # written on the way out, past the stalled write
    finally:
        await record.abandon()


async def test_stopping_gives_up_on_a_stalled_database_and_says_so(world, monkeypatch, caplog):  # noqa: ANN001
    with caplog.at_level(logging.WARNING, logger="unionbot.delivery"):
        record = await _stop_while_the_first_result_is_being_written(world, monkeypatch, which=None)
    try:
        assert len(logged(caplog, WIND_DOWN_FAILED)) == 1  # the operator learns results were not written
        assert await world.statuses() == {"k0": "sending", "k1": "sending"}
    finally:
        await record.abandon()


# ---- the delivery loop ---------------------------------------------------------------------


def count_passes(delivery, monkeypatch) -> list[int]:  # noqa: ANN001
    """What each finished pass of `delivery` claimed, in order."""
    passes: list[int] = []
    real = delivery.run_once

    async def counted(limit: int = 200) -> int:
        n = await real(limit)
        passes.append(n)
        return n

    monkeypatch.setattr(delivery, "run_once", counted)
    return passes


async def test_stopping_during_a_pass_sends_only_the_rows_already_taken(world, monkeypatch):  # noqa: ANN001
    await world.texts_to_many(10)
    delivery = world.delivery(concurrency=2, poll_seconds=30.0)
    stop = asyncio.Event()
    real_send = delivery.api.send_text

    async def operator_stops_the_service(openid: str, content: str) -> None:  # as the first message goes out
        stop.set()
        await real_send(openid, content)

    monkeypatch.setattr(delivery.api, "send_text", operator_stops_the_service)
    await asyncio.wait_for(delivery.run_forever(stop), 1.5)
    statuses = await world.statuses()
    sent = sorted(k for k, st in statuses.items() if st == "sent")
    assert 0 < len(sent) < 10
    assert set(statuses.values()) == {"sent", "pending"}  # nothing left half-done
    assert len(world.fake.delivered) == len(sent)
    await world.delivery().run_once()  # the next start (a new client) sends the rest
    assert set((await world.statuses()).values()) == {"sent"}
    assert len(world.fake.delivered) == 10


async def test_more_rows_than_one_pass_takes_go_out_without_waiting_for_the_poll(world, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(delivery_module, "PASS_LIMIT", 2)
    await world.texts_to_many(5)
    delivery = world.delivery(poll_seconds=30.0)
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run_forever(stop))
    async def all_sent_or_loop_ended() -> bool:
        return task.done() or set((await world.statuses()).values()) == {"sent"}

    try:
        await until(all_sent_or_loop_ended)
        assert not task.done()  # the loop is still serving
        assert len(world.fake.delivered) == 5
    finally:
        stop.set()
        await asyncio.wait_for(task, 1.5)


async def test_an_idle_loop_waits_for_the_poll_interval_or_a_wake_up(world, monkeypatch):  # noqa: ANN001
    delivery = world.delivery(poll_seconds=30.0)
    passes = count_passes(delivery, monkeypatch)
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run_forever(stop))
    try:
        await until(lambda: len(passes) >= 1)
        await asyncio.sleep(0.2)
        assert passes == [0]  # nothing due: no second look before the poll interval
        delivery.wake()
        await until(lambda: len(passes) >= 2)
        assert passes == [0, 0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 1.5)  # stopping does not wait out the poll interval


async def test_a_failing_pass_is_retried_after_the_poll_interval_not_at_once(world, caplog):  # noqa: ANN001
    async with world.sessionmaker() as s, s.begin():
        await s.execute(text("DROP TABLE outbox"))  # every pass fails
    delivery = world.delivery(poll_seconds=30.0)
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="unionbot.delivery"):
        task = asyncio.create_task(delivery.run_forever(stop))
        try:
            await until(lambda: logged(caplog, PASS_FAILED))
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.wait_for(task, 1.5)
    assert len(logged(caplog, PASS_FAILED)) == 1  # not a tight loop flooding the log


async def test_a_retry_that_comes_due_goes_out_at_the_next_poll_without_a_wake_up(world, monkeypatch):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您好")
    world.fake.fail_next("/custom/send", errcode=-1)  # WeChat busy: try again in 2 s
    delivery = world.delivery(poll_seconds=0.1, backoff_base=2.0)
    passes = count_passes(delivery, monkeypatch)
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run_forever(stop))
    try:
        await until(lambda: passes[-2:] == [1, 0])  # tried once, then found nothing due
        assert (await world.row("k1")).status == "pending"
        world.clock.advance(seconds=2)
        await until(lambda: len(world.fake.delivered) == 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 1.5)
    assert (await world.row("k1")).status == "sent"


# ---- a bug while sending -------------------------------------------------------------------


async def test_a_bug_while_sending_retries_later_says_what_broke_and_gives_the_slot_back(world, monkeypatch):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您好")
    delivery = world.delivery(backoff_base=2.0)

    async def broken(openid: str, content: str) -> None:
        raise RuntimeError("token store broken")

    monkeypatch.setattr(delivery.api, "send_text", broken)
    assert await delivery.run_once() == 1
    row = await world.row("k1")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "unexpected error: RuntimeError('token store broken')"
    assert row.next_attempt_at == world.clock.now() + timedelta(seconds=2)
    assert await window_used(world, "oW") == 0
    world.clock.advance(seconds=2)
    assert await world.delivery().run_once() == 1
    assert (await world.row("k1")).status == "sent"
    assert await window_used(world, "oW") == 1


async def test_the_error_kept_for_an_unexpected_failure_is_cut_to_500_characters(world, monkeypatch):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    delivery = world.delivery()

    async def broken(openid: str, content: str) -> None:
        raise RuntimeError("x" * 600)

    monkeypatch.setattr(delivery.api, "send_text", broken)
    await delivery.run_once()
    row = await world.row("k1")
    assert row.status == "pending"
    assert row.last_error.startswith("unexpected error: RuntimeError('xxx")
    assert len(row.last_error) == 500


# ---- after a crash -------------------------------------------------------------------------


async def test_a_message_resent_after_a_crash_says_why_it_went_as_a_template(world):  # noqa: ANN001
    await world.enqueue("k1", "oW", text=None, template=NOTICE)
    await _crash_mid_send(world, "k1", via="template")
    world.clock.advance(seconds=61)
    await world.delivery().run_once()
    row = await world.row("k1")
    assert (row.status, row.via) == ("sent", "template")
    assert row.last_error == "resent as a template after the sender stopped mid-send (WeChat drops a repeat)"


async def test_a_claim_that_fails_ends_the_pass_with_the_database_error_and_says_so(world, monkeypatch, caplog):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您好")
    delivery = world.delivery()

    async def broken(n: int):  # noqa: ANN202
        raise RuntimeError("database is locked")

    monkeypatch.setattr(delivery, "_claim", broken)
    with caplog.at_level(logging.ERROR, logger="unionbot.delivery"), pytest.raises(RuntimeError, match="locked"):
        await delivery.run_once()
    assert "outbox: claiming due rows failed: RuntimeError('database is locked')" in caplog.text
    assert (await world.row("k1")).status == "pending"  # nothing was taken: the next pass sends it
    assert await world.delivery().run_once() == 1


async def test_a_record_that_fails_still_lets_the_sends_under_way_finish_before_the_error(world, monkeypatch, caplog):  # noqa: ANN001
    for openid in ("oA", "oB"):
        await world.member(openid, msg_ago=HOUR)
    await world.enqueue("k1", "oA", text="第1条")
    await world.enqueue("k2", "oB", text="第2条")
    delivery = world.delivery(concurrency=2)  # each result is written as soon as it is in
    slow = Hold(monkeypatch, delivery.api, "send_text", which={2})  # the second send waits
    real_record = delivery._record
    recorded: list[list[str]] = []

    async def record(batch):  # noqa: ANN001, ANN202
        recorded.append([job.key for job, _ in batch])
        if len(recorded) == 1:
            raise RuntimeError("disk I/O error")
        return await real_record(batch)

    monkeypatch.setattr(delivery, "_record", record)
    task = asyncio.create_task(delivery.run_once())
    await until(lambda: len(recorded) == 1)
    slow.release()
    with caplog.at_level(logging.ERROR, logger="unionbot.delivery"), pytest.raises(RuntimeError, match="disk"):
        await asyncio.wait_for(task, 5)
    assert "outbox: could not record delivery results: RuntimeError('disk I/O error')" in caplog.text
    assert recorded == [["k1"], ["k2"]]  # the send under way went out and was recorded
    assert (await world.row("k2")).status == "sent"
