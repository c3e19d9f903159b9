"""Inbox jobs: quiet threads are closed and the worker told once; photos are fetched like
hardship evidence (the fake WeChat API's media/get), into media_dir/inbox/<thread>/."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.db.models.core import Outbox
from bot.keys import SESSIONMAKER
from bot.wechat.simulator import WeChatSim
from handlers.inbox import ops
from handlers.inbox.jobs import JOBS
from scheduler.setup import job_context
from tests.inbox.worker_helpers import clear_faq, messages, threads
from tests.support.fake_wechat import JPEG_BYTES
from tests.support.settings import make_settings


def job(name: str):  # noqa: ANN201
    return next(j for j in JOBS if j.id == name)


async def answered(db, openid: str) -> None:  # noqa: ANN001
    """As the staff side leaves a thread once it answered: not waiting, read."""
    async with db() as s, s.begin():
        [t] = await threads(db, openid)
        t = await s.merge(t)
        t.waiting, t.waiting_since, t.unread = False, None, 0


async def notices(db) -> list[Outbox]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(Outbox).where(Outbox.purpose == ops.NOTICE_PURPOSE).order_by(Outbox.id)))


async def test_quiet_answered_threads_are_closed_and_the_worker_told_once(sim, db, app, clock, settings,  # noqa: ANN001
                                                                          deliver) -> None:
    await clear_faq(db)
    await sim.user("oJ1").send("公司不给交社保怎么办")
    await answered(db, "oJ1")
    await sim.user("oJ2").send("加班费一直拖着不给怎么办")  # never answered: never closed by itself
    close = job("inbox.close_quiet")
    ctx = job_context(app)

    clock.advance(days=settings.inbox.close_after_days - 1)
    assert await close.func(ctx) == 0
    clock.advance(days=2)
    assert await close.func(ctx) == 1
    assert await close.func(ctx) == 0  # idempotent

    t1, t2 = await threads(db)
    assert (t1.status, t1.closed_by, t2.status) == ("closed", "auto", "open")
    [n] = await notices(db)
    bot = [m for m in await messages(db, t1.id) if m.sender == "bot"]
    assert n.openid == "oJ1" and [m.outbox_key for m in bot] == [n.key]
    assert "已经14天没有新消息" in n.payload["text"] and "（劳动争议/讨薪）" in n.payload["text"]
    assert bot[0].text == n.payload["text"]
    assert await deliver() == 1  # offline: simulated, once

    # The worker writes again: a new thread, and the old one stays closed.
    assert "已转给工作人员" in await sim.user("oJ1").send("社保的事还没解决，公司还是不交")
    assert [t.status for t in await threads(db, "oJ1")] == ["closed", "open"]
    assert len(await notices(db)) == 1


async def test_a_thread_with_something_new_is_not_closed(sim, db, app, clock, settings) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oJ3")
    await u.send("公司不给交社保怎么办")
    await answered(db, "oJ3")
    clock.advance(days=settings.inbox.close_after_days - 2)
    await u.send("谢谢")  # a pleasantry: nothing to answer, but the conversation is alive
    clock.advance(days=3)
    assert await job("inbox.close_quiet").func(job_context(app)) == 0
    clock.advance(days=settings.inbox.close_after_days)
    assert await job("inbox.close_quiet").func(job_context(app)) == 1


async def test_inbox_photos_are_fetched_into_the_threads_folder(aiohttp_client, make_app, engine, db_url,  # noqa: ANN001
                                                                tmp_path, fake_wechat, clock) -> None:
    online = make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config())
    app = make_app(online)
    client = await aiohttp_client(app)
    db = app[SESSIONMAKER]
    await clear_faq(db)
    sim = WeChatSim(client, path=online.server.webhook_path, token=online.wechat.token, clock=clock)
    u = sim.user("oPhoto")
    await u.send("我在工地摔伤了怎么办")
    assert "照片已收到" in await u.image("INJURY1")
    fake_wechat.media["INJURY2"] = (b"\x89PNG-bytes", "image/png")
    await u.image("INJURY2")
    [t] = await threads(db)
    photos = [m for m in await messages(db, t.id) if m.kind == "image"]
    assert [p.media_status for p in photos] == ["pending", "pending"]

    fetch = job("inbox.fetch_photos")
    fake_wechat.fail_next("/media/get", errcode=-1)
    assert await fetch.func(job_context(app)) == 1  # one failed: tried again next time
    assert await fetch.func(job_context(app)) == 1
    assert await fetch.func(job_context(app)) == 0  # nothing twice
    photos = [m for m in await messages(db, t.id) if m.kind == "image"]
    assert [p.media_status for p in photos] == ["fetched", "fetched"]
    first, second = photos
    assert first.path == f"inbox/{t.id}/{first.id}.jpg" and second.path.endswith(".png")
    assert (Path(tmp_path) / "data" / "media" / first.path).read_bytes() == JPEG_BYTES
    assert second.content_type == "image/png" and first.fetched_at is not None
