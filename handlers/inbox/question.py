"""Does a message read like a real question or request for a person, and about what?

The reading itself (`looks_like_question`, `is_pleasantry`, `is_ask_to_ask`, `is_distress`,
`bare_topic`, `asks_for_reply`, `asks_for_person`) is the framework's (`bot.core.question`: the form engine reads answers the same
way; which feature a how-to question names is the dispatcher's, `Dispatcher.how_to`); this
module re-exports it and adds `guess_topic`: the configured topic a question is most likely about.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.normalize import fold
from bot.core.question import (DISTRESS_HELP, asks_for_person, asks_for_reply, bare_topic, is_ask_to_ask, is_distress,
                               is_pleasantry, looks_like_question, pleasantry_kind)

__all__ = ["DISTRESS_HELP", "DEFAULT_TOPIC", "asks_for_person", "asks_for_reply", "bare_topic", "guess_topic",
           "distress_topic", "is_ask_to_ask", "is_distress", "is_pleasantry", "looks_like_question", "pleasantry_kind"]

# Topic themes, most specific first: words in a question → words in a topic's name.
_THEMES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("工伤", "受伤", "摔", "砸", "掉下", "压伤", "压断", "断了", "烫伤", "烧伤", "划伤", "割伤", "切到", "夹到", "夹伤",
      "伤了", "骨折", "流血", "缝针", "截肢", "事故", "职业病", "伤残", "工亡", "手指", "机器"),
     ("工伤",)),
    (("入会", "加入工会", "会员", "会费", "入工会", "会员卡"), ("入会", "会员")),
    (("工资", "薪", "工钱", "加班", "社保", "公积金", "五险", "合同", "辞退", "开除", "解雇", "裁员", "赔偿", "补偿",
      "仲裁", "拖欠", "克扣", "扣", "罚款", "押金", "不发", "没发", "少发", "欠", "劳务费", "劳动", "年假", "维权",
      "炒鱿鱼", "被炒", "炒了", "走人", "劝退", "离职", "辞职", "降薪", "调岗", "退休金", "养老金", "医保"),
     ("劳动争议", "讨薪", "欠薪", "劳动", "维权", "工资")),
    (("困难", "帮扶", "补助", "救助", "补贴", "生病", "住院", "大病", "上学", "学费", "助学", "慰问", "低保"),
     ("帮扶", "困难", "救助")),
)
DEFAULT_TOPIC = "其他"
_MIND = ("心理", "情绪", "心情")  # a topic for a person in distress, when one is configured


def guess_topic(text: str, topics: Sequence[str], default: str | None = DEFAULT_TOPIC) -> str | None:
    """The configured topic `text` is most likely about; `default` (其他, or the last topic
    when 其他 isn't configured) when nothing fits. `default=None` returns None then."""
    t = fold(text).lower()
    for topic in topics:  # the topic named outright: 「工伤」「劳动争议」
        if any(part and part in t for part in re.split(r"[/、|,，]", fold(topic).lower()) if len(part) >= 2):
            return topic
    for words, names in _THEMES:
        if any(w in t for w in words):
            found = next((topic for topic in topics if any(n in topic for n in names)), None)
            if found is not None:
                return found
    if default is None:
        return None
    return default if default in topics else topics[-1]




def distress_topic(text: str, topics: Sequence[str]) -> str:
    """The topic for a person in distress: a 心理 topic when configured, else the guessed one."""
    found = next((topic for topic in topics if any(n in topic for n in _MIND)), None)
    return found or guess_topic(text, topics) or topics[-1]
