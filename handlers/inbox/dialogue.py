"""The worker's side of the inbox: a person behind the account.

- 留言 / 人工 / 咨询 / 找人 / 转人工客服 / 我要投诉 … and the menu click CONTACT open a short form:
  pick a topic, write the message (text, voice or a photo); the first message opens the thread
  and gets the FAQ's first answer beside it when one matches. At the topic step 其它 is 其他, a
  topic in other words (就是社保, 欠薪) picks it, a question is taken as the message, and an
  acknowledgement or anything unclear is asked once more before moving on (no loop).
- What no feature took (`@router.unmatched`): with an open thread it is added to it (text,
  voice recognition text, photos); otherwise words of distress reach a person at once with the
  help lines (12356, 110/120); the FAQ answers what it can (legal-aid entries marked 「转人工」
  also reach a person); a bare topic word (社保, 退休金) gets a follow-up question; a message
  that reads like a real question goes to the staff inbox (or to WeChat's customer service with
  `[inbox] transfer_to_wechat_kf`); 「想问个事」 (the question still to come) opens the 留言 form.
  A photo sent first is held for 30 minutes (`HOLD`, a draft of the dialogue) and goes into the
  thread with the words that follow. Small talk and gibberish pass on to the fallback.
- 「有人回复了吗」「我的留言」 (`asks_for_reply`) are answered from the worker's conversation: the
  latest staff answer again with when, or that none came yet and when staff work; never added to
  it. 「我要找王老师」「打电话给我」 (`asks_for_person`) open the 留言 form as 人工 does.
- With a thread open, what is not for staff is answered and not added (`_aside`): chat outside the
  union's business, giving up (算了不问了: 结束咨询 offered), the topic picked again (2, 劳动争议)
  while staff asked nothing, a short side question the FAQ answers on another subject (工会电话多少).
  FAQ answers said inside a thread lose their pointers to 「留言」 (`in_thread`).
- 结束咨询 closes the open thread (结束 / 不用了 too, but only while one is open).
Every change goes through `handlers/inbox/ops.py`; FAQ matching is `handlers/inbox/faq.py`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import re

from bot.core.context import Ctx
from bot.core.forms import Field, Form, Invalid, pick, text_parser
from bot.core.normalize import is_word, parse_choice_number
from bot.core.question import LONG_CONTENT
from bot.core.router import Router, click_is, text_is
from bot.core.types import PASS, Reply, TransferReply
from bot.db.models.inbox import InboxThread
from handlers.inbox import faq, ops
from handlers.inbox.question import (DEFAULT_TOPIC, DISTRESS_HELP, asks_for_person, asks_for_reply, bare_topic,
                                     distress_topic, guess_topic, is_ask_to_ask, is_distress, is_pleasantry,
                                     looks_like_question, pleasantry_kind)

router = Router("inbox")
router.add_menu("留言", "有问题留言给工作人员，有专人回复")

# Whole messages asking for a person (polite wrappers allowed: 我要…, 请…, …一下).
CONTACT_WORDS = ("留言", "人工", "咨询", "联系工会", "找工作人员", "联系工作人员", "工作人员", "转人工", "转人工客服",
                 "转人工服务", "人工客服", "人工服务", "找人工", "接人工", "有人工吗", "真人", "找真人", "真人客服",
                 "有真人吗", "客服", "找客服", "联系客服", "转客服", "找人", "找个人", "找人问问", "找个人问问",
                 "找人问一下", "找你们", "找领导", "找负责人", "留言咨询", "我要留言", "找工会", "投诉", "我要投诉",
                 "举报", "反映问题", "反映情况", "反映")
END_WORDS = ("结束咨询", "结束留言", "结束对话", "关闭咨询")
# Only while a thread is open (elsewhere they mean other things: a form's 结束, hardship's 不用了).
SOFT_END_WORDS = frozenset({"结束", "不用了", "没事了", "不需要了", "问题解决了", "已经解决了", "解决了"})
# At the topic step: 其它 is 其他; 不知道 / 随便: no topic, the message tells.
OTHER_WORDS = frozenset({"其它", "其他", "别的", "其他问题", "其它问题", "别的问题", "别的事", "其他的", "其它的",
                         "都不是", "以上都不是", "都不对"})
UNSURE_WORDS = frozenset({"不知道", "不清楚", "不确定", "说不清", "说不好", "随便", "不懂", "不晓得"})
THANKS = ("谢", "感谢", "辛苦")

FLOW = "inbox"
# A mark in the dialogue (a draft that is no flow) while the worker has an open thread: small
# talk from a worker without one is answered without asking the database (most messages no
# feature takes are 谢谢, 好的, 你好…). Set when a thread opens or grows, dropped when none is found.
MARK = "inbox_thread"
MARK_RENEWAL = timedelta(hours=1)  # how often a follow-up pushes the open-thread mark's expiry on
HOLD = "inbox_photo"  # a draft of the dialogue: photos sent first, waiting for the words that explain them
HOLD_FOR = timedelta(minutes=30)
MAX_HELD = 9


# --- what the worker reads -------------------------------------------------------------

RECEIVED = "收到，您的问题已转给工作人员，会有专人回复您。"


def handed_over(ctx: Ctx, lead: str = RECEIVED) -> str:
    """The honest answer once a question reached the inbox: who, when, where, and if urgent."""
    o = ctx.settings.office
    return (f"{lead}\n"
            f"· 工作人员会在工作时间（{o.hours}）回复，下班后和节假日的留言，上班后尽快回复；\n"
            "· 回复会直接发到这个公众号对话里，请留意消息；\n"
            f"· 情况紧急请{o.call_line()}。\n"
            "还有要补充的，直接发文字、语音或照片就行；问题解决了请回复「结束咨询」。")


def distress_reply(ctx: Ctx) -> str:
    """Words of distress: a person will answer, and the help lines at once. No label, no advice."""
    o = ctx.settings.office
    return ("谢谢您愿意说出来，听起来您最近真的很不容易。您的话已经转给工会的工作人员，会有专人回复您"
            f"（工作时间 {o.hours}）。\n{DISTRESS_HELP}\n"
            "想说什么随时发在这里，我们都会看到。")


def _photo_first(ctx: Ctx) -> str:
    return handed_over(ctx, "照片收到了，已转给工作人员。麻烦再用文字或语音简单说说是什么情况，"
                            "方便工作人员尽快帮您。")


ADDED = "收到，已转给工作人员，回复会发到这里。"
GIVE_UP_OPEN = "好的。您的咨询还开着，工作人员看到后会在这里回复您；如果不需要了，回复「结束咨询」就行。"
OFF_TOPIC_OPEN = "这个话题我可聊不来😊 您的咨询还开着，工作人员会在这里回复您；问题解决了请回复「结束咨询」。"
ASIDE_OPEN = "（您的咨询还开着，工作人员会在这里回复您；问题解决了请回复「结束咨询」。）"
NEVER_WROTE = "您还没有给工作人员留过言。有问题直接发来（打字、语音都可以），或回复「留言」，工作人员会在这里回复您。"
PHOTO_ADDED = "照片已收到并转给工作人员。"
FAQ_MORE = "（没解决您的问题？回复「留言」，工作人员会回复您。）"
CLOSED = "好的，这次咨询已结束，谢谢您的信任。以后有问题随时直接发来，或回复「留言」。"
NOTHING_OPEN = "您现在没有进行中的咨询。有问题随时直接发来，或回复「留言」。"
STILL_OPEN = "您的咨询还开着，工作人员会在这里回复您；问题解决了请回复「结束咨询」。"
HOLD_ASK = "说一下是什么情况（打字、语音都可以），我连同照片一起转给工作人员。"


# 「或回复「留言」问工作人员」 and lines like it: said to a worker whose conversation is open, they
# would send them round in a circle.
_TO_INBOX_CLAUSE = re.compile(r"[，,；;]\s*(?:或者?|也可以|还可以|或是)?(?:直接)?回复「(?:留言|人工|咨询)」[^。；;！!\n]*")
_SENTENCE = re.compile(r"[^。！!？?\n]*[。！!？?]?")


def in_thread(answer: str) -> str:
    """An FAQ answer as said inside an open conversation: its pointers to 「留言」 taken out."""
    lines = []
    for line in answer.split("\n"):
        if "「留言」" in line or "「人工」" in line:
            line = _TO_INBOX_CLAUSE.sub("", line)
            line = "".join(part for part in _SENTENCE.findall(line) if "「留言」" not in part and "「人工」" not in part)
            if not line.strip():
                continue
        lines.append(line)
    return "\n".join(lines).strip() or answer


def _when(ctx: Ctx, at: datetime) -> str:
    """「今天 10:30」「昨天 16:05」「11月3日 9:12」, in the office's time zone."""
    local, today = ctx.ops.local(at), ctx.ops.local().date()
    day = ("今天" if local.date() == today else "昨天" if local.date() == today - timedelta(days=1)
           else f"{local.month}月{local.day}日")
    return f"{day} {local.hour}:{local.minute:02d}"


