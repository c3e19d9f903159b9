"""The form engine's words, as a person answering a form sees them through the signed webhook:
how-to questions at short and long text steps, a form's own entry said mid-form, a draft picked up
again at its summary and left too long, a part a feature refuses, and items named at the summary
or in the edit menu (照片 for a photos item, a label in Latin letters in any case)
(mutation/triage/forms-words.txt lists the mutants shown to change nothing)."""
from __future__ import annotations

from bot.core.forms import Field, Form, Invalid, int_parser, text_parser
from bot.core.router import Router, text_is
from bot.core.types import as_reply
from tests.framework.test_forms_mutants import PET_SUMMARY, PetForm, mounted  # noqa: F401  (mounted: a fixture)

HOW_TO_CONTACT = "有问题留言给工作人员，有专人回复，回复「留言」就可以，您填到一半的{title}会帮您保存。"


# ---------------------------------------------------------------- how-to questions: a name step, a story step

def visit_form() -> type[Form]:
    """Built inside the test, so that mutation testing sees the test call text_parser."""
    class VisitForm(Form):
        flow = "wvisit"
        title = "走访登记"
        fields = (Field("who", "怎么称呼您？", parse=text_parser(1, 100), label="称呼"),  # a name: up to 100
                  Field("story", "说说情况。", parse=text_parser(1, 101), label="情况"),  # a story: over 100
                  Field("note", "还有补充吗？", label="补充"))  # the default parser: a story too

        async def submit(self, ctx, data):  # noqa: ANN001, ANN201
            return f"收到：{data['who']}｜{data['story']}｜{data['note']}"
    return VisitForm


async def test_a_how_to_question_is_no_name_but_a_story_of_over_100_characters_may_say_it(mounted):  # noqa: ANN001
    _, sim = await mounted(visit_form())
    u = sim.user("oWVisit")
    assert await u.send("走访登记") == "怎么称呼您？"
    # a name step (100 characters at most): the keyword is given and the question asked again
    assert await u.send("怎么联系工会") == HOW_TO_CONTACT.format(title="走访登记") + "\n怎么称呼您？"
    assert await u.send("小王") == "说说情况。"
    # a step of 101 characters is a story already: the same words are its content
    assert await u.send("怎么联系工会") == "还有补充吗？"
    assert await u.send("怎么联系工会") == ("请核对您的走访登记：\n1. 称呼：小王\n2. 情况：怎么联系工会\n3. 补充：怎么联系工会\n\n"
                                           "回复「确认」提交，「修改」更改某一项，「取消」放弃。")
    assert await u.send("确认") == "收到：小王｜怎么联系工会｜怎么联系工会"


# ---------------------------------------------------------------- the form's own entry, reached by a feature mid-form

def _entry_mid_form(router: Router, form: Form) -> None:
    @router.interrupt(text_is("看看宠物登记"))
    async def entry(ctx):  # noqa: ANN001, ANN202  (a feature's own entry, tried even inside a dialogue)
        return as_reply(await form.start(ctx))


async def test_the_forms_entry_reached_mid_form_says_where_we_are(mounted):  # noqa: ANN001
    _, sim = await mounted(PetForm, extra=_entry_mid_form)
    u = sim.user("oWPetEntry")
    assert await u.send("看看宠物登记") == "宠物叫什么名字？"  # no form open: it starts
    assert await u.send("旺财") == "它几岁了？"
    assert await u.send("看看宠物登记") == "您正在填写宠物登记，我们接着来：\n它几岁了？"
    assert await u.send("3") == PET_SUMMARY
    assert await u.send("看看宠物登记") == "您正在填写宠物登记，我们接着来：\n" + PET_SUMMARY
    assert await u.send("确认") == "登记好了：旺财，3岁"


# ---------------------------------------------------------------- a draft picked up at its summary keeps the usual time

