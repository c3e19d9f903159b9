"""The dispatcher's promises that mutation testing found untested (mutation/report-dispatcher.txt):
how a long reply is cut for WeChat's passive limit, the words shown for a waiting form, what inside
a dialogue is its answer and what leaves it, and the notes said on the way."""
from __future__ import annotations

import pytest

from bot.core.context import Ctx
from bot.core.dispatcher import Dispatcher, split_text
from bot.core.router import Filter, Flow, Router, text_is, text_startswith


def test_lines_are_kept_together_up_to_exactly_the_limit():
    assert split_text("aaaaa\nbbbb", 10) == ["aaaaa\nbbbb"]  # 10 bytes: one piece
    assert split_text("aaaaa\nbbbbb", 10) == ["aaaaa", "bbbbb"]  # 11 bytes: cut at the line end


def test_many_short_lines_are_cut_at_line_ends_never_inside_a_line():
    lines = [f"第{i}行内容" for i in range(1, 40)]
    parts = split_text("\n".join(lines), 60)
    assert "\n".join(parts) == "\n".join(lines)
    for part in parts:
        assert len(part.encode()) <= 60
        assert all(line in lines for line in part.split("\n"))
    assert not parts[0].startswith("\n")


def test_a_very_long_line_is_cut_by_characters_without_breaking_one():
    text = "中" * 25  # 75 bytes
    parts = split_text(text, 20)
    assert "".join(parts) == text
    assert [len(p.encode()) for p in parts] == [18, 18, 18, 18, 3]


def test_no_empty_message_after_a_reply_ending_in_a_line_break():
    assert split_text("a" * 10 + "\n", 10) == ["a" * 10]
    assert split_text("x\n" + "b" * 11, 10) == ["x", "b" * 10, "b"]


def _dispatcher() -> Dispatcher:
    r = Router("t")
    r.add_flow(Flow("signup", "报名表", "报名"))
    r.add_flow(Flow("menuonly", "意见表"))  # started from the menu only: no word to say
    return Dispatcher([r], fallback=lambda ctx: None)


def test_the_name_of_a_waiting_form():
    d = _dispatcher()
    assert d.flow_title("signup") == "报名表"
    assert d.flow_title(None) == "内容"
    assert d.flow_title("gone") == "内容"


def test_how_to_come_back_to_a_kept_form():
    d = _dispatcher()
    assert d.resume_hint("signup") == "您没填完的报名表已为您保存，回复「报名」就能接着填。"
    assert d.resume_hint("menuonly") == "您没填完的意见表已为您保存，再发一次相应的关键词就能接着填。"
    assert d.resume_hint("gone") == ""


# ---------------------------------------------------------------- leaving a dialogue, through the webhook

async def test_another_keyword_mid_quiz_pauses_it_and_says_how_to_come_back(sim, db, clock):  # noqa: ANN001
    from tests.support.quiz import add_bank, add_period

    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0], ids[2]])
    u = sim.user("oPauser")
    assert "建立基层工会委员会" in await u.send("答题")
    reply = await u.send("我要留言")
    assert "哪方面" in reply  # the other feature answers …
    assert reply.endswith("（答题已暂停，已答的题目都保存好了，回复「答题」接着做。）")  # … and the quiz says so
    await u.send("取消")
    assert "建立基层工会委员会" in await u.send("答题")  # the same question again


async def test_unfollowing_mid_form_leaves_the_form_as_it_was(sim, db):  # noqa: ANN001
    from sqlalchemy import select

    from bot.db.models import Member

    u = sim.user("oLeaver")
    await u.send("我要留言")
    assert "写下您的问题" in await u.send("第二个")
    assert await u.unfollow() is None
    async with db() as s:
        assert (await s.scalar(select(Member).where(Member.openid == "oLeaver"))).subscribed is False
    await u.follow()
    reply = await u.send("上个月在车间被机器压伤了手，公司说不算工伤")
    assert "已转给工作人员" in reply  # still the form's answer: the form had waited


