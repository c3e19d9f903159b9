"""Which messages reach a person: real questions do (problems said plainly too); small talk gets
a person's one-line answer and a pointer to 帮助, gibberish the menu. The same table both ways,
through the signed webhook, and the rule on its own."""
from __future__ import annotations

import pytest

from handlers.inbox.question import (bare_topic, guess_topic, is_ask_to_ask, is_distress, is_pleasantry,
                                     looks_like_question, pleasantry_kind)
from tests.inbox.worker_helpers import clear_faq, messages, threads

TOPICS = ["劳动争议/讨薪", "工伤", "帮扶", "入会", "其他"]

# (what a worker typed or said, the topic it should land in)
QUESTIONS = [
    ("老板拖着工资不发，工会能帮我讨薪吗", "劳动争议/讨薪"),
    ("我在工地摔伤了怎么办", "工伤"),
    ("公司不给交社保", "劳动争议/讨薪"),
    ("想问下怎么加入工会", "入会"),
    ("孩子上学有补助吗", "帮扶"),
    ("老板拖着工资不发工会能帮我讨薪吗。", "劳动争议/讨薪"),  # voice: no punctuation, a full stop
    ("我们厂三个月没发工资了", "劳动争议/讨薪"),
    ("被辞退了有没有补偿", "劳动争议/讨薪"),
    ("你好，我想问一下工伤怎么认定？", "工伤"),
    ("我老公干活从架子上掉下来了现在在医院", "工伤"),
    ("请问会员卡在哪里领", "入会"),
    ("加班费怎么算", "劳动争议/讨薪"),
    ("公司要我签一个自愿放弃社保的协议", "劳动争议/讨薪"),
    ("单位让我下个月走人", "劳动争议/讨薪"),
    ("怎么办", "其他"),
    # problems said plainly, no question word: the body, dismissal slang, deductions, money owed
    ("手指被机器压断了", "工伤"),
    ("我被炒鱿鱼了", "劳动争议/讨薪"),
    ("我的钱被扣了", "劳动争议/讨薪"),
    ("医药费报销", "其他"),
    ("有没有人管管", "其他"),
    ("押金一直不退", "劳动争议/讨薪"),
    ("能帮忙吗", "其他"),
]
# (small talk, what a person answers): one line and a pointer to 帮助, never the menu, never 在的
SMALL_TALK = [
    ("在吗", "自动回复"), ("有人吗", "自动回复"), ("有人在吗？？", "自动回复"), ("你好，在吗？", "自动回复"),
    ("还在吗", "自动回复"), ("谢谢", "不客气"), ("谢谢你们辛苦了", "不客气"), ("好的，谢谢", "不客气"),
    ("明白了谢谢", "不客气"), ("不用了谢谢", "不客气"), ("好的", "好的～"), ("收到", "好的～"), ("嗯嗯", "好的～"),
    ("👍", "好的～"), ("ok", "好的～"), ("OK👌", "好的～"), ("好", "好的～"), ("哈哈", "😊"), ("哈哈哈哈哈哈", "😊"),
    ("呵呵呵", "😊"), ("早上好", "早上好！"), ("早", "早上好！"), ("hello", "您好！"), ("晚上好", "晚上好！"),
    ("吃了吗", "谢谢关心"), ("忙吗", "谢谢关心"), ("睡了吗", "谢谢关心"), ("好吗", "谢谢关心"),
    ("你是机器人吗", "自动回复助手"), ("你是谁", "自动回复助手"), ("是真人吗", "自动回复助手"), ("拜拜", "再见"),
    ("唉", "怎么了"), ("1", "没太明白「1」"), ("11", "没太明白「11」"), ("没有", "好的～"), ("没有了。", "好的～"),
    ("不用了", "好的～"), ("今天天气不错", "自动回复助手"),
]
GIBBERISH = ["asdf", "asdf qwer zxcv", "xkcd", "11111", "13800138000", "啊啊啊啊", "。。。", "a", "啊", "什么"]
NOT_QUESTIONS = [t for t, _ in SMALL_TALK] + GIBBERISH + ["你好", "您好", "?", "工伤", "社保"]


@pytest.mark.parametrize(("text", "topic"), QUESTIONS)
def test_real_questions_read_as_questions(text: str, topic: str) -> None:
    assert looks_like_question(text)
    assert not is_pleasantry(text)
    assert guess_topic(text, TOPICS) == topic


