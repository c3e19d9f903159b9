"""How one delivery pass paces itself (group `outbox`, the pass's scheduler): never more than
`concurrency` sends in flight, one user's messages one at a time without holding up anyone else,
a new batch claimed while the last is still going out (and only so far ahead), results written in
groups, and a pass that takes no more than its limit and stops claiming when the service stops.

WeChat is left out (the delivery runs offline) and each send is held until the test lets it go, so
every step of the pass happens when the test says and nothing depends on timing. The wait that lets
a lone result linger for others (RECORD_LINGER) is held the same way."""
from __future__ import annotations

import asyncio

import pytest

import bot.delivery as delivery_module
from tests.framework.test_delivery import World
from tests.framework.test_delivery_pump_mutants import Hold
from tests.framework.test_delivery_pump_mutants import until as _until


@pytest.fixture
async def world(fake_wechat, sessionmaker, clock, db_url):  # noqa: ANN001, ANN201
    w = World(fake_wechat, sessionmaker, clock, db_url)
    yield w
    await w.close()


async def queue(world: World, *rows: tuple[str, str]) -> None:
    """Queue (key, openid) rows, each due one second after the one before (a strict order)."""
    for key, openid in rows:
        await world.enqueue(key, openid, text=f"消息 {key}")
        world.clock.advance(seconds=1)


def to_many(n: int) -> list[tuple[str, str]]:
    """One message each for n users: key r<i> to o<i>."""
    return [(f"r{i}", f"o{i}") for i in range(n)]


async def until(cond, timeout: float = 5.0) -> None:  # noqa: ANN001
    """Wait until `cond()`; generous, as the database may be slow on a loaded machine."""
    await _until(cond, timeout)


async def settle() -> None:
    """Let the pass take every step it can take without the database or WeChat answering."""
    for _ in range(100):
        await asyncio.sleep(0)


class Sends:
    """Stands in for `Delivery._send` (WeChat): each send waits until the test lets its key go,
    or until `open()`; keeps the order sends began in and the most in flight at once."""

    def __init__(self, monkeypatch, delivery) -> None:  # noqa: ANN001
        self.real = delivery._send
        self.entered: list[str] = []
        self.in_flight: set[str] = set()
        self.most = 0
        self._gates: dict[str, asyncio.Event] = {}
        self._open = False
        monkeypatch.setattr(delivery, "_send", self._send)

    def _gate(self, key: str) -> asyncio.Event:
        return self._gates.setdefault(key, asyncio.Event())

    async def _send(self, job):  # noqa: ANN001, ANN202
        self.entered.append(job.key)
        self.in_flight.add(job.key)
        self.most = max(self.most, len(self.in_flight))
        try:
            if not self._open:
                await self._gate(job.key).wait()
            return await self.real(job)
        finally:
            self.in_flight.discard(job.key)

    def release(self, *keys: str) -> None:
        for key in keys:
            self._gate(key).set()

    def open(self) -> None:
        """Every send, now and from now on, goes straight through."""
        self._open = True
        for gate in self._gates.values():
            gate.set()


class Claims:
    """Counts `Delivery._claim`: how many rows each claim asked for, how many finished."""

    def __init__(self, monkeypatch, delivery) -> None:  # noqa: ANN001
        self.real = delivery._claim
        self.wanted: list[int] = []
        self.finished = 0
        monkeypatch.setattr(delivery, "_claim", self._claim)

    async def _claim(self, n: int):  # noqa: ANN202
        self.wanted.append(n)
        if len(self.wanted) > 50:
            raise RuntimeError("runaway claiming")  # ends the pass instead of spinning
        try:
            return await self.real(n)
        finally:
            self.finished += 1


