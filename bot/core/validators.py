"""Parsers shared by several forms: mainland mobile numbers, ID-card numbers, names."""
from __future__ import annotations

import re
import unicodedata

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from bot.core.forms import Invalid
from bot.core.normalize import digits_spoken, fold

_MOBILE = re.compile(r"1[3-9]\d{9}")


def parse_mobile(text: str) -> str:
    """An 11-digit mainland mobile number (spaces and dashes allowed)."""
    digits = re.sub(r"[\s\-]", "", digits_spoken(text))
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


def parse_name(text: str) -> str:
    """A person's name: 2–20 letters (Chinese or other), with · or a space inside, no digits or emoji."""
    value = fold(text)
    for prefix in ("我叫", "我是", "姓名是", "名字是", "姓名", "名字"):
        if value.startswith(prefix) and len(value) - len(prefix) >= 2:
            value = value[len(prefix):].strip(" :：")
            break
    letters = [ch for ch in value if ch not in _NAME_MARKS]
    if (not 2 <= len(value) <= 20 or value in _NOT_NAMES
            or not all(unicodedata.category(ch).startswith("L") for ch in letters)):
        raise Invalid("请回复您的真实姓名（2–20个字，不含数字和符号），例如「张三」。")
    return value


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_id(id_number: str | None) -> str:
    if not id_number:
        return ""
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:] if len(id_number) > 7 else "****"