def _kind(ctx: Ctx) -> str:
    return "voice" if ctx.msg.kind == "voice" else "text"


# --- photos sent first: held until the words come ----------------------------------------

def held_photos(ctx: Ctx) -> list[dict[str, str]]:
    """Photos sent outside any form and thread in the last 30 minutes: [{"m": media id, "k": dedup key}]."""
    draft = ctx.dialogue.drafts.get(HOLD)
    return list((draft or {}).get("data", {}).get("photos") or [])


def _hold(ctx: Ctx, photos: list[dict[str, str]]) -> None:
    ctx.dialogue.drafts[HOLD] = {"state": f"{HOLD}:held", "data": {"photos": photos},
                                 "expires_at": (ctx.now + HOLD_FOR).isoformat()}
    ctx.dialogue.mark()


def take_held(ctx: Ctx) -> list[dict[str, str]]:
    photos = held_photos(ctx)
    ctx.dialogue.drop_draft(HOLD)
    return photos


def _hold_photo(ctx: Ctx) -> str:
    """A photo with no thread and no form: kept for a while, and the worker asked what it is about."""
    photos = held_photos(ctx)
    if len(photos) >= MAX_HELD:
        return f"已经帮您收着{MAX_HELD}张照片了，这张没有保存。{HOLD_ASK}"
    if not any(p["k"] == ctx.msg.dedup_key for p in photos):
        photos.append({"m": ctx.msg.media_id, "k": ctx.msg.dedup_key})
    _hold(ctx, photos)
    if len(photos) > 1:
        return f"第{len(photos)}张照片也帮您收着了。{HOLD_ASK}"
    return (f"收到您的照片了，先帮您收着。{HOLD_ASK}\n"
            "如果是申请帮扶的证明材料，请回复「帮扶」，按提示填写时再发照片。")


