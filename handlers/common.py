"""Words that work everywhere: 菜单, 帮助, 取消; follow and unfollow; the fallback."""
from __future__ import annotations

from bot.core.context import Ctx
from bot.core.forms import FORMS
from bot.core.router import Router, click_is, event_is, kind_is, text_is

router = Router("common")

MENU_WORDS = ("菜单", "帮助", "help", "menu", "?", "？", "你好", "您好")
CANCEL_WORDS = ("取消", "退出", "算了")

WELCOME = "您好，欢迎关注街道总工会！这里是职工的娘家，有困难、想学习、想参加活动，都可以找我们。"
NOT_UNDERSTOOD = "抱歉，没太明白您的意思。"


def menu_text(ctx: Ctx) -> str:
    """The list of things one can ask, composed from every feature's menu items."""
    items = ctx.dispatcher.menu_items() if ctx.dispatcher else []
    lines = ["您可以回复下面的关键词："]
    lines += [f"【{kw}】{desc}" for kw, desc in items]
    lines.append("【取消】退出正在填写的内容")
    return "\n".join(lines)


@router.interrupt(text_is(*CANCEL_WORDS))
async def cancel_dialogue(ctx: Ctx) -> str:
    """Leave the open dialogue without storing anything."""
    flow = ctx.dialogue.flow
    if flow and flow in FORMS:
        return FORMS[flow].cancel(ctx)
    if flow:
        ctx.dialogue.clear()
        return "好的，已取消。需要时随时再来找我们。"
    if ctx.dialogue.drafts:
        titles = [FORMS[f].title for f in ctx.dialogue.drafts if f in FORMS]
        ctx.dialogue.drafts.clear()
        ctx.dialogue.mark()
        return "好的，已清除您未填完的" + "、".join(titles or ["内容"]) + "。"
    return "当前没有进行中的事项。\n" + menu_text(ctx)


@router.interrupt(text_is(*MENU_WORDS) | click_is("HELP"))
async def show_menu(ctx: Ctx) -> str:
    """Show what one can ask; an open form stays open."""
    text = menu_text(ctx)
    flow = ctx.dialogue.flow
    if flow and flow in FORMS:
        text += f"\n\n您正在填写{FORMS[flow].title}，直接回复即可继续。"
    return text


@router.on(event_is("subscribe"))
async def welcome_follower(ctx: Ctx) -> str:
    """Welcome a new (or returning) follower with the menu."""
    return WELCOME + "\n\n" + menu_text(ctx)


@router.on(event_is("unsubscribe"))
async def mark_unfollowed(ctx: Ctx) -> None:
    """Nothing to say: WeChat shows no reply to an unfollow. The member is kept."""
    return None


@router.on(kind_is("image", "video", "shortvideo", "location", "link"))
async def acknowledge_media(ctx: Ctx) -> str:
    """A photo, video, location or link outside any form: say what we can do with it."""
    what = {"image": "照片", "location": "位置", "link": "链接"}.get(ctx.msg.kind, "视频")
    return (f"收到您的{what}啦。如果是申请帮扶的材料，请先发送「帮扶」或「补充」，"
            "再按提示发送照片，我们才能把它归到您的申请里。\n" + menu_text(ctx))


async def fallback(ctx: Ctx) -> str | None:
    """Anything no feature understood."""
    if ctx.msg.kind == "event":
        return None  # view clicks, location reports, template receipts...
    if ctx.msg.kind == "voice" and not ctx.text:
        return "抱歉，这条语音没有识别出文字，麻烦您打字告诉我们。\n" + menu_text(ctx)
    return NOT_UNDERSTOOD + "\n" + menu_text(ctx)
