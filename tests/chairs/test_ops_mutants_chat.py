"""Sharper tests for handlers/chairs/ops.py (mutation group `ops-chairs`), chair side: binding with
a code (wrong, expired, used, throttled, moved, already bound) and the quarterly report at the
edges of its deadline — through the signed webhook, asserting the chair's answer word for word and
the stored rows."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.db.models.chairs import Chair, ChairBindCode, ChairBindFailure, ChairReport
from bot.operations import OpsContext
from handlers.chairs import ops
from handlers.chairs.quarters import Quarter
from tests.support.chairs import ANSWERS, Q4, bound_chair, file_report, issue_code, make_chair

Q3 = Quarter(2026, 3)


async def get(db, model, row_id: int):  # noqa: ANN001, ANN201
    async with db() as s:
        return await s.get(model, row_id)


async def failures(db, openid: str) -> list[ChairBindFailure]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(ChairBindFailure).where(ChairBindFailure.openid == openid)))


# ---- binding ---------------------------------------------------------------------------------------

async def test_wrong_codes_count_for_exactly_an_hour(sim, db, clock, settings) -> None:  # noqa: ANN001
    call = settings.office.call_line()
    await make_chair(db, clock, settings)
    other = sim.user("oOther")
    assert await other.send("绑定 ZZZZ77") == "绑定码不对，请核对后重新发送（还可以再试4次）。"
    u = sim.user("oGuess")
    replies = [await u.send(f"绑定 ZZZZ{i:02d}") for i in range(5)]
    assert replies[3] == "绑定码不对，请核对后重新发送（还可以再试1次）。"
    assert replies[4] == f"绑定码不对。尝试次数太多了，请一小时后再试，或直接{call}。"
    assert await u.send("绑定 ZZZZ99") == f"尝试次数太多了，请一小时后再试，或直接{call}。"
    # exactly an hour after those five tries they no longer count, and are cleared
    clock.advance(hours=1)
    assert await u.send("绑定 ZZZZ98") == "绑定码不对，请核对后重新发送（还可以再试4次）。"
    assert [f.at for f in await failures(db, "oGuess")] == [clock.now()]
    assert len(await failures(db, "oOther")) == 1  # another account's old try is its own business


async def test_a_successful_binding_clears_the_wrong_tries(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    code = await issue_code(db, clock, settings, chair.id)
    assert (await sim.user("oOther").send("绑定 ZZZZ77")).startswith("绑定码不对")
    u = sim.user("oChair1")
    for i in range(4):
        await u.send(f"绑定 ZZZZ{i:02d}")
    assert (await u.send(f"绑定 {code}")).startswith("绑定成功！王建国主席您好（街道电子厂工会）。")
    assert await failures(db, "oChair1") == []
    assert len(await failures(db, "oOther")) == 1
    assert await u.send("绑定 ZZZZ99") == "绑定码不对，请核对后重新发送（还可以再试4次）。"


async def test_a_code_expires_at_its_stated_instant(sim, db, clock, settings) -> None:  # noqa: ANN001
    call = settings.office.call_line()
    a = await make_chair(db, clock, settings)
    b = await make_chair(db, clock, settings, name="李秀英", org="东湖物流工会", mobile="13800138002")
    code_a = await issue_code(db, clock, settings, a.id)
    code_b = await issue_code(db, clock, settings, b.id)
    clock.advance(hours=settings.chairs.bind_code_ttl_hours, seconds=-1)
    assert (await sim.user("oA").send(f"绑定 {code_a}")).startswith("绑定成功！王建国主席")
    clock.advance(seconds=1)
    assert await sim.user("oB").send(f"绑定 {code_b}") == f"这个绑定码已失效，请{call}重新获取。"
    assert (await get(db, Chair, b.id)).openid is None


async def test_codes_issued_by_an_earlier_release_still_bind(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    async with db() as s, s.begin():  # the stored form: the SHA-256 of the upper-case code
        s.add(ChairBindCode(chair_id=chair.id, code_hash=hashlib.sha256(b"K7M2QX").hexdigest(),
                            created_at=clock.now(), expires_at=clock.now() + timedelta(days=1)))
    assert (await sim.user("oChair1").send("绑定 k7m2qx")).startswith("绑定成功！王建国主席")


async def test_binding_again_moving_and_a_used_code(sim, db, clock, settings) -> None:  # noqa: ANN001
    call = settings.office.call_line()
    a = await make_chair(db, clock, settings)  # 王建国
    b = await make_chair(db, clock, settings, name="李秀英", org="东湖物流工会", mobile="13800138002")
    z = await make_chair(db, clock, settings, name="张伟", org="西园机械厂工会", community="西园社区",
                         mobile="13800138003")
    code_z = await issue_code(db, clock, settings, z.id)
    assert (await sim.user("oZ").send(f"绑定 {code_z}")).startswith("绑定成功！")
    code_a = await issue_code(db, clock, settings, a.id)
    code_b = await issue_code(db, clock, settings, b.id)  # a's code keeps working
    x = sim.user("oX")
    assert (await x.send(f"绑定 {code_a}")).startswith("绑定成功！王建国主席您好（街道电子厂工会）。")
    bound_at = clock.now()
    chair = await get(db, Chair, a.id)
    assert (chair.openid, chair.bound_at) == ("oX", bound_at)
    [row] = [r for r in await _codes(db, a.id) if r.used_at is not None]
    assert (row.used_at, row.used_by) == (bound_at, "oX")
    clock.advance(minutes=5)
    assert (await x.send(f"绑定 {code_a}")).startswith("您已经绑定过了。王建国主席您好（街道电子厂工会）。")

    # the same account binds another chair: it moves there
    clock.advance(minutes=5)
    assert (await x.send(f"绑定 {code_b}")).startswith("绑定成功！李秀英主席您好（东湖物流工会）。")
    left, now = await get(db, Chair, a.id), clock.now()
    assert (left.openid, left.bound_at, left.updated_at) == (None, None, now)
    assert (await get(db, Chair, b.id)).openid == "oX"
    assert (await get(db, Chair, z.id)).openid == "oZ"

    # a new code binds 王建国 to another account: the old code is used, for everyone
    code_a2 = await issue_code(db, clock, settings, a.id)
    assert (await sim.user("oY").send(f"绑定 {code_a2}")).startswith("绑定成功！王建国主席")
    used = f"这个绑定码已经用过了。如需重新绑定，请{call}获取新的绑定码。"
    assert await x.send(f"绑定 {code_a}") == used
    assert await sim.user("oY").send(f"绑定 {code_a}") == used
    assert (await get(db, Chair, a.id)).openid == "oY" and (await get(db, Chair, b.id)).openid == "oX"


async def _codes(db, chair_id: int) -> list[ChairBindCode]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(ChairBindCode).where(ChairBindCode.chair_id == chair_id)))


async def test_out_of_office_unbinds_and_its_codes_stop_working(sim, db, clock, settings) -> None:  # noqa: ANN001
    call = settings.office.call_line()
    chair = await bound_chair(sim, db, clock, settings)
    code = await issue_code(db, clock, settings, chair.id)
    ctx = OpsContext(clock, settings)
    async with db() as s, s.begin():
        await ops.set_active(s, ctx, chair.id, False)
    stored = await get(db, Chair, chair.id)
    assert (stored.active, stored.openid, stored.bound_at) == (False, None, None)
    assert await sim.user("oNew").send(f"绑定 {code}") == "绑定码不对，请核对后重新发送（还可以再试4次）。"
    async with db() as s, s.begin():
        await ops.set_active(s, ctx, chair.id, True)
    assert await sim.user("oNew2").send(f"绑定 {code}") == f"这个绑定码已失效，请{call}重新获取。"
    assert (await get(db, Chair, chair.id)).openid is None


# ---- the report at the edges of the deadline (Q4: 25 December, the day ends 26 December 00:00) --------

DUE = "12月25日（周五）"


async def test_at_the_end_of_the_deadline_day_the_report_is_late(sim, db, clock, settings) -> None:  # noqa: ANN001
    a = await bound_chair(sim, db, clock, settings)
    b = await bound_chair(sim, db, clock, settings, openid="oChair2", name="李秀英", org="东湖物流工会",
                          mobile="13800138002")
    ua, ub = sim.user("oChair1"), sim.user("oChair2")
    clock.set(datetime(2026, 12, 25, 23, 50))  # the deadline day, late in the evening
    for u in (ua, ub):
        assert "2026年第四季度信息报送，12月25日（周五）截止，共7项" in await u.send("报送")
        await file_report(u)
    clock.set(datetime(2026, 12, 25, 23, 59, 59))
    assert (await ua.send("确认")).startswith("已收到您2026年第四季度的报送，谢谢王建国主席！")
    clock.set(datetime(2026, 12, 26, 0, 0))
    assert (await ub.send("确认")).startswith("已收到您2026年第四季度的补报，谢谢李秀英主席！")
    async with db() as s:
        assert (await ops.report_for(s, a.id, Q4)).on_time
        assert not (await ops.report_for(s, b.id, Q4)).on_time


async def test_at_the_end_of_the_deadline_day_nothing_filed_is_owed(sim, db, clock, settings) -> None:  # noqa: ANN001
    await bound_chair(sim, db, clock, settings)
    clock.set(ops.deadline_end(OpsContext(clock, settings), Q4))
    u = sim.user("oChair1")
    assert "您2026年第四季度的报送还没有收到，回复「报送」即可补报。" in await u.send("绑定")
    assert (f"2026年第四季度的报送已于{DUE}截止，我们还没有收到您的报送，现在补报，共7项。"
            in await u.send("报送"))


async def test_a_correction_ends_with_the_deadline_day(sim, db, clock, settings) -> None:  # noqa: ANN001
    call = settings.office.call_line()
    chair = await bound_chair(sim, db, clock, settings)
    u = sim.user("oChair1")
    await u.send("报送")
    await file_report(u)
    await u.send("确认")
    end = ops.deadline_end(OpsContext(clock, settings), Q4)
    clock.set(end - timedelta(minutes=10))
    assert (f"您已提交过2026年第四季度的报送，{DUE}截止前都可以修改。每一项回复「沿用」保留原来的内容。"
            in await u.send("报送"))
    await u.send("沿用")
    await u.send("39")
    for _ in range(5):
        reply = await u.send("沿用")
    assert "请核对" in reply
    clock.set(end)
    reply = await u.send("确认")
    assert reply.startswith(f"2026年第四季度的报送已于{DUE}截止，截止后不能再修改了。如需更正，请{call}。\n")
    async with db() as s:
        assert (await ops.report_for(s, chair.id, Q4)).unionised == 38
    assert (await u.send("报送")).startswith(
        f"王建国主席您好，您2026年第四季度的报送我们已经收到，谢谢！报送已于{DUE}截止，不能再修改；如需更正请{call}。")


async def test_a_receipt_staff_recorded_can_be_filled_in(sim, db, clock, settings) -> None:  # noqa: ANN001
    chair = await bound_chair(sim, db, clock, settings)
    async with db() as s, s.begin():
        await ops.mark_received(s, OpsContext(clock, settings), chair.id, Q4)
    reply = await sim.user("oChair1").send("报送")
    assert f"街道总工会已登记收到您2026年第四季度的报送，{DUE}截止前可以在这里补填具体数字。" in reply


# ---- which quarter 「报送」 files -----------------------------------------------------------------------

async def test_a_quarter_owed_is_offered_until_the_first_reminder_of_the_next(sim, db, clock, settings) -> None:  # noqa: ANN001
    clock.set(datetime(2026, 9, 1, 10, 0))
    await bound_chair(sim, db, clock, settings)  # in office during Q3, filed nothing for it
    first = min(s.due_at for s in ops.ladder(OpsContext(clock, settings), Q4))
    u = sim.user("oChair1")
    clock.set(first - timedelta(seconds=1))
    assert "2026年第三季度的报送已于" in await u.send("报送")
    await u.send("取消")
    clock.set(first)
    assert "2026年第四季度信息报送" in await u.send("报送")


async def test_a_chair_added_after_a_quarter_ended_owes_nothing_for_it(sim, db, clock, settings) -> None:  # noqa: ANN001
    ctx = OpsContext(clock, settings)
    clock.set(ops.deadline_end(ctx, Q3) - timedelta(seconds=1))
    await bound_chair(sim, db, clock, settings)
    clock.set(ops.deadline_end(ctx, Q3))
    await bound_chair(sim, db, clock, settings, openid="oChair2", name="李秀英", org="东湖物流工会",
                      mobile="13800138002")
    clock.set(datetime(2026, 10, 12, 10, 0))  # before Q4's first reminder
    assert "2026年第三季度的报送已于" in await sim.user("oChair1").send("报送")
    assert "2026年第四季度信息报送" in await sim.user("oChair2").send("报送")


# ---- the figures offered with 沿用 ------------------------------------------------------------------

def _report(chair_id: int, quarter: str, enterprises: int | None, at: datetime) -> ChairReport:
    figures = {} if enterprises is None else {"enterprises": enterprises, "unionised": 1, "wage_agreements": 1,
                                              "harmonious": 1, "visits": 1, "summary": "正常。"}
    return ChairReport(chair_id=chair_id, quarter=quarter, channel="wechat" if figures else "other",
                       submitted_at=at, updated_at=at, on_time=True, **figures)


async def test_the_latest_earlier_figures_of_this_chair_are_offered(sim, db, clock, settings) -> None:  # noqa: ANN001
    start = clock.now()
    clock.set(datetime(2026, 4, 1, 10, 0))
    chair = await bound_chair(sim, db, clock, settings)
    other = await make_chair(db, clock, settings, name="李秀英", org="东湖物流工会", mobile="13800138002")
    late = await bound_chair(sim, db, clock, settings, openid="oChair3", name="张伟", org="西园机械厂工会",
                             community="西园社区", mobile="13800138003")
    async with db() as s, s.begin():
        for row in (_report(chair.id, "2026Q1", 11, start), _report(chair.id, "2026Q2", 22, start),
                    _report(chair.id, "2026Q3", None, start), _report(other.id, "2026Q3", 77, start),
                    _report(late.id, "2026Q2", 23, start), _report(late.id, "2026Q4", 44, start)):
            s.add(row)
    clock.set(start)  # 24 November: Q4, before its first reminder
    reply = await sim.user("oChair1").send("报送")
    assert "2026年第四季度信息报送" in reply and "22家" in reply
    assert "11家" not in reply and "77家" not in reply
    reply = await sim.user("oChair3").send("报送")  # owes Q3 (filed Q4 early): Q2's figures
    assert "2026年第三季度的报送已于" in reply and "23家" in reply and "44家" not in reply


# ---- the figures check ------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "fields"), [
    ({"enterprises": 10, "unionised": 11}, ("enterprises", "unionised")),
    ({"enterprises": 10, "unionised": 5, "wage_agreements": 6}, ("unionised", "wage_agreements")),
    ({"enterprises": 10, "unionised": 5, "wage_agreements": 5, "harmonious": 6}, ("unionised", "harmonious")),
])
def test_the_figures_check_names_the_fields_to_ask_again(data, fields) -> None:  # noqa: ANN001
    problem = ops.figure_problem(data)
    assert problem is not None and problem[1] == fields


def test_figures_not_given_yet_are_not_compared() -> None:
    assert ops.figure_problem({"harmonious": 3}) is None
    assert ops.figure_problem({"wage_agreements": 3, "harmonious": 3}) is None
    assert ops.figure_problem({"enterprises": 3, "unionised": 3, "wage_agreements": 3, "harmonious": 3}) is None


async def test_contradicting_figures_are_never_stored(db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    data = dict(zip(ops.REPORT_FIELDS, [int(a) if a.isdecimal() else a for a in ANSWERS]))
    data["unionised"] = 41
    async with db() as s:
        with pytest.raises(ops.ChairError) as refused:
            await ops.submit_report(s, OpsContext(clock, settings), chair, Q4, data)
        assert str(refused.value) == "已建会企业（41家）不能多于25人以上企业总数（40家）。"
    async with db() as s:
        assert await ops.report_for(s, chair.id, Q4) is None
