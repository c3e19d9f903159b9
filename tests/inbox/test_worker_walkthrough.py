"""What people playing workers found, through the signed webhook, a class per test: distress gets a
person and the help lines at once; problems said plainly and bare topic words reach a person (a
follow-up question for the word); every way of asking for a person opens 留言; a question inside
another form is pointed to 留言 (the form kept); a photo sent first is held for the words that
follow; 算了 with a consultation open; the topic step never traps; the FAQ's first answer on every
path; the menu's click keys for 办公时间, 我的成绩, 我的报名, 我的申请."""
from __future__ import annotations

import pytest

from bot.wechat.simulator import WeChatSim
from tests.inbox.worker_helpers import clear_faq, messages, threads
from tests.support.settings import make_settings

ASIDE = "如果是想问工作人员别的问题，回复「留言」，您填到一半的内容会帮您保存。"


# ----------------------------------------------------------------------------- 1. distress

@pytest.mark.parametrize("said", ["想不开", "心里难受", "最近压力很大睡不着", "活着没意思，不想活了"])
async def test_distress_reaches_a_person_with_the_help_lines_at_once(sim, db, said) -> None:  # noqa: ANN001
    await clear_faq(db)
    reply = await sim.user("oSad").send(said)
    assert "12356" in reply and "110" in reply and "120" in reply and "转给工会的工作人员" in reply
    assert "没太明白" not in reply and "抑郁" not in reply  # never a label
    [t] = await threads(db)
    assert (t.topic, t.status, t.waiting) == ("其他", "open", True)
    assert [m.text for m in await messages(db, t.id)] == [said]


async def test_distress_by_voice_with_a_thread_open_and_a_mind_topic(make_app, aiohttp_client, engine, db_url,  # noqa: ANN001
                                                                     tmp_path, clock) -> None:
    settings = make_settings(db_url, tmp_path, inbox={"topics": ["劳动争议/讨薪", "工伤", "心理疏导", "其他"]})
    app = make_app(settings)
    sim = WeChatSim(await aiohttp_client(app), path=settings.server.webhook_path, token=settings.wechat.token,
                    clock=clock)
    from bot.keys import SESSIONMAKER

    db = app[SESSIONMAKER]
    await clear_faq(db)
    u = sim.user("oSad2")
    assert "12356" in await u.voice(recognition="我最近心里很难受。")
    [t] = await threads(db)
    assert t.topic == "心理疏导"
    reply = await u.send("晚上一直睡不着")  # a follow-up of distress: added, the lines again
    assert "12356" in reply and "转给工作人员" in reply
    assert len(await messages(db, t.id)) == 2


# ------------------------------------------------------ 2. problems said plainly, bare topic words

@pytest.mark.parametrize(("word", "topic"), [("社保", "劳动争议/讨薪"), ("赔偿", "劳动争议/讨薪"), ("离职", "劳动争议/讨薪"),
                                             ("会员", "入会"), ("报销", "其他"), ("退休金", "劳动争议/讨薪"),
                                             ("就是社保的事", "劳动争议/讨薪")])
async def test_a_bare_topic_word_gets_a_follow_up_question(sim, db, word, topic) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oWord")
    reply = await u.send(word)
    bare = word.removeprefix("就是").removesuffix("的事")
    assert f"关于{bare}，您想问哪方面？" in reply and "没太明白" not in reply
    assert await threads(db) == []
    reply = await u.voice(recognition="公司说下个月就不管了。")
    assert "已转给工作人员" in reply
    [t] = await threads(db)
    assert t.topic == topic and [m.text for m in await messages(db, t.id)] == ["公司说下个月就不管了。"]


async def test_a_bare_topic_word_the_faq_knows_is_answered(sim, db) -> None:  # noqa: ANN001
    reply = await sim.user("oJoin").send("入会")  # the seeded entry
    assert "以工资收入为主要生活来源" in reply and "回复「留言」" in reply
    assert await threads(db) == []


# ------------------------------------------------------------------------- 3. asking for a person

@pytest.mark.parametrize("said", ["转人工客服", "找人", "我要投诉", "找工作人员", "真人", "人工客服。", "我要找客服",
                                  "有真人吗"])
