"""Trainings and events in chat: 报名, 我的报名, 取消报名 N, 签到 CODE and the check-in QR scan.

Conversation (states `signup:*`, persisted; renaming one needs a migration):

    报名 / click SIGNUP ──► signup:pick  (numbered open activities)
    number ──► signup:confirm (details, seats, the name + mobile on file)
    确认 ──► [signup:name ─► signup:phone ─► signup:employer]  (only what the profile lacks)
          ──► sign_up(): confirmed / waitlist / refused with the reason
    修改 (at confirm) ──► signup:name ... (re-ask the contact details, saved to the profile)

Why not a `Form`: the flow shows an activity's details and takes 确认 *before*
asking only what the profile lacks, and the choice list comes from the database;
the form engine asks all fields first and confirms last, with static choices.
The rules live in `handlers.signup_ops` (staff views in `handlers.signup_reports`).
"""
from __future__ import annotations

import re
from datetime import timedelta

from bot.core.context import Ctx
from bot.core.forms import BACK_WORDS, SKIP_WORDS, Invalid
from bot.core.router import Filter, Router, click_is, normalize, text_is, text_matches
from bot.core.validators import mask_phone, parse_mobile, parse_name
from handlers import signup_ops as ops

router = Router("signup")
router.add_menu("报名", "报名参加职工培训和文化活动")
router.add_menu("我的报名", "查看或取消我的报名")

TTL = timedelta(hours=2)
SCENE_PREFIX = "checkin:"

REFUSALS = {
    "missing": "这个活动已经不在报名列表里了。",
    "cancelled": "很抱歉，这个活动已取消，不能报名了。",
    "deadline": "这个活动的报名已经截止了，下次早点来哦。",
    "full": "这个活动名额已满，也不设候补，下次早点来哦。",
}
CHECKIN_TEXTS = {
    "unknown_code": "签到码不对，请核对现场公布的签到码，回复「签到 签到码」。",
    "cancelled": "这个活动已取消，无需签到。",
    "late": "活动已经结束，签到已关闭。如您确实参加了，请联系现场工作人员补签。",
    "not_signed": "您还没有报名这个活动，请联系现场工作人员。",
    "waitlist": "您目前还在候补名单中，暂未获得名额，请联系现场工作人员。",
}


MINE = {"confirmed": "（您已报名）", "waitlist": "（您在候补中）"}

ASK_NAME = "请回复您的真实姓名："
NOT_NAMES = {"报名", "我要报名", "确认", "确定", "修改", "更改", "跳过"}  # commands, not a name
ASK_PHONE = "请回复您的手机号码（11位），方便活动变动时联系您："
ASK_EMPLOYER = "请回复您的工作单位（用于培训记录），不方便可回复「跳过」："

QR_UNKNOWN = "这个签到二维码已失效，请回复「签到 签到码」，签到码由现场工作人员公布。"


def _listing(acts: list, mine: dict[int, str]) -> str:  # noqa: ANN001
    lines = ["近期可报名的活动："]
    for i, a in enumerate(acts, 1):
        lines.append(f"{i}. 【{a.kind_zh}】{a.title}{MINE.get(mine.get(a.id, ''), '')}\n"
                     f"   {ops.when_text(a)}｜{a.place}｜{ops.seats_text(a)}")
    lines.append("回复序号查看详情并报名，回复「取消」退出。")
    return "\n".join(lines)


def _details(a, member) -> str:  # noqa: ANN001
    lines = [f"【{a.kind_zh}】{a.title}", f"时间：{ops.when_text(a)}", f"地点：{a.place}"]
    if a.audience:
        lines.append(f"对象：{a.audience}")
    if a.description:
        lines.append(a.description)
    dl = ops.local(a.deadline)
    lines.append(f"报名截止：{dl.month}月{dl.day}日 {dl:%H:%M}｜{ops.seats_text(a)}")
    full = a.capacity is not None and a.taken >= a.capacity
    if member.name and member.phone:
        lines.append(f"报名信息：{member.name} {mask_phone(member.phone)}（要更改请回复「修改」）")
    lines.append("名额已满，回复「确认」加入候补，有人取消时按先后顺序自动递补。" if full
                 else "回复「确认」报名，回复「取消」放弃。")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- entry points
