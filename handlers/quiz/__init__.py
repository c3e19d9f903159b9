"""The monthly quiz (每月一题) and the half-year test."""
from __future__ import annotations

from pathlib import Path

from bot.feature import Feature, MenuItem, NavEntry
from handlers.quiz import admin, jobs, ops
from handlers.quiz.dialogue import router

FEATURE = Feature(
    name="quiz",
    role="quiz",  # who uses its admin pages (bot/admin/roles.py)
    router=router,
    jobs=tuple(jobs.JOBS),
    admin=admin.setup,
    nav=(NavEntry("每月一题", "/quiz", 50),),
    templates=Path(__file__).parent / "templates",
    menu=(MenuItem("QUIZ", "每月一题", "学习活动", 21), MenuItem("SCORES", "我的成绩", "学习活动", 23)),
    template_kinds=(ops.TEMPLATE_KIND,),
    outbox_purposes={ops.OPEN_PURPOSE: "答题通知"},
)
