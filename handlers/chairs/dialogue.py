"""Grassroots union chairs in chat: `绑定 CODE` links the account to the chair's
record; `报送` (menu click REPORT) files the quarterly report.

Operations (registry, binding, reports) are in ops.py, called with `ctx.ops`; a refused
one (`ops.ChairError`) is answered with its own sentence. The reminder ladder is in reminders.py.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.core.context import Ctx
from bot.core.forms import Field, Form, Invalid, Recheck, int_parser, text_parser
from bot.core.router import Router, click_is, text_has, text_is, text_matches
from bot.core.types import Reply
from handlers.chairs import ops
from handlers.chairs.stats import Totals
from bot.workdays import format_day
from handlers.chairs.quarters import Quarter

router = Router("chairs")
router.add_menu("报送", "工会主席季度信息报送（需先绑定）")

HOW_TO_BIND = ("「报送」是基层工会主席的季度信息报送功能，需要先绑定身份。"
               "请{call}索取绑定码，然后发送「绑定 绑定码」，例如：绑定 K7M2QX。")
# 绑定 K7M2QX, 绑定:K7M2QX, 绑定码 K7M2QX (the text is NFKC-folded, so ： is :)
BIND_WORDS = r"(?:我的)?绑定码?\s*(?:是|为)?\s*:?\s*([A-Za-z0-9]{4,12})"  # 绑定 K7M2QX, 绑定码是k7m2qx


# ---- the report form ---------------------------------------------------------------------------

def _count(what: str, hi: int = 100_000) -> Any:  # noqa: ANN401
    """A number of enterprises: 12, 十二, 十二家; 没有 is 0."""
    return int_parser(0, hi, "家", example="12", what=what)


def _consistent(name: str) -> Any:
    def check(value: Any, data: Mapping[str, Any]) -> None:
        problem = ops.check_figures({**data, name: value})
        if problem:
            raise Invalid(problem + "请重新填写这一项。")
    return check


def _many(limit: int, what: str) -> Any:  # noqa: ANN401
    """A possible but surprising count is asked about, not refused."""
    def question(value: int, data: Mapping[str, Any]) -> str | None:
        return f"{what} {value} 家，对吗？" if value > limit else None
    return question


def _homes(v: Any) -> str:
    return f"{v}家"


class ReportForm(Form):
    flow = "chairs_report"
    title = "季度信息报送"
    fields = (
        Field("enterprises", "您负责范围内，职工25人以上的企业共有几家？（回复数字）", parse=_count("企业数"),
              label="25人以上企业", show=_homes, check=_consistent("enterprises"),
              plausible=_many(1000, "职工25人以上的企业")),
        Field("unionised", "其中已建立工会的有几家？", parse=_count("企业数"), label="已建会企业",
              show=_homes, check=_consistent("unionised")),
        Field("wage_agreements", "已建会企业中，签订工资集体协议的有几家？", parse=_count("企业数"),
              label="签订工资集体协议",
              show=_homes, check=_consistent("wage_agreements")),
        Field("harmonious", "已建会企业中，A级及以上和谐企业有几家？", parse=_count("企业数"),
              label="A级以上和谐企业",
              show=_homes, check=_consistent("harmonious")),
        Field("visits", "本季度走访调研了几家企业？", parse=_count("企业数", 10_000), label="本季度走访",
              show=_homes, plausible=_many(300, "本季度走访了")),
        Field("problems", "走访中发现了哪些问题或职工诉求？", parse=text_parser(2, 500),
              label="发现的问题", optional=True),
        Field("summary", "请简要写几句本季度工会工作小结（500字以内）。", parse=text_parser(2, 500),
              label="工作小结"),
    )

    async def prepare(self, ctx: Ctx) -> str | dict[str, Any]:
        chair = await ops.chair_for_openid(ctx.session, ctx.openid)
        if chair is None:
            return HOW_TO_BIND.format(call=ctx.settings.office.call_line())
        try:
            start = await ops.start_report(ctx.session, ctx.ops, chair)
        except ops.ChairError as exc:
            return f"{exc}\n{await ops.next_deadline_note(ctx.session, ctx.ops, chair)}"
        # "quarter" (no underscore) reaches submit: a form begun on 31 December files Q4.
        data: dict[str, Any] = {"quarter": start.quarter.label}
        if start.prefill is not None:  # the report on file, or last quarter's enterprise counts
            data["_prefill"] = start.prefill
        if start.mode != "new":
            data["_mode"] = start.mode
        return data

    def intro(self, ctx: Ctx, data: Mapping[str, Any]) -> str | None:
        quarter = Quarter.parse(data["quarter"])
        when = format_day(ops.deadline_of(ctx.ops, quarter))
        mode = data.get("_mode")
        if mode == "correct":
            return (f"您已提交过{quarter.label_zh}的报送，{when}截止前都可以修改。"
                    "每一项回复「沿用」保留原来的内容。")
        if mode == "fill":
            return f"街道总工会已登记收到您{quarter.label_zh}的报送，{when}截止前可以在这里补填具体数字。"
        if mode == "late":
            return (f"{quarter.label_zh}的报送已于{when}截止，我们还没有收到您的报送，现在补报，共7项。"
                    "随时可回复「上一步」返回，「取消」退出。")
        return (f"{quarter.label_zh}信息报送，{when}截止，共7项，几分钟就好。"
                "随时可回复「上一步」返回，「取消」退出。")

    def cross_check(self, ctx: Ctx, data: Mapping[str, Any]) -> None:
        """The figures must fit together however they were given (fresh, 沿用 or 修改)."""
        problem = ops.figure_problem(data)
        if problem:
            raise Recheck(problem[0], problem[1])

    def summary_extra(self, ctx: Ctx, data: Mapping[str, Any]) -> str | None:
        totals = Totals(**{k: data.get(k) or 0 for k in ops.FIGURES})
        parts = [f"{ind['label']} {ind['rate']:.0%}（目标{ind['target']:.0%}）"
                 for ind in totals.indicators() if ind["rate"] is not None]
        return "按您填的数字：" + "，".join(parts) + "。" if parts else None

    async def submit(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        chair = await ops.chair_for_openid(ctx.session, ctx.openid)
        if chair is None:
            return HOW_TO_BIND.format(call=ctx.settings.office.call_line())
        quarter = Quarter.parse(data["quarter"])
        try:
            report, corrected = await ops.submit_report(ctx.session, ctx.ops, chair, quarter, data)
        except ops.ChairError as exc:
            return f"{exc}\n{await ops.next_deadline_note(ctx.session, ctx.ops, chair)}"
        when = format_day(ops.deadline_of(ctx.ops, quarter))
        if corrected:
            head = f"已更新您{quarter.label_zh}的报送，谢谢！"
        elif report.on_time:
            head = f"已收到您{quarter.label_zh}的报送，谢谢{chair.name}主席！"
        else:
            head = f"已收到您{quarter.label_zh}的补报，谢谢{chair.name}主席！"
        tail = f"{when}截止前如需修改，再发「报送」即可。\n" if report.on_time else "\n"
        return f"{head}{tail}{await ops.next_deadline_note(ctx.session, ctx.ops, chair)}"


ReportForm.mount(router, start=text_is("报送", "信息报送", "季度报送", "季度信息报送") | click_is("REPORT"),
                 resume_word="报送")

# 「走访的数填错了，应该是9家」: a figure to correct, said in a sentence (no report open).
_CORRECTS = r"(?:填|写|报)错|改一下|要改|修改|更正"
_FIGURE = r"报送|报的|家|数|走访|建会|入会|会员|人数|企业"


@router.on(text_has(_CORRECTS) & text_has(_FIGURE))
async def correct_a_figure(ctx: Ctx) -> Reply | str | None:
    """A bound chair is told how a report is corrected; anyone else's message goes on as usual."""
    if await ops.chair_for_openid(ctx.session, ctx.openid) is None:
        return await ctx.dispatcher.unmatched(ctx)
    return ("要修改报送的数字，回复「报送」重新过一遍：要改的项直接回复新的数字，不改的项回复「沿用」；"
            "最后核对时也可以回复「修改」只改那一项。截止前都可以修改。")


