"""Grassroots union chairs in chat: `绑定 CODE` links the account to the chair's
record; `报送` (menu click REPORT) files the quarterly report.

A bound chair asking when the report is due (「截止是哪天」, inside the form or not) is answered
with the deadline and whether their report is in; figures may be said in the question's own
words (「走访了5家」), never as estimates (「十来家」 is asked again); an item is named at the
summary in the chairs' words (「发现的问题」「建会的」), and one figure of a report on file is
corrected in a sentence (「走访的数填错了，应该是9家」: the report opens at the summary, changed).

Operations (registry, binding, reports) are in ops.py, called with `ctx.ops`; a refused
one (`ops.ChairError`) is answered with its own sentence. The reminder ladder is in reminders.py.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.context import Ctx
from bot.core.forms import CONFIRM_WORDS, EDIT_WORDS, Field, Form, Invalid, Recheck, int_parser, text_parser
from bot.core.normalize import NotANumber, fold, is_word, parse_choice_number, parse_number
from bot.core.question import looks_like_question
from bot.core.router import Router, click_is, text_has, text_if, text_is, text_matches
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

# 「十几家」「几十家」「好几家」: a count nobody can file.
_VAGUE = re.compile(r"[0-9一二两三四五六七八九十]几|几[十百千]|好几|若干")


def _count(what: str, prompt: str, label: str, hi: int = 100_000) -> Any:  # noqa: ANN401
    """A number of enterprises: 12, 十二, 十二家, and in the question's own words (走访了5家,
    已建会的有38家); 没有 is 0. A report files exact figures: an estimate (大概十来家, 5家左右,
    十几家) is asked again."""
    in_range = int_parser(0, hi, "家", example="12", what=what)

    def parse(text: str) -> int:
        said = fold(text)
        vague = f"「{said}」是个大概的数，报送要填准确的数字，麻烦您核实一下，回复具体的家数，例如 12。"
        if _VAGUE.search(said):
            raise Invalid(vague)
        try:
            number = parse_number(text, ("家", "个", "户"), own_words=prompt + label)
            value = number.as_int()
        except NotANumber:
            raise Invalid("请回复一个数字，例如 12。") from None
        if number.approx:
            raise Invalid(vague)
        return in_range(str(value))
    return parse


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


# ---- questions about the deadline ----------------------------------------------------------------
# 「截止是哪天」「报送什么时候截止」「截止日期」「最晚哪天交」「deadline」: asked in a sentence, a bare
# deadline word, or when to hand it in. Not 「截至目前走访了6家」 (no asking word), nor another
# feature's deadline (报名, 答题 …).
_DEADLINE = re.compile(r"截止|截至|最晚|期限|deadline|ddl|最后一天")
_ASKING_WHEN = re.compile(r"哪天|哪一天|哪日|几号|几月|几时|什么时候|啥时候|什么时间|啥时间|多会|日期|时间|吗|么|了没|[?？]|哪")
_DUE = re.compile(r"(?:哪天|哪一天|几号|什么时候|啥时候|什么时间|几月几号?)(?:之前|以前|前)?(?:要|得|需要|必须|该|能)?"
                  r"(?:上报|报送|提交|交|报|填)")
_BARE_DEADLINE = frozenset({"截止", "截止日", "截止日期", "截止时间", "截止期限", "期限", "最后期限", "deadline", "ddl"})
_OTHER_DEADLINES = re.compile(r"报名|活动|培训|讲座|答题|每月一题|测试|考试|帮扶|补助|会费")


# What a question about the report's deadline is made of; anything else left (「工资最晚哪天发」
# leaves 工资发) is a question about something else.
_ABOUT_THE_REPORT = re.compile(r"信息报送|报送|报表|报告|材料|数据|季度|本|这个?|那个?|请问|问一下|想问|我们|咱们|我"
                               r"|上报|提交|交|报|填|要|得|需要|必须|该|能|之前|以前|前|到|是|在|的|了|呢|啊|呀|吧|哦"
                               r"|最后|一天|日|号|月|时候|什么|啥")


def asks_deadline(text: str) -> bool:
    """Whether a message asks when the quarterly report is due."""
    t = re.sub(r"[\s\W_]+", "", fold(text).lower())
    if _OTHER_DEADLINES.search(t):
        return False
    rest = _ABOUT_THE_REPORT.sub("", _ASKING_WHEN.sub("", _DUE.sub("", _DEADLINE.sub("", t))))
    if len(rest) >= 2:
        return False
    bare = re.sub(r"^(?:这个?季度|本季度)?(?:的)?(?:信息)?(?:报送)?(?:的)?|[呢啊呀吧]+$", "", t)
    return (bare in _BARE_DEADLINE or bool(_DUE.search(t))
            or (bool(_DEADLINE.search(t)) and bool(_ASKING_WHEN.search(t))))


# ---- the items as chairs name them (at the summary, or correcting a figure in a sentence) ----------
_ITEM_WORDS: dict[str, tuple[str, ...]] = {
    "enterprises": ("25人以上", "企业总数", "企业共有"),
    "unionised": ("建会", "建工会", "建立工会", "建了工会", "已建"),
    "wage_agreements": ("工资集体协议", "集体协议", "工资协议", "协议"),
    "harmonious": ("和谐", "a级"),
    "visits": ("走访", "调研"),
    "problems": ("问题", "诉求"),
    "summary": ("小结", "总结"),
}
_ITEM_FALLBACK = {"enterprises": ("企业数", "总数", "企业")}  # only when no other item is named
_NOT_AN_ITEM = re.compile(r"(?:没有|没|无|不是|不)(?:什么|啥)?(?:问题|诉求)")  # 「没问题」 is no item
_CHANGE = re.compile(r"改|错|不对|更正|重填|重新填")
# 「应该是6家」「改成6家」: what follows is the new figure.
_NEW_VALUE = re.compile(r"应该是|应当是|应是|应为|改成|改为|改到|换成|其实是|实际是|实际上是|正确的是|正确是|(?<!不)是|为")
# Words that only join an item's name to its number at the summary (「走访的数」「那一项」).
_ITEM_LINKING = set("的数那这个一项了是有共本季度")


def item_named(fields: Sequence[Field], text: str) -> Field | None:
    """The one report item a message names (「走访的数填错了」「发现的问题」「建会的」); None when it
    names none or several."""
    t = _NOT_AN_ITEM.sub("", re.sub(r"\s+", "", fold(text).lower()))
    for words in (_ITEM_WORDS, _ITEM_FALLBACK):
        hits = [f for f in fields if any(w in t for w in words.get(f.name, ()))]
        if hits:
            return hits[0] if len(hits) == 1 else None
    return None


def _only_names(f: Field, text: str) -> bool:
    """The message is just the item's name, perhaps with a figure (「发现的问题」「走访6家」)."""
    t = re.sub(r"[0-9零〇一二两三四五六七八九十百千]+[家个]?", "", re.sub(r"\s+", "", fold(text).lower()))
    known = set(fold(f.label).lower()) | set("".join(_ITEM_WORDS.get(f.name, ()))) | _ITEM_LINKING
    return all(ch in known for ch in t)


