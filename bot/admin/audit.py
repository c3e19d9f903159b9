"""The staff audit log: every staff action is recorded through `record`.

Conventions (the audit page, `/admin/audit`, and the data-protection officer rely on them):

- `action` is `feature.verb` in lower case: `hardship.view`, `hardship.reveal_id`,
  `hardship.deliver`, `chairs.reveal_mobile`, `auth.login`, `audit.export` …
- `target` is the record's reference as staff know it: `BF-2026-0012` for a hardship request,
  `chair:12`, `activity:3`, `signup:45`, `question:7`, a username for staff accounts, a file
  name for imports. Never personal data (no phone, ID or name in the target).
- `refused=True` when the action was asked for and not done (a rule refused it, the staff
  member lacked the right, an import file was rejected); `detail["reason"]` says why.
- `detail` holds what changed: amounts (`{"amount": 500.0}`), the names of the fields changed
  (`{"changed": ["name", "community"]}`), counts (`{"rows": 12}`). Personal values (phone, ID
  numbers, free text about a worker's health or income) stay out of it.

Anonymous failures (wrong logins) are counted elsewhere (the login throttle), never one row each.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.core import AuditLog

log = logging.getLogger(__name__)

ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*$")
MAX_DETAIL_TEXT = 500  # characters kept of any one text value in `detail`

# What staff read on the audit page for the actions the features record (others show as is).
ACTION_LABELS: dict[str, str] = {
    "auth.login": "登录", "auth.logout": "退出登录", "auth.login_throttled": "登录失败过多（按地址汇总）",
    "auth.password_change": "修改密码",
    "staff.create": "新建账号", "staff.update": "修改账号", "staff.deactivate": "停用账号",
    "staff.reactivate": "重新启用账号", "staff.reset_password": "重置密码", "staff.end_sessions": "结束登录会话",
    "staff.access": "打开页面或操作",  # a refused request without a name of its own (bot/admin/permissions.py)
    "audit.export": "导出审计日志",
    "member.reveal_phone": "查看职工电话", "member.follow_up_done": "标记已电话联系",
    "member.follow_up_undo": "撤销已电话联系标记",
    "hardship.view_photo": "查看证明材料照片", "hardship.link_lookup": "代办时查看匹配的微信用户", "hardship.view": "查看帮扶申请", "hardship.reveal_id": "查看身份证号", "hardship.reveal_phone": "查看电话",
    "hardship.start_review": "开始审核", "hardship.request_more": "要求补充材料", "hardship.approve": "审核通过",
    "hardship.reject": "不予通过", "hardship.deliver": "登记发放", "hardship.close": "结束申请",
    "hardship.note": "添加备注", "hardship.assign": "分配经办人", "hardship.submit_for": "代办录入",
    "hardship.set_community": "修改所属社区",
    "hardship.export": "导出帮扶申请", "hardship.correct": "更正帮扶决定",
    "chairs.reveal_mobile": "查看主席手机", "chairs.add": "添加主席", "chairs.edit": "修改主席信息",
    "chairs.import": "导入主席名册", "chairs.activate": "启用主席", "chairs.deactivate": "停用主席",
    "chairs.bind_code": "生成绑定码", "chairs.received": "登记收到报送", "chairs.received_undo": "撤销收到报送登记", "chairs.export": "导出未报送名单",
    "chairs.registry_export": "导出主席名册", "chairs.received_undo": "更正：撤销登记收到报送",
    "signup.create": "新建活动", "signup.edit": "修改活动", "signup.cancel": "取消活动",
    "signup.cancel_one": "取消报名", "signup.checkin": "签到", "signup.reveal_phone": "查看报名电话",
    "signup.export": "导出报名名单", "signup.qr": "生成签到二维码", "signup.record_export": "导出培训台账",
    "signup.checkin_undo": "更正签到（改为未签到）", "signup.enrol": "代报名", "signup.attend": "补录到场",
    "signup.list_export": "导出活动列表",
    "quiz.import": "导入题目", "quiz.question_delete": "移出题目", "quiz.question_restore": "恢复题目",
    "quiz.question_create": "新增题目", "quiz.question_edit": "修改题目", "quiz.bank_export": "导出题库",
    "quiz.period_create": "新建每月一题", "quiz.period_edit": "修改每月一题", "quiz.period_questions": "选定本期题目",
    "quiz.period_delete": "删除每月一题", "quiz.export": "导出答题成绩",
    "inbox.view": "查看留言咨询", "inbox.reveal_phone": "查看留言人电话", "inbox.reply": "回复留言", "inbox.snippet_save": "保存常用回复",
    "inbox.snippet_delete": "删除常用回复", "inbox.note": "添加留言备注", "inbox.assign": "分配留言经办人",
    "inbox.close": "结束咨询", "inbox.reopen": "重新打开咨询",
    "faq.create": "新增常见问题", "faq.edit": "修改常见问题", "faq.delete": "删除常见问题", "faq.export": "导出常见问题",
    "menu.save": "保存菜单", "menu.publish": "发布菜单", "menu.reset": "恢复默认菜单",
    "texts.edit": "修改回复文字", "texts.reset": "恢复默认文字",
}


# Names of rows written before the actions were named `feature.verb` (kept readable on the page).
LEGACY_LABELS: dict[str, str] = {
    "login": "登录", "logout": "退出登录", "login_failed": "登录失败", "reveal_phone": "查看职工电话",
}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action) or LEGACY_LABELS.get(action, action)


def _clean(value: Any, depth: int = 0) -> Any:
    """Detail values as JSON can hold them, long texts cut (the log is not a copy of the record)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_DETAIL_TEXT else value[:MAX_DETAIL_TEXT] + "…"
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    if depth < 3 and isinstance(value, Mapping):
        return {str(k): _clean(v, depth + 1) for k, v in value.items()}
    if depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_clean(v, depth + 1) for v in list(items)[:100]]
    return _clean(str(value), depth + 1)


async def record(
    session: AsyncSession,
    *,
    staff_id: int | None,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    now: datetime,
    refused: bool = False,
) -> AuditLog:
    """Add one audit row to `session` (the caller commits with its own change).

    A refused action is recorded with `refused=True` (see `record_refused` to write it in a
    transaction of its own when the change itself was rolled back)."""
    if not ACTION_RE.match(action):
        log.warning("audit action %r is not named feature.verb", action)
    row = AuditLog(at=now, staff_id=staff_id, action=action[:64], target=str(target or "")[:128],
                   detail=_clean(detail or {}), refused=bool(refused))
    session.add(row)
    await session.flush()
    return row


async def record_refused(request: Any, *, action: str, target: str = "", reason: str = "",
                         detail: dict[str, Any] | None = None) -> None:
    """Record, in a transaction of its own, that the logged-in staff member asked for `action`
    on `target` and it was refused (`reason`: the message they were shown, or why).

    For admin handlers: the refused change rolled back with its transaction, so its audit row
    would have gone with it."""
    from bot import keys

    staff = request.get(keys.REQUEST_STAFF)
    if staff is None:  # anonymous: not one row per request (the throttle counts those)
        return
    now = request.app[keys.ADMIN_CLOCK].now()
    full = {**(detail or {}), **({"reason": reason} if reason else {})}
    async with request.app[keys.ADMIN_SESSIONMAKER]() as db, db.begin():
        await record(db, staff_id=getattr(staff, "id", None), action=action, target=target, detail=full,
                     now=now, refused=True)
