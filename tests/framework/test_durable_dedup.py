"""Once means once, also across restarts and instances: what the database guarantees, not a cache.

Every test here talks to a *different* app instance than the one that did the work first — a new
app after a restart, or a second instance on the same database (another worker process): its
in-process state (the processor's in-flight entries, the delivery loop's queue, the scheduler)
starts empty, so only the durable guards can answer. A re-send of a message gets the very bytes
of the first reply and runs nothing again; an outbox row reaches WeChat once; a due reminder goes
out once with two schedulers. tests/framework/test_second_process.py does the same with a real
second OS process while the first is still processing.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.db.models import InboundMessage, Member, Outbox, Sequence
from bot.db.models.chairs import ChairReminder
from bot.keys import API, DELIVERY, PROCESSOR
from bot.wechat.simulator import WeChatSim
from tests.support.chairs import setup_chairs
from tests.support.hardship import apply, requests
from tests.support.settings import make_settings

router = Router("durable")
FAILED_RUNS: list[str] = []  # runs of the failing handler (it rolls back: nothing in the database)
REPLY_TIMEOUT = 1.0


async def bump(ctx: Ctx, name: str) -> int:
    """Count one run of a handler in the database (rolled back with it if it fails)."""
    seq = await ctx.session.get(Sequence, name)
    if seq is None:
        seq = Sequence(name=name, value=0)
        ctx.session.add(seq)
    seq.value += 1
    await ctx.session.flush()
    return seq.value


@router.on(text_is("记一笔"))
async def record_once(ctx: Ctx) -> str:
    return f"已记录，第 {await bump(ctx, 'durable')} 笔"


@router.on(text_is("出错"))
async def failing(ctx: Ctx) -> str:
    FAILED_RUNS.append(ctx.msg.dedup_key)
    raise RuntimeError("boom")


@router.on(text_is("慢慢来"))
async def slower_than_the_reply_timeout(ctx: Ctx) -> str:
    await bump(ctx, "slow")
    await asyncio.sleep(REPLY_TIMEOUT + 0.3)
    return "慢慢来的回复"


@router.on(text_is("通知我"))
async def notify_me(ctx: Ctx) -> str:
    await ctx.notify(ctx.openid, f"给{ctx.openid}的通知", key=f"durable:{ctx.openid}")
    return "好的，稍后通知您"


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001
    return make_settings(db_url, tmp_path, server={"reply_timeout": REPLY_TIMEOUT})


# --------------------------------------------------------------------------- helpers

def new_msg_id() -> int:
    return uuid.uuid4().int % 10**15


class Instance:
    """One running app (a process of the service) and a way to post raw WeChat requests to it."""

    def __init__(self, app, client, settings, clock) -> None:  # noqa: ANN001
        self.app, self.client, self.settings = app, client, settings
        self.sim = WeChatSim(client, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock)

    async def post(self, request: tuple[dict[str, str], bytes]) -> str:
        """Deliver WeChat's request (the same query string and body on every try); the answer's
        bytes, decoded (so that comparing two answers compares their bytes, readably)."""
        params, body = request
        resp = await self.sim.post_raw(body, params, sign=False)
        raw = await resp.read()
        assert resp.status == 200, raw[:200]
        return raw.decode("utf-8")

    def text(self, raw: str, request: tuple[dict[str, str], bytes], openid: str) -> str | None:
        return self.sim.parse_reply(raw.encode("utf-8"), request[0], openid)["text"]

    async def close(self) -> None:
        """Stop the service: the processor finishes its queue, the engine is disposed."""
        await self.client.close()


@pytest.fixture
def start(make_app, engine, aiohttp_client, settings, clock):  # noqa: ANN001
    """Start one more instance of the service on the test database (call again for another)."""
    async def run(settings_=None, **kwargs) -> Instance:  # noqa: ANN001, ANN003
        s = settings_ or settings
        app = make_app(s, extra_routers=[router], **kwargs)
        return Instance(app, await aiohttp_client(app), s, clock)
    return run


def text_message(inst: Instance, openid: str, content: str) -> tuple[dict[str, str], bytes]:
    return inst.sim.build(openid, MsgType="text", Content=content, MsgId=new_msg_id())


async def counter(sessionmaker, name: str) -> int:  # noqa: ANN001
    async with sessionmaker() as s:
        seq = await s.get(Sequence, name)
        return seq.value if seq else 0


async def dedup_records(sessionmaker, key: str) -> list[InboundMessage]:  # noqa: ANN001
    async with sessionmaker() as s:
        return list(await s.scalars(select(InboundMessage).where(InboundMessage.key == key)))


def key_of(request: tuple[dict[str, str], bytes]) -> str:
    body = request[1].decode()
    return "m:" + body.split("<MsgId>")[1].split("</MsgId>")[0]


# --------------------------------------------------------------------------- 1. after a restart

async def test_a_resend_after_a_restart_gets_the_same_reply_and_submits_nothing_again(start, sessionmaker) -> None:  # noqa: ANN001
    a = await start()
    u = a.sim.user("oRestart")
    await apply(u)  # a hardship request filled in up to its summary
    confirm = text_message(a, "oRestart", "确认")
    first = await a.post(confirm)
    assert "已提交" in a.text(first, confirm, "oRestart")
    assert len(await requests(sessionmaker)) == 1
    await a.close()  # the service restarts: nothing of the first process is left

    b = await start()
    assert await b.post(confirm) == first  # WeChat's retry reaches the new process: the same bytes
    assert await b.post(confirm) == first
    assert len(await requests(sessionmaker)) == 1  # not submitted twice
    assert [(r.status, r.reply is not None) for r in await dedup_records(sessionmaker, key_of(confirm))] == [
        ("done", True)]


async def test_a_resend_after_a_restart_does_not_run_the_handler_again(start, sessionmaker) -> None:  # noqa: ANN001
    a = await start()
    msg = text_message(a, "oRestart2", "记一笔")
    first = await a.post(msg)
    assert a.text(first, msg, "oRestart2") == "已记录，第 1 笔"
    await a.close()

    b = await start()
    assert await b.post(msg) == first
    assert await counter(sessionmaker, "durable") == 1
    # a new message is of course processed
    other = text_message(b, "oRestart2", "记一笔")
    assert b.text(await b.post(other), other, "oRestart2") == "已记录，第 2 笔"


async def test_a_failed_message_resent_after_a_restart_gets_the_same_apology_and_does_not_run_again(
        start, sessionmaker) -> None:  # noqa: ANN001
    FAILED_RUNS.clear()
    a = await start()
    msg = text_message(a, "oRestart3", "出错")
    first = await a.post(msg)
    assert "抱歉" in a.text(first, msg, "oRestart3")
    await a.close()

    b = await start()
    assert await b.post(msg) == first
    assert FAILED_RUNS == [key_of(msg)]
    assert [r.status for r in await dedup_records(sessionmaker, key_of(msg))] == ["failed"]


async def test_a_slow_message_resent_after_a_restart_is_not_run_again_and_its_late_reply_goes_once(
        start, sessionmaker) -> None:  # noqa: ANN001
    a = await start()
    msg = text_message(a, "oRestart4", "慢慢来")
    assert await a.post(msg) == "success"  # slower than the reply timeout: the reply goes later
    await a.app[PROCESSOR].drain()
    await a.close()

    b = await start()
    assert await b.post(msg) == "success"
    await b.app[PROCESSOR].drain()
    assert await counter(sessionmaker, "slow") == 1
    async with sessionmaker() as s:
        late = list(await s.scalars(select(Outbox).where(Outbox.openid == "oRestart4")))
    assert [(o.purpose, o.payload["text"]) for o in late] == [("late_reply", "慢慢来的回复")]
    assert [r.status for r in await dedup_records(sessionmaker, key_of(msg))] == ["detached"]


# --------------------------------------------------------------------------- 2. a second instance

async def test_a_resend_to_a_second_instance_after_the_first_finished(start, sessionmaker) -> None:  # noqa: ANN001
    a = await start()
    b = await start()  # another worker process on the same database, both running
    msg = text_message(a, "oTwin", "记一笔")
    first = await a.post(msg)
    assert a.text(first, msg, "oTwin") == "已记录，第 1 笔"
    # WeChat's retries may land on either process
    assert await b.post(msg) == first
    assert await a.post(msg) == first
    assert await b.post(msg) == first
    assert await counter(sessionmaker, "durable") == 1
    assert [r.status for r in await dedup_records(sessionmaker, key_of(msg))] == ["done"]


async def test_a_form_answer_resent_to_a_second_instance_is_not_taken_as_the_next_answer(start, sessionmaker) -> None:  # noqa: ANN001
    a = await start()
    b = await start()
    u = a.sim.user("oTwinForm")
    assert "同意" in await u.send("帮扶")
    agree = text_message(a, "oTwinForm", "同意")
    asked = await a.post(agree)
    # the retry of 「同意」 reaches the other process: the same question again, not a hint that
    # 「同意」 is no answer to it
    assert "困难类型" in a.text(asked, agree, "oTwinForm")
    assert await b.post(agree) == asked
    # and the form goes on from the question asked: the next answer is the type, then the story
    assert "请简单说明困难情况" in await b.sim.user("oTwinForm").send("1")


# --------------------------------------------------------------------------- 3. the outbox

async def test_two_instances_delivering_one_outbox_send_each_message_once(start, sessionmaker, fake_wechat,
                                                                          db_url, tmp_path) -> None:  # noqa: ANN001
    online = make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config(),
                           server={"reply_timeout": REPLY_TIMEOUT}, outbox={"concurrency": 4})
    a, b = await start(online), await start(online)

    async def ask(users: list[str]) -> None:
        for i, openid in enumerate(users):  # each user asks through one of the two processes
            inst = a if i % 2 else b
            msg = text_message(inst, openid, "通知我")
            assert inst.text(await inst.post(msg), msg, openid) == "好的，稍后通知您"
        for inst in (a, b):
            await inst.app[PROCESSOR].drain()

    def sends() -> int:
        return len(fake_wechat.calls_to("/message/custom/send") + fake_wechat.calls_to("/message/template/send"))

    first = [f"oOutA{i}" for i in range(24)]
    await ask(first)
    await a.app[API].token()  # one token for the deployment (see test_delivery.py)
    fake_wechat.latency = 0.05  # sends stay in flight while the other loop claims
    # Both processes start delivering at the same moment.
    await asyncio.gather(a.app[DELIVERY].run_once(), b.app[DELIVERY].run_once(),
                         a.app[DELIVERY].run_once(), b.app[DELIVERY].run_once())
    assert sends() == len(first)

    # A third process starts while the first is sending: it must leave the rows in flight alone.
    later = [f"oOutB{i}" for i in range(24)]
    await ask(later)
    c = await start(online)
    sending = asyncio.create_task(a.app[DELIVERY].run_once())
    assert await wait_for(lambda: _true(sends() > len(first)), 10, step=0.005), "the first process sent nothing"
    await asyncio.gather(c.app[DELIVERY].run_once(), sending)
    await a.close()
    for inst in (b, c):  # the others find nothing left to send
        await inst.app[DELIVERY].run_once()

    for openid in first + later:
        assert [d["text"] for d in fake_wechat.delivered_to(openid)] == [f"给{openid}的通知"], openid
    assert sends() == len(first) + len(later)  # one call to WeChat per message
    async with sessionmaker() as s:
        statuses = (await s.execute(select(Outbox.status, func.count()).group_by(Outbox.status))).all()
    assert dict(statuses) == {"sent": len(first) + len(later)}


async def _true(value: bool) -> bool:
    return value


async def wait_for(cond, seconds: float = 10.0, step: float = 0.05) -> bool:  # noqa: ANN001
    for _ in range(int(seconds / step)):
        if await cond():
            return True
        await asyncio.sleep(step)
    return await cond()


# --------------------------------------------------------------------------- 4. scheduled reminders

@pytest.fixture
def leaders(monkeypatch):  # noqa: ANN001, ANN201
    """Each app's scheduler leadership (by app), campaigning every 0.1 s instead of 5 s so that a
    hand-over happens within the test."""
    from scheduler import leader

    handles: dict[int, object] = {}
    original = leader.scheduler_under_leadership

    async def recorded(app, interval: float = 0.1):  # noqa: ANN001, ANN202
        handles[id(app)] = handle = await original(app, interval)
        return handle

    monkeypatch.setattr(leader, "scheduler_under_leadership", recorded)
    return handles


async def test_two_schedulers_send_a_due_reminder_once(start, sessionmaker, fake_wechat, db_url, tmp_path, clock,
                                                       caplog, leaders) -> None:  # noqa: ANN001
    caplog.set_level(logging.INFO, logger="unionbot.scheduler")
    online = make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config(),
                           server={"reply_timeout": REPLY_TIMEOUT})
    chair, _ = await setup_chairs(sessionmaker, clock, online)
    clock.set(datetime(2026, 12, 16, 9, 5))  # the first reminder (t-7) is due since 9:00
    key = f"chairs:2026Q4:chair{chair}:t-7"

    async def reminder_rows() -> list[Outbox]:
        async with sessionmaker() as s:
            return list(await s.scalars(select(Outbox).where(Outbox.key.startswith("chairs:"))))

    async def runs_done() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("job chairs.reminders")]

    a = await start(online, scheduler=True)
    b = await start(online, scheduler=True)  # a second process with its own scheduler set-up
    # the chair wrote to the account this morning: a customer-service message can reach them
    async with sessionmaker() as s, s.begin():
        s.add(Member(app_id="", openid="oChair1", first_seen=clock.now(), last_seen=clock.now(),
                     msg_window_at=clock.now() - timedelta(hours=1), msg_window_used=0))

    async def one_run() -> bool:
        return len(await runs_done()) >= 1 and bool(await reminder_rows())

    assert await wait_for(one_run), "no scheduler ran the reminders"
    for _ in range(10):  # a few campaigns later: still one scheduler
        assert [leaders[id(inst.app)].is_leader for inst in (a, b)].count(True) == 1
        await asyncio.sleep(0.05)
    first, second = (a, b) if leaders[id(a.app)].is_leader else (b, a)
    await a.app[API].token()
    await asyncio.gather(a.app[DELIVERY].run_once(), b.app[DELIVERY].run_once())

    await first.close()  # the leader stops; the other process takes over and catches up at once

    async def handed_over() -> bool:
        return leaders[id(second.app)].is_leader and len(await runs_done()) >= 2

    assert await wait_for(handed_over), "the second scheduler did not take over"
    await second.app[DELIVERY].run_once()

    assert [o.key for o in await reminder_rows()] == [key]
    assert [d["kind"] for d in fake_wechat.delivered_to("oChair1")] == ["text"]  # one message reached the chair
    runs = await runs_done()
    assert all(" done: " in r for r in runs), runs  # no run failed
    assert all("queued=0" in r for r in runs[1:]), runs  # the second scheduler found it done
    async with sessionmaker() as s:
        recorded = list(await s.scalars(select(ChairReminder).where(ChairReminder.chair_id == chair)))
    assert [(r.stage, r.status) for r in recorded] == [("t-7", "queued")]


