"""The worker's side of the inbox: a person behind the account.

- 留言 / 人工 / 咨询 / 联系工会 / 找工作人员 and the menu click CONTACT open a short form: pick a
  topic, write the message (text, voice or a photo); the first message opens the thread.
- What no feature took (`@router.unmatched`): with an open thread it is added to it (text,
  voice recognition text, photos); otherwise the FAQ answers what it can (legal-aid entries
  marked 「转人工」 also reach a person), and a message that reads like a real question goes to
  the staff inbox (or to WeChat's customer service with `[inbox] transfer_to_wechat_kf`);
  「想问个事」 (the question still to come) opens the 留言 form. Greetings and gibberish pass
  on to the friendly menu.
- 结束咨询 closes the open thread (结束 / 不用了 too, but only while one is open).
Every change goes through `handlers/inbox/ops.py`; FAQ matching is `handlers/inbox/faq.py`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.context import Ctx
from bot.core.forms import Field, Form, Invalid, pick, text_parser
from bot.core.normalize import is_word
from bot.core.router import Router, click_is, text_is
from bot.core.types import PASS, Reply, TransferReply
from bot.db.models.inbox import InboxThread
from handlers.inbox import faq, ops
from handlers.inbox.question import is_ask_to_ask, is_pleasantry

router = Router("inbox")
router.add_menu("留言", "有问题留言给工作人员，有专人回复")

CONTACT_WORDS = ("留言", "人工", "咨询", "联系工会", "找工作人员", "联系工作人员", "转人工", "人工客服", "人工服务",
                 "找人工", "真人", "留言咨询", "我要留言", "找工会")
END_WORDS = ("结束咨询", "结束留言", "结束对话", "关闭咨询")
# Only while a thread is open (elsewhere they mean other things: a form's 结束, hardship's 不用了).
SOFT_END_WORDS = frozenset({"结束", "不用了", "没事了", "不需要了", "问题解决了", "已经解决了", "解决了"})
THANKS = ("谢", "感谢", "辛苦")

FLOW = "inbox"


# --- what the worker reads -------------------------------------------------------------

def handed_over(ctx: Ctx, lead: str = "收到，您的问题已转给工作人员，会有专人回复您。") -> str:
    """The honest answer once a question reached the inbox: who, when, where, and if urgent."""
    o = ctx.settings.office
    return (f"{lead}\n"
            f"· 工作人员会在工作时间（{o.hours}）回复，下班后和节假日的留言，上班后尽快回复；\n"
            "· 回复会直接发到这个公众号对话里，请留意消息；\n"
            f"· 情况紧急请{o.call_line()}。\n"
            "还有要补充的，直接发文字、语音或照片就行；问题解决了请回复「结束咨询」。")


def _photo_first(ctx: Ctx) -> str:
    return handed_over(ctx, "照片收到了，已转给工作人员。麻烦再用文字或语音简单说说是什么情况，"
                            "方便工作人员尽快帮您。")


ADDED = "收到，已转给工作人员，回复会发到这里。"
PHOTO_ADDED = "照片已收到并转给工作人员。"
FAQ_MORE = "（没解决您的问题？回复「留言」，工作人员会回复您。）"
CLOSED = "好的，这次咨询已结束，谢谢您的信任。以后有问题随时直接发来，或回复「留言」。"
NOTHING_OPEN = "您现在没有进行中的咨询。有问题随时直接发来，或回复「留言」。"


def _kind(ctx: Ctx) -> str:
    return "voice" if ctx.msg.kind == "voice" else "text"


async def _start(ctx: Ctx, topic: str | None, *, photo: bool = False) -> InboxThread:
    """Open the worker's thread with this message."""
    return await ops.start_thread(
        ctx.session, ctx.ops, openid=ctx.openid, member_id=ctx.member_row.id, topic=topic or "",
        kind="image" if photo else _kind(ctx), text="" if photo else ctx.msg.text,
        media_id=ctx.msg.media_id if photo else "", source_key=ctx.msg.dedup_key)


# --- 留言 / 人工 / 咨询: the short form -----------------------------------------------------

async def _topics(ctx: Ctx, data: Mapping[str, Any]) -> list[str]:
    return list(ctx.settings.inbox.topics)


class ContactForm(Form):
    """Pick a topic, then the first message (text, voice or a photo) opens the thread."""

    flow = FLOW
    title = "留言"
    confirm = False
    fields = (
        Field("topic", "请问您想咨询哪方面的问题？", label="问题类型", choices=_topics),
        Field("message", "请直接写下您的问题，打字、发语音都可以，也可以发照片。说清楚发生了什么、希望工会帮什么，"
                         "工作人员能更快帮到您。", parse=text_parser(2, 1000), label="留言内容"),
    )

    async def prepare(self, ctx: Ctx) -> str | dict[str, Any]:
        thread = await ops.open_thread(ctx.session, ctx.openid)
        if thread is not None:
            return (f"您已有一个咨询正在进行（{thread.topic}），工作人员会在这里回复您。\n"
                    "要补充的话直接发文字、语音或照片就行，都会放进同一个咨询里；问题解决了请回复「结束咨询」。")
        return {}

    def intro(self, ctx: Ctx, data: Mapping[str, Any]) -> str | None:
        return "好的，我们帮您把问题转给工作人员。"

    async def handle(self, ctx: Ctx) -> Reply | str | None:
        step = (ctx.dialogue.state or "").split(":", 1)[-1]
        text = ctx.text if ctx.msg.kind in ("text", "voice") else ""
        if text and (is_word(text, END_WORDS) or is_word(text, SOFT_END_WORDS)):
            ctx.dialogue.clear()
            return "好的，已取消留言，没有保存任何内容。需要时随时再来找我们。"
        if ctx.msg.kind == "image" and step in ("topic", "message"):
            # A photo first is kept (it may be the whole story: a pay slip, an injury).
            topic = ctx.dialogue.data.get("topic")
            ctx.dialogue.clear()
            await _start(ctx, topic, photo=True)
            return _photo_first(ctx)
        if step == "topic" and text:
            topics = list(ctx.settings.inbox.topics)
            try:
                pick(ctx.msg.text, topics)
            except Invalid:
                if ops.looks_like_question(text):  # the question straight away: take it as it is
                    ctx.dialogue.clear()
                    await _start(ctx, None)
                    return handed_over(ctx)
                guessed = ops.guess_topic(text, topics, default=None)
                if guessed is not None:  # 「欠薪」「摔伤了」: the topic in other words
                    return await super().handle(ctx.with_text(guessed))
        return await super().handle(ctx)

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        await _start(ctx, data.get("topic"))
        return handed_over(ctx)