class Records:
    """Keeps the keys of every group of results written by `Delivery._record`, in order."""

    def __init__(self, monkeypatch, delivery) -> None:  # noqa: ANN001
        self.real = delivery._record
        self.groups: list[list[str]] = []
        monkeypatch.setattr(delivery, "_record", self._record)

    async def _record(self, batch):  # noqa: ANN001, ANN202
        self.groups.append([job.key for job, _ in batch])
        return await self.real(batch)


class Linger:
    """Holds the pass's RECORD_LINGER wait until `release()`; the delivery's other waits are untouched."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        self.started = 0
        self._gate = asyncio.Event()
        linger = self

        class _Asyncio:
            def __getattr__(self, name: str):  # noqa: ANN204
                return getattr(asyncio, name)

            @staticmethod
            async def sleep(delay: float, result=None):  # noqa: ANN001, ANN205
                if delay == delivery_module.RECORD_LINGER:
                    linger.started += 1
                    await linger._gate.wait()
                    return result
                return await asyncio.sleep(delay, result)

        monkeypatch.setattr(delivery_module, "asyncio", _Asyncio())

    def release(self) -> None:
        self._gate.set()


async def finish(task: asyncio.Task, *gates) -> int:  # noqa: ANN002
    """Let everything held go and wait for the pass (a pass that hangs fails the test)."""
    for gate in gates:
        gate.open() if isinstance(gate, Sends) else gate.release()
    try:
        return await asyncio.wait_for(task, 3)
    finally:
        if not task.done():
            task.cancel()


# ---- sends in flight -------------------------------------------------------------------------


async def test_never_more_sends_in_flight_than_the_concurrency(world, monkeypatch):  # noqa: ANN001
    await queue(world, *to_many(8))
    delivery = world.delivery(offline=True, concurrency=2)
    sends = Sends(monkeypatch, delivery)
    task = asyncio.create_task(delivery.run_once())
    try:
        released = 0
        while released < 8:  # WeChat answers the oldest send once the pass has filled its slots
            await until(lambda: len(sends.in_flight) >= 2 or len(sends.entered) == 8)
            await settle()
            sends.release(sends.entered[released])
            released += 1
            await until(lambda: sends.entered[released - 1] not in sends.in_flight)
        assert await asyncio.wait_for(task, 3) == 8
    finally:
        await finish(task, sends)
    assert sends.most == 2
    assert sends.entered == [f"r{i}" for i in range(8)]
    assert set((await world.statuses()).values()) == {"simulated"}


async def test_a_users_next_message_waits_for_their_last_without_holding_up_anyone_else(world, monkeypatch):  # noqa: ANN001
    await queue(world, ("w0", "oW"), ("b0", "oB"), ("w1", "oW"), ("c0", "oC"), ("d0", "oD"), ("e0", "oE"))
    delivery = world.delivery(offline=True, concurrency=2)
    sends = Sends(monkeypatch, delivery)
    task = asyncio.create_task(delivery.run_once())
    try:
        await until(lambda: sends.entered == ["w0", "b0"])
        sends.release("b0")  # WeChat is slow to take w0: oW's second message must wait for it
        await until(lambda: "c0" in sends.entered)  # ... but oC's, claimed behind it, goes out meanwhile
        assert "w0" in sends.in_flight and "w1" not in sends.entered
    finally:
        assert await finish(task, sends) == 6
    assert sends.entered.index("w1") > sends.entered.index("c0")
    assert set((await world.statuses()).values()) == {"simulated"}


# ---- claiming ahead --------------------------------------------------------------------------


async def test_the_next_batch_is_claimed_once_half_the_concurrency_is_left_to_start(world, monkeypatch):  # noqa: ANN001
    """Claiming does not wait for the last results to be written, nor for the queue to run dry."""
    await queue(world, *to_many(8))
    delivery = world.delivery(offline=True, concurrency=2)  # claims of 2 rows
    sends = Sends(monkeypatch, delivery)
    claims = Claims(monkeypatch, delivery)
    record = Hold(monkeypatch, delivery, "_record")  # the database is slow to write results
    task = asyncio.create_task(delivery.run_once())
    try:
        await until(lambda: sends.entered == ["r0", "r1"])
        sends.release("r0")  # a slot is free and nothing is queued: the next batch is claimed
        await until(lambda: sends.entered == ["r0", "r1", "r2"])  # r3 waits for a free slot
        assert len(claims.wanted) == 2
        sends.release("r1")  # r3 starts; one claimed row (half the concurrency) was left to start
        await until(lambda: sends.entered[-1:] == ["r3"])
        await until(lambda: len(claims.wanted) == 3)
    finally:
        assert await finish(task, record, sends) == 8
    assert sends.entered == [f"r{i}" for i in range(8)]
    assert set((await world.statuses()).values()) == {"simulated"}


async def test_rows_claimed_ahead_are_capped_at_four_times_the_concurrency(world, monkeypatch):  # noqa: ANN001
    """One user's long queue is claimed ahead only so far: the rest stay `pending`."""
    await queue(world, ("a0", "oA"), *[(f"w{i:02}", "oW") for i in range(14)])
    delivery = world.delivery(offline=True, concurrency=2)
    sends = Sends(monkeypatch, delivery)
    claims = Claims(monkeypatch, delivery)
    task = asyncio.create_task(delivery.run_once())
    try:
        await until(lambda: sends.entered == ["a0", "w00"])
        sends.release("a0")  # WeChat is slow to take w00; everything else claimed must wait for it
        await until(lambda: claims.finished == 5)
        await settle()
        assert claims.wanted == [2] * 5
        statuses = await world.statuses()
        # w00 in flight and 4 × 2 claimed rows queued behind it
        waiting = {k: st for k, st in statuses.items() if k.startswith("w")}
        assert sorted(k for k, st in waiting.items() if st == "sending") == [f"w{i:02}" for i in range(9)]
        assert sorted(k for k, st in waiting.items() if st == "pending") == [f"w{i:02}" for i in range(9, 14)]
        assert sends.entered == ["a0", "w00"]
    finally:
        assert await finish(task, sends) == 15
    assert sends.entered == ["a0"] + [f"w{i:02}" for i in range(14)]
    assert set((await world.statuses()).values()) == {"simulated"}


