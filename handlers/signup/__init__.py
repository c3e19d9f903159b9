"""Trainings and events (活动报名): sign-up, waitlist, check-in, reminders, 培训台账."""
from __future__ import annotations

from pathlib import Path

from bot.feature import Feature, MenuItem, NavEntry
from handlers.signup import admin, jobs, ops
from handlers.signup.dialogue import router

FEATURE = Feature(
    name="signup",
    role="events",  # who uses its admin pages (bot/admin/roles.py)
    router=router,
    jobs=tuple(jobs.JOBS),
    admin=admin.setup,
    nav=(NavEntry("活动报名", "/signup", 30), NavEntry("培训台账", "/signup/record", 31)),
    templates=Path(__file__).parent / "templates",
    menu=(MenuItem("SIGNUP", "活动报名", "学习活动", 20), MenuItem("MY_SIGNUPS", "我的报名", "学习活动", 22)),
    template_kinds=ops.TEMPLATE_KINDS,
    outbox_purposes=ops.OUTBOX_PURPOSES,
    member_context=ops.member_context,
)
