"""Batches of the message writer (bot/pipeline.py): a savepoint per handler, the optimistic lock
on dialogues, and what a slow handler holds up — on both writer paths (SQLite fast path and
SQLAlchemy) and on PostgreSQL."""
from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.core.types import Incoming
from bot.db.models import Dialogue, InboundMessage, Member, Outbox, Sequence
from bot.pipeline import APOLOGY
from tests.support.writer import incoming, path, recording_processor, says, timed  # noqa: F401  (path: a fixture)

router = Router("writer_tests")
CALLS: Counter[str] = Counter()
OTHER_WRITER: dict[str, Any] = {}


@router.on(text_is("写"))
async def write(ctx: Ctx) -> str:
    CALLS["写:" + ctx.openid] += 1
    ctx.session.add(Sequence(name=f"seq:{ctx.openid}", value=1))
    ctx.member.employer = "好单位"
    await ctx.notify(ctx.openid, "通知", key=f"note:{ctx.openid}")
    ctx.dialogue.set("writer:step", {"n": 1})
    return "写好了"


@router.on(text_is("坏"))
async def broken(ctx: Ctx) -> str:
    CALLS["坏:" + ctx.openid] += 1
    ctx.session.add(Sequence(name=f"seq:{ctx.openid}", value=1))
    ctx.member.employer = "不该保存"
    await ctx.notify(ctx.openid, "不该发出", key=f"note:{ctx.openid}")
    ctx.dialogue.set("writer:broken", {"n": 1})
    await ctx.session.flush()
    raise RuntimeError("boom")


@router.on(text_is("重复"))
async def duplicate_row(ctx: Ctx) -> str:
    """Fails at the flush: a primary key that exists (an IntegrityError, not a Python error)."""
    CALLS["重复:" + ctx.openid] += 1
    ctx.session.add(Sequence(name="taken", value=2))
    return "不会到这里"


@router.on(text_is("改"))
async def change_dialogue(ctx: Ctx) -> str:
    """Its first run has its dialogue row changed behind the writer's back."""
    CALLS["改:" + ctx.openid] += 1
    run = CALLS["改:" + ctx.openid]
    if run == 1:
        writer = OTHER_WRITER.get("engine")
        stmt = (update(Dialogue).where(Dialogue.openid == ctx.openid)
                .values(version=Dialogue.version + 1, state=None, data={"d": {"other": "yes"}, "drafts": {}}))
        if "hook" in OTHER_WRITER:
            await OTHER_WRITER["hook"](ctx)
        elif writer is None:  # in this transaction (what another writer would have done)
            await ctx.session.execute(stmt)
        else:  # really another connection, committed (PostgreSQL)
            async with writer.begin() as conn:
                await conn.execute(stmt)
    seen = ctx.dialogue.data.get("other", "no")
    ctx.dialogue.set("writer:changed", {**ctx.dialogue.data, "run": run})
    return f"第{run}次 other={seen}"


@router.on(text_is("慢"))
async def slow(ctx: Ctx) -> str:
    await asyncio.sleep(1.0)
    return "慢好了"


@router.on(text_is("快"))
async def quick(ctx: Ctx) -> str:
    return "快好了"


@pytest.fixture
async def proc(make_app, engine, path: str):  # noqa: ANN001
    CALLS.clear()
    OTHER_WRITER.clear()
    async for processor in recording_processor(make_app, router, path):
        yield processor


async def one(proc, model, *where):  # noqa: ANN001, ANN201
    async with proc.sessionmaker() as s:
        return await s.scalar(select(model).where(*where))


async def count(proc, model, *where) -> int:  # noqa: ANN001
    async with proc.sessionmaker() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


