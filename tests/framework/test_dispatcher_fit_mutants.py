"""A reply longer than WeChat's passive limit, and notes put before a reply (mutation/report-dispatcher.txt):
what the person receives now, and what follows through the outbox."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.core.context import Ctx
from bot.core.dispatcher import MORE_FOLLOWS, PASSIVE_LIMIT
from bot.core.router import Router, text_is
from bot.db.models import Dialogue, Outbox

router = Router("long-replies")
LINES = [f"第{i}条：工会会员服务须知，请仔细阅读本条内容。" for i in range(1, 121)]  # ~8 KB
EXACT = "字" * (PASSIVE_LIMIT // 3) + "a" * (PASSIVE_LIMIT % 3)  # exactly the limit in UTF-8
# One line of single-byte characters (a list of codes) well over the limit: cut by characters, so the
# first part can take every byte the passive reply has room for.
CODES = " ".join(f"HX{i:05d}" for i in range(1, 501))  # ~4 KB, no line break


@router.on(text_is("须知"))
async def long_reply(ctx: Ctx) -> str:
    return "\n".join(LINES)


@router.on(text_is("刚好"))
async def exact_reply(ctx: Ctx) -> str:
    return EXACT


@router.on(text_is("编号"))
async def codes_reply(ctx: Ctx) -> str:
    return CODES


@router.on(text_is("维护通知"))
async def notice_reply(ctx: Ctx) -> str:
    ctx.notes.append("（今晚22点起系统维护一小时。）")
    return "好的，收到。"


@pytest.fixture
async def app(make_app, engine):  # noqa: ANN001
    return make_app(extra_routers=[router])


async def _late(db, openid: str) -> list[Outbox]:  # noqa: ANN001
    async with db() as s:
        return list((await s.scalars(select(Outbox).where(Outbox.openid == openid).order_by(Outbox.id))).all())


async def test_a_long_reply_answers_within_the_limit_and_the_rest_follows_in_order(sim, db):  # noqa: ANN001
    u = sim.user("oLong")
    now = await u.send("须知")
    assert len(now.encode()) <= PASSIVE_LIMIT
    assert now.startswith(LINES[0]) and now.endswith("\n" + MORE_FOLLOWS)
    rest = await _late(db, "oLong")
    assert len(rest) >= 2
    assert [r.purpose for r in rest] == ["late_reply"] * len(rest)
    assert [r.key.rsplit(":", 1)[1] for r in rest] == [str(i) for i in range(1, len(rest) + 1)]
    assert len({r.key.rsplit(":", 1)[0] for r in rest}) == 1 and rest[0].key.startswith("reply:")
    first = now[: -len("\n" + MORE_FOLLOWS)]
    assert "\n".join([first] + [r.payload["text"] for r in rest]) == "\n".join(LINES)  # nothing lost, nothing twice
    for r in rest:
        assert len(r.payload["text"].encode()) <= PASSIVE_LIMIT


async def test_a_reply_of_exactly_the_limit_goes_whole(sim, db):  # noqa: ANN001
    u = sim.user("oExact")
    assert await u.send("刚好") == EXACT
    assert await _late(db, "oExact") == []


async def test_a_note_comes_before_the_reply_with_a_blank_line(sim, db, clock):  # noqa: ANN001
    u = sim.user("oNoted")
    await u.send("菜单")
    async with db() as s, s.begin():
        s.add(Dialogue(app_id="", openid="oNoted", state="gone:step", data={"d": {}}, version=1,
                       updated_at=clock.now(), expires_at=clock.now() + timedelta(days=1)))
    reply = await u.send("随便说说")
    assert reply == "抱歉，刚才的对话流程已更新，请重新开始。\n\n" + await sim.user("oPlain").send("随便说说")


async def test_the_first_part_of_a_long_line_fills_the_passive_limit_to_the_byte(sim, db):  # noqa: ANN001
    u = sim.user("oCodes")
    now = await u.send("编号")
    assert len(now.encode()) == PASSIVE_LIMIT  # within WeChat's limit, and not a byte shorter than it allows
    first = now[: -len("\n" + MORE_FOLLOWS)]
    assert now == first + "\n" + MORE_FOLLOWS
    rest = await _late(db, "oCodes")
    assert "".join([first] + [r.payload["text"] for r in rest]) == CODES


async def _expired_form(u, clock) -> None:  # noqa: ANN001
    assert "哪方面" in await u.send("我要留言")
    clock.advance(hours=73)  # past the form's keeping time (72 h)


EXPIRED = "您之前未完成的留言已超过保留时间，已自动清除。"


async def test_a_note_is_sent_alone_when_the_reply_says_nothing(sim, clock):  # noqa: ANN001
    u = sim.user("oExpiredView")
    await _expired_form(u, clock)
    assert await u.event("VIEW", "https://example.org/guide") == EXPIRED  # a menu link, no other reply
    assert await u.event("VIEW", "https://example.org/guide") is None  # said once


async def test_several_notes_each_on_their_own_line_before_the_reply(sim, clock):  # noqa: ANN001
    u = sim.user("oExpiredNotice")
    await _expired_form(u, clock)
    assert await u.send("维护通知") == EXPIRED + "\n（今晚22点起系统维护一小时。）\n\n好的，收到。"