@pytest.mark.parametrize("text", NOT_QUESTIONS)
def test_greetings_and_gibberish_are_not_questions(text: str) -> None:
    assert not looks_like_question(text)


@pytest.mark.parametrize(("text", "asking"), [
    ("想问个事", True), ("我有个问题", True), ("你好，我想问一下", True), ("打扰一下，问个问题", True),
    ("我想问一下工伤", False), ("你们能帮我讨薪吗", False), ("在吗", False), ("哈哈", False)])
def test_asking_to_ask(text: str, asking: bool) -> None:
    assert is_ask_to_ask(text) is asking


def test_topic_guess_uses_the_configured_topics() -> None:
    assert guess_topic("工地上摔伤了", ["工资", "受伤的事", "别的"]) == "别的"  # no topic named like 工伤
    assert guess_topic("工地上摔伤了", ["工资", "工伤", "别的"]) == "工伤"
    assert guess_topic("随便问问", ["工资", "工伤"]) == "工伤"  # no 其他: the last topic
    assert guess_topic("随便问问", TOPICS, default=None) is None


async def test_the_table_through_the_webhook(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    for i, (text, topic) in enumerate(QUESTIONS):
        reply = await sim.user(f"oQ{i}").send(text)
        assert "已转给工作人员" in reply and "010-12345678" in reply and "工作日 9:00–17:00" in reply, text
        [thread] = await threads(db, f"oQ{i}")
        assert (thread.topic, thread.status, thread.waiting, thread.unread) == (topic, "open", True, 1), text
        [msg] = await messages(db, thread.id)
        assert (msg.sender, msg.kind, msg.text) == ("worker", "text", text)
    for i, (text, says) in enumerate(SMALL_TALK):
        reply = await sim.user(f"oS{i}").send(text)
        assert says in reply and "回复「帮助」看看能办的事" in reply, text
        assert "【留言】" not in reply and "在的" not in reply and "已转给" not in reply, text
        assert ("没太明白" in reply) == text.isdigit(), text
    for i, text in enumerate(GIBBERISH):
        reply = await sim.user(f"oN{i}").send(text)
        assert "没太明白" in reply and "【留言】" in reply and "已转给" not in reply, text
    assert len(await threads(db)) == len(QUESTIONS)


async def test_presence_is_answered_honestly(sim, settings) -> None:  # noqa: ANN001
    reply = await sim.user("oNight").send("有人吗")
    assert reply.startswith(f"您好！这里是{settings.office.name}的自动回复")
    assert f"工作人员回复的时间是{settings.office.hours}。" in reply


@pytest.mark.parametrize(("text", "kind"), [
    ("吃了吗", "chat"), ("在吗", "presence"), ("还在吗", "presence"), ("你是机器人吗", "bot"), ("👍", "ack"),
    ("谢谢🙏", "thanks"), ("哈哈", "laugh"), ("早", "greeting"), ("hello", "greeting"), ("。。。", None),
    ("1", None), ("能帮忙吗", None), ("有没有人管管", None), ("工资还没发吗", None)])
def test_kinds_of_small_talk(text: str, kind: str | None) -> None:
    assert pleasantry_kind(text) == kind


@pytest.mark.parametrize(("text", "distress"), [
    ("想不开", True), ("心里难受", True), ("最近压力很大睡不着", True), ("我真的撑不下去了", True),
    ("老板不发工资", False), ("今天好开心", False), ("睡了吗", False)])
def test_distress(text: str, distress: bool) -> None:
    assert is_distress(text) is distress


@pytest.mark.parametrize(("text", "word"), [
    ("社保", "社保"), ("就是社保", "社保"), ("关于工伤的事", "工伤"), ("退休金。", "退休金"), ("我要入会", "入会"),
    ("社保断缴了", None), ("什么", None), ("你好", None)])
def test_bare_topic_words(text: str, word: str | None) -> None:
    assert bare_topic(text) == word


async def test_a_spoken_question_reaches_the_inbox_as_voice(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    reply = await sim.user("oVoiceQ").voice(recognition="我在工地上摔伤了老板不管我该怎么办。")
    assert "已转给工作人员" in reply
    [thread] = await threads(db)
    [msg] = await messages(db, thread.id)
    assert (thread.topic, msg.kind, msg.text) == ("工伤", "voice", "我在工地上摔伤了老板不管我该怎么办。")
    assert thread.subject == "我在工地上摔伤了老板不管我该怎么办。"
