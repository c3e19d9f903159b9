"""Parsers shared by several forms: mainland mobile numbers, ID-card numbers, names, employers."""
from __future__ import annotations

import re
import unicodedata

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from bot.core.forms import Invalid, Parser, text_parser
from bot.core.normalize import digits_spoken, fold

_MOBILE = re.compile(r"1[3-9]\d{9}")


_MOBILE_SAID = re.compile(r"^(?:我的)?(?:手机号码?|手机|电话号码?|电话|号码)(?:是|为)?[:：]?")


def parse_mobile(text: str) -> str:
    """An 11-digit mainland mobile number (spaces and dashes allowed), also said with its lead-in
    (「我的手机号是13912345678。」)."""
    digits = re.sub(r"[\s\-]", "", digits_spoken(_MOBILE_SAID.sub("", fold(text))))
    if digits.startswith("+86"):
        digits = digits[3:]
    if not _MOBILE.fullmatch(digits):
        raise Invalid("手机号好像不对，请输入11位手机号码，例如 13800138000。")
    return digits


def parse_id_number(text: str) -> str:
    """A mainland resident ID number (18 characters, checksum verified)."""
    value = fold(text).replace(" ", "").upper()
    try:
        return ric.validate(value)
    except ValidationError:
        raise Invalid("身份证号码校验没通过，请核对后重新输入18位号码（最后一位可能是X）。") from None


# Not names: what people say when they mean "OK" or "I'd rather not".
_NOT_NAMES = frozenset({"好的", "是的", "对的", "嗯嗯", "收到", "谢谢", "知道了", "不知道", "不清楚", "没有", "随便",
                        "你好", "您好", "不想说", "保密", "可以", "不用", "算了", "本人", "我自己", "自己"})
_NAME_MARKS = "·•・. "  # 阿依古丽·买买提, John Smith
# Not a name either: a refusal (不填了, 不想说), an amount or a count said a step late (五百吧, 三口人),
# a sentence's closing particle (…吧, …了).
_NOT_A_NAME = re.compile(r"不填|不想|不用|不告诉|不方便|不知道|[零一二两三四五六七八九十百千万]+多?(?:块|元|钱|口|个|岁|人)"
                         r"|[吧啊呢吗呀哦啦了]$")
# Nor a question or a sentence (「在哪里培训啊 几点开始」「我问一下这个收费不」「我同事也想去」): question
# words and particles, pronouns, and the words of a sentence about going, asking or paying. Single
# characters only where no Chinese name has them (哪, 吗, 啥, 咋, 我, 你, 您, 他, 她, 咱, 俺); the
# others as whole words, since 想 (李想), 问 (张问天), 去, 要, 几 and 那 (那英) occur in names.
_NOT_A_NAME_WORDS = re.compile(
    r"[哪吗嘛啥咋我你您他她咱俺?？]|什么|怎么|怎样|为什么|多少|多长|多久|多大|几点|几号|几天|几个|几时|几月|几位|几岁"
    r"|是不是|是否|能不能|可不可以|可以吗|有没有|要不要|行不行|对不对|好不好|收费|免费|要钱|费用|交钱|花钱"
    r"|请问|想问|问一下|问下|问问|咨询|打听|想去|要去|也去|不去|去不|能去|想报|要报|也报|报名|报一个|参加|培训|活动"
    r"|上课|开始|结束|时间|地点|地方|这里|那里|这个|那个|同事|朋友|家人|工友|别人|老婆|老公|爱人|孩子|知道|告诉")


def parse_name(text: str) -> str:
    """A person's name: 2–20 letters (Chinese or other), with · or a space inside, no digits or emoji."""
    value = fold(text)
    for prefix in ("我叫", "我是", "姓名是", "名字是", "姓名", "名字"):
        if value.startswith(prefix) and len(value) - len(prefix) >= 2:
            value = value[len(prefix):].strip(" :：")
            break
    letters = [ch for ch in value if ch not in _NAME_MARKS]
    if (not 2 <= len(value) <= 20 or value in _NOT_NAMES or _NOT_A_NAME.search(value)
            or _NOT_A_NAME_WORDS.search(value)
            or not all(unicodedata.category(ch).startswith("L") for ch in letters)):
        raise Invalid("请回复您的真实姓名（2–20个字，不含数字和符号），例如「张三」。")
    return value


_NO_EMPLOYER = frozenset({"失业", "失业了", "下岗", "下岗了", "没工作", "没有工作", "无业", "待业", "在家", "没上班"})


# 「单位是东湖电子」「我在东湖电子上班」: the unit's name without the words around it.
_EMPLOYER_SAID = (re.compile(r"^(?:我的)?(?:工作)?单位(?:是|叫|名称是)?[:：]?(.+)$"),
                  re.compile(r"^我?(?:现在|目前)?在(.+?)(?:上班|工作|打工|干活)(?:的)?$"))


# A question is no unit's name (「单位必须填吗」「在哪里培训」): asked again, never stored.
_ASKS_NOT_EMPLOYER = re.compile(r"[吗嘛?？]|什么|怎么|为什么|哪里|在哪|多少|几点|能不能|是不是|可不可以|要不要|有没有")


def _unwrapped(value: str) -> str:
    for rx in _EMPLOYER_SAID:
        if (m := rx.match(value)) and len(m.group(1).strip()) >= 2:
            return m.group(1).strip()
    return value


def employer_parser(max_len: int, hint: str) -> Parser:
    """A unit's name in the person's own punctuation (（集团）): not a number (the phone number sent
    again), not 「失业了」 (the question asks for the former unit then); `hint` re-asks otherwise."""
    parse = text_parser(2, max_len)

    def employer(text: str) -> str:
        text = _unwrapped(text.strip().rstrip("。.!！"))  # the worker's own punctuation kept: （集团）
        value = fold(text)
        if value in _NO_EMPLOYER:
            raise Invalid("已经没在工作的，请填原来工作的单位名称，例如「红星机械厂」。")
        if not any(unicodedata.category(ch).startswith("L") for ch in value):
            raise Invalid(f"这里请填工作单位的名称，不是号码哦。{hint}")
        if _ASKS_NOT_EMPLOYER.search(value):
            raise Invalid(hint)
        try:
            return parse(text)
        except Invalid:
            raise Invalid(hint) from None
    employer.free_text = True  # type: ignore[attr-defined]  (an acknowledgement is no answer here)
    return employer


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_id(id_number: str | None) -> str:
    if not id_number:
        return ""
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:] if len(id_number) > 7 else "****"
