"""What people playing workers found, through the signed webhook: asking for a person in one's own
words (我要找王老师, 喂喂有人吗, 打电话给我) reaches a person as 留言 does; chat outside the union's
business, giving up, the topic picked again and a side question the FAQ answers are answered and
never reach staff with a promise; an FAQ answer inside a 留言 conversation doesn't send the worker
to 「留言」. Then the reading on its own (bot.core.question)."""
from __future__ import annotations

import pytest

from bot.core.question import asks_for_person, asks_for_reply, looks_like_question, pleasantry_kind
from tests.inbox.worker_helpers import clear_faq, messages, threads
from tests.support.admin import log_in_staff
from tests.support.inbox import send_reply


async def _ask(u, topic: str = "1", question: str = "老板拖欠工资三个月了怎么办") -> None:  # noqa: ANN001
    await u.send("留言")
    await u.send(topic)
    await u.send(question)


async def _worker_texts(db) -> list[str]:  # noqa: ANN001
    [t] = await threads(db)
    return [m.text or m.media_id for m in await messages(db, t.id) if m.sender == "worker"]


# ---------------------------------------------------------------------- 2. asking for a person

@pytest.mark.parametrize("said", ["我要找王老师", "我要找工会的人", "找你们负责人", "我想找一下李主任", "打电话给我",
                                  "能给我回个电话吗", "有工作人员吗", "我想跟工作人员说话", "喂，我找张书记"])
async def test_asking_for_a_person_in_ones_own_words_opens_the_form(sim, db, said) -> None:  # noqa: ANN001
    reply = await sim.user("oWant").send(said)
    assert "哪方面" in reply and "1. 劳动争议/讨薪" in reply and "没太明白" not in reply, said
    assert await threads(db) == []  # no message without its content


