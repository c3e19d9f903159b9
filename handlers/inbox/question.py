"""Does a message read like a real question or request for a person, and about what?

The rule (`looks_like_question`), on the folded text (`bot.core.normalize.fold`):

1. Greetings, thanks, acknowledgements, laughter and questions about the bot itself
   (你好, 在吗, 有人吗, 谢谢, 好的, 收到, 哈哈, 你是谁 …) are taken out first; what is left
   is the *content*.
2. Content with fewer than 3 Chinese characters is no question (bare words like 工伤 or
   什么 get the menu; the FAQ may still answer them). Nor is a run of one or two characters
   repeated (啊啊啊啊, 哈哈哈哈), digits, punctuation, emoji, or Latin letters that don't make
   at least four words (asdf, ok, test).
3. Content of 3+ characters is a question when it asks (吗, 怎么, 能不能, 有没有, 想问, ？ …)
   or names a worker's problem (工资, 欠薪, 社保, 工伤, 摔伤, 合同, 辞退, 补助, 工会 …);
   anything of 10+ characters is a question too (a worker telling their story by voice,
   without punctuation). Small talk of a few characters (今天天气不错) is not.

`guess_topic` picks the configured topic a question is most likely about.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from bot.core.normalize import fold

MIN_CONTENT = 3  # Chinese characters a question needs, once greetings are taken out
LONG_CONTENT = 10  # this many characters is a question whatever the words

# Taken out before judging (longest first when matched). Phrases only: single characters
# inside a sentence are left alone, except the fillers below.
_PLEASANTRIES = (
    "你们好", "大家好", "早上好", "上午好", "中午好", "下午好", "晚上好", "你好", "您好", "哈喽", "嗨", "晚安",
    "请问有人吗", "有人在吗", "有没有人", "有人在不", "有人吗", "有人么", "在不在", "在吗", "在么", "在嘛", "在不",
    "非常感谢", "感谢你们", "感谢您", "感谢", "谢谢你们", "谢谢您", "谢谢你", "谢谢", "多谢", "谢了", "辛苦了", "辛苦",
    "麻烦了", "不客气", "好的", "好滴", "好嘞", "收到", "知道了", "明白了", "明白", "了解了", "了解", "懂了",
    "没事了", "没事", "没问题", "可以了", "行了", "不用了", "算了", "再见", "拜拜",
    "你是谁", "你是机器人吗", "是机器人吗", "是真人吗", "这是什么", "这是啥", "这是哪", "你能干什么", "你能做什么",
    "能干什么", "能做什么", "有什么功能", "怎么用", "测试一下", "测试", "试一下", "试试",
)
_FILLERS = "嗯哦噢喔呃额哈呵嘿嘻唉哎啊呀哇嗷"
_PLEASANTRY_RE = re.compile("|".join(sorted(map(re.escape, _PLEASANTRIES), key=len, reverse=True)))
_LATIN_PLEASANTRY_RE = re.compile(r"\b(?:ok|okay|hello|hi|hey|thanks|thank you|thx|bye|test|yes|no)\b")

# Words that ask or request.
_ASKING = (
    "吗", "么", "嘛", "怎么", "怎样", "如何", "什么", "啥", "哪", "谁", "为什么", "为啥", "咋", "多少", "几",
    "能不能", "能否", "可不可以", "可以", "是不是", "是否", "有没有", "有无", "该", "应该", "需要", "要不要",
    "请问", "想问", "问一下", "问下", "咨询", "请教", "帮我", "帮帮", "帮忙", "求助", "求求", "希望", "麻烦",
    "申请", "办理", "怎么办", "管不管", "管吗", "找谁",
)
# A worker's problems (and the union's business).
_PROBLEMS = (
    "工资", "薪", "工钱", "加班", "社保", "医保", "公积金", "五险", "保险", "合同", "辞退", "开除", "解雇", "裁员",
    "赔偿", "补偿", "仲裁", "劳动", "拖欠", "克扣", "扣钱", "不发", "没发", "不给", "没给", "欠",
    "工伤", "受伤", "摔伤", "砸伤", "伤了", "骨折", "事故", "职业病", "住院", "生病", "看病",
    "老板", "公司", "单位", "厂里", "工地", "包工头", "老板娘", "领导",
    "工会", "入会", "会员", "会费", "补助", "补贴", "救助", "帮扶", "困难", "慰问", "低保", "上学", "学费",
    "年假", "病假", "产假", "休假", "维权", "投诉", "举报", "律师", "法律", "起诉", "报名", "培训",
)


def _han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _content(text: str) -> str:
    """The folded text without greetings, thanks, fillers, punctuation, spaces or emoji."""
    t = _LATIN_PLEASANTRY_RE.sub(" ", _PLEASANTRY_RE.sub(" ", fold(text).lower()))
    t = "".join(" " if ch in _FILLERS else ch for ch in t)
    return "".join(ch for ch in t if _han(ch) or unicodedata.category(ch)[0] in "LN" or ch == " ")


def _latin_question(content: str) -> bool:
    """Latin letters only: at least four different words, each with a vowel (not asdf qwer)."""
    words = re.findall(r"[a-z]+", content)
    real = [w for w in words if len(w) >= 2 and re.search(r"[aeiouy]", w)] + [w for w in words if w in ("i", "a")]
    return len(words) >= 4 and len(real) == len(words) and len(set(words)) >= 3


def looks_like_question(text: str) -> bool:
    """Whether a message reads like a real question or request a person should answer."""
    content = _content(text)
    han = "".join(ch for ch in content if _han(ch))
    if not han:
        return _latin_question(content)
    if len(han) < MIN_CONTENT or len(set(han)) <= 2:
        return False  # a bare word, or 啊啊啊啊 / 哈哈哈哈
    if len(han) >= LONG_CONTENT:
        return True
    folded = fold(text)
    if "?" in folded or "？" in folded:
        return True
    return any(w in han for w in _ASKING) or any(w in han for w in _PROBLEMS)


# Topic themes, most specific first: words in a question → words in a topic's name.
_THEMES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("工伤", "受伤", "摔", "砸", "掉下", "压伤", "烫伤", "划伤", "伤了", "骨折", "事故", "职业病", "伤残", "工亡"),
     ("工伤",)),
    (("入会", "加入工会", "会员", "会费", "入工会", "会员卡"), ("入会", "会员")),
    (("工资", "薪", "工钱", "加班", "社保", "公积金", "五险", "合同", "辞退", "开除", "解雇", "裁员", "赔偿", "补偿",
      "仲裁", "拖欠", "克扣", "扣钱", "不发", "没发", "欠钱", "劳务费", "劳动", "年假", "维权"),
     ("劳动争议", "讨薪", "欠薪", "劳动", "维权", "工资")),
    (("困难", "帮扶", "补助", "救助", "补贴", "生病", "住院", "大病", "上学", "学费", "助学", "慰问", "低保"),
     ("帮扶", "困难", "救助")),
)
DEFAULT_TOPIC = "其他"


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


def is_pleasantry(text: str) -> bool:
    """Only greetings, thanks, acknowledgements, laughter or emoji (好的谢谢, 在吗, 👍)."""
    return not _content(text).strip()


# Asking to ask (想问个事, 我有个问题, 咨询一下): the question itself is still to come.
_PREAMBLE = tuple(sorted((
    "我有个问题", "有个问题", "有问题", "问个问题", "问个事", "问点事", "有个事", "有点事", "有件事", "想问问", "想问",
    "问一下", "问问", "问下", "请问", "咨询一下", "咨询", "请教一下", "请教", "打扰一下", "打扰了", "打扰", "麻烦问一下",
    "麻烦", "一下", "可以吗", "能问吗", "事情", "问题", "我", "想", "要", "个", "点", "件", "事", "下", "能", "吗", "你们",
    "您", "你", "们", "的", "了", "呢", "吧", "那", "就", "是", "有", "问",
), key=len, reverse=True))
_PREAMBLE_RE = re.compile("|".join(map(re.escape, _PREAMBLE)))


def is_ask_to_ask(text: str) -> bool:
    """Only words announcing a question (想问个事, 我有个问题, 请问一下), none of its content."""
    content = _content(text)
    if not any(_han(ch) for ch in content):
        return False
    rest = _PREAMBLE_RE.sub("", content).strip()
    return not any(_han(ch) or ch.isalnum() for ch in rest)
