"""What people say in their own words, through the signed webhook: numbers as said (我们家三个人,
大概五百吧, 没有了), a hardship kind described (老伴生病了住院), giving up in a sentence, a refusal or
a number never kept as a name or a unit, an item named at the summary (名字写错了), how one's own
request stands (我的申请到哪一步了), 困难补助 for 帮扶, a bind code in a sentence."""
from __future__ import annotations

import pytest

from bot.core.forms import QUIT_HINT
from tests.inbox.worker_helpers import threads
from tests.support.chairs import issue_code, make_chair
from tests.support.hardship import ANSWERS, apply, requests
from tests.support.signup import make_activity

STORY_Q = "请简单说明困难情况（10–500字），例如发生了什么、现在最需要哪方面的帮助。"
NAME_Q = "请问您的姓名？"
HOUSEHOLD_Q = "家庭共同生活的人口有几人？请回复数字。"
EMPLOYER_Q = "您的工作单位是？（已失业的请填原单位）"
ID_Q = "如方便，请填写身份证号（加密保存，便于核实）；不填也可以。\n（可回复「跳过」）"


async def to_step(u, answers) -> str:  # noqa: ANN001
    reply = await u.send("帮扶")
    for a in answers:
        reply = await u.send(a)
    return reply


@pytest.mark.parametrize(("said", "kind"), [
    ("生病", "因病"), ("老伴生病了住院。", "因病"), ("家里有病人", "因病"), ("孩子上学", "子女就学"),
    ("下岗了", "失业待岗"), ("在厂里受伤了", "工伤"), ("房子着火了", "因灾"), ("其它", "其他"),
])
async def test_the_kind_of_hardship_in_the_person_s_own_words(sim, db, said: str, kind: str) -> None:  # noqa: ANN001
    u = sim.user("oKind")
    # said back, since it was read from their words: a wrong guess is put right with 上一步
    assert await to_step(u, ["同意", said]) == f"好的，困难类型记为「{kind}」（不对请回复「上一步」）。\n{STORY_Q}"
    assert f"上次留的是「{kind}」" in await u.send("上一步")
    assert await u.send(kind) == STORY_Q  # the choice's own word (or its number) needs no saying back