async def test_every_way_of_asking_for_a_person_opens_the_form(sim, said) -> None:  # noqa: ANN001
    reply = await sim.user("oPerson").send(said)
    assert "哪方面" in reply and "1. 劳动争议/讨薪" in reply


# ----------------------------------------------------------------- 4. a question inside another form

async def test_a_question_inside_another_form_is_pointed_to_the_inbox(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oAside")
    await u.send("帮扶")
    reply = await u.send("我想问一下工伤怎么认定")  # at the consent step
    assert "请回复「同意」继续申请" in reply and ASIDE in reply
    reply = await u.send("稍等")  # an answer that doesn't fit and asks nothing: no pointer
    assert "请回复「同意」" in reply and ASIDE not in reply
    await u.send("同意")
    reply = await u.voice(recognition="老板一直拖着工资不发怎么办。")  # at a choice step
    assert "请回复 1–6 之间的序号" in reply and ASIDE in reply
    assert ASIDE not in await u.send("9")
    reply = await u.send("我想不开")  # distress at a form step: the help lines too
    assert "12356" in reply and ASIDE in reply

    assert "哪方面" in await u.send("留言")  # the form waits as a draft
    await u.send("劳动争议")
    reply = await u.send("老板一直拖着工资不发，怎么办")
    assert "已转给工作人员" in reply and "回复「帮扶」就能接着填" in reply
    assert "接着来" in await u.send("帮扶")
    assert len(await threads(db)) == 1


# ---------------------------------------------------------------------------- 5. a photo sent first

async def test_a_photo_first_is_held_and_goes_into_the_thread_with_the_words(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oPic")
    reply = await u.image("PAYSLIP-1")
    assert "先帮您收着" in reply and "说一下是什么情况" in reply and "没有地方保存" not in reply
    assert "第2张照片也帮您收着了" in await u.image("PAYSLIP-2")
    assert "照片还帮您收着" in await u.send("好的")  # an acknowledgement is no explanation
    # small talk meanwhile is answered as such, and the photos are brought up again
    assert (await u.send("在吗")).startswith("在的～照片还帮您收着")
    assert (await u.send("谢谢")).startswith("不客气～照片还帮您收着")
    assert (await u.send("早上好")).startswith("您好～照片还帮您收着")
    assert await threads(db) == []
    reply = await u.send("这是我的工资条，老板少发了两千")
    assert "您的问题和照片已转给工作人员" in reply
    [t] = await threads(db)
    got = [(m.kind, m.media_id or m.text) for m in await messages(db, t.id)]
    assert got == [("image", "PAYSLIP-1"), ("image", "PAYSLIP-2"), ("text", "这是我的工资条，老板少发了两千")]
    assert (t.topic, t.subject, t.unread) == ("劳动争议/讨薪", "这是我的工资条，老板少发了两千", 3)


async def test_a_held_photo_expires_goes_with_the_form_and_is_dropped_by_cancel(sim, db, clock) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oPic2")
    await u.image("OLD")
    clock.advance(minutes=31)  # held for half an hour only
    assert "已转给工作人员" in await u.send("公司不给交社保怎么办")
    [t] = await threads(db)
    assert [m.kind for m in await messages(db, t.id)] == ["text"]
    await u.send("结束咨询")

    v = sim.user("oPic3")
    await v.image("INJURY")
    assert "照片也会一起转过去" in await v.send("留言")
    await v.send("工伤")
    await v.send("手被机器夹了")
    [t] = await threads(db, "oPic3")
    assert [m.media_id or m.text for m in await messages(db, t.id) if m.sender == "worker"] == ["INJURY", "手被机器夹了"]

    w = sim.user("oPic4")
    await w.image("NOPE")
    assert "还没转交的内容也不再保留" in await w.send("取消")
    assert "已转给工作人员" in await w.send("公司不给交社保怎么办")
    [t] = await threads(db, "oPic4")
    assert [m.kind for m in await messages(db, t.id)] == ["text"]


async def test_a_photo_then_the_hardship_form_is_not_stored_twice(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oPic5")
    await u.image("EVIDENCE")
    reply = await u.send("帮扶")
    assert "同意" in reply and "留言" not in reply.split("同意请回复")[-1]
    assert await threads(db) == []


# ------------------------------------------------------------------ 7. 算了 with a consultation open

@pytest.mark.parametrize("said", ["算了", "取消"])
async def test_cancel_words_with_a_consultation_open_say_it_is_open(sim, db, said) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oOpen")
    await u.send("公司不给交社保怎么办")
    reply = await u.send(said)
    assert "还开着" in reply and "结束咨询" in reply and "没有进行中" not in reply
    [t] = await threads(db)
    assert t.status == "open"


# ----------------------------------------------------------------------------- 8. the topic step

async def test_the_topic_step_never_traps(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oTopic1")
    await u.send("留言")
    assert "写下您的问题" in await u.send("其它")
    await u.send("想问问年底有没有慰问品")
    [t] = await threads(db, "oTopic1")
    assert t.topic == "其他"

    v = sim.user("oTopic2")
    await v.send("人工")
    reply = await v.send("好的")
    assert "直接说说您的问题也行" in reply and "1. 劳动争议/讨薪" in reply
    assert "写下您的问题" in await v.send("嗯")  # asked once; then the form moves on
    await v.send("我们单位的食堂太贵了")
    [t] = await threads(db, "oTopic2")
    assert (t.topic, t.subject) == ("其他", "我们单位的食堂太贵了")

    w = sim.user("oTopic3")
    await w.send("咨询")
    assert "写下您的问题" in await w.send("就是社保")  # a bare topic phrase picks the topic
    assert await threads(db, "oTopic3") == []
    await w.send("公司三个月没交了")
    [t] = await threads(db, "oTopic3")
    assert (t.topic, t.subject) == ("劳动争议/讨薪", "公司三个月没交了")

    x = sim.user("oTopic4")
    await x.send("留言")
    reply = await x.send("7")
    assert "请回复 1–5" in reply and "直接说说您的问题也行" in reply
    z = sim.user("oTopic6")  # still choosing at the message step: the topic, not the message
    await z.send("留言")
    await z.send("不知道")
    assert "是工伤方面的问题" in await z.send("工伤")
    await z.send("在车间被烫了")
    [t] = await threads(db, "oTopic6")
    assert (t.topic, t.subject) == ("工伤", "在车间被烫了")

    y = sim.user("oTopic5")
    await y.send("留言")
    reply = await y.send("不知道")
    assert "没关系" in reply and "写下您的问题" in reply


# ------------------------------------------------------------------- 9. the FAQ's first answer

async def test_the_faq_first_answer_on_every_path(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oFaq1")
    await u.send("人工")
    await u.send("工伤")
    reply = await u.send("我上班时候从梯子上摔下来了，单位不给报工伤")
    assert "已转给工作人员" in reply and "先给您一些参考" in reply and "工伤认定" in reply
    [t] = await threads(db, "oFaq1")
    assert [m.sender for m in await messages(db, t.id)] == ["worker", "bot"]

    reply = await sim.user("oFaq2").send("手指被机器压断了")  # no 工伤 word: the seeded keywords know it
    assert "已转给工作人员" in reply and "工伤认定" in reply
    assert "以工资收入为主要生活来源" in await sim.user("oFaq3").send("我要入会")
    reply = await sim.user("oFaq4").send("我家困难能申请补助吗")
    assert "回复「帮扶」" in reply


# ------------------------------------------------------------------------ 10. 删除我的信息

async def test_erasing_says_what_goes_and_photos_only_when_there_were_some(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oErase2")
    await u.send("公司不给交社保怎么办")
    reply = await u.send("删除我的信息")
    assert "留言咨询记录" in reply and "不能再回复" in reply
    reply = await u.send("确认删除")
    assert "1次留言咨询记录" in reply and "照片" not in reply
    assert await threads(db) == []


# ------------------------------------------------------------------------- 13. menu click keys

async def test_the_new_menu_click_keys_answer(sim, settings) -> None:  # noqa: ANN001
    u = sim.user("oClick")
    assert settings.office.phone in await u.click("OFFICE") and settings.office.hours in await u.click("OFFICE")
    assert "还没有参加过答题" in await u.click("SCORES")
    assert "没有待参加的报名" in await u.click("MY_SIGNUPS")
    assert "还没有提交过帮扶申请" in await u.click("MY_REQUESTS")
    await u.send("帮扶")  # 我的申请 inside the hardship form: the form stays
    reply = await u.click("MY_REQUESTS")
    assert "还没有提交过帮扶申请" in reply and "接着来" in reply