async def test_a_pass_takes_no_more_rows_than_its_limit(world, monkeypatch):  # noqa: ANN001
    await queue(world, *to_many(6))
    delivery = world.delivery(offline=True, concurrency=2)
    sends = Sends(monkeypatch, delivery)
    sends.open()
    claims = Claims(monkeypatch, delivery)
    assert await asyncio.wait_for(delivery.run_once(limit=3), 3) == 3
    assert claims.wanted == [2, 1]  # the last claim asks only for what is left of the limit
    assert sends.entered == ["r0", "r1", "r2"]
    assert await world.statuses() == {"r0": "simulated", "r1": "simulated", "r2": "simulated",
                                      "r3": "pending", "r4": "pending", "r5": "pending"}


async def test_a_stopping_service_claims_nothing_more_in_the_pass_under_way(world, monkeypatch):  # noqa: ANN001
    await queue(world, *to_many(6))
    delivery = world.delivery(offline=True, concurrency=2, poll_seconds=30.0)
    sends = Sends(monkeypatch, delivery)
    claims = Claims(monkeypatch, delivery)
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run_forever(stop))
    try:
        await until(lambda: sends.entered == ["r0", "r1"])
        stop.set()  # the operator stops the service while the first batch is going out
        sends.release("r0", "r1")
        await asyncio.wait_for(task, 3)
    finally:
        await finish(task, sends)
    assert claims.wanted == [2]
    assert sends.entered == ["r0", "r1"]
    statuses = await world.statuses()
    assert [statuses[f"r{i}"] for i in range(6)] == ["simulated"] * 2 + ["pending"] * 4


# ---- writing results -------------------------------------------------------------------------


