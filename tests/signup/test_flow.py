"""Sign-up through the WeChat simulator: list, pick, confirm, profile, waitlist, cancel, check-in."""
from __future__ import annotations

from sqlalchemy import select

from bot.db.models.core import Member, Outbox
from bot.db.models.signup import Activity, Signup
from handlers.signup import ops
from tests.support.signup import at, make_activity, ops_ctx, signup_via_chat


async def test_whole_flow_profile_asked_once_then_reused(sim, db, clock):
    act = await make_activity(db, clock)
    u = sim.user("oWorkerA")
    listing = await u.send("报名")
    assert "1. 【培训】电工技能培训" in listing and "剩余2个名额" in listing and "街道职工之家" in listing
    ask = await u.send("1")  # the profile lacks the contact details: asked once
    assert "只问一次，下次自动带出" in ask and "姓名" in ask
    assert "手机号码" in await u.send("张三丰")
    assert "手机号好像不对" in await u.send("12345")
    assert "工作单位" in await u.send("13800138000")
    summary = await u.send("红星机械厂")
    assert "11月26日（周四）14:00–16:00" in summary and "地点：街道职工之家" in summary
    assert "张三丰 138****8000" in summary and "工作单位：红星机械厂" in summary and "剩余2个名额" in summary
    assert "回复「确认」报名，「修改」更改联系方式，「取消」放弃" in summary
    async with db() as s:  # nothing stored before 确认
        assert list(await s.scalars(select(Signup))) == []
    done = await u.send("确认")
    assert "报名成功" in done and "到场后回复「签到」加现场公布的6位数字" in done
    assert act.checkin_code not in done  # the code is only announced on site
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oWorkerA"))
        assert (m.name, m.phone, m.employer) == ("张三丰", "13800138000", "红星机械厂")

    # a second activity: the profile is brought along, nothing asked again
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    await u.send("报名")
    details = await u.send("2")
    assert "【活动】读书会" in details and "张三丰 138****8000" in details and "回复「确认」报名" in details
    assert "报名成功" in await u.send("确认")

    mine = await u.send("我的报名")
    assert "1. 电工技能培训" in mine and "2. 读书会" in mine and "报名成功" in mine
    assert "无需重复报名" in await signup_again(u)


async def signup_again(u) -> str:  # noqa: ANN001
    await u.send("报名")
    return await u.send("1")


async def test_click_signup_and_nothing_open(sim, db, clock):
    u = sim.user("oWorkerB")
    assert "目前没有可以报名" in await u.click("SIGNUP")
    await make_activity(db, clock)
    assert "电工技能培训" in await u.click("SIGNUP")


async def test_full_goes_to_waitlist_and_cancel_promotes_first_once(sim, db, clock, deliver):
    await make_activity(db, clock, capacity=1)
    a, b, c = sim.user("oA"), sim.user("oB"), sim.user("oC")
    assert "报名成功" in await signup_via_chat(a, "王一", "13800000001")
    assert "名额已满，可候补" in await b.send("报名")
    await b.send("1")
    await b.send("王二")
    await b.send("13800000002")
    summary = await b.send("跳过")
    assert "名额已满，确认后加入候补" in summary
    assert "候补名单，目前排第1位" in await b.send("确认")
    assert "第2位" in await signup_via_chat(c, "王三", "13800000003")
    assert "候补第1位" in await b.send("我的报名")

    assert "已为您取消「电工技能培训」的报名" in await a.send("取消报名 1")
    async with db() as s:
        rows = {r.openid: r for r in (await s.scalars(select(Signup))).all()}
        act = await s.scalar(select(Activity))
        notices = (await s.scalars(select(Outbox).where(Outbox.purpose == "signup.promoted"))).all()
    assert rows["oA"].status == "cancelled" and rows["oB"].status == "confirmed" and rows["oC"].status == "waitlist"
    assert act.taken == 1
    assert [n.openid for n in notices] == ["oB"] and "从候补转为正式报名" in notices[0].payload["text"]
    # cancelling again changes nothing and promotes nobody more
    assert "没有序号为 1 的报名" in await a.send("取消报名 1")
    assert "候补第1位" in await c.send("我的报名")
    await deliver()

    # A waitlisted person cancelling frees no seat
    assert "取消「电工技能培训」的候补" in await c.send("取消报名 1")
    async with db() as s:
        assert (await s.scalar(select(Activity))).taken == 1


