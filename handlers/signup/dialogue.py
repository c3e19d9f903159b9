"""Trainings and events in chat: 报名, 我的报名, 取消报名 N, 签到 CODE and the check-in QR scan.

报名 (or the menu click SIGNUP) opens `SignupForm` on the form engine (states `signup:*`):

    signup:activity   the numbered open activities (a refusal — full, closed, cancelled,
                      already signed up — says so and stays here)
    signup:name / signup:phone / signup:employer
                      only what the member's profile lacks: asked once, then brought
                      along automatically (employer is optional; 跳过 stores "" so it is
                      not asked again)
    signup:confirm    the activity's details, seats (or 「名额已满，确认后加入候补」) and the
                      contact details on file; 确认 signs up, 修改 changes the contact details

上一步, 跳过, 沿用, 确认/修改/取消, photos and other features' keywords (the form is kept as a
draft; 「报名」 brings it back) are the engine's and the dispatcher's. A question at any step
(「在哪里培训 几点开始」「收费不」) is answered from the activity's record and the step asked again
(`SignupForm.answer_question`); 取消 says the sign-ups held are kept; 「我同事也想去」 is told how a
colleague signs up. Giving a sign-up up (「电工培训我不去了」) is an interrupt: the cancel question,
this form (or another) kept as a draft. Outside a form, a short question naming an activity
(「健步走几号」) and signing a colleague up are answered before the inbox passes them to staff.
A refusal found when signing up (the deadline passed meanwhile, the last seat went) goes back
to the list and keeps the contact details. The rules live in `handlers.signup.ops` (staff views in
`handlers.signup.reports`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.core.community import ask_community, community_field
from bot.core.context import Ctx
from bot.core.forms import BACK_WORDS, CONFIRM_WORDS, RESERVED, Field, Form, Invalid, Recheck, Stop
from bot.core.normalize import NotANumber, fold, is_word, parse_choice_number, parse_int, variants
from bot.core.question import asks_status, is_distress, looks_like_question
from bot.core.router import Filter, Flow, Router, click_is, text_has, text_if, text_is, text_matches
from bot.core.types import PASS, Reply
from bot.core.validators import employer_parser, mask_phone, parse_mobile, parse_name
from bot.operations import OpsContext
from handlers.signup import ops
from handlers.signup.questions import (FOR_OTHERS, SIGNS_UP, activity_facts, asks_about_activity, for_others_text,
                                       length_text)

router = Router("signup")
router.add_menu("报名", "报名参加职工培训和文化活动")
router.add_menu("我的报名", "查看或取消我的报名")

TTL = timedelta(hours=2)
SCENE_PREFIX = ops.CHECKIN_SCENE

NOTHING_OPEN = "目前没有可以报名的培训或活动，有新活动时我们会在这里发布，欢迎常来看看。"
# What happened; the caller adds what the worker can do next.
REFUSALS = {
    "missing": "这个活动已经不在报名列表里了。",
    "cancelled": "很抱歉，这个活动已取消，不能报名了。",
    "deadline": "这个活动的报名已经截止了。",
    "full": "这个活动的名额已满，也不设候补。",
}
PICK_ANOTHER = "可以选择下面的其他活动，或回复「取消」退出。"
CHECKIN_TEXTS = {
    "unknown_code": "签到码不对。请核对现场公布的6位数字，再回复「签到」加这6位数字，例如「签到 123456」。",
    "cancelled": "这个活动已取消，无需签到。",
    "late": "活动已经结束，签到已关闭。如您确实参加了，请联系现场工作人员补签。",
    "not_signed": "您还没有报名这个活动，请联系现场工作人员。",
    "waitlist": "您目前还在候补名单中，暂未获得名额，请联系现场工作人员。",
}
HOW_TO_CHECK_IN = "到场后请回复「签到」加现场公布的6位数字，例如「签到 123456」；也可以扫现场的签到二维码。"
QR_UNKNOWN = "这个签到二维码已失效。请回复「签到」加现场公布的6位数字，例如「签到 123456」。"

MINE = {"confirmed": "（您已报名）", "waitlist": "（您在候补中）"}

ASK_NAME = "请回复您的真实姓名："
FIRST_TIME = "报名需要登记姓名和手机号，只问一次，下次自动带出。\n"
ASK_PHONE = "请回复您的手机号码（11位），方便活动变动时联系您："
ASK_EMPLOYER = "请回复您的工作单位（用于培训记录）："


# ----------------------------------------------------------------------------- the form
def _listing_line(a: ops.Activity, mine: str | None, octx: OpsContext) -> str:
    return (f"【{a.kind_zh}】{a.title}{MINE.get(mine or '', '')}\n"
            f"   {ops.when_text(a, octx.tz, octx.now)}｜{a.place}｜{ops.seats_text(a)}")


def _snapshot(a: ops.Activity, mine: str | None, octx: OpsContext, now: datetime) -> dict[str, Any]:
    """What the summary and the checks need of one activity, read with this message (at `now`)."""
    dl = octx.local(a.deadline)
    return {"head": f"【{a.kind_zh}】{a.title}", "title": a.title, "when": ops.when_text(a, octx.tz, now),
            "place": a.place, "audience": a.audience or "", "description": a.description or "",
            "deadline": f"{dl.month}月{dl.day}日 {dl:%H:%M}", "seats": ops.seats_text(a),
            "length": length_text(a, octx),
            "full": a.capacity is not None and a.taken >= a.capacity,
            "refusal": ops.refusal(a, now), "mine": mine}


async def _load_activities(ctx: Ctx, ids: set[int]) -> dict[str, dict[str, Any]]:
    """Fresh snapshots of these activities (a vanished one is simply absent)."""
    acts = await ops.activities_by_id(ctx.session, ids)
    mine = await ops.member_statuses(ctx.session, ctx.member.id, [a.id for a in acts]) if acts else {}
    octx = ctx.ops
    now = octx.now
    return {str(a.id): _snapshot(a, mine.get(a.id), octx, now) for a in acts}


async def _activity_choices(ctx: Ctx, data: Mapping[str, Any]) -> list[tuple[int, str]]:
    """The open activities, numbered; their snapshots go into the form's data."""
    octx = ctx.ops
    acts = await ops.open_activities(ctx.session, octx)
    mine = await ops.member_statuses(ctx.session, ctx.member.id, [a.id for a in acts]) if acts else {}
    # The engine passes the form's own data: the snapshots are kept with it for the summary.
    now = octx.now
    data["_acts"] = {str(a.id): _snapshot(a, mine.get(a.id), octx, now) for a in acts}  # type: ignore[index]
    # An activity chosen before (上一步, a refusal) is not offered with 沿用: the list is shown again.
    data.get("_prefill", {}).pop("activity", None)
    return [(a.id, _listing_line(a, mine.get(a.id), octx)) for a in acts]