async def test_a_person_asked_for_inside_a_form_is_pointed_to_the_way(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oWant2")
    await u.send("帮扶")
    reply = await u.send("我要找王老师")  # in another form: the way to a person, the form kept
    assert "请回复「同意」继续申请" in reply and "回复「留言」，您填到一半的内容会帮您保存" in reply
    reply = await u.send("留言")
    assert "哪方面" in reply
    reply = await u.send("我要找王老师")  # in the 留言 form itself: that is what this is, asked again
    assert "我们接着来" in reply and "1. 劳动争议/讨薪" in reply
    assert await threads(db) == []


@pytest.mark.parametrize("said", ["喂喂，有人吗。", "喂？", "喂喂喂"])
async def test_calling_out_is_answered_by_a_person_s_line(sim, db, said, settings) -> None:  # noqa: ANN001
    u = sim.user("oHello")
    reply = await u.voice(recognition=said) if said.endswith("。") else await u.send(said)
    assert reply.startswith(f"您好！这里是{settings.office.name}的自动回复") and "转给工作人员" in reply, said
    assert "没太明白" not in reply and "【帮扶】" not in reply, said
    assert await threads(db) == []


# ------------------------------------------------------------ 3. chat and noise: no promise from staff

@pytest.mark.parametrize("said", ["今天天气怎么样", "讲个笑话吧", "你几岁了", "明天星期几？"])
async def test_chat_outside_the_union_gets_a_line_and_what_the_account_does(sim, db, said) -> None:  # noqa: ANN001
    await clear_faq(db)
    reply = await sim.user("oChat").send(said)
    assert "自动回复助手" in reply and "「帮扶」" in reply and "「留言」" in reply, said
    assert "已转给" not in reply and "专人回复" not in reply and "没太明白" not in reply, said
    assert await threads(db) == []


async def test_with_a_conversation_open_noise_is_answered_and_not_added(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oNoise")
    await _ask(u)
    reply = await u.send("算了不问了")
    assert "结束咨询" in reply and "已转给" not in reply
    reply = await u.send("今天天气怎么样")
    assert "聊不来" in reply and "已转给" not in reply
    for picked in ("2", "劳动争议", "其他"):  # the topic step answered again
        reply = await u.send(picked)
        assert "不用再选" in reply and "劳动争议/讨薪" in reply and "已转给" not in reply, picked
    assert "照片已收到" in await u.image("PAYSLIP")
    reply = await u.voice(recognition="五。")
    assert "不用再选" in reply and "「五」" in reply
    assert await _worker_texts(db) == ["老板拖欠工资三个月了怎么办", "PAYSLIP"]
    [t] = await threads(db)
    assert (t.status, t.unread) == ("open", 2)
    # 算了不问了 leaves it open; a real follow-up still joins it
    assert "收到，已转给工作人员" in await u.send("一共欠了我两万三")
    assert (await _worker_texts(db))[-1] == "一共欠了我两万三"


async def test_a_number_after_staff_asked_is_the_answer(sim, db, client) -> None:  # noqa: ANN001
    u = sim.user("oNumber")
    await _ask(u)
    assert "不用再选" in await u.send("3")
    [t] = await threads(db)
    await log_in_staff(client, db)
    await send_reply(client, t.id, "您在那里干了几年了？")
    reply = await u.send("五")
    assert "收到，已转给工作人员" in reply
    assert await _worker_texts(db) == ["老板拖欠工资三个月了怎么办", "五"]
    [t] = await threads(db)
    assert t.waiting


async def test_a_side_question_the_faq_answers_is_not_forwarded(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oSide")
    await _ask(u)
    reply = await u.send("工会电话多少")
    assert "010-12345678" in reply and "办公时间" in reply and "咨询还开着" in reply
    assert "已转给" not in reply and "「留言」" not in reply  # no way round in a circle
    reply = await u.send("会费多少")
    assert "0.5%" in reply and "已转给" not in reply
    assert await _worker_texts(db) == ["老板拖欠工资三个月了怎么办"]
    [t] = await threads(db)
    assert t.unread == 1


async def test_an_faq_answer_inside_a_conversation_sends_nobody_to_liuyan(sim, db) -> None:  # noqa: ANN001
    u = sim.user("oJoinIn")
    reply = await u.send("留言")
    await u.send("4")  # 入会
    reply = await u.send("我是快递员，怎么入会")
    assert "以工资收入为主要生活来源" in reply and "已转给工作人员" in reply
    assert "「留言」" not in reply and "010-12345678" in reply
    # on the conversation's own subject, a question the FAQ answers still joins it (and the answer is given once)
    reply = await u.send("会费多少")
    assert "已转给工作人员" in reply and "0.5%" in reply and "「留言」" not in reply
    [t] = await threads(db)
    said = await messages(db, t.id)
    assert [m.text for m in said if m.sender == "worker"] == ["我是快递员，怎么入会", "会费多少"]
    assert all("「留言」" not in m.text for m in said if m.sender == "bot")


# ---------------------------------------------------------------------------- the reading on its own
# One table per reading, what must be read and what must not in one test (each fails without it).

REPLY_ASKED = ["有人回复了吗", "回复了没", "怎么还没人回", "我的留言", "查看回复", "回复呢", "有没有人回复我", "工作人员回复了吗？",
               "我的留言有回复了吗", "你们看到我的留言了吗", "什么时候回复我", "要等多久", "查看留言", "你好，请问有人回复了吗？"]
NOT_REPLY_ASKED = ["回复", "留言", "我要留言", "咨询", "怎么还没人回复，工资的事很急", "帮扶批了吗", "我的申请", "我的报名",
                   "怎么回事", "回老家了吗", "有消息了吗"]


def test_asking_for_a_reply() -> None:
    assert [t for t in REPLY_ASKED if not asks_for_reply(t)] == []
    assert [t for t in NOT_REPLY_ASKED if asks_for_reply(t)] == []  # a bare word, more said, or another feature's


PERSON_ASKED = ["我要找王老师", "找你们负责人", "转人工", "打电话给我", "给我打个电话", "有工作人员吗", "我要找工会的人",
                "请联系我", "我要和人工聊", "喂，我找张书记"]
NOT_PERSON_ASKED = ["我想找工作", "找对象", "找律师", "找人帮我讨薪", "我要找老板要工资", "工会电话", "我要入会", "有工作吗"]


def test_asking_for_a_person() -> None:
    assert [t for t in PERSON_ASKED if not asks_for_person(t)] == []
    assert [t for t in NOT_PERSON_ASKED if asks_for_person(t)] == []  # not someone of the union, or says what about


def test_kinds_of_small_talk_outside_the_union() -> None:
    kinds = {"喂喂，有人吗。": "presence", "喂": "presence", "今天天气怎么样": "offtopic", "讲个笑话": "offtopic",
             "算了不问了": "giveup", "我不想问了": "giveup", "以后再说吧": "giveup",
             # a worker's problem named too: a question, whatever the weather
             "天气这么热有没有高温补贴": None, "下雨天骑车摔伤了": None, "喂奶时间有规定吗": None}
    assert {t: pleasantry_kind(t) for t in kinds} == kinds
    assert {t: looks_like_question(t) for t in kinds} == {t: k is None for t, k in kinds.items()}
