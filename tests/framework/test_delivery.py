"""The delivery loop: outbox rows sent through the fake WeChat server, by WeChat's rules."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

import bot.db.models  # noqa: F401  (registers every table)
from bot.clock import FakeClock
from bot.config import OutboxSettings, Settings, WeChatSettings
from bot.db.engine import make_sessionmaker
from bot.db.models import Member, Outbox
from bot.delivery import Delivery
from bot.outbox import enqueue
from bot.wechat.api import WeChatAPI
from tests.support.db import make_test_engine
from tests.support.fake_wechat import FakeWeChat

TEMPLATES = {"notice": "TPL-NOTICE"}


class World:
    """Database, clock and fake WeChat, plus ways to build delivery loops on them."""

    def __init__(self, fake: FakeWeChat, sessionmaker, clock: FakeClock, db_url: str) -> None:
        self.fake, self.sessionmaker, self.clock, self.db_url = fake, sessionmaker, clock, db_url
        self._apis: list[WeChatAPI] = []

    def settings(self, *, templates: dict[str, str] | None = None, offline: bool = False, **outbox) -> Settings:
        wechat = WeChatSettings() if offline else WeChatSettings(
            **self.fake.wechat_config(), templates=TEMPLATES if templates is None else templates)
        return Settings(wechat=wechat, outbox=OutboxSettings(**outbox))

    def delivery(self, *, templates: dict[str, str] | None = None, offline: bool = False, **outbox) -> Delivery:
        settings = self.settings(templates=templates, offline=offline, **outbox)
        api = None
        if not offline:
            api = WeChatAPI(settings.wechat, self.sessionmaker, self.clock)
            self._apis.append(api)
        return Delivery(settings, self.sessionmaker, self.clock, api)

    async def member(self, openid: str, *, msg_ago: timedelta | None = None, msg_used: int = 0,
                     evt_ago: timedelta | None = None, evt_used: int = 0) -> None:
        now = self.clock.now()
        async with self.sessionmaker() as s, s.begin():
            s.add(Member(app_id="", openid=openid, first_seen=now, last_seen=now,
                         msg_window_at=now - msg_ago if msg_ago is not None else None, msg_window_used=msg_used,
                         evt_window_at=now - evt_ago if evt_ago is not None else None, evt_window_used=evt_used))

    async def enqueue(self, key: str, openid: str, text: str | None = "您的申请已受理。",
                      template: dict | None = None, articles: list | None = None) -> None:
        async with self.sessionmaker() as s, s.begin():
            await enqueue(s, key=key, openid=openid, now=self.clock.now(), text=text,
                          template=template, articles=articles)

    async def texts_to_many(self, n: int) -> None:
        """n users inside their message window, each with one text queued: key k<i> to o<i>, "消息<i>"."""
        for i in range(n):
            await self.member(f"o{i}", msg_ago=HOUR)
            await self.enqueue(f"k{i}", f"o{i}", text=f"消息{i}")

    async def row(self, key: str) -> Outbox:
        async with self.sessionmaker() as s:
            return (await s.execute(select(Outbox).where(Outbox.key == key))).scalar_one()

    async def statuses(self) -> dict[str, str]:
        async with self.sessionmaker() as s:
            return {r.key: r.status for r in (await s.scalars(select(Outbox))).all()}

    async def close(self) -> None:
        for api in self._apis:
            await api.close()


@pytest.fixture
async def world(fake_wechat, sessionmaker, clock, db_url):  # noqa: ANN001
    w = World(fake_wechat, sessionmaker, clock, db_url)
    yield w
    await w.close()


NOTICE = {"kind": "notice", "data": {"thing1": "帮扶申请", "phrase2": "已受理"}}
HOUR = timedelta(hours=1)


async def test_sent_as_customer_service_message_inside_the_window(world):
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您的帮扶申请已受理。")
    assert await world.delivery().run_once() == 1
    assert world.fake.delivered == [{"openid": "oW", "kind": "text", "text": "您的帮扶申请已受理。"}]
    row = await world.row("k1")
    assert (row.status, row.via, row.attempts) == ("sent", "cs", 1)
    assert row.sent_at == world.clock.now()


async def test_news_message_inside_the_window(world):
    await world.member("oW", msg_ago=HOUR)
    articles = [{"title": "职工培训报名", "description": "本周六", "url": "https://example.org/t"}]
    await world.enqueue("k1", "oW", text=None, articles=articles)
    await world.delivery().run_once()
    assert world.fake.delivered == [{"openid": "oW", "kind": "news", "articles": articles}]


async def test_message_window_allows_five_then_template(world):
    await world.member("oW", msg_ago=HOUR)
    for i in range(7):
        await world.enqueue(f"k{i}", "oW", text=f"第{i}条", template=NOTICE)
    await world.delivery().run_once()
    kinds = [d["kind"] for d in world.fake.delivered_to("oW")]
    assert kinds.count("text") == 5 and kinds.count("template") == 2
    templates = [d for d in world.fake.delivered if d["kind"] == "template"]
    assert {d["client_msg_id"] for d in templates} <= {f"k{i}" for i in range(7)}
    assert templates[0]["template_id"] == "TPL-NOTICE"
    assert templates[0]["data"]["thing1"] == {"value": "帮扶申请"}
    rows = [await world.row(f"k{i}") for i in range(7)]
    assert sorted(r.via for r in rows) == ["cs"] * 5 + ["template"] * 2


async def test_message_window_allows_five_then_unreachable_without_template(world):
    await world.member("oW", msg_ago=HOUR)
    for i in range(7):
        await world.enqueue(f"k{i}", "oW", text=f"第{i}条", template=NOTICE)
    await world.delivery(templates={}).run_once()
    assert len(world.fake.delivered) == 5
    statuses = await world.statuses()
    assert sorted(statuses.values()) == ["sent"] * 5 + ["unreachable"] * 2
    unreachable = [await world.row(k) for k, st in statuses.items() if st == "unreachable"]
    assert all("window" in r.last_error and "notice" in r.last_error for r in unreachable)


async def test_message_window_closes_after_48_hours(world):
    await world.member("oW", msg_ago=timedelta(hours=48, seconds=1))
    await world.enqueue("k1", "oW")
    await world.delivery(templates={}).run_once()
    assert world.fake.delivered == []
    assert (await world.row("k1")).status == "unreachable"


async def test_click_window_allows_three_within_a_minute(world):
    await world.member("oW", evt_ago=timedelta(seconds=10))
    for i in range(4):
        await world.enqueue(f"k{i}", "oW", text=f"第{i}条")
    await world.delivery().run_once()
    assert len(world.fake.delivered) == 3
    assert sorted((await world.statuses()).values()) == ["sent"] * 3 + ["unreachable"]


async def test_click_window_closes_after_a_minute(world):
    await world.member("oW", evt_ago=timedelta(seconds=10))
    await world.enqueue("k1", "oW")
    world.clock.advance(seconds=51)
    await world.delivery().run_once()
    assert world.fake.delivered == []
    assert (await world.row("k1")).status == "unreachable"


async def test_message_window_is_used_before_the_click_window(world):
    await world.member("oW", msg_ago=HOUR, evt_ago=timedelta(seconds=5))
    await world.enqueue("k1", "oW")
    await world.delivery().run_once()
    async with world.sessionmaker() as s:
        m = (await s.execute(select(Member).where(Member.openid == "oW"))).scalar_one()
    assert (m.msg_window_used, m.evt_window_used) == (1, 0)


async def test_unknown_user_is_unreachable(world):
    await world.enqueue("k1", "oNobody")
    await world.delivery(templates={}).run_once()
    assert world.fake.delivered == []
    assert (await world.row("k1")).status == "unreachable"


@pytest.mark.parametrize("fault", ["busy", "http500"])
async def test_transient_failure_backs_off_then_sends(world, fault):
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    if fault == "busy":
        world.fake.fail_next("/custom/send", errcode=-1)
    else:
        world.fake.fail_http("/custom/send", status=500)
    delivery = world.delivery(backoff_base=2.0)
    await delivery.run_once()
    row = await world.row("k1")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == world.clock.now() + timedelta(seconds=2)
    assert row.last_error
    assert await delivery.run_once() == 0  # not due yet
    world.clock.advance(seconds=2)
    assert await delivery.run_once() == 1
    row = await world.row("k1")
    assert (row.status, row.via, row.attempts) == ("sent", "cs", 2)
    assert len(world.fake.delivered) == 1
    async with world.sessionmaker() as s:
        used = await s.scalar(select(Member.msg_window_used).where(Member.openid == "oW"))
    assert used == 1  # the failed try gave its window slot back


async def test_backoff_grows_and_gives_up_after_max_attempts(world):
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    world.fake.fail_http("/custom/send", status=502, times=100)
    delivery = world.delivery(backoff_base=3.0, backoff_cap=5.0, max_attempts=3)
    await delivery.run_once()
    assert (await world.row("k1")).next_attempt_at == world.clock.now() + timedelta(seconds=3)
    world.clock.advance(seconds=3)
    await delivery.run_once()
    assert (await world.row("k1")).next_attempt_at == world.clock.now() + timedelta(seconds=5)  # capped
    world.clock.advance(seconds=5)
    await delivery.run_once()
    row = await world.row("k1")
    assert (row.status, row.attempts) == ("failed", 3)
    world.clock.advance(hours=1)
    assert await delivery.run_once() == 0
    assert world.fake.delivered == []


async def test_closed_window_reported_by_wechat_falls_back_to_template(world):
    await world.member("oW", msg_ago=HOUR)
    world.fake.unreachable_cs.add("oW")
    await world.enqueue("hardship:BF-2026-0001:approved", "oW", template=NOTICE)
    await world.delivery().run_once()
    assert [d["kind"] for d in world.fake.delivered] == ["template"]
    assert world.fake.delivered[0]["client_msg_id"] == "hardship:BF-2026-0001:approved"
    row = await world.row("hardship:BF-2026-0001:approved")
    assert (row.status, row.via) == ("sent", "template")
    assert "45015" in row.last_error


async def test_closed_window_reported_by_wechat_without_template_is_unreachable(world):
    await world.member("oW", msg_ago=HOUR)
    world.fake.unreachable_cs.add("oW")
    await world.enqueue("k1", "oW", template=NOTICE)
    await world.delivery(templates={}).run_once()
    assert world.fake.delivered == []
    row = await world.row("k1")
    assert row.status == "unreachable" and "45015" in row.last_error


async def test_template_only_message_is_sent_as_template(world):
    await world.enqueue("k1", "oW", text=None, template={**NOTICE, "url": "https://example.org/r/1"})
    await world.delivery().run_once()
    assert world.fake.delivered[0]["kind"] == "template"
    assert world.fake.delivered[0]["url"] == "https://example.org/r/1"


async def test_quota_error_fails_without_retry(world):
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    world.fake.fail_next("/custom/send", errcode=45009)
    delivery = world.delivery()
    await delivery.run_once()
    row = await world.row("k1")
    assert (row.status, row.attempts) == ("failed", 1)
    assert "45009" in row.last_error
    world.clock.advance(hours=2)
    assert await delivery.run_once() == 0
    assert len(world.fake.calls_to("/custom/send")) == 1
    assert world.fake.delivered == []


async def test_offline_mode_simulates(world):
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    await world.enqueue("k2", "oOther", text=None, template=NOTICE)
    assert await world.delivery(offline=True).run_once() == 2
    for key in ("k1", "k2"):
        row = await world.row(key)
        assert (row.status, row.via) == ("simulated", "offline")
        assert row.sent_at == world.clock.now()
    assert world.fake.calls == []


async def test_two_loops_at_once_send_each_message_once(world):
    world.fake.latency = 0.01
    await world.texts_to_many(30)
    a, b = world.delivery(concurrency=4), world.delivery(concurrency=4)
    counts = await asyncio.gather(a.run_once(limit=20), b.run_once(limit=20), a.run_once(limit=20))
    assert sum(counts) == 30
    texts = sorted(d["text"] for d in world.fake.delivered)
    assert texts == sorted(f"消息{i}" for i in range(30))
    assert set((await world.statuses()).values()) == {"sent"}


async def test_pending_row_survives_a_restart(world):
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    world.fake.fail_next("/custom/send", errcode=-1)
    await world.delivery().run_once()
    assert (await world.row("k1")).status == "pending"
    world.clock.advance(minutes=1)
    await world.delivery().run_once()  # a new process
    assert (await world.row("k1")).status == "sent"
    assert len(world.fake.delivered) == 1


async def _crash_mid_send(world, key: str, *, via: str | None = None) -> None:
    """What a worker SIGKILLed mid-send leaves behind: the row `sending`, its claim running."""
    async with world.sessionmaker() as s, s.begin():
        await s.execute(update(Outbox).where(Outbox.key == key).values(
            status="sending", via=via, claimed_until=world.clock.now() + timedelta(seconds=60)))


async def test_customer_service_row_of_a_crashed_worker_is_marked_uncertain_not_resent(world):
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", text="您的帮扶申请已受理。", template=NOTICE)
    await _crash_mid_send(world, "k1")  # it may have gone out as a customer-service message
    delivery = world.delivery()
    assert await delivery.run_once() == 0  # still claimed
    world.clock.advance(seconds=61)
    assert await delivery.run_once() == 1
    row = await world.row("k1")
    assert row.status == "uncertain"
    assert "stopped mid-send" in row.last_error and "may or may not have arrived" in row.last_error
    assert world.fake.delivered == []  # never sent a second time, not even as a template
    world.clock.advance(hours=1)
    assert await delivery.run_once() == 0


async def test_template_row_of_a_crashed_worker_is_resent_with_the_same_client_msg_id(world):
    await world.enqueue("k1", "oW", text=None, template=NOTICE)
    api = world.delivery().api
    await api.send_template("oW", "TPL-NOTICE", NOTICE["data"], client_msg_id="k1")  # the dead worker's send
    await _crash_mid_send(world, "k1", via="template")
    world.clock.advance(seconds=61)
    assert await world.delivery().run_once() == 1
    row = await world.row("k1")
    assert (row.status, row.via) == ("sent", "template")
    sends = world.fake.calls_to("/template/send")
    assert [c["json"]["client_msg_id"] for c in sends] == ["k1", "k1"]
    assert len(world.fake.delivered) == 1  # WeChat dropped the repeat


async def test_planned_template_of_a_crashed_worker_is_resent_even_with_text(world):
    await world.member("oW", msg_ago=timedelta(hours=50))  # window closed: the plan was a template
    await world.enqueue("k1", "oW", text="您的帮扶申请已受理。", template=NOTICE)
    await _crash_mid_send(world, "k1", via="template")
    world.clock.advance(seconds=61)
    await world.delivery().run_once()
    assert [d["kind"] for d in world.fake.delivered] == ["template"]
    assert (await world.row("k1")).status == "sent"


async def test_crashed_row_without_a_configured_template_is_uncertain(world):
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW", template=NOTICE)
    await _crash_mid_send(world, "k1", via="template")  # template since removed from the config
    world.clock.advance(seconds=61)
    await world.delivery(templates={}).run_once()
    assert (await world.row("k1")).status == "uncertain"
    assert world.fake.delivered == []


async def test_rows_are_claimed_just_before_sending(world):
    """Rows not yet sent stay `pending`, so a crash can leave only the few in flight uncertain."""
    world.fake.latency = 0.2
    await world.texts_to_many(40)
    task = asyncio.create_task(world.delivery(concurrency=4).run_once())
    for _ in range(500):
        if world.fake.calls_to("/custom/send"):
            break
        await asyncio.sleep(0.01)
    statuses = await world.statuses()
    assert sum(st == "sending" for st in statuses.values()) <= 4 * 3
    assert sum(st == "pending" for st in statuses.values()) >= 40 - 4 * 3
    assert await task == 40
    assert set((await world.statuses()).values()) == {"sent"}


@pytest.mark.parametrize("window", ["msg", "evt"])  # the 48-hour message window, the one-minute click window
async def test_stopping_mid_send_records_what_went_out_and_gives_back_the_rest(world, window):  # noqa: ANN001
    world.fake.latency = 0.3
    await world.member("oW", **({"msg_ago": HOUR} if window == "msg" else {"evt_ago": timedelta(seconds=5)}))
    for i in range(3):  # one user's messages go one at a time: one in flight, two waiting
        await world.enqueue(f"k{i}", "oW", text=f"第{i}条")
    task = asyncio.create_task(world.delivery().run_once())
    for _ in range(500):
        if world.fake.calls_to("/custom/send"):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [d["text"] for d in world.fake.delivered] == ["第0条"]
    assert await world.statuses() == {"k0": "sent", "k1": "pending", "k2": "pending"}
    async with world.sessionmaker() as s:
        column = Member.msg_window_used if window == "msg" else Member.evt_window_used
        used = await s.scalar(select(column).where(Member.openid == "oW"))
    assert used == 1  # the two rows given back returned their window slots
    await world.delivery().run_once()
    assert [d["text"] for d in world.fake.delivered] == ["第0条", "第1条", "第2条"]


async def test_one_users_messages_go_out_in_order(world):
    world.fake.latency = 0.02
    await world.member("oW", msg_ago=HOUR)
    for i in range(5):
        await world.enqueue(f"k{i}", "oW", text=f"第{i}条")
    await world.delivery(concurrency=8).run_once()
    assert [d["text"] for d in world.fake.delivered] == [f"第{i}条" for i in range(5)]


async def test_results_are_recorded_in_groups(world):
    """Mixed outcomes from one pass are each recorded right, in far fewer statements than rows."""
    world.fake.latency = 0.05
    n = 30
    await world.texts_to_many(n)
    await world.enqueue("t1", "oNobody", text=None, template=NOTICE)  # template only
    await world.enqueue("u1", "oNobody", text="无窗口")  # no window, no template: unreachable
    world.fake.fail_next("/custom/send", errcode=45009)  # one hits the quota: failed
    world.fake.fail_next("/custom/send", errcode=-1)  # one busy: retried later
    engine = world.sessionmaker.kw["bind"]
    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        if "outbox" in statement or "member" in statement:  # not the access token
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await world.delivery(concurrency=n + 2, max_attempts=3).run_once() == n + 2
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    statuses = await world.statuses()
    assert sorted(statuses.values()) == ["failed"] + ["pending"] + ["sent"] * (n - 1) + ["unreachable"]
    assert statuses["t1"] == "sent" and statuses["u1"] == "unreachable"
    failed = await world.row(next(k for k, st in statuses.items() if st == "failed"))
    pending = await world.row(next(k for k, st in statuses.items() if st == "pending"))
    assert "45009" in failed.last_error and failed.attempts == 1
    assert pending.attempts == 1 and pending.next_attempt_at > world.clock.now()
    async with world.sessionmaker() as s:
        used = dict((await s.execute(select(Member.openid, Member.msg_window_used))).all())
    assert sorted(used.values()) == [0, 0] + [1] * (n - 2)  # the failed and the retried row gave theirs back
    assert sum(1 for st in statements if "UPDATE outbox SET status" in st) < n
    assert len(statements) < n  # claim, windows and results for 32 rows (was 2-3 transactions per row)


async def test_metrics_count_deliveries_and_failures(world):
    from bot.metrics import Metrics

    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    await world.enqueue("k2", "oW")
    world.fake.fail_next("/custom/send", errcode=45009)
    delivery = world.delivery()
    delivery.metrics = metrics = Metrics()
    await delivery.run_once()
    sample = metrics.registry.get_sample_value
    assert sample("unionbot_outbox_delivered_total", {"status": "sent", "via": "cs"}) == 1
    assert sample("unionbot_outbox_delivered_total", {"status": "failed", "via": "none"}) == 1
    assert sample("unionbot_delivery_failures_total", {"errcode": "45009"}) == 1


def _second_process(world):
    """Another worker process on the same database: its own engine, API client and loop."""
    engine = make_test_engine(world.db_url)
    sessionmaker = make_sessionmaker(engine)
    settings = world.settings(concurrency=4)
    api = WeChatAPI(settings.wechat, sessionmaker, world.clock)
    return engine, api, Delivery(settings, sessionmaker, world.clock, api)


async def test_two_processes_send_each_row_once_and_share_the_windows(world):
    """Two delivery loops with their own connections (two workers) on one database."""
    world.fake.latency = 0.01
    for u in range(4):
        await world.member(f"o{u}", msg_ago=HOUR)
        for i in range(8):  # 5 fit in each user's window, 3 go as templates
            await world.enqueue(f"k{u}-{i}", f"o{u}", text=f"消息{u}-{i}", template=NOTICE)
    for i in range(40):
        await world.member(f"p{i}", msg_ago=HOUR)
        await world.enqueue(f"p{i}", f"p{i}", text=f"通知{i}")
    engine, api, other = _second_process(world)
    try:
        mine = world.delivery(concurrency=4)
        # Fetch the shared token first: on SQLite both "processes" here share one event loop,
        # and a refresh holds the write lock across its HTTP call.
        await mine.api.token()
        counts = await asyncio.gather(mine.run_once(limit=30), other.run_once(limit=30),
                                      mine.run_once(), other.run_once())
    finally:
        await api.close()
        await engine.dispose()
    assert sum(counts) == 72
    texts = [d["text"] for d in world.fake.delivered if d["kind"] == "text"]
    assert len(texts) == len(set(texts))
    for u in range(4):
        kinds = [d["kind"] for d in world.fake.delivered_to(f"o{u}")]
        assert (kinds.count("text"), kinds.count("template")) == (5, 3)
    assert len(world.fake.delivered) == 72
    assert set((await world.statuses()).values()) == {"sent"}


async def test_slow_wechat_still_delivers(world):
    world.fake.latency = 0.05
    await world.member("oW", msg_ago=HOUR)
    await world.enqueue("k1", "oW")
    await world.delivery().run_once()
    assert (await world.row("k1")).status == "sent"
    assert len(world.fake.delivered) == 1


async def test_run_forever_survives_errors_and_wakes_up(world, monkeypatch):
    await world.member("oW", msg_ago=HOUR)
    delivery = world.delivery(poll_seconds=30.0)
    real = delivery.run_once
    calls = 0

    async def flaky(limit: int = 200) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        return await real(limit)

    monkeypatch.setattr(delivery, "run_once", flaky)
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run_forever(stop))
    await world.enqueue("k1", "oW")
    delivery.wake()
    for _ in range(500):
        if world.fake.delivered:
            break
        delivery.wake()
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [d["text"] for d in world.fake.delivered] == ["您的申请已受理。"]
    assert (await world.row("k1")).status == "sent"
