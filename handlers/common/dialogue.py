"""Words that work everywhere: 菜单, 帮助, 取消; follow and unfollow; the fallback.

The fallback answers small talk as a person would, in a line (「好的～」「早上好！」「不客气！」;
在吗 / 有人吗 / 喂喂 honestly: this is the automatic reply, staff answer in office hours; 你是机器人吗:
yes; chat outside the union's business — 今天天气怎么样 — with what the account can do, never a
promise from staff; 算了不问了: 好的), with a short pointer to 帮助 instead of the whole menu; only
what it did not understand gets the menu.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.core.context import Ctx
from bot.core.normalize import is_word
from bot.core.question import pleasantry_kind
from bot.core.router import Router, click_is, event_is, text_is
from bot.core.types import PASS, Reply
from handlers.common import texts
from handlers.inbox import ops as inbox_ops

if TYPE_CHECKING:
    from bot.config import Settings

router = Router("common")

GREETINGS = ("你好", "您好")
MENU_WORDS = ("菜单", "帮助", "help", "menu", "?", "？", *GREETINGS)
CANCEL_WORDS = ("取消", "退出", "算了")

NOT_UNDERSTOOD = "抱歉，没太明白您的意思。"
TO_A_PERSON = "请回复「留言」，会有专人回复您。"
SHORT_HELP = "需要什么帮助，回复「帮助」看看能办的事。"


def menu_text(ctx: Ctx, intro: str | None = None) -> str:
    """The list of things one can ask, composed from every feature's menu items; `intro` is
    the 帮助 text staff edit (texts.HELP; see `help_reply`)."""
    items = ctx.dispatcher.menu_items() if ctx.dispatcher else []
    return compose_menu(intro or texts.default_text("help", ctx.settings), items, ctx.settings)


def compose_menu(intro: str, items: Sequence[tuple[str, str]], settings: Settings) -> str:
    """The 帮助 reply: the intro, the keywords, and how to reach a person (also the admin's preview)."""
    return _compose(intro, tuple(items), office_text(settings))


@lru_cache(maxsize=64)  # the same few texts for every 菜单 / 帮助 / 你好
def _compose(intro: str, items: tuple[tuple[str, str], ...], office: str) -> str:
    lines = [intro]
    lines += [f"【{kw}】{desc}" for kw, desc in items]
    lines.append("【取消】退出正在填写的内容")
    lines.append("打字、语音都可以，数字说「三千五」「三口人」也行。")
    lines.append(office)
    return "\n".join(lines)


def office_line(ctx: Ctx) -> str:
    """How to reach a person: the office's phone, hours and address from config."""
    return office_text(ctx.settings)


def office_text(settings: Settings) -> str:
    o = settings.office
    where = f"，地址：{o.address}" if o.address else ""
    return f"找工作人员：{o.call_line()}，{o.hours}{where}。"


async def help_reply(ctx: Ctx) -> str:
    """The 帮助 reply with the intro staff edited."""
    return menu_text(ctx, await texts.get_text(ctx.session, "help", ctx.settings))


def welcome_reply(welcome: str, menu: str) -> str:
    """What a new follower reads: the welcome staff edited, then the 帮助 reply."""
    return welcome + "\n\n" + menu


@router.interrupt(text_is(*CANCEL_WORDS))
async def cancel_dialogue(ctx: Ctx) -> Reply | str | None:
    """Leave the open dialogue without storing anything."""
    flow = ctx.dialogue.flow
    flows = ctx.dispatcher.flows
    if flow and flow in flows and flows[flow].form is not None:
        return flows[flow].form.cancel(ctx)
    if flow:
        ctx.dialogue.clear()
        return flows[flow].cancelled if flow in flows else "好的，已取消。需要时随时再来找我们。"
    drafts = ctx.dialogue.drafts
    # A draft that is no flow and holds nothing is a mark (e.g. "a consultation is open"): kept.
    marks = {f: d for f, d in drafts.items() if f not in flows and not d.get("data")}
    if len(drafts) > len(marks):
        titles = [flows[f].title for f in drafts if f in flows]
        held = [f for f in drafts if f not in flows and f not in marks]  # e.g. photos waiting for their words
        ctx.dialogue.drafts = dict(marks)
        ctx.dialogue.mark()
        said = (["已清除您未填完的" + "、".join(titles)] if titles else []) + (["刚才发来、还没转交的内容也不再保留"] if held else [])
        return "好的，" + "；".join(said) + "。"
    thread = await inbox_ops.open_thread(ctx.session, ctx.openid)
    if thread is not None:  # 算了 with a consultation open: it stays open unless they close it
        return (f"您的咨询（{thread.topic}）还开着，工作人员会在这里回复您。\n"
                "不需要了请回复「结束咨询」；还有要补充的，直接发来就行。")
    reply = await ctx.dispatcher.feature_route(ctx)  # a feature's own meaning (signup: which sign-up)
    return reply if reply is not PASS else f"当前没有进行中的事项。{SHORT_HELP}"


@router.interrupt(text_is(*MENU_WORDS) | click_is("HELP"))
async def show_menu(ctx: Ctx) -> str:
    """Show what one can ask; an open form stays open."""
    text = await help_reply(ctx)
    if is_word(ctx.text, GREETINGS):  # 你好: greeted back before the list
        text = "您好！这里是" + ctx.settings.office.name + "，很高兴为您服务。\n" + text
    flow = ctx.dialogue.flow
    if flow and flow in ctx.dispatcher.flows:
        text += f"\n\n您正在填写{ctx.dispatcher.flow_title(flow)}，直接回复即可继续。"
    return text


@router.on(event_is("subscribe"))
async def welcome_follower(ctx: Ctx) -> str:
    """Welcome a new (or returning) follower with the menu (both texts as staff edited them)."""
    return welcome_reply(await texts.get_text(ctx.session, "welcome", ctx.settings), await help_reply(ctx))


@router.on(event_is("unsubscribe"))
async def mark_unfollowed(ctx: Ctx) -> None:
    """Nothing to say: WeChat shows no reply to an unfollow. The member is kept."""
    return None


async def _media_answer(ctx: Ctx) -> str:
    """A photo, video, location or link no feature took: say it wasn't kept and what to do."""
    what = {"image": "照片", "location": "位置", "link": "链接"}.get(ctx.msg.kind, "视频")
    if ctx.msg.kind == "image":
        where = ("想请工作人员看看，请先回复「留言」说一下是什么情况，再发照片；如果是申请帮扶的材料，"
                 "请先回复「帮扶」，按提示填写时再发送照片，我们才能把它归到您的申请里。")
    else:
        where = f"想找工作人员，{TO_A_PERSON}"
    return f"收到您的{what}啦，不过这里没有地方保存它。{where}\n" + await help_reply(ctx)


def what_i_do(ctx: Ctx) -> str:
    """「能帮您办这些事：回复「帮扶」「报名」…；工作上遇到的问题，回复「留言」转给工作人员。」 from the menu."""
    words = [kw for kw, desc in (ctx.dispatcher.menu_items() if ctx.dispatcher else ())  # for everyone, not 报送
             if kw != "留言" and not kw.startswith(("我的", "删除")) and "需先" not in desc]
    does = f"能帮您办这些事：回复{''.join(f'「{w}」' for w in words)}就行；" if words else ""
    return f"{does}工作上遇到的问题，回复「留言」转给工作人员。"


def small_talk(ctx: Ctx) -> str | None:
    """A person's one-line answer to small talk (or a bare number), None for anything else."""
    text = ctx.text
    o = ctx.settings.office
    if re.fullmatch(r"[0-9０-９]{1,4}", text):
        return f"抱歉，没太明白「{text}」是指什么，现在没有需要回复序号的问题。"
    kind = pleasantry_kind(text)
    if kind is None:
        return None
    if kind == "bot":
        return "我是工会的自动回复助手，能回答一些常见问题、帮您办几件事。想找工作人员，回复「留言」，会有专人回复您。"
    if kind == "presence":
        return (f"您好！这里是{o.name}的自动回复。有事直接说，我帮您转给工作人员；"
                f"工作人员回复的时间是{o.hours}。")
    if kind == "greeting":  # 早 → 早上好, 晚上好 → 晚上好, hello → 您好
        said = "早上" if "早" in text or "morning" in text.lower() else next(
            (t for t in ("上午", "中午", "下午", "晚上") if t in text), "您")
        return f"{said}好！"
    if kind == "offtopic":  # 今天天气怎么样: not the union's business, and no promise from staff
        return f"这个话题我可聊不来😊 我是{o.name}的自动回复助手，{what_i_do(ctx)}"
    return {"thanks": "不客气！", "bye": "晚安，好好休息～" if "晚安" in text else "再见，有事随时找我们～",
            "giveup": "好的，有需要随时找我们～",
            "chat": "谢谢关心～我是工会的自动回复助手，随时都在。", "test": "收到，一切正常～", "laugh": "😊",
            "sigh": "怎么了？遇到什么事可以直接说说，我帮您转给工作人员。"}.get(kind, "好的～")


async def fallback(ctx: Ctx) -> str | None:
    """Anything no feature understood: small talk answered in a line, the rest with the menu."""
    if ctx.msg.kind == "event":
        return None  # view clicks, location reports, template receipts...
    if ctx.msg.kind in ("image", "video", "shortvideo", "location", "link"):
        return await _media_answer(ctx)
    if ctx.msg.kind == "voice" and not ctx.text:
        return "抱歉，这条语音没有识别出文字，麻烦您再说一遍或打字告诉我们。\n" + await help_reply(ctx)
    line = small_talk(ctx) if ctx.text else None
    if line is not None:
        return f"{line}\n{SHORT_HELP}"
    return f"{NOT_UNDERSTOOD}想找工作人员，{TO_A_PERSON}\n" + await help_reply(ctx)
