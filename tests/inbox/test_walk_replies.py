"""What people playing workers found, through the signed webhook: 「有人回复了吗」 is answered from the
worker's own conversation (the staff answer again, with when; or none yet, with the office hours)
and never becomes one more message for staff; the most common questions (会费, 会员福利, a contract
not renewed, social insurance not paid) have a first answer; the new starter entries reach a
federation that was seeded long ago."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from bot.db.models.inbox import FaqEntry, SiteText
from bot.keys import SESSIONMAKER, SETTINGS
from bot.operations import OpsContext
from handlers.inbox import faq
from tests.inbox.worker_helpers import messages, threads
from tests.support.admin import log_in_staff
from tests.support.inbox import send_reply

ANSWER = "您好，欠薪的事我们已经记下了，明天上午给您打电话，请保留好工资条。"
ASKING = ["有人回复了吗", "回复了没", "怎么还没人回", "我的留言", "查看回复", "有人回复我了吗？", "你好，请问有回复吗"]


async def _ask(u) -> None:  # noqa: ANN001
    await u.send("留言")
    await u.send("1")
    await u.send("老板拖欠工资三个月了怎么办")


# ------------------------------------------------------------------- 1. 有人回复了吗

async def test_asking_whether_anyone_replied_shows_the_staff_answer_and_adds_nothing(sim, db, client,
                                                                                  clock) -> None:  # noqa: ANN001
    u = sim.user("oAsk1")
    await _ask(u)
    [t] = await threads(db)
    await log_in_staff(client, db)
    clock.advance(minutes=25)  # 10:25 by the office's clock
    assert (await send_reply(client, t.id, ANSWER)).status == 303
    clock.advance(hours=3)
    before = await messages(db, t.id)
    for said in ASKING:
        reply = await u.send(said)
        assert "工作人员已经回复您了（今天 10:25）" in reply and ANSWER in reply, said
        assert "已转给工作人员" not in reply and "结束咨询" in reply, said
    assert [m.id for m in await messages(db, t.id)] == [m.id for m in before]  # nothing for staff
    [t] = await threads(db)
    assert (t.waiting, t.unread, t.status) == (False, 0, "open")


async def test_no_answer_yet_says_so_with_the_office_hours(sim, db, settings) -> None:  # noqa: ANN001
    u = sim.user("oAsk2")
    await _ask(u)
    for said in ASKING:
        reply = await u.send(said)
        assert "今天 10:00 发来的留言（劳动争议/讨薪）工作人员还没有回复" in reply, said
        assert settings.office.hours in reply and settings.office.phone in reply, said
        assert "收到，已转给工作人员" not in reply, said
    [t] = await threads(db)
    assert len(await messages(db, t.id)) == 2  # the question and the bot's first answer
    assert (t.waiting, t.unread) == (True, 1)


async def test_a_later_question_waits_and_the_earlier_answer_is_shown(sim, db, client, clock) -> None:  # noqa: ANN001
    u = sim.user("oAsk3")
    await _ask(u)
    [t] = await threads(db)
    await log_in_staff(client, db)
    await send_reply(client, t.id, ANSWER)
    clock.advance(days=1)
    await u.send("他们说下个月一起发，这样合法吗")
    reply = await u.send("怎么还没人回")
    assert "还没有回复" in reply and "工作人员上一次回复您是在昨天 10:00" in reply and ANSWER in reply
    # closed by the worker: the last answer, and that the conversation is over
    await u.send("结束咨询")
    reply = await u.send("我的留言")
    assert ANSWER in reply and "这次咨询已经结束了" in reply
    assert len(await threads(db)) == 1


async def test_a_worker_who_never_wrote_is_told_how_to(sim, db) -> None:  # noqa: ANN001
    for i, said in enumerate(["我的留言", "有人回复了吗", "查看回复"]):
        reply = await sim.user(f"oNever{i}").send(said)
        assert "还没有给工作人员留过言" in reply and "「留言」" in reply, said
        assert "没太明白" not in reply and "已转给" not in reply, said
    assert await threads(db) == []


async def test_asked_after_another_feature_answered(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oAsk4")
    await _ask(u)
    await u.send("报名")  # the list of activities (none open): no form, the conversation still open
    reply = await u.send("有人回复了吗")
    assert "工作人员还没有回复" in reply
    [t] = await threads(db)
    assert len(await messages(db, t.id)) == 2


# ------------------------------------------------- 4. the most common questions have a first answer

@pytest.mark.parametrize(("said", "says", "to_staff"), [
    ("会费多少", ("不用交入会费", "每月工资收入的0.5%", "单位工会"), False),
    ("入会要交钱吗", ("不用交入会费", "0.5%"), False),
    ("工会会员有什么福利", ("困难帮扶", "技能培训", "文化活动", "回复「帮扶」"), False),
    ("入会有什么好处", ("困难帮扶", "送温暖"), False),
    ("劳动合同到期不续签有补偿吗", ("经济补偿", "第四十六条", "每工作满一年，给一个月工资"), True),
    ("单位不给交社保怎么办", ("法定义务", "人社部门", "12333", "工会可以帮您"), True),
])
async def test_common_questions_have_a_first_answer(sim, db, said, says, to_staff) -> None:  # noqa: ANN001
    reply = await sim.user("oCommon").send(said)
    for words in says:
        assert words in reply, words
    assert "没太明白" not in reply
    if to_staff:  # a question of the worker's own case: the first answer and a person
        assert "先给您一些参考" in reply and "已转给工作人员" in reply
        [t] = await threads(db)
        assert t.topic == "劳动争议/讨薪"
    else:  # answered; the way to a person said
        assert "已转给" not in reply and "回复「留言」" in reply
        assert await threads(db) == []


async def test_joining_no_longer_reads_as_no_dues(sim) -> None:  # noqa: ANN001
    reply = await sim.user("oJoin").send("怎么加入工会")
    assert "入会不收费" not in reply and "不用交入会费" in reply and "按月交会费" in reply


async def test_the_new_entries_reach_a_federation_seeded_long_ago(make_app, aiohttp_client, engine, clock) -> None:  # noqa: ANN001
    app = make_app()
    await aiohttp_client(app)
    db = app[SESSIONMAKER]
    ctx = OpsContext(clock, app[SETTINGS], {})
    new = [e["keywords"][0] for e in faq.later_entries(ctx)]
    # as the first release left it: its five entries, its marker, the old joining answer
    async with db() as s, s.begin():
        for e in list(await s.scalars(select(FaqEntry))):
            if e.keywords[0] in new:
                await s.delete(e)
        await s.execute(delete(SiteText).where(SiteText.key.startswith(faq.SEEDED_KEY + ":")))
        join = await s.scalar(select(FaqEntry).where(FaqEntry.topic == "入会"))
        join.answer = faq._old_join_answer(ctx)
        edited = FaqEntry(keywords=["工会卡"], answer=faq._old_join_answer(ctx) + "（工作人员改过）", topic="",
                          to_inbox=False, priority=0, link="", active=True, hits=0, created_at=clock.now(),
                          updated_at=clock.now())
        s.add(edited)
    for _ in range(2):  # a restart, then another: each new entry once
        await aiohttp_client(make_app())
        async with db() as s:
            entries = list(await s.scalars(select(FaqEntry)))
        assert sorted(e.keywords[0] for e in entries if e.keywords[0] in new) == sorted(new)
        answers = {e.keywords[0]: e.answer for e in entries}
        assert "入会不收费" not in answers["怎么入会"] and "按月交会费" in answers["怎么入会"]
        assert answers["工会卡"].endswith("（工作人员改过）") and "入会不收费" in answers["工会卡"]  # staff's own