@router.on(text_is("报名", "我要报名", "活动报名", "培训报名") | click_is("SIGNUP"))
async def list_activities(ctx: Ctx) -> str:
    """List the activities open for sign-up, numbered."""
    acts = await ops.open_activities(ctx.session, ctx.now)
    if not acts:
        ctx.dialogue.clear()
        return "目前没有可以报名的培训或活动，有新活动时我们会在这里发布，欢迎常来看看。"
    ids = [a.id for a in acts]
    ctx.dialogue.set("signup:pick", {"ids": ids}, ttl=TTL)
    return _listing(acts, await ops.member_statuses(ctx.session, ctx.member.id, ids))


@router.state("signup:pick")
async def pick_activity(ctx: Ctx) -> str:
    """A number from the listing: show the details and ask to confirm."""
    other = await _leave_for_keyword(ctx)
    if other is not None:
        return other
    ids = ctx.dialogue.data.get("ids", [])
    if not (ctx.text.isdigit() and 1 <= int(ctx.text) <= len(ids)):
        return f"请回复 1–{len(ids)} 之间的序号，或回复「取消」退出。"
    act = await ctx.session.get(ops.Activity, ids[int(ctx.text) - 1], populate_existing=True)
    mine = (await ops.member_statuses(ctx.session, ctx.member.id, [act.id])).get(act.id) if act else None
    if mine == "confirmed":
        return f"您已经报名了「{act.title}」，无需重复报名。\n可回复其他序号，或回复「我的报名」查看。"
    if mine == "waitlist":
        return f"您已在「{act.title}」的候补名单中，有名额会马上通知您。\n可回复其他序号，或回复「我的报名」查看。"
    why = ops.refusal(act, ctx.now)
    if why:
        return REFUSALS[why] + "\n请回复其他序号，或回复「取消」退出。"
    ctx.dialogue.set("signup:confirm", {"id": act.id, "ids": ids}, ttl=TTL)
    return _details(act, ctx.member)


async def _leave_for_keyword(ctx: Ctx) -> str | None:
    """报名 / 我的报名 / 取消报名 typed while choosing: leave the choice and do that instead."""
    if ctx.text in ("报名", "我要报名"):
        return await list_activities(ctx)
    if ctx.text in ("我的报名", "报名记录", "查看报名") or ctx.text.startswith("取消报名"):
        ctx.dialogue.clear()
        return await (cancel_my_signup(ctx) if ctx.text.startswith("取消报名") else show_my_signups(ctx))
    return None


@router.state("signup:confirm")
async def confirm_signup(ctx: Ctx) -> str:
    """确认 signs up (asking the contact details the profile lacks); 修改 re-asks them."""
    other = await _leave_for_keyword(ctx)
    if other is not None:
        return other
    data = dict(ctx.dialogue.data)
    if ctx.text in ("修改", "更改"):
        ctx.dialogue.set("signup:name", {**data, "edit": True}, ttl=TTL)
        return ASK_NAME
    if ctx.text not in ("确认", "确定", "是", "报名"):
        return "请回复「确认」报名，或回复「取消」放弃。"
    return await _next_or_submit(ctx, data)


@router.state("signup:name")
async def answer_name(ctx: Ctx) -> str:
    """The worker's name (saved to the profile)."""
    if ctx.text in BACK_WORDS:
        return await _back_to_details(ctx)
    if ctx.text in NOT_NAMES:
        return "这一步请回复报名人的姓名，例如「张三」。"
    try:
        name = parse_name(ctx.text)
    except Invalid as exc:
        return exc.hint
    data = {**ctx.dialogue.data, "name": name}
    if data.get("edit") or not ctx.member.phone:
        ctx.dialogue.set("signup:phone", data, ttl=TTL)
        return ASK_PHONE
    return await _next_or_submit(ctx, data)


