"""The whole service through its real webhook: modes, hostile input, restarts, offline mode."""
from __future__ import annotations

import os
import random

import pytest
from sqlalchemy import select

from bot.keys import DELIVERY, SESSIONMAKER
from bot.db.models import InboundMessage, Outbox
from bot.outbox import enqueue
from tests.support.settings import make_settings
from bot.wechat.simulator import TEST_AES_KEY, WeChatSim


@pytest.mark.parametrize("mode", ["safe", "compat"])
async def test_safe_and_compatible_mode_round_trip(make_app, engine, aiohttp_client, db_url, tmp_path, clock,
                                                   mode) -> None:  # noqa: ANN001
    settings = make_settings(db_url, tmp_path, wechat={"encoding_aes_key": TEST_AES_KEY, "app_id": "wxSAFE"})
    client = await aiohttp_client(make_app(settings))
    sim = WeChatSim(client, token=settings.wechat.token, app_id="wxSAFE", aes_key=TEST_AES_KEY, mode=mode,
                    clock=clock)
    reply = await sim.user("oSafe").send("菜单")  # the sim decrypts and checks the reply's signature
    assert "关键词" in reply
    assert (await sim.verify()).status == 200


async def test_forged_and_stale_messages_are_refused_and_not_stored(sim: WeChatSim, db, clock) -> None:  # noqa: ANN001
    params, body = sim.build("oForger", MsgType="text", Content="菜单", MsgId=42)
    forged = dict(params, signature="0" * 40)
    assert (await sim.post_raw(body, forged, sign=False)).status == 403
    assert (await sim.post_raw(body, {}, sign=False)).status == 403
    clock.advance(minutes=6)
    assert (await sim.post_raw(body, params, sign=False)).status == 403  # timestamp now 6 min old
    async with db() as s:
        assert (await s.scalars(select(InboundMessage))).all() == []


async def test_hostile_bodies_never_get_a_5xx(sim: WeChatSim, client) -> None:  # noqa: ANN001
    rng = random.Random(20261124)
    statuses = set()
    for i in range(100):
        body = os.urandom(rng.randint(0, 3000)) if i % 2 else rng.choice([
            b"<xml>", b"<xml><FromUserName>x</FromUserName></xml>", b"\xef\xbb\xbf<xml/>",
            b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]><xml>&a;</xml>", "<xml><MsgType>太空</MsgType></xml>".encode(),
        ]) + os.urandom(rng.randint(0, 50))
        resp = await sim.post_raw(body)
        statuses.add(resp.status)
    assert statuses <= {200, 400, 403}, statuses
    big = await sim.post_raw(b"<xml>" + b"a" * (70 * 1024) + b"</xml>")
    assert big.status == 413


async def test_unknown_message_type_gets_a_polite_answer(sim: WeChatSim) -> None:
    u = sim.user("oOdd")
    reply = await u._post({"MsgType": "hologram", "MsgId": 777})
    assert reply is not None and "没太明白" in reply and "关键词" in reply


async def test_pending_outbox_and_open_dialogue_survive_a_kill_and_restart(
        make_app, engine, aiohttp_client, settings, clock) -> None:  # noqa: ANN001
    first = make_app()
    client = await aiohttp_client(first)
    sim = WeChatSim(client, token=settings.wechat.token, clock=clock)
    async with first[SESSIONMAKER]() as s, s.begin():
        await enqueue(s, key="restart:1", openid="oKeep", now=clock.now(), text="别丢了")
    u = sim.user("oKeep")
    await u.send("帮扶")
    await u.send("同意")
    assert "说明困难情况" in await u.send("1")  # a dialogue is open, two answers in
    # "kill": the first app is simply abandoned; a new one starts on the same database
    second = make_app()
    sim2 = WeChatSim(await aiohttp_client(second), token=settings.wechat.token, clock=clock)
    sent = await second[DELIVERY].run_once()
    assert sent >= 1
    async with second[SESSIONMAKER]() as s:
        row = await s.scalar(select(Outbox).where(Outbox.key == "restart:1"))
        assert row.status == "simulated"  # offline mode: logged and marked, nothing lost
    # the open dialogue goes on where it was, in the new process
    reply = await sim2.user("oKeep").send("母亲住院做手术，自付医药费很多，家里收入只靠我一人。")
    assert "家庭共同生活的人口" in reply


async def test_offline_mode_marks_notifications_simulated(sim: WeChatSim, db, deliver, clock) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        await enqueue(s, key="offline:1", openid="oOff", now=clock.now(), text="您好")
    await deliver()
    async with db() as s:
        row = await s.scalar(select(Outbox).where(Outbox.key == "offline:1"))
        assert row.status == "simulated" and row.via == "offline"


async def test_health(client) -> None:  # noqa: ANN001
    resp = await client.get("/healthz")
    assert resp.status == 200


async def test_dedup_records_are_kept_a_week_then_pruned(sim: WeChatSim, app, db, clock) -> None:  # noqa: ANN001
    from scheduler.core_jobs import prune_inbound
    from scheduler.setup import job_context

    await sim.user("oOld").send("菜单")
    ctx = job_context(app)
    clock.advance(days=6)
    assert await prune_inbound(ctx) == 0
    clock.advance(days=2)
    assert await prune_inbound(ctx) == 1