def _activity_prompt(ctx: Ctx, data: Mapping[str, Any]) -> str:
    if not data.get("_choices", {}).get("activity"):
        return NOTHING_OPEN
    return "近期可报名的活动："


def _no_activity(text: str) -> Any:
    """Only reached when the list is empty (all activities closed meanwhile)."""
    raise Stop(NOTHING_OPEN)


def _refusal_text(snap: Mapping[str, Any] | None) -> str | None:
    """Why this activity can't be chosen now, in words; None when it can."""
    if snap is None:
        return REFUSALS["missing"]
    if snap.get("mine") == "confirmed":
        return f"您已经报名了「{snap['title']}」，无需重复报名，回复「我的报名」可查看。"
    if snap.get("mine") == "waitlist":
        return f"您已在「{snap['title']}」的候补名单中，有名额会马上通知您，回复「我的报名」可查看。"
    if snap.get("refusal"):
        return REFUSALS[snap["refusal"]]
    return None


def _check_activity(value: Any, data: Mapping[str, Any]) -> None:
    why = _refusal_text(data.get("_acts", {}).get(str(value)))
    if why:
        raise Invalid(f"{why}\n{PICK_ANOTHER}")


class ActivityField(Field):
    """The numbered list: a number outside it is said so (not matched against the times in the lines)."""

    def read(self, raw: str, choices: Any = None) -> Any:
        n = parse_choice_number(raw)
        if choices and n is not None and not 1 <= n <= len(choices):
            raise Invalid(f"没有第{n}个活动，请回复 1–{len(choices)} 之间的序号。")
        try:
            return super().read(raw, choices)
        except Invalid:
            named = best_title(raw, [(v, label.split("\n", 1)[0]) for v, label in choices or ()])
            if named is None:
                raise
            return named


# Words of the sentence around a title: they name no activity.
_GENERIC = frozenset({"报名", "参加", "那个", "这个", "一个", "我想", "我要", "想报", "我是", "是想"})


def _pairs(text: str) -> set[str]:
    han = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff" or ch.isalnum())
    return {han[i:i + 2] for i in range(len(han) - 1)} - _GENERIC


def best_title(text: str, titles: Sequence[tuple[Any, str]]) -> Any | None:
    """The one of (value, title) a message names by the title's own words (「电工培训」「报那个电工的」
    → 电工技能培训): the most two-character words shared, ahead of every other; None otherwise."""
    said = _pairs(text)
    scored = sorted(((len(said & _pairs(title)), value) for value, title in titles), key=lambda s: -s[0])
    if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    return scored[0][1]


async def _held(ctx: Ctx) -> list[str]:
    """The titles of the worker's live sign-ups."""
    return [a.title for _, a in await ops.my_signups(ctx.session, ctx.ops, ctx.member.id)]


GO_ON = "\n我们接着报名："
GO_ON_SELF = "\n您本人的报名我们接着填："


def _name_prompt(ctx: Ctx, data: Mapping[str, Any]) -> str:
    # The first time only: not on a re-ask after a hint (the step is marked asked once answered
    # at), nor after 上一步 or 修改 (the earlier answer is on offer).
    first = (not ctx.member.name and "name" not in data.get("_prefill", {})
             and not data.get("_asked_known", {}).get("name"))
    return (FIRST_TIME if first else "") + ASK_NAME


def _mobile(text: str) -> str:
    """An 11-digit mobile; voice's 「幺三八……」 spelled in Chinese digits too."""
    return parse_mobile(fold(text).translate(_CN_DIGITS))


