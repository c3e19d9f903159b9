"""The form engine's answer parsers and choice matching, as a person answering sees them.

The parsers are built when a feature declares its fields (at import), so the
conversation tests exercise them without running their construction under test; here
each is built and answered the way people answer (mutation/report-forms.txt)."""
from __future__ import annotations

import pytest

from bot.core.forms import Field, Form, Invalid, Recheck, Stop, int_parser, money_parser, parts_text, pick, text_parser
from bot.core.router import Router, click_is, text_is
from bot.wechat.simulator import WeChatSim


def _hint(parse, answer: str) -> str:  # noqa: ANN001
    with pytest.raises(Invalid) as exc:
        parse(answer)
    return exc.value.hint


def test_short_text_loses_the_full_stop_voice_adds_long_text_keeps_it():
    short, long_ = text_parser(1, 100), text_parser(1, 500)
    assert short(" 环卫所。 ") == "环卫所"
    assert short("环卫所！？，") == "环卫所"
    assert long_("我想问一下。") == "我想问一下。"
    assert text_parser(1, 101)("我想问一下。") == "我想问一下。"  # a sentence keeps its stop
    assert short("Team X") == "Team X"


def test_a_field_without_a_parser_takes_one_character_to_a_long_sentence():
    parse = Field("note", "备注").parse  # the default parser of a text question
    assert parse("甲") == "甲"
    assert parse("我想问一下。") == "我想问一下。"
    assert parse("字" * 500) == "字" * 500
    assert _hint(parse, "字" * 501) == "内容有点长（501字），请控制在500字以内。"


def test_text_that_is_too_short_too_long_or_not_words_is_asked_again():
    parse = text_parser(2, 10)
    assert _hint(parse, "！！") == "这一步请用文字回复。"
    assert _hint(parse, " 好 ") == "内容太短啦，请至少写2个字。"
    assert _hint(parse, "一二三四五六七八九十一") == "内容有点长（11字），请控制在10字以内。"
    assert parse("一二三四五六七八九十") == "一二三四五六七八九十"  # exactly the limit is fine
    assert parse("好的") == "好的"
    assert getattr(parse, "free_text", False) is True


def test_whole_numbers_as_people_say_them():
    parse = int_parser(0, 12, "人", units=("口",), what="人数")
    assert [parse(a) for a in ("3", "三口人", "十二", "3个", "没有", "0", "12")] == [3, 3, 12, 3, 0, 0, 12]
    assert _hint(parse, "13") == "人数应在0–12人之间，请再确认一下。"
    assert _hint(parse, "好多") == "请回复一个数字，例如 3。"


def test_no_means_zero_only_where_zero_is_allowed_and_the_example_fits_the_range():
    parse = int_parser(1, 5)
    assert _hint(parse, "没有") == "请回复一个数字，例如 3。"
    assert _hint(parse, "0") == "数字应在1–5之间，请再确认一下。"
    assert parse("1") == 1 and parse("5") == 5
    assert _hint(int_parser(10, 20), "x") == "请回复一个数字，例如 10。"
    assert _hint(int_parser(0, 2), "x") == "请回复一个数字，例如 2。"
    assert _hint(int_parser(1, 5, example="4"), "x") == "请回复一个数字，例如 4。"


def test_amounts_of_money_as_people_say_them():
    parse = money_parser(10000)
    assert [parse(a) for a in ("3500", "三千五", "¥300", "￥300元", "300块钱", "没有", "10000")] == [
        3500.0, 3500.0, 300.0, 300.0, 300.0, 0.0, 10000.0]
    assert parse("300.456元") == 300.46
    assert parse("300元钱") == parse("300块") == parse("三百元") == 300.0
    assert _hint(parse, "12000") == "金额应在 0–10000 元之间，请再确认一下。"
    assert _hint(parse, "不少") == "请回复金额数字，单位元，例如 3500（说「三千五」也可以）。"
    assert money_parser()("1.2万") == 12000.0
    assert money_parser()("100万") == 1_000_000.0  # the default ceiling
    assert _hint(money_parser(), "1000000.5") == "金额应在 0–1000000 元之间，请再确认一下。"


CHOICES = ["甲类", ("b", "乙类"), "丙类"]


@pytest.mark.parametrize("answer,value", [("1", "甲类"), ("2", "b"), ("二", "b"), ("第二个", "b"), ("3", "丙类"),
                                          ("乙类", "b"), ("乙", "b"), ("丙类", "丙类")])
def test_a_choice_by_number_word_or_unique_part(answer, value):  # noqa: ANN001
    assert pick(answer, CHOICES) == value


@pytest.mark.parametrize("answer,value", [("a", "A"), ("A型", None), ("ab", "AB"), ("AB。", "AB"), ("o", "O")])
def test_a_whole_choice_wins_over_a_longer_one_containing_it(answer, value):  # noqa: ANN001
    blood = ["A", "B", "AB", "O"]
    if value is None:  # 「A型」 is in no label: not a choice
        assert _hint(lambda a: pick(a, blood), answer) == "请回复 1–4 之间的序号，或选项中的文字。"
    else:
        assert pick(answer, blood) == value


@pytest.mark.parametrize("answer,value", [("a", "A 班"), ("B", "B 班"), ("b 班", "B 班")])
def test_latin_letters_match_a_choice_in_either_case(answer, value):  # noqa: ANN001
    assert pick(answer, ["A 班", "B 班", "食堂"]) == value


@pytest.mark.parametrize("answer", ["0", "4", "类", "丁"])
def test_a_choice_that_is_not_one_is_asked_again(answer):  # noqa: ANN001
    assert _hint(lambda a: pick(a, CHOICES), answer) == "请回复 1–3 之间的序号，或选项中的文字。"


def test_parts_are_counted_for_the_summary():
    assert parts_text([{"t": "text"}, {"t": "image"}, {"t": "image"}]) == "1 段文字、2 张照片"
    assert parts_text([{"t": "image"}]) == "1 张照片"
    assert parts_text([{"t": "text"}, {"t": "text"}]) == "2 段文字"
    assert parts_text([]) == "（无）"


def test_the_summary_shows_each_answer_readably():
    f = Field("note", "说明", label="说明")
    assert f.display(None) == f.display("") == f.display([]) == "（未填）"
    assert f.display("短") == "短"
    assert f.display("字" * 80) == "字" * 80
    assert f.display("字" * 81) == "字" * 80 + "……（共81字）"
    assert Field("p", "照片", kind="images").display(["m1", "m2"]) == "2 张照片"
    assert Field("x", "x", kind="parts").display([{"t": "text"}]) == "1 段文字"
    assert Field("y", "y", show=lambda v: f"{v} 元").display(3) == "3 元"


