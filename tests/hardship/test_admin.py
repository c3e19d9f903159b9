"""Staff side of hardship help, through the admin site over HTTP (the whole app)."""
from __future__ import annotations

import csv
import io
from openpyxl import load_workbook
from sqlalchemy import select

from bot.keys import SERVICES
from bot.db.models.core import AuditLog, Member, Outbox
from bot.db.models.hardship import HardshipPhoto, HardshipRequest
from handlers.hardship import ops
from tests.support.admin import create_staff_user, csrf_at, csrf_from, log_in_staff
from tests.support.hardship import ops_ctx

ID_NUMBER = "11010519491231002X"


async def seed(db, app, clock, *, openid="oW1", name="王小明", phone="13800138000", kind="因病",  # noqa: ANN001
               description="母亲住院做手术，自付医药费很多。", income=4500.0, expenses=1500.0, household=3,
               id_number=ID_NUMBER) -> HardshipRequest:
    now = clock.now()
    async with db() as s, s.begin():
        if openid and await s.scalar(select(Member).where(Member.openid == openid)) is None:
            s.add(Member(openid=openid, first_seen=now, last_seen=now))
        return await ops.submit_request(
            s, ops_ctx(app), openid=openid, consent_version="2026-1",
            data={"kind": kind, "description": description, "household": household, "income": income,
                  "expenses": expenses, "name": name, "phone": phone, "employer": "街道环卫所",
                  "id_number": id_number, "photos": ["MEDIA1"]})


async def act(client, req_id: int, action: str, **data):  # noqa: ANN001, ANN201
    t = await csrf_at(client, f"/admin/hardship/{req_id}")
    return await client.post(f"/admin/hardship/{req_id}/act/{action}", data={"_csrf": t, **data})


async def outbox_rows(db) -> list[Outbox]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(Outbox).order_by(Outbox.id)))


async def fetch(db, req_id: int) -> HardshipRequest:  # noqa: ANN001
    async with db() as s:
        return await s.get(HardshipRequest, req_id)


async def test_unauthenticated_refused(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock)
    resp = await client.get("/admin/hardship", allow_redirects=False)
    assert resp.status == 302 and "/admin/login" in resp.headers["Location"]
    resp = await client.get(f"/admin/hardship/{req.id}", headers={"Accept": "application/json"})
    assert resp.status == 401
    resp = await client.post(f"/admin/hardship/{req.id}/act/start_review", data={})
    assert resp.status in (401, 403)
    assert (await fetch(db, req.id)).status == "submitted"


async def test_csrf_refused(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock)
    await log_in_staff(client, db)
    resp = await client.post(f"/admin/hardship/{req.id}/act/start_review", data={"_csrf": "forged"})
    assert resp.status == 403
    assert (await fetch(db, req.id)).status == "submitted"
    assert await outbox_rows(db) == []


