"""Staff roles: what each lets an account see and do on the staff site.

A feature's admin pages belong to one role (`Feature.role`); `admin` may do everything and
manage staff; `viewer` may read every page but changes nothing, reveals nothing and exports
no personal data. An account may hold several roles. A community-scoped account
(`Staff.community`) sees only its community's records; the federation's accounts
(community None) see all.
"""
from __future__ import annotations

ROLES: dict[str, str] = {
    "admin": "管理员（全部功能，管理工作人员账号）",
    "hardship": "帮扶审核",
    "events": "活动报名与培训台账",
    "quiz": "每月一题",
    "chairs": "主席报送与指标看板",
    "inbox": "留言咨询与常见问题",
    "viewer": "只读（不能操作、查看完整信息或导出个人信息）",
}
ADMIN = "admin"
VIEWER = "viewer"