def test_a_question_lists_its_choices_and_says_what_may_be_skipped():
    f = Field("kind", "哪一类？", choices=["甲类", "乙类"], optional=True)
    assert f.question(None, {}, ["甲类", ("b", "乙类")]) == "哪一类？\n1. 甲类\n2. 乙类\n（回复序号或文字）\n（可回复「跳过」）"
    photos = Field("p", "请发照片", kind="images")
    assert photos.question(None, {}) == "请发照片\n请直接发送照片，发完后回复「完成」。"
    parts = Field("q", "请说明", kind="parts")
    assert parts.question(None, {}) == "请说明\n文字、语音、照片都可以，可以分几条发，发完后回复「完成」。"
    assert Field("d", lambda ctx, data: f"{data['n']}号？").question(None, {"n": 7}) == "7号？"


def test_an_answer_is_read_against_fixed_choices_or_parsed():
    assert Field("kind", "哪一类？", choices=["甲类", "乙类"]).read(" 2 ") == "乙类"
    assert Field("n", "几人？", parse=int_parser(0, 9)).read(" 三 ") == 3
    assert Field("w", "?", choices=lambda ctx, data: ["x"]).read("abc", ["甲类", "abc"]) == "abc"


# ---------------------------------------------------------------- a form mounted in the test, through the webhook
#
# `Form.mount` runs when a feature is imported; these tests mount their own forms inside the
# test, so the engine's start/continue handlers built by `mount` are the ones under test.

@pytest.fixture
def mounted(make_app, engine, aiohttp_client, settings, clock):  # noqa: ANN001, ANN201
    """mount(FormClass, start=None, resume_word="", extra=None) -> (form, WeChatSim) on the real app;
    `extra(router, form)` adds the test's own routes."""
    async def mount(form_cls, start=None, resume_word="", feature_list=None, extra=None):  # noqa: ANN001, ANN202
        router = Router("t_" + form_cls.flow)
        word = {"resume_word": resume_word} if resume_word else {}  # the default, unless a test gives one
        form = form_cls.mount(router, start=start or text_is(form_cls.title), **word)
        if extra is not None:
            extra(router, form)
        client = await aiohttp_client(make_app(extra_routers=[router], feature_list=feature_list))
        return form, WeChatSim(client, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock)
    return mount


class PetForm(Form):
    flow = "pet"
    title = "宠物登记"
    fields = (Field("name", "宠物叫什么名字？", label="名字"),
              Field("age", "它几岁了？", parse=int_parser(0, 30, "岁"), label="年龄"))

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"登记好了：{data['name']}，{data['age']}岁"


PET_SUMMARY = "请核对您的宠物登记：\n1. 名字：旺财\n2. 年龄：3\n\n回复「确认」提交，「修改」更改某一项，「取消」放弃。"


async def test_a_mounted_form_starts_by_its_word_and_is_kept_when_left(mounted):  # noqa: ANN001
    form, sim = await mounted(PetForm, start=text_is("宠物登记", "登记宠物"))
    assert form.resume_word == "宠物登记"  # the first word of its start filter
    u = sim.user("oPet")
    assert await u.send("宠物登记") == "宠物叫什么名字？"
    assert "[CDATA[宠物叫什么名字？]]" in u.last["raw"].decode()  # no blank first line in the bubble
    assert await u.send("旺财") == "它几岁了？"
    # its own start word mid-form: where we are, not an answer
    assert await u.send("登记宠物") == "您正在填写宠物登记，我们接着来：\n它几岁了？"
    left = await u.send("我要留言")  # another feature's keyword: the form waits as a draft
    assert "哪方面" in left and "您没填完的宠物登记已为您保存，回复「宠物登记」就能接着填。" in left
    await u.send("取消")
    back = await u.send("宠物登记")
    assert back == "您上次的宠物登记还没填完，我们从停下的地方接着来（回复「取消」可放弃）：\n它几岁了？"
    assert await u.send("三岁") == PET_SUMMARY
    assert "[CDATA[请核对您的宠物登记" in u.last["raw"].decode()  # no blank first line in the bubble
    assert await u.send("宠物登记") == "您正在填写宠物登记，我们接着来：\n" + PET_SUMMARY
    assert await u.send("确认") == "登记好了：旺财，3岁"


async def test_a_form_mounted_on_a_click_has_no_word_unless_given_one(mounted):  # noqa: ANN001
    form, sim = await mounted(PetForm, start=click_is("PET"))
    assert form.resume_word == ""
    u = sim.user("oPetClick")
    assert await u.click("PET") == "宠物叫什么名字？"
    assert await u.send("旺财") == "它几岁了？"
    # a click on its own menu entry mid-form resumes where it stopped; it is no answer
    assert await u.click("PET") == "您上次的宠物登记还没填完，我们从停下的地方接着来（回复「取消」可放弃）：\n它几岁了？"


async def test_the_word_given_at_mount_is_the_one_that_resumes(mounted):  # noqa: ANN001
    form, sim = await mounted(PetForm, start=click_is("PET") | text_is("宠物登记"), resume_word="宠物")
    assert form.resume_word == "宠物"
    u = sim.user("oPet2")
    await u.click("PET")
    assert "您没填完的宠物登记已为您保存，回复「宠物」就能接着填。" in await u.send("我要留言")


async def test_the_first_word_of_a_text_start_is_the_resume_word(mounted):  # noqa: ANN001
    form, _ = await mounted(PetForm, start=click_is("PET") | text_is("养宠物", "宠物"))
    assert form.resume_word == "养宠物"
    form, _ = await mounted(PetForm, start=text_is("宠物登记") | text_is("登记宠物"))
    assert form.resume_word == "宠物登记"


async def test_a_photo_where_the_form_takes_none_is_said_not_kept(mounted):  # noqa: ANN001
    _, sim = await mounted(PetForm)
    u = sim.user("oPetPhoto")
    await u.send("宠物登记")
    assert await u.image("M1") == "这一步需要文字回复，刚才的照片没有保存。\n宠物叫什么名字？"
    await u.send("旺财")
    await u.send("3")
    assert await u.image("M2") == "这份宠物登记不需要照片，刚才的照片没有保存。\n\n" + PET_SUMMARY
    assert await u.send("确认") == "登记好了：旺财，3岁"