# --- opening a thread ----------------------------------------------------------------------

def _mark_open(ctx: Ctx, thread_id: int) -> None:
    """The worker has an open thread: small talk isn't answered blind, and a follow-up goes
    straight to that thread (checked open by the statement that adds it)."""
    expires = ctx.now + timedelta(days=ctx.settings.inbox.close_after_days + 1)
    state = f"{MARK}:open:{thread_id}"
    kept = ctx.dialogue.drafts.get(MARK) or {}
    if kept.get("state") == state and _renewed_lately(kept.get("expires_at"), expires):
        return  # the same mark, renewed within the hour: a follow-up writes no dialogue row
    # The thread id in the state: a draft with no data is a mark, which 算了 keeps (common/dialogue.py).
    ctx.dialogue.drafts[MARK] = {"state": state, "data": {}, "expires_at": expires.isoformat()}
    ctx.dialogue.mark()


def _renewed_lately(expires_at: object, would_be: datetime) -> bool:
    try:
        return would_be - datetime.fromisoformat(str(expires_at)) < MARK_RENEWAL
    except ValueError:
        return False


async def _small_talk_only(ctx: Ctx) -> bool:
    """Nothing here would reach a person or the FAQ (the FAQ is cached: no query)."""
    t = ctx.text
    return not (is_distress(t) or looks_like_question(t) or bare_topic(t) or is_ask_to_ask(t)
                or await faq.match(ctx.session, ctx.msg.text) is not None)