@router.state("signup:phone")
async def answer_phone(ctx: Ctx) -> str:
    """The worker's mobile number (saved to the profile)."""
    if ctx.text in BACK_WORDS:
        return await _back_to_name(ctx)
    try:
        phone = parse_mobile(ctx.text)
    except Invalid as exc:
        return exc.hint
    return await _next_or_submit(ctx, {**ctx.dialogue.data, "phone": phone})


@router.state("signup:employer")
async def answer_employer(ctx: Ctx) -> str:
    """The worker's employer (optional; used for the training record)."""
    if ctx.text in BACK_WORDS:
        data = dict(ctx.dialogue.data)
        if "phone" in data:  # asked in this sign-up: ask it again
            del data["phone"]
            ctx.dialogue.set("signup:phone", data, ttl=TTL)
            return "好的，回到上一步：\n" + ASK_PHONE
        return await _back_to_details(ctx)
    if ctx.msg.kind not in ("text", "voice") or not ctx.text:
        return "这一步需要文字回复哦。\n" + ASK_EMPLOYER
    employer = "" if ctx.text in SKIP_WORDS else ctx.text[:128]
    return await _next_or_submit(ctx, {**ctx.dialogue.data, "employer": employer})


async def _back_to_name(ctx: Ctx) -> str:
    """上一步 at the mobile number: ask the name again."""
    data = {k: v for k, v in ctx.dialogue.data.items() if k != "name"}
    ctx.dialogue.set("signup:name", data, ttl=TTL)
    return "好的，回到上一步：\n" + ASK_NAME


async def _back_to_details(ctx: Ctx) -> str:
    """上一步 at the name: show the activity again, to confirm or leave."""
    data = {k: v for k, v in ctx.dialogue.data.items() if k in ("id", "ids")}
    act = await ctx.session.get(ops.Activity, data.get("id")) if data.get("id") else None
    if act is None:
        return await list_activities(ctx)
    ctx.dialogue.set("signup:confirm", data, ttl=TTL)
    return "好的，回到上一步：\n" + _details(act, ctx.member)


async def _next_or_submit(ctx: Ctx, data: dict) -> str:
    """Ask what the profile still lacks, then sign up."""
    m = ctx.member
    if "name" in data:
        m.name = data["name"]
    if "phone" in data:
        m.phone = data["phone"]
    if "employer" in data:
        m.employer = data["employer"]  # "" = asked and skipped: not asked again
    if not m.name:
        ctx.dialogue.set("signup:name", data, ttl=TTL)
        return "报名需要登记姓名和手机号，只问一次，下次自动带出。\n" + ASK_NAME
    if not m.phone:
        ctx.dialogue.set("signup:phone", data, ttl=TTL)
        return ASK_PHONE
    if m.employer is None:
        ctx.dialogue.set("signup:employer", data, ttl=TTL)
        return ASK_EMPLOYER
    ctx.dialogue.clear()
    res = await ops.sign_up(ctx.session, ctx.now, data["id"], m, name=m.name, phone=m.phone,
                            employer=m.employer or "")
    a = res.activity
    if res.outcome == "confirmed":
        return (f"报名成功！「{a.title}」\n时间：{ops.when_text(a)}\n地点：{a.place}\n"
                "活动前一天会提醒您；到场后回复「签到 签到码」签到。回复「我的报名」可查看或取消。")
    if res.outcome == "waitlist":
        return (f"名额已满，您已加入「{a.title}」的候补名单，目前排第{res.position}位。"
                "有人取消时会按顺序自动递补并通知您。")
    if res.outcome == "already_confirmed":
        return f"您已经报名了「{a.title}」，无需重复报名。回复「我的报名」可查看。"
    if res.outcome == "already_waitlist":
        return f"您已在「{a.title}」的候补名单中（第{res.position}位），有名额会马上通知您。"
    return REFUSALS[res.reason]


# ----------------------------------------------------------------------------- my sign-ups
@router.on(text_is("我的报名", "报名记录", "查看报名"))
async def show_my_signups(ctx: Ctx) -> str:
    """The worker's live sign-ups, numbered for 取消报名 N."""
    return await _my_list(ctx)