async def test_the_edit_menu_by_number_by_label_and_back_to_the_summary(mounted):  # noqa: ANN001
    _, sim = await mounted(PetForm)
    u = sim.user("oPetEdit")
    for a in ("宠物登记", "旺财", "3"):
        await u.send(a)
    menu = "请回复要修改的项目序号：\n1. 名字：旺财\n2. 年龄：3\n（回复「上一步」回到核对页）"
    assert await u.send("修改") == menu
    assert await u.send("宠物登记") == "您正在填写宠物登记，我们接着来：\n" + menu  # resumed at the menu
    assert await u.send("9") == "请回复 1–2 之间的序号，或项目的名称。\n" + menu
    assert await u.send("0") == "请回复 1–2 之间的序号，或项目的名称。\n" + menu
    assert await u.send("上一步") == "好的，不修改了。请再核对一遍：\n" + PET_SUMMARY
    await u.send("修改")
    assert await u.send("完成") == "好的，不修改了。请再核对一遍：\n" + PET_SUMMARY
    await u.send("修改")
    assert await u.send("确认") == "好的，不修改了。请再核对一遍：\n" + PET_SUMMARY
    await u.send("修改")
    assert await u.send("1") == "宠物叫什么名字？\n上次留的是「旺财」，不变请回复「沿用」。"
    assert await u.send("来福") == PET_SUMMARY.replace("旺财", "来福")
    await u.send("修改")
    assert await u.send("年龄") == "它几岁了？\n上次留的是「3」，不变请回复「沿用」。"  # by its label
    assert await u.send("沿用") == PET_SUMMARY.replace("旺财", "来福")
    # at the summary a number picks the item to change, as in the menu
    assert await u.send("2") == "它几岁了？\n上次留的是「3」，不变请回复「沿用」。"
    assert await u.send("4") == PET_SUMMARY.replace("旺财", "来福").replace("年龄：3", "年龄：4")
    assert await u.send("1") == "宠物叫什么名字？\n上次留的是「来福」，不变请回复「沿用」。"
    assert await u.send("旺财") == PET_SUMMARY.replace("年龄：3", "年龄：4")
    assert await u.send("好看") == ("请回复「确认」提交，「修改」更改某一项，或「取消」放弃。\n\n"
                                    + PET_SUMMARY.replace("年龄：3", "年龄：4"))
    assert await u.send("3") == ("请回复「确认」提交，「修改」更改某一项，或「取消」放弃。\n\n"
                                 + PET_SUMMARY.replace("年龄：3", "年龄：4"))
    assert await u.send("确认") == "登记好了：旺财，4岁"


async def test_a_photo_in_the_edit_menu_is_treated_as_at_the_summary(mounted):  # noqa: ANN001
    _, sim = await mounted(PetForm)
    u = sim.user("oPetEditPhoto")
    for a in ("宠物登记", "旺财", "3", "修改"):
        await u.send(a)
    assert await u.image("M1") == "这份宠物登记不需要照片，刚才的照片没有保存。\n\n" + PET_SUMMARY


async def test_back_at_the_first_question_and_back_to_an_answer_on_offer(mounted):  # noqa: ANN001
    _, sim = await mounted(PetForm)
    u = sim.user("oPetBack")
    await u.send("宠物登记")
    assert await u.send("上一步") == "这已经是第一步了。\n宠物叫什么名字？"
    await u.send("旺财")
    assert await u.send("上一步") == "好的，回到上一步：\n宠物叫什么名字？\n上次留的是「旺财」，不变请回复「沿用」。"
    assert await u.send("沿用") == "它几岁了？"
    assert await u.send("3") == PET_SUMMARY


class AlbumForm(Form):
    flow = "album"
    title = "相册登记"
    fields = (Field("who", "这是谁的照片？", label="主人"),
              Field("photos", "请发送照片。", kind="images", label="照片", max_images=2),
              Field("place", "在哪里拍的？", label="地点"))

    def summary_extra(self, ctx, data):  # noqa: ANN001, ANN201
        return "（照片只给工作人员看）" if ctx.openid == "oAlbumNote" else None

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"收好了：{data['who']}，{' '.join(data['photos'])}，{data['place']}"


ASK_PHOTOS = "请发送照片。\n请直接发送照片，发完后回复「完成」。"


def _album_summary(n: int) -> str:
    return (f"请核对您的相册登记：\n1. 主人：小明\n2. 照片：{n} 张照片\n3. 地点：公园\n\n"
            "回复「确认」提交，「修改」更改某一项，「取消」放弃。还有照片可以直接发送。")


async def test_photos_are_collected_up_to_the_limit_from_any_step(mounted):  # noqa: ANN001
    _, sim = await mounted(AlbumForm)
    u = sim.user("oAlbum")
    await u.send("相册登记")
    # a photo before its step is kept for it, and the question is asked again
    assert await u.image("M1") == "照片收到了，已放进照片（共 1 张）。我们先把这一项填完：\n这是谁的照片？"
    assert await u.send("小明") == ASK_PHOTOS
    assert await u.send("好看") == "这一步请发送照片，刚才的文字没有保存。已收到 1 张。\n" + ASK_PHOTOS
    assert await u.send("完了吗") == ("这一步请发送照片，刚才的文字没有保存。已收到 1 张。\n" + ASK_PHOTOS
                                      + "\n\n如果是想问工作人员别的问题，回复「留言」，您填到一半的内容会帮您保存。")
    assert await u.voice("V1") == "这条语音没有识别出文字。\n" + ASK_PHOTOS
    assert await u.image("M2") == "已收到第 2 张照片。还有请继续发送，发完回复「完成」。"
    assert await u.image("M3") == "已收到 2 张，最多 2 张，这张没有保存。请回复「完成」继续。"
    assert await u.voice("V2", recognition="完成。") == "在哪里拍的？"
    assert await u.image("M4") == "照片最多 2 张，这张没有保存。\n在哪里拍的？"
    assert await u.send("公园") == _album_summary(2)
    assert await u.image("M5") == "照片最多 2 张，已经满了，这张没有保存。\n\n" + _album_summary(2)
    assert await u.send("确认") == "收好了：小明，M1 M2，公园"


async def test_photos_are_required_unless_optional_and_added_at_the_summary(mounted):  # noqa: ANN001
    _, sim = await mounted(AlbumForm)
    u = sim.user("oAlbum2")
    await u.send("相册登记")
    await u.send("小明")
    assert await u.send("完成") == "还没有收到照片哦。\n" + ASK_PHOTOS
    assert await u.send("跳过") == "这一步请发送照片，刚才的文字没有保存。\n" + ASK_PHOTOS
    await u.image("M1")
    assert await u.send("完成") == "在哪里拍的？"
    assert await u.image("M2") == "照片收到了，已放进照片（共 2 张）。我们先把这一项填完：\n在哪里拍的？"
    await u.send("公园")
    await u.send("修改")
    await u.send("2")
    assert await u.send("沿用") == _album_summary(2)
    await u.send("修改")
    await u.send("2")
    assert await u.send("重新上传") == "好的，原来的照片不要了。请重新发送照片，发完后回复「完成」。"
    assert await u.image("M9") == "已收到第 1 张照片。还有请继续发送，发完回复「完成」。"
    assert await u.send("完成") == _album_summary(1)
    assert await u.image("M8") == "照片收到了，已添加到照片（共 2 张）。\n" + _album_summary(2)
    assert await u.send("确认") == "收好了：小明，M9 M8，公园"


