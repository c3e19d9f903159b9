"""The writer loop's promises that mutation testing found untested (bot/pipeline.py, `_write_loop`,
`_runnable`, `_guarded`): at most MAX_BATCHES batches at once, a quick batch holds the next one
(group commit) while a user known to be slow never does, another user's message starts beside a
slow batch, a message waiting for its own user costs no CPU meanwhile, and a batch that fails
beyond recovery answers its people at once."""
from __future__ import annotations

import asyncio
import time

import pytest

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.core.types import Incoming
from bot.keys import PROCESSOR, SESSIONMAKER
from bot.pipeline import MAX_BATCHES
from tests.support.writer import incoming, says, timed

loop_router = Router("writer_loop_tests")

SHORT, LONG = 1.2, 2.5  # seconds the two slow handlers take


@loop_router.on(text_is("环慢短"))
async def slow_short(ctx: Ctx) -> str:
    await asyncio.sleep(SHORT)
    return "短慢好了"


@loop_router.on(text_is("环慢长"))
async def slow_long(ctx: Ctx) -> str:
    await asyncio.sleep(LONG)
    return "长慢好了"


@loop_router.on(text_is("环稍慢"))
async def a_bit_slow(ctx: Ctx) -> str:
    await asyncio.sleep(0.1)  # longer than stall_after: the user is known to be slow afterwards
    return "稍慢好了"


@loop_router.on(text_is("环快"))
async def quick(ctx: Ctx) -> str:
    return "环快好了"


@pytest.fixture
async def proc(make_app, engine):  # noqa: ANN001
    """The app's writer driven directly (the app is not served)."""
    app = make_app(extra_routers=[loop_router])
    yield app[PROCESSOR]
    await asyncio.wait_for(app[PROCESSOR].close(), 30)  # bounded: a broken writer must not hang the run
    await app[SESSIONMAKER].kw["bind"].dispose()


async def test_at_most_max_batches_run_at_once_and_the_next_starts_when_the_first_ends(proc, backend) -> None:  # noqa: ANN001
    """PostgreSQL: four stalled batches side by side; a fifth user's message waits until the FIRST of
    them ends (not all of them), then runs."""
    if backend != "postgresql":
        pytest.skip("batches run side by side on PostgreSQL only")
    assert MAX_BATCHES == 4
    send, done = timed(proc)
    tasks = [asyncio.create_task(send(incoming("oFirst", "环慢短", 1)))]
    for i in range(1, MAX_BATCHES):
        await asyncio.sleep(0.15)  # the previous batch is running (stalled): this one starts beside it
        tasks.append(asyncio.create_task(send(incoming(f"oLong{i}", "环慢长", 1))))
    await asyncio.sleep(0.15)
    tasks.append(asyncio.create_task(send(incoming("oFifth", "环快", 1))))
    replies = await asyncio.gather(*tasks)
    assert says(replies[0], "短慢好了") and all(says(r, "长慢好了") for r in replies[1:-1])
    assert says(replies[-1], "环快好了")
    first_long = min(done[f"oLong{i}:环慢长"] for i in range(1, MAX_BATCHES))
    assert done["oFifth:环快"] > done["oFirst:环慢短"] - 0.25, done  # not a fifth batch beside the four
    assert done["oFifth:环快"] < first_long - 0.5, done  # but as soon as one of them ended


async def test_a_batch_that_does_not_stall_holds_the_next_batch(proc, backend) -> None:  # noqa: ANN001
    """Group commit: the writer waits for a batch running less than `stall_after` before it takes
    the next one (here `stall_after` is longer than the handler, so the batch never stalls)."""
    proc.stall_after = 3.0
    send, done = timed(proc)
    first = asyncio.create_task(send(incoming("oBatch1", "环慢短", 1)))
    await asyncio.sleep(0.15)  # its batch is running
    second = asyncio.create_task(send(incoming("oBatch2", "环快", 1)))
    replies = await asyncio.gather(first, second)
    assert says(replies[0], "短慢好了") and says(replies[1], "环快好了")
    assert done["oBatch2:环快"] > done["oBatch1:环慢短"] - 0.3, done  # after it, not beside it