async def _my_list(ctx: Ctx, head: str = "") -> str:
    rows = await ops.my_signups(ctx.session, ctx.member.id, ctx.now)
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
            lines.append(f"{i}. {a.title}｜{ops.when_text(a)}｜{a.place}｜{state}")
        lines.append("要取消请回复「取消报名 序号」，例如「取消报名 1」。")
    return "\n".join(lines)


@router.on(text_matches(r"取消报名\s*(\d*)"))
async def cancel_my_signup(ctx: Ctx) -> str:
    """取消报名 N: cancel the N-th of 我的报名 (frees the seat for the waitlist)."""
    n = re.sub(r"\D", "", ctx.text)
    if not n:
        return await _my_list(ctx)
    rows = await ops.my_signups(ctx.session, ctx.member.id, ctx.now)
    if not rows or not 1 <= int(n) <= len(rows):
        return await _my_list(ctx, f"没有序号为 {n} 的报名。")
    s, a = rows[int(n) - 1]
    res = await ops.cancel_signup(ctx.session, ctx.now, s.id, member_id=ctx.member.id)
    if not res.ok:
        if res.reason == "attended":
            return f"您已在「{a.title}」签到，不能再取消了。如有变化请联系现场工作人员。"
        if res.reason == "started":
            return f"「{a.title}」已经开始，不能在线取消了。如有变化请联系现场工作人员。"
        return await _my_list(ctx, "这条报名已经取消过了。")
    if res.was == "waitlist":
        return f"已为您取消「{a.title}」的候补。"
    return f"已为您取消「{a.title}」的报名，名额将留给其他职工。欢迎下次参加！"


# ----------------------------------------------------------------------------- check-in
async def _check_in(ctx: Ctx, act, via: str) -> str:  # noqa: ANN001
    cfg = ctx.settings.signup
    res = await ops.check_in(ctx.session, ctx.now, act, ctx.member.id, via=via,
                             before_minutes=cfg.checkin_before_minutes, after_minutes=cfg.checkin_after_minutes)
    a = res.activity
    if res.outcome == "ok":
        name = f"{res.signup.name}，" if res.signup and res.signup.name else ""
        return f"{name}签到成功！欢迎参加「{a.title}」。"
    if res.outcome == "already":
        t = ops.local(res.signup.attended_at)
        return f"您已于 {t:%H:%M} 签到过「{a.title}」，无需重复签到。"
    if res.outcome == "early":
        t = ops.local(res.opens_at)
        return f"「{a.title}」的签到 {t.month}月{t.day}日 {t:%H:%M} 开始，请到时再签。"
    return CHECKIN_TEXTS[res.outcome]


@router.interrupt(text_matches(r"签到\s*[0-9A-Za-z]+"))
async def check_in_by_code(ctx: Ctx) -> str:
    """签到 CODE: mark attendance within the activity's check-in window (works mid-dialogue too)."""
    code = normalize(ctx.text)[2:].strip()
    return await _check_in(ctx, await ops.find_by_code(ctx.session, code), "code")


@router.on(text_is("签到"))
async def explain_check_in(ctx: Ctx) -> str:
    """签到 without a code: say how."""
    return "请回复「签到 签到码」，签到码由现场工作人员公布，例如「签到 123456」。"


def _checkin_scene(msg) -> bool:  # noqa: ANN001
    return msg.kind == "event" and msg.event in ("scan", "subscribe") and msg.event_key.startswith(SCENE_PREFIX)


@router.interrupt(Filter(_checkin_scene, "checkin scan"))
async def check_in_by_scan(ctx: Ctx) -> str:
    """A scan (or a follow through the scan) of an activity's check-in QR code."""
    raw = ctx.msg.event_key[len(SCENE_PREFIX):]
    act = await ctx.session.get(ops.Activity, int(raw)) if raw.isdigit() else None
    reply = await _check_in(ctx, act, "qr") if act is not None else QR_UNKNOWN
    if ctx.msg.event == "subscribe":
        reply = "欢迎关注街道总工会！\n" + reply
    return reply