async def test_changing_the_photos_adds_or_replaces_as_asked(mounted):  # noqa: ANN001
    _, sim = await mounted(AlbumForm)
    u = sim.user("oAlbum3")
    for a in ("相册登记", "小明"):
        await u.send(a)
    await u.image("M1")
    await u.send("完成")
    assert await u.send("公园") == _album_summary(1)
    await u.send("修改")
    offer = ("照片现有 1 张照片。\n回复「添加」在原有基础上再发几张，"
             "回复「重新上传」删掉原来的、重新发送；直接发送照片就是添加。")
    assert await u.send("照片") == offer  # by its label
    assert await u.send("随便") == "请回复「添加」或「重新上传」，或直接发送照片。"
    assert await u.send("添加") == "好的，请继续发送照片（已有 1 张），发完后回复「完成」。"
    # 添加 chosen: this is the photo step again, not the question
    assert await u.send("好看") == "这一步请发送照片，刚才的文字没有保存。已收到 1 张。\n" + ASK_PHOTOS
    assert await u.image("M2") == "已收到第 2 张照片。还有请继续发送，发完回复「完成」。"
    assert await u.send("完成") == _album_summary(2)
    await u.send("修改")
    await u.send("2")
    assert await u.image("MX") == "已收到 2 张，最多 2 张，这张没有保存。请回复「完成」继续。"
    assert await u.send("好看") == "这一步请发送照片，刚才的文字没有保存。已收到 2 张。\n" + ASK_PHOTOS
    assert await u.send("完成") == _album_summary(2)
    await u.send("修改")
    assert await u.send("2") == offer.replace("1 张", "2 张")
    assert await u.send("完成") == _album_summary(2)  # nothing to change
    await u.send("修改")
    await u.send("2")
    assert await u.send("重新上传") == "好的，原来的照片不要了。请重新发送照片，发完后回复「完成」。"
    await u.image("M3")
    await u.send("完成")
    await u.send("修改")
    await u.send("2")
    assert await u.image("M4") == "已收到第 2 张照片。还有请继续发送，发完回复「完成」。"  # a photo is adding
    assert await u.send("完成") == _album_summary(2)
    assert await u.send("确认") == "收好了：小明，M3 M4，公园"


async def test_back_to_a_photo_step_offers_no_old_answer(mounted):  # noqa: ANN001
    _, sim = await mounted(AlbumForm)
    u = sim.user("oAlbum4")
    for a in ("相册登记", "小明"):
        await u.send(a)
    await u.image("M1")
    await u.send("完成")
    assert await u.send("上一步") == "好的，回到上一步：\n" + ASK_PHOTOS
    assert await u.image("M2") == "已收到第 1 张照片。还有请继续发送，发完回复「完成」。"


class ConsentAlbumForm(AlbumForm):
    flow = "calbum"
    title = "授权相册"
    keep_images_after = ("who",)
    fields = (Field("who", "这是谁的照片？", label="主人"),
              Field("place", "在哪里拍的？", label="地点"),
              Field("photos", "请发送照片。", kind="images", label="照片", optional=True,
                    condition=lambda d: d.get("who") != "没人"))


async def test_photos_wait_for_consent_and_optional_photos_may_be_skipped(mounted):  # noqa: ANN001
    _, sim = await mounted(ConsentAlbumForm)
    u = sim.user("oCAlbum")
    await u.send("授权相册")
    assert await u.image("M1") == "这一步需要文字回复，刚才的照片没有保存。\n这是谁的照片？"
    await u.send("小明")
    assert await u.image("M2") == "照片收到了，已放进照片（共 1 张）。我们先把这一项填完：\n在哪里拍的？"
    ask = "请发送照片。\n请直接发送照片，发完后回复「完成」。\n（可回复「跳过」）"
    assert await u.send("公园") == ask
    assert await u.send("好看") == ("这一步请发送照片，刚才的文字没有保存。已收到 1 张。"
                                    "照片发完了请回复「完成」，没有照片请回复「跳过」。\n" + ask)
    summary = await u.send("没有")
    assert "3. 照片：1 张照片" in summary  # the photo sent earlier stays
    assert await u.image("M3") == "照片收到了，已添加到照片（共 2 张）。\n" + summary.replace("1 张照片", "2 张照片")
    await u.send("修改")
    await u.send("3")
    await u.send("重新上传")
    assert "3. 照片：（未填）" in await u.send("跳过")


class StoryForm(Form):
    flow = "story"
    title = "情况说明"
    confirm = False
    fields = (Field("story", "请说说情况。", kind="parts", label="情况"),)
    received: list = []

    async def on_part(self, ctx, data, part):  # noqa: ANN001, ANN201
        self.received.append(dict(part))

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return "已收到：" + "；".join(f"{p['t']}={p['v']}" for p in data["story"])


ASK_STORY = "请说说情况。\n文字、语音、照片都可以，可以分几条发，发完后回复「完成」。"


async def test_a_story_in_several_messages_of_any_kind(mounted):  # noqa: ANN001
    form, sim = await mounted(StoryForm)
    form.received = []
    u = sim.user("oStory")
    assert await u.send("情况说明") == ASK_STORY
    assert await u.send("完成") == "还没有收到内容哦。\n" + ASK_STORY
    assert await u.send(" 家里困难 ") == "收到（文字，已收到1 段文字）。还有请继续发送，发完回复「完成」。"
    assert await u.image("M1") == "收到（照片，已收到1 段文字、1 张照片）。还有请继续发送，发完回复「完成」。"
    assert await u.send("跳过") == "「跳过」没有作为内容保存。还有请继续发送，发完回复「完成」。"
    assert await u.send("下一步") == "「下一步」没有作为内容保存。还有请继续发送，发完回复「完成」。"
    assert await u.send("确认！") == "「确认」没有作为内容保存。还有请继续发送，发完回复「完成」。"
    assert await u.voice("V1") == "这条语音没有识别出文字，没有保存。麻烦您再说一遍或打字发送，发完回复「完成」。"
    assert await u.location(31.2, 121.5, "家") == "这里可以发送文字、语音或照片，刚才的内容没有保存。发完回复「完成」。"
    assert await u.voice("V2", recognition="孩子生病了。") == "收到（文字，已收到2 段文字、1 张照片）。还有请继续发送，发完回复「完成」。"
    assert form.received == [{"t": "text", "v": "家里困难"}, {"t": "image", "v": "M1"}, {"t": "text", "v": "孩子生病了。"}]
    assert await u.voice("V3", recognition="完成。") == "已收到：text=家里困难；image=M1；text=孩子生病了。"


KNOWN_NAMES = {"oKnown": "老王"}  # the profile's name, by openid