async def test_a_user_known_to_be_slow_never_holds_the_next_batch(proc, backend) -> None:  # noqa: ANN001
    """The batch of its own of a user whose last handler was slow: the writer does not wait for it
    at all (however long `stall_after` is), the next user's batch starts beside it (PostgreSQL)."""
    assert says(await proc.handle(incoming("oKnownSlow", "环稍慢", 1)), "稍慢好了")  # now known to be slow
    proc.stall_after = 3.0  # a quick batch would hold the next one for up to 3 s
    send, done = timed(proc)
    slow = asyncio.create_task(send(incoming("oKnownSlow", "环慢短", 2)))
    await asyncio.sleep(0.15)  # its batch is running
    other = asyncio.create_task(send(incoming("oOther", "环快", 1)))
    replies = await asyncio.gather(slow, other)
    assert says(replies[0], "短慢好了") and says(replies[1], "环快好了")
    if backend == "postgresql":
        assert done["oOther:环快"] < done["oKnownSlow:环慢短"] - 0.5, done
    else:  # one connection: documented in docs/batch-semantics.md
        assert done["oOther:环快"] >= done["oKnownSlow:环慢短"] - 0.05, done


async def test_another_users_message_alone_starts_beside_a_slow_batch(proc, backend) -> None:  # noqa: ANN001
    """Only another user's message waiting (none of the slow user's): it still runs beside (PostgreSQL)."""
    send, done = timed(proc)
    slow = asyncio.create_task(send(incoming("oSlowOne", "环慢短", 1)))
    await asyncio.sleep(0.15)  # the slow handler's batch is running (stalled)
    quick = asyncio.create_task(send(incoming("oAlone", "环快", 1)))
    replies = await asyncio.gather(slow, quick)
    assert says(replies[0], "短慢好了") and says(replies[1], "环快好了")
    if backend == "postgresql":
        assert done["oAlone:环快"] < done["oSlowOne:环慢短"] - 0.5, done
    else:
        assert done["oAlone:环快"] >= done["oSlowOne:环慢短"] - 0.05, done


async def test_a_message_waiting_for_its_own_users_slow_batch_costs_no_cpu(proc, backend) -> None:  # noqa: ANN001
    """The user's next message waits in the queue while their slow batch runs: the writer sleeps
    meanwhile (the event loop's thread uses next to no CPU), and then answers it, in order."""
    send, done = timed(proc)
    slow = asyncio.create_task(send(incoming("oWaits", "环慢短", 1)))
    await asyncio.sleep(0.15)  # the slow batch is running
    nxt = asyncio.create_task(send(incoming("oWaits", "环快", 2)))
    await asyncio.sleep(0.1)  # the next message is queued, its user busy
    wall, cpu = time.perf_counter(), time.thread_time()
    first = await slow
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    assert says(first, "短慢好了") and says(await nxt, "环快好了")
    assert done["oWaits:环快"] >= done["oWaits:环慢短"]
    assert wall > 0.5 and cpu < 0.1 * wall, (cpu, wall)  # a spinning writer takes a whole core


async def test_a_batch_failing_beyond_recovery_answers_success_at_once(proc, backend) -> None:  # noqa: ANN001
    """A message whose reply, apology included, cannot even be rendered: its batch fails, the apology
    cannot be stored; the writer survives and the delivery gets `success` (None) at once, not after
    the reply timeout; the next messages are answered."""
    render = proc.render

    def broken_for_one_user(reply, msg):  # noqa: ANN001, ANN202
        if msg.openid == "oUnrenderable":
            raise ValueError("cannot render")
        return render(reply, msg)

    proc.render = broken_for_one_user
    send, done = timed(proc)
    assert await send(incoming("oUnrenderable", "环快", 1)) is None
    assert says(await send(incoming("oAfter", "环快", 1)), "环快好了")
    assert done["oUnrenderable:环快"] < proc.timeout / 2, (done, proc.timeout)  # not the reply timeout
    proc.render = render  # the fault is gone: WeChat's re-send of the same message is processed now
    assert says(await proc.handle(incoming("oUnrenderable", "环快", 1)), "环快好了")
