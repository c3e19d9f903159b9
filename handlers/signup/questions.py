"""Questions a worker asks about an activity while signing up or not (「在哪里培训 几点开始」「培训多长
时间」「收费不」「要带什么」), answered from the activity's own record; and signing a colleague up,
which each person does from their own WeChat."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.core.context import Ctx
from bot.core.normalize import fold
from bot.operations import OpsContext
from handlers.signup import ops


def length_text(a: ops.Activity, octx: OpsContext) -> str:
    """How long it lasts, as people say it: 共2小时, 共1小时30分钟, 共3天."""
    start, end = octx.local(a.starts_at), octx.local(a.ends_at)
    if start.date() != end.date():
        return f"共{(end.date() - start.date()).days + 1}天"
    hours, minutes = divmod(max(int((end - start).total_seconds()) // 60, 0), 60)
    return "共" + ((f"{hours}小时" if hours else "") + (f"{minutes}分钟" if minutes else "") or "不到1分钟")


# What a worker asks about an activity (「在哪里培训 几点开始」「培训多长时间」「收费不」), each answered
# from the activity's own record. How long comes first: its 时间 (多长时间) is no "when".
_ASKS_LONG = re.compile(r"多长时间|多久|多长|几个?小时|几个?钟头|几天|多少天|多少小时|时长|几节课")
_ASKS_WHEN = re.compile(r"几点|什么时候|啥时候|什么时间|几号|哪天|哪一天|星期几|周几|礼拜几|几月|日期|时间|开始|结束")
_ASKS_WHERE = re.compile(r"哪里|哪儿|在哪|哪个地方|什么地方|啥地方|地点|地址|位置|怎么去|怎么走")
_ASKS_COST = re.compile(r"收费|要钱|免费|多少钱|费用|花钱|交钱|付钱|给钱|学费|报名费|钱")
_ASKS_BRING = re.compile(r"带什么|带啥|要带|需要带|得带|带上|携带|准备什么|准备啥|要准备|需要准备|自备")
_ASKS_WHO = re.compile(r"谁能|谁可以|什么人|哪些人|对象|条件|要求|资格|能参加吗|可以参加吗|能报吗|可以报吗")
_ASKS_DEADLINE = re.compile(r"截止|最晚|还能报|还可以报|报到什么时候")
_ASKS_SEATS = re.compile(r"名额|还有位|几个人|多少人|人数|满了|满没满")
_ASKS_CONTENT = re.compile(r"讲什么|学什么|讲啥|学啥|干什么|干啥|做什么|做啥|内容|具体")
# Signing someone else up (「我同事也想去」「我帮同事也报一个」): each signs up from their own WeChat.
FOR_OTHERS = re.compile(r"(?:同事|朋友|工友|家人|老婆|老公|爱人|媳妇|孩子|儿子|女儿|亲戚|别人|其他人)"
                         r"|(?:帮|替|给)(?:他|她|人)|代报|代.?报名|报两个|报俩")
# …said with signing up or going (「我同事也想去」「帮他也报一个」), not any sentence naming a colleague.
SIGNS_UP = re.compile(r"报|参加|也想去|也要去|也去|一起去|想去")
# In the description, the sentence that says what it costs or what to bring (when staff wrote one).
_SAYS_COST = re.compile(r"费|钱|元|免费")
_SAYS_BRING = re.compile(r"带|携带|准备|自备|证件|身份证|穿")
_ANY_FACT = (_ASKS_LONG, _ASKS_WHEN, _ASKS_WHERE, _ASKS_COST, _ASKS_BRING, _ASKS_WHO, _ASKS_DEADLINE, _ASKS_SEATS,
             _ASKS_CONTENT)


def asks_about_activity(text: str) -> bool:
    """Whether a message asks one of the facts an activity's record answers."""
    t = fold(text).lower()
    return any(rx.search(t) for rx in _ANY_FACT)


def _sentence(description: str, says: re.Pattern[str]) -> str:
    """The description's sentence (or line) that says it; "" when none does."""
    for part in re.split(r"(?<=[。！!；;\n])", description or ""):
        if says.search(part):
            return part.strip().rstrip("。；;")
    return ""


def activity_facts(snap: Mapping[str, Any], text: str) -> str | None:
    """The answer to what `text` asks about one activity (its snapshot), in the office's words: what
    the record says, and for what it doesn't say, how to ask staff. None when it asks none of these."""
    t = re.sub(r"\s+", "", fold(text).lower())
    lines: list[str] = []
    missing: list[str] = []
    long_asked = bool(_ASKS_LONG.search(t))
    if _ASKS_WHEN.search(_ASKS_LONG.sub("", t)) or long_asked:
        lines.append(f"时间：{snap['when']}" + (f"，{snap['length']}" if long_asked and snap.get("length") else ""))
    if _ASKS_WHERE.search(t):
        if snap.get("place"):
            lines.append(f"地点：{snap['place']}")
        else:
            missing.append("地点")
    for asks, says, what in ((_ASKS_COST, _SAYS_COST, "费用"), (_ASKS_BRING, _SAYS_BRING, "需要带的东西")):
        if asks.search(t):
            said = _sentence(snap.get("description", ""), says)
            if said:
                lines.append(f"{'费用' if what == '费用' else '需要准备'}：{said}")
            else:
                missing.append("费用" if what == "费用" else "需要带什么")
    if _ASKS_WHO.search(t):
        if snap.get("audience"):
            lines.append(f"对象：{snap['audience']}")
        else:
            missing.append("参加的条件")
    if _ASKS_DEADLINE.search(t):
        lines.append(f"报名截止：{snap['deadline']}")
    if _ASKS_SEATS.search(t):
        lines.append(f"名额：{snap['seats']}")
    if _ASKS_CONTENT.search(t):
        if snap.get("description"):
            lines.append(f"内容：{snap['description']}")
        else:
            missing.append("具体内容")
    if not lines and not missing:
        return None
    out = [f"「{snap['title']}」"] + lines
    if missing:
        out.append(f"活动信息里没有写{'、'.join(missing)}。想问清楚的话，回复「留言」问工作人员，会有专人回复您。")
    return "\n".join(out)


def for_others_text(ctx: Ctx) -> str:
    """Signing up someone else: each person from their own WeChat, or staff 代报名 by phone."""
    o = ctx.settings.office
    return ("报名要用参加人自己的微信：请您同事关注本公众号，发送「报名」就能选活动，填自己的姓名和手机号。"
            f"不方便用微信的，可以在{o.hours}{o.call_line()}，由工作人员代为报名。")