async def test_a_failing_handler_rolls_back_only_itself(proc) -> None:  # noqa: ANN001
    msgs = [incoming("oGood1", "写"), incoming("oBad", "坏"), incoming("oGood2", "写")]
    replies = await asyncio.gather(*(proc.handle(m) for m in msgs))
    assert proc.batches == [["oGood1", "oBad", "oGood2"]]  # one batch, run once
    assert says(replies[0], "写好了") and says(replies[2], "写好了") and says(replies[1], APOLOGY)
    assert CALLS == {"写:oGood1": 1, "坏:oBad": 1, "写:oGood2": 1}
    for good in ("oGood1", "oGood2"):
        assert (await one(proc, Sequence, Sequence.name == f"seq:{good}")).value == 1
        assert (await one(proc, Member, Member.openid == good)).employer == "好单位"
        assert await count(proc, Outbox, Outbox.key == f"note:{good}") == 1
        assert (await one(proc, Dialogue, Dialogue.openid == good)).state == "writer:step"
    assert await count(proc, Sequence, Sequence.name == "seq:oBad") == 0
    assert (await one(proc, Member, Member.openid == "oBad")).employer is None
    assert await count(proc, Outbox, Outbox.key == "note:oBad") == 0
    assert await count(proc, Dialogue, Dialogue.openid == "oBad") == 0
    statuses = {m.dedup_key: (await one(proc, InboundMessage, InboundMessage.key == m.dedup_key)).status
                for m in msgs}
    assert statuses == {"t:oGood1:1": "done", "t:oBad:1": "failed", "t:oGood2:1": "done"}
    proc.inflight.clear()  # as after the in-memory grace period: the stored apology answers
    assert await proc.handle(msgs[1]) == replies[1]
    assert CALLS["坏:oBad"] == 1


async def test_a_handler_failing_at_its_flush_fails_alone(proc) -> None:  # noqa: ANN001
    async with proc.sessionmaker() as s, s.begin():
        s.add(Sequence(name="taken", value=1))
    msgs = [incoming("oGood1", "写"), incoming("oDup", "重复"), incoming("oGood2", "写")]
    replies = await asyncio.gather(*(proc.handle(m) for m in msgs))
    assert says(replies[0], "写好了") and says(replies[2], "写好了") and says(replies[1], APOLOGY)
    assert (await one(proc, Sequence, Sequence.name == "taken")).value == 1
    for good in ("oGood1", "oGood2"):
        assert (await one(proc, Sequence, Sequence.name == f"seq:{good}")).value == 1
        assert await count(proc, Outbox, Outbox.key == f"note:{good}") == 1
    assert (await one(proc, InboundMessage, InboundMessage.key == "t:oDup:1")).status == "failed"


async def test_a_dialogue_changed_behind_the_writer_runs_the_message_again(proc) -> None:  # noqa: ANN001
    await proc.handle(incoming("oLock", "写", 1))  # the dialogue row now exists, version 1
    await proc.handle(incoming("oNew", "快", 1))  # a member without a dialogue row
    msgs = [incoming("oLock", "改", 2), incoming("oPeer", "写", 2)]
    replies = await asyncio.gather(*(proc.handle(m) for m in msgs))
    # The lock was lost: the batch rolled back (the change behind its back with it, being in the same
    # transaction here) and each message ran again alone.
    assert says(replies[0], "第2次 other=no") and says(replies[1], "写好了")
    assert CALLS["改:oLock"] == 2
    row = await one(proc, Dialogue, Dialogue.openid == "oLock")
    assert row.state == "writer:changed" and row.data["d"]["run"] == 2 and row.version == 2
    assert (await one(proc, Dialogue, Dialogue.openid == "oPeer")).state == "writer:step"
    assert (await one(proc, InboundMessage, InboundMessage.key == "t:oLock:2")).status == "done"
    # A row that appears meanwhile for a user who had none: the same.
    CALLS.clear()

    async def insert_first(ctx: Ctx) -> None:
        ctx.session.add(Dialogue(app_id=ctx.dialogue.app_id, openid=ctx.openid, state="other:x", data={"d": {}},
                                 version=1, updated_at=ctx.now))
        await ctx.session.flush()

    OTHER_WRITER["hook"] = insert_first
    reply = await proc.handle(incoming("oNew", "改", 2))
    assert says(reply, "第2次") and CALLS["改:oNew"] == 2
    assert (await one(proc, Dialogue, Dialogue.openid == "oNew")).version == 1


