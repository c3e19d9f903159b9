"""Delivery and outbox promises that mutation testing found untested (mutation/report-outbox.txt):
whose customer-service window a message uses, what a template send that failed leaves for staff,
what a dead sender's template row becomes, the follow-up lists staff phone from, and the row
locks that keep two workers (or two staff members) from trampling each other (PostgreSQL), what a
queued message records, and the delivery loop woken as soon as a reply queues the rest of itself."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from aiohttp import web
from sqlalchemy import event, func, select, text

from bot import outbox
from bot.config import OutboxSettings
from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.db.models import Member, Outbox
from bot.keys import DELIVERY
from bot.metrics import Metrics
from tests.framework.test_delivery import HOUR, NOTICE, World, _crash_mid_send

@pytest.fixture
async def world(fake_wechat, sessionmaker, clock, db_url):  # noqa: ANN001, ANN201
    w = World(fake_wechat, sessionmaker, clock, db_url)
    yield w
    await w.close()


@pytest.fixture
def pg_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("row locks: SQLite lets one transaction write at a time (one connection here)")


async def _member(world: World, openid: str, *, app_id: str, msg_ago: timedelta | None = None) -> int:
    now = world.clock.now()
    async with world.sessionmaker() as s, s.begin():
        m = Member(app_id=app_id, openid=openid, first_seen=now, last_seen=now,
                   msg_window_at=now - msg_ago if msg_ago is not None else None, msg_window_used=0,
                   evt_window_at=None, evt_window_used=0)
        s.add(m)
        await s.flush()
        return m.id


async def _windows_used(world: World) -> dict[tuple[str, str], int]:
    async with world.sessionmaker() as s:
        rows = await s.execute(select(Member.app_id, Member.openid, Member.msg_window_used))
        return {(a, o): n for a, o, n in rows.all()}


async def _blocked_by(sessionmaker, pid: int) -> bool:  # noqa: ANN001
    """Whether some database session is waiting for a lock the session `pid` holds."""
    async with sessionmaker() as s:
        return bool(await s.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                                   {"pid": pid}))


async def _wait_blocked_by(sessionmaker, pid: int, task: asyncio.Future | None = None) -> bool:  # noqa: ANN001
    """Wait until some session waits on `pid`'s locks (True) or `task` ends first (False)."""
    for _ in range(500):
        if await _blocked_by(sessionmaker, pid):
            return True
        if task is not None and task.done():
            return False
        await asyncio.sleep(0.01)
    raise AssertionError("nobody ever waited")


# ---- whose window ---------------------------------------------------------------------


async def test_a_person_known_before_and_under_this_account_gets_this_accounts_window(world):  # noqa: ANN001
    """A member row of this account is preferred to an older row without an account."""
    app_id = world.fake.app_id  # the account World's deliveries send for
    await _member(world, "oW", app_id="", msg_ago=timedelta(hours=50))  # older row: window closed
    await _member(world, "oW", app_id=app_id, msg_ago=HOUR)  # this account's row: wrote an hour ago
    await world.enqueue("k1", "oW", text="您的申请已受理。")
    await world.delivery(templates={}).run_once()
    row = await world.row("k1")
    assert (row.status, row.via) == ("sent", "cs")
    assert world.fake.delivered == [{"openid": "oW", "kind": "text", "text": "您的申请已受理。"}]
    assert await _windows_used(world) == {("", "oW"): 0, (app_id, "oW"): 1}