async def _kinds(ctx, data):  # noqa: ANN001, ANN202
    """Choices of the step, from the answers so far (async, as a feature reading the database)."""
    return [("ill", "生病"), ("job", "失业"), ("help", "帮扶" if data.get("people", 0) > 0 else "其他")]


class FamilyForm(Form):
    flow = "family"
    title = "家庭登记"
    fields = (Field("name", "您怎么称呼？", label="姓名", known=lambda ctx: KNOWN_NAMES.get(ctx.openid)),
              Field("people", "家里几口人？", parse=int_parser(1, 20, "口", units=("人",)), label="人数",
                    plausible=lambda v, d: f"家里{v}口人，对吗？" if v >= 10 else None),
              Field("kind", "哪一类？", choices=_kinds, label="类别", show={"ill": "生病", "job": "失业", "help": "帮扶"}.get),
              Field("earners", "几个人有收入？", parse=int_parser(0, 20), label="有收入"),
              Field("note", "还有要说的吗？", optional=True, label="备注"))

    def cross_check(self, ctx, data):  # noqa: ANN001, ANN201
        if data.get("earners", 0) > data.get("people", 99):
            raise Recheck("有收入的人比家里人还多。", ["earners"])

    def summary_extra(self, ctx, data):  # noqa: ANN001, ANN201
        return f"（{ctx.settings.dialogue.expire_hours} 小时内不提交会清除）" if data.get("note") == "急" else None

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"登记了：{data['name']}，{data['people']}口人，{data['kind']}，{data['earners']}，{data['note']}"


ASK_KIND = "哪一类？\n1. 生病\n2. 失业\n3. 帮扶\n（回复序号或文字）"


async def test_a_known_answer_is_not_asked_and_back_stops_at_the_first_asked(mounted):  # noqa: ANN001
    _, sim = await mounted(FamilyForm)
    u = sim.user("oKnown")
    assert await u.send("家庭登记") == "家里几口人？"
    assert await u.send("上一步") == "这已经是第一步了。\n家里几口人？"
    assert await u.send("3口人") == ASK_KIND
    assert await u.send("上一步") == "好的，回到上一步：\n家里几口人？\n上次留的是「3」，不变请回复「沿用」。"
    assert await u.send("对") == ASK_KIND  # yes to an answer on offer keeps it


async def test_a_surprising_answer_is_asked_about_once(mounted):  # noqa: ANN001
    _, sim = await mounted(FamilyForm)
    u = sim.user("oKnown")  # the name comes from the profile: the first question is the family's size
    await u.send("家庭登记")
    sure = "家里12口人，对吗？\n没错请回复「对」；填错了请直接回复正确的人数。"
    assert await u.send("12") == sure
    assert await u.send("好多") == "请回复一个数字，例如 3。\n家里几口人？"  # a wrong answer forgets the question
    assert await u.send("12") == sure
    assert await u.send("上一步") == "这已经是第一步了。\n家里几口人？"  # and so does 上一步
    assert await u.send("12") == sure
    assert await u.send("十三") == ASK_KIND  # another answer is taken as said
    assert await u.send("上一步") == "好的，回到上一步：\n家里几口人？\n上次留的是「13」，不变请回复「沿用」。"
    assert await u.send("12") == sure
    assert await u.send("对") == ASK_KIND
    assert await u.send("1") == "几个人有收入？"
    assert await u.send("0") == "还有要说的吗？\n（可回复「跳过」）"
    assert "1. 姓名：老王\n2. 人数：12\n" in await u.send("无")


async def test_a_choice_that_is_also_a_keyword_is_the_answer_by_text_or_voice(mounted):  # noqa: ANN001
    _, sim = await mounted(FamilyForm)
    u = sim.user("oKeyword")
    for a in ("家庭登记", "小李", "3"):
        await u.send(a)
    assert await u.voice("V1", recognition="帮扶。") == "几个人有收入？"
    await u.send("上一步")
    assert await u.send("帮扶") == "几个人有收入？"


async def test_answers_that_do_not_fit_together_go_back_to_the_one_to_check(mounted):  # noqa: ANN001
    _, sim = await mounted(FamilyForm)
    u = sim.user("oRecheck")
    for a in ("家庭登记", "小李", "2", "1", "5"):
        reply = await u.send(a)
    assert await u.send("没有") == ("有收入的人比家里人还多。请重新确认下面这一项，其他内容都保留着。\n"
                                    "几个人有收入？\n上次留的是「5」，不变请回复「沿用」。")
    summary = await u.send("两个")
    assert summary.startswith("请核对您的家庭登记：\n1. 姓名：小李\n2. 人数：2\n3. 类别：生病\n4. 有收入：2\n5. 备注：（未填）\n")
    await u.send("修改")
    assert await u.send("2") == "家里几口人？\n上次留的是「2」，不变请回复「沿用」。"
    assert await u.send("1") == ("有收入的人比家里人还多。请重新确认下面这一项，其他内容都保留着。\n"
                                 "几个人有收入？\n上次留的是「2」，不变请回复「沿用」。")
    assert (await u.send("1")).startswith("请核对您的家庭登记：\n1. 姓名：小李\n2. 人数：1\n3. 类别：生病\n4. 有收入：1\n")
    assert await u.send("确认") == "登记了：小李，1口人，ill，1，None"
    assert reply == "还有要说的吗？\n（可回复「跳过」）"



async def test_the_start_word_said_by_voice_mid_form_shows_where_we_are(mounted):  # noqa: ANN001
    _, sim = await mounted(PetForm)
    u = sim.user("oPetVoice")
    await u.send("宠物登记")
    await u.send("旺财")
    assert await u.voice("V1", recognition="宠物登记。") == "您正在填写宠物登记，我们接着来：\n它几岁了？"
    assert await u.voice("V2", recognition="三岁。") == PET_SUMMARY


class QuietPetForm(PetForm):
    flow = "qpet"
    title = "安静登记"
    expired_note = "上次的登记过期了，每一步都已保存。"


async def test_an_expired_form_says_so_in_its_own_words(mounted, clock):  # noqa: ANN001
    _, sim = await mounted(PetForm)
    u = sim.user("oPetLate")
    await u.send("宠物登记")
    clock.advance(hours=80)
    assert (await u.send("旺财")).startswith("您之前未完成的宠物登记已超过保留时间，已自动清除。\n\n")
    _, sim = await mounted(QuietPetForm)
    u = sim.user("oQPetLate")
    await u.send("安静登记")
    clock.advance(hours=80)
    assert (await u.send("旺财")).startswith("上次的登记过期了，每一步都已保存。\n\n")


POINTER = "\n\n如果是想问工作人员别的问题，回复「留言」，您填到一半的内容会帮您保存。"