async def test_refusals_deadline_cancelled_full_without_waitlist(sim, db, clock):
    act = await make_activity(db, clock, capacity=1, waitlist=False, deadline=at(25, 12))
    a, b = sim.user("oA"), sim.user("oB")
    assert "报名成功" in await signup_via_chat(a, "王一", "13800000001")
    await b.send("报名")
    full = await b.send("1")  # refused, and still choosing
    assert "名额已满，也不设候补" in full and "1. 【培训】电工技能培训" in full and "下次早点来" not in full
    # b waits on the summary while the deadline passes
    async with db() as s, s.begin():
        x = await s.get(Activity, act.id)
        x.capacity = 5
    clock.set(at(25, 11, 30))
    await b.send("报名")
    assert "姓名" in await b.send("1")
    await b.send("王二")
    await b.send("13800000002")
    assert "回复「确认」报名" in await b.send("跳过")
    clock.set(at(25, 12, 1))
    closed = await b.send("确认")
    assert "报名已经截止" in closed and "目前没有其他可以报名" in closed and "下次早点来" not in closed
    async with db() as s:
        assert (await s.scalar(select(Signup).where(Signup.openid == "oB"))) is None
        m = await s.scalar(select(Member).where(Member.openid == "oB"))
        assert (m.name, m.phone) == ("王二", "13800000002")  # confirmed once: not asked again
    assert "目前没有可以报名" in await b.send("报名")

    act2 = await make_activity(db, clock, title="书画摄影比赛", kind="event", starts_at=at(28, 9), ends_at=at(28, 17))
    await b.send("报名")
    assert "书画摄影比赛" in await b.send("1")  # straight to the summary
    async with db() as s, s.begin():
        await ops.cancel_activity(s, ops_ctx(clock), act2.id, "场地检修")
    reply = await b.send("确认")
    assert "已取消，不能报名" in reply and "没有其他可以报名" in reply


async def test_check_in_window_by_code_and_qr_scan(sim, db, clock):
    act = await make_activity(db, clock)
    u, other = sim.user("oA"), sim.user("oB")
    await signup_via_chat(u, "王一", "13800000001")
    code = act.checkin_code
    assert "签到码不对" in await u.send("签到 000000" if code != "000000" else "签到 111111")
    clock.set(at(26, 12, 59))
    assert "11月26日 13:00 开始" in await u.send(f"签到 {code}")
    clock.set(at(26, 13, 0))
    assert "王一，签到成功" in await u.send(f"签到 {code}")
    assert "无需重复签到" in await u.scan(f"checkin:{act.id}")
    assert "还没有报名" in await other.send(f"签到 {code}")
    clock.set(at(26, 16, 1))
    assert "签到已关闭" in await other.scan(f"checkin:{act.id}")

    # the QR scan marks attendance under the same rule, also as a first follow
    act2 = await make_activity(db, clock, title="业务知识讲座", starts_at=at(26, 17), ends_at=at(26, 18))
    assert "报名成功" in await signup_via_chat(other, "王二", "13800000002")
    reply = await other.follow(f"checkin:{act2.id}")
    assert "欢迎关注" in reply and "签到成功" in reply
    async with db() as s:
        rows = {(r.openid, r.activity_id): r for r in (await s.scalars(select(Signup))).all()}
    assert rows[("oA", act.id)].checkin_via == "code"
    assert rows[("oB", act2.id)].checkin_via == "qr" and rows[("oB", act2.id)].attended_at is not None


async def test_cancelling_activity_notifies_signed_up_and_waitlisted(sim, db, clock):
    act = await make_activity(db, clock, capacity=1)
    await signup_via_chat(sim.user("oA"), "王一", "13800000001")
    await signup_via_chat(sim.user("oB"), "王二", "13800000002")
    async with db() as s, s.begin():
        assert await ops.cancel_activity(s, ops_ctx(clock), act.id, "天气原因") == 2
    async with db() as s, s.begin():
        assert await ops.cancel_activity(s, ops_ctx(clock), act.id) == 0
    async with db() as s:
        rows = (await s.scalars(select(Outbox).where(Outbox.purpose == "signup.cancelled"))).all()
    assert sorted(r.openid for r in rows) == ["oA", "oB"]
    assert all("天气原因" in r.payload["text"] for r in rows)
    assert "没有待参加的报名" in await sim.user("oA").send("我的报名")  # told already; nothing to cancel


async def test_cancel_after_start_refused(sim, db, clock):
    await make_activity(db, clock)
    u = sim.user("oA")
    await signup_via_chat(u, "王一", "13800000001")
    clock.set(at(26, 14, 30))
    assert "已经开始，不能在线取消" in await u.send("取消报名 1")