async def test_a_draft_picked_up_at_the_summary_expires_like_any_open_form(mounted, clock, settings):  # noqa: ANN001
    _, sim = await mounted(PetForm)
    u = sim.user("oWPetDraft")
    for a in ("宠物登记", "旺财", "3"):
        await u.send(a)
    assert "您没填完的宠物登记已为您保存" in await u.send("我要留言")
    await u.send("取消")  # the 留言 ends; the pet form waits as a draft
    assert await u.send("宠物登记") == ("您上次的宠物登记还没填完，我们从停下的地方接着来（回复「取消」可放弃）：\n"
                                       + PET_SUMMARY)
    clock.advance(hours=settings.dialogue.expire_hours + 1)
    late = await u.send("确认")
    assert late.startswith("您之前未完成的宠物登记已超过保留时间，已自动清除。\n\n")
    assert "登记好了" not in late  # nothing was submitted after the keep time


async def test_a_draft_picked_up_at_the_summary_is_kept_within_the_time(mounted, clock, settings):  # noqa: ANN001
    _, sim = await mounted(PetForm)
    u = sim.user("oWPetDraft2")
    for a in ("宠物登记", "旺财", "3", "我要留言", "取消", "宠物登记"):
        await u.send(a)
    clock.advance(hours=settings.dialogue.expire_hours - 1)
    assert await u.send("确认") == "登记好了：旺财，3岁"


# ---------------------------------------------------------------- a part the feature refuses is asked again with its reason

class NotesForm(Form):
    flow = "wnotes"
    title = "情况说明"
    fields = (Field("notes", "请发送情况说明。", kind="parts", label="说明"),)

    async def on_part(self, ctx, data, part):  # noqa: ANN001, ANN201
        if part["t"] == "text" and len(part["v"]) > 20:
            raise Invalid("这一段太长了，没有保存，请分几条发送。")

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return "说明收到了"


ASK_NOTES = "请发送情况说明。\n文字、语音、照片都可以，可以分几条发，发完后回复「完成」。"


async def test_a_part_the_feature_refuses_gets_its_reason_and_the_question_again(mounted):  # noqa: ANN001
    _, sim = await mounted(NotesForm)
    u = sim.user("oWNotes")
    assert await u.send("情况说明") == ASK_NOTES
    assert await u.send("厂里从上个月开始拖欠工资一直拖到现在已经三个月") == (
        "这一段太长了，没有保存，请分几条发送。\n" + ASK_NOTES  # wages owed: 留言 is pointed to as well
        + "\n\n如果是想问工作人员别的问题，回复「留言」，您填到一半的内容会帮您保存。")
    assert await u.send("厂里拖欠工资") == "收到（文字，已收到1 段文字）。还有请继续发送，发完回复「完成」。"


# ---------------------------------------------------------------- items named at the summary and in the edit menu

class ProofForm(Form):
    flow = "wproof"
    title = "材料登记"
    fields = (Field("who", "您的名字？", label="姓名"),
              Field("proof", "请发送证明材料。", kind="images", label="证明材料"),
              Field("email", "您的 email？", label="email"))

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"收好了：{data['who']}，{' '.join(data['proof'])}，{data['email']}"


def _proof_summary(email: str = "a@b.cn") -> str:
    return (f"请核对您的材料登记：\n1. 姓名：小明\n2. 证明材料：1 张照片\n3. email：{email}\n\n"
            "回复「确认」提交，「修改」更改某一项，「取消」放弃。还有照片可以直接发送。")


PROOF_CHOICE = "证明材料现有 1 张照片。\n回复「添加」在原有基础上再发几张，回复「重新上传」删掉原来的、重新发送；直接发送照片就是添加。"


async def _to_proof_summary(u) -> None:  # noqa: ANN001
    await u.send("材料登记")
    await u.send("小明")
    await u.image("M1")
    await u.send("完成")
    assert await u.send("a@b.cn") == _proof_summary()