async def test_a_change_committed_by_another_connection_is_seen_on_the_rerun(proc, backend,  # noqa: ANN001
                                                                             db_url) -> None:  # noqa: ANN001
    if backend != "postgresql":
        pytest.skip("SQLite: the batch holds the write lock from its first statement, nobody can change the row")
    from tests.support.db import make_test_engine

    OTHER_WRITER["engine"] = other = make_test_engine(db_url)
    try:
        await proc.handle(incoming("oLock", "写", 1))
        reply = await proc.handle(incoming("oLock", "改", 2))
    finally:
        await other.dispose()
    assert says(reply, "第2次 other=yes")  # the re-run read the other writer's row
    row = await one(proc, Dialogue, Dialogue.openid == "oLock")
    assert row.version == 3 and row.data["d"] == {"other": "yes", "run": 2}


async def test_a_slow_handler_holds_other_users_only_within_its_batch(proc, backend) -> None:  # noqa: ANN001
    send, done = timed(proc)
    slow = asyncio.create_task(send(incoming("oSlow", "慢", 1)))
    await asyncio.sleep(0.15)  # the slow handler's batch is running
    others = [asyncio.create_task(send(incoming(f"oQuick{i}", "快", 1))) for i in range(3)]
    same_user = asyncio.create_task(send(incoming("oSlow", "快", 2)))
    replies = await asyncio.gather(slow, *others, same_user)
    assert says(replies[0], "慢好了") and all(says(r, "快好了") for r in replies[1:])
    assert done["oSlow:快"] >= done["oSlow:慢"]  # one user's messages: in order, one at a time
    quick = max(done[f"oQuick{i}:快"] for i in range(3))
    if backend == "postgresql":  # the next batch starts beside the stalled one
        assert quick < done["oSlow:慢"] - 0.4, done
    else:  # one connection: documented in docs/batch-semantics.md
        assert quick >= done["oSlow:慢"] - 0.05, done


async def test_a_user_stays_held_while_their_slow_batch_runs_though_another_batch_finished(proc, backend) -> None:  # noqa: ANN001
    """A batch that finishes beside a stalled one releases only its own users: the slow user's next
    message still waits in the queue, so it never takes another user's batch down with it."""
    send, done = timed(proc)
    slow = asyncio.create_task(send(incoming("oSlow", "慢", 1)))
    await asyncio.sleep(0.15)  # the slow handler's batch is running
    assert says(await send(incoming("oQuick0", "快", 1)), "快好了")  # a batch beside it, finished
    pair = [asyncio.create_task(send(incoming("oSlow", "快", 2))), asyncio.create_task(send(incoming("oQuick1", "快", 1)))]
    replies = await asyncio.gather(slow, *pair)
    assert says(replies[0], "慢好了") and says(replies[1], "快好了") and says(replies[2], "快好了")
    assert done["oSlow:快"] >= done["oSlow:慢"]
    if backend == "postgresql":  # the other user is not held behind the slow user's lock
        assert done["oQuick1:快"] < done["oSlow:慢"] - 0.4, done


async def test_a_user_known_to_be_slow_gets_a_batch_of_their_own(proc) -> None:  # noqa: ANN001
    """Where batches run side by side (PostgreSQL), nobody shares a batch with a user whose last
    handler was slow; their messages keep their order."""
    from bot.pipeline import InFlight

    proc.max_batches = 4
    proc._timed("oS", proc.stall_after * 10)
    loop = asyncio.get_running_loop()
    for openid, n in (("oA", 1), ("oS", 1), ("oB", 1), ("oS", 2), ("oC", 1)):
        proc._queue.append(InFlight(incoming(openid, "快", n), loop.create_future()))
    taken = [[f"{fl.msg.openid}:{fl.msg.dedup_key[-1]}" for fl in proc._take_batch()] for _ in range(4)]
    assert taken == [["oA:1", "oB:1", "oC:1"], ["oS:1"], ["oS:2"], []]
    proc._timed("oS", 0.0)  # a quick handler: back with the others
    assert "oS" not in proc._slow