async def test_a_window_opened_under_another_account_does_not_count(world):  # noqa: ANN001
    await _member(world, "oW", app_id="wxsomeoneelse", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您的申请已受理。")
    await world.delivery(templates={}).run_once()
    row = await world.row("k1")
    assert row.status == "unreachable" and row.last_error.startswith("outside the customer-service window")
    assert world.fake.delivered == []
    assert await _windows_used(world) == {("wxsomeoneelse", "oW"): 0}


async def test_a_click_window_used_up_earlier_stays_used_up(world):  # noqa: ANN001
    await world.member("oW", evt_ago=timedelta(seconds=10), evt_used=3)  # 3 sent since the click
    await world.enqueue("k1", "oW", text="第四条")
    await world.delivery(templates={}).run_once()
    assert (await world.row("k1")).status == "unreachable"
    assert world.fake.delivered == []


async def test_a_pass_that_takes_no_window_slot_writes_nothing_to_the_members(world):  # noqa: ANN001
    await world.member("oW", msg_ago=timedelta(hours=50))  # window closed: goes as a template
    await world.enqueue("k1", "oW", text="您的申请已受理。", template=NOTICE)
    engine = world.sessionmaker.kw["bind"]
    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await world.delivery().run_once()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    row = await world.row("k1")
    assert (row.status, row.via) == ("sent", "template")
    assert [st for st in statements if st.lstrip().upper().startswith("UPDATE MEMBER")] == []


# ---- a sender that died ---------------------------------------------------------------


async def test_a_message_routed_to_a_template_is_resent_as_one_when_its_sender_hangs(world):  # noqa: ANN001
    """The route is recorded with the claim: a row whose sender stopped mid-template-send is
    resent as the same template (WeChat drops a repeat), not left `uncertain`."""
    await world.member("oW", msg_ago=timedelta(hours=50))  # window closed: the plan is a template
    await world.enqueue("k1", "oW", text="您的帮扶申请已受理。", template=NOTICE)
    dying = world.delivery()
    entered, release = asyncio.Event(), asyncio.Event()

    async def stuck(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        entered.set()
        await release.wait()

    dying.api.send_template = stuck  # the worker hangs mid-send, as good as dead
    task = asyncio.create_task(dying.run_once())
    try:
        await asyncio.wait_for(entered.wait(), 5)
        world.clock.advance(seconds=61)  # its claim runs out; another worker takes the row over
        assert await world.delivery().run_once() == 1
    finally:
        release.set()
        await asyncio.wait_for(task, 5)
    row = await world.row("k1")
    assert (row.status, row.via) == ("sent", "template")
    assert [(d["kind"], d["client_msg_id"]) for d in world.fake.delivered] == [("template", "k1")]


async def test_a_dead_senders_template_stays_a_template_though_the_window_opened_since(world):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)  # the person has written since: their window is open now
    await world.enqueue("k1", "oW", text="您的帮扶申请已受理。", template=NOTICE)
    await _crash_mid_send(world, "k1", via="template")
    world.clock.advance(seconds=61)
    await world.delivery().run_once()
    assert [(d["kind"], d["client_msg_id"]) for d in world.fake.delivered] == [("template", "k1")]
    row = await world.row("k1")
    assert (row.status, row.via) == ("sent", "template")
    assert await _windows_used(world) == {("", "oW"): 0}


# ---- template sends that failed ---------------------------------------------------------


async def test_a_template_send_that_failed_for_a_passing_reason_is_retried_and_counted(world):  # noqa: ANN001
    await world.enqueue("k1", "oW", text=None, template=NOTICE)
    world.fake.fail_next("/template/send", errcode=-1)  # system busy
    delivery = world.delivery(max_attempts=3)
    delivery.metrics = metrics = Metrics()
    await delivery.run_once()
    row = await world.row("k1")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "template-only message; template message failed: -1 injected"
    assert metrics.registry.get_sample_value("unionbot_delivery_failures_total", {"errcode": "-1"}) == 1


async def test_http_failures_are_counted_by_status_and_network_failures_as_network(world):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    world.fake.fail_http("/custom/send", status=502)
    delivery = world.delivery(backoff_base=1.0, backoff_cap=1.0)
    delivery.metrics = metrics = Metrics()
    await delivery.run_once()
    row = await world.row("k1")
    assert (row.status, row.last_error) == ("pending", "customer-service message failed: -1 HTTP 502 on /cgi-bin/message/custom/send")
    world.clock.advance(seconds=1)
    delivery.api.base_url = "http://127.0.0.1:1"  # WeChat out of reach: nothing listens there
    await delivery.run_once()
    row = await world.row("k1")
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.last_error.startswith("customer-service message failed: -1 ClientConnectorError on ")
    sample = metrics.registry.get_sample_value
    assert sample("unionbot_delivery_failures_total", {"errcode": "http502"}) == 1
    assert sample("unionbot_delivery_failures_total", {"errcode": "network"}) == 1
    assert world.fake.delivered == []


async def test_a_long_wechat_error_is_cut_to_500_characters_for_staff(world, monkeypatch):  # noqa: ANN001
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    long = "quota exceeded " * 60  # 900 characters

    def err(errcode: int, errmsg: str) -> web.Response:
        return web.json_response({"errcode": errcode, "errmsg": long})

    monkeypatch.setattr(world.fake, "_err", err)
    world.fake.fail_next("/custom/send", errcode=45009)  # quota: not retried
    await world.delivery().run_once()
    row = await world.row("k1")
    assert row.status == "failed"
    assert row.last_error == f"customer-service message failed: 45009 {long}"[:500]
    assert len(row.last_error) == 500


# ---- members locked by a claim (PostgreSQL) --------------------------------------------------


async def test_a_claim_does_not_wait_for_members_it_does_not_send_to(world, pg_only):  # noqa: ANN001
    """Another transaction busy with someone else's member row does not hold up delivery."""
    await world.member("oW", msg_ago=HOUR)
    await world.member("oOther", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    async with world.sessionmaker() as other:
        await other.execute(select(Member).where(Member.openid == "oOther").with_for_update())
        pid = await other.scalar(text("SELECT pg_backend_pid()"))
        task = asyncio.create_task(world.delivery().run_once())
        try:
            waited = await _wait_blocked_by(world.sessionmaker, pid, task)
        finally:
            await other.rollback()
            await asyncio.wait_for(task, 5)
    assert not waited
    assert (await world.row("k1")).status == "sent"


async def test_a_claim_locks_members_in_id_order(world, pg_only):  # noqa: ANN001
    """A transaction that locks members in id order, as delivery does, never deadlocks with it:
    while the claim waits for the first member it has not taken the second."""
    first = await _member(world, "oZ", app_id="", msg_ago=HOUR)
    second = await _member(world, "oA", app_id="", msg_ago=HOUR)  # sorts first by openid
    async with world.sessionmaker() as s, s.begin():  # the first row's new version now lies after the second's
        (await s.get(Member, first)).last_seen = world.clock.now() + timedelta(seconds=1)
    await world.enqueue("kZ", "oZ", text="给Z")
    await world.enqueue("kA", "oA", text="给A")
    async with world.sessionmaker() as other:
        await other.execute(select(Member.id).where(Member.id == first).with_for_update())
        pid = await other.scalar(text("SELECT pg_backend_pid()"))
        task = asyncio.create_task(world.delivery().run_once())
        try:
            assert await _wait_blocked_by(world.sessionmaker, pid, task)
            got = await other.scalar(select(Member.id).where(Member.id == second).with_for_update(nowait=True))
            await other.commit()
        finally:
            await other.rollback()
            await asyncio.wait_for(task, 5)
    assert got == second
    assert sorted(d["text"] for d in world.fake.delivered) == ["给A", "给Z"]


# ---- the outbox's lists --------------------------------------------------------------------


async def _queue_at(sessionmaker, *specs: tuple[str, datetime]) -> list[int]:  # noqa: ANN001
    """Queue (key, created_at) messages in this order; returns their ids."""
    ids = []
    async with sessionmaker() as s, s.begin():
        for key, at in specs:
            row = await outbox.enqueue(s, key=key, openid=f"o-{key}", now=at, text=f"text of {key}", purpose="test")
            ids.append(row.id)
    return ids


async def _set_status(sessionmaker, ids: list[int], status: str) -> None:  # noqa: ANN001
    async with sessionmaker() as s, s.begin():
        for i in ids:
            (await s.get(Outbox, i)).status = status


async def _mark(sessionmaker, message_id: int, *, staff_id: int, at: datetime) -> outbox.Message:  # noqa: ANN001
    async with sessionmaker() as s, s.begin():
        return await outbox.mark_followed_up(s, message_id, staff_id=staff_id, now=at)


async def test_asking_for_no_keys_and_no_prefix_finds_no_message(sessionmaker, clock):  # noqa: ANN001
    t = clock.now()
    await _queue_at(sessionmaker, ("XXXX:1", t), ("quiz:1", t), ("", t))
    async with sessionmaker() as s:
        assert await outbox.messages(s) == []
        assert await outbox.messages(s, keys=[]) == []
        assert await outbox.messages(s, keys=[], prefix="") == []


async def test_messages_by_keys_come_oldest_first_whatever_the_keys(sessionmaker, clock):  # noqa: ANN001
    t = clock.now()
    await _queue_at(sessionmaker, ("z:3", t), ("m:2", t), ("a:1", t))
    async with sessionmaker() as s:
        found = await outbox.messages(s, keys=["a:1", "m:2", "z:3"])
    assert [m.key for m in found] == ["z:3", "m:2", "a:1"]


async def test_the_follow_up_list_puts_the_newest_message_first_not_the_last_queued(sessionmaker, clock):  # noqa: ANN001
    t = clock.now()
    # A job that queued late with an earlier time (e.g. a slow reminder run): the order is by time.
    ids = await _queue_at(sessionmaker, ("late", t + timedelta(minutes=5)), ("early", t))
    await _set_status(sessionmaker, ids, "failed")
    async with sessionmaker() as s:
        assert [m.key for m in await outbox.needing_follow_up(s, limit=10)] == ["late", "early"]


async def test_the_follow_up_list_puts_the_last_queued_first_among_messages_of_the_same_moment(sessionmaker, clock):  # noqa: ANN001
    t = clock.now()
    ids = await _queue_at(sessionmaker, ("a", t), ("b", t), ("c", t))
    await _set_status(sessionmaker, ids, "unreachable")
    async with sessionmaker() as s:
        assert [m.key for m in await outbox.needing_follow_up(s, limit=10)] == ["c", "b", "a"]
        assert [m.key for m in await outbox.needing_follow_up(s, limit=2)] == ["c", "b"]


async def test_recent_follow_ups_newest_mark_first_and_at_most_the_limit(sessionmaker, clock):  # noqa: ANN001
    t = clock.now()
    ids = await _queue_at(sessionmaker, ("a", t), ("b", t), ("c", t), ("d", t))
    await _set_status(sessionmaker, ids, "failed")
    marks = {"a": t + timedelta(minutes=3), "b": t + timedelta(minutes=1), "c": t + timedelta(minutes=2),
             "d": t - timedelta(days=30)}
    for i, key in zip(ids, "abcd"):
        await _mark(sessionmaker, i, staff_id=7, at=marks[key])
    async with sessionmaker() as s:
        assert [m.key for m in await outbox.recently_followed_up(s, since=t, limit=10)] == ["a", "c", "b"]
        assert [m.key for m in await outbox.recently_followed_up(s, since=t, limit=2)] == ["a", "c"]


async def test_recent_follow_ups_marked_at_the_same_moment_last_queued_first(sessionmaker, clock):  # noqa: ANN001
    t = clock.now()
    ids = await _queue_at(sessionmaker, ("a", t), ("b", t), ("c", t))
    await _set_status(sessionmaker, ids, "uncertain")
    for i in ids:
        await _mark(sessionmaker, i, staff_id=7, at=t + timedelta(minutes=1))
    async with sessionmaker() as s:
        assert [m.key for m in await outbox.recently_followed_up(s, since=t, limit=10)] == ["c", "b", "a"]


# ---- two staff members at once (PostgreSQL) -------------------------------------------------


async def _race(sessionmaker, first, second):  # noqa: ANN001, ANN202
    """Run `first` in a transaction, start `second` in its own while `first` is not committed yet,
    commit `first` once `second` waits for it; returns `second`'s task (done)."""
    async with sessionmaker() as a:
        async with a.begin():
            await first(a)
            pid = await a.scalar(text("SELECT pg_backend_pid()"))

            async def other():  # noqa: ANN202
                async with sessionmaker() as b, b.begin():
                    return await second(b)

            task = asyncio.create_task(other())
            assert await _wait_blocked_by(sessionmaker, pid, task)
    await asyncio.wait([task], timeout=5)
    return task


async def test_two_staff_marking_the_same_follow_up_at_once_the_second_is_told_it_is_done(sessionmaker, clock, pg_only):  # noqa: ANN001
    t = clock.now()
    [mid] = await _queue_at(sessionmaker, ("k", t))
    await _set_status(sessionmaker, [mid], "failed")
    task = await _race(sessionmaker,
                       lambda s: outbox.mark_followed_up(s, mid, staff_id=1, now=t + timedelta(minutes=1)),
                       lambda s: outbox.mark_followed_up(s, mid, staff_id=2, now=t + timedelta(minutes=2)))
    with pytest.raises(outbox.FollowUpError, match="^这条消息已经标记为已电话联系。$"):
        task.result()
    async with sessionmaker() as s:
        m = await outbox.message(s, mid)
    assert (m.followed_up_by, m.followed_up_at) == (1, t + timedelta(minutes=1))


async def test_two_staff_undoing_the_same_mark_at_once_the_second_is_told_it_is_undone(sessionmaker, clock, pg_only):  # noqa: ANN001
    t = clock.now()
    [mid] = await _queue_at(sessionmaker, ("k", t))
    await _set_status(sessionmaker, [mid], "failed")
    await _mark(sessionmaker, mid, staff_id=1, at=t)
    task = await _race(sessionmaker, lambda s: outbox.reopen_follow_up(s, mid),
                       lambda s: outbox.reopen_follow_up(s, mid))
    with pytest.raises(outbox.FollowUpError, match="^这条消息还没有标记为已联系。$"):
        task.result()



# ---- what a queued message records ----------------------------------------------------------


async def test_a_queued_message_records_whether_it_goes_as_text_news_or_template(sessionmaker, clock):  # noqa: ANN001
    articles = [{"title": "职工培训报名", "description": "本周六", "url": "https://example.org/t"}]
    queued = {
        "text": dict(text="您好"),
        "news": dict(articles=articles),
        "news+text": dict(text="您好", articles=articles),
        "template": dict(template=NOTICE),
        "text+template": dict(text="您好", template=NOTICE),
        "news+template": dict(articles=articles, template=NOTICE),
    }
    async with sessionmaker() as s, s.begin():
        for key, what in queued.items():
            await outbox.enqueue(s, key=key, openid="oW", now=clock.now(), **what)
    async with sessionmaker() as s:
        rows = {o.key: o for o in await s.scalars(select(Outbox))}
    assert {k: o.kind for k, o in rows.items()} == {
        "text": "text", "news": "news", "news+text": "news", "template": "template",
        "text+template": "text", "news+template": "news"}
    assert rows["news+template"].payload == {"articles": articles, "template": NOTICE}
    assert rows["text+template"].payload == {"text": "您好", "template": NOTICE}


async def test_queuing_returns_the_new_message_and_no_purpose_means_none(sessionmaker, clock):  # noqa: ANN001
    async with sessionmaker() as s, s.begin():
        row = await outbox.enqueue(s, key="k1", openid="oW", now=clock.now(), text="您好")
        again = await outbox.enqueue(s, key="k1", openid="oW", now=clock.now(), text="再次")
    assert again is None
    assert (row.key, row.openid, row.kind, row.purpose, row.status, row.attempts) == ("k1", "oW", "text", "", "pending", 0)
    assert (row.payload, row.created_at, row.next_attempt_at) == ({"text": "您好"}, clock.now(), clock.now())
    async with sessionmaker() as s:
        m = await outbox.message(s, row.id)
    assert (m.key, m.purpose, m.text, m.status) == ("k1", "", "您好", "pending")


# ---- waking the delivery loop ---------------------------------------------------------------

router = Router("rows-long-reply")
LINES = [f"第{i}条：工会会员服务须知，请仔细阅读本条内容。" for i in range(1, 121)]  # ~8 KB: the rest goes by the outbox


@router.on(text_is("须知"))
async def long_reply(ctx: Ctx) -> str:
    return "\n".join(LINES)


@pytest.fixture
async def app(make_app, engine, settings):  # noqa: ANN001, ANN201
    """The service with a poll interval far longer than any test: only a wake-up gets a row out quickly."""
    return make_app(settings.model_copy(update={"outbox": OutboxSettings(poll_seconds=600)}), extra_routers=[router])


async def test_the_rest_of_a_long_reply_goes_out_at_once_not_at_the_next_poll(app, sim, db, monkeypatch):  # noqa: ANN001
    delivery = app[DELIVERY]
    real, passes = delivery.run_once, []

    async def counted(limit: int = 200) -> int:
        n = await real(limit)
        passes.append(n)
        return n

    monkeypatch.setattr(delivery, "run_once", counted)
    stop = asyncio.Event()
    loop = asyncio.create_task(delivery.run_forever(stop))
    try:
        for _ in range(300):  # the first pass finds nothing; the loop now waits (600 s, or a wake-up)
            if passes:
                break
            await asyncio.sleep(0.01)
        assert passes == [0]
        await sim.user("oLong").send("须知")
        for _ in range(300):
            async with db() as s:
                left = await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == "pending"))
            if not left and sum(passes):
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
    async with db() as s:
        rest = (await s.scalars(select(Outbox).where(Outbox.openid == "oLong"))).all()
    assert len(rest) >= 2
    assert {o.status for o in rest} == {"simulated"}  # offline in tests: "sent" without WeChat
