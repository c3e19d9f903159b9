"""The pipeline's promises that mutation testing found untested (mutation/report-pipeline.txt):
a slow answer that is a news reply still reaches the person, whole, through the outbox; a handler
that hits a deadlock or serialization failure runs once more, from the dialogue as it was read."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.core.types import Article, NewsReply
from bot.db.models import Dialogue, InboundMessage, Outbox, Sequence
from bot.keys import PROCESSOR
from tests.support.settings import SLOW_HANDLER, short_reply_settings

router = Router("pipeline-mutants")


@router.on(text_is("慢新闻"))
async def slow_news(ctx: Ctx) -> NewsReply:
    await asyncio.sleep(SLOW_HANDLER)
    return NewsReply((Article("活动通知", "周六上午九点", "https://example.org/a", "https://example.org/a.jpg"),
                      Article("报名须知")))


@router.on(text_is("出错"))
async def broken(ctx: Ctx) -> str:
    raise RuntimeError("boom")


class _DriverError(Exception):
    """What a database driver raises: asyncpg names the SQLSTATE `sqlstate`, psycopg `pgcode`."""


CONFLICT = {"code": ("sqlstate", "40001")}  # what the next "冲突" message raises on its first run
CALLS: dict[str, int] = {}


@router.on(text_is("冲突"))
async def conflicted(ctx: Ctx) -> str:
    CALLS[ctx.openid] = CALLS.get(ctx.openid, 0) + 1
    if CALLS[ctx.openid] == 1:
        ctx.dialogue.set("probe:half", {"n": 1})
        await ctx.notify(ctx.openid, "第一次的通知", key=f"probe:{ctx.openid}", purpose="probe")
        orig = _DriverError("could not serialize access")
        attr, code = CONFLICT["code"]
        setattr(orig, attr, code)
        raise DBAPIError("UPDATE dialogues ...", {}, orig)
    return f"第{CALLS[ctx.openid]}次：对话{ctx.dialogue.state or '未开始'}"


@pytest.fixture(autouse=True)
def _fresh_calls():  # noqa: ANN202  (each test, and each database, counts its own runs)
    CALLS.clear()
    yield
    CONFLICT["code"] = ("sqlstate", "40001")


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001
    return short_reply_settings(db_url, tmp_path)


@pytest.fixture
async def app(make_app, engine):  # noqa: ANN001
    return make_app(extra_routers=[router])


async def test_a_slow_news_reply_is_queued_whole_for_that_person(sim, db, app):  # noqa: ANN001
    u = sim.user("oSlowNews")
    assert await u.send("慢新闻") is None  # `success` after the timeout
    await app[PROCESSOR].drain()
    async with db() as s:
        [row] = (await s.scalars(select(Outbox).where(Outbox.purpose == "late_reply"))).all()
    assert (row.openid, row.kind, row.status) == ("oSlowNews", "news", "pending")
    assert row.key.startswith("reply:")
    assert row.payload["articles"] == [
        {"title": "活动通知", "description": "周六上午九点", "url": "https://example.org/a",
         "picurl": "https://example.org/a.jpg"},
        {"title": "报名须知", "description": "", "url": "", "picurl": ""},
    ]
    assert await u.resend() is None  # a re-send queues nothing more
    await app[PROCESSOR].drain()
    async with db() as s:
        assert len((await s.scalars(select(Outbox).where(Outbox.purpose == "late_reply"))).all()) == 1


async def test_a_resent_message_that_failed_gets_the_same_apology_and_is_not_run_again(sim):  # noqa: ANN001
    from bot.pipeline import APOLOGY

    u = sim.user("oUnlucky")
    assert await u.send("出错") == APOLOGY
    assert await u.resend() == APOLOGY  # stored with the failure: WeChat's retry gets it too


@pytest.mark.parametrize("code", [("sqlstate", "40001"), ("sqlstate", "40P01"), ("pgcode", "40001"),
                                  ("pgcode", "40P01")])
async def test_a_deadlock_or_serialization_failure_runs_the_handler_once_more_from_scratch(sim, db, code):  # noqa: ANN001
    CONFLICT["code"] = code
    openid = f"oConflict{code[0]}{code[1]}"
    u = sim.user(openid)
    # the second run sees the dialogue as it was read, not what the failed run had set
    assert await u.send("冲突") == "第2次：对话未开始"
    assert CALLS[openid] == 2
    async with db() as s:
        assert (await s.scalars(select(Outbox).where(Outbox.openid == openid))).all() == []  # rolled back


@router.on(text_is("开始重试"))
async def retry_start(ctx: Ctx) -> str:
    ctx.dialogue.set("retry:ask", {"n": 1})
    return "好的"


@router.state("retry:")
async def retry_step(ctx: Ctx) -> str | None:
    """Mid-dialogue: the first run conflicts, the second writes the dialogue, a notice and reads the member."""
    CALLS[ctx.openid] = CALLS.get(ctx.openid, 0) + 1
    if CALLS[ctx.openid] == 1:
        ctx.dialogue.set("retry:broken", {"n": 99})
        await ctx.notify(ctx.openid, "第一次的通知", key=f"probe1:{ctx.openid}", purpose="probe")
        orig = _DriverError("deadlock detected")
        orig.sqlstate = "40P01"  # type: ignore[attr-defined]
        raise DBAPIError("UPDATE dialogues ...", {}, orig)
    seen = f"{ctx.dialogue.state}/{ctx.dialogue.data.get('n')}"
    ctx.dialogue.set("retry:done", {"n": 2}, ttl=timedelta(hours=1))
    await ctx.notify(ctx.openid, "第二次的通知", key=f"probe2:{ctx.openid}", purpose="probe")
    if ctx.text == "不用回复":
        return None
    return f"第{CALLS[ctx.openid]}次：对话{seen}，用户{ctx.member_row.openid}"


@pytest.mark.parametrize("answer", ["三口人", "不用回复"])
async def test_the_run_after_a_deadlock_continues_the_dialogue_as_read_and_its_writes_stay(sim, db, app, clock, answer):  # noqa: ANN001
    openid = f"oRetryMid{len(answer)}"
    u = sim.user(openid)
    assert await u.send("开始重试") == "好的"
    reply = await u.send(answer)
    assert CALLS[openid] == 2
    if answer == "不用回复":  # the second run says nothing: nothing is sent, no apology
        assert reply is None
    else:  # it saw the dialogue as it was before the failed run, and the member read with the message
        assert reply == f"第2次：对话retry:ask/1，用户{openid}"
    async with db() as s:
        notes = (await s.scalars(select(Outbox).where(Outbox.openid == openid))).all()
        [dialogue] = (await s.scalars(select(Dialogue).where(Dialogue.openid == openid))).all()
    assert [(n.key, n.payload.get("text")) for n in notes] == [(f"probe2:{openid}", "第二次的通知")]
    assert (dialogue.app_id, dialogue.state, dialogue.data["d"]) == (app[PROCESSOR].app_id, "retry:done", {"n": 2})
    assert dialogue.expires_at is not None
    assert abs((_aware(dialogue.expires_at) - clock.now()) - timedelta(hours=1)) < timedelta(seconds=1)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


async def test_any_other_database_error_is_not_run_again_and_gets_the_apology(sim, db):  # noqa: ANN001
    from bot.pipeline import APOLOGY

    CONFLICT["code"] = ("sqlstate", "23505")  # a unique violation: running it again would not help
    u = sim.user("oConflictUnique")
    assert await u.send("冲突") == APOLOGY
    assert CALLS["oConflictUnique"] == 1


# ---------------------------------------------------------------- triage of the surviving mutants
# (mutation/report-pipeline.txt, "## survived:"; the equivalents are in mutation/triage/pipeline.txt)

GATE: dict[str, asyncio.Event] = {}  # the "闸门" handler: `started` is set when it runs, it waits for `release`


@router.on(text_is("闸门"))
async def gated(ctx: Ctx) -> str:
    CALLS[ctx.openid] = CALLS.get(ctx.openid, 0) + 1
    GATE["started"].set()
    await GATE["release"].wait()
    return "闸门开了"


@router.on(text_is("快"))
async def quick(ctx: Ctx) -> str:
    return "快好了"


@router.on(text_is("占号"))
async def taken_number(ctx: Ctx) -> str:
    """Fails at its flush (a primary key that exists): the whole transaction is lost, not just the savepoint."""
    ctx.session.add(Sequence(name="taken", value=2))
    return "不会到这里"


RACES = {"lost": 0}  # how many runs of "抢改" find their dialogue row created behind the writer's back


@router.on(text_is("抢改"))
async def raced(ctx: Ctx) -> str:
    CALLS[ctx.openid] = CALLS.get(ctx.openid, 0) + 1
    run = CALLS[ctx.openid]
    if run <= RACES["lost"]:  # someone else creates the dialogue row meanwhile: the optimistic lock is lost
        ctx.session.add(Dialogue(app_id=ctx.dialogue.app_id, openid=ctx.openid, state="other:x", data={"d": {}},
                                 version=1, updated_at=ctx.now))
        await ctx.session.flush()
    ctx.dialogue.set("probe:raced", {"run": run})
    return f"第{run}次"


def _gate() -> None:
    GATE["started"] = asyncio.Event()
    GATE["release"] = asyncio.Event()


async def _post(sim, params, body) -> bytes:  # noqa: ANN001
    r = await sim.post_raw(body, params, sign=False)
    assert r.status == 200
    return await r.read()


async def _joined(proc, n: int) -> None:  # noqa: ANN001
    """Until a delivery of the running message has n waiters (bounded: a broken map never gets there)."""
    for _ in range(2000):
        if any(getattr(fl, "waiters", 0) >= n for fl in proc.inflight.values()):
            return
        await asyncio.sleep(0.005)


async def _late_replies(db) -> list:  # noqa: ANN001
    async with db() as s:
        return (await s.scalars(select(Outbox).where(Outbox.purpose == "late_reply"))).all()


@pytest.mark.parametrize("who_times_out", ["the first delivery", "the re-send"])
async def test_a_resend_while_the_handler_runs_takes_the_passive_reply_if_it_still_waits(
        sim, db, app, who_times_out) -> None:  # noqa: ANN001
    """One delivery's reply timeout passed (it answered `success`), the other still waits when the
    handler finishes: that one gets the reply itself, the handler ran once, nothing goes to the outbox."""
    proc = app[PROCESSOR]
    _gate()
    params, body = sim.build("oGate", MsgType="text", Content="闸门", MsgId=4242001)
    short, long_ = 0.01, 60.0
    proc.timeout = short if who_times_out == "the first delivery" else long_
    first = asyncio.create_task(_post(sim, params, body))
    await GATE["started"].wait()
    if who_times_out == "the first delivery":
        assert await first == b"success"
        proc.timeout = long_
        waiting = asyncio.create_task(_post(sim, params, body))  # WeChat's retry, while the handler runs
        await _joined(proc, 1)
    else:
        proc.timeout = short
        assert await _post(sim, params, body) == b"success"  # a retry that gave up; the first still waits
        waiting = first
    GATE["release"].set()
    reply = await waiting
    assert "闸门开了".encode() in reply
    proc.timeout = long_
    assert await _post(sim, params, body) == reply  # later re-sends: the same bytes, from the database
    assert CALLS["oGate"] == 1
    assert await _late_replies(db) == []  # it was answered in the reply: nothing sent again later


async def test_a_reply_committed_as_the_timeout_passes_is_still_the_passive_reply(sim, db, app) -> None:  # noqa: ANN001
    """A delivery whose reply timeout passes while its reply is being committed (decided as a passive
    reply, so not queued in the outbox) waits for the commit and answers with it: the reply is not lost."""
    proc = app[PROCESSOR]
    committed, release = asyncio.Event(), asyncio.Event()
    run = proc._process

    async def slow_commit(batch):  # noqa: ANN001, ANN202
        results = await run(batch)
        committed.set()  # decided and committed, the waiters not told yet: a commit that takes long
        await release.wait()
        return results

    proc._process = slow_commit
    params, body = sim.build("oCommit", MsgType="text", Content="快", MsgId=4242002)
    proc.timeout = 60.0
    first = asyncio.create_task(_post(sim, params, body))
    await committed.wait()
    proc.timeout = 0.01
    second = asyncio.create_task(_post(sim, params, body))  # joins, and its timeout passes during the commit
    await _joined(proc, 2)
    await asyncio.sleep(0.2)  # its timer (0.01 s, set before this sleep began) has fired
    release.set()
    reply = await second
    assert "快好了".encode() in reply and await first == reply
    assert await _late_replies(db) == []


async def test_a_message_failing_outside_its_handler_is_an_error_in_the_metrics(client, sim, db) -> None:  # noqa: ANN001
    from prometheus_client.parser import text_string_to_metric_families

    from bot.pipeline import APOLOGY

    async with db() as s, s.begin():
        s.add(Sequence(name="taken", value=1))
    assert await sim.user("oTaken").send("占号") == APOLOGY
    r = await client.get("/metrics")
    handled = {tuple(sorted(s.labels.items())): s.value for fam in text_string_to_metric_families(await r.text())
               for s in fam.samples if s.name == "unionbot_messages_handled_total"}
    assert handled == {(("kind", "text"), ("outcome", "error")): 1.0}
    async with db() as s:
        assert (await s.scalar(select(InboundMessage).where(InboundMessage.openid == "oTaken"))).status == "failed"


@pytest.mark.parametrize(("lost", "answer"), [(2, "第3次"), (3, None)])
async def test_a_lost_dialogue_lock_runs_the_message_again_twice_at_most(sim, db, lost, answer) -> None:  # noqa: ANN001
    """docs/batch-semantics.md: the message runs again on the fresh row, up to twice; then the apology."""
    from bot.pipeline import APOLOGY

    RACES["lost"] = lost
    try:
        reply = await sim.user(f"oRaced{lost}").send("抢改")
    finally:
        RACES["lost"] = 0
    assert reply == (answer or APOLOGY)
    assert CALLS[f"oRaced{lost}"] == 3  # the first run and two more
    async with db() as s:
        row = await s.scalar(select(InboundMessage).where(InboundMessage.openid == f"oRaced{lost}"))
    assert row.status == ("done" if answer else "failed")


async def test_an_idle_writer_ends_and_the_next_message_starts_another(sim, app, monkeypatch) -> None:  # noqa: ANN001
    """The writer task ends after a minute without messages (shortened here); the next message is answered."""
    real = asyncio.wait_for

    async def quick_minute(aw, timeout):  # noqa: ANN001, ANN202
        return await real(aw, 0.01 if timeout == 60 else timeout)

    monkeypatch.setattr(asyncio, "wait_for", quick_minute)
    proc = app[PROCESSOR]
    u = sim.user("oIdle")
    first = asyncio.create_task(u.send("快"))
    for _ in range(2000):
        if proc._writer is not None:
            break
        await asyncio.sleep(0.005)
    writer = proc._writer
    assert await first == "快好了"
    done, _ = await asyncio.wait({writer}, timeout=10)
    assert writer in done and not writer.cancelled()
    assert await u.send("快") == "快好了"


@pytest.fixture
async def proc(app):  # noqa: ANN001
    """The processor driven directly (the app is not served)."""
    from bot.keys import SESSIONMAKER

    yield app[PROCESSOR]
    await asyncio.wait_for(app[PROCESSOR].close(), 30)  # bounded: a broken writer must not hang the run
    await app[SESSIONMAKER].kw["bind"].dispose()


def incoming(openid: str, text: str, n: int = 1):  # noqa: ANN201
    from datetime import datetime, timezone

    from bot.core.types import Incoming

    return Incoming(openid=openid, kind="text", create_time=datetime.now(timezone.utc), dedup_key=f"t:{openid}:{n}",
                    text=text, msg_id=str(n))


async def test_close_stops_the_writer_before_it_returns_and_can_be_repeated(proc) -> None:  # noqa: ANN001
    assert b"\xe5\xbf\xab\xe5\xa5\xbd\xe4\xba\x86" in await proc.handle(incoming("oClose", "快", 1))  # 快好了
    writer = proc._writer
    await proc.close()
    assert writer.done()  # stopped, not just asked to stop: nothing of it runs after close
    # a message after that starts a writer again (as after its idle minute), and close works again
    assert "快好了".encode() in await proc.handle(incoming("oClose", "快", 2))
    await proc.close()


def _batches(proc, *openids: str) -> list[list[str]]:  # noqa: ANN001
    from bot.pipeline import InFlight

    loop = asyncio.get_running_loop()
    for n, openid in enumerate(openids):
        proc._queue.append(InFlight(incoming(openid, "快", n), loop.create_future()))
    out = []
    while batch := proc._take_batch():
        out.append([fl.msg.openid for fl in batch])
    return out


async def test_slow_means_longer_than_stall_after(proc) -> None:  # noqa: ANN001
    proc.max_batches = 4  # batches side by side, as on PostgreSQL
    proc._timed("oEdge", proc.stall_after)  # exactly stall_after: not slow
    proc._timed("oSlow", proc.stall_after * 2)
    assert _batches(proc, "oA", "oEdge", "oSlow", "oB") == [["oA", "oEdge", "oB"], ["oSlow"]]


async def test_at_most_slow_users_are_remembered(proc) -> None:  # noqa: ANN001
    from bot.pipeline import SLOW_USERS

    proc.max_batches = 4
    for i in range(SLOW_USERS):
        proc._timed(f"oS{i}", 1.0)
    assert _batches(proc, "oA", "oS0") == [["oA"], ["oS0"]]  # still known to be slow
    proc._timed("oOneMore", 1.0)  # one more than SLOW_USERS: the others are forgotten
    assert len(proc._slow) <= SLOW_USERS
    assert _batches(proc, "oA", "oS0", "oOneMore") == [["oA", "oS0"], ["oOneMore"]]


async def test_another_worker_holding_a_users_advisory_lock_holds_that_users_message(sim, backend,  # noqa: ANN001
                                                                                      db_url) -> None:  # noqa: ANN001
    """Per-user order across processes (PostgreSQL): every worker, of this release or the previous
    one during a rolling restart, takes the same lock for a user — key ("UB" << 32) | crc32(openid),
    apart from the scheduler's leader lock ("UL" << 32 | …, scheduler/leader.py)."""
    if backend != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    import zlib

    from sqlalchemy import text

    from tests.support.db import make_test_engine

    crc = zlib.crc32(b"oHeld")
    other = make_test_engine(db_url)
    try:
        async with other.connect() as conn:
            tx = await conn.begin()
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": (0x5542 << 32) | crc})
            reply = asyncio.create_task(sim.user("oHeld").send("快"))
            waiting = 0
            for _ in range(1000):  # until the message waits for the lock (or is answered: it did not)
                waiting = await conn.scalar(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND classid::text::bigint = :hi AND objid::text::bigint = :lo"), {"hi": 0x5542, "lo": crc})
                if waiting or reply.done():
                    break
                await asyncio.sleep(0.01)
            assert waiting == 1 and not reply.done()
            await tx.commit()
        assert await reply == "快好了"
    finally:
        await other.dispose()


async def test_drain_waits_for_a_batch_running_beside_the_writer_without_spinning(proc) -> None:  # noqa: ANN001
    """Shutdown (close → drain) while a slow batch runs beside the writer (PostgreSQL's way; forced
    here on both): drain sleeps until it ends, it does not go round the event loop meanwhile."""
    class CountingEvent(asyncio.Event):
        waits = 0

        async def wait(self) -> bool:  # noqa: D401
            CountingEvent.waits += 1
            return await super().wait()

    proc.max_batches = 4
    proc._idle = CountingEvent()
    proc._idle.set()
    _gate()
    reply = asyncio.create_task(proc.handle(incoming("oDrain", "闸门")))
    await GATE["started"].wait()
    drain = asyncio.create_task(proc.drain())
    await asyncio.sleep(0.2)  # the writer has long stopped waiting for the batch (stall_after)
    assert not drain.done()
    GATE["release"].set()
    await drain
    assert "闸门开了".encode() in await reply
    assert CountingEvent.waits <= 3