async def test_photos_name_the_photos_item_at_the_summary_and_in_the_edit_menu(mounted):  # noqa: ANN001
    _, sim = await mounted(ProofForm)
    u = sim.user("oWProof")
    await _to_proof_summary(u)
    assert await u.send("照片不对") == PROOF_CHOICE  # 「照片」 is the photos item, whatever its label
    assert await u.send("完成") == _proof_summary()
    await u.send("修改")
    assert await u.send("照片") == PROOF_CHOICE
    assert await u.send("重新上传") == "好的，原来的照片不要了。请重新发送照片，发完后回复「完成」。"
    await u.image("M2")
    assert await u.send("完成") == _proof_summary()
    assert await u.send("确认") == "收好了：小明，M2，a@b.cn"


async def test_a_latin_label_is_named_in_any_case(mounted):  # noqa: ANN001
    _, sim = await mounted(ProofForm)
    u = sim.user("oWProofMail")
    await _to_proof_summary(u)
    await u.send("修改")
    assert await u.send("EMAIL") == "您的 email？\n上次留的是「a@b.cn」，不变请回复「沿用」。"
    assert await u.send("c@d.cn") == _proof_summary("c@d.cn")
    assert await u.send("Email写错了") == "您的 email？\n上次留的是「c@d.cn」，不变请回复「沿用」。"
    assert await u.send("沿用") == _proof_summary("c@d.cn")


class ContactForm(PetForm):
    flow = "wcontact"
    title = "联系方式"
    fields = (Field("name", "怎么称呼您？", label="称呼"), Field("qq", "您的QQ号？", label="QQ号"))

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"记下了：{data['qq']}"


async def test_a_label_with_capitals_is_named_in_lower_case_too(mounted):  # noqa: ANN001
    _, sim = await mounted(ContactForm)
    u = sim.user("oWContact")
    await u.send("联系方式")
    await u.send("小明")
    summary = "请核对您的联系方式：\n1. 称呼：小明\n2. QQ号：{}\n\n回复「确认」提交，「修改」更改某一项，「取消」放弃。"
    assert await u.send("12345") == summary.format("12345")
    assert await u.send("qq号写错了") == "您的QQ号？\n上次留的是「12345」，不变请回复「沿用」。"
    assert await u.send("54321") == summary.format("54321")
    await u.send("修改")
    assert await u.send("qq") == "您的QQ号？\n上次留的是「54321」，不变请回复「沿用」。"


class CourseForm(PetForm):
    flow = "wcourse"
    title = "课程登记"
    fields = (Field("name", "怎么称呼您？", parse=text_parser(1, 20), label="称呼"),
              Field("age", "您多大年纪？", parse=int_parser(16, 100, "岁"), label="年龄"),
              Field("story", "说说情况。", parse=text_parser(1, 500), label="情况"))

    async def answer_question(self, ctx, data, text):  # noqa: ANN001, ANN201
        if "收费" in text:  # 「收费不」 is no question to the detector, but no name or number either
            return f"{ctx.settings.office.name}的课程免费。"
        return f"课程在{ctx.settings.office.name}二楼教室。" if "哪" in text else None

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"记下了：{data['name']}"


async def test_a_question_the_form_can_answer_is_answered_and_the_step_asked_again(mounted):  # noqa: ANN001
    _, sim = await mounted(CourseForm)
    u = sim.user("oWCourse")
    assert await u.send("课程登记") == "怎么称呼您？"
    where = "课程在街道总工会二楼教室。"
    assert await u.send("课程在哪里上啊") == f"{where}\n怎么称呼您？"  # answered, not kept as a name
    assert await u.send("小李") == "您多大年纪？"
    assert await u.send("请问课程在哪里上") == f"{where}\n您多大年纪？"  # at a number too
    assert await u.send("收费不") == "街道总工会的课程免费。\n您多大年纪？"
    assert await u.send("45") == "说说情况。"
    too_long = "收费" + "很" * 499  # a story too long is told so, even if the form could answer it
    assert (await u.send(too_long)).startswith("内容有点长（501字）")
    assert await u.send("请问课程在哪里上呢") == "请核对您的课程登记：\n1. 称呼：小李\n2. 年龄：45\n3. 情况：请问课程在哪里上呢\n\n" \
        "回复「确认」提交，「修改」更改某一项，「取消」放弃。"  # a story may ask: it is the content


