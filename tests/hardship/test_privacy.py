"""删除我的信息 end to end: a hardship request that ends in any final state after the wish
loses its personal data; sign-ups lose theirs at once when past or cancelled and after the
activity when upcoming; the reply says exactly what went, what stays and why."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.db.models.core import Member, Outbox
from bot.db.models.signup import Signup
from bot.operations import OpsContext
from handlers.hardship import ops as hops
from handlers.signup import ops as sops
from handlers.signup import reports as signup_reports
from handlers.hardship.privacy import ANON_NAME
from handlers.hardship.jobs import anonymise_closed
from scheduler.setup import job_context
from handlers.signup.jobs import JOBS as SIGNUP_JOBS
from tests.support.settings import make_settings
from tests.support.hardship import apply, ops_ctx, requests
from tests.support.signup import at, make_activity, sign_up_in_chat

TZ = ZoneInfo("Asia/Shanghai")
OFFICE_PHONE = "010-66668888"
CALL_LINE = f"致电街道总工会（{OFFICE_PHONE}）"


@pytest.fixture
def settings(db_url, tmp_path, fake_wechat):  # noqa: ANN001, ANN201
    """Online (messages really go to the fake WeChat API), with this office's own number."""
    return make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config(), office={"phone": OFFICE_PHONE})


def dec(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TZ)


async def signups_of(db) -> list[Signup]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(Signup).order_by(Signup.activity_id, Signup.id)))


# --- hardship: finished means any final state ------------------------------------------------

async def _finish(s, req_id: int, ctx: OpsContext, how: str) -> None:  # noqa: ANN001
    """Staff's decision, through the operations the admin pages call."""
    await hops.start_review(s, ctx, req_id)
    if how == "rejected":
        await hops.reject(s, ctx, req_id, reason="家庭收入高于标准")
    elif how == "delivered":
        await hops.approve(s, ctx, req_id)
        await hops.deliver(s, ctx, req_id, amount=1500, aid_kind="米面油", aid_date=date(2026, 11, 24))
    else:
        await hops.reject(s, ctx, req_id, reason="家庭收入高于标准")
        await hops.close(s, ctx, req_id)


@pytest.mark.parametrize("final", ["rejected", "delivered", "closed"])
async def test_request_erased_while_open_is_anonymised_in_any_final_state(
        final, app, sim, db, clock, deliver, fake_wechat, settings):  # noqa: ANN001
    u = sim.user("oErase1")
    await apply(u, photos=())
    await u.send("确认")
    ask = await u.send("删除我的信息")
    assert "正在办理的帮扶申请" in ask and "办结" in ask and "确认删除" in ask
    reply = await u.send("确认删除")
    assert "已删除您的个人信息：姓名、手机号、工作单位" in reply
    assert "BF-2026-0001 还在办理" in reply and "办结后自动删除" in reply and CALL_LINE in reply
    [req] = await requests(db)
    assert req.phone == "13800138000" and req.erase_requested_at is not None  # staff still need it

    async with db() as s, s.begin():
        await _finish(s, req.id, ops_ctx(app), final)
    await deliver()
    told = [d["text"] for d in fake_wechat.delivered_to("oErase1")]
    assert told and ("没有通过" in told[-1] or "帮扶已发放" in told[-1])  # the decision still reaches the worker

    assert await anonymise_closed(job_context(app)) == 1  # the next run, not years later
    assert await anonymise_closed(job_context(app)) == 0
    [req] = await requests(db)
    assert (req.status, req.name, req.phone, req.employer, req.openid, req.id_number_enc) == (
        final, ANON_NAME, "", "", "", None)
    assert (req.description, req.last_message, req.reject_reason) == ("", "", "")
    assert req.kind == "因病" and req.per_capita == 1000  # the figures stay
    if final != "closed":  # staff can still file it away
        async with db() as s, s.begin():
            closed = await hops.close(s, ops_ctx(app), req.id)
        assert closed.status == "closed" and closed.name == ANON_NAME
    assert "还没有提交过" in await u.send("我的申请")


async def test_delivered_and_never_closed_is_anonymised_after_the_retention_period(
        app, sim, db, clock, settings):  # noqa: ANN001
    u = sim.user("oKeep")
    await apply(u, photos=())
    await u.send("确认")
    [req] = await requests(db)
    async with db() as s, s.begin():
        await _finish(s, req.id, ops_ctx(app), "delivered")
    ctx = job_context(app)
    assert await anonymise_closed(ctx) == 0  # no wish: kept for the retention period
    clock.advance(days=settings.hardship.retention_days + 1)
    assert await anonymise_closed(ctx) == 1
    [req] = await requests(db)
    assert (req.status, req.name, req.phone) == ("delivered", ANON_NAME, "")


# --- sign-ups ----------------------------------------------------------------------------------

