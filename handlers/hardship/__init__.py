"""Hardship help (困难帮扶): the worker's application, 补充, 我的申请, 删除我的信息, staff review."""
from __future__ import annotations

from pathlib import Path

from bot.feature import Feature, MenuItem, NavEntry
from handlers.hardship import admin, jobs, ops
from handlers.hardship.dialogue import router

FEATURE = Feature(
    name="hardship",
    role="hardship",  # who uses its admin pages (bot/admin/roles.py)
    router=router,
    jobs=tuple(jobs.JOBS),
    admin=admin.setup,
    nav=(NavEntry("帮扶审核", "/hardship", 20),),
    templates=Path(__file__).parent / "templates",
    menu=(MenuItem("HARDSHIP", "困难帮扶", order=10), MenuItem("MY_REQUESTS", "我的申请", "我的", 38)),
    template_kinds=(ops.TEMPLATE_KIND,),
    outbox_purposes={ops.NOTIFY_PURPOSE: "帮扶进度"},
    todos=admin.todo,
    member_context=ops.member_context,
)