async def test_full_workflow_each_decision_queues_worker_message(client, db, app, clock, deliver):  # noqa: ANN001
    req = await seed(db, app, clock)
    await log_in_staff(client, db)
    page = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert "同意（告知书版本：2026-1）" in page

    resp = await act(client, req.id, "approve")  # not from 已提交
    assert "不能审核通过" in await resp.text()
    assert await outbox_rows(db) == []

    await act(client, req.id, "start_review")
    [o] = await outbox_rows(db)
    assert o.openid == "oW1" and o.purpose == "hardship.status"
    assert o.payload["text"] == ("您的帮扶申请 BF-2026-0001 已进入审核。工作人员可能会打电话向您核实情况，请保持电话畅通。\n"
                                 "回复「我的申请」可随时查看。")
    assert o.payload["template"]["kind"] == "hardship_status"
    assert o.payload["template"]["data"]["status"] == "正在审核"

    await act(client, req.id, "request_more", message="请补拍一张清楚的住院发票")
    assert (await outbox_rows(db))[-1].payload["text"] == (
        "您的帮扶申请 BF-2026-0001 还需要补充一些材料：\n请补拍一张清楚的住院发票\n请回复「补充」，再发送文字或照片。\n"
        "回复「我的申请」可随时查看。")
    assert (await fetch(db, req.id)).status == "waiting"
    await act(client, req.id, "start_review")

    resp = await act(client, req.id, "reject", message="")
    assert "需要填写原因" in await resp.text()
    assert (await fetch(db, req.id)).status == "reviewing"

    await act(client, req.id, "approve", message="请留意电话")
    assert (await outbox_rows(db))[-1].payload["text"] == (
        "您的帮扶申请 BF-2026-0001 审核通过了。我们会尽快安排发放，届时另行通知。\n工作人员留言：请留意电话\n"
        "回复「我的申请」可随时查看。")

    resp = await act(client, req.id, "deliver", amount="", aid_kind="", aid_date="2026-11-30")
    assert "发放金额或实物" in await resp.text()
    resp = await act(client, req.id, "deliver", amount="2000", aid_kind="", aid_date="")
    assert "发放日期" in await resp.text()
    resp = await act(client, req.id, "deliver", amount="2000", aid_kind="米面油一套", aid_date="2026-11-30")
    assert "不能晚于今天" in await resp.text()  # 登记发放 records aid already handed out
    await act(client, req.id, "deliver", amount="2000", aid_kind="米面油一套", aid_date="2026-11-24")
    assert (await outbox_rows(db))[-1].payload["text"] == (
        "您的帮扶申请 BF-2026-0001 帮扶已发放。发放内容：2000.00 元，米面油一套，发放日期：2026-11-24。\n"
        "如有疑问，欢迎致电街道总工会（010-12345678）。\n回复「我的申请」可随时查看。")

    n = len(await outbox_rows(db))
    await act(client, req.id, "close")
    r = await fetch(db, req.id)
    assert r.status == "closed" and r.aid_amount == 2000 and r.aid_kind == "米面油一套"
    assert len(await outbox_rows(db)) == n  # closing tells the worker nothing new
    assert n == 5  # reviewing, waiting, reviewing, approved, delivered

    await deliver()
    assert {o.status for o in await outbox_rows(db)} == {"simulated"}
    page = await (await client.get(f"/admin/hardship/{req.id}")).text()
    for words in ("开始审核", "请职工补充材料", "审核通过", "登记发放", "结束", "张干事"):
        assert words in page
    async with db() as s:
        actions = [a.action for a in await s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert "hardship.approve" in actions and "hardship.deliver" in actions


async def test_rejection_message_carries_reason(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock)
    await log_in_staff(client, db)
    await act(client, req.id, "start_review")
    await act(client, req.id, "reject", message="家庭人均收入高于标准")
    assert (await outbox_rows(db))[-1].payload["text"] == (
        "很抱歉，您的帮扶申请 BF-2026-0001 这次没有通过。\n原因：家庭人均收入高于标准\n如有疑问，欢迎致电街道总工会（010-12345678）。\n"
        "回复「我的申请」可随时查看。")
    assert (await fetch(db, req.id)).reject_reason == "家庭人均收入高于标准"


async def test_unreachable_notice_shown_so_staff_phone(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock)
    await log_in_staff(client, db)
    await act(client, req.id, "start_review")
    async with db() as s, s.begin():
        o = (await s.scalars(select(Outbox))).one()
        o.status = "unreachable"
    assert "无法送达·请电话联系" in await (await client.get("/admin/hardship")).text()
    assert "请电话联系本人" in await (await client.get(f"/admin/hardship/{req.id}")).text()


async def test_list_filters_search_pagination_and_masking(client, db, app, clock, settings):  # noqa: ANN001
    await seed(db, app, clock, openid="oA", name="赵一", phone="13900000001", income=1000, expenses=0, household=1)
    clock.advance(days=1)
    await seed(db, app, clock, openid="oB", name="钱二", phone="13900000002", kind="子女就学", income=6000,
               expenses=800, household=4)
    clock.advance(days=1)
    await seed(db, app, clock, openid="oC", name="孙三", phone="13900000003", kind="工伤", income=20000,
               id_number=None)
    await log_in_staff(client, db)

    text = await (await client.get("/admin/hardship")).text()
    assert text.index("孙三") < text.index("钱二") < text.index("赵一")  # newest first
    assert "139****0001" in text and "13900000001" not in text
    assert "110***********002X" in text and ID_NUMBER not in text
    assert "深度困难" in text and "相对困难" in text

    async def names(query: str) -> list[str]:
        t = await (await client.get("/admin/hardship?" + query)).text()
        return [n for n in ("赵一", "钱二", "孙三") if n in t]

    assert await names("kind=子女就学") == ["钱二"]
    assert await names("tier=深度困难") == ["赵一"]
    assert await names("tier=none") == ["孙三"]
    assert await names("q=BF-2026-0003") == ["孙三"]
    assert await names("q=13900000002") == ["钱二"]
    assert await names("q=赵") == ["赵一"]
    assert await names("from=2026-11-25&to=2026-11-25") == ["钱二"]
    assert await names("status=reviewing") == []

    for i in range(settings.admin.page_size):
        await seed(db, app, clock, openid=f"oP{i}", name=f"周{i:02d}号")
    first = await (await client.get("/admin/hardship")).text()
    second = await (await client.get("/admin/hardship?page=2")).text()
    assert "下一页" in first and "赵一" in second and "赵一" not in first


async def test_description_script_renders_inert(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock, name="<b>李四</b>", description="<script>alert('x')</script>家里失火了")
    await log_in_staff(client, db)
    for path in ("/admin/hardship", f"/admin/hardship/{req.id}"):
        html = await (await client.get(path)).text()
        assert "<script>alert" not in html and "<b>李四</b>" not in html
    assert "&lt;script&gt;" in await (await client.get(f"/admin/hardship/{req.id}")).text()


async def test_reveal_is_audited(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock)
    await log_in_staff(client, db)
    page = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert "13800138000" not in page and ID_NUMBER not in page
    t = csrf_from(page)
    page = await (await client.post(f"/admin/hardship/{req.id}/reveal", data={"_csrf": t, "field": "id"})).text()
    assert ID_NUMBER in page
    page = await (await client.post(f"/admin/hardship/{req.id}/reveal", data={"_csrf": t, "field": "phone"})).text()
    assert "13800138000" in page
    async with db() as s:
        rows = list(await s.scalars(select(AuditLog).where(AuditLog.action.like("hardship.reveal%"))))
    assert [(r.action, r.target) for r in rows] == [("hardship.reveal_id", "BF-2026-0001"),
                                                     ("hardship.reveal_phone", "BF-2026-0001")]


async def test_export_csv_and_xlsx_are_filtered_and_masked(client, db, app, clock):  # noqa: ANN001
    await seed(db, app, clock, openid="oA", name="赵一", phone="13900000001")
    await seed(db, app, clock, openid="oB", name="=HYPERLINK(1)", phone="13900000002", kind="工伤")
    await log_in_staff(client, db)

    resp = await client.get("/admin/hardship/export.csv?kind=因病")
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert rows[0][:4] == ["编号", "提交时间", "状态", "困难类型"]
    assert len(rows) == 2 and rows[1][4] == "赵一"
    assert rows[1][5] == "139****0001" and rows[1][6] == "110***********002X"
    assert "13900000001" not in str(rows) and ID_NUMBER not in str(rows)

    resp = await client.get("/admin/hardship/export.xlsx")
    wb = load_workbook(io.BytesIO(await resp.read()))
    values = [[c.value for c in row] for row in wb.active.iter_rows()]
    assert len(values) == 3
    assert {v[4] for v in values[1:]} == {"赵一", "'=HYPERLINK(1)"}  # formulas neutralised
    assert "139****0002" in {v[5] for v in values[1:]}


async def test_staff_records_request_on_behalf(client, db, app, clock):  # noqa: ANN001
    await log_in_staff(client, db)
    t = await csrf_at(client, "/admin/hardship/new")
    form = {"_csrf": t, "kind": "因灾", "description": "入户走访：台风损毁房屋", "household": "2", "income": "1800",
            "expenses": "0", "name": "吴六", "phone": "12345", "employer": "x", "id_number": "110105194912310021",
            "openid": ""}
    resp = await client.post("/admin/hardship/new", data=form)
    page = await resp.text()
    # the dialogue's own rules, and the worker's consent is required
    assert resp.status == 400 and "11位" in page and "2–60" in page and "校验没通过" in page and "取得同意" in page
    form.update(phone="13700001111", employer="某物业（集团）公司", id_number="", consent="1")
    resp = await client.post("/admin/hardship/new", data=form)
    assert resp.status == 200 and "已代办录入：BF-2026-0001（未关联微信，进度请电话告知本人）" in await resp.text()
    async with db() as s:
        req = (await s.scalars(select(HardshipRequest))).one()
    assert req.created_by_staff_id is not None and req.tier == "深度困难" and req.status == "submitted"
    assert req.employer == "某物业（集团）公司" and req.consent_version.startswith("代办")
    # the same rules: one open request per worker
    await seed(db, app, clock, openid="oW9")
    form.update(openid="oW9", _csrf=await csrf_at(client, "/admin/hardship/new"))
    resp = await client.post("/admin/hardship/new", data=form)
    assert resp.status == 400 and "进行中的申请" in await resp.text()
    # without an openid, the worker is found by the mobile number they left in WeChat, and linked
    # once staff confirm it is them (tests/hardship/test_proxy_link.py)
    async with db() as s, s.begin():
        s.add(Member(openid="oW10", first_seen=clock.now(), last_seen=clock.now(), phone="13700002222"))
    form.update(openid="", phone="13700002222", _csrf=await csrf_at(client, "/admin/hardship/new"))
    resp = await client.post("/admin/hardship/new", data=form)
    assert "请核实是不是本人" in await resp.text()
    resp = await client.post("/admin/hardship/new", data={**form, "link_to": "oW10", "link_confirm": "1"})
    assert "BF-2026-0003（已关联微信，进度会通知本人）" in await resp.text()
    async with db() as s:
        assert (await s.scalar(select(HardshipRequest).where(HardshipRequest.ref == "BF-2026-0003"))).openid == "oW10"


async def test_notes_and_assignment_stay_internal(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock)
    await log_in_staff(client, db)
    t = await csrf_at(client, f"/admin/hardship/{req.id}")
    await client.post(f"/admin/hardship/{req.id}/note", data={"_csrf": t, "text": "已电话核实，情况属实"})
    staff = await create_staff_user(db, username="staff2", display_name="李干事")
    await client.post(f"/admin/hardship/{req.id}/assign", data={"_csrf": t, "assignee": str(staff.id)})
    page = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert "已电话核实，情况属实" in page and "李干事" in page
    assert await outbox_rows(db) == []
    assert (await fetch(db, req.id)).assigned_staff_id == staff.id


async def test_fetched_photo_served_only_to_staff(client, db, app, clock, tmp_path):  # noqa: ANN001
    req = await seed(db, app, clock)
    media_dir = app[SERVICES]["media_dir"]
    (tmp_path / media_dir / "hardship").mkdir(parents=True)
    (tmp_path / media_dir / "hardship" / "1.jpg").write_bytes(b"\xff\xd8jpeg")
    async with db() as s, s.begin():
        p = (await s.scalars(select(HardshipPhoto))).one()
        p.status, p.path, p.content_type = "fetched", "hardship/1.jpg", "image/jpeg"
    resp = await client.get(f"/admin/hardship/photo/{p.id}", allow_redirects=False)
    assert resp.status == 302
    await log_in_staff(client, db)
    assert f"/admin/hardship/photo/{p.id}" in await (await client.get(f"/admin/hardship/{req.id}")).text()
    resp = await client.get(f"/admin/hardship/photo/{p.id}")
    assert resp.status == 200 and await resp.read() == b"\xff\xd8jpeg"
    async with db() as s:  # every view of evidence is audited (also one by its URL alone)
        viewed = list(await s.scalars(select(AuditLog).where(AuditLog.action == "hardship.view_photo")))
    assert [(r.target, r.detail) for r in viewed] == [(req.ref, {"photo": p.id})]


async def test_worker_sees_staff_message_in_my_requests(client, sim, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock, openid="oWorkerX")
    await log_in_staff(client, db)
    await act(client, req.id, "start_review")
    await act(client, req.id, "request_more", message="请补充收入证明")
    reply = await sim.user("oWorkerX").send("我的申请")
    assert "请补充收入证明" in reply and "需要您补充材料" in reply
    assert "已收到您的补充说明" in await sim.user("oWorkerX").send("补充 单位不给开，附说明")
    page = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert "单位不给开，附说明" in page and "审核中" in page


async def test_home_page_shows_what_waits_for_staff(client, db, app, clock, sim):  # noqa: ANN001
    a = await seed(db, app, clock, openid="oA", name="赵一")
    await seed(db, app, clock, openid="oB", name="钱二")
    await log_in_staff(client, db)
    await act(client, a.id, "start_review")
    u = sim.user("oB")
    await u.send("删除我的信息")
    await u.send("确认删除")
    home = await (await client.get("/admin/")).text()
    assert "待办事项" in home
    assert '<span class="todo-num">1</span><span>待审核的帮扶申请</span>' in home
    assert '<span class="todo-num">1</span><span>审核中的帮扶申请</span>' in home
    assert "职工申请删除个人信息" in home
    listed = await (await client.get("/admin/hardship?erase=1")).text()
    assert "钱二" in listed and "赵一" not in listed and "申请删除信息" in listed


async def test_assigning_a_missing_request_is_refused_politely(client, db):  # noqa: ANN001
    await log_in_staff(client, db)
    t = await csrf_at(client, "/admin/hardship")
    resp = await client.post("/admin/hardship/999/assign", data={"_csrf": t, "assignee": ""}, allow_redirects=False)
    assert resp.status == 303
