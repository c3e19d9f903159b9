"""What a walk-through by people playing workers found, through the signed webhook: a question at a
sign-up question is answered from the activity and never kept as the answer (在哪里培训 几点开始 at
姓名), 取消 in the sign-up form keeps the sign-ups one has (and says so), giving a sign-up up is
heard with the list left open, and questions naming an activity or signing a colleague up are
answered here instead of going to staff."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.forms import Invalid
from bot.core.validators import employer_parser, parse_name
from bot.db.models.core import Member
from bot.db.models.signup import Signup
from tests.support.signup import at, make_activity, signup_via_chat

ASK_NAME = "请回复您的真实姓名"
STAFF = "已转给工作人员"


async def two(db, clock):  # noqa: ANN001, ANN201
    walk = await make_activity(db, clock, kind="event", title="职工健步走活动", description="",
                               starts_at=at(25, 9), ends_at=at(25, 11))
    electric = await make_activity(db, clock, title="低压电工证培训", description="持证上岗复训")
    return walk, electric


async def member(db, openid: str) -> Member:  # noqa: ANN001
    async with db() as s:
        return await s.scalar(select(Member).where(Member.openid == openid))


async def statuses(db) -> dict[tuple[str, int], str]:  # noqa: ANN001
    async with db() as s:
        return {(r.openid, r.activity_id): r.status for r in (await s.scalars(select(Signup))).all()}


# ----------------------------------------------------------------------------- 1. questions at a step
async def test_questions_at_the_name_step_are_answered_from_the_activity_and_not_kept(sim, db, clock) -> None:  # noqa: ANN001
    await two(db, clock)
    u = sim.user("oAsk")
    await u.send("我想报名")
    assert ASK_NAME in await u.send("报那个电工的")
    reply = await u.send("在哪里培训啊 几点开始")
    assert reply.startswith("「低压电工证培训」\n") and "地点：街道职工之家" in reply
    assert "时间：11月26日（周四）14:00–16:00" in reply and reply.endswith(ASK_NAME + "：")
    assert "时间：11月26日（周四）14:00–16:00，共2小时" in await u.send("培训多长时间")
    reply = await u.send("我问一下这个收费不")  # not in the record: said so, and how to ask staff
    assert "活动信息里没有写费用" in reply and "「留言」" in reply and reply.endswith(ASK_NAME + "：")
    assert "地点：街道职工之家" in await u.voice(recognition="在哪里培训。")
    reply = await u.send("我同事也想去")
    assert "参加人自己的微信" in reply and "代为报名" in reply and reply.endswith(ASK_NAME + "：")
    assert "手机号码" in await u.send("欧阳娜娜")
    assert "工作单位" in await u.send("13800001111")
    reply = await u.send("单位必须填吗")  # a question is no unit's name either
    assert "请回复工作单位的名称" in reply and "工作单位：" not in reply
    summary = await u.send("跳过")
    assert "报名人：欧阳娜娜 138****1111" in summary
    assert "报名成功" in await u.send("确认")
    assert (await member(db, "oAsk")).name == "欧阳娜娜"


async def test_cost_and_what_to_bring_are_read_from_the_description(sim, db, clock) -> None:  # noqa: ANN001
    await make_activity(db, clock, title="低压电工证培训", description="免费培训，结业发证。请携带身份证和一寸照片。")
    u = sim.user("oFee")
    await u.send("报名")
    assert ASK_NAME in await u.send("1")
    assert "费用：免费培训，结业发证" in await u.send("收费吗")
    assert "费用：免费培训，结业发证" in await u.send("收费不")  # no question to the detector: no name either
    reply = await u.send("需要带什么东西")
    assert "需要准备：请携带身份证和一寸照片" in reply and "没有写" not in reply
    summary = await u.send("李想")
    await u.send("13800001112")
    summary = await u.send("跳过")
    reply = await u.send("要钱吗")  # at the summary: answered, the summary shown again
    assert reply.startswith("「低压电工证培训」\n费用：免费培训") and "回复「确认」报名" in reply
    assert "报名人：李想" in summary


async def test_a_question_at_the_list_naming_an_activity_is_answered_not_chosen(sim, db, clock) -> None:  # noqa: ANN001
    await two(db, clock)
    u = sim.user("oList")
    await u.send("报名")
    reply = await u.send("健步走几号")
    assert reply.startswith("「职工健步走活动」\n时间：11月25日（周三）09:00–11:00") and "近期可报名的活动：" in reply
    assert "请核对报名信息" not in reply


def test_parse_name_refuses_questions_and_sentences_but_not_names() -> None:
    for said in ("在哪里培训啊 几点开始", "培训多长时间", "我问一下这个收费不", "我同事也想去", "在哪里培训",
                 "几点开始", "收费不", "我想去", "他也要报", "是不是免费", "什么时候", "多少钱"):
        with pytest.raises(Invalid):
            parse_name(said)
    for name in ("张三", "欧阳娜娜", "阿依古丽·买买提", "王建国", "李想", "张问天", "那英", "李去非", "John Smith"):
        assert parse_name(name) == name
    assert parse_name("我叫李明") == "李明"
    with pytest.raises(Invalid):
        employer_parser(60, "请填写工作单位全称。")("在哪里培训")


async def test_real_names_still_pass_the_hardship_form(sim) -> None:  # noqa: ANN001
    for i, name in enumerate(("欧阳娜娜", "阿依古丽·买买提", "李想")):
        u = sim.user(f"oHard{i}")
        await u.send("帮扶")
        for answer in ("同意", "1", "母亲住院做手术，自付医药费很多，家里收入只靠我一人。", "3", "4500", "1500"):
            reply = await u.send(answer)
        assert "姓名" in reply
        assert "手机号" in await u.send(name), name
    u = sim.user("oHardQ")
    await u.send("帮扶")
    for answer in ("同意", "1", "母亲住院做手术，自付医药费很多，家里收入只靠我一人。", "3", "4500", "1500"):
        await u.send(answer)
    assert "请问您的姓名" in await u.send("我问一下这个要多久")  # a question: the name asked again


# ----------------------------------------------------------------------------- 2. 取消
async def test_cancel_in_the_sign_up_form_says_the_sign_ups_held_are_kept(sim, db, clock) -> None:  # noqa: ANN001
    walk, electric = await two(db, clock)
    u = sim.user("oKeep")
    await signup_via_chat(u, "王一", "13800000001", pick="2")
    await u.send("报名")
    reply = await u.send("取消")
    assert "已取消活动报名" not in reply and "这次的报名不填了" in reply
    assert "「低压电工证培训」不受影响，仍然有效" in reply and "「取消报名」" in reply
    assert "报名成功" in await u.send("我的报名")
    assert await statuses(db) == {("oKeep", electric.id): "confirmed"}
    v = sim.user("oNone")  # holding none: no word of sign-ups kept
    await v.send("报名")
    reply = await v.send("取消")
    assert "这次的报名不填了" in reply and "不受影响" not in reply


async def test_a_bare_cancel_with_sign_ups_held_asks_which(sim, db, clock) -> None:  # noqa: ANN001
    walk, electric = await two(db, clock)
    u = sim.user("oBare")
    await signup_via_chat(u, "王一", "13800000001", pick="2")
    reply = await u.send("取消")
    assert reply.startswith("您现在没有正在填写的内容。要取消「低压电工证培训」（") and "回复「确认」取消" in reply
    assert "已为您取消「低压电工证培训」的报名" in await u.send("确认")
    await signup_via_chat(u, "王一", "13800000001", pick="1")
    await signup_via_chat(u, "王一", "13800000001", pick="2")
    reply = await u.send("取消")  # two held: which one, and the next number picks it
    assert reply.startswith("您现在没有正在填写的内容。") and "要取消哪一个，请回复它的序号" in reply
    assert "已为您取消「职工健步走活动」的报名" in await u.send("1")
    assert await statuses(db) == {("oBare", walk.id): "cancelled", ("oBare", electric.id): "confirmed"}
    reply = await sim.user("oBareNone").send("取消")  # holding none: as before
    assert reply.startswith("当前没有进行中的事项")


# ----------------------------------------------------------------------------- 3. giving up anywhere
async def test_giving_up_with_the_list_open_reaches_the_cancel_question(sim, db, clock) -> None:  # noqa: ANN001
    walk, electric = await two(db, clock)
    u = sim.user("oOff")
    await signup_via_chat(u, "王一", "13800000001", pick="2")
    await u.send("报名")
    reply = await u.send("电工培训我不去了")
    assert reply.startswith("要取消「低压电工证培训」（") and "无需重复报名" not in reply
    assert "回复「报名」就能接着填" in reply  # the list is kept
    assert "已为您取消「低压电工证培训」的报名" in await u.send("确认")
    assert await statuses(db) == {("oOff", electric.id): "cancelled"}


async def test_giving_up_mid_form_with_several_sign_ups_asks_which(sim, db, clock) -> None:  # noqa: ANN001
    walk, electric = await two(db, clock)
    law = await make_activity(db, clock, title="劳动法律知识讲座", starts_at=at(27, 14), ends_at=at(27, 16))
    u = sim.user("oMid")
    await signup_via_chat(u, "王一", "13800000001", pick="2")
    await signup_via_chat(u, "王一", "13800000001", pick="3")
    await u.send("报名")
    reply = await u.send("我去不了了")
    assert "要取消哪一个，请回复它的序号" in reply
    assert "已为您取消「劳动法律知识讲座」的报名" in await u.send("2")
    assert await statuses(db) == {("oMid", electric.id): "confirmed", ("oMid", law.id): "cancelled"}
    await u.send("帮扶")  # in a story it stays part of the story, sign-ups held or not
    await u.send("同意")
    await u.send("1")
    reply = await u.send("腿摔伤了上班去不了了")  # the 情况说明
    assert "要取消" not in reply and "家庭共同生活的人口" in reply


async def test_giving_up_holding_nothing_is_no_choice_at_the_list(sim, db, clock) -> None:  # noqa: ANN001
    await two(db, clock)
    u = sim.user("oNothing")
    await u.send("报名")
    reply = await u.send("电工培训我不去了")
    assert "不报了请回复「取消」" in reply and "近期可报名的活动：" in reply and ASK_NAME not in reply


async def test_confirm_at_the_list_says_to_pick_a_number(sim, db, clock) -> None:  # noqa: ANN001
    await two(db, clock)
    u = sim.user("oConfirm")
    await u.send("报名")
    reply = await u.send("确认")
    assert reply.startswith("还没有选活动哦。请回复要报名的活动前面的序号") and "操作用语" not in reply


# ----------------------------------------------------------------------------- 4. outside a form
async def test_a_question_naming_an_activity_is_answered_not_passed_to_staff(sim, db, clock) -> None:  # noqa: ANN001
    await two(db, clock)
    u = sim.user("oFree")
    reply = await u.send("健步走几号")
    assert reply == "「职工健步走活动」\n时间：11月25日（周三）09:00–11:00\n想参加请回复「报名」。"
    reply = await u.send("电工培训在哪里")
    assert "地点：街道职工之家" in reply and STAFF not in reply
    await signup_via_chat(u, "王一", "13800000001", pick="2")
    reply = await u.send("电工培训几点开始")
    assert "时间：11月26日（周四）14:00–16:00" in reply and "您已经报名了这个活动" in reply
    reply = await u.send("电工培训在哪里，还有我的工资被扣了三个月了老板不给怎么办")  # more than a question on it
    assert STAFF in reply and "地点：" not in reply


async def test_signing_a_colleague_up_is_explained_not_passed_to_staff(sim, db, clock) -> None:  # noqa: ANN001
    await two(db, clock)
    reply = await sim.user("oMate").send("我帮同事也报一个，他叫李明，电话13800001111")
    assert STAFF not in reply and "参加人自己的微信" in reply and "「报名」" in reply and "代为报名" in reply
    assert await statuses(db) == {}
