"""Hardship background work: photo fetching and the retention job (run twice, with time travel)."""
from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from bot.keys import SETTINGS
from bot.config import WeChatSettings
from bot.db.models.hardship import HardshipEvent, HardshipPhoto, HardshipRequest
from bot.media import MAX_ATTEMPTS, fetch_pending
from bot.wechat.api import WeChatAPI
from handlers.hardship import ops
from handlers.hardship.privacy import ANON_NAME
from handlers.hardship.jobs import JOBS, anonymise_closed
from scheduler.setup import job_context
from tests.support.fake_wechat import JPEG_BYTES, FakeWeChat
from tests.support.hardship import ops_ctx


async def seed(db, app, clock, *, online: bool, photos=("M1", "M2")) -> HardshipRequest:  # noqa: ANN001
    async with db() as s, s.begin():
        return await ops.submit_request(
            s, ops_ctx(app, api_available=online), openid="oW1", consent_version="2026-1",
            data={"kind": "因病", "description": "住院", "household": 2, "income": 3000, "expenses": 500,
                  "name": "王小明", "phone": "13800138000", "employer": "环卫所", "id_number": "11010519491231002X",
                  "photos": list(photos)})


async def photos(db) -> list[HardshipPhoto]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(HardshipPhoto).order_by(HardshipPhoto.id)))


async def test_pending_photos_are_fetched_once(db, app, clock, tmp_path, fake_wechat: FakeWeChat):  # noqa: ANN001
    req = await seed(db, app, clock, online=True)
    fake_wechat.media["M2"] = (b"\x89PNG-bytes", "image/png")
    api = WeChatAPI(WeChatSettings(**fake_wechat.wechat_config()), db, clock)
    try:
        fake_wechat.fail_next("/media/get", errcode=-1)
        assert await fetch_pending(db, api, tmp_path / "media", clock) == 1  # one failed, retried later
        rows = await photos(db)
        assert [r.status for r in rows] == ["pending", "fetched"] and rows[0].attempts == 1
        assert await fetch_pending(db, api, tmp_path / "media", clock) == 1
        assert await fetch_pending(db, api, tmp_path / "media", clock) == 0  # nothing twice
    finally:
        await api.close()
    rows = await photos(db)
    assert {r.status for r in rows} == {"fetched"}
    assert (tmp_path / "media" / rows[0].path).read_bytes() == JPEG_BYTES
    assert rows[1].path.endswith(".png") and rows[1].content_type == "image/png"
    assert rows[0].path.startswith(f"hardship/{req.id}/")


async def test_photo_that_keeps_failing_is_marked_failed(db, app, clock, tmp_path, fake_wechat):  # noqa: ANN001
    await seed(db, app, clock, online=True, photos=("BAD",))
    api = WeChatAPI(WeChatSettings(**fake_wechat.wechat_config()), db, clock)
    try:
        fake_wechat.fail_next("/media/get", errcode=40007, times=MAX_ATTEMPTS)
        for _ in range(MAX_ATTEMPTS + 1):
            await fetch_pending(db, api, tmp_path, clock)
    finally:
        await api.close()
    [row] = await photos(db)
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS and "40007" in row.error


async def test_offline_mode_keeps_the_media_id_only(db, app, clock):  # noqa: ANN001
    await seed(db, app, clock, online=False)
    job = next(j for j in JOBS if j.id == "hardship.fetch_photos")
    ctx = job_context(app)
    assert await job.func(ctx) == 0
    assert [(r.media_id, r.status, r.path) for r in await photos(db)] == [("M1", "offline", None),
                                                                          ("M2", "offline", None)]


async def test_retention_anonymises_closed_requests_after_the_period(db, app, clock, settings, tmp_path):  # noqa: ANN001
    req = await seed(db, app, clock, online=False)
    other = None
    async with db() as s, s.begin():
        await ops.start_review(s, ops_ctx(app), req.id)
        await ops.reject(s, ops_ctx(app), req.id, reason="不符合")
        await ops.close(s, ops_ctx(app), req.id)
    async with db() as s, s.begin():  # an open request of someone else is never touched
        no_dibao = app[SETTINGS].model_copy(update={"hardship": app[SETTINGS].hardship.model_copy(update={"dibao": {}})})
        other = await ops.submit_request(  # no 低保 standard configured
            s, replace(ops_ctx(app), settings=no_dibao), openid="oW2", consent_version="v",
            data={"kind": "其他", "description": "x", "household": 1, "income": 1, "name": "赵六",
                  "phone": "13900000000"})
    ctx = job_context(app)

    clock.advance(days=settings.hardship.retention_days - 1)
    assert await anonymise_closed(ctx) == 0
    clock.advance(days=2)
    assert await anonymise_closed(ctx) == 1
    assert await anonymise_closed(ctx) == 0  # idempotent

    async with db() as s:
        r = await s.get(HardshipRequest, req.id)
        o = await s.get(HardshipRequest, other.id)
        anon_events = list(await s.scalars(select(HardshipEvent).where(HardshipEvent.action == "anonymise")))
    assert (r.name, r.phone, r.employer, r.id_number_enc, r.description, r.openid) == (ANON_NAME, "", "", None, "", "")
    assert (r.kind, r.household_size, r.monthly_income, r.per_capita, r.tier) == ("因病", 2, 3000, 1250, "相对困难")
    assert {p.media_id for p in r.photos} == {""}
    assert len(anon_events) == 1
    assert o.name == "赵六" and o.anonymised_at is None


async def test_retention_also_covers_requests_left_rejected(db, app, clock, settings):  # noqa: ANN001
    """A rejection nobody closed must not keep personal data for ever."""
    req = await seed(db, app, clock, online=False)
    async with db() as s, s.begin():
        await ops.start_review(s, ops_ctx(app), req.id)
        await ops.reject(s, ops_ctx(app), req.id, reason="王小明家收入高于标准")
    ctx = job_context(app)
    clock.advance(days=settings.hardship.retention_days - 1)
    assert await anonymise_closed(ctx) == 0
    clock.advance(days=2)
    assert await anonymise_closed(ctx) == 1
    async with db() as s:
        r = await s.get(HardshipRequest, req.id)
    assert (r.status, r.name, r.reject_reason, r.last_message) == ("rejected", ANON_NAME, "", "")
    assert all(e.text == "" for e in r.events)