def _new_value(f: Field, text: str, changing: bool) -> Any:  # noqa: ANN401
    """The figure a correction gives an item (「…应该是6家」, or 「走访6家」 without a change word);
    None when it gives none (or the item is no figure): the item is then asked."""
    if f.name not in ops.FIGURES and f.name != "visits":
        return None
    t = fold(text)
    cues = list(_NEW_VALUE.finditer(t))
    said = t[cues[-1].end():] if cues else ("" if changing else t)
    if not said:
        return None
    try:
        return f.parse(said)
    except Invalid:
        return None


P_ENTERPRISES = "您负责范围内，职工25人以上的企业共有几家？（回复数字）"
P_UNIONISED = "其中已建立工会的有几家？"
P_WAGES = "已建会企业中，签订工资集体协议的有几家？"
P_HARMONIOUS = "已建会企业中，A级及以上和谐企业有几家？"
P_VISITS = "本季度走访调研了几家企业？"


class ReportForm(Form):
    flow = "chairs_report"
    title = "季度信息报送"
    fields = (
        Field("enterprises", P_ENTERPRISES, parse=_count("企业数", P_ENTERPRISES, "25人以上企业"),
              label="25人以上企业", show=_homes, check=_consistent("enterprises"),
              plausible=_many(1000, "职工25人以上的企业")),
        Field("unionised", P_UNIONISED, parse=_count("企业数", P_UNIONISED, "已建会企业"), label="已建会企业",
              show=_homes, check=_consistent("unionised")),
        Field("wage_agreements", P_WAGES, parse=_count("企业数", P_WAGES, "签订工资集体协议"),
              label="签订工资集体协议",
              show=_homes, check=_consistent("wage_agreements")),
        Field("harmonious", P_HARMONIOUS, parse=_count("企业数", P_HARMONIOUS, "A级以上和谐企业"),
              label="A级以上和谐企业",
              show=_homes, check=_consistent("harmonious")),
        Field("visits", P_VISITS, parse=_count("企业数", P_VISITS, "本季度走访", 10_000), label="本季度走访",
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

    async def answer_question(self, ctx: Ctx, data: Mapping[str, Any], text: str) -> str | None:
        """「报送什么时候截止」 at a figure: the deadline and where this report stands, then the step again."""
        if not asks_deadline(text) or "quarter" not in data:
            return None
        return self._deadline(ctx, data)

    def _deadline(self, ctx: Ctx, data: Mapping[str, Any]) -> str:
        quarter = Quarter.parse(data["quarter"])
        when = format_day(ops.deadline_of(ctx.ops, quarter))
        head = f"{quarter.label_zh}信息报送{when}截止{ops.days_left(ctx.ops, quarter)}。"
        mode = data.get("_mode")
        if mode in ("correct", "fill") and ctx.now >= ops.deadline_end(ctx.ops, quarter):
            return (f"{quarter.label_zh}的报送已于{when}截止，截止后不能再修改了；"
                    f"如需更正，请{ctx.settings.office.call_line()}。")
        if mode == "correct":
            return head + "您的报送我们已经收到了，现在是在修改，截止前都可以改。"
        if mode == "fill":
            return head + "街道总工会已登记收到您的报送，这里是补填具体数字。"
        if mode == "late":
            return (f"{quarter.label_zh}的报送已于{when}截止，我们还没有收到您的报送，现在是补报，"
                    "填完核对后回复「确认」就提交了。")
        return head + "这份报送还没有提交，填完核对后回复「确认」就报上了。"

    async def handle(self, ctx: Ctx) -> Reply | str | None:
        """The engine's handling, and what it leaves to the form: a deadline question the engine
        doesn't ask `answer_question` about (「截止日期」 is no sentence; at the summary, at a step of
        sentences), and an item named at the summary in the chairs' own words (「发现的问题」
        「走访的数填错了，应该是6家」)."""
        text = ctx.text if ctx.msg.kind in ("text", "voice") else ""
        state = ctx.dialogue.state or ""
        step = state.split(":", 1)[1] if ":" in state else ""
        data = dict(ctx.dialogue.data)
        if text and "quarter" in data:
            f = self._field(step)
            if asks_deadline(text):
                sentences = f is not None and getattr(f.parse, "sentences", False)
                if step == "confirm":
                    return self._show_summary(ctx, data, self._deadline(ctx, data))
                if step == "edit":
                    return self._deadline(ctx, data) + "\n" + self._edit_menu(ctx, data)
                if f is not None and f.kind == "text" and (
                        (sentences and len(text) <= 20) or (not sentences and not looks_like_question(text))):
                    return await self._ask(ctx, f, data, self._deadline(ctx, data))
            if step in ("confirm", "edit") and parse_choice_number(text) is None \
                    and not is_word(text, CONFIRM_WORDS) and not is_word(text, EDIT_WORDS):
                named = item_named(self._editable(data), text)
                if named is not None and (_CHANGE.search(text) or _only_names(named, text)):
                    return await self.change(ctx, data, named, text)
        return await super().handle(ctx)

    async def change(self, ctx: Ctx, data: dict[str, Any], f: Field, text: str, head: str = "") -> Reply | str | None:
        """Change one item: to the figure the message gives (then the summary, for 确认), or ask it."""
        value = _new_value(f, text, changing=bool(_CHANGE.search(text)))
        if value is None:
            return head + f"好的，我们改「{f.label}」这一项。\n" + await self._edit_field(ctx, f, data)
        old = data.get(f.name)
        data[f.name] = value
        data.pop("_editing", None)
        note = f"好的，{f.label}改为{f.display(value)}" + (
            f"（原来是{f.display(old)}）" if old is not None and old != value else "") + "，其他内容不变。"
        question = f.plausible(value, data) if f.plausible is not None else None
        if question:
            note += f"{question}不对的话回复「修改」。"
        return await self._advance(ctx, data, head + note)

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


REPORT = ReportForm.mount(router, start=text_is("报送", "信息报送", "季度报送", "季度信息报送") | click_is("REPORT"),
                          resume_word="报送")

# 「走访的数填错了，应该是9家」: a figure to correct, said in a sentence (no report open).
_CORRECTS = r"(?:填|写|报)错|改一下|要改|修改|更正|改成|改为|不对"
_FIGURE = r"报送|报的|家|数|走访|调研|建会|入会|会员|人数|企业|协议|和谐|小结|总结"
HOW_TO_CORRECT = ("要修改报送的数字，回复「报送」重新过一遍：要改的项直接回复新的数字，不改的项回复「沿用」；"
                  "最后核对时也可以回复「修改」只改那一项。截止前都可以修改。")


@router.on(text_has(_CORRECTS) & text_has(_FIGURE))
async def correct_a_figure(ctx: Ctx) -> Reply | str | None:
    """A bound chair whose report is on file and still correctable has it opened with the item they
    name changed (or asked), at the summary for 确认; otherwise told how. Anyone else's message goes
    on as usual."""
    chair = await ops.chair_for_openid(ctx.session, ctx.openid)
    if chair is None:
        return await ctx.dispatcher.unmatched(ctx)
    if REPORT.flow in ctx.dialogue.drafts:  # a report half done: that one comes first
        return "您有一份没填完的报送，回复「报送」接着填；最后核对时回复「修改」可以改任意一项。"
    try:
        start = await ops.start_report(ctx.session, ctx.ops, chair)
    except ops.ChairError as exc:  # on file, past its deadline
        return f"{exc}\n{await ops.next_deadline_note(ctx.session, ctx.ops, chair)}"
    quarter = start.quarter
    when = format_day(ops.deadline_of(ctx.ops, quarter))
    if start.mode in ("new", "late"):
        if start.mode == "late":
            return f"您{quarter.label_zh}的报送我们还没有收到（已于{when}截止），回复「报送」即可补报。"
        return f"您{quarter.label_zh}的报送还没有提交过，回复「报送」就可以填写，{when}截止。"
    if start.mode == "fill":  # received by other means: no figures on file to change
        return (f"街道总工会已登记收到您{quarter.label_zh}的报送，还没有具体数字：回复「报送」补填即可，"
                f"{when}截止前都可以。")
    f = item_named(REPORT.fields, ctx.text)
    if f is None:  # no item named
        return HOW_TO_CORRECT
    data: dict[str, Any] = {"quarter": quarter.label, "_mode": "correct", **(start.prefill or {}),
                            "_prefill": dict(start.prefill or {})}
    return await REPORT.change(ctx, data, f, ctx.text,
                               head=f"这是您{quarter.label_zh}已提交的报送，{when}截止前都可以修改。\n")


@router.on(text_if(asks_deadline, "asks when the quarterly report is due"))
async def tell_deadline(ctx: Ctx) -> Reply | str | None:
    """「截止是哪天」 from a bound chair: the deadline and whether their report is in (not a question
    for staff). Anyone else's message goes on as usual."""
    chair = await ops.chair_for_openid(ctx.session, ctx.openid)
    if chair is None:
        return await ctx.dispatcher.unmatched(ctx)
    return ops.deadline_answer(ctx.ops, *await ops.reporting_quarter(ctx.session, ctx.ops, chair))


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
