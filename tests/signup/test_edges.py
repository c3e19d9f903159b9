"""Edges found in review: attended sign-ups stay, re-picking shows one's own sign-up,
changed time or place is told, stale QR codes, staff see who could not be reached."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from bot.keys import DELIVERY, PROCESSOR, SESSIONMAKER
from bot.db.models.core import Member, Outbox
from bot.db.models.signup import Activity, Signup
from handlers.signup import ops
from tests.support.admin import csrf_at, log_in_staff
from tests.support.signup import at, make_activity, one_seat_taken_one_waiting, ops_ctx, signup_via_chat


async def test_attended_signup_cannot_be_cancelled_and_stays_in_the_record(client, sim, db, clock):
    await log_in_staff(client, db)
    act = await one_seat_taken_one_waiting(sim, db, clock)
    a = sim.user("oA")
    clock.set(at(26, 13, 30))
    assert "签到成功" in await a.send(f"签到 {act.checkin_code}")
    assert "已在「电工技能培训」签到，不能再取消" in await a.send("取消报名 1")
    async with db() as s:
        sid = (await s.scalar(select(Signup).where(Signup.openid == "oA"))).id
    t = await csrf_at(client, f"/admin/signup/{act.id}")
    resp = await client.post(f"/admin/signup/{act.id}/signups/{sid}/cancel", data={"_csrf": t})
    assert "该职工已签到，不能取消报名" in await resp.text()
    async with db() as s:
        assert {r.openid: r.status for r in (await s.scalars(select(Signup))).all()} == {
            "oA": "confirmed", "oB": "waitlist"}
        assert (await s.scalar(select(Outbox).where(Outbox.purpose == "signup.promoted"))) is None
    page = await (await client.get("/admin/signup/record?from=2026-11-01&to=2026-11-30")).text()
    assert "王一" in page


async def test_listing_and_details_show_ones_own_signup(sim, db, clock):
    await make_activity(db, clock, capacity=1)
    await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    a, b = sim.user("oA"), sim.user("oB")
    await signup_via_chat(a, "王一", "13800000001")
    await signup_via_chat(b, "王二", "13800000002")
    assert "电工技能培训（您已报名）" in await a.send("报名")
    reply = await a.send("1")
    assert "您已经报名了「电工技能培训」" in reply and "加入候补" not in reply
    assert "电工技能培训（您在候补中）" in await b.send("报名")
    assert "您已在「电工技能培训」的候补名单中" in await b.send("1")
    assert "【活动】读书会" in await b.send("2")  # still choosing: another number works


async def test_new_time_or_place_is_told_to_everyone_signed_up(client, sim, db, clock):
    await log_in_staff(client, db)
    act = await one_seat_taken_one_waiting(sim, db, clock)
    url = f"/admin/signup/{act.id}/edit"
    base = {"_csrf": await csrf_at(client, url), "kind": "training", "title": act.title, "place": act.place,
            "starts_at": "2026-11-26T14:00", "ends_at": "2026-11-26T16:00", "capacity": "1", "waitlist": "1"}
    page = await (await client.post(url, data={**base, "description": "带上笔记本"})).text()
    assert "活动已保存" in page and "已通知" not in page  # nothing a worker must act on
    page = await (await client.post(url, data={**base, "place": "街道文体中心三楼"})).text()
    assert "已通知 2 位报名和候补的职工" in page
    async with db() as s:
        rows = (await s.scalars(select(Outbox).where(Outbox.purpose == "signup.changed"))).all()
    assert sorted(r.openid for r in rows) == ["oA", "oB"]
    assert all("地点：街道文体中心三楼" in r.payload["text"] for r in rows)


async def test_stale_checkin_qr(sim, db, clock):
    u = sim.user("oA")
    assert "签到二维码已失效" in await u.scan("checkin:9999")


async def test_unreachable_promotion_shown_to_staff_through_real_delivery(
        aiohttp_client, make_app, engine, db_url, tmp_path, fake_wechat, clock):
    from tests.support.settings import make_settings
    from bot.wechat.simulator import WeChatSim

    online = make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config())
    app = make_app(online)
    client = await aiohttp_client(app)
    db = app[SESSIONMAKER]
    sim = WeChatSim(client, path=online.server.webhook_path, token=online.wechat.token, clock=clock)
    await log_in_staff(client, db)
    act = await one_seat_taken_one_waiting(sim, db, clock)
    await app[PROCESSOR].drain()
    await app[DELIVERY].run_once()
    clock.advance(days=2, minutes=1)  # B's 48-hour window has closed; no template configured
    assert "已为您取消" in await sim.user("oA").send("取消报名 1")
    await app[DELIVERY].run_once()
    async with db() as s:
        note = await s.scalar(select(Outbox).where(Outbox.purpose == "signup.promoted"))
    assert note.openid == "oB" and note.status == "unreachable"
    page = await (await client.get(f"/admin/signup/{act.id}")).text()
    assert page.count("通知未送达·请电话联系") == 1


async def test_cancel_of_a_row_promoted_meanwhile_frees_its_seat(db, clock, engine, backend):
    """PostgreSQL: B (waitlisted) cancels while another transaction is promoting B.
    B's cancel must see the promotion (read under the activity lock) and free the seat."""
    if backend != "postgresql":
        pytest.skip("SQLite's single connection runs the two transactions one after the other")
    from bot.db.models.core import Member

    act = await make_activity(db, clock, capacity=1)
    async with db() as s, s.begin():
        ms = [Member(openid=o, first_seen=clock.now(), last_seen=clock.now()) for o in ("oA", "oB", "oC")]
        s.add_all(ms)
    sign = {}
    for m in ms:
        async with db() as s, s.begin():
            sign[m.openid] = (await ops.sign_up(s, ops_ctx(clock), act.id, m, name="职工", phone="13900000000")).signup.id
    s1 = db()
    await s1.begin()
    res = await ops.cancel_signup(s1, ops_ctx(clock), sign["oA"])  # holds the lock, promotes B
    assert res.promoted.openid == "oB"

    async def cancel_b() -> ops.CancelResult:
        async with db() as s2, s2.begin():
            return await ops.cancel_signup(s2, ops_ctx(clock), sign["oB"], member_id=res.promoted.member_id)
    task = asyncio.create_task(cancel_b())
    async with engine.connect() as watch:  # wait until B's cancel waits for the lock
        while not task.done() and not await watch.scalar(text(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock'")):
            await watch.rollback()  # pg_stat_activity is a snapshot per transaction: read it afresh
            await asyncio.sleep(0.01)
    await s1.commit()
    await s1.close()
    assert (await task).ok
    async with db() as s:
        rows = {r.openid: r.status for r in (await s.scalars(select(Signup))).all()}
        assert rows == {"oA": "cancelled", "oB": "cancelled", "oC": "confirmed"}
        assert (await s.get(Activity, act.id)).taken == 1


async def test_back_while_giving_contact_details_goes_back_not_signs_up(sim, db, clock):
    """上一步 at the summary / employer / phone / name steps steps back; it is never taken as an answer."""
    await make_activity(db, clock)
    u = sim.user("oBackAndForth")
    await u.send("报名")
    assert "这已经是第一步了" in await u.send("上一步")
    await u.send("1")
    not_a_name = await u.send("确认")  # a command word is not taken as a name
    assert "不能作为姓名" in not_a_name and "请回复您的真实姓名" in not_a_name
    again = await u.send("报名")  # the form's own word: where we are, not a name
    assert "您正在填写活动报名" in again and "请回复您的真实姓名" in again
    await u.send("李四")
    await u.send("13800138000")
    assert "李四 138****8000" in await u.send("跳过")  # the summary
    back = await u.send("上一步")
    assert "回到上一步" in back and "请回复您的工作单位" in back
    back = await u.send("上一步")
    assert "回到上一步" in back and "手机号码" in back and "138****8000" in back
    back = await u.send("上一步")
    assert "回到上一步" in back and "姓名" in back and "李四" in back
    back = await u.send("上一步")
    assert "回到上一步" in back and "1. 【培训】电工技能培训" in back
    async with db() as s:
        assert list(await s.scalars(select(Signup))) == []
    assert "上次留的是「李四」" in await u.send("1")  # what was given is kept and offered
    assert "手机号码" in await u.send("沿用")
    assert "工作单位" in await u.send("沿用")
    summary = await u.send("跳过")
    assert "李四 138****8000" in summary and "工作单位：（未填）" in summary
    assert "报名成功" in await u.send("确认")
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oBackAndForth"))
    assert (m.name, m.phone, m.employer) == ("李四", "13800138000", "")
