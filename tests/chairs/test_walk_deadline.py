"""From a walk-through as a union chair, through the signed webhook: the deadline asked in words
(inside the report form and outside it), figures said in a sentence (走访了5家), an item named at
the summary in the chairs' own words (发现的问题), and one figure corrected after filing in a
sentence (「走访的数填错了，应该是9家」) straight to the summary."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from bot.db.models.chairs import ChairReport
from tests.support.chairs import ANSWERS, bound_chair, file_report

DUE = "12月25日（周五）"  # 2026Q4; the tests' clock says 24 November 2026
ASKED_TO_STAFF = "已转给工作人员"
NUMBER_HINT = "请回复一个数字"


async def _report(db) -> ChairReport:  # noqa: ANN001
    async with db() as s:
        return (await s.scalars(select(ChairReport))).one()


async def _filed(sim, db, clock, settings, openid: str):  # noqa: ANN001, ANN202
    """A bound chair whose 2026Q4 report is on file (40/38/35/16, 6 visits)."""
    await bound_chair(sim, db, clock, settings, openid=openid)
    u = sim.user(openid)
    await u.send("报送")
    await file_report(u)
    assert "已收到" in await u.send("确认")
    return u


# ---- 1. the deadline, asked --------------------------------------------------------------------

@pytest.mark.parametrize("asked", ["截止是哪天", "报送什么时候截止", "截止日期", "这季度的报送最晚哪天交", "截止到哪天啊",
                                   "什么时候交"])
async def test_a_chair_asking_the_deadline_after_filing_is_answered_not_passed_to_staff(
        sim, db, clock, settings, asked: str) -> None:  # noqa: ANN001
    u = await _filed(sim, db, clock, settings, "oAskDue")
    reply = await u.send(asked)
    assert reply.startswith(f"2026年第四季度信息报送{DUE}截止（还有31天）。") and "已经收到了" in reply, reply
    assert ASKED_TO_STAFF not in reply


async def test_a_chair_who_has_not_filed_hears_the_deadline_and_how_to_file(sim, db, clock, settings) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings, openid="oAskDue2")
    u = sim.user("oAskDue2")
    reply = await u.voice(recognition="报送什么时候截止？")
    assert f"{DUE}截止" in reply and "还没有收到您的报送" in reply and "回复「报送」" in reply
    assert ASKED_TO_STAFF not in reply
    assert "信息报送" not in await u.send("报名什么时候截止")  # another feature's deadline is not the report's
    assert ASKED_TO_STAFF in await u.send("工资最晚哪天发")  # nor is a question about something else
    not_a_chair = await sim.user("oWorkerDue").send("截止是哪天")  # not a chair: a question for staff
    assert "信息报送" not in not_a_chair and ASKED_TO_STAFF in not_a_chair


async def test_after_the_deadline_the_answer_says_so_and_names_the_next_one(sim, db, clock, settings) -> None:  # noqa: ANN001
    u = await _filed(sim, db, clock, settings, "oAskDue3")
    clock.set(datetime(2026, 12, 28, 9, 0))
    reply = await u.send("截止是哪天")
    assert reply.startswith(f"2026年第四季度的报送已于{DUE}截止，您的报送我们已经收到了")
    assert "2027年第一季度信息报送截止：3月25日" in reply


@pytest.mark.parametrize("asked", ["报送什么时候截止", "截止日期", "这季度的报送最晚哪天交", "截止到哪天啊", "deadline"])
async def test_the_deadline_asked_at_a_figure_is_answered_and_the_figure_asked_again(
        sim, db, clock, settings, asked: str) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings, openid="oMidDue")
    u = sim.user("oMidDue")
    await u.send("报送")
    reply = await u.send(asked)
    assert NUMBER_HINT not in reply and ASKED_TO_STAFF not in reply
    assert reply.startswith(f"2026年第四季度信息报送{DUE}截止（还有31天）。这份报送还没有提交"), reply
    assert reply.endswith("您负责范围内，职工25人以上的企业共有几家？（回复数字）")
    assert "已建立工会" in await u.send("40")  # the form goes on where it was


async def test_the_deadline_asked_at_a_sentence_step_and_at_the_summary(sim, db, clock, settings) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings, openid="oMidDue2")
    u = sim.user("oMidDue2")
    await u.send("报送")
    await file_report(u, ANSWERS[:6])  # now at 工作小结
    reply = await u.send("截止是哪天")
    assert f"{DUE}截止" in reply and "工作小结" in reply  # not taken as the summary
    reply = await u.send(ANSWERS[6])
    assert "请核对" in reply and "截止是哪天" not in reply
    reply = await u.send("截止日期")
    assert reply.startswith(f"2026年第四季度信息报送{DUE}截止") and "请核对" in reply
    assert "已收到" in await u.send("确认")


async def test_correcting_a_report_on_file_the_deadline_answer_says_it_is_in(sim, db, clock, settings) -> None:  # noqa: ANN001
    u = await _filed(sim, db, clock, settings, "oMidDue3")
    clock.set(datetime(2026, 12, 25, 20, 0))  # the deadline day
    await u.send("报送")
    reply = await u.send("截止日期")
    assert f"{DUE}截止（就是今天）。您的报送我们已经收到了，现在是在修改" in reply and "25人以上的企业共有几家" in reply
    clock.set(datetime(2026, 12, 26, 1, 0))  # the correction still open past the deadline
    assert f"已于{DUE}截止，截止后不能再修改了" in await u.send("截止日期")


# ---- 2. figures said in a sentence ---------------------------------------------------------------

@pytest.mark.parametrize("said", ["走访了5家", "调研了五家企业。", "这季度一共走访了5家", "走访５家"])
async def test_a_figure_said_with_the_questions_own_words_is_read(sim, db, clock, settings, said: str) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings, openid="oSaid")
    u = sim.user("oSaid")
    await u.send("报送")
    await file_report(u, ANSWERS[:4])  # now at 本季度走访
    reply = await u.send(said)
    assert "发现了哪些问题" in reply, reply
    await file_report(u, ANSWERS[5:])
    assert "已收到" in await u.send("确认")
    assert (await _report(db)).visits == 5


async def test_the_item_own_words_at_other_figures(sim, db, clock, settings) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings, openid="oSaid2")
    u = sim.user("oSaid2")
    await u.send("报送")
    await u.send("共有40家企业")
    assert "签订工资集体协议" in await u.send("已建立工会的有38家")
    assert "和谐企业" in await u.send("签了35家")  # 签 of 签订
    assert "走访" in await u.send("A级以上和谐企业16家")
    await file_report(u, ANSWERS[4:])
    await u.send("确认")
    rep = await _report(db)
    assert (rep.enterprises, rep.unionised, rep.wage_agreements, rep.harmonious) == (40, 38, 35, 16)


@pytest.mark.parametrize("said, hint", [
    ("大概有十来家", "是个大概的数"), ("十几家", "是个大概的数"), ("5家左右", "是个大概的数"),
    ("不到5家", NUMBER_HINT), ("比上季度多2家", NUMBER_HINT), ("走访了5家，其中3家有问题", NUMBER_HINT),
])
async def test_a_vague_or_relative_figure_is_asked_again(sim, db, clock, settings, said: str, hint: str) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings, openid="oVague")
    u = sim.user("oVague")
    await u.send("报送")
    await file_report(u, ANSWERS[:4])
    reply = await u.send(said)
    assert hint in reply and "本季度走访调研了几家企业" in reply and "发现了哪些问题" not in reply
    assert "发现了哪些问题" in await u.send("走访了5家")  # the exact figure, said in a sentence


# ---- 4. an item named at the summary; one figure corrected after filing ----------------------------

async def test_an_item_named_at_the_summary_in_the_chairs_words(sim, db, clock, settings) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings, openid="oNamed")
    u = sim.user("oNamed")
    await u.send("报送")
    reply = await file_report(u)
    assert "请核对" in reply
    reply = await u.send("发现的问题")
    assert "走访中发现了哪些问题" in reply and "请回复「确认」提交" not in reply
    reply = await u.send("三家企业反映招工难")
    assert "请核对" in reply and "发现的问题：三家企业反映招工难" in reply
    reply = await u.send("走访的数填错了，应该是7家")
    assert "本季度走访改为7家（原来是6家）" in reply and "本季度走访：7家" in reply and "请核对" in reply
    reply = await u.send("建会的")
    assert "其中已建立工会的有几家" in reply
    reply = await u.send("37")
    assert "已建会企业：37家" in reply
    assert "已收到" in await u.send("没问题")  # 「没问题」 confirms: it names no item
    rep = await _report(db)
    assert (rep.unionised, rep.visits, rep.problems) == (37, 7, "三家企业反映招工难")


async def test_a_figure_corrected_in_a_sentence_after_filing_opens_the_summary(sim, db, clock, settings) -> None:  # noqa: ANN001
    u = await _filed(sim, db, clock, settings, "oFix")
    reply = await u.send("走访的数填错了，应该是9家")
    assert "本季度走访改为9家（原来是6家）" in reply and "本季度走访：9家" in reply
    assert "25人以上企业：40家" in reply and "请核对" in reply and "重新过一遍" not in reply
    assert "已更新" in await u.send("确认")
    rep = await _report(db)
    assert (rep.enterprises, rep.unionised, rep.wage_agreements, rep.harmonious, rep.visits) == (40, 38, 35, 16, 9)
    assert rep.summary == ANSWERS[6]


async def test_a_correction_naming_no_figure_asks_that_item(sim, db, clock, settings) -> None:  # noqa: ANN001
    u = await _filed(sim, db, clock, settings, "oFix2")
    reply = await u.send("报送的数字填错了")  # no item named: told how
    assert reply.startswith("要修改报送的数字，回复「报送」重新过一遍") and ASKED_TO_STAFF not in reply
    reply = await u.send("已建会的数报错了")
    assert "其中已建立工会的有几家" in reply and "上次留的是「38家」" in reply
    reply = await u.send("39")
    assert "请核对" in reply and "已建会企业：39家" in reply
    assert "已更新" in await u.send("确认")
    assert (await _report(db)).unionised == 39


async def test_a_corrected_figure_that_contradicts_the_others_is_asked_again(sim, db, clock, settings) -> None:  # noqa: ANN001
    u = await _filed(sim, db, clock, settings, "oFix3")
    reply = await u.send("建会的数填错了，应该是50家")  # more than the 40 enterprises
    assert "不能多于" in reply and "请核对" not in reply
    assert (await _report(db)).unionised == 38  # nothing stored before 确认


async def test_a_correction_after_the_deadline_is_refused_with_the_phone(sim, db, clock, settings) -> None:  # noqa: ANN001
    u = await _filed(sim, db, clock, settings, "oFix4")
    clock.set(datetime(2026, 12, 28, 9, 0))
    reply = await u.send("走访的数填错了，应该是9家")
    assert "不能再修改" in reply and "请核对" not in reply
    assert (await _report(db)).visits == 6


# ---- the deadline answer word for word, at its edges ----------------------------------------------

async def test_the_deadline_answer_word_for_word_the_day_before_and_on_the_last_instant(
        sim, db, clock, settings) -> None:  # noqa: ANN001
    from bot.operations import OpsContext
    from handlers.chairs import ops
    from handlers.chairs.quarters import Quarter

    chair = await bound_chair(sim, db, clock, settings, openid="oDueWords")
    u = sim.user("oDueWords")
    clock.set(datetime(2026, 12, 24, 16, 0))  # the day before: 1 day left
    assert await u.send("截止是哪天") == (f"2026年第四季度信息报送{DUE}截止（还有1天）。"
                                        "我们还没有收到您的报送，回复「报送」就可以填写，共7项，几分钟就好。")
    async with db() as s, s.begin():  # staff record a report received on paper that day
        await ops.mark_received(s, OpsContext(clock, settings), chair.id, Quarter.parse("2026Q4"))
    assert await u.send("截止是哪天") == (f"2026年第四季度信息报送{DUE}截止（还有1天）。"
                                        "街道总工会已登记收到您的报送，截止前回复「报送」可以补填具体数字。")
    clock.set(datetime(2026, 12, 26, 0, 0))  # the first instant after the deadline day
    assert (await u.send("截止是哪天")).startswith(f"2026年第四季度的报送已于{DUE}截止，您的报送我们已经收到了")


async def test_the_day_a_report_came_in_is_the_day_it_was_filed(sim, db, clock, settings) -> None:  # noqa: ANN001
    u = await _filed(sim, db, clock, settings, "oDueDay")  # filed on 24 November
    clock.set(datetime(2026, 12, 2, 9, 0))
    assert "您的报送我们11月24日已经收到了" in await u.send("截止是哪天")
