"""Common questions answer workers: matching (through the signed webhook and on its own),
priority, feature keywords first, hit counts, and the starter entries seeded exactly once."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, func, select

from bot.db.models.inbox import FaqEntry, SiteText
from bot.keys import SETTINGS
from bot.operations import OpsContext
from handlers.inbox import faq
from tests.support.db import make_test_engine
from bot.db.engine import make_sessionmaker

WAGES = "先保存好劳动合同、工资条和聊天记录。"


def ctx_of(app, clock) -> OpsContext:  # noqa: ANN001
    return OpsContext(clock, app[SETTINGS], {})


async def add(db, app, clock, keywords: str, answer: str, **fields) -> int:  # noqa: ANN001, ANN003
    async with db() as s, s.begin():
        e = await faq.create_entry(s, ctx_of(app, clock), faq.EntryInput(keywords=keywords, answer=answer, **fields))
        return e.id


async def only(db, app, clock, *entries: tuple[str, str, dict]) -> list[int]:  # noqa: ANN001
    """Replace the seeded entries with these (keywords, answer, fields)."""
    async with db() as s, s.begin():
        await s.execute(delete(FaqEntry))
    return [await add(db, app, clock, kw, answer, **fields) for kw, answer, fields in entries]


async def entry(db, entry_id: int) -> FaqEntry:  # noqa: ANN001
    async with db() as s:
        return await s.get(FaqEntry, entry_id)


# ----------------------------------------------------------------------------- matching
def test_match_key_ignores_punctuation_spaces_full_width_and_case() -> None:
    assert faq.match_key("请问，怎么 入会呀？") == "请问怎么入会呀"
    assert faq.match_key("ＡＢＣ　工伤认定。") == "abc工伤认定"
    assert faq.match_key("「欠薪」!!") == "欠薪"
    assert faq.match_key("。。。") == ""


async def test_match_miss_priority_and_length(client, db, app, clock) -> None:  # noqa: ANN001
    wages, injury, general, low = await only(
        db, app, clock,
        ("欠薪、拖欠工资、不发工资", WAGES, {"topic": "劳动争议/讨薪", "to_inbox": True, "priority": "5"}),
        ("工伤、工伤认定", "工伤认定要在一年内申请。", {"topic": "工伤", "to_inbox": True}),
        ("工资", "工资的一般问题。", {}),
        ("加班费", "加班费的回答。", {"priority": "-1"}),
    )
    async with db() as s:
        m = await faq.match(s, "老板拖着工资不发，还拖欠工资三个月了！")
        assert (m.entry_id, m.topic, m.to_inbox, m.keyword) == (wages, "劳动争议/讨薪", True, "拖欠工资")
        assert m.answer == WAGES
        assert (await faq.match(s, "工资问题：拖欠")).entry_id == general  # only the general one matches
        assert (await faq.match(s, "欠薪的工资问题")).entry_id == wages  # same length: priority
        assert (await faq.match(s, "欠薪的加班费")).entry_id == wages  # priority beats a longer keyword
        # among equal priorities the longest keyword wins
        assert (await faq.match(s, "工伤认定怎么弄")).keyword == "工伤认定"
        assert (await faq.match(s, "加班费怎么算")).entry_id == low
        assert await faq.match(s, "今天天气不错") is None
        assert await faq.match(s, "   ") is None
        assert await faq.match(s, "欠") is None  # no partial keywords
    assert injury


async def test_punctuation_voice_polite_wrappers_and_links(client, db, app, clock) -> None:  # noqa: ANN001
    [join] = await only(db, app, clock, ("怎么入会", "填写入会申请书即可。", {"link": "https://gh.example.org/join"}))
    async with db() as s:
        for text in ("怎么入会", "请问，怎么 入会呀？", "我想问一下怎么入会。", "ＰＬＳ怎么入会！！", "怎么入会吧"):
            found = await faq.match(s, text)
            assert found is not None and found.entry_id == join, text
        assert found.answer == "填写入会申请书即可。\n详细了解：https://gh.example.org/join"


async def test_inactive_entries_do_not_answer(client, db, app, clock) -> None:  # noqa: ANN001
    await only(db, app, clock, ("会员卡", "到社区工会领取。", {"active": False}))
    async with db() as s:
        assert await faq.match(s, "会员卡在哪里领") is None


async def test_hits_are_counted_atomically(client, db, app, clock) -> None:  # noqa: ANN001
    [e] = await only(db, app, clock, ("会员卡", "到社区工会领取。", {}))
    for _ in range(3):
        async with db() as s, s.begin():
            await faq.record_hit(s, e, clock.now())
    got = await entry(db, e)
    assert got.hits == 3 and got.last_hit_at == clock.now()


# ----------------------------------------------------------------------------- through the webhook
async def test_through_the_webhook_match_miss_priority_and_hits(sim, db, app, clock) -> None:  # noqa: ANN001
    wages, card = await only(
        db, app, clock,
        ("讨薪、拖着工资", WAGES, {"topic": "劳动争议/讨薪", "to_inbox": True, "priority": "10"}),
        ("会员卡", "会员卡到所在社区工会领取。", {}),
    )
    reply = await sim.user("oF1").send("老板拖着工资不发，工会能帮我讨薪吗")
    assert WAGES in reply
    reply = await sim.user("oF2").voice(recognition="请问会员卡在哪里领。")
    assert "会员卡到所在社区工会领取" in reply
    reply = await sim.user("oF3").send("请问会员卡到哪里领？")
    assert "会员卡到所在社区工会领取" in reply
    assert (await entry(db, wages)).hits == 1 and (await entry(db, card)).hits == 2
    miss = await sim.user("oF4").send("你好")
    assert WAGES not in miss and "会员卡" not in miss


async def test_a_feature_keyword_wins_over_an_faq_keyword(sim, db, app, clock) -> None:  # noqa: ANN001
    [e] = await only(db, app, clock, ("帮扶", "帮扶的常见问题回答。", {}))
    reply = await sim.user("oK1").send("帮扶")
    assert "帮扶的常见问题回答" not in reply and "申请困难帮扶前" in reply  # the hardship form starts
    assert "帮扶的常见问题回答" in await sim.user("oK2").send("帮扶需要准备什么材料")
    assert (await entry(db, e)).hits == 1


# ----------------------------------------------------------------------------- preview
async def test_preview_names_the_feature_the_entry_or_nobody(client, db, app, clock) -> None:  # noqa: ANN001
    from bot.app import features

    routers = [f.router for f in features() if f.router is not None]
    [e] = await only(db, app, clock, ("帮扶、困难补助", "补助的回答。", {}))
    async with db() as s:
        p = await faq.preview(s, "帮扶", routers=routers, now=clock.now())
        assert p.feature == "hardship" and p.match is None
        p = await faq.preview(s, "菜单。", routers=routers, now=clock.now())
        assert p.feature == "common"
        p = await faq.preview(s, "困难补助怎么申请", routers=routers, now=clock.now())
        assert p.feature == "" and p.match.entry_id == e
        p = await faq.preview(s, "公司不给交社保怎么办", routers=routers, now=clock.now())
        assert p.match is None and p.question is True
        p = await faq.preview(s, "哈哈哈哈", routers=routers, now=clock.now())
        assert p.match is None and p.question is False
    assert faq.keyword_conflicts(routers, ["帮扶", "慰问金"], clock.now()) == [("帮扶", "hardship")]


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(("fields", "says"), [
    ({"keywords": "", "answer": "答"}, "至少填写一个关键词"),
    ({"keywords": "、，", "answer": "答"}, "至少填写一个关键词"),
    ({"keywords": "社保、工", "answer": "答"}, "「工」太短"),
    ({"keywords": "社保", "answer": "  "}, "请填写回答内容"),
    ({"keywords": "社保", "answer": "字" * 601}, "回答太长"),
    ({"keywords": "社保", "answer": "答", "link": "javascript:alert(1)"}, "链接不正确"),
    ({"keywords": "社保", "answer": "答", "link": "www.example.org"}, "链接不正确"),
    ({"keywords": "社保", "answer": "答", "topic": "别的"}, "不在设置的留言分类中"),
    ({"keywords": "社保", "answer": "答", "priority": "高"}, "优先级请填写"),
    ({"keywords": "社保", "answer": "答", "priority": "100"}, "优先级请填写"),
])
def test_refused_entries_say_why(fields: dict, says: str) -> None:
    topics = ["劳动争议/讨薪", "工伤", "其他"]
    with pytest.raises(faq.FaqError) as exc:
        faq.clean(faq.EntryInput(**fields), topics)
    assert says in str(exc.value)


def test_keywords_are_split_and_deduplicated() -> None:
    assert faq.parse_keywords("欠薪，拖欠工资、欠薪;不发工资\n 工伤  认定 ") == ["欠薪", "拖欠工资", "不发工资", "工伤", "认定"]
    assert faq.clean(faq.EntryInput(keywords="社保", answer="字" * 600), ["其他"])["answer"] == "字" * 600


# ----------------------------------------------------------------------------- the starter entries
async def _counts(db) -> tuple[int, int]:  # noqa: ANN001
    async with db() as s:
        return (await s.scalar(select(func.count()).select_from(FaqEntry)),
                await s.scalar(select(func.count()).select_from(SiteText).where(SiteText.key == faq.SEEDED_KEY)))


async def test_seeded_once_and_never_again_after_staff_delete_them(make_app, aiohttp_client, engine, clock) -> None:  # noqa: ANN001
    from bot.keys import SESSIONMAKER

    first = make_app()
    await aiohttp_client(first)  # starting runs the startup hooks
    db = first[SESSIONMAKER]
    n, marks = await _counts(db)
    assert n == len(faq.starter_entries(ctx_of(first, clock))) == 9 and marks == 1
    await aiohttp_client(make_app())  # a second start (or a second process)
    assert await _counts(db) == (9, 1)
    async with db() as s:  # the first entry of each topic
        seeded = {e.topic: e for e in (await s.scalars(select(FaqEntry).order_by(FaqEntry.id.desc()))).all()}
        phone = first[SETTINGS].office.phone
        assert phone in seeded[""].answer and phone in seeded["入会"].answer  # built from [office]
        assert seeded["劳动争议/讨薪"].to_inbox and seeded["工伤"].to_inbox and not seeded["入会"].to_inbox
        # the example finds the evidence answer; a bare 办公时间 stays the office feature's
        m = await faq.match(s, "老板拖着工资不发，工会能帮我讨薪吗")
        assert m.topic == "劳动争议/讨薪" and "工资条" in m.answer
        assert (await faq.match(s, "怎么加入工会？")).topic == "入会"
        assert (await faq.match(s, "上班时受伤了工伤认定怎么办")).topic == "工伤"
    async with db() as s, s.begin():
        await s.execute(delete(FaqEntry))
    await aiohttp_client(make_app())
    assert await _counts(db) == (0, 1)


async def test_seeded_once_when_processes_start_together(backend, db_url, settings, clock) -> None:  # noqa: ANN001
    if backend == "sqlite":
        pytest.skip("one process holds the embedded database; several processes need PostgreSQL")
    from bot.db.base import Base

    engines = [make_test_engine(db_url) for _ in range(3)]
    try:
        async with engines[0].begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        ctx = OpsContext(clock, settings, {})

        async def start(engine) -> None:  # noqa: ANN001
            async with make_sessionmaker(engine)() as s, s.begin():
                await faq.seed_once(s, ctx)

        await asyncio.gather(*(start(e) for e in engines))
        assert await _counts(make_sessionmaker(engines[0])) == (9, 1)
    finally:
        for e in engines:
            await e.dispose()