def _known_employer(ctx: Ctx) -> Any:
    """The employer on file; "" (asked before and skipped) counts as known and shows as （未填）."""
    employer = ctx.member.employer
    if employer is None:
        return None
    return employer or False


def _save_profile(ctx: Ctx, data: Mapping[str, Any]) -> Any:
    """The contact details go to the profile: asked once, brought along next time."""
    m = ctx.member
    if data.get("name"):
        m.name = data["name"]
    if data.get("phone"):
        m.phone = data["phone"]
    if "employer" in data:
        m.employer = data["employer"] or ""  # "" = asked and skipped: not asked again
    if "community" in data:
        m.community = data["community"] or ""  # "" = 不清楚 / skipped: not asked again
    return m


# At the summary: another activity instead (「能换一个吗」「我想报别的」).
_ANOTHER = re.compile(r"换一个|换个|换别的|换成|报别的|选别的|不报这个|换活动")


class SignupForm(Form):
    flow = "signup"
    title = "活动报名"
    ttl = TTL
    fields = (
        ActivityField("activity", _activity_prompt, parse=_no_activity, choices=_activity_choices,
                      check=_check_activity),
        Field("name", _name_prompt, parse=parse_name, label="姓名", known=lambda ctx: ctx.member.name),
        Field("phone", ASK_PHONE, parse=_mobile, label="手机号", known=lambda ctx: ctx.member.phone,
              show=mask_phone),
        Field("employer", ASK_EMPLOYER, parse=employer_parser(128, "请回复工作单位的名称（2–128个字）。"), label="工作单位", optional=True,
              known=_known_employer, show=lambda v: v or "（未填）"),
        community_field(),  # only with [federation] communities; asked once, kept on the profile
    )

    async def prepare(self, ctx: Ctx) -> str | dict[str, Any]:
        if not await ops.open_activities(ctx.session, ctx.ops):
            return NOTHING_OPEN
        return {**ask_community(ctx), "_held": await _held(ctx)}

    async def _refresh(self, ctx: Ctx) -> None:
        """Read the listed and the chosen activity again: seats and deadlines move (and the
        worker's own sign-ups, which 取消 here must not be taken for)."""
        data = ctx.dialogue.data
        ids = {int(k) for k in data.get("_acts", {})}
        if data.get("activity") is not None:
            ids.add(int(data["activity"]))
        ctx.dialogue.data = {**data, "_acts": await _load_activities(ctx, ids), "_held": await _held(ctx)}

    def cancel(self, ctx: Ctx) -> str:
        """取消 in this form drops only this new sign-up; the worker's sign-ups stay, and the reply
        says so (and how to cancel one), since 「已取消活动报名」 read as if they were gone."""
        held = list(ctx.dialogue.data.get("_held") or [])
        ctx.dialogue.clear()
        head = "好的，这次的报名不填了，刚才填写的内容没有保存。"
        if not held:
            return head + "需要时回复「报名」再来。"
        titles = "、".join(f"「{t}」" for t in held[:3]) + ("等" if len(held) > 3 else "")
        return (f"{head}\n您已有的报名{titles}不受影响，仍然有效。"
                "如果是想取消已有的报名，请回复「取消报名」。")

    async def answer_question(self, ctx: Ctx, data: Mapping[str, Any], text: str) -> str | None:
        """「在哪里培训 几点开始」「培训多长时间」「收费不」 at any step: answered from the activity being
        signed up for (or the one the question names; at the list, the only one listed), then the
        step is asked again. Signing a colleague up: how that is done."""
        if FOR_OTHERS.search(fold(text)) and SIGNS_UP.search(fold(text)):  # 「我同事能报吗」
            return for_others_text(ctx) + GO_ON_SELF
        acts = data.get("_acts", {})
        listed = [(k, v["title"]) for k, v in acts.items()]
        key = best_title(text, listed)
        if key is None and data.get("activity") is not None:
            key = str(data["activity"])
        if key is None and len(listed) == 1:
            key = listed[0][0]
        snap = acts.get(str(key)) if key is not None else None
        if snap is None:
            if not asks_about_activity(text):
                return None
            return "列表里每个活动的时间、地点和名额都写着；问具体哪个活动，可以带上它的名字，例如「电工培训收费吗」。"
        facts = activity_facts(snap, text)
        return None if facts is None else facts + GO_ON

    async def handle(self, ctx: Ctx) -> Reply | str | None:
        await self._refresh(ctx)
        data = ctx.dialogue.data
        step = (ctx.dialogue.state or "").split(":", 1)[-1]
        if step in ("confirm", "edit") and data.get("activity") is None:  # a dialogue from before the engine
            ctx.dialogue.clear()
            return f"抱歉，{self.title}的流程有更新，麻烦您重新开始，回复「{self.resume_word}」即可。"
        f = self._field(step)
        if f is not None and f.known is not None:
            # Asked because the profile lacks it: 上一步 comes back here (the engine only
            # skips fields the profile answered).
            ctx.dialogue.data = {**data, "_asked_known": {**data.get("_asked_known", {}), step: True}}
        text = ctx.text if ctx.msg.kind in ("text", "voice") else ""
        hint = self._not_an_answer(ctx, step, text) if f is not None and text else ""
        if hint:
            return self._closed_if_empty(ctx, await self._ask(ctx, f, dict(ctx.dialogue.data), hint))
        if step == "confirm" and text and looks_like_question(text):
            answer = await self.answer_question(ctx, ctx.dialogue.data, text)
            if answer:  # the summary shows it all, but the question is answered first
                answer = answer.removesuffix(GO_ON).removesuffix(GO_ON_SELF)
                return self._show_summary(ctx, dict(ctx.dialogue.data), answer)
        if step == "confirm" and ctx.msg.kind in ("text", "voice") and is_word(ctx.text, BACK_WORDS):
            return await self._back_from_summary(ctx, dict(ctx.dialogue.data))
        if step in ("confirm", "edit") and ctx.msg.kind in ("text", "voice") and _ANOTHER.search(ctx.text):
            data = {k: v for k, v in ctx.dialogue.data.items() if k != "activity"}  # contact details kept
            return self._closed_if_empty(ctx, await self._ask(ctx, self.fields[0], data, "好的，请重新选一个："))
        return self._closed_if_empty(ctx, await super().handle(ctx))

    @staticmethod
    def _not_an_answer(ctx: Ctx, step: str, text: str) -> str:
        """What a message at a question of this form is when it is no answer to it: signing a
        colleague up, giving up (no sign-up is held, else the interrupt asked which), 确认 at the
        list. The hint said before the question is asked again; "" for an answer."""
        said = fold(text)
        if FOR_OTHERS.search(said) and SIGNS_UP.search(said):  # 「我同事也想去」: no name
            return for_others_text(ctx) + GO_ON_SELF
        if re.search(_GIVE_UP, said):  # 「电工培训我不去了」: no choice either
            return "您是不想报这次的活动了吗？不报了请回复「取消」（已有的报名不受影响）；想报名请接着回答："
        if step == "activity" and (is_word(text, RESERVED) or is_word(text, CONFIRM_WORDS)) \
                and not is_word(text, BACK_WORDS):  # 「确认」 at the list: nothing chosen to confirm yet
            return "还没有选活动哦。请回复要报名的活动前面的序号，例如「1」；不报了请回复「取消」。"
        return ""

    async def resume(self, ctx: Ctx, hint: str) -> Reply | str | None:
        await self._refresh(ctx)
        return self._closed_if_empty(ctx, await super().resume(ctx, hint))

    def _closed_if_empty(self, ctx: Ctx, reply: Reply | str | None) -> Reply | str | None:
        """Back at the list and nothing is open any more: the reply says so, and the form ends."""
        listed = ctx.dialogue.data.get("_choices", {}).get("activity")
        if ctx.dialogue.state == f"{self.flow}:activity" and not listed:
            ctx.dialogue.clear()
        return reply

    async def _back_from_summary(self, ctx: Ctx, data: dict[str, Any]) -> Reply | str | None:
        """上一步 at the summary: the last question actually asked (the list when the profile knew all)."""
        asked = [f for f in self.fields
                 if f.asked(data) and (f.known is None or data.get("_asked_known", {}).get(f.name))]
        prev = asked[-1]
        old = data.pop(prev.name, None)
        if old is not None and old != "":
            data.setdefault("_prefill", {})[prev.name] = old
        return self._closed_if_empty(ctx, await self._ask(ctx, prev, data, "好的，回到上一步："))

    def cross_check(self, ctx: Ctx, data: Mapping[str, Any]) -> None:
        """Before the summary and on 确认: the chosen activity, as read with this message."""
        if data.get("activity") is None:
            return
        why = _refusal_text(data.get("_acts", {}).get(str(data["activity"])))
        if why:
            raise Recheck(why, ["activity"])

    def summary(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        a = data.get("_acts", {}).get(str(data.get("activity")))
        lines = ["请核对报名信息："]
        if a is None:
            lines.append(REFUSALS["missing"])
        else:
            lines += [a["head"], f"时间：{a['when']}", f"地点：{a['place']}"]
            if a["audience"]:
                lines.append(f"对象：{a['audience']}")
            if a["description"]:
                lines.append(a["description"])
            lines.append(f"报名截止：{a['deadline']}｜{a['seats']}")
        lines.append(f"报名人：{data.get('name')} {mask_phone(data.get('phone'))}")
        lines.append(f"工作单位：{data.get('employer') or '（未填）'}")
        community = next(f for f in self.fields if f.name == "community")
        if community.asked(data):
            lines.append(f"所在社区：{community.display(data.get('community'))}")
        if a is not None and a["full"]:
            lines.append("名额已满，确认后加入候补，有人取消时按先后顺序自动递补。")
        lines.append("回复「确认」报名，「修改」更改联系方式，「取消」放弃。")
        return "\n".join(lines)

    async def _return_to(self, ctx: Ctx, data: dict[str, Any], exc: Recheck, hint: str = "") -> Reply | str | None:
        """A refusal sends the worker back to the list, contact details kept; when the list is
        now empty the form ends with the reason instead of an empty question."""
        if ctx.dialogue.state == f"{self.flow}:confirm":
            _save_profile(ctx, data)  # the worker confirmed these; the activity went wrong, not them
        if "activity" in exc.fields and not await ops.open_activities(ctx.session, ctx.ops):
            ctx.dialogue.clear()
            return f"{exc.message}\n目前没有其他可以报名的培训或活动了，有新活动时我们会在这里发布。"
        return await super()._return_to(ctx, data, exc, hint)

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        m = _save_profile(ctx, data)
        res = await ops.sign_up(ctx.session, ctx.ops, int(data["activity"]), m, name=m.name, phone=m.phone,
                                employer=m.employer or "")
        a = res.activity
        if res.outcome == "confirmed":  # the day-before reminder only when it is still to come
            remind = "活动前一天会提醒您；" if ctx.ops.now < ops.reminder_due_at(ctx.ops, a) else ""
            return (f"报名成功！「{a.title}」\n时间：{ops.when_text(a, ctx.ops.tz, ctx.ops.now)}\n地点：{a.place}\n"
                    f"{remind}{ops.CHECKIN_HOW}。回复「我的报名」可查看或取消。")
        if res.outcome == "waitlist":
            return (f"名额已满，您已加入「{a.title}」的候补名单，目前排第{res.position}位。"
                    "有人取消时会按顺序自动递补并通知您。回复「我的报名」可查看或取消。")
        if res.outcome == "already_confirmed":
            return f"您已经报名了「{a.title}」，无需重复报名。回复「我的报名」可查看。"
        if res.outcome == "already_waitlist":
            return f"您已在「{a.title}」的候补名单中（第{res.position}位），有名额会马上通知您。"
        raise Recheck(REFUSALS[res.reason] + "这次没有报上。", ["activity"])


FORM = SignupForm.mount(router, start=text_is("报名", "我要报名", "活动报名", "培训报名", "报个名", "报名参加活动", "参加活动") | click_is("SIGNUP"),
                        resume_word="报名")


# ----------------------------------------------------------------------------- my sign-ups
@router.on(text_is("我的报名", "报名记录", "查看报名") | click_is("MY_SIGNUPS"))
async def show_my_signups(ctx: Ctx) -> str:
    """The worker's live sign-ups, numbered for 取消报名 N (inside a form: the form is kept)."""
    return await _my_list(ctx)


_ABOUT_SIGNUPS = r"报|候补|培训|活动|讲座"
_WHEN_WHERE = (r"候补上|排第几|排到第?几|第几位|轮到我|几点开始|几点到|什么时候开始|几号开始|哪天开始|在哪(?:里)?(?:上课|举行|集合|开)"
               r"|地点在哪")


@router.on(text_has(_WHEN_WHERE) | (text_has(_ABOUT_SIGNUPS) & text_if(asks_status, "asks how the sign-ups stand")))
async def signup_status(ctx: Ctx) -> str:
    """「我报名成功了吗」「我候补上了没」「几点开始 在哪」 (no form open): the same as 我的报名, which says
    when, where and where each one stands; 「电工培训几点开始」 naming an activity: that one's facts."""
    return await _about_named(ctx) or await _my_list(ctx)


async def _about_named(ctx: Ctx) -> str | None:
    """A question naming an open activity or one of the worker's (「健步走几号」「电工培训在哪里」「讲座
    收费吗」): answered from its record, with where the worker stands on it; None when it names none
    or asks nothing the record answers."""
    text = ctx.text
    if not text or not asks_about_activity(text):
        return None
    octx = ctx.ops
    mine = {a.id: s for s, a in await ops.my_signups(ctx.session, octx, ctx.member.id)}
    acts = {a.id: a for a in await ops.open_activities(ctx.session, octx)}
    acts.update({a.id: a for a in await ops.activities_by_id(ctx.session, mine)})
    named = best_title(text, [(a.id, a.title) for a in acts.values()])
    if named is None:
        return None
    a, s = acts[named], mine.get(named)
    snap = _snapshot(a, s.status if s is not None else None, octx, octx.now)
    facts = activity_facts(snap, text)
    if facts is None:
        return None
    if s is not None and s.status == "waitlist":
        stands = f"您在这个活动的候补名单中，目前候补第{await ops.waitlist_position(ctx.session, s)}位。"
    elif s is not None:
        stands = "您已经报名了这个活动，" + ("已签到。" if s.attended_at else "到时候见！")
    elif snap["refusal"]:
        stands = REFUSALS[snap["refusal"]]
    else:
        stands = "想参加请回复「报名」。"
    return f"{facts}\n{stands}"


async def _my_list(ctx: Ctx, head: str = "", rows: list[Any] | None = None, pick: bool = False) -> str:
    """我的报名, numbered; `pick`: the next number the worker sends cancels one (`_ask_which`)."""
    octx = ctx.ops
    if rows is None:
        rows = await ops.my_signups(ctx.session, octx, ctx.member.id)
    lines = [head] if head else []
    if not rows:
        lines.append("您目前没有待参加的报名。回复「报名」看看近期活动。")
    else:
        lines.append("您的报名：")
        for i, (s, a) in enumerate(rows, 1):
            if s.status == "confirmed":
                state = "已签到" if s.attended_at else "报名成功"
            else:
                state = f"候补第{await ops.waitlist_position(ctx.session, s)}位"
            lines.append(f"{i}. {a.title}｜{ops.when_text(a, octx.tz, octx.now)}｜{a.place}｜{state}")
        lines.append("要取消哪一个，请回复它的序号，例如「1」。" if pick else "要取消请回复「取消报名 序号」，例如「取消报名 1」。")
    return "\n".join(lines)


CANCEL_SIGNUP = r"取消报名\s*(?:第\s*)?([0-9零〇一幺二两三四五六七八九十]*)\s*(?:个|项|号|条)?"


CANCEL_FLOW = "signup_cancel"
router.add_flow(Flow(CANCEL_FLOW, "取消报名", on_leave="end", cancelled="好的，报名都保留着。"))
# Giving a sign-up up in a sentence: 「我不去了」「电工培训我不去了」「参加不了了」.
_GIVE_UP = r"不想?去了|去不了了?|不想?参加了|参加不了了?|不想?报了|退报|退出报名"


async def _ask_which(ctx: Ctx, head: str = "") -> str:
    """The list of live sign-ups, and the next number the worker sends cancels that one."""
    rows = await ops.my_signups(ctx.session, ctx.ops, ctx.member.id)
    pick = bool(rows) and not ctx.dialogue.flow  # inside a form a number is the form's answer
    if pick:
        ctx.dialogue.set(f"{CANCEL_FLOW}:pick", {}, ttl=timedelta(minutes=30))
    return await _my_list(ctx, head, rows, pick=pick)


@router.on(text_matches(CANCEL_SIGNUP, keyword=True))
async def cancel_my_signup(ctx: Ctx) -> str:
    """取消报名 N: cancel the N-th of 我的报名 (frees the seat for the waitlist); without N, the list
    and the next number picks."""
    m = next((m for v in variants(ctx.msg.text) if (m := re.fullmatch(CANCEL_SIGNUP, v))), None)
    raw = m.group(1) if m else ""
    if not raw:
        return await _ask_which(ctx)
    return await _cancel(ctx, parse_choice_number(raw) or 0, raw)


@router.on(text_has(_GIVE_UP))
async def give_up_signup(ctx: Ctx) -> str:
    """「我不想去了」: which sign-up (the one named, the only one, or asked), confirmed before it goes."""
    rows = await ops.my_signups(ctx.session, ctx.ops, ctx.member.id)
    if not rows:
        return "您目前没有待参加的报名，不需要取消。回复「报名」看看近期活动。"
    return await _which_to_give_up(ctx, rows)


async def _which_to_give_up(ctx: Ctx, rows: list[Any], lead: str = "") -> str:
    """The sign-up a message gives up (the one named, the only one) asked to be confirmed; or the
    list, and the next number picks. `lead` goes before either."""
    n = 1 if len(rows) == 1 else best_title(ctx.msg.text, [(i, a.title) for i, (_, a) in enumerate(rows, 1)])
    if n is None:
        return await _ask_which(ctx, lead or "好的。")
    s, a = rows[n - 1]
    ctx.dialogue.set(f"{CANCEL_FLOW}:confirm", {"signup": s.id}, ttl=timedelta(minutes=30))
    return (f"{lead}要取消「{a.title}」（{ops.when_text(a, ctx.ops.tz, ctx.ops.now)}）的报名吗？"
            "回复「确认」取消，名额会留给其他职工；不取消请回复「不用」。")


# Giving up said anywhere, even in the middle of a form (the sign-up list left open, 帮扶): going
# or attending given up in a short message, not a question about it (我能不去吗) nor a story.
_GOING_OFF = r"不想?去了|去不了了?|去不成了?|不想?参加了|参加不了了?|来不了了?|退报|退出报名"


def _gives_a_sign_up_up(msg) -> bool:  # noqa: ANN001
    if msg.kind not in ("text", "voice") or not msg.text:
        return False
    t = fold(msg.text)
    asks = re.search(r"[吗嘛?？]|为什么|为啥|怎么|能不能|可不可以", t)
    return len(t) <= SHORT_QUESTION and bool(re.search(_GOING_OFF, t)) and not asks


@router.interrupt(Filter(_gives_a_sign_up_up, "gives a sign-up up (anywhere)"))
async def give_up_anywhere(ctx: Ctx) -> Reply | str | None:
    """「电工培训我不去了」 with a form open: the sign-up question, the form kept as a draft (it said
    「已经报名了，无需重复报名」 before). Holding no sign-up, or in a story or a message to staff, the
    open dialogue reads it as ever."""
    flow = ctx.dialogue.flow
    if not flow:
        return await give_up_signup(ctx)
    rows = await ops.my_signups(ctx.session, ctx.ops, ctx.member.id)
    owner = next((sr for r in ctx.dispatcher.routers for sr in r.states if sr.matches(ctx.dialogue.state or "")), None)
    if owner is not None and (not rows or _takes_sentences(ctx)):
        return await owner.handler(ctx)
    if flow == CANCEL_FLOW:
        ctx.dialogue.clear()
        return await _which_to_give_up(ctx, rows)
    stashed = ctx.dialogue.stash()  # the question (or the list to pick from) is the open dialogue now
    reply = await _which_to_give_up(ctx, rows)
    return f"{reply}\n\n（{ctx.dispatcher.resume_hint(stashed)}）" if stashed else reply


def _takes_sentences(ctx: Ctx) -> bool:
    """Whether the open dialogue's step takes what the person says as it is: a story, a message for
    staff, a field of parts (「腿伤了 上班去不了了」 is part of the story there)."""
    flow = ctx.dispatcher.flows.get(ctx.dialogue.flow or "")
    form = getattr(flow, "form", None)
    if form is None:  # a dialogue of its own (the quiz's answer, a yes/no question): its own reading
        return ctx.dialogue.flow != CANCEL_FLOW
    if getattr(form, "takes_questions", False):
        return True
    step = (ctx.dialogue.state or "").split(":", 1)[-1]
    f = form._field(step)
    return f is not None and (f.kind == "parts" or bool(getattr(f.parse, "sentences", False)))


@router.state(f"{CANCEL_FLOW}:")
async def cancel_answer(ctx: Ctx) -> Reply | str | None:
    """The number after the list, or 确认 / 不用 to the question; anything else is no answer to it."""
    step = (ctx.dialogue.state or "").split(":", 1)[1]
    signup_id = ctx.dialogue.data.get("signup")
    ctx.dialogue.clear()
    if step == "pick" and (n := parse_choice_number(ctx.text)) is not None:
        return await _cancel(ctx, n, ctx.text)
    if step == "confirm" and is_word(ctx.text, CONFIRM_WORDS):
        return await _cancel(ctx, 0, "", signup_id=signup_id)
    if step == "confirm" and is_word(ctx.text, KEEP_SIGNUP_WORDS):
        return "好的，报名保留着，到时候见！"
    return await ctx.dispatcher.unmatched(ctx)


KEEP_SIGNUP_WORDS = frozenset({"不用", "不用了", "不取消", "不", "不了", "算了", "还是去", "我还去", "去", "要去"})


async def _cancel(ctx: Ctx, n: int, raw: str, signup_id: int | None = None) -> str:
    """Cancel the n-th of 我的报名, or the sign-up `signup_id` (frees the seat for the waitlist)."""
    octx = ctx.ops
    rows = await ops.my_signups(ctx.session, octx, ctx.member.id)
    if signup_id is not None:
        n = next((i for i, (s, _) in enumerate(rows, 1) if s.id == signup_id), 0)
    if not rows or not 1 <= n <= len(rows):
        return await _my_list(ctx, f"没有序号为 {n or raw} 的报名。" if raw else "这条报名已经不在了。", rows)
    s, a = rows[n - 1]
    res = await ops.cancel_signup(ctx.session, octx, s.id, member_id=ctx.member.id)
    if not res.ok:
        if res.reason == "attended":
            return f"您已在「{a.title}」签到，不能再取消了。如有变化请联系现场工作人员。"
        if res.reason == "started":
            return f"「{a.title}」已经开始，不能在线取消了。如有变化请联系现场工作人员。"
        return await _my_list(ctx, "这条报名已经取消过了。")  # read again: it changed meanwhile
    if res.was == "waitlist":
        return f"已为您取消「{a.title}」的候补。"
    return f"已为您取消「{a.title}」的报名，名额将留给其他职工。欢迎下次参加！"


# ----------------------------------------------------------------------------- check-in
# Digits spoken one by one (voice: 「签到二七三六九七。」); 幺 is how 1 is read in numbers.
_CN_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")
_CHECKIN = re.compile(r"签到码?\s*[:,]?\s*([0-9a-z零〇一幺二两三四五六七八九十百千万](?:[0-9a-z零〇一幺二两三四五六七八九十百千万 \-]*"
                      r"[0-9a-z零〇一幺二两三四五六七八九十百千万])?)")


def checkin_code(text: str) -> str | None:
    """The code in 「签到 273697」「签到273697」「签到码：273697」「签到二七三六九七。」 (full-width too)."""
    for v in sorted(variants(text), key=len, reverse=True):  # folded: NFKC, lower-case, 。 dropped
        m = _CHECKIN.fullmatch(v)
        if m:
            raw = re.sub(r"[\s\-]", "", m.group(1))
            if re.search("[十百千万]", raw):  # read as a number: 二十七万三千六百九十七
                try:
                    return str(parse_int(raw, zero_words=False))
                except NotANumber:
                    return raw.upper()
            return raw.translate(_CN_DIGITS).upper()
    return None


def _has_checkin_code(msg) -> bool:  # noqa: ANN001
    return msg.kind in ("text", "voice") and bool(msg.text) and checkin_code(msg.text) is not None


async def _check_in(ctx: Ctx, act, via: str) -> str:  # noqa: ANN001
    octx = ctx.ops
    res = await ops.check_in(ctx.session, octx, act, ctx.member.id, via=via)
    a = res.activity
    if res.outcome == "ok":
        name = f"{res.signup.name}，" if res.signup and res.signup.name else ""
        return f"{name}签到成功！欢迎参加「{a.title}」。"
    if res.outcome == "already":
        t = octx.local(res.signup.attended_at)
        return f"您已于 {t:%H:%M} 签到过「{a.title}」，无需重复签到。"
    if res.outcome == "early":
        t = octx.local(res.opens_at)
        return f"「{a.title}」的签到 {t.month}月{t.day}日 {t:%H:%M} 开始，请到时再签。"
    return CHECKIN_TEXTS[res.outcome]


def _open_form_note(ctx: Ctx) -> str:
    """An interrupt answered inside a dialogue: say it is still open."""
    if not ctx.dialogue.state or ctx.dispatcher is None:
        return ""
    return f"\n\n（您正在填写的{ctx.dispatcher.flow_title(ctx.dialogue.flow)}还在，直接回复就能接着填。）"


@router.interrupt(Filter(_has_checkin_code, "签到 CODE", keyword=True))
async def check_in_by_code(ctx: Ctx) -> str:
    """签到 CODE: mark attendance within the activity's check-in window (works mid-dialogue too)."""
    code = checkin_code(ctx.msg.text) or ""
    return await _check_in(ctx, await ops.find_by_code(ctx.session, code), "code") + _open_form_note(ctx)


@router.on(text_is("签到", "签到码", "现场签到", "怎么签到"))
async def explain_check_in(ctx: Ctx) -> str:
    """签到 without a code: say how."""
    return HOW_TO_CHECK_IN


def _checkin_scene(msg) -> bool:  # noqa: ANN001
    return msg.kind == "event" and msg.event in ("scan", "subscribe") and msg.event_key.startswith(SCENE_PREFIX)


@router.interrupt(Filter(_checkin_scene, "checkin scan"))
async def check_in_by_scan(ctx: Ctx) -> str:
    """A scan (or a follow through the scan) of an activity's check-in QR code."""
    raw = ctx.msg.event_key[len(SCENE_PREFIX):]
    act = await ops.find_activity(ctx.session, int(raw)) if raw.isdecimal() else None
    reply = await _check_in(ctx, act, "qr") if act is not None else QR_UNKNOWN
    if ctx.msg.event == "subscribe":
        reply = "欢迎关注街道总工会！\n" + reply
    return reply + _open_form_note(ctx)


# ----------------------------------------------------------------------------- signing up in a sentence
# (after every keyword of this feature: 我的报名, 取消报名 … are theirs)
_SIGN_UP = re.compile(r"报名|报个|报那|报这|想报|要报")


def _wants_to_sign_up(t: str) -> bool:
    """「报名参加电工培训」「我是想报名电工培训啊」: signing up, said with the activity — not a
    question about it (报名结果在哪里看, 报名怎么报 are answered elsewhere)."""
    return (bool(_SIGN_UP.search(t)) and not asks_status(t)
            and not re.search(r"怎么|如何|哪|吗|呢|没|不|什么|多少|几|为啥|为什么|取消|退|我的|查|看|[?？]", t))


@router.on(text_if(_wants_to_sign_up, "signs up for a named activity"))
async def sign_up_for_named(ctx: Ctx) -> Reply | str | None:
    """The list, with the activity the message names chosen already; an activity nobody names: the list."""
    acts = await ops.open_activities(ctx.session, ctx.ops)
    named = best_title(ctx.msg.text, [(a.id, a.title) for a in acts])
    if named is None:
        return await ctx.dispatcher.unmatched(ctx) if not acts else await FORM.start(ctx)
    reply = await FORM.start(ctx)
    listed = [v for v, _ in ctx.dialogue.data.get("_choices", {}).get("activity") or ()]
    if ctx.dialogue.state != f"{FORM.flow}:activity" or named not in listed:
        return reply  # a draft resumed, or the list changed: the worker picks
    title = next(a.title for a in acts if a.id == named)
    picked = await FORM.handle(ctx.with_text(str(listed.index(named) + 1)))
    return f"好的，报名「{title}」。\n{picked}" if isinstance(picked, str) else picked


# ----------------------------------------------------------------------------- what no route took
SHORT_QUESTION = 20  # characters: 「电工培训在哪里上课 几点开始」, not a story


@router.unmatched
async def answer_about_activities(ctx: Ctx) -> Reply | str | object:
    """Before the inbox passes it to staff: a question naming an activity (「健步走几号」) answered
    from its record; signing a colleague up (「我帮同事也报一个，他叫李明」) told how that is done."""
    if ctx.msg.kind not in ("text", "voice") or not ctx.text or is_distress(ctx.text):
        return PASS
    said = re.sub(r"\s+", "", fold(ctx.text))
    # Short messages only: a longer one may tell staff something more (「…还有我工资被扣了」).
    if len(said) <= 40 and FOR_OTHERS.search(said) and SIGNS_UP.search(said) and not re.search(_GIVE_UP, said):
        return for_others_text(ctx)
    if len(said) > SHORT_QUESTION:
        return PASS
    return await _about_named(ctx) or PASS


@router.on(text_is("取消"))  # not 算了 (never mind) nor 退出
async def cancel_with_nothing_open(ctx: Ctx) -> Reply | str | object:
    """A bare 取消 with no form open, from a worker holding sign-ups: which one to cancel (asked, then
    confirmed), as 「我不想去了」. Reached only when the common 取消 finds nothing open and passes the
    word on to the features' own routes (`Dispatcher.feature_route`); PASS otherwise."""
    rows = await ops.my_signups(ctx.session, ctx.ops, ctx.member.id)
    if not rows or ctx.dialogue.flow:
        return PASS
    return await _which_to_give_up(ctx, rows, "您现在没有正在填写的内容。")