FORM = ContactForm.mount(router, start=text_is(*CONTACT_WORDS) | click_is("CONTACT"), resume_word="留言")


# --- 结束咨询 ----------------------------------------------------------------------------

# `starts=FLOW`: inside the 留言 form itself the words reach the form (which drops it).
@router.on(text_is(*END_WORDS), starts=FLOW)
async def end_consultation(ctx: Ctx) -> str:
    """The worker closes their open thread."""
    thread = await ops.close_by_worker(ctx.session, ctx.ops, ctx.openid)
    return CLOSED if thread is not None else NOTHING_OPEN


# --- what no feature took ----------------------------------------------------------------

@router.unmatched
async def catch_unmatched(ctx: Ctx) -> Reply | str | object:
    """An open thread takes everything; else the FAQ; else a real question reaches a person."""
    if ctx.msg.kind == "event":
        return PASS
    thread = await ops.open_thread(ctx.session, ctx.openid)
    if thread is not None:
        return await _follow_up(ctx, thread)
    if ctx.msg.kind not in ("text", "voice") or not ctx.text:
        return PASS  # a photo or a silent voice with no thread: the friendly fallback says what to do
    question = ops.looks_like_question(ctx.text)
    match = await faq.match(ctx.session, ctx.msg.text)
    if match is not None:
        await faq.record_hit(ctx.session, match.entry_id, ctx.now)
        if not (match.to_inbox and question):
            return f"{match.answer}\n\n{FAQ_MORE}"
        thread = await _start(ctx, match.topic or None)
        await ops.add_bot_message(ctx.session, ctx.ops, thread, match.answer)
        return handed_over(ctx, f"收到，您的问题已转给工作人员，会有专人回复您。先给您一些参考：\n{match.answer}\n")
    asking = is_ask_to_ask(ctx.text)  # 「想问个事」: the question is still to come
    if not (question or asking):
        return PASS
    if ctx.settings.inbox.transfer_to_wechat_kf:
        return TransferReply()
    if asking:
        return await FORM.start(ctx)
    await _start(ctx, None)
    return handed_over(ctx)


async def _follow_up(ctx: Ctx, thread: InboxThread) -> str:
    """A message while the thread is open: added to it (stored once per inbound message)."""
    kind = ctx.msg.kind
    if kind == "image":
        await ops.add_worker_message(ctx.session, ctx.ops, thread, kind="image", media_id=ctx.msg.media_id,
                                     source_key=ctx.msg.dedup_key)
        return PHOTO_ADDED
    if kind not in ("text", "voice"):
        what = {"location": "位置", "link": "链接"}.get(kind, "视频")
        return f"这里只能转交文字、语音和照片，刚才的{what}没有转过去。麻烦您用文字或语音说一下，工作人员会在这里回复您。"
    if not ctx.text:
        return "这条语音没有识别出文字，工作人员收不到语音本身。麻烦您再说一遍或打字发送。"
    if is_word(ctx.text, SOFT_END_WORDS):
        await ops.close_by_worker(ctx.session, ctx.ops, ctx.openid)
        return CLOSED
    if is_pleasantry(ctx.text):  # 谢谢 / 好的 / 在吗: staff see it, it doesn't make the thread unanswered
        await ops.add_worker_message(ctx.session, ctx.ops, thread, kind=_kind(ctx), text=ctx.msg.text,
                                     source_key=ctx.msg.dedup_key, waiting=False)
        lead = "不客气！" if any(w in ctx.text for w in THANKS) else "收到。"
        return lead + "您的咨询还开着，工作人员会在这里回复您；问题解决了请回复「结束咨询」。"
    await ops.add_worker_message(ctx.session, ctx.ops, thread, kind=_kind(ctx), text=ctx.msg.text,
                                 source_key=ctx.msg.dedup_key)
    match = await faq.match(ctx.session, ctx.msg.text)
    if match is None or await ops.bot_said(ctx.session, thread, match.answer):
        return ADDED  # no answer, or the same one given in this conversation already
    await faq.record_hit(ctx.session, match.entry_id, ctx.now)
    await ops.add_bot_message(ctx.session, ctx.ops, thread, match.answer)
    return f"{ADDED}\n\n先给您一个参考：\n{match.answer}"