async def test_words_of_two_kinds_are_asked_again(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oKind2")
    reply = await to_step(u, ["同意", "孩子生病了还要交学费"])  # 因病 and 子女就学
    assert reply.startswith("请回复 1–6 之间的序号，或选项中的文字。") and "1. 因病" in reply


async def test_numbers_as_people_say_them(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oSaid")
    summary = await apply(u, ["同意", "1", ANSWERS[2], "我们家三个人", "两千左右吧", "没有了", *ANSWERS[6:]], photos=())
    assert "家庭人口：3 人" in summary and "家庭月收入：2000 元" in summary and "困难固定支出：0 元/月" in summary


async def test_a_refusal_or_an_amount_is_never_kept_as_the_name(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oName")
    assert await to_step(u, ANSWERS[:6]) == NAME_Q
    assert await u.send("不填了") == f"这一项需要填写，不能跳过哦；不想继续了可以回复「取消」。\n{NAME_Q}"
    for late in ("五百吧", "八百多块钱吧", "三口人"):
        assert (await u.send(late)).endswith(NAME_Q)
    assert await u.send("王小明") == "请留一个能联系到您的手机号（11位）。"


async def test_a_phone_number_or_being_out_of_work_is_never_kept_as_the_employer(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oUnit")
    assert await to_step(u, ANSWERS[:8]) == EMPLOYER_Q
    assert await u.send("13800138000") == f"这里请填工作单位的名称，不是号码哦。请填写工作单位全称（2–60个字）；已失业的请填原单位。\n{EMPLOYER_Q}"
    assert (await u.send("失业了")).startswith(f"已经没在工作的，请填原来工作的单位名称，例如「红星机械厂」。\n{EMPLOYER_Q}")
    assert await u.send("红星机械厂") == ID_Q
    assert (await u.send("不用了")).startswith("最后，请拍照上传证明材料")  # the optional ID number skipped


async def test_giving_up_in_a_sentence_is_asked_about_and_nothing_is_kept(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oQuit")
    assert await to_step(u, ["同意", "3"]) == STORY_Q
    assert await u.send("算了我不想申请了太麻烦了还要拍照") == f"{QUIT_HINT}\n{STORY_Q}"
    assert await u.send("算了 不申请了") == f"{QUIT_HINT}\n{STORY_Q}"
    assert "已取消帮扶申请" in await u.send("取消")
    assert await requests(db) == []


async def test_a_story_that_says_it_was_worked_out_is_kept(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oQuit2")
    story = "算了一下每月光药费就要三千多，家里只有我一个人挣钱"  # 算了一下: worked out, not giving up
    assert await to_step(u, ["同意", "1", story]) == "家庭共同生活的人口有几人？请回复数字。"


async def test_an_item_named_at_the_summary_is_changed_straight_away(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oFix")
    await apply(u, photos=())
    assert await u.send("名字写错了") == f"{NAME_Q}\n上次留的是「王小明」，不变请回复「沿用」。"
    assert "6. 姓名：王晓明" in await u.send("王晓明")
    await u.send("修改")
    assert (await u.send("收入")).startswith("家庭每月总收入大约多少元？")
    assert "4. 家庭月收入：5000 元" in await u.send("五千")
    await u.send("修改")
    assert await u.send("单位") == "您的工作单位是？（已失业的请填原单位）\n上次留的是「街道环卫所」，不变请回复「沿用」。"


async def test_asking_how_one_s_request_stands_shows_it(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oWhere")
    await apply(u, photos=())
    await u.send("确认")
    reply = await u.send("我的申请到哪一步了")
    assert "BF-2026-0001" in reply and reply.endswith("还有疑问的话，回复「留言」找工作人员。")
    assert "BF-2026-0001" in await u.send("帮扶批了吗？")
    assert await threads(db, "oWhere") == []  # nobody was asked what the bot could say
    assert "BF-2026-0001" not in await u.send("帮扶申请审核需要什么材料")  # a question, not how it stands
    assert "已转给工作人员" in await u.send("帮扶申请怎么还没批下来")  # upset: a person answers


async def test_asking_whether_a_sign_up_went_through_shows_the_sign_ups(sim, db) -> None:  # noqa: ANN001
    for said in ("我报名成功了吗", "报上了没有"):
        assert await sim.user("oSigned").send(said) == "您目前没有待参加的报名。回复「报名」看看近期活动。"


async def test_hardship_subsidy_starts_the_application_even_with_a_question_open(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oSubsidy")
    assert "已转给工作人员" in await u.send("我们厂三个月没发工资了")
    assert "申请困难帮扶前，请先了解" in await u.send("那我想申请困难补助。")


async def test_confirming_an_erasure_nobody_asked_for_explains_how(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oErase")
    await apply(u, photos=())
    await u.send("确认")
    reply = await u.send("确认删除")
    assert reply.startswith("现在没有等您确认的删除。") and "「删除我的信息」" in reply
    [req] = await requests(db)
    assert req.name == "王小明" and req.id_number_enc  # nothing erased


async def test_the_office_card_says_how_to_find_the_office_without_an_address(sim, db, settings) -> None:  # noqa: ANN001
    reply = await sim.user("oWhereIs").send("办公时间")
    assert reply == ("街道总工会\n电话：010-12345678\n办公时间：工作日 9:00–17:00\n地址：请来电询问，我们告诉您怎么走。\n"
                     "有事也可以回复「留言」，工作人员会在这里回复您。")


async def test_a_bind_code_said_in_a_sentence(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    code = await issue_code(db, clock, settings, chair.id)
    assert "绑定成功" in await sim.user("oChairSaid").send(f"我的绑定码是{code.lower()}。")


async def test_a_bind_code_after_a_polite_wrapper(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    code = await issue_code(db, clock, settings, chair.id)
    assert "绑定成功" in await sim.user("oChairAsk").send(f"请帮我绑定 {code}")


async def test_a_greeting_is_greeted_back_before_the_list(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oHello")
    menu = await u.send("菜单")
    assert await u.send("你好") == "您好！这里是街道总工会，很高兴为您服务。\n" + menu


async def test_a_long_hardship_story_is_told_how_to_apply(sim, db) -> None:  # noqa: ANN001
    story = "我是环卫工人老婆得了癌症在化疗家里两个孩子上学实在没钱了听说工会能帮忙我该怎么弄"
    reply = await sim.user("oStory").send(story)
    assert "回复「帮扶」按提示填写即可" in reply and "「留言」" in reply


async def test_continue_after_a_detour_asks_the_step_again_and_resumes_a_kept_draft(sim, db) -> None:  # noqa: ANN001
    """「继续」 is never read as an answer: mid-form it asks the current step again; with the form
    put aside (留言 in between), it picks the draft up where it stopped."""
    u = sim.user("oGoOn")
    assert await to_step(u, ["同意", "1", ANSWERS[2]]) == HOUSEHOLD_Q
    assert (await u.send("菜单")).endswith("您正在填写帮扶申请，直接回复即可继续。")
    assert await u.send("继续") == f"好的，我们接着填：\n{HOUSEHOLD_Q}"
    assert await u.send("接着填") == f"好的，我们接着填：\n{HOUSEHOLD_Q}"
    await u.send("留言")
    await u.send("结束咨询")
    assert "帮扶申请还没填完，我们从停下" not in await u.send("今天天气怎么样")  # only 继续 resumes
    reply = await u.voice(recognition="继续。")
    assert reply.startswith("您上次的帮扶申请还没填完，我们从停下的地方接着来") and reply.endswith(HOUSEHOLD_Q)
    assert (await u.send("三口人")).startswith("家庭每月总收入大约多少元？")


async def test_continue_resumes_the_form_left_last(sim, db, clock) -> None:  # noqa: ANN001
    await make_activity(db, clock)
    u = sim.user("oGoOnTwo")
    assert await to_step(u, ["同意", "1", ANSWERS[2]]) == HOUSEHOLD_Q
    await u.send("报名")  # the application kept as a draft
    assert "请回复您的真实姓名" in await u.send("1")
    await u.send("留言")  # the sign-up kept too, left after the application
    await u.send("结束咨询")
    assert (await u.send("继续")).startswith("您上次的活动报名还没填完")
    await u.send("取消")
    assert (await u.send("继续")).startswith("您上次的帮扶申请还没填完")


async def test_continue_with_only_a_conversation_open_is_answered_not_an_error(sim, db) -> None:  # noqa: ANN001
    """An open 留言 conversation is kept as a mark among the drafts (no form): 「继续」 then resumes
    nothing and is read as usual."""
    from bot.pipeline import APOLOGY

    u = sim.user("oGoOnThread")
    await u.send("留言")
    await u.send("1")
    assert "工作人员" in await u.send("老板拖欠了我三个月的工资，一直不给")
    reply = await u.send("继续")
    assert reply and APOLOGY not in reply and "还没填完" not in reply
