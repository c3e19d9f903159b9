"""What workers and chairs read in the messages sent to them: the check-in code never
leaves the site, the office's number comes from the config, the self-check gives a hint
instead of a label, and a deadline is said once. Messages really go out through the
fake WeChat API."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.db.models.core import Outbox
from bot.operations import OpsContext
from handlers.chairs import reminders as chairs_reminders
from handlers.hardship import ops as hops
from handlers.signup import ops as sops
from handlers.chairs.jobs import send_reminders as send_chair_reminders
from scheduler.setup import job_context
from handlers.signup.jobs import send_reminders as send_signup_reminders
from tests.support.settings import make_settings
from tests.support.chairs import Q4, setup_chairs
from tests.support.hardship import ANSWERS, apply, requests
from tests.support.signup import sign_up_in_chat
from tests.support.signup import at, make_activity

OFFICE_PHONE = "010-66668888"
CALL_LINE = f"致电街道总工会（{OFFICE_PHONE}）"
CHECKIN_HOW = "到场后回复「签到」加现场公布的6位数字"


@pytest.fixture
def settings(db_url, tmp_path, fake_wechat):  # noqa: ANN001, ANN201
    """Online (messages really go to the fake WeChat API), with this office's own number."""
    return make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config(), office={"phone": OFFICE_PHONE})


def received(fake_wechat, openid: str) -> list[str]:  # noqa: ANN001
    """Every text the person got, customer-service text or template fields alike."""
    out = []
    for d in fake_wechat.delivered_to(openid):
        out.append(d["text"] if d["kind"] == "text" else repr(d))
    return out


async def outbox_text(db, key: str) -> str:  # noqa: ANN001
    async with db() as s:
        return (await s.scalar(select(Outbox).where(Outbox.key == key))).payload["text"]


# --- 1. the check-in code ---------------------------------------------------------------

async def test_check_in_code_is_never_sent_ahead_only_how_to_check_in(
        app, sim, db, clock, deliver, fake_wechat):  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)  # 26 Nov 14:00, one seat
    a, b = sim.user("oA"), sim.user("oB")
    replies = [await sign_up_in_chat(a, "1", "王一", "13800000001"), await sign_up_in_chat(b, "1", "王二", "13800000002")]
    assert "报名成功" in replies[0] and "候补" in replies[1]
    fields = dict(kind="training", title=act.title, description="", place="街道职工之家二楼", capacity=1,
                  waitlist=True, audience="", deadline=None)
    async with db() as s, s.begin():  # staff move it: both are told
        await sops.update_activity(s, job_context(app).ops, act.id, **fields, starts_at=at(26, 15), ends_at=at(26, 17))
    assert "已为您取消" in await a.send("取消报名 1")  # B moves up from the waitlist
    clock.set(at(25, 18, 0))
    assert await send_signup_reminders(job_context(app)) == 1  # B's day-before reminder
    await deliver()

    got_a, got_b = received(fake_wechat, "oA"), received(fake_wechat, "oB")
    assert len(got_a) == 1 and len(got_b) == 3  # A: the change; B: the change, the promotion, the reminder
    for text in got_a + got_b + replies:
        assert act.checkin_code not in text
    change_a, (change_b, promoted, reminder) = got_a[0], got_b
    assert "时间或地点有变动" in change_a and CHECKIN_HOW in change_a
    assert "时间或地点有变动" in change_b and "签到" not in change_b  # still waitlisted then: nothing to check in to
    assert "转为正式报名" in promoted and CHECKIN_HOW in promoted
    assert "明天举行" in reminder and CHECKIN_HOW in reminder and "街道职工之家二楼" in reminder

    # on site, the code announced there works
    clock.set(at(26, 14, 30))
    assert "王二，签到成功" in await b.send(f"签到 {act.checkin_code}")


# --- 4. the office's number and the self-check wording ----------------------------------------

