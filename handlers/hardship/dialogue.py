"""Hardship help (困难帮扶): the worker's dialogue.

Entry `帮扶` / `困难帮扶` / `申请帮扶` or the menu click HARDSHIP; a consent
notice first (nothing is stored without 同意), then the form, the self-check
and a reference number. `我的申请` lists the worker's requests, `补充` answers
staff who asked for more, `删除我的信息` removes personal data. Every change
goes through the operations in `handlers/hardship/ops.py`, called with `ctx.ops`.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.core.community import ask_community, community_field
from bot.core.context import Ctx
from bot.core.forms import Field, Form, Invalid, int_parser, money_parser, parts_text, text_parser
from bot.core.normalize import is_word
from bot.core.question import asks_status
from bot.core.router import Flow, Router, click_is, kind_is, text_has, text_if, text_is, text_matches, text_startswith
from bot.core.validators import employer_parser, mask_id, parse_id_number, parse_mobile, parse_name
from handlers.hardship import ops
from handlers.hardship.privacy import erase_worker_data, erasure_reply

router = Router("hardship")
router.add_menu("帮扶", "申请困难帮扶")
router.add_menu("我的申请", "查看帮扶申请进度")
router.add_menu("删除我的信息", "删除您留在这里的个人信息")

START_WORDS = ("帮扶", "困难帮扶", "申请帮扶", "申请困难帮扶", "求助", "困难求助", "困难补助", "补助", "困难救助", "救助",
               "生活补助", "困难补贴")
AGREE_WORDS = {"同意", "我同意", "同意并继续", "同意的", "可以", "好的", "行", "好", "确认", "确定", "是"}
REFUSE_WORDS = {"不同意", "我不同意", "拒绝", "不了", "否", "不要", "不用了", "算了"}

CONSENT_NOTICE = (
    "申请困难帮扶前，请先了解：\n"
    "· 我们会收集您的姓名、手机号、工作单位、家庭人口与收支、困难情况说明和证明材料照片，"
    "身份证号可自愿填写；其中健康、收入、子女就学等属于敏感个人信息。\n"
    "· 这些信息只用于街道总工会审核和发放帮扶，身份证号加密保存，不对外提供。\n"
    "· 申请办结后保存{years}，到期自动删除（统计数字除外）；您随时可回复「删除我的信息」。\n"
    "同意请回复「同意」，不同意请回复「不同意」（不会保存任何信息）。"
)

EVIDENCE = {
    "因病": "诊断证明、近三个月的医疗费用票据",
    "因灾": "受灾情况照片、村（居）委会或相关部门出具的证明",
    "子女就学": "学费缴费票据、录取通知书或在读证明",
    "失业待岗": "解除劳动合同证明或失业登记证明",
    "工伤": "工伤认定书、医疗费用票据",
    "其他": "能说明困难情况的材料",
}
EXPENSE_HINT = {
    "因病": "如每月自付医药费",
    "因灾": "如每月修缮、租房支出",
    "子女就学": "如每月分摊的学费、住宿费",
    "失业待岗": "如每月必需的房租",
    "工伤": "如每月自付治疗、康复费用",
    "其他": "因困难每月必须支付的费用",
}


def _retention_words(days: int) -> str:
    return f"{days // 365}年" if days % 365 == 0 else f"{days}天"


def _consent(text: str) -> str:
    if is_word(text, REFUSE_WORDS):  # checked first: 不同意 contains 同意
        return "不同意"
    if is_word(text, AGREE_WORDS):
        return "同意"
    raise Invalid("请回复「同意」继续申请，或回复「不同意」退出。")


def _consent_prompt(ctx: Ctx, data: Mapping[str, Any]) -> str:
    return CONSENT_NOTICE.format(years=_retention_words(ctx.settings.hardship.retention_days))


def _expenses_prompt(ctx: Ctx, data: Mapping[str, Any]) -> str:
    hint = EXPENSE_HINT.get(data.get("kind", ""), "")
    return f"因这次困难，家庭每月固定要多花多少钱（元）？{hint}。没有请回复 0。"


def _photos_prompt(ctx: Ctx, data: Mapping[str, Any]) -> str:
    need = EVIDENCE.get(data.get("kind", ""), EVIDENCE["其他"])
    return f"最后，请拍照上传证明材料：{need}。\n暂时没有的可以先跳过，之后按工作人员要求补充。"


_employer = employer_parser(60, "请填写工作单位全称（2–60个字）；已失业的请填原单位。")


def _income_plausible(value: float, data: Mapping[str, Any]) -> str | None:
    if 0 < value < 100:
        return f"家庭月收入 {value:g} 元，对吗？"
    return None


def _expenses_plausible(value: float, data: Mapping[str, Any]) -> str | None:
    income = float(data.get("income") or 0)
    if value >= 50_000 or (income and value > 10 * income and value >= 10_000):
        return f"每月困难固定支出 {value:g} 元，对吗？"
    return None


def _id_number(text: str) -> str:
    if not any(ch.isdecimal() for ch in text):
        raise Invalid("这一步请填写18位身份证号；不想填请回复「跳过」。")
    return parse_id_number(text)


# How people name the kinds in their own words (「老伴生病了住院。」 → 因病); words of two kinds: asked again.
KIND_WORDS = {
    "因病": ("生病", "得病", "病了", "住院", "病人", "看病", "治病", "手术", "癌", "化疗", "透析", "大病", "重病", "医药费"),
    "因灾": ("着火", "火灾", "失火", "水灾", "洪水", "被淹", "地震", "台风", "塌了", "倒塌", "受灾", "灾"),
    "子女就学": ("上学", "学费", "读书", "上大学", "考上", "开学", "就学"),
    "失业待岗": ("失业", "下岗", "没工作", "没有工作", "没活干", "裁员", "被辞", "辞退", "开除", "待岗", "厂子倒闭", "倒闭"),
    "工伤": ("受伤", "摔伤", "砸伤", "工伤", "干活伤", "压伤", "烧伤", "职业病"),
    "其他": ("其它", "别的", "都不是", "不在上面"),
}


def _prefill(attr: str):  # noqa: ANN202
    return lambda ctx: getattr(ctx.member, attr, None)


FIELDS = (
    Field("consent", _consent_prompt, parse=_consent),
    Field("kind", "请选择困难类型：", label="困难类型", choices=ops.KINDS, aliases=KIND_WORDS),
    Field("description", "请简单说明困难情况（10–500字），例如发生了什么、现在最需要哪方面的帮助。",
          parse=text_parser(10, 500), label="情况说明"),
    Field("household", "家庭共同生活的人口有几人？请回复数字。",
          parse=int_parser(1, 20, "人", units=("口人", "口", "个人", "位"), what="家庭人口"), label="家庭人口",
          show=lambda v: f"{v} 人"),
    Field("income", "家庭每月总收入大约多少元？（所有家庭成员的工资、养老金等合计，没有请回复 0）",
          parse=money_parser(), label="家庭月收入", show=lambda v: f"{v:g} 元", plausible=_income_plausible),
    Field("expenses", _expenses_prompt, parse=money_parser(), label="困难固定支出", show=lambda v: f"{v:g} 元/月",
          plausible=_expenses_plausible),
    Field("name", "请问您的姓名？", parse=parse_name, label="姓名", prefill=_prefill("name")),
    Field("phone", "请留一个能联系到您的手机号（11位）。", parse=parse_mobile, label="手机号",
          prefill=_prefill("phone")),
    Field("employer", "您的工作单位是？（已失业的请填原单位）", parse=_employer, label="工作单位",
          prefill=_prefill("employer")),
    community_field(),  # only with [federation] communities; kept on the profile
    Field("id_number", "如方便，请填写身份证号（加密保存，便于核实）；不填也可以。", parse=_id_number,
          label="身份证号", optional=True, show=mask_id),
    Field("photos", _photos_prompt, label="证明材料", kind="images", optional=True),
)


class HardshipForm(Form):
    flow = "hardship"
    title = "帮扶申请"
    fields = FIELDS
    keep_images_after = ("consent",)  # nothing is kept before 同意

    def _ttl(self, ctx: Ctx) -> timedelta:
        return timedelta(days=ctx.settings.hardship.expire_days)

    async def prepare(self, ctx: Ctx) -> str | dict[str, Any]:
        req = await ops.open_request(ctx.session, ctx.openid)
        if req is not None:
            return (f"您已有一份帮扶申请正在办理，不用重复提交：\n{_describe(req, ctx)}\n"
                    "如需补充材料，请回复「补充」；查看全部请回复「我的申请」。")
        return {"consent_version": ctx.settings.hardship.consent_version, **ask_community(ctx)}

    async def handle(self, ctx: Ctx):  # noqa: ANN201
        """Record the time of 同意 with the notice version shown; 不同意 stores nothing."""
        if ctx.dialogue.state == "hardship:consent" and ctx.msg.kind in ("text", "voice"):
            try:
                answer = _consent(ctx.text) if ctx.text else ""
            except Invalid:
                answer = ""  # the engine re-asks with the hint
            if answer == "不同意":
                ctx.dialogue.clear()
                return (f"好的，没有保存您的任何信息。如需帮助，也可以直接{ctx.settings.office.call_line()}。")
            if answer == "同意":
                ctx.dialogue.data = {**ctx.dialogue.data, "consent_at": ctx.now.isoformat()}
                return await super().handle(ctx.with_text("同意"))  # 确认 / 可以 / 好 mean 同意 here
        return await super().handle(ctx)

    def summary_extra(self, ctx: Ctx, data: Mapping[str, Any]) -> str | None:
        return "【自助测算】" + _check(ctx, data).text()

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        consent_at = datetime.fromisoformat(data["consent_at"]) if data.get("consent_at") else ctx.now
        try:
            req = await ops.submit_request(
                ctx.session, ctx.ops, openid=ctx.openid, data=data,
                consent_version=data.get("consent_version") or ctx.settings.hardship.consent_version,
                consent_at=consent_at, member=ctx.member)
        except ops.HardshipError as exc:
            return str(exc)
        check = ops.SelfCheck(req.per_capita, req.dibao, req.tier)
        return (f"申请已提交，编号 {req.ref}，请记好。\n"
                f"{check.text()}\n"
                "接下来：工作人员审核后会通过这里通知您结果，需要补充材料也会在这里告诉您。"
                "回复「我的申请」可随时查看进度。")


def _check(ctx: Ctx, data: Mapping[str, Any]) -> ops.SelfCheck:
    dibao = ops.dibao_for(ctx.settings.hardship.dibao, ctx.local_now.year)
    return ops.self_check(float(data.get("income") or 0), float(data.get("expenses") or 0),
                          int(data.get("household") or 1), dibao)


FORM = HardshipForm.mount(router, start=text_is(*START_WORDS) | click_is("HARDSHIP"), resume_word="帮扶")


def _describe(req: ops.HardshipRequest, ctx: Ctx) -> str:
    day = ctx.ops.local(req.created_at).strftime("%Y-%m-%d")
    line = f"{req.ref}（{req.kind}，{day}提交）：{ops.WORKER_STATUS.get(req.status, req.status)}"
    if req.last_message:
        line += f"\n  工作人员留言：{req.last_message}"
    return line


# --- 我的申请 ---------------------------------------------------------------------------

MY_WORDS = ("我的申请", "我的帮扶", "申请进度")


@router.interrupt(text_is(*MY_WORDS) | click_is("MY_REQUESTS"))
async def list_my_requests(ctx: Ctx) -> str:
    """The worker's requests with status and the latest staff message (an open form stays open)."""
    reqs = await ops.worker_requests(ctx.session, ctx.openid)
    text = ("您的帮扶申请：\n" + "\n".join(_describe(r, ctx) for r in reqs)) if reqs else \
        "您还没有提交过帮扶申请。需要帮助请回复「帮扶」。"
    if ctx.dialogue.flow == FORM.flow:
        text += "\n\n" + str(await FORM.resume(ctx, f"您正在填写的{FORM.title}还在，我们接着来："))
    return text