async def test_distress_or_a_question_at_a_re_ask_gets_help_and_a_pointer(mounted):  # noqa: ANN001
    from bot.core.question import DISTRESS_HELP

    _, sim = await mounted(PetForm)
    u = sim.user("oPetAside")
    await u.send("宠物登记")
    await u.send("旺财")
    again = "请回复一个数字，例如 3。\n它几岁了？"
    assert await u.send("不知道") == again  # nothing more to say to a plain wrong answer
    assert await u.send("压力太大了睡不着") == again + "\n\n" + DISTRESS_HELP + POINTER
    assert await u.send("为什么要填年龄？") == again + POINTER
    assert await u.location(31.2, 121.5) == again.replace("请回复一个数字，例如 3。", "这一步需要文字回复哦，刚才发的内容没有保存。")
    assert await u.send("三") == PET_SUMMARY
    assert await u.send("为什么要填年龄？") == ("请回复「确认」提交，「修改」更改某一项，或「取消」放弃。\n\n" + PET_SUMMARY + POINTER)
    assert await u.location(31.2, 121.5) == "请回复「确认」提交，「修改」更改某一项，或「取消」放弃。\n\n" + PET_SUMMARY


class AskForm(PetForm):
    flow = "ask"
    title = "提问登记"
    takes_questions = True  # the form questions go to: it never points elsewhere


async def test_the_form_questions_go_to_points_nowhere_else(mounted):  # noqa: ANN001
    _, sim = await mounted(AskForm)
    u = sim.user("oAsk")
    await u.send("提问登记")
    await u.send("旺财")
    assert await u.send("为什么要填年龄？") == "请回复一个数字，例如 3。\n它几岁了？"
    assert await u.send("压力太大了睡不着") == "请回复一个数字，例如 3。\n它几岁了？"


async def test_other_things_than_photos_at_a_photo_step(mounted):  # noqa: ANN001
    _, sim = await mounted(AlbumForm)
    u = sim.user("oAlbum5")
    await u.send("相册登记")
    await u.send("小明")
    assert await u.location(31.2, 121.5) == "这一步请发送照片，刚才的文字没有保存。\n" + ASK_PHOTOS
    assert await u.voice("V1", recognition="照片在手机里。") == "这一步请发送照片，刚才的文字没有保存。\n" + ASK_PHOTOS
    assert await u.send("相册登记") == "您正在填写相册登记，我们接着来：\n" + ASK_PHOTOS


async def test_changing_the_photos_then_asking_where_we_are(mounted):  # noqa: ANN001
    _, sim = await mounted(AlbumForm)
    u = sim.user("oAlbum6")
    for a in ("相册登记", "小明"):
        await u.send(a)
    await u.image("M1")
    await u.send("完成")
    await u.send("公园")
    await u.send("修改")
    await u.send("2")
    assert await u.send("相册登记") == "您正在填写相册登记，我们接着来：\n" + ASK_PHOTOS
    await u.image("M2")
    assert await u.send("完成") == _album_summary(2)


async def test_a_changed_answer_from_the_profile_is_a_step_to_go_back_to(mounted):  # noqa: ANN001
    _, sim = await mounted(FamilyForm)
    u = sim.user("oKnown")
    for a in ("家庭登记", "3", "1", "1"):
        await u.send(a)
    assert (await u.send("跳过")).startswith("请核对您的家庭登记：\n1. 姓名：老王\n")
    await u.send("修改")
    assert await u.send("1") == "您怎么称呼？\n上次留的是「老王」，不变请回复「沿用」。"
    assert (await u.send("老李")).startswith("请核对您的家庭登记：\n1. 姓名：老李\n")
    await u.send("修改")
    await u.send("2")
    assert await u.send("上一步") == "好的，回到上一步：\n您怎么称呼？\n上次留的是「老李」，不变请回复「沿用」。"


PHONES = {"oPhone": "13800000000"}


class PhoneForm(Form):
    flow = "phone"
    title = "电话登记"
    fields = (Field("phone", "请留手机号：", label="手机号", known=lambda ctx: PHONES.get(ctx.openid)),
              Field("note", "留言：", label="留言"))

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        if data["phone"] == PHONES.get(ctx.openid):
            raise Recheck("这个手机号已经停用了。", ["phone"])
        return f"记下了：{data['phone']}，{data['note']}"


async def test_a_check_at_submit_asks_again_for_a_value_the_profile_gave(mounted):  # noqa: ANN001
    _, sim = await mounted(PhoneForm)
    u = sim.user("oPhone")
    assert await u.send("电话登记") == "留言："
    assert (await u.send("早点联系")).startswith("请核对您的电话登记：\n1. 手机号：13800000000\n2. 留言：早点联系\n")
    assert await u.send("确认") == ("这个手机号已经停用了。请重新确认下面这一项，其他内容都保留着。\n"
                                    "请留手机号：\n上次留的是「13800000000」，不变请回复「沿用」。")
    assert (await u.send("13900000000")).startswith("请核对您的电话登记：\n1. 手机号：13900000000\n")
    assert await u.send("确认") == "记下了：13900000000，早点联系"


class RenewForm(FamilyForm):
    flow = "renew"
    title = "家庭复核"

    async def prepare(self, ctx):  # noqa: ANN001, ANN201
        return {"name": "小李", "people": 2, "kind": "ill", "earners": 3, "note": None}

    def intro(self, ctx, data):  # noqa: ANN001, ANN201
        return "去年的登记已带出。"


async def test_answers_carried_over_that_do_not_fit_are_asked_after_the_intro(mounted):  # noqa: ANN001
    _, sim = await mounted(RenewForm)
    u = sim.user("oRenew")
    assert await u.send("家庭复核") == ("去年的登记已带出。\n有收入的人比家里人还多。请重新确认下面这一项，其他内容都保留着。\n"
                                        "几个人有收入？\n上次留的是「3」，不变请回复「沿用」。")


def _pet_name(text: str) -> str:
    if text == "不养了":
        raise Stop("好的，不养了就不用登记了。")
    return text_parser(1, 20)(text)


class StopPetForm(PetForm):
    flow = "spet"
    title = "停止登记"
    fields = (Field("name", "宠物叫什么名字？", parse=_pet_name, label="名字"),) + PetForm.fields[1:]


async def test_an_answer_that_ends_the_form_is_said_and_nothing_is_kept(mounted):  # noqa: ANN001
    _, sim = await mounted(StopPetForm)
    u = sim.user("oStop")
    await u.send("停止登记")
    assert await u.send("不养了") == "好的，不养了就不用登记了。"
    assert "没太明白" in await u.send("旺财")  # the form is over
    assert await u.send("停止登记") == "宠物叫什么名字？"  # and starts afresh


class CheckedStoryForm(StoryForm):
    flow = "cstory"
    title = "核对说明"
    confirm = True