async def _open(ctx: Ctx, topic: str | None, held: Sequence[Mapping[str, str]] = (), *,
                photo: bool = False) -> InboxThread:
    """Open the worker's thread: the held photos first, then this message (words or a photo)."""
    topic = ops.topic_for(ctx.ops, topic, "" if photo else ctx.msg.text)
    for p in held:
        await ops.start_thread(ctx.session, ctx.ops, openid=ctx.openid, member_id=ctx.member_row.id,
                                        topic=topic, kind="image", media_id=p["m"], source_key=p["k"])
    thread = await ops.start_thread(
        ctx.session, ctx.ops, openid=ctx.openid, member_id=ctx.member_row.id, topic=topic,
        kind="image" if photo else _kind(ctx), text="" if photo else ctx.msg.text,
        media_id=ctx.msg.media_id if photo else "", source_key=ctx.msg.dedup_key)
    _mark_open(ctx, thread.id)
    return thread


async def hand_over(ctx: Ctx, topic: str | None, held: Sequence[Mapping[str, str]] = (), *,
                    look_up: bool = True, found: faq.FaqMatch | None = None) -> str:
    """This message (and the held photos) to a person; the FAQ's first answer beside it when one
    matches (`found`: the entry already looked up and counted); the help lines when the words are
    of distress."""
    text = ctx.msg.text
    if is_distress(text):
        await _open(ctx, topic or distress_topic(text, ctx.settings.inbox.topics), held)
        return distress_reply(ctx)
    thread = await _open(ctx, topic, held)
    lead = "收到，您的问题和照片已转给工作人员，会有专人回复您。" if held else RECEIVED
    match = await faq.match(ctx.session, text) if look_up else found
    if match is None:
        return handed_over(ctx, lead)
    if look_up:
        await faq.record_hit(ctx.session, match.entry_id, ctx.now)
    answer = in_thread(match.answer)
    await ops.add_bot_message(ctx.session, ctx.ops, thread, answer)
    return handed_over(ctx, f"{lead}先给您一些参考：\n{answer}\n")


# --- 留言 / 人工 / 咨询: the short form -----------------------------------------------------

async def _topics(ctx: Ctx, data: Mapping[str, Any]) -> list[str]:
    return list(ctx.settings.inbox.topics)


def _message_prompt(ctx: Ctx, data: Mapping[str, Any]) -> str:
    about = data.get("_about")
    if about:  # a bare topic word: asked about as a person would
        return f"关于{about}，您想问哪方面？直接说说情况，打字、发语音都可以，我帮您转给工作人员。"
    return ("请直接写下您的问题，打字、发语音都可以，也可以发照片。说清楚发生了什么、希望工会帮什么，"
            "工作人员能更快帮到您。")


def _default_topic(topics: Sequence[str]) -> str:
    return DEFAULT_TOPIC if DEFAULT_TOPIC in topics else topics[-1]