async def test_another_keyword_at_the_erase_question_ends_it_without_a_note(sim):  # noqa: ANN001
    u = sim.user("oEraser")
    assert "确认删除" in await u.send("删除我的信息")
    reply = await u.send("我要留言")
    assert "哪方面" in reply
    assert "删除" not in reply
    assert reply == await sim.user("oFresh").send("我要留言")  # exactly what anyone else is told
    await u.send("取消")
    assert "现在没有等您确认的删除" in await u.send("确认删除")  # the erase question is gone: nothing is erased


async def test_unfollowing_mid_quiz_is_recorded_and_the_quiz_waits(sim, db, clock):  # noqa: ANN001
    from sqlalchemy import select

    from bot.db.models import Member
    from tests.support.quiz import add_bank, add_period

    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    u = sim.user("oQuitter")
    assert "建立基层工会委员会" in await u.send("答题")
    await u.unfollow()
    async with db() as s:
        member = await s.scalar(select(Member).where(Member.openid == "oQuitter"))
        assert member.subscribed is False
    await u.follow()
    assert "建立基层工会委员会" in await u.send("答题")


async def test_a_spoken_keyword_mid_quiz_leaves_it_like_a_typed_one(sim, db, clock):  # noqa: ANN001
    from tests.support.quiz import add_bank, add_period

    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    u = sim.user("oSpeaker")
    await u.send("答题")
    reply = await u.voice(recognition="我要留言。")
    assert "哪方面" in reply and reply.endswith("（答题已暂停，已答的题目都保存好了，回复「答题」接着做。）")


# ---------------------------------------------------------------- what is (and is not) a form's answer
# A small feature of the test's own: a one-question form (kept as a draft when left), a lookup
# whose words an answer may begin with (no whole keyword), a feature that takes location reports,
# and one that has nothing to say.

probe = Router("dispatch-probe")
probe.add_flow(Flow("probe", "探针登记", "探针登记"))


@probe.on(text_is("探针登记"), starts="probe")
async def start_probe(ctx: Ctx) -> str:
    if ctx.dialogue.restore("probe"):
        return "接着来：请问您在哪个单位？"
    ctx.dialogue.set("probe:unit", {"asked": 1})
    return "请问您在哪个单位？"


@probe.state("probe:")
async def answer_probe(ctx: Ctx) -> str:
    said = ctx.msg.text if ctx.msg.kind in ("text", "voice") else f"[{ctx.msg.kind}]"
    ctx.dialogue.clear()
    return f"已登记：{said}"


@probe.on(text_startswith("探针查询"))  # not a whole keyword: an answer may well begin like this
async def probe_lookup(ctx: Ctx) -> str:
    return "探针查询结果：暂无记录。"


@probe.on(Filter(lambda m: m.kind == "event" and m.event == "location", "location report"))
async def note_location(ctx: Ctx) -> str:
    return "已收到您的位置。"


@probe.on(text_is("探针静默"))
async def say_nothing(ctx: Ctx) -> None:
    return None


@pytest.fixture
async def app(make_app, engine):  # noqa: ANN001
    return make_app(extra_routers=[probe])


async def test_an_answer_that_only_begins_like_a_command_is_the_forms_answer(sim):  # noqa: ANN001
    u = sim.user("oBeginner")
    assert await u.send("探针查询站") == "探针查询结果：暂无记录。"  # outside a form: the lookup
    assert await u.send("探针登记") == "请问您在哪个单位？"
    assert await u.send("探针查询站") == "已登记：探针查询站"  # inside: the answer


async def test_a_location_report_mid_form_goes_to_its_feature_and_the_form_waits(sim):  # noqa: ANN001
    u = sim.user("oLocated")
    await u.send("探针登记")
    reply = await u.event("LOCATION", Latitude="23.1", Longitude="113.3", Precision="30")
    assert reply == "已收到您的位置。\n\n（您的探针登记还没填完，直接回复就能接着填。）"
    assert await u.send("市总工会") == "已登记：市总工会"


async def test_a_view_click_mid_form_is_no_answer_and_the_form_waits(sim):  # noqa: ANN001
    u = sim.user("oViewer")
    assert "哪方面" in await u.send("我要留言")
    assert await u.event("VIEW", "https://example.org/guide") is None  # no reply: a link was opened
    assert "写下您的问题" in await u.send("第二个")  # the topic question was still open


