"""The form engine's answer parsers and choice matching, as a person answering sees them.

The parsers are built when a feature declares its fields (at import), so the
conversation tests exercise them without running their construction under test; here
each is built and answered the way people answer (mutation/report-forms.txt)."""
from __future__ import annotations

import pytest

from bot.core.forms import Field, Invalid, int_parser, money_parser, parts_text, pick, text_parser


def _hint(parse, answer: str) -> str:  # noqa: ANN001
    with pytest.raises(Invalid) as exc:
        parse(answer)
    return exc.value.hint


def test_short_text_loses_the_full_stop_voice_adds_long_text_keeps_it():
    short, long_ = text_parser(1, 100), text_parser(1, 500)
    assert short(" 环卫所。 ") == "环卫所"
    assert short("环卫所！？，") == "环卫所"
    assert long_("我想问一下。") == "我想问一下。"


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
    assert _hint(parse, "12000") == "金额应在 0–10000 元之间，请再确认一下。"
    assert _hint(parse, "不少") == "请回复金额数字，单位元，例如 3500（说「三千五」也可以）。"
    assert money_parser()("1.2万") == 12000.0


CHOICES = ["甲类", ("b", "乙类"), "丙类"]


@pytest.mark.parametrize("answer,value", [("1", "甲类"), ("2", "b"), ("二", "b"), ("第二个", "b"), ("3", "丙类"),
                                          ("乙类", "b"), ("乙", "b"), ("丙类", "丙类")])
def test_a_choice_by_number_word_or_unique_part(answer, value):  # noqa: ANN001
    assert pick(answer, CHOICES) == value


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

async def _pet_world(make_app, engine, aiohttp_client, settings, clock, start=None, resume_word=""):  # noqa: ANN001, ANN202
    from bot.core.forms import Form
    from bot.core.router import Router, text_is
    from bot.wechat.simulator import WeChatSim

    router = Router("pets")

    class PetForm(Form):
        flow = "pet"
        title = "宠物登记"
        fields = (Field("name", "宠物叫什么名字？", label="名字"),
                  Field("age", "它几岁了？", parse=int_parser(0, 30, "岁"), label="年龄"))

        async def submit(self, ctx, data):  # noqa: ANN001, ANN202
            return f"登记好了：{data['name']}，{data['age']}岁"

    form = PetForm.mount(router, start=start or text_is("宠物登记", "登记宠物"), resume_word=resume_word)
    client = await aiohttp_client(make_app(extra_routers=[router]))
    sim = WeChatSim(client, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock)
    return form, sim


async def test_a_mounted_form_starts_by_its_word_and_is_kept_when_left(make_app, engine, aiohttp_client, settings,  # noqa: ANN001
                                                                      clock):
    form, sim = await _pet_world(make_app, engine, aiohttp_client, settings, clock)
    assert form.resume_word == "宠物登记"  # the first word of its start filter
    u = sim.user("oPet")
    assert "宠物叫什么名字" in await u.send("宠物登记")
    assert "几岁" in await u.send("旺财")
    again = await u.send("登记宠物")  # its own start word mid-form: where we are, not an answer
    assert again.startswith("您正在填写宠物登记，我们接着来：") and "几岁" in again
    left = await u.send("我要留言")  # another feature's keyword: the form waits as a draft
    assert "哪方面" in left and "您没填完的宠物登记已为您保存，回复「宠物登记」就能接着填。" in left
    await u.send("取消")
    back = await u.send("宠物登记")
    assert "几岁" in back and "旺财" not in back.split("\n")[-1]
    done = await u.send("三岁")
    assert "请核对您的宠物登记" in done and "1. 名字：旺财" in done and "2. 年龄：3" in done
    assert await u.send("确认") == "登记好了：旺财，3岁"


async def test_a_form_mounted_on_a_click_has_no_word_unless_given_one(make_app, engine, aiohttp_client, settings,  # noqa: ANN001
                                                                     clock):
    from bot.core.router import click_is

    form, _ = await _pet_world(make_app, engine, aiohttp_client, settings, clock, start=click_is("PET"))
    assert form.resume_word == ""


async def test_the_word_given_at_mount_is_the_one_that_resumes(make_app, engine, aiohttp_client, settings,  # noqa: ANN001
                                                               clock):
    from bot.core.router import click_is, text_is

    form, sim = await _pet_world(make_app, engine, aiohttp_client, settings, clock,
                                 start=click_is("PET") | text_is("宠物登记"), resume_word="宠物")
    assert form.resume_word == "宠物"
    u = sim.user("oPet2")
    await u.click("PET")
    assert "您没填完的宠物登记已为您保存，回复「宠物」就能接着填。" in await u.send("我要留言")
