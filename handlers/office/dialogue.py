"""「办公时间」「地址」「电话」: how to reach the union office, from `[office]` in the config.

The smallest feature there is: a router with one keyword route and a menu line. It is the
worked example in docs/architecture.md ("how to add a feature").
"""
from __future__ import annotations

from bot.core.context import Ctx
from bot.core.router import Router, click_is, text_is

router = Router("office")
router.add_menu("办公时间", "工会的电话、地址和办公时间")

WORDS = ("办公时间", "上班时间", "工作时间", "地址", "在哪里", "在哪", "电话", "联系方式", "联系电话", "怎么联系")


@router.on(text_is(*WORDS) | click_is("OFFICE"))
async def office_details(ctx: Ctx) -> str:
    """The office's phone, hours and address."""
    return ctx.settings.office.card()