class ContactForm(Form):
    """Pick a topic, then the first message (text, voice or a photo) opens the thread."""

    flow = FLOW
    title = "留言"
    confirm = False
    takes_questions = True  # other forms' re-asks point here for a question that isn't theirs
    fields = (
        Field("topic", "请问您想咨询哪方面的问题？", label="问题类型", choices=_topics),
        Field("message", _message_prompt, parse=text_parser(2, 1000), label="留言内容"),
    )

    async def prepare(self, ctx: Ctx) -> str | dict[str, Any]:
        thread = await ops.open_thread(ctx.session, ctx.openid)
        if thread is not None:
            return (f"您已有一个咨询正在进行（{thread.topic}），工作人员会在这里回复您。\n"
                    "要补充的话直接发文字、语音或照片就行，都会放进同一个咨询里；问题解决了请回复「结束咨询」。")
        held = take_held(ctx)
        return {"held": held} if held else {}

    def intro(self, ctx: Ctx, data: Mapping[str, Any]) -> str | None:
        if data.get("held"):
            return "好的，我们帮您把问题转给工作人员，刚才的照片也会一起转过去。"
        return "好的，我们帮您把问题转给工作人员。"

    async def start_about(self, ctx: Ctx, word: str) -> Reply | str | None:
        """A bare topic word (社保): the topic preset, the worker asked what about it."""
        topics = list(ctx.settings.inbox.topics)
        ctx.dialogue.drop_draft(self.flow)
        return await self._advance(ctx, {"topic": guess_topic(word, topics) or _default_topic(topics),
                                         "_about": word})

    def cancel(self, ctx: Ctx) -> str:
        ctx.dialogue.clear()
        return "好的，已取消留言，没有转交任何内容。需要时随时再来找我们。"

    async def handle(self, ctx: Ctx) -> Reply | str | None:
        step = (ctx.dialogue.state or "").split(":", 1)[-1]
        data = dict(ctx.dialogue.data)
        text = ctx.text if ctx.msg.kind in ("text", "voice") else ""
        if text and (is_word(text, END_WORDS) or is_word(text, SOFT_END_WORDS)):
            return self.cancel(ctx)
        if text and step in ("topic", "message") and asks_for_person(text):  # 我要找王老师: that is what this is
            return await self.resume(ctx, "好的，就是帮您转给工作人员，我们接着来：")
        if ctx.msg.kind == "image" and step in ("topic", "message"):
            # A photo is kept at once (it may be the whole story: a pay slip, an injury).
            ctx.dialogue.clear()
            await _open(ctx, data.get("topic"), data.get("held") or (), photo=True)
            return _photo_first(ctx)
        if step == "topic" and text:
            return await self._at_topic(ctx, data, text)
        if step == "message" and text:
            topics = list(ctx.settings.inbox.topics)
            if is_word(text, OTHER_WORDS) or is_word(text, topics):  # still choosing: the topic, then the message
                data["topic"] = _default_topic(topics) if is_word(text, OTHER_WORDS) else pick(ctx.msg.text, topics)
                return await self._ask(ctx, self.fields[1], data, f"好的，是{data['topic']}方面的问题。")
            if not data.get("_about") and bare_topic(text):
                data["_about"] = bare_topic(text)  # 「社保」 is no message yet: what about it?
                return await self._ask(ctx, self.fields[1], data)
        return await super().handle(ctx)

    async def _at_topic(self, ctx: Ctx, data: dict[str, Any], text: str) -> Reply | str | None:
        """A topic by number or name, in other words, or the question straight away; anything else
        is asked about once, then the form moves on (a worker never loops here)."""
        topics = list(ctx.settings.inbox.topics)
        default = _default_topic(topics)
        said = default if is_word(text, OTHER_WORDS) else ctx.msg.text
        try:
            pick(said, topics)
        except Invalid as exc:
            hint = exc.hint
        else:
            return await super().handle(ctx.with_text(said))
        if is_word(text, UNSURE_WORDS):
            data["topic"] = default
            return await self._advance(ctx, data, "没关系。")
        word = bare_topic(text)  # 就是社保, 工伤的事
        guessed = guess_topic(word or text, topics, default=None)
        if word is None and (is_distress(text) or looks_like_question(text)):
            ctx.dialogue.clear()  # the question straight away: taken as it is, the topic guessed
            return await hand_over(ctx, None, data.get("held") or ())
        if guessed is not None or word is not None:  # 「欠薪」「摔伤了」: the topic in other words
            return await super().handle(ctx.with_text(guessed or default))
        if data.get("_nudged"):
            data["topic"] = default
            return await self._advance(ctx, data, "好的。")
        data["_nudged"] = True
        nudge = "选不准也没关系，直接说说您的问题也行。"
        return await self._ask(ctx, self.fields[0], data, nudge if is_pleasantry(text) else f"{hint}{nudge}")

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        return await hand_over(ctx, data.get("topic"), data.get("held") or ())


