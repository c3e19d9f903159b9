"""The pipeline's promises that mutation testing found untested (mutation/report-pipeline.txt):
a slow answer that is a news reply still reaches the person, whole, through the outbox; a handler
that hits a deadlock or serialization failure runs once more, from the dialogue as it was read."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

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


async def test_any_other_database_error_is_not_run_again_and_gets_the_apology(sim, db):  # noqa: ANN001
    from bot.pipeline import APOLOGY

    CONFLICT["code"] = ("sqlstate", "23505")  # a unique violation: running it again would not help
    u = sim.user("oConflictUnique")
    assert await u.send("冲突") == APOLOGY
    assert CALLS["oConflictUnique"] == 1