_ABOUT_REQUESTS = r"申请|帮扶|补助|救助"


@router.on(text_has(_ABOUT_REQUESTS) & text_if(asks_status, "asks how the requests stand"))
async def request_status(ctx: Ctx) -> str:
    """「我的申请到哪一步了」 (no form open): the same as 我的申请, and a person if that doesn't answer it."""
    return await list_my_requests(ctx) + "\n还有疑问的话，回复「留言」找工作人员。"


def check_answers(raw: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """代办: the dialogue's own rules applied to what staff typed into the admin form.

    Returns (data for `ops.submit_request`, hints by field name)."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in FIELDS:
        if f.name in ("consent", "photos", "community"):  # staff choose the community apart
            continue
        value = str(raw.get(f.name) or "").strip()
        if not value and f.optional:
            data[f.name] = None
            continue
        try:
            data[f.name] = f.read(value)
        except Invalid as exc:
            errors[f.name] = exc.hint
    return data, errors


# --- 补充 -----------------------------------------------------------------------------

MORE_WORDS = ("补充", "补充材料", "补交材料", "补材料", "上传材料", "补充照片")


class SupplementForm(Form):
    """补充: any mix of text, voice and photos for the worker's open request, until 完成.

    Every piece is saved on the request the moment it arrives (staff see it as new
    material), so nothing waits on 完成: leaving or going quiet loses nothing."""

    flow = "hardship_more"
    title = "补充材料"
    confirm = False
    expired_note = ""  # every piece was saved as it came: nothing to apologise for
    fields = (Field("parts", lambda ctx, data: f"请补充申请 {data['ref']} 的材料。"
                    + (f"\n工作人员留言：{data['staff_message']}" if data.get("staff_message") else ""),
                    label="补充的材料", kind="parts"),)

    def _ttl(self, ctx: Ctx) -> timedelta:
        return timedelta(hours=2)

    async def handle(self, ctx: Ctx):  # noqa: ANN201
        """A piece the operation refuses (staff finished the request meanwhile) ends 补充 with its reason."""
        try:
            return await super().handle(ctx)
        except ops.HardshipError as exc:
            ctx.dialogue.clear()
            return str(exc)

    async def prepare(self, ctx: Ctx) -> str | dict[str, Any]:
        req = await ops.open_request(ctx.session, ctx.openid)
        if req is None:
            return "您目前没有正在办理的帮扶申请，不需要补充材料。需要帮助请回复「帮扶」；查看以前的申请请回复「我的申请」。"
        return {"request_id": req.id, "ref": req.ref,
                "staff_message": req.last_message if req.status == "waiting" else ""}

    async def on_part(self, ctx: Ctx, data: Mapping[str, Any], part: Mapping[str, Any]) -> None:
        await ops.add_material(ctx.session, ctx.ops, int(data["request_id"]),
                               text=part["v"] if part["t"] == "text" else "",
                               media_id=part["v"] if part["t"] == "image" else "")

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        return (f"好的，这次共收到{parts_text(data['parts'])}，都已附到申请 {data['ref']}，工作人员会一并审核。"
                "回复「我的申请」可查看进度。")


SUPPLEMENT = SupplementForm.mount(router, start=text_is(*MORE_WORDS), resume_word="补充")


@router.on(text_startswith("补充", "补充材料", "补充说明"))
async def supplement_in_one_message(ctx: Ctx) -> str:
    """「补充：……」 in one message: the text is added at once, and more may follow."""
    reply = await SUPPLEMENT.start(ctx)
    rest = ctx.msg.text.strip()
    for word in ("补充说明", "补充材料", "补充"):
        if rest.startswith(word):
            rest = rest[len(word):].lstrip("：:，, \u3000")
            break
    if not rest or ctx.dialogue.flow != SUPPLEMENT.flow:
        return str(reply)
    await SUPPLEMENT.handle(ctx.with_text(rest))
    return (f"已收到您的补充说明，已附到申请 {ctx.dialogue.data.get('ref', '')}，工作人员会一并审核。"
            "还有照片或说明请继续发送，发完回复「完成」。")


@router.on(kind_is("image"))
async def photo_outside_a_form(ctx: Ctx) -> str | None:
    """A photo sent late: with an open request it is that request's new material, said so."""
    req = await ops.open_request(ctx.session, ctx.openid)
    if req is None:
        return await ctx.dispatcher.unmatched(ctx)
    await SUPPLEMENT.start(ctx)
    if ctx.dialogue.flow != SUPPLEMENT.flow:
        return await ctx.dispatcher.unmatched(ctx)
    await SUPPLEMENT.handle(ctx)
    return (f"收到照片，已作为申请 {req.ref} 的补充材料保存，工作人员会看到。"
            "还有照片或说明请继续发送，发完回复「完成」。")


# --- 删除我的信息 -------------------------------------------------------------------------

ERASE_FLOW = "hardship_erase"
ERASE_WORDS = ("删除我的信息", "删除个人信息")


@router.interrupt(text_is(*ERASE_WORDS))
async def ask_erase(ctx: Ctx) -> str:
    """Confirm before removing the worker's personal data (an open form waits as a draft)."""
    ctx.dialogue.set(f"{ERASE_FLOW}:confirm", {}, ttl=timedelta(hours=1))
    return ("将删除您在这里留下的个人信息：\n"
            "· 姓名、手机号、工作单位，以及未填完的申请或报名；\n"
            "· 已有结果（未通过、已发放或已办结）的帮扶申请中的个人信息和照片，只留统计数字；\n"
            "· 已结束或已取消的报名记录中的姓名、手机号、工作单位；\n"
            "· 您和工作人员的留言咨询记录（含您发的照片），删除后工作人员就不能再回复这些咨询了。\n"
            "正在办理的帮扶申请、还没举行的活动报名需要联系您，会保留到办结或活动结束后自动删除。\n"
            "确定请回复「确认删除」，否则回复「取消」。")


router.add_flow(Flow(ERASE_FLOW, "删除信息确认", on_leave="end", cancelled="好的，没有删除任何信息。"))


@router.state(f"{ERASE_FLOW}:")
async def confirm_erase(ctx: Ctx) -> str:
    """确认删除 removes the data and says exactly what went and what is kept; anything else leaves it
    (a kept draft is mentioned by the dispatcher, with the word that resumes it)."""
    if not is_word(ctx.text, {"确认删除", "确认", "确定", "确定删除", "删除", "是"}):
        ctx.dialogue.clear()
        return "好的，没有删除任何信息。"
    drafts = list(ctx.dialogue.drafts)
    ctx.dialogue.clear(keep_drafts=False)  # half-filled forms hold personal data too
    result = await erase_worker_data(ctx.session, ctx.ops, openid=ctx.openid, member=ctx.member, drafts=drafts)
    return erasure_reply(result, ctx.ops)


@router.on(text_matches(r"确[认定]删除"))  # not a keyword: inside the confirmation it is the answer
async def erase_not_asked(ctx: Ctx) -> str:
    """确认删除 with nothing to confirm (sent again, or first): what it would do, asked properly."""
    return "现在没有等您确认的删除。要删除您留在这里的个人信息，请回复「删除我的信息」，我会先告诉您会删除哪些内容。"
