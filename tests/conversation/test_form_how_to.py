"""Inside a form, asking how to use a feature (报名怎么报, 每月一题在哪里答, 怎么联系工会) is answered
with its keyword, the form kept and the question asked again — never taken as a number, a name or a
unit; asking about the form itself says answering goes on here. A story may say 怎么办 and is kept
as the story. In the form that takes questions (留言) the question is the message. Through the
signed webhook."""
from __future__ import annotations

from tests.inbox.worker_helpers import messages, threads
from tests.support.hardship import ANSWERS, requests

HOUSEHOLD_Q = "家庭共同生活的人口有几人？请回复数字。"
INCOME_Q = "家庭每月总收入大约多少元？（所有家庭成员的工资、养老金等合计，没有请回复 0）"
EMPLOYER_Q = "您的工作单位是？（已失业的请填原单位）"


def kept(does: str, keyword: str) -> str:
    return f"{does}，回复「{keyword}」就可以，您填到一半的帮扶申请会帮您保存。"


async def to_household(u) -> None:  # noqa: ANN001
    await u.send("帮扶")
    for a in ANSWERS[:3]:  # 同意, the kind, the story
        await u.send(a)


async def test_a_how_to_question_at_a_number_step_gets_the_keyword_and_the_question_again(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oFormHow1")
    await to_household(u)
    reply = await u.send("每月一题在哪里答")
    assert reply == f"{kept('每月一题和半年测试', '答题')}\n{HOUSEHOLD_Q}"  # no 「留言」 hint beside it
    assert await u.send("三口人") == INCOME_Q  # the form goes on where it was
    assert "困难帮扶" not in await u.send("答题")  # the keyword does what the pointer said …
    reply = await u.send("帮扶")  # … and the form waited
    assert INCOME_Q in reply


async def test_asking_about_the_form_itself_says_answering_goes_on_here(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oFormHow2")
    await to_household(u)
    await u.send("3")
    assert await u.send("帮扶申请怎么弄？") == f"您现在就在填写帮扶申请，回答下面的问题就可以，我会一步步带您填完。\n{INCOME_Q}"


async def test_a_how_to_question_is_never_kept_as_a_name_or_a_unit(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oFormHow3")
    await u.send("帮扶")
    for a in ANSWERS[:8]:  # up to the phone number: the employer is asked next
        reply = await u.send(a)
    assert reply == EMPLOYER_Q
    assert await u.send("怎么联系工会") == f"{kept('有问题留言给工作人员，有专人回复', '留言')}\n{EMPLOYER_Q}"
    assert await u.send("我的报名怎么取消啊") == f"{kept('查看或取消我的报名', '我的报名')}\n{EMPLOYER_Q}"
    for a in ANSWERS[8:]:
        reply = await u.send(a)
    reply = await u.send("跳过")
    assert "请核对" in reply and "工作单位：街道环卫所" in reply and "联系工会" not in reply


async def test_a_story_may_say_how_and_is_kept_as_the_story(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oFormHow4")
    await u.send("帮扶")
    await u.send("同意")
    await u.send("子女就学")
    short = await u.send("报名怎么报")  # too short to be the story: the pointer
    assert short.startswith(kept("报名参加职工培训和文化活动", "报名"))
    story = "孩子开学要报名，学费不知道怎么办，老人又住院了"
    assert await u.send(story) == HOUSEHOLD_Q
    for a in ANSWERS[3:]:
        await u.send(a)
    await u.send("跳过")
    await u.send("确认")
    [req] = await requests(db)
    assert req.description == story


async def test_in_the_message_form_the_how_to_question_is_the_message(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oFormHow5")
    await u.send("留言")
    reply = await u.send("报名怎么报？我们单位好几个人想参加")
    assert "已转给工作人员" in reply or "收到" in reply
    [thread] = await threads(db, "oFormHow5")
    assert [m.text for m in await messages(db, thread.id)] == ["报名怎么报？我们单位好几个人想参加"]