async def test_a_result_is_written_at_once_when_nothing_else_is_under_way(world, monkeypatch):  # noqa: ANN001
    await queue(world, ("r0", "o0"))
    delivery = world.delivery(offline=True, concurrency=4)
    linger = Linger(monkeypatch)  # were the result to linger for company, the pass would not end
    records = Records(monkeypatch, delivery)
    task = asyncio.create_task(delivery.run_once())
    try:
        assert await asyncio.wait_for(asyncio.shield(task), 3) == 1
    finally:
        await finish(task, linger)
    assert linger.started == 0
    assert records.groups == [["r0"]]
    assert (await world.row("r0")).status == "simulated"


async def test_results_are_written_in_groups_of_half_the_concurrency_or_after_lingering(world, monkeypatch):  # noqa: ANN001
    await queue(world, *to_many(4))
    delivery = world.delivery(offline=True, concurrency=4)  # groups of 2
    sends = Sends(monkeypatch, delivery)
    linger = Linger(monkeypatch)
    records = Records(monkeypatch, delivery)
    task = asyncio.create_task(delivery.run_once())
    try:
        await until(lambda: len(sends.entered) == 4)
        sends.release("r0")
        await until(lambda: "r0" not in sends.in_flight and linger.started == 1)
        await settle()
        assert records.groups == []  # r0 waits for company while sends are under way
        sends.release("r1")
        await until(lambda: records.groups == [["r0", "r1"]])
        sends.release("r2")
        await until(lambda: "r2" not in sends.in_flight)
        await settle()
        assert records.groups == [["r0", "r1"]]
        linger.release()  # r2 has waited RECORD_LINGER: it is written alone
        await until(lambda: records.groups == [["r0", "r1"], ["r2"]])
        sends.release("r3")  # the last result: nothing else is under way
        assert await asyncio.wait_for(asyncio.shield(task), 3) == 4
    finally:
        await finish(task, sends, linger)
    assert records.groups == [["r0", "r1"], ["r2"], ["r3"]]
    assert set((await world.statuses()).values()) == {"simulated"}


@pytest.mark.parametrize("concurrency", [2, 3])
async def test_with_low_concurrency_each_result_is_written_as_soon_as_it_is_in(world, monkeypatch, concurrency):  # noqa: ANN001
    await queue(world, *to_many(concurrency))
    delivery = world.delivery(offline=True, concurrency=concurrency)
    sends = Sends(monkeypatch, delivery)
    linger = Linger(monkeypatch)
    records = Records(monkeypatch, delivery)
    task = asyncio.create_task(delivery.run_once())
    try:
        await until(lambda: len(sends.entered) == concurrency)
        sends.release("r0")
        await until(lambda: records.groups == [["r0"]])  # while the other sends are still under way
        assert linger.started == 0
    finally:
        assert await finish(task, sends, linger) == concurrency
    assert set((await world.statuses()).values()) == {"simulated"}


async def test_a_slot_left_free_by_a_busy_users_second_message_goes_to_someone_else(world, monkeypatch):  # noqa: ANN001
    # One user's two messages come first in the queue, another user's after them: the first claim
    # takes only the busy user's rows, so a second slot would sit idle while their first is sent.
    await queue(world, ("w0", "oBusy"), ("w1", "oBusy"), ("b0", "oOther"))
    delivery = world.delivery(offline=True, concurrency=2)  # claims of 2 rows
    sends, claims = Sends(monkeypatch, delivery), Claims(monkeypatch, delivery)
    task = asyncio.create_task(delivery.run_once())
    await until(lambda: "b0" in sends.entered)  # goes out while w0 is still under way
    assert sends.entered == ["w0", "b0"] and claims.wanted[:2] == [2, 2]
    sends.open()
    assert await asyncio.wait_for(task, 5) == 3
    assert sends.entered == ["w0", "b0", "w1"]  # the busy user's own order kept
