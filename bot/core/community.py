"""The worker's community (社区) as a form question, shared by the dialogues that ask it.

    fields = (..., community_field(), ...)        # and in the form's prepare():
    return {..., **ask_community(ctx)}

Asked only when `[federation] communities` names some (a numbered choice, plus 不清楚);
optional (跳过 / 不清楚 / 不知道 are answers). The answer is kept on the profile
(`Member.community`, "" for 不清楚 or 跳过) by the feature that stores the form, so the next form
doesn't ask again: a known community (still configured) or a 不清楚 answers the field without
asking, shown in the summary and changeable with 修改.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.context import Ctx
from bot.core.forms import Field, Invalid
from bot.core.normalize import is_word

ASK_FLAG = "_ask_community"  # set by the form's prepare() when communities are configured
UNSURE = "不清楚"
UNSURE_WORDS = frozenset({"不清楚", "不知道", "不确定", "不记得", "说不清", "不太清楚", "不晓得", "不了解"})
PROMPT = "您在哪个社区居住或工作？（便于所在社区的工会就近帮您）"


def ask_community(ctx: Ctx) -> dict[str, Any]:
    """What a form's prepare() adds so the question is asked: only with communities configured."""
    return {ASK_FLAG: True} if ctx.settings.federation.communities else {}


def _choices(ctx: Ctx, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(c, c) for c in ctx.settings.federation.communities] + [(False, UNSURE)]


def known_community(ctx: Ctx) -> Any:
    """The community on the profile: a configured name, or False for an earlier 不清楚 (answered,
    not asked again); None (ask) when never asked or the name is no longer configured."""
    member = ctx.member
    value = getattr(member, "community", None) if member is not None else None
    if value is None:
        return None
    if value == "":
        return False
    return value if value in ctx.settings.federation.communities else None


def _parse(text: str) -> str:
    raise Invalid("请回复社区前面的序号；不清楚可以回复「不清楚」。")


class CommunityField(Field):
    """The numbered communities; 不清楚 / 不知道 … mean "don't know" (False in the form, "" on the
    profile)."""

    def read(self, raw: str, choices: Any = None) -> Any:
        if is_word(raw, UNSURE_WORDS):
            return False
        return super().read(raw, choices)


def community_field(name: str = "community") -> CommunityField:
    return CommunityField(
        name, PROMPT, parse=_parse, label="所在社区", choices=_choices, optional=True,
        condition=lambda data: bool(data.get(ASK_FLAG)), known=known_community,
        show=lambda v: v or UNSURE)


def answered(data: Mapping[str, Any]) -> str | None:
    """The community a submitted form names (None: not asked, skipped or 不清楚)."""
    return str(data.get("community") or "") or None