FORM = ContactForm.mount(router, start=text_is(*CONTACT_WORDS) | click_is("CONTACT"), resume_word="留言")


# --- 有人回复了吗 / 我的留言 ----------------------------------------------------------------
# Read in `catch_unmatched`, not as routes: the dispatcher's routes are keywords compared as sets.

async def tell_reply_status(ctx: Ctx) -> Reply | str:
    """Whether staff answered: their latest answer again (with when), or that none came yet and
    when staff work. The question itself is not added to the conversation (nothing for staff)."""
    found = await ops.last_reply(ctx.session, ctx.openid)
    if found is None:
        return TransferReply() if ctx.settings.inbox.transfer_to_wechat_kf else NEVER_WROTE
    thread, staff, answered = found
    o = ctx.settings.office
    if thread.status != "open":
        ended = f"您在{_when(ctx, thread.created_at)} 开始的咨询（{thread.topic}）已经结束了。"
        if staff is not None:
            ended = f"工作人员最近一次回复您是在{_when(ctx, staff.at)}：\n{staff.text}\n\n这次咨询已经结束了。"
        return f"{ended}还有问题随时直接发来，或回复「留言」，工作人员会在这里回复您。"
    if staff is not None and answered:
        return (f"工作人员已经回复您了（{_when(ctx, staff.at)}）：\n{staff.text}\n\n"
                "还有问题直接发来就行；问题解决了请回复「结束咨询」。")
    since = thread.waiting_since or thread.last_message_at
    text = (f"您在{_when(ctx, since)} 发来的留言（{thread.topic}）工作人员还没有回复，请再耐心等一等。"
            f"工作人员在工作时间（{o.hours}）回复，下班后和节假日的留言，上班后尽快回复；回复会直接发到这里。\n"
            f"情况紧急请{o.call_line()}。")
    if staff is not None:
        text += f"\n\n工作人员上一次回复您是在{_when(ctx, staff.at)}：\n{staff.text}"
    return text


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
    """An open thread takes everything; else distress, held photos, the FAQ, a bare topic word,
    and a real question reach a person."""
    if ctx.msg.kind == "event":
        return PASS
    if ctx.msg.kind in ("text", "voice") and ctx.text and not is_distress(ctx.text):
        if asks_for_reply(ctx.text):  # 有人回复了吗, 我的留言: said from the conversation, not added to it
            return await tell_reply_status(ctx)
        if asks_for_person(ctx.text):  # 我要找王老师, 打电话给我: the same way to a person as 留言 / 人工
            return await FORM.start(ctx)
    drafts = ctx.dialogue.drafts
    if (ctx.msg.kind in ("text", "voice") and ctx.text and MARK not in drafts and HOLD not in drafts
            and await _small_talk_only(ctx)):
        return PASS  # no thread was opened here lately: the friendly answer, without a query
    aside = await _aside(ctx)
    if aside is not None:
        return aside
    marked = str((drafts.get(MARK) or {}).get("state", "")).rpartition(":")[2]
    if marked.isdecimal():  # the thread opened lately: two statements, no lookup
        answer = await _follow_up_on(ctx, int(marked))
        if answer is not None:
            return answer
    thread = await ops.open_thread(ctx.session, ctx.openid)
    if thread is not None:
        _mark_open(ctx, thread.id)
        return await _follow_up(ctx, thread)
    if MARK in drafts:
        ctx.dialogue.drop_draft(MARK)  # closed by staff or by time since
    if ctx.msg.kind == "image":
        return TransferReply() if ctx.settings.inbox.transfer_to_wechat_kf else _hold_photo(ctx)
    held = held_photos(ctx)
    if ctx.msg.kind not in ("text", "voice"):
        return f"照片还帮您收着，{HOLD_ASK}" if held else PASS
    if not ctx.text:
        return "这条语音没有识别出文字，麻烦您再说一遍或打字。照片还帮您收着。" if held else PASS
    if is_distress(ctx.text) or (held and not is_pleasantry(ctx.text)):
        return await hand_over(ctx, None, take_held(ctx))  # the words that explain the photos
    if held:  # small talk answered as a person would, then the photos are brought up again
        opener = {"presence": "在的～", "thanks": "不客气～", "greeting": "您好～"}.get(pleasantry_kind(ctx.text) or "",
                                                                                   "好的～")
        return f"{opener}照片还帮您收着，{HOLD_ASK}"
    question = looks_like_question(ctx.text)
    match = await faq.match(ctx.session, ctx.msg.text)
    if match is not None:
        await faq.record_hit(ctx.session, match.entry_id, ctx.now)
        if not (match.to_inbox and question):
            return f"{match.answer}\n\n{FAQ_MORE}"
        return await hand_over(ctx, match.topic or None, look_up=False, found=match)
    if not held and (how := _how_to(ctx)) is not None:  # 帮扶申请怎么弄: the keyword answers it
        return f"{how}\n{FAQ_MORE}"
    word = bare_topic(ctx.text)  # 社保, 退休金: what about it?
    asking = is_ask_to_ask(ctx.text)  # 「想问个事」: the question is still to come
    if not (question or asking or word):
        return PASS
    if ctx.settings.inbox.transfer_to_wechat_kf:
        return TransferReply()
    if word:
        return await FORM.start_about(ctx, word)
    if asking:
        return await FORM.start(ctx)
    return await hand_over(ctx, None, look_up=False)


