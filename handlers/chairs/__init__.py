"""Grassroots union chairs: binding, the quarterly report, reminders, the indicator dashboard."""
from __future__ import annotations

from pathlib import Path

from bot.feature import Feature, MenuItem, NavEntry
from handlers.chairs import admin, jobs, ops
from handlers.chairs.dialogue import router

FEATURE = Feature(
    name="chairs",
    role="chairs",  # who uses its admin pages (bot/admin/roles.py)
    router=router,
    jobs=tuple(jobs.JOBS),
    admin=admin.setup,
    nav=(NavEntry("主席报送", "/chairs", 40), NavEntry("指标看板", "/chairs/dashboard", 41)),
    templates=Path(__file__).parent / "templates",
    menu=(MenuItem("REPORT", "工会主席报送", "我的", 40),),
    template_kinds=(ops.TEMPLATE_KIND,),
    outbox_purposes={ops.REMINDER_PURPOSE: "报送提醒", ops.ESCALATION_PURPOSE: "逾期督办"},
    member_context=ops.member_context,
)