async def test_decision_notices_give_the_office_number(sim, db, clock, deliver, fake_wechat, settings):  # noqa: ANN001
    u1, u2 = sim.user("oW1"), sim.user("oW2")
    for u in (u1, u2):
        await apply(u, photos=())
        await u.send("确认")
    r1, r2 = await requests(db)
    async with db() as s, s.begin():
        for r in (r1, r2):
            await hops.start_review(s, OpsContext(clock, settings), r.id)
        await hops.reject(s, OpsContext(clock, settings), r1.id, reason="收入高于标准")
        await hops.approve(s, OpsContext(clock, settings), r2.id)
        await hops.deliver(s, OpsContext(clock, settings), r2.id, amount=2000, aid_kind="",
                           aid_date=clock.now().date())
    await deliver()
    rejected = received(fake_wechat, "oW1")[-1]
    delivered = received(fake_wechat, "oW2")[-1]
    assert "没有通过" in rejected and f"如有疑问，欢迎{CALL_LINE}。" in rejected
    assert "帮扶已发放" in delivered and f"如有疑问，欢迎{CALL_LINE}。" in delivered


async def test_self_check_gives_a_hint_never_a_label(sim):  # noqa: ANN001
    u = sim.user("oDeep")
    summary = await apply(u, photos=())  # (4500 - 1500) / 3 = 1000 ≤ 低保 1200
    assert "可能符合深度困难帮扶条件" in summary and "初步参考" not in summary
    done = await u.send("确认")
    assert "可能符合深度困难帮扶条件" in done and "以工作人员审核为准" in done

    v = sim.user("oRelative")  # 6000 / 3 = 2000: between 1 and 2 × 低保
    summary = await apply(v, answers=ANSWERS[:4] + ["6000", "0"] + ANSWERS[6:], photos=())
    assert "可能符合相对困难帮扶条件" in summary

    w = sim.user("oAbove")  # far above 2 × 低保: no verdict on the person, the door stays open
    summary = await apply(w, answers=ANSWERS[:4] + ["30000", "0"] + ANSWERS[6:], photos=())
    assert "高于低保标准的2倍" in summary and "综合考虑" in summary and "困难" in summary
    assert "不符合" not in summary and "初步参考" not in summary


# --- 4. the chairs' deadline ladder ---------------------------------------------------------

async def test_chair_ladder_says_the_deadline_once_and_the_number_when_late(app, db, clock, settings):  # noqa: ANN001
    chair, _ = await setup_chairs(db, clock, settings)
    ctx = job_context(app)
    texts = {}
    for day, stage in ((16, "t-7"), (22, "t-3"), (24, "t-1"), (28, "t+1")):
        clock.set(datetime(2026, 12, day, 9, 30))
        await send_chair_reminders(ctx)
        texts[stage] = await outbox_text(db, f"chairs:2026Q4:chair{chair}:{stage}")
    assert texts["t-7"] == ("王主席甲主席您好！2026年第四季度信息报送截止日期是12月25日（周五），距截止还有7个工作日。"
                            "直接回复「报送」就能在这里填写，谢谢您的支持！")
    assert "距截止还有3个工作日。" in texts["t-3"]
    assert "将于明天12月25日（周五）截止。" in texts["t-1"] and "工作日" not in texts["t-1"]
    for stage in ("t-7", "t-3", "t-1"):
        assert "截止，还有" not in texts[stage] and "个工作日截止" not in texts[stage]
    assert "已于12月25日（周五）截止" in texts["t+1"] and f"如有困难，请{CALL_LINE}。" in texts["t+1"]


async def test_last_working_day_before_a_monday_deadline_is_not_tomorrow(db, clock, db_url, tmp_path):  # noqa: ANN001
    monday = make_settings(db_url, tmp_path, chairs={"deadline_day": 28}, office={"phone": OFFICE_PHONE})
    chair, _ = await setup_chairs(db, clock, monday)
    async with db() as s, s.begin():  # Fri 25 Dec, the working day before Mon 28 Dec
        await chairs_reminders.run_reminders(
            s, OpsContext(FakeClock(datetime(2026, 12, 25, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))), monday))
    text = await outbox_text(db, f"chairs:{Q4.label}:chair{chair}:t-1")
    assert "截止日期是12月28日（周一），距截止还有1个工作日。" in text and "明天" not in text
