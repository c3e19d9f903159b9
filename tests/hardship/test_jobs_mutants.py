"""Sharper tests for handlers/hardship/jobs.py (mutation group `privacy`): the photo job fetches
with the service's shared WeChat client when there is one, else with a client of its own, and
stores the files where the service keeps its media."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.config import WeChatSettings
from bot.db.models.hardship import HardshipPhoto
from bot.jobs import JobContext
from bot.keys import SETTINGS
from bot.wechat.api import WeChatAPI
from handlers.hardship.jobs import JOBS
from tests.hardship.test_jobs import photos, seed
from tests.support.fake_wechat import JPEG_BYTES
from tests.support.settings import make_settings

FETCH = next(j for j in JOBS if j.id == "hardship.fetch_photos")
NOWHERE = "http://127.0.0.1:9"  # nothing listens there: a client built from these settings fails


@pytest.fixture
def settings(db_url, tmp_path, fake_wechat):  # noqa: ANN001, ANN201
    """Online: the service's own client talks to the fake WeChat API."""
    return make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config())


async def _check_fetched(db, clock, media, req_id: int) -> None:  # noqa: ANN001
    rows = await photos(db)
    assert [(r.status, r.fetched_at) for r in rows] == [("fetched", clock.now())] * 2
    for r in rows:
        assert r.path.startswith(f"hardship/{req_id}/")
        assert (media / r.path).read_bytes() == JPEG_BYTES


async def test_the_shared_client_is_used_and_files_go_to_the_media_folder(db, app, clock, tmp_path,
                                                                           fake_wechat) -> None:  # noqa: ANN001
    req = await seed(db, app, clock, online=True)
    # the job's own settings point nowhere: only the shared client (the service's) can fetch
    cut_off = app[SETTINGS].model_copy(update={"wechat": WeChatSettings(**{**fake_wechat.wechat_config(),
                                                                          "api_base_url": NOWHERE})})
    shared = WeChatAPI(WeChatSettings(**fake_wechat.wechat_config()), db, clock)
    media = tmp_path / "shared-media"
    try:
        ctx = JobContext(settings=cut_off, sessionmaker=db, clock=clock, services={"api": shared, "media_dir": media})
        assert await FETCH.func(ctx) == 2
    finally:
        await shared.close()
    await _check_fetched(db, clock, media, req.id)
    assert sum(1 for c in fake_wechat.calls if c["path"].endswith("/media/get")) == 2


async def test_without_a_shared_client_the_job_uses_one_of_its_own(db, app, clock, tmp_path,
                                                                    fake_wechat) -> None:  # noqa: ANN001
    req = await seed(db, app, clock, online=True)
    media = tmp_path / "own-media"
    ctx = JobContext(settings=app[SETTINGS], sessionmaker=db, clock=clock, services={"media_dir": str(media)})
    assert await FETCH.func(ctx) == 2
    await _check_fetched(db, clock, media, req.id)
    assert await FETCH.func(ctx) == 0  # nothing twice


async def test_the_default_media_folder_is_data_media(db, app, clock, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    req = await seed(db, app, clock, online=True)
    monkeypatch.chdir(tmp_path)
    ctx = JobContext(settings=app[SETTINGS], sessionmaker=db, clock=clock, services={})
    assert await FETCH.func(ctx) == 2
    await _check_fetched(db, clock, tmp_path / "data" / "media", req.id)


async def test_offline_the_job_fetches_nothing_even_with_a_client(db, app, clock, tmp_path, fake_wechat) -> None:  # noqa: ANN001
    await seed(db, app, clock, online=True)
    offline = app[SETTINGS].model_copy(update={"wechat": WeChatSettings(app_secret="x")})  # no app id: offline
    shared = WeChatAPI(WeChatSettings(**fake_wechat.wechat_config()), db, clock)
    try:
        ctx = JobContext(settings=offline, sessionmaker=db, clock=clock, services={"api": shared, "media_dir": tmp_path})
        assert await FETCH.func(ctx) == 0
    finally:
        await shared.close()
    async with db() as s:
        assert set(await s.scalars(select(HardshipPhoto.status))) == {"pending"}