async def test_erasure_covers_sign_ups_past_now_upcoming_after_the_activity(app, sim, db, clock, deliver,
                                                                           fake_wechat):  # noqa: ANN001
    past = await make_activity(db, clock)  # 电工技能培训, 26 Nov 14:00–16:00
    dropped = await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    soon = await make_activity(db, clock, title="安全生产讲座", starts_at=dec(3, 9), ends_at=dec(3, 11))
    full = await make_activity(db, clock, title="插花沙龙", kind="event", capacity=1,
                               starts_at=dec(5, 14), ends_at=dec(5, 16))
    other = sim.user("oOther")
    await sign_up_in_chat(other, "4", "赵六", "13900000006")  # takes the salon's only seat
    u = sim.user("oWang")
    for pick in ("1", "2", "3"):
        assert "报名成功" in await sign_up_in_chat(u, pick)
    assert "候补" in await sign_up_in_chat(u, "4")
    assert "已为您取消「读书会」" in await u.send("取消报名 2")
    clock.set(at(26, 14, 0))
    assert "签到成功" in await u.send(f"签到 {past.checkin_code}")

    clock.set(at(28, 10, 0))
    await u.send("删除我的信息")
    reply = await u.send("确认删除")
    assert reply.startswith("已删除您的个人信息：姓名、手机号；2条已结束或已取消的报名记录中的姓名、手机号、工作单位。")
    assert "暂时保留：「安全生产讲座」（12月3日）、「插花沙龙」（12月5日）的报名信息" in reply
    assert "活动结束后自动删除" in reply and "统计数字会保留" in reply and CALL_LINE in reply

    rows = {r.activity_id: r for r in await signups_of(db) if r.openid != "oOther"}
    for act in (past, dropped):  # past and cancelled: nothing left that names or reaches the worker
        r = rows[act.id]
        assert (r.name, r.phone, r.employer, r.openid, r.member_id) == ("", "", "", "", None)
    assert rows[past.id].attended_at is not None  # the attendance figure stays
    for act in (soon, full):
        r = rows[act.id]
        assert (r.name, r.phone, r.openid) == ("王一", "13800000001", "oWang") and r.erase_requested_at is not None
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oWang"))
        counts = await signup_reports.counts(s, past.id)
        record = await signup_reports.training_record(s, job_context(app).ops, date(2026, 11, 1), date(2026, 11, 30))
    assert (m.name, m.phone, m.employer) == (None, None, None)
    assert counts["attended"] == 1
    assert [(w["name"], w["phone"], w["count"]) for w in record["workers"]] == [(signup_reports.ERASED, "", 1)]

    # the kept sign-ups still work for the worker: listed, and told of a change
    mine = await u.send("我的报名")
    assert "安全生产讲座" in mine and "插花沙龙" in mine and "候补第1位" in mine
    fields = dict(kind="training", title=soon.title, description="", place="街道职工之家", capacity=2,
                  waitlist=True, audience="", deadline=None)
    async with db() as s, s.begin():
        await sops.update_activity(s, job_context(app).ops, soon.id, **fields, starts_at=dec(3, 14), ends_at=dec(3, 16))
    await deliver()
    assert any("安全生产讲座」时间或地点有变动" in d.get("text", "") for d in fake_wechat.delivered_to("oWang"))

    # once an activity is over, the job removes what was kept for it; the salon waits for its day
    job = next(j for j in SIGNUP_JOBS if j.id == "signup.erase_pending")
    ctx = job_context(app)
    clock.set(dec(3, 15, 59))
    assert await job.func(ctx) == 0
    clock.set(dec(3, 16, 0))
    assert await job.func(ctx) == 1
    assert await job.func(ctx) == 0  # idempotent
    clock.set(dec(5, 17, 0))
    assert await job.func(ctx) == 1
    mine_left = [r for r in await signups_of(db) if r.name == "王一" or r.openid == "oWang"]
    assert mine_left == []
    async with db() as s:  # the other worker's sign-up is untouched
        salon = await s.scalar(select(Signup).where(Signup.activity_id == full.id, Signup.status == "confirmed"))
    assert (salon.name, salon.openid) == ("赵六", "oOther")


async def test_cancelled_upcoming_sign_up_goes_with_the_next_run_and_new_sign_ups_ask_again(
        app, sim, db, clock):  # noqa: ANN001
    soon = await make_activity(db, clock)  # 26 Nov
    later = await make_activity(db, clock, title="健康讲座", starts_at=dec(10, 9), ends_at=dec(10, 11))
    u = sim.user("oLi")
    await sign_up_in_chat(u, "1", "李四", "13700000004")
    await u.send("删除我的信息")
    assert "「电工技能培训」（11月26日）的报名信息" in await u.send("确认删除")
    assert "已为您取消" in await u.send("取消报名 1")  # no longer needed: the next run removes it
    job = next(j for j in SIGNUP_JOBS if j.id == "signup.erase_pending")
    assert await job.func(job_context(app)) == 1
    [row] = await signups_of(db)
    assert (row.activity_id, row.name, row.member_id) == (soon.id, "", None)

    # signing up again is a fresh start: the details are asked (the profile is gone) and kept
    done = await sign_up_in_chat(u, "2", "李四", "13700000004")
    assert "姓名" in done and "报名成功" in done
    async with db() as s:
        new = await s.scalar(select(Signup).where(Signup.activity_id == later.id))
    assert (new.name, new.openid, new.erase_requested_at) == ("李四", "oLi", None)


async def test_nothing_stored_says_so(sim, db):  # noqa: ANN001
    u = sim.user("oNobody")
    await u.send("删除我的信息")
    assert "没有留下需要删除的个人信息" in await u.send("确认删除")
    async with db() as s:
        assert await s.scalar(select(Outbox)) is None
