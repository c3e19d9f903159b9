"""Asking how to use something the bot itself does (帮扶申请怎么弄, 报名怎么报, 每月一题在哪里答) is
answered with the keyword that does it, not handed to a person; a question that says something
went wrong or is late (帮扶怎么还没批下来) still reaches a person. Through the signed webhook."""
from __future__ import annotations

import pytest

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from handlers.inbox.dialogue import ADDED, FAQ_MORE
from tests.inbox.worker_helpers import add_faq, clear_faq, messages, threads

HOW_TO = [
    ("帮扶申请怎么弄", "帮扶", "申请困难帮扶"),
    ("报名怎么报？", "报名", "报名参加职工培训和文化活动"),
    ("每月一题在哪里答", "答题", "每月一题和半年测试"),  # named by another word of the same keyword
    ("我的报名怎么取消啊", "我的报名", "查看或取消我的报名"),  # the longest name wins over 报名
    ("请问报送怎么填", "报送", "工会主席季度信息报送（需先绑定）"),
    ("留言怎么留。", "留言", "有问题留言给工作人员，有专人回复"),  # voice: a full stop
    ("怎么联系工会", "留言", "有问题留言给工作人员，有专人回复"),
    ("会员专享在哪里", "VIP", "会员专区"),  # another word of a Latin keyword's route
    ("vip怎么进", "VIP", "会员专区"),  # the keyword in any case
]
# Something went wrong, is late, or no keyword is named: a person answers
TO_A_PERSON = ["帮扶申请怎么还没批下来", "为什么我报名报不上", "报名结果在哪里看", "工伤认定怎么申请", "入会流程是什么样的",
               "答题怎么答不了", "帮扶的钱怎么领"]


# A feature whose keyword is Latin letters and whose route takes another word too
probe = Router("how-to-probe")
probe.add_menu("VIP", "会员专区")


@probe.on(text_is("VIP", "会员专享"))
async def vip(ctx: Ctx) -> str:
    return "欢迎来到会员专区"


@pytest.fixture
async def app(make_app, engine):  # noqa: ANN001, ANN201
    return make_app(extra_routers=[probe])


def pointer(keyword: str, does: str) -> str:
    return f"{does}，直接回复「{keyword}」就可以，我会一步步告诉您怎么做。"


@pytest.mark.parametrize(("text", "keyword", "does"), HOW_TO)
async def test_how_to_use_a_feature_is_answered_with_its_keyword(sim, db, text, keyword, does) -> None:  # noqa: ANN001
    await clear_faq(db)
    assert await sim.user("oHow").send(text) == f"{pointer(keyword, does)}\n{FAQ_MORE}"
    assert await threads(db, "oHow") == []  # nobody is asked to answer what the bot answers
    reply = await sim.user("oHow").send(keyword)  # and the keyword does what the pointer said
    assert "没太明白" not in reply and "已转给" not in reply


@pytest.mark.parametrize("text", TO_A_PERSON)
async def test_a_problem_with_a_feature_still_reaches_a_person(sim, db, text) -> None:  # noqa: ANN001
    await clear_faq(db)
    reply = await sim.user("oLate").send(text)
    assert "已转给工作人员" in reply and "直接回复「" not in reply
    [thread] = await threads(db, "oLate")
    assert [m.text for m in await messages(db, thread.id)] == [text]


async def test_the_union_s_own_answer_comes_before_the_pointer(sim, db, clock) -> None:  # noqa: ANN001
    await clear_faq(db)
    await add_faq(db, clock, ["怎么报"], "本月的培训请到社区活动室现场报名。")
    reply = await sim.user("oFaq").send("报名怎么报")
    assert reply.startswith("本月的培训请到社区活动室现场报名。") and "直接回复「报名」" not in reply


async def test_with_a_question_open_the_pointer_is_a_reference_once_and_the_message_still_reaches_staff(
        sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oOpen")
    assert "已转给工作人员" in await u.send("我们厂三个月没发工资了")
    first = await u.send("报名怎么报")
    assert first == f"{ADDED}\n\n先给您一个参考：\n{pointer('报名', '报名参加职工培训和文化活动')}"
    assert await u.send("报名到底怎么报") == ADDED  # the same reference is not given twice
    [thread] = await threads(db, "oOpen")
    said = [(m.sender, m.text) for m in await messages(db, thread.id)]
    assert said == [("worker", "我们厂三个月没发工资了"), ("worker", "报名怎么报"),
                    ("bot", pointer("报名", "报名参加职工培训和文化活动")), ("worker", "报名到底怎么报")]
