"""The message writer's rows (bot/db/hotpath.py): promises that mutation testing found untested
(mutation/report-hotpath.txt). Which window of a member each kind of event opens (a re-follow
subscribes again, a menu click opens the short window, a link view opens none but still counts as a
visit); a handler's ORM changes are flushed inside its own savepoint (a later handler failing in the
same batch does not take them along); a handler whose flush is refused keeps nothing; the writer's
statements, built afresh, store the same rows; and on PostgreSQL (no executemany row counts) a batch
saving several dialogues is not mistaken for a lost optimistic lock."""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import event, func, insert, select

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.db import hotpath
from bot.db.models import Dialogue, InboundMessage, Member, Sequence
from bot.pipeline import APOLOGY
from tests.support.writer import incoming, path, recording_processor, says  # noqa: F401  (path: a fixture)

router = Router("hotpath-mutants")
CALLS: Counter[str] = Counter()


@router.on(text_is("记一笔"))
async def add_only(ctx: Ctx) -> str:
    """An ORM change and nothing after it that would flush it on the way (no query, no notify)."""
    CALLS["记一笔:" + ctx.openid] += 1
    ctx.session.add(Sequence(name=f"seq:{ctx.openid}", value=7))
    return "记好了"


@router.on(text_is("加了就坏"))
async def add_then_fail(ctx: Ctx) -> str:
    CALLS["加了就坏:" + ctx.openid] += 1
    ctx.session.add(Sequence(name=f"seq:{ctx.openid}", value=1))
    raise RuntimeError("boom")


@router.on(text_is("拒绝保存"))
async def refused_at_flush(ctx: Ctx) -> str:
    """Writes a row, then leaves an object whose flush is refused before anything is written."""
    await ctx.session.execute(insert(Sequence).values(name=f"seq:{ctx.openid}:a", value=1))

    def refuse(session, flush_context, instances) -> None:  # noqa: ANN001
        raise RuntimeError("refused before writing")

    event.listen(ctx.session.sync_session, "before_flush", refuse, once=True)
    ctx.session.add(Sequence(name=f"seq:{ctx.openid}:b", value=1))
    return "不该回这个"


@router.on(text_is("开个头"))
async def start_dialogue(ctx: Ctx) -> str:
    CALLS["开个头:" + ctx.openid] += 1
    ctx.dialogue.set("hotpath:step", {"n": CALLS["开个头:" + ctx.openid]})
    return "开始了"


@pytest.fixture(autouse=True)
def _fresh_calls():  # noqa: ANN202
    CALLS.clear()
    yield
    CALLS.clear()


@pytest.fixture
async def app(make_app, engine):  # noqa: ANN001
    return make_app(extra_routers=[router])


async def _member(db, openid: str) -> Member:  # noqa: ANN001
    async with db() as s:
        return await s.scalar(select(Member).where(Member.openid == openid))


async def _status(db, openid: str) -> list[str]:  # noqa: ANN001
    async with db() as s:
        return list((await s.scalars(select(InboundMessage.status).where(InboundMessage.openid == openid))).all())


# --- which window a message opens on its member row ----------------------------------------------

async def test_following_again_after_unfollowing_marks_the_member_subscribed_again(sim, db, clock) -> None:  # noqa: ANN001
    u = sim.user("oRefollow")
    await u.follow()
    clock.advance(minutes=5)
    await u.unfollow()
    gone = await _member(db, "oRefollow")
    assert gone.subscribed is False and gone.unsubscribed_at is not None
    clock.advance(minutes=5)
    await u.follow()
    back = await _member(db, "oRefollow")
    assert back.subscribed is True
    assert back.unsubscribed_at is None
    assert back.evt_window_at == clock.now()  # following opens the short window too


async def test_a_menu_click_opens_the_short_event_window(sim, db, clock) -> None:  # noqa: ANN001
    u = sim.user("oClicker")
    await u.send("你好")  # known member, message window open
    clock.advance(minutes=3)
    await u.click("NO_SUCH_MENU_KEY")
    m = await _member(db, "oClicker")
    assert m.evt_window_at == clock.now()
    assert m.evt_window_used == 0
    assert m.last_seen == clock.now()


async def test_an_event_that_opens_no_window_still_records_the_visit(sim, db, clock) -> None:  # noqa: ANN001
    u = sim.user("oViewer")
    await u.event("VIEW", "https://example.org/page")
    m = await _member(db, "oViewer")
    assert m is not None and m.last_seen == clock.now()
    assert m.evt_window_at is None and m.msg_window_at is None  # a link view allows no replies
    assert await _status(db, "oViewer") == ["done"]  # handled, not failed
    clock.advance(minutes=2)
    await u.event("VIEW", "https://example.org/other")
    m = await _member(db, "oViewer")
    assert m.last_seen == clock.now() and m.evt_window_at is None
    assert sorted(await _status(db, "oViewer")) == ["done", "done"]