def _picks_again(ctx: Ctx, *topics: str) -> bool:
    """A bare number (2, 五, 第二个), 其他, or one of `topics` by name (劳动争议): the topic step
    answered again, not words for staff."""
    text = ctx.text
    n = parse_choice_number(text)
    if n is not None:
        return 1 <= n <= 9
    if is_word(text, OTHER_WORDS):
        return True
    for topic in topics:
        try:
            if len(text) >= 2 and pick(text, [topic]) == topic:
                return True
        except Invalid:
            pass
    return False


async def _aside(ctx: Ctx) -> str | None:
    """With a conversation open, what is not for staff is answered here and not added to it: chat
    outside the union's business, giving up (算了不问了), the topic picked again while staff have
    not asked anything, and a short side question the FAQ answers on another subject (工会电话多少).
    None for everything else (and when no conversation is open)."""
    text = ctx.text
    if ctx.msg.kind not in ("text", "voice") or not text or is_distress(text):
        return None
    kind = pleasantry_kind(text)
    match: faq.FaqMatch | None = None
    if kind not in ("offtopic", "giveup") and not _picks_again(ctx, *ctx.settings.inbox.topics):
        if sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff") >= LONG_CONTENT:
            return None  # the worker's story: for staff, whatever else it names
        match = await faq.match(ctx.session, ctx.msg.text)
        if match is None or match.to_inbox:
            return None
    thread = await ops.open_thread(ctx.session, ctx.openid)
    if thread is None:
        return None
    if kind == "offtopic":
        return OFF_TOPIC_OPEN
    if kind == "giveup":
        return GIVE_UP_OPEN
    if _picks_again(ctx, thread.topic):
        if await ops.staff_spoke_last(ctx.session, thread.id):
            return None  # staff asked something: 「2」 is the answer
        _mark_open(ctx, thread.id)
        return (f"您的问题已经按「{thread.topic}」转给工作人员了，不用再选分类或序号。"
                f"如果「{text}」是想补充什么，麻烦说完整一些（打字、语音都可以），我再转给工作人员；"
                "问题解决了请回复「结束咨询」。")
    if match is None:  # 入会 in a conversation about wages: a side question after all?
        match = await faq.match(ctx.session, ctx.msg.text)
    if match is None or match.to_inbox or (match.topic and match.topic == thread.topic):
        return None  # on the conversation's own subject, or for a person: it joins the conversation
    _mark_open(ctx, thread.id)
    await faq.record_hit(ctx.session, match.entry_id, ctx.now)
    return f"{in_thread(match.answer)}\n\n{ASIDE_OPEN}"


