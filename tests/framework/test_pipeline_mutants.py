"""The pipeline's promises that mutation testing found untested (mutation/report-pipeline.txt):
a slow answer that is a news reply still reaches the person, whole, through the outbox."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.core.types import Article, NewsReply
from bot.db.models import Outbox
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