# --- the writer's statements, built afresh (as in a new process) --------------------------------

@pytest.fixture
def fresh_statements():  # noqa: ANN201
    """Forget the statements built so far: this test's messages build (and use) new ones."""
    built = (hotpath._claim, hotpath._failed, hotpath._insert_dialogue, hotpath._member_upsert)
    for f in built:
        f.cache_clear()
    yield
    for f in built:
        f.cache_clear()


async def test_freshly_built_statements_store_the_messages_and_members(fresh_statements, sim, db, clock) -> None:  # noqa: ANN001
    u = sim.user("oFresh")
    await u.follow()
    clock.advance(minutes=1)
    await u.event("VIEW", "https://example.org/page")
    clock.advance(minutes=1)
    assert await u.send("开个头") == "开始了"
    async with db() as s:
        received = sorted((await s.scalars(select(InboundMessage.received_at)
                                           .where(InboundMessage.openid == "oFresh"))).all())
        d = await s.scalar(select(Dialogue).where(Dialogue.openid == "oFresh"))
    assert len(received) == 3 and received[-1] == clock.now()
    assert await _status(db, "oFresh") == ["done"] * 3
    m = await _member(db, "oFresh")
    assert m.last_seen == clock.now() and m.first_seen < m.last_seen
    assert m.msg_window_at is not None and m.evt_window_at is not None and m.subscribed is True
    assert d.state == "hotpath:step" and d.version == 1


# --- a savepoint per handler --------------------------------------------------------------------

async def test_a_refused_flush_keeps_nothing_of_that_handler(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oRefused")
    assert await u.send("拒绝保存") == APOLOGY
    async with db() as s:
        names = (await s.scalars(select(Sequence.name).where(Sequence.name.like("seq:oRefused%")))).all()
    assert names == []  # neither the row it wrote nor the object it left
    assert await _status(db, "oRefused") == ["failed"]
    assert await u.send("开个头") == "开始了"  # and the user goes on normally


@pytest.fixture
async def proc(make_app, engine, path: str):  # noqa: ANN001
    async for processor in recording_processor(make_app, router, path):
        yield processor


async def test_changes_left_unflushed_by_a_handler_survive_a_later_handler_failing(proc) -> None:  # noqa: ANN001
    msgs = [incoming("oKeeper", "记一笔"), incoming("oBreaker", "加了就坏")]
    replies = await asyncio.gather(*(proc.handle(m) for m in msgs))
    assert proc.batches == [["oKeeper", "oBreaker"]]  # one batch
    assert says(replies[0], "记好了") and says(replies[1], APOLOGY)
    async with proc.sessionmaker() as s:
        kept = await s.scalar(select(Sequence.value).where(Sequence.name == "seq:oKeeper"))
        broken = await s.scalar(select(func.count()).select_from(Sequence).where(Sequence.name == "seq:oBreaker"))
    assert kept == 7
    assert broken == 0


async def test_a_batch_saving_several_new_dialogues_runs_each_handler_once(proc) -> None:  # noqa: ANN001
    users = ["oFirst", "oSecond", "oThird"]
    replies = await asyncio.gather(*(proc.handle(incoming(o, "开个头")) for o in users))
    assert all(says(r, "开始了") for r in replies)
    assert proc.batches == [users]  # one batch, not re-run one by one
    assert CALLS == {f"开个头:{o}": 1 for o in users}
    # and again, now that each has a dialogue row (the optimistic update of several rows)
    replies = await asyncio.gather(*(proc.handle(incoming(o, "开个头", 2)) for o in users))
    assert all(says(r, "开始了") for r in replies)
    assert proc.batches == [users, users]
    assert CALLS == {f"开个头:{o}": 2 for o in users}
    async with proc.sessionmaker() as s:
        rows = (await s.scalars(select(Dialogue).where(Dialogue.openid.in_(users)))).all()
    assert sorted((d.openid, d.version, d.data["d"]["n"]) for d in rows) == sorted((o, 2, 2) for o in users)


async def test_messages_claimed_together_are_stored_received_at_the_batch_time(fresh_statements, proc,  # noqa: ANN001
                                                                              clock) -> None:  # noqa: ANN001
    users = ["oTogether1", "oTogether2", "oTogether3"]
    replies = await asyncio.gather(*(proc.handle(incoming(o, "记一笔")) for o in users))
    assert all(says(r, "记好了") for r in replies) and proc.batches == [users]
    async with proc.sessionmaker() as s:
        at_batch_time = await s.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.openid.in_(users), InboundMessage.received_at == clock.now()))
        not_after = await s.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.openid.in_(users), InboundMessage.received_at <= clock.now()))
    assert at_batch_time == len(users)  # what a search by time of receipt finds
    assert not_after == len(users)  # and what a retention cut-off at that time would take
