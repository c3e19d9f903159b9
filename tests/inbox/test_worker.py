"""The worker's side of the inbox through the signed webhook: 留言 by keyword, click and voice;
follow-ups in the same thread (text, voice, photo); re-sends stored once; 结束咨询; the FAQ
first; WeChat's own customer service when configured."""
from __future__ import annotations

import xmltodict
from sqlalchemy import select

from bot.db.models.core import Member
from bot.wechat.simulator import WeChatSim
from tests.inbox.worker_helpers import add_faq, clear_faq, faq_hits, messages, threads
from tests.support.settings import make_settings


async def test_contact_by_keyword_picks_a_topic_and_opens_a_thread(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oC1")
    reply = await u.send("我要留言")
    assert "哪方面" in reply and "1. 劳动争议/讨薪" in reply and "5. 其他" in reply
    reply = await u.send("第二个")
    assert "写下您的问题" in reply and await threads(db) == []
    reply = await u.send("好的")  # an acknowledgement is no message
    assert "请直接回复留言内容" in reply
    reply = await u.send("上个月在车间被机器压伤了手，公司说不算工伤")
    assert "已转给工作人员" in reply and "工作日 9:00–17:00" in reply and "010-12345678" in reply
    assert "公众号对话里" in reply and "结束咨询" in reply
    [t] = await threads(db)
    assert (t.openid, t.topic, t.subject, t.status, t.waiting, t.unread) == (
        "oC1", "工伤", "上个月在车间被机器压伤了手，公司说不算工伤", "open", True, 1)
    assert t.waiting_since is not None and t.last_message_at is not None
    async with db() as s:
        member = await s.scalar(select(Member).where(Member.openid == "oC1"))
    assert t.member_id == member.id


async def test_contact_by_menu_click_and_by_voice(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oC2")
    assert "哪方面" in await u.click("CONTACT")
    assert "写下您的问题" in await u.voice(recognition="讨薪。")  # part of 「劳动争议/讨薪」
    reply = await u.voice(recognition="包工头跑了三个月工钱没结。")
    assert "已转给工作人员" in reply and "先给您一些参考" in reply  # the FAQ's first answer in the form too
    [t] = await threads(db)
    [m, answer] = await messages(db, t.id)
    assert (t.topic, m.kind, m.text) == ("劳动争议/讨薪", "voice", "包工头跑了三个月工钱没结。")
    assert answer.sender == "bot" and "保存好这些证据" in answer.text

    v = sim.user("oC3")
    assert "哪方面" in await v.voice(recognition="人工。")
    assert "写下您的问题" in await v.send("欠薪")  # the topic in other words
    await v.send("老板一直拖着")
    assert [x.topic for x in await threads(db, "oC3")] == ["劳动争议/讨薪"]


async def test_the_question_straight_away_and_a_photo_first(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oC4")
    await u.send("咨询")
    reply = await u.send("孩子考上大学了学费交不起工会有补助吗")  # no topic picked: guessed
    assert "已转给工作人员" in reply
    [t] = await threads(db, "oC4")
    assert t.topic == "帮扶"

    v = sim.user("oC5")
    await v.send("联系工会")
    await v.send("1")
    reply = await v.image("PAYSLIP")
    assert "照片收到了" in reply and "简单说说" in reply and "010-12345678" in reply
    reply = await v.send("这是工资条，少发了两千")
    assert "已转给工作人员" in reply
    [t] = await threads(db, "oC5")
    assert (t.topic, t.subject, t.unread) == ("劳动争议/讨薪", "这是工资条，少发了两千", 2)
    kinds = [(m.kind, m.media_id, m.media_status) for m in await messages(db, t.id)]
    assert kinds == [("image", "PAYSLIP", "offline"), ("text", "", "")]  # offline: the id is kept


async def test_asking_to_ask_opens_the_form(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oA1")
    reply = await u.send("你好，我有个问题想问问")
    assert "哪方面" in reply and await threads(db) == []
    await u.send("2")
    await u.voice(recognition="切菜的时候切到手了，算不算工伤。")
    [t] = await threads(db)
    assert (t.topic, t.subject) == ("工伤", "切菜的时候切到手了，算不算工伤。")


async def test_cancel_stores_nothing_and_a_second_contact_says_one_is_open(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oC6")
    await u.send("留言")
    await u.send("3")
    assert "已取消留言" in await u.send("取消")
    await u.send("留言")
    assert "已取消留言" in await u.send("结束咨询")  # inside the form: the same
    assert await threads(db) == []

    await u.send("留言")
    await u.send("其他")
    await u.send("想问问年底有没有慰问品")
    reply = await u.send("留言")
    assert "已有一个咨询正在进行" in reply and "直接发" in reply
    reply = await u.send("人工")
    assert "已有一个咨询正在进行" in reply
    assert len(await threads(db)) == 1


async def test_follow_ups_land_in_the_same_thread(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oF1")
    await u.send("公司不给交社保怎么办")
    assert await u.send("我在这干了两年了") == "收到，已转给工作人员，回复会发到这里。"
    assert "照片已收到并转给工作人员" in await u.image("CONTRACT")
    assert "已转给工作人员" in await u.voice(recognition="合同上写的是劳务派遣。")
    assert "没有识别出文字" in await u.voice()  # nothing to forward: said so, nothing stored
    assert "没有转过去" in await u.location(39.9, 116.4, "某某工地")
    reply = await u.send("谢谢")
    assert reply.startswith("不客气") and "结束咨询" in reply
    [t] = await threads(db)
    got = [(m.sender, m.kind, m.text or m.media_id) for m in await messages(db, t.id)]
    assert got == [("worker", "text", "公司不给交社保怎么办"), ("worker", "text", "我在这干了两年了"),
                   ("worker", "image", "CONTRACT"), ("worker", "voice", "合同上写的是劳务派遣。"),
                   ("worker", "text", "谢谢")]
    assert t.unread == 5 and t.waiting

    # A form of another feature is not the thread's: its answers stay in the form.
    reply = await u.send("报名")
    assert "已转给" not in reply
    assert len(await messages(db, t.id)) == 5


async def test_a_thanks_after_an_answer_does_not_make_the_thread_unanswered(sim, db, clock) -> None:  # noqa: ANN001
    u = sim.user("oF2")
    await u.send("留言")
    await u.send("4")
    await u.send("我是快递员能加入工会吗")
    async with db() as s, s.begin():  # staff answered (the staff side sets these)
        [t] = await threads(db)
        t = await s.merge(t)
        t.waiting, t.waiting_since, t.unread = False, None, 0
    await u.send("好的谢谢")
    [t] = await threads(db)
    assert (t.waiting, t.unread) == (False, 1)
    await u.send("那入会要交会费吗")
    [t] = await threads(db)
    assert (t.waiting, t.unread) == (True, 2) and t.waiting_since == clock.now()


async def test_a_resent_message_is_stored_once(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oR1")
    first = await u.send("我在工地摔伤了怎么办")
    assert await u.resend() == first
    await u.send("腿骨折了", msg_id=424242)
    again = await u.send("腿骨折了", msg_id=424242)  # WeChat's retry of the same MsgId
    assert "已转给工作人员" in again
    await u.image("XRAY")
    await u.resend()
    [t] = await threads(db)
    assert [m.text or m.media_id for m in await messages(db, t.id)] == ["我在工地摔伤了怎么办", "腿骨折了", "XRAY"]
    assert t.unread == 3


async def test_end_consultation(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oE1")
    assert "没有进行中的咨询" in await u.send("结束咨询")
    assert "【留言】" in await u.send("结束")  # 结束 means nothing here without an open thread
    await u.send("被公司辞退了没有任何补偿")
    reply = await u.send("结束咨询")
    assert "这次咨询已结束" in reply
    [t] = await threads(db)
    assert (t.status, t.closed_by, t.waiting) == ("closed", "worker", False) and t.closed_at is not None
    assert "没有进行中的咨询" in await u.send("结束咨询")

    # A new question opens a new thread; 不用了 closes it while it is open.
    await u.send("那加班费拖着不给怎么办")
    assert "这次咨询已结束" in await u.send("不用了")
    assert [x.status for x in await threads(db)] == ["closed", "closed"]


async def test_end_words_inside_another_form_stay_that_forms(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    u = sim.user("oE2")
    await u.send("我在工地摔伤了怎么办")
    await u.send("帮扶")
    await u.send("同意")
    reply = await u.send("不用了")  # an answer to the hardship form (it isn't a choice): not a close
    [t] = await threads(db)
    assert t.status == "open" and "咨询已结束" not in reply


async def test_faq_first_and_legal_aid_also_reaches_a_person(sim, db, clock) -> None:  # noqa: ANN001
    await clear_faq(db)
    evidence = await add_faq(db, clock, ["讨薪", "拖欠工资"], "先保存好考勤记录、工资条和聊天记录。",
                             topic="劳动争议/讨薪", to_inbox=True)
    hours = await add_faq(db, clock, ["办公时间"], "工作日 9:00–17:00。")
    join = await add_faq(db, clock, ["入会"], "以工资收入为主要生活来源的职工都可以入会。", topic="入会")

    u = sim.user("oQ1")
    reply = await u.send("老板拖欠工资半年了，工会能帮我讨薪吗")
    assert reply.startswith("收到，您的问题已转给工作人员") and "先保存好考勤记录" in reply and "010-12345678" in reply
    [t] = await threads(db, "oQ1")
    assert t.topic == "劳动争议/讨薪"
    assert [(m.sender, m.text) for m in await messages(db, t.id)] == [
        ("worker", "老板拖欠工资半年了，工会能帮我讨薪吗"), ("bot", "先保存好考勤记录、工资条和聊天记录。")]
    assert await faq_hits(db, evidence) == 1

    v = sim.user("oQ2")
    reply = await v.send("讨薪")  # the keyword alone: answered, no question for a person
    assert reply.startswith("先保存好") and "回复「留言」" in reply
    reply = await v.send("我想入会，需要什么手续")  # not a legal-aid entry: answered only
    assert reply.startswith("以工资收入") and "回复「留言」" in reply
    assert await threads(db, "oQ2") == []
    assert (await faq_hits(db, evidence), await faq_hits(db, join), await faq_hits(db, hours)) == (2, 1, 0)

    # With a thread open, a follow-up is forwarded and the FAQ answer given beside it.
    w = sim.user("oQ3")
    await w.send("留言")
    await w.send("其他")
    await w.send("我想咨询一下我们单位的事情")
    reply = await w.send("还有就是拖欠工资的事")
    assert reply.startswith("收到，已转给工作人员") and "先保存好考勤记录" in reply
    [t] = await threads(db, "oQ3")
    assert [m.sender for m in await messages(db, t.id)] == ["worker", "worker", "bot"]


async def test_a_photo_without_a_thread_is_held_and_asked_about(sim, db) -> None:  # noqa: ANN001
    reply = await sim.user("oP1").image("RANDOM")
    assert "先帮您收着" in reply and "说一下是什么情况" in reply and "「帮扶」" in reply
    assert await threads(db) == []  # nothing reaches staff until the words come


async def test_transfer_to_wechat_customer_service(aiohttp_client, make_app, engine, db_url, tmp_path,  # noqa: ANN001
                                                   clock) -> None:
    settings = make_settings(db_url, tmp_path, inbox={"transfer_to_wechat_kf": True})
    app = make_app(settings)
    client = await aiohttp_client(app)
    sim = WeChatSim(client, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock)
    from bot.keys import SESSIONMAKER

    db = app[SESSIONMAKER]
    await clear_faq(db)
    params, body = sim.build("oK1", MsgType="text", Content="公司不给交社保怎么办", MsgId=99001)
    resp = await sim.post_raw(body, params, sign=False)
    assert resp.status == 200
    reply = xmltodict.parse(await resp.text())["xml"]
    assert reply["MsgType"] == "transfer_customer_service"
    assert (reply["ToUserName"], reply["FromUserName"]) == ("oK1", sim.account)
    assert await threads(db) == []
    # A photo first is handed over too; a greeting still gets the bot's own answer.
    params, body = sim.build("oK3", MsgType="image", MediaId="M1", PicUrl="http://x/1.jpg", MsgId=99002)
    reply = xmltodict.parse(await (await sim.post_raw(body, params, sign=False)).text())["xml"]
    assert reply["MsgType"] == "transfer_customer_service"
    assert "自动回复" in await sim.user("oK2").send("在吗")
    assert await threads(db) == []


async def test_a_topic_that_is_also_a_feature_keyword_is_an_answer(sim, db) -> None:  # noqa: ANN001
    """At the topic step 「帮扶」 picks the topic 帮扶; it does not start a hardship application."""
    u = sim.user("oC9")
    assert "哪方面" in await u.send("留言")
    reply = await u.send("帮扶")
    assert "写下您的问题" in reply and "困难帮扶申请" not in reply
    assert "已转给工作人员" in await u.send("我家孩子生病了，想问问能申请什么补助")
    [t] = await threads(db)
    assert t.topic == "帮扶"
    # Outside the form the keyword still starts the application.
    assert "留言" not in await u.send("帮扶")


async def test_erasing_my_data_deletes_my_conversations(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oErase")
    assert "已转给工作人员" in await u.send("老板拖着工资不发，工会能帮我讨薪吗")
    await u.image("MEDIA-ERASE")
    [t] = await threads(db)
    assert [m.kind for m in await messages(db, t.id) if m.sender == "worker"] == ["text", "image"]
    await u.send("删除我的信息")
    reply = await u.send("确认删除")
    assert "1次留言咨询记录（含1张照片）" in reply
    assert await threads(db) == [] and await messages(db, t.id) == []