def _how_to(ctx: Ctx) -> str | None:
    """「帮扶申请怎么弄」: what the bot itself does, said with its keyword; None for anything else."""
    found = ctx.dispatcher.how_to(ctx.text) if ctx.dispatcher is not None else None
    return None if found is None else f"{found[1]}，直接回复「{found[0]}」就可以，我会一步步告诉您怎么做。"


def _addition(ctx: Ctx) -> dict[str, Any] | None:
    """What this message adds to an open thread (`ops.add_worker_message` keywords); None for a
    message that adds nothing as it is (closing words, kinds staff can't receive, empty voice)."""
    kind = ctx.msg.kind
    if kind == "image":
        return {"kind": "image", "media_id": ctx.msg.media_id, "source_key": ctx.msg.dedup_key}
    if kind not in ("text", "voice") or not ctx.text or is_word(ctx.text, SOFT_END_WORDS):
        return None
    # 谢谢 / 好的 / 在吗: staff see it, it doesn't make the thread unanswered
    return {"kind": _kind(ctx), "text": ctx.msg.text, "source_key": ctx.msg.dedup_key,
            "waiting": pleasantry_kind(ctx.text) is None}


async def _follow_up_on(ctx: Ctx, thread_id: int) -> str | None:
    """A follow-up to the thread the dialogue remembers, added by the statement that checks it is
    still open; None when there is nothing to add or it was closed since (the full path decides)."""
    add = _addition(ctx)
    if add is None:
        return None
    thread = await ops.add_to_open_thread(ctx.session, ctx.ops, thread_id, ctx.openid, **add)
    if thread is None:
        return None
    _mark_open(ctx, thread.id)
    return await _added(ctx, thread, add)


async def _follow_up(ctx: Ctx, thread: InboxThread) -> str:
    """A message while the thread is open: added to it (stored once per inbound message)."""
    add = _addition(ctx)
    if add is not None:
        await ops.add_worker_message(ctx.session, ctx.ops, thread, **add)
        return await _added(ctx, thread, add)
    kind = ctx.msg.kind
    if kind not in ("text", "voice"):
        what = {"location": "位置", "link": "链接"}.get(kind, "视频")
        return f"这里只能转交文字、语音和照片，刚才的{what}没有转过去。麻烦您用文字或语音说一下，工作人员会在这里回复您。"
    if not ctx.text:
        return "这条语音没有识别出文字，工作人员收不到语音本身。麻烦您再说一遍或打字发送。"
    await ops.close_by_worker(ctx.session, ctx.ops, ctx.openid)  # 算了 / 没事了
    return CLOSED


async def _added(ctx: Ctx, thread: ops.ThreadRef, add: Mapping[str, Any]) -> str:
    """The answer to a message just added to the worker's open thread."""
    if add["kind"] == "image":
        return PHOTO_ADDED
    if not add["waiting"]:
        if pleasantry_kind(ctx.text) in ("bot", "presence"):
            return (f"您好！这里是{ctx.settings.office.name}的自动回复。您的咨询已经转给工作人员，他们会在工作时间"
                    f"（{ctx.settings.office.hours}）在这里回复您；问题解决了请回复「结束咨询」。")
        lead = "不客气！" if any(w in ctx.text for w in THANKS) else "收到。"
        return lead + STILL_OPEN
    if is_distress(ctx.text):
        return f"您的话已经转给工作人员，我们都会看到。\n{DISTRESS_HELP}"
    match = await faq.match(ctx.session, ctx.msg.text)
    answer = in_thread(match.answer) if match is not None else _how_to(ctx)  # the FAQ, else 「回复「报名」就可以」
    if answer is None or await ops.bot_said(ctx.session, thread, answer):
        return ADDED  # no answer, or the same one given in this conversation already
    if match is not None:
        await faq.record_hit(ctx.session, match.entry_id, ctx.now)
    await ops.add_bot_message(ctx.session, ctx.ops, thread, answer)
    return f"{ADDED}\n\n先给您一个参考：\n{answer}"