def _grades(ctx, data):  # noqa: ANN001, ANN202  (choices read when asked, as features do)
    return ["A级企业", "B级企业"]


class SizeField(Field):
    """A choice with a reading of its own (as the sign-up's activity field has), no aliases."""

    def read(self, raw, choices=None):  # noqa: ANN001, ANN201
        return "大" if "大的" in raw else super().read(raw, choices)


class GradeForm(PetForm):
    flow = "wgrade"
    title = "企业评级"
    fields = (Field("grade", "评的是几级？", choices=_grades, label="评级",
                    aliases={"A级企业": ("最好", "优秀"), "B级企业": ("一般",)}),
              SizeField("size", "规模？", choices=("大", "小"), label="规模"))

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"记下了：{data['grade']}，{data['size']}"


async def test_a_choice_read_from_other_words_is_said_back_and_only_then(mounted):  # noqa: ANN001
    _, sim = await mounted(GradeForm)
    u = sim.user("oWGrade")
    await u.send("企业评级")
    size_q = "规模？\n1. 大\n2. 小\n（回复序号或文字）"
    # its aliases (the choices read when asked): said back
    assert await u.send("评得很优秀") == f"好的，评级记为「A级企业」（不对请回复「上一步」）。\n{size_q}"
    await u.send("上一步")
    assert await u.send("沿用") == size_q  # the answer kept: nothing new to say back
    await u.send("上一步")
    assert await u.send("a级") == size_q  # a part of the choice's own word, in any case
    await u.send("上一步")
    assert await u.send("A级企业吧") == size_q  # its own word, with a particle
    await u.send("上一步")
    assert await u.send("B级企业") == size_q
    # a field without aliases says nothing back, whatever its own reading made of the words
    assert (await u.send("大的那个")).startswith("请核对您的企业评级")


class MoodForm(PetForm):
    flow = "wmood"
    title = "心情登记"
    fields = (Field("mood", "今天心情如何？", choices=("好", "不好"), aliases={"不好": ("难受", "烦")}),)

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"记下了：{data['mood']}"


async def test_a_choice_said_back_for_an_item_without_a_label(mounted):  # noqa: ANN001
    _, sim = await mounted(MoodForm)
    u = sim.user("oWMood")
    await u.send("心情登记")
    assert (await u.send("心里烦")).startswith("好的，这一项记为「不好」（不对请回复「上一步」）。\n")


# ---------------------------------------------------------------- answers already known: the summary at once, a blank is no answer

class KnownPetForm(PetForm):
    flow = "wknown"
    title = "宠物复核"
    fields = (Field("name", "宠物叫什么名字？", label="名字", known=lambda ctx: "旺财"),
              Field("age", "它几岁了？", parse=int_parser(0, 30, "岁"), label="年龄", known=lambda ctx: 3))

    def intro(self, ctx, data):  # noqa: ANN001, ANN201
        return "您的宠物资料我们已经有了，请看一下。"


async def test_all_answers_known_shows_the_summary_after_the_intro(mounted):  # noqa: ANN001
    _, sim = await mounted(KnownPetForm)
    u = sim.user("oWKnown")
    assert await u.send("宠物复核") == ("您的宠物资料我们已经有了，请看一下。\n"
                                       + PET_SUMMARY.replace("宠物登记", "宠物复核"))
    assert await u.send("确认") == "登记好了：旺财，3岁"


class BlankPetForm(PetForm):
    flow = "wblank"
    title = "宠物补登"
    fields = (Field("name", "宠物叫什么名字？", label="名字", known=lambda ctx: ""),  # on file, but blank
              Field("age", "它几岁了？", parse=int_parser(0, 30, "岁"), label="年龄"))


async def test_a_blank_known_value_is_asked_for(mounted):  # noqa: ANN001
    _, sim = await mounted(BlankPetForm)
    u = sim.user("oWBlank")
    assert await u.send("宠物补登") == "宠物叫什么名字？"
    assert await u.send("旺财") == "它几岁了？"
    assert await u.send("3") == PET_SUMMARY.replace("宠物登记", "宠物补登")
