"""The dispatcher's promises that mutation testing found untested (mutation/report-dispatcher.txt):
how a long reply is cut for WeChat's passive limit, and the words shown for a waiting form."""
from __future__ import annotations

from bot.core.dispatcher import Dispatcher, split_text
from bot.core.router import Flow, Router


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
    assert "没太明白" in await u.send("确认删除")  # the erase question is gone: nothing is erased


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
