"""Sign-ups in a worker's own words, through the signed webhook: an activity named in a sentence
(报名参加电工培训, 报那个电工的), giving a sign-up up (我不想去了), a bare number after 取消报名's
list, where one stands (我候补上了没, 几点开始), contact details said with their lead-in (我的手机号
是…, 单位是…, 我在…上班), and no day-before promise when the day-before reminder is past."""
from __future__ import annotations

from sqlalchemy import select

from bot.db.models.core import Member
from bot.db.models.signup import Signup
from tests.support.signup import at, make_activity, signup_via_chat

LIST_HEAD = "近期可报名的活动："


async def statuses(db) -> dict[tuple[str, int], str]:  # noqa: ANN001
    async with db() as s:
        return {(r.openid, r.activity_id): r.status for r in (await s.scalars(select(Signup))).all()}


async def three(db, clock):  # noqa: ANN001, ANN201
    walk = await make_activity(db, clock, kind="event", title="职工健步走活动", starts_at=at(25, 9), ends_at=at(25, 11))
    electric = await make_activity(db, clock)  # 电工技能培训, two seats
    law = await make_activity(db, clock, title="劳动法律知识讲座", starts_at=at(27, 14), ends_at=at(27, 16))
    return walk, electric, law


async def test_an_activity_named_in_a_sentence_is_chosen(sim, db, clock) -> None:  # noqa: ANN001
    await three(db, clock)
    reply = await sim.user("oSay1").send("报名参加电工培训")
    assert reply.startswith("好的，报名「电工技能培训」。\n") and "请回复您的真实姓名" in reply
    assert "已转给工作人员" not in reply


async def test_an_activity_named_at_the_list_by_its_own_words(sim, db, clock) -> None:  # noqa: ANN001
    await three(db, clock)
    u = sim.user("oSay2")
    assert LIST_HEAD in await u.send("我想报个名")
    assert "请回复您的真实姓名" in await u.send("报那个电工的")
    assert LIST_HEAD in await sim.user("oSay3").send("报名")
    assert "请回复 1–3 之间的序号" in await sim.user("oSay3").send("培训")  # two trainings named: asked again


async def test_a_sentence_naming_no_activity_shows_the_list(sim, db, clock) -> None:  # noqa: ANN001
    await three(db, clock)
    assert LIST_HEAD in await sim.user("oSay4").send("我是想报名参加篮球赛")


async def test_giving_a_sign_up_up_is_confirmed_first(sim, db, clock) -> None:  # noqa: ANN001
    walk, electric, law = await three(db, clock)
    u = sim.user("oGive")
    await signup_via_chat(u, "王一", "13800000001", pick="2")
    reply = await u.send("我不想去了")
    assert reply.startswith("要取消「电工技能培训」（") and "回复「确认」取消" in reply
    assert await u.send("不用") == "好的，报名保留着，到时候见！"
    assert await statuses(db) == {("oGive", electric.id): "confirmed"}
    await u.send("电工培训我不去了")
    assert "已为您取消「电工技能培训」的报名" in await u.send("确认")
    assert await statuses(db) == {("oGive", electric.id): "cancelled"}
    assert "您目前没有待参加的报名" in await u.send("参加不了了")


async def test_with_several_sign_ups_the_one_named_or_asked(sim, db, clock) -> None:  # noqa: ANN001
    walk, electric, law = await three(db, clock)
    u = sim.user("oTwo")
    await signup_via_chat(u, "王二", "13800000002", pick="2")
    await signup_via_chat(u, "王二", "13800000002", pick="3")
    assert (await u.send("讲座我去不了了")).startswith("要取消「劳动法律知识讲座」（")
    await u.send("谢谢")  # no answer to the question: nothing cancelled
    assert set(await statuses(db)) and all(v == "confirmed" for v in (await statuses(db)).values())
    reply = await u.send("我不去了")
    assert "要取消哪一个，请回复它的序号" in reply
    assert "已为您取消「劳动法律知识讲座」的报名" in await u.send("2")


async def test_a_bare_number_after_the_cancel_list_cancels_that_one(sim, db, clock) -> None:  # noqa: ANN001
    walk, electric, law = await three(db, clock)
    u = sim.user("oNum")
    await signup_via_chat(u, "王三", "13800000003", pick="2")
    reply = await u.send("取消报名")
    assert "要取消哪一个，请回复它的序号，例如「1」。" in reply
    assert "已为您取消「电工技能培训」的报名" in await u.send("1")
    assert "没太明白" in await u.send("1")  # the list is used up: a number alone means nothing now


async def test_a_number_after_my_sign_ups_cancels_nothing(sim, db, clock) -> None:  # noqa: ANN001
    walk, electric, law = await three(db, clock)
    u = sim.user("oLook")
    await signup_via_chat(u, "王四", "13800000004", pick="2")
    await u.send("我的报名")  # only looking
    await u.send("1")
    assert await statuses(db) == {("oLook", electric.id): "confirmed"}


async def test_where_one_stands_in_other_words(sim, db, clock) -> None:  # noqa: ANN001
    await make_activity(db, clock, capacity=1)
    await signup_via_chat(sim.user("oSeat"), "王五", "13800000005")
    u = sim.user("oWait")
    await signup_via_chat(u, "王六", "13800000006")
    for said in ("我候补上了没", "我排第几了", "电工培训几点开始", "几点开始 在哪"):
        reply = await u.send(said)
        assert "电工技能培训" in reply and "候补第1位" in reply, said


async def test_contact_details_said_with_their_lead_in(sim, db, clock) -> None:  # noqa: ANN001
    await make_activity(db, clock)
    u = sim.user("oLead")
    await u.send("报名")
    await u.send("1")
    assert "手机号码" in await u.send("我叫李明")
    assert "工作单位" in await u.voice(recognition="我的手机号是13912345678。")
    summary = await u.send("我在东湖电子上班。")
    assert "李明 139****5678" in summary and "工作单位：东湖电子" in summary
    await u.send("确认")
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oLead"))
    assert (m.phone, m.employer) == ("13912345678", "东湖电子")


async def test_no_day_before_promise_once_the_reminder_is_past(sim, db, clock) -> None:  # noqa: ANN001
    await make_activity(db, clock, title="今晚的讲座", starts_at=at(24, 20), ends_at=at(24, 21))  # now: 24th 10:00
    await make_activity(db, clock, title="下周的培训", starts_at=at(28, 14), ends_at=at(28, 16))
    reply = await signup_via_chat(sim.user("oSoon"), "王七", "13800000007", pick="1")
    assert "今晚的讲座" in reply and "活动前一天会提醒您" not in reply
    reply = await signup_via_chat(sim.user("oLater"), "王八", "13800000008", pick="2")
    assert "下周的培训" in reply and "活动前一天会提醒您" in reply


async def test_another_activity_instead_at_the_summary(sim, db, clock) -> None:  # noqa: ANN001
    await three(db, clock)
    u = sim.user("oSwap")
    await u.send("报名")
    await u.send("2")
    await u.send("王九")
    await u.send("13800000009")
    assert "电工技能培训" in await u.send("跳过")  # the summary
    reply = await u.send("能换一个吗")
    assert reply.startswith("好的，请重新选一个：\n近期可报名的活动：")
    summary = await u.send("3")  # straight to the summary: the contact details were kept
    assert summary.startswith("请核对报名信息") and "劳动法律知识讲座" in summary and "王九" in summary
