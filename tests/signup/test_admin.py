"""Staff run activities in the admin site; workers sign up through the simulator."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook
from sqlalchemy import select

from bot.db.models.core import AuditLog, Outbox
from bot.db.models.signup import Activity, Signup
from tests.support.admin import csrf_at, log_in_staff
from tests.support.signup import at, make_activity, one_seat_taken_one_waiting, signup_via_chat

FORM = {"kind": "training", "title": "叉车操作技能培训", "description": "理论加实操", "place": "街道职工学校201",
        "starts_at": "2026-11-26T14:00", "ends_at": "2026-11-26T16:30", "deadline": "", "capacity": "1",
        "waitlist": "1", "audience": "物流企业职工"}


async def test_publish_signup_checkin_cancel_export(client, sim, db, clock, deliver):
    await log_in_staff(client, db)
    t = await csrf_at(client, "/admin/signup/new")
    bad = await client.post("/admin/signup/new", data={**FORM, "_csrf": t, "ends_at": "2026-11-26T13:00"})
    assert bad.status == 400 and "结束时间应晚于开始时间" in await bad.text()
    resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": t}, allow_redirects=False)
    assert resp.status == 303
    detail_url = resp.headers["Location"]
    async with db() as s:
        act = await s.scalar(select(Activity))
    assert act.capacity == 1 and act.deadline == act.starts_at
    page = await (await client.get(detail_url)).text()
    assert f"签到 {act.checkin_code}" in page and "公众号未接入时不能生成二维码" in page

    a, b, c = sim.user("oA"), sim.user("oB"), sim.user("oC")
    assert "报名成功" in await signup_via_chat(a, "王一", "13800000001")
    assert "候补" in await signup_via_chat(b, "王二", "13800000002")
    assert "候补" in await signup_via_chat(c, "王三", "13800000003")
    page = await (await client.get(detail_url)).text()
    assert "138****0001" in page and "13800000001" not in page  # masked
    assert "候补第1位" in page and "候补第2位" in page

    # staff cancel A's sign-up (A phoned): B moves up and is told; the delivery failed → phone B
    async with db() as s:
        rows = {r.openid: r for r in (await s.scalars(select(Signup))).all()}
    t = await csrf_at(client, detail_url)
    await client.post(f"{detail_url}/signups/{rows['oA'].id}/cancel", data={"_csrf": t})
    await deliver()
    async with db() as s, s.begin():
        note = await s.scalar(select(Outbox).where(Outbox.purpose == "signup.promoted"))
        assert note.openid == "oB" and note.status == "simulated"
        note.status = "unreachable"  # what delivery records when WeChat leaves no way to reach B
    page = await (await client.get(detail_url)).text()
    assert "通知未送达·请电话联系" in page
    # the waitlist moved up by one: C is now first
    assert "候补第1位" in page and "候补第2位" not in page

    # manual check-in, then the code check-in says "already"
    await client.post(f"{detail_url}/signups/{rows['oB'].id}/checkin", data={"_csrf": t})
    clock.set(at(26, 13, 30))
    assert "无需重复签到" in await b.send(f"签到 {act.checkin_code}")

    resp = await client.get(f"{detail_url}/export.csv")
    table = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert table[0][:5] == ["序号", "姓名", "手机", "工作单位", "状态"]
    assert [r[1] for r in table[1:]] == ["王一", "王二", "王三"]
    assert table[0][5:] == ["报名时间", "取消时间", "签到时间", "签到方式", "微信"]
    assert table[1][4] == "已取消" and table[1][6] == "2026-11-24 10:00"  # A cancelled (by staff) now
    assert table[2][2] == "138****0002" and table[2][4] == "已签到" and table[2][8] == "工作人员"
    resp = await client.get(f"{detail_url}/export.xlsx?status=waitlist")
    ws = load_workbook(io.BytesIO(await resp.read())).active
    assert [r[1] for r in ws.iter_rows(min_row=2, values_only=True)] == ["王三"]

    # cancel the activity: B (signed up) and C (waitlisted) are told
    await client.post(f"{detail_url}/cancel", data={"_csrf": t, "reason": "场地临时征用"})
    async with db() as s:
        told = (await s.scalars(select(Outbox.openid).where(Outbox.purpose == "signup.cancelled"))).all()
        actions = (await s.scalars(select(AuditLog.action))).all()
    assert sorted(told) == ["oB", "oC"]
    assert {"signup.create", "signup.cancel_one", "signup.checkin", "signup.export", "signup.cancel"} <= set(actions)
    assert "目前没有可以报名" in await sim.user("oD").send("报名")
    page = await (await client.get("/admin/signup?state=cancelled")).text()
    assert "叉车操作技能培训" in page


async def test_edit_capacity_promotes_and_cannot_go_below_taken(client, sim, db, clock):
    await log_in_staff(client, db)
    act = await one_seat_taken_one_waiting(sim, db, clock)
    url = f"/admin/signup/{act.id}/edit"
    t = await csrf_at(client, url)
    base = {"_csrf": t, "kind": "training", "title": act.title, "place": act.place,
            "starts_at": "2026-11-26T14:00", "ends_at": "2026-11-26T16:00", "waitlist": "1"}
    assert (await client.post(url, data={**base, "capacity": "0"})).status == 400
    resp = await client.post(url, data={**base, "capacity": "2"}, allow_redirects=False)
    assert resp.status == 303
    async with db() as s:
        assert {r.openid: r.status for r in (await s.scalars(select(Signup))).all()} == {
            "oA": "confirmed", "oB": "confirmed"}
        assert (await s.scalar(select(Outbox).where(Outbox.purpose == "signup.promoted"))).openid == "oB"
    resp = await client.post(url, data={**base, "capacity": "1"})
    assert resp.status == 400 and "人数上限不能少于 2" in await resp.text()


async def test_training_record_per_worker_and_employer(client, sim, db, clock):
    await log_in_staff(client, db)
    t1 = await make_activity(db, clock, capacity=None)
    t2 = await make_activity(db, clock, title="安全生产讲座", starts_at=at(27, 9), ends_at=at(27, 11), capacity=None)
    ev = await make_activity(db, clock, title="读书会", kind="event", starts_at=at(27, 19), ends_at=at(27, 21))
    a, b = sim.user("oA"), sim.user("oB")
    await a.send("报名"); await a.send("1"); await a.send("王一")  # noqa: E702
    await a.send("13800000001"); await a.send("红星机械厂"); await a.send("确认")  # noqa: E702
    await a.send("报名"); await a.send("2"); await a.send("确认")  # noqa: E702
    await a.send("报名"); await a.send("3"); await a.send("确认")  # noqa: E702
    await b.send("报名"); await b.send("1"); await b.send("王二")  # noqa: E702
    await b.send("13800000002"); await b.send("红星机械厂"); await b.send("确认")  # noqa: E702
    clock.set(at(26, 13, 30))
    assert "签到成功" in await a.send(f"签到 {t1.checkin_code}")
    assert "签到成功" in await b.send(f"签到 {t1.checkin_code}")
    clock.set(at(27, 8, 30))
    assert "签到成功" in await a.send(f"签到 {t2.checkin_code}")
    clock.set(at(27, 19, 0))
    assert "签到成功" in await a.send(f"签到 {ev.checkin_code}")  # an event, not a training

    page = await (await client.get("/admin/signup/record?from=2026-11-01&to=2026-11-30")).text()
    assert "红星机械厂" in page and "安全生产讲座" in page and "读书会" not in page
    resp = await client.get("/admin/signup/record/export.csv?from=2026-11-01&to=2026-11-30&by=employer")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert rows[1] == ["1", "红星机械厂", "2", "3"]
    resp = await client.get("/admin/signup/record/export.xlsx?from=2026-11-01&to=2026-11-30&by=worker")
    ws = load_workbook(io.BytesIO(await resp.read())).active
    first = next(ws.iter_rows(min_row=2, values_only=True))
    assert first[1:5] == ("王一", "138****0001", "红星机械厂", 2)
    empty = await (await client.get("/admin/signup/record?from=2025-01-01&to=2025-12-31")).text()
    assert "没有培训签到记录" in empty


async def test_checkin_qr_created_through_the_api_when_online(aiohttp_client, make_app, engine, settings, db_url,
                                                              tmp_path, fake_wechat, clock):
    from tests.support.settings import make_settings

    online = make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config())
    app = make_app(online)
    client = await aiohttp_client(app)
    from bot.keys import SESSIONMAKER

    db = app[SESSIONMAKER]
    await log_in_staff(client, db)
    act = await make_activity(db, clock)
    url = f"/admin/signup/{act.id}"
    t = await csrf_at(client, url)
    assert "生成签到二维码" in await (await client.get(url)).text()
    await client.post(f"{url}/qr", data={"_csrf": t})
    page = await (await client.get(url)).text()
    assert "showqrcode?ticket=TICKET-" in page
    call = fake_wechat.calls_to("/qrcode/create")[-1]
    assert call["json"]["action_info"]["scene"]["scene_str"] == f"checkin:{act.id}"