async def test_the_help_button_mid_form_shows_the_menu_and_keeps_the_form(sim):  # noqa: ANN001
    fresh = sim.user("oMenuFresh")
    assert await fresh.click("HELP") == await fresh.send("菜单")
    u = sim.user("oMenuClick")
    assert "哪方面" in await u.send("我要留言")
    clicked = await u.click("HELP")
    assert clicked == await u.send("菜单")  # the button is the word
    assert clicked.startswith(await fresh.send("菜单")) and "直接回复即可继续" in clicked
    assert "写下您的问题" in await u.send("第二个")


async def test_the_quiz_word_mid_quiz_shows_the_question_without_saying_it_paused(sim, db, clock):  # noqa: ANN001
    from tests.support.quiz import add_bank, add_period

    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0], ids[2]])
    u = sim.user("oAgain")
    first = await u.send("答题")
    assert "建立基层工会委员会" in first
    again = await u.send("答题")
    assert again == first and "暂停" not in again
    assert "建立基层工会委员会" in await u.click("QUIZ")


async def test_leaving_the_quiz_for_a_feature_that_says_nothing_sends_the_paused_note_alone(sim, db, clock):  # noqa: ANN001
    from tests.support.quiz import add_bank, add_period

    ids = await add_bank(db, clock)
    await add_period(db, clock, "2026-11", [ids[0]])
    u = sim.user("oSilent")
    await u.send("答题")
    assert await u.send("探针静默") == "（答题已暂停，已答的题目都保存好了，回复「答题」接着做。）"
    assert await sim.user("oSilent2").send("探针静默") is None  # outside the quiz: nothing at all


async def test_a_form_left_for_an_unfollow_is_open_again_after_following_back(sim):  # noqa: ANN001
    u = sim.user("oComeback")
    await u.send("探针登记")
    assert await u.unfollow() is None
    assert (await u.follow()).endswith("\n\n（您的探针登记还没填完，直接回复就能接着填。）")
    assert await u.send("市总工会") == "已登记：市总工会"


async def test_a_waiting_draft_is_mentioned_once_when_a_dialogue_ends_not_on_every_message(sim):  # noqa: ANN001
    u = sim.user("oDrafty")
    await u.send("探针登记")
    hint = "（您没填完的探针登记已为您保存，回复「探针登记」就能接着填。）"
    assert (await u.send("我要留言")).endswith("\n\n" + hint)  # the other form opens; ours is kept
    cancelled = await u.send("取消")
    assert cancelled.startswith("好的，已取消留言") and cancelled.endswith("\n\n" + hint)
    assert await u.send("你好") == await sim.user("oNoDraft").send("你好")  # no dialogue ended: no hint
    assert await u.send("探针登记") == "接着来：请问您在哪个单位？"


async def test_a_draft_of_a_flow_that_no_longer_exists_is_not_mentioned(sim, db, clock):  # noqa: ANN001
    from datetime import timedelta

    from bot.db.models import Dialogue

    plain = sim.user("oPlainCancel")
    await plain.send("探针登记")
    expected = await plain.send("取消")
    u = sim.user("oOldDraft")
    await u.send("菜单")
    async with db() as s, s.begin():
        s.add(Dialogue(app_id="", openid="oOldDraft", state="probe:unit",
                       data={"d": {"asked": 1}, "drafts": {"gone": {"state": "gone:step", "data": {"x": 1},
                                                                    "expires_at": None}}},
                       version=1, updated_at=clock.now(), expires_at=clock.now() + timedelta(days=1)))
    assert await u.send("取消") == expected  # a draft of a feature since removed: no hint about it


def test_a_flow_declared_twice_stops_the_app_naming_the_flow():
    one, two = Router("one"), Router("two")
    one.add_flow(Flow("signup", "报名表", "报名"))
    two.add_flow(Flow("signup", "报名表", "报名"))
    with pytest.raises(ValueError, match=r"^flow 'signup' declared twice$"):
        Dispatcher([one, two], fallback=lambda ctx: None)
