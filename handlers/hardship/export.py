"""The staff's export of hardship requests: one row per request, phone and ID masked.

The file format (CSV / XLSX) is the admin site's job (`bot.admin.export`); this
module decides what goes in a row.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.validators import mask_phone
from bot.db.models.hardship import HardshipRequest
from handlers.hardship.ops import STATUS_LABELS

EXPORT_HEADER = ["编号", "提交时间", "状态", "困难类型", "姓名", "手机号", "身份证号", "工作单位", "家庭人口",
                 "家庭月收入(元)", "困难固定支出(元)", "人均(元)", "参考档次", "发放金额(元)", "发放内容",
                 "发放日期", "代办", "所属社区"]


def export_rows(rows: Sequence[HardshipRequest], tz: ZoneInfo) -> list[list[Any]]:
    """The filtered list as table rows, phone and ID masked (the stored mask: nothing is decrypted).
    `rows` come from the staff list's query, already kept to a community account's community."""
    return [[
        r.ref, r.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), STATUS_LABELS.get(r.status, r.status),
        r.kind, r.name, mask_phone(r.phone), r.id_number_masked or ("已加密" if r.id_number_enc else ""), r.employer, r.household_size,
        r.monthly_income, r.fixed_expenses, r.per_capita, r.tier or "—",
        r.aid_amount if r.aid_amount is not None else "", r.aid_kind,
        r.aid_date.isoformat() if r.aid_date else "", "是" if r.created_by_staff_id else "", r.community or "",
    ] for r in rows]