# ---- binding -----------------------------------------------------------------------------------

@router.on(text_matches(BIND_WORDS, keyword=True))
async def bind_chair(ctx: Ctx) -> str:
    """Link this account to a chair with a one-time code."""
    m = re.search(BIND_WORDS + "$", ctx.text)  # after a polite wrapper too (请帮我绑定 K7M2QX)
    try:
        res = await ops.bind(ctx.session, ctx.ops, ctx.openid, m.group(1) if m else "")
    except ops.ChairError as exc:  # the refused attempt is counted: this transaction commits it
        return str(exc)
    head = ("您已经绑定过了。" if res.already else "绑定成功！") + \
        f"{res.chair.name}主席您好（{res.chair.organisation}）。"
    return (f"{head}今后每季度的信息报送提醒会发到这里，回复「报送」即可填写。\n"
            f"{await ops.next_deadline_note(ctx.session, ctx.ops, res.chair)}")


@router.on(text_is("绑定", "主席绑定", "绑定身份"))
async def explain_binding(ctx: Ctx) -> str:
    """How a chair binds their account."""
    chair = await ops.chair_for_openid(ctx.session, ctx.openid)
    if chair is not None:
        return (f"{chair.name}主席您好，您已绑定（{chair.organisation}）。回复「报送」即可填写季度信息报送。\n"
                f"{await ops.next_deadline_note(ctx.session, ctx.ops, chair)}")
    return f"请{ctx.settings.office.call_line()}索取绑定码，然后发送「绑定 绑定码」，例如：绑定 K7M2QX。"
