"""Parsers shared by several forms: mainland mobile numbers, ID-card numbers, names."""
from __future__ import annotations

import re

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from bot.core.forms import Invalid
from bot.core.router import normalize

_MOBILE = re.compile(r"1[3-9]\d{9}")


def parse_mobile(text: str) -> str:
    """An 11-digit mainland mobile number (spaces and dashes allowed)."""
    digits = re.sub(r"[\s\-]", "", normalize(text))
    if digits.startswith("+86"):
        digits = digits[3:]
    if not _MOBILE.fullmatch(digits):
        raise Invalid("手机号好像不对，请输入11位手机号码，例如 13800138000。")
    return digits


def parse_id_number(text: str) -> str:
    """A mainland resident ID number (18 characters, checksum verified)."""
    value = normalize(text).replace(" ", "").upper()
    try:
        return ric.validate(value)
    except ValidationError:
        raise Invalid("身份证号码校验没通过，请核对后重新输入18位号码（最后一位可能是X）。") from None


def parse_name(text: str) -> str:
    value = normalize(text)
    if not 2 <= len(value) <= 20 or any(ch.isdigit() for ch in value):
        raise Invalid("请输入真实姓名（2–20个字，不含数字）。")
    return value


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_id(id_number: str | None) -> str:
    if not id_number:
        return ""
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:] if len(id_number) > 7 else "****"
