"""Which messages reach a person: real questions do, greetings and gibberish get the menu.
The same table both ways, through the signed webhook, and the rule on its own."""
from __future__ import annotations

import pytest

from handlers.inbox.question import guess_topic, is_ask_to_ask, is_pleasantry, looks_like_question
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
    ("单位让我下个月走人", "其他"),
    ("怎么办", "其他"),
]
NOT_QUESTIONS = [
    "你好", "您好", "在吗", "有人吗", "有人在吗？？", "你好，在吗？", "谢谢", "谢谢你们辛苦了", "好的", "好的，谢谢",
    "收到", "哈哈", "哈哈哈哈哈哈", "呵呵呵", "嗯嗯", "👍", "ok", "OK👌", "早上好", "明白了谢谢", "不用了谢谢",
    "asdf", "asdf qwer zxcv", "xkcd", "11111", "13800138000", "啊啊啊啊", "。。。", "?", "a", "啊", "好",
    "工伤", "什么", "你是谁", "今天天气不错",
]


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
    for i, text in enumerate(NOT_QUESTIONS):
        reply = await sim.user(f"oN{i}").send(text)
        assert "【留言】" in reply and "已转给" not in reply, text
    assert len(await threads(db)) == len(QUESTIONS)


async def test_a_spoken_question_reaches_the_inbox_as_voice(sim, db) -> None:  # noqa: ANN001
    await clear_faq(db)
    reply = await sim.user("oVoiceQ").voice(recognition="我在工地上摔伤了老板不管我该怎么办。")
    assert "已转给工作人员" in reply
    [thread] = await threads(db)
    [msg] = await messages(db, thread.id)
    assert (thread.topic, msg.kind, msg.text) == ("工伤", "voice", "我在工地上摔伤了老板不管我该怎么办。")
    assert thread.subject == "我在工地上摔伤了老板不管我该怎么办。"
