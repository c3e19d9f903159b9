"""A person behind the account (留言/人工): workers' questions reach staff, staff answer from the
admin; the FAQ answers common questions first."""
from __future__ import annotations

from pathlib import Path

from bot.feature import Feature, MenuItem, NavEntry
from handlers.inbox import admin, admin_faq, faq, jobs, ops
from handlers.inbox.dialogue import router

FEATURE = Feature(
    name="inbox",
    role="inbox",  # who uses its admin pages (bot/admin/roles.py)
    router=router,
    jobs=tuple(jobs.JOBS),
    admin=lambda app: (admin.setup(app), admin_faq.setup(app)),
    nav=(NavEntry("留言咨询", "/inbox", 15, badge=ops.count_waiting), NavEntry("常见问题", "/faq", 70)),
    templates=Path(__file__).parent / "templates",
    menu=(MenuItem("CONTACT", "联系工会", "我的", 39),),
    template_kinds=(ops.TEMPLATE_KIND,),
    outbox_purposes={ops.REPLY_PURPOSE: "留言回复", ops.NOTICE_PURPOSE: "留言提醒"},
    todos=admin.todo,
    startup=faq.seed_once,
)