async def test_a_story_changed_at_the_summary_starts_again(mounted):  # noqa: ANN001
    _, sim = await mounted(CheckedStoryForm)
    u = sim.user("oCStory")
    await u.send("核对说明")
    await u.send("家里困难")
    summary = "请核对您的核对说明：\n1. 情况：{}\n\n回复「确认」提交，「修改」更改某一项，「取消」放弃。"
    assert await u.send("完成") == summary.format("1 段文字")
    await u.send("修改")
    assert (await u.send("1")).startswith(ASK_STORY)
    assert await u.image("M1") == "收到（照片，已收到1 张照片）。还有请继续发送，发完回复「完成」。"
    assert await u.send("完成") == summary.format("1 张照片")
    assert await u.send("确认") == "已收到：image=M1"


class StoryAndNameForm(CheckedStoryForm):
    flow = "nstory"
    title = "署名说明"
    fields = CheckedStoryForm.fields + (Field("name", "请留个名字：", label="名字"),)


async def test_back_to_a_story_offers_no_old_answer(mounted):  # noqa: ANN001
    _, sim = await mounted(StoryAndNameForm)
    u = sim.user("oNStory")
    await u.send("署名说明")
    await u.send("家里困难")
    assert await u.send("完成") == "请留个名字："
    assert await u.send("上一步") == "好的，回到上一步：\n" + ASK_STORY
    assert await u.send("孩子生病") == "收到（文字，已收到1 段文字）。还有请继续发送，发完回复「完成」。"


async def test_a_summary_with_a_note_of_its_own_is_shown_again_on_resume(mounted, settings):  # noqa: ANN001
    _, sim = await mounted(FamilyForm)
    u = sim.user("oKnown")
    for a in ("家庭登记", "3", "1", "1"):
        await u.send(a)
    assert await u.send("沿用") == "这一项之前没有填过，没有可以沿用的内容，请直接回复。\n还有要说的吗？\n（可回复「跳过」）"
    summary = await u.send("急")
    extra = f"\n（{settings.dialogue.expire_hours} 小时内不提交会清除）\n"
    assert summary.startswith("请核对您的家庭登记：\n1. 姓名：老王\n") and extra in summary
    assert await u.send("家庭登记") == "您正在填写家庭登记，我们接着来：\n" + summary
    assert await u.image("M1") == "这份家庭登记不需要照片，刚才的照片没有保存。\n\n" + summary


async def test_a_draft_at_a_step_that_no_longer_exists_goes_on_with_what_is_missing(mounted, sessionmaker):  # noqa: ANN001
    from sqlalchemy import update

    from bot.db.models import Dialogue

    _, sim = await mounted(PetForm)
    u = sim.user("oPetRenamed")
    await u.send("宠物登记")
    await u.send("旺财")
    async with sessionmaker() as s, s.begin():  # a release renamed the step the person stopped at
        await s.execute(update(Dialogue).where(Dialogue.openid == "oPetRenamed").values(state="pet:colour"))
    assert await u.send("宠物登记") == "您正在填写宠物登记，我们接着来：\n它几岁了？"
    async with sessionmaker() as s, s.begin():
        await s.execute(update(Dialogue).where(Dialogue.openid == "oPetRenamed").values(state="pet:colour"))
    assert await u.send("三岁") == "抱歉，宠物登记的流程有更新，麻烦您重新开始，回复「宠物登记」即可。"
    assert await u.send("宠物登记") == "宠物叫什么名字？"


async def test_without_a_form_for_questions_a_question_is_simply_asked_again(mounted):  # noqa: ANN001
    from bot.app import features

    _, sim = await mounted(PetForm, feature_list=[f for f in features() if f.name != "inbox"])
    u = sim.user("oPetNoInbox")
    await u.send("宠物登记")
    await u.send("旺财")
    assert await u.send("为什么要填年龄？") == "请回复一个数字，例如 3。\n它几岁了？"


LIMIT = {"age": 30}


class LimitPetForm(PetForm):
    flow = "lpet"
    title = "限额登记"

    def cross_check(self, ctx, data):  # noqa: ANN001, ANN201
        if data.get("age", 0) > LIMIT.get(ctx.openid, LIMIT["age"]):
            raise Recheck(f"目前只收{LIMIT['age']}岁以下的。", ["age"])


async def test_resuming_at_the_summary_shows_it_and_the_check_comes_at_confirm(mounted):  # noqa: ANN001
    _, sim = await mounted(LimitPetForm)
    u = sim.user("oLimit")
    LIMIT["age"] = 30
    for a in ("限额登记", "旺财"):
        await u.send(a)
    summary = PET_SUMMARY.replace("宠物登记", "限额登记")
    assert await u.send("3") == summary
    LIMIT["age"] = 2  # the rule changed while the person was away
    try:
        assert await u.send("限额登记") == "您正在填写限额登记，我们接着来：\n" + summary
        assert await u.send("确认") == ("目前只收2岁以下的。请重新确认下面这一项，其他内容都保留着。\n"
                                        "它几岁了？\n上次留的是「3」，不变请回复「沿用」。")
        assert await u.send("1") == summary.replace("年龄：3", "年龄：1")
        await u.send("修改")
        await u.send("2")
        assert await u.send("5") == ("目前只收2岁以下的。请重新确认下面这一项，其他内容都保留着。\n"
                                     "它几岁了？\n上次留的是「5」，不变请回复「沿用」。")
    finally:
        LIMIT["age"] = 30


def _not_to_oneself(value, data):  # noqa: ANN001, ANN202
    if value == data.get("to"):
        raise Invalid("落款不能和收件人一样。")


class NoteForm(Form):
    """Unlabelled questions, an optional one with an answer on offer, a prefilled one."""
    flow = "note"
    title = "便条"
    confirm = False
    fields = (Field("to", "写给谁？", prefill=lambda ctx: "老师" if ctx.openid == "oNoteP" else None),
              Field("body", "写什么？", optional=True, plausible=lambda v, d: "这么短，对吗？" if v and len(v) < 2 else None),
              Field("sign", "落款？", label="落款", check=_not_to_oneself))

    async def prepare(self, ctx):  # noqa: ANN001, ANN201
        if ctx.openid == "oNoteNo":
            return "便条本用完了。"
        return {"_prefill": {"body": None}} if ctx.openid == "oNoteP" else {}

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"便条：给{data['to']}，{data['body']}，{data['sign']}（{'/'.join(sorted(data))}）"


async def test_words_around_an_answer_are_read_as_people_mean_them(mounted):  # noqa: ANN001
    _, sim = await mounted(NoteForm)
    u = sim.user("oNote")
    assert await u.send("便条") == "写给谁？"
    assert await u.voice("V1") == "这条语音没有识别出文字，麻烦您再说一遍或打字回复。\n写给谁？"
    assert await u.send("沿用") == "这一项之前没有填过，没有可以沿用的内容，请直接回复。\n写给谁？"
    assert await u.send("跳过") == "这一项需要填写，不能跳过哦；不想继续了可以回复「取消」。\n写给谁？"
    assert await u.send("没有") == "写什么？\n（可回复「跳过」）"  # only an optional question is skipped by 没有
    assert await u.send("沿用") == "这一项之前没有填过，没有可以沿用的内容，请直接回复。\n写什么？\n（可回复「跳过」）"
    assert await u.send("确认") == "「确认」是操作用语，不能作为这一项的内容。\n写什么？\n（可回复「跳过」）"
    assert await u.send("好的") == "请直接回复内容。\n写什么？\n（可回复「跳过」）"
    assert await u.send("嗨") == "这么短，对吗？\n没错请回复「对」；填错了请直接回复正确的内容。"
    assert await u.send("上一步") == "好的，回到上一步：\n写给谁？\n上次留的是「没有」，不变请回复「沿用」。"
    assert await u.send("沿用") == "写什么？\n（可回复「跳过」）"
    assert await u.send("无") == "落款？"  # an optional question: 无 leaves it empty
    assert await u.send("好的") == "请直接回复落款。\n落款？"
    assert await u.send("完成") == "「完成」是操作用语，不能作为落款的内容。\n落款？"
    assert await u.send("小王") == "便条：给没有，None，小王（body/sign/to）"


async def test_a_value_on_offer_is_kept_with_a_yes_or_a_keep_word(mounted):  # noqa: ANN001
    _, sim = await mounted(NoteForm)
    u = sim.user("oNoteP")
    assert await u.send("便条") == "写给谁？\n上次留的是「老师」，不变请回复「沿用」。"
    assert await u.send("好的") == "写什么？\n（可回复「跳过」）"  # yes to the offer
    assert await u.send("沿用") == "落款？"  # left empty last time: stays empty
    assert await u.send("老师") == "落款不能和收件人一样。\n落款？"
    assert await u.send("小王") == "便条：给老师，None，小王（body/sign/to）"


async def test_a_form_may_refuse_to_start(mounted):  # noqa: ANN001
    _, sim = await mounted(NoteForm)
    u = sim.user("oNoteNo")
    assert await u.send("便条") == "便条本用完了。"
    assert "没太明白" in await u.send("老师")  # no form was opened


async def test_a_photo_over_the_limit_at_the_summary_shows_the_whole_summary_again(mounted):  # noqa: ANN001
    _, sim = await mounted(AlbumForm)
    u = sim.user("oAlbumNote")
    await u.send("相册登记")
    await u.send("小明")
    await u.image("M1")
    await u.image("M2")
    await u.send("完成")
    summary = _album_summary(2).replace("\n\n回复", "\n（照片只给工作人员看）\n\n回复")
    assert await u.send("公园") == summary
    assert await u.image("M3") == "照片最多 2 张，已经满了，这张没有保存。\n\n" + summary


async def test_a_change_that_opens_a_question_asks_it_before_the_summary(mounted):  # noqa: ANN001
    _, sim = await mounted(ConsentAlbumForm)
    u = sim.user("oCAlbum2")
    await u.send("授权相册")
    await u.send("没人")  # nobody's photos: the photo question is not asked
    summary = await u.send("公园")
    assert summary.startswith("请核对您的授权相册：\n1. 主人：没人\n2. 地点：公园\n\n")
    await u.send("修改")
    await u.send("1")
    assert await u.send("小明") == "请发送照片。\n请直接发送照片，发完后回复「完成」。\n（可回复「跳过」）"
    await u.image("M1")
    assert (await u.send("完成")).startswith("请核对您的授权相册：\n1. 主人：小明\n2. 地点：公园\n3. 照片：1 张照片\n")


CARDS = {"oVisit": "A123"}


class VisitForm(Form):
    flow = "visit"
    title = "来访登记"
    fields = (Field("member", "您是会员吗？", choices=["是会员", "不是"], label="会员"),
              Field("card", "会员卡号？", label="卡号", condition=lambda d: d.get("member") == "是会员",
                    known=lambda ctx: CARDS.get(ctx.openid)),
              Field("place", "去哪里？", label="地点"))

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"来访：{data['member']}，{data.get('card')}，{data['place']}"


async def test_a_change_that_opens_a_question_the_profile_answers_fills_it(mounted):  # noqa: ANN001
    _, sim = await mounted(VisitForm)
    u = sim.user("oVisit")
    await u.send("来访登记")
    await u.send("不是")
    assert (await u.send("公园")).startswith("请核对您的来访登记：\n1. 会员：不是\n2. 地点：公园\n\n")
    await u.send("修改")
    await u.send("1")
    assert (await u.send("是会员")).startswith("请核对您的来访登记：\n1. 会员：是会员\n2. 卡号：A123\n3. 地点：公园\n\n")
    assert await u.send("确认") == "来访：是会员，A123，公园"


async def test_a_shared_article_at_a_photo_step_is_not_taken_for_a_question(mounted):  # noqa: ANN001
    _, sim = await mounted(AlbumForm)
    u = sim.user("oAlbumLink")
    await u.send("相册登记")
    await u.send("小明")
    link = {"MsgType": "link", "Title": "工伤怎么认定？", "Description": "", "Url": "https://example.org/a",
            "MsgId": 987001}
    # its title reads like a question, but nobody typed it: no pointer to 留言
    assert await u._post(link) == "这一步请发送照片，刚才的文字没有保存。\n" + ASK_PHOTOS


class SizeForm(Form):
    flow = "size"
    title = "体检登记"
    confirm = False
    fields = (Field("h", "身高多少厘米？", parse=int_parser(50, 250, "厘米"), label="身高",
                    plausible=lambda v, d: f"身高{v}厘米，对吗？" if v > 200 else None),
              Field("w", "体重多少斤？", parse=int_parser(20, 500, "斤"), label="体重",
                    plausible=lambda v, d: f"体重{v}斤，对吗？" if v > 300 else None))

    async def submit(self, ctx, data):  # noqa: ANN001, ANN201
        return f"记下了：{data['h']}厘米，{data['w']}斤"


async def test_each_surprising_answer_is_asked_about(mounted):  # noqa: ANN001
    _, sim = await mounted(SizeForm)
    u = sim.user("oSize")
    await u.send("体检登记")
    assert await u.send("210") == "身高210厘米，对吗？\n没错请回复「对」；填错了请直接回复正确的身高。"
    assert await u.send("对") == "体重多少斤？"
    assert await u.send("350斤") == "体重350斤，对吗？\n没错请回复「对」；填错了请直接回复正确的体重。"
    assert await u.send("对") == "记下了：210厘米，350斤"
