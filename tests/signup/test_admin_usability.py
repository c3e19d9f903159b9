"""活动报名 as staff run it every week (issue 14): numbers and dates range-checked, dates people
read, pages of activities, batch check-in and its 「更正」, 代报名 (with and without a matching
follower, by the seat rules), 补录到场 after a training for the 培训台账, confirmations before what
can't be undone — over HTTP with CSRF on both databases, workers through the signed webhook;
and the list and an activity's page in Chromium at phone and desk widths.

UNIONBOT_SAVE_SCREENSHOTS=1 keeps the browser's shots in docs/screenshots/signup-*.png."""
from __future__ import annotations

import csv
import io
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.db.models.core import AuditLog, Member, Outbox
from bot.db.models.signup import Activity, Signup
from handlers.signup import ops
from tests.support.admin import csrf_from, log_in_staff
from tests.support.signup import TZ, at, make_activity, ops_ctx, signup_via_chat

FORM = {"kind": "training", "title": "叉车操作技能培训", "description": "理论加实操", "place": "街道职工学校201",
        "starts_at": "2026-11-26T14:00", "ends_at": "2026-11-26T16:30", "deadline": "", "capacity": "30",
        "waitlist": "1", "audience": "物流企业职工"}
TECHNICAL = ("openid", "signup.", "None", "Traceback", "checkin_code", "capacity", "member_id", "离线模式",
             "SignupError", "Sheet1")
CAPACITY_HINT = "请填写 1 到 100000 之间的整数"


def visible(html: str) -> str:
    """The text a person reads: no tags, attributes, styles or scripts."""
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def flashes(html: str) -> list[str]:
    return [visible(m).strip() for m in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', html, re.S)]


async def token(client, path: str) -> str:  # noqa: ANN001
    return csrf_from(await (await client.get(path)).text())


async def count(db, model, *where) -> int:  # noqa: ANN001
    async with db() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def audits(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


# ------------------------------------------------------------------ numbers and dates
async def test_capacity_and_dates_out_of_range_are_refused_keeping_the_input(client, db, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    t = await token(client, "/admin/signup/new")
    for raw in ("99999999999999999999", "-5", "0", "abc", "1e3", "100001", "12.5"):
        resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": t, "capacity": raw})
        page = await resp.text()
        assert resp.status == 400, raw
        assert CAPACITY_HINT in visible(page), raw
        assert f'value="{raw}"' in page, raw  # what was typed stays in the box
        assert 'value="叉车操作技能培训"' in page  # and so does everything else
    for name, raw in (("starts_at", "0001-01-01T10:00"), ("ends_at", "9999-12-31T23:59"),
                      ("deadline", "0001-01-01T00:00"), ("starts_at", "明天下午")):
        resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": t, name: raw})
        page = await resp.text()
        assert resp.status == 400, raw
        assert ("2000 年到 2100 年之间" if raw[0].isdigit() else "时间格式不对") in visible(page), raw
        assert f'value="{raw}"' in page, raw
    assert await count(db, Activity) == 0
    # What people type and mean is taken: full-width digits, 「30人」, and 100000 itself.
    for raw, want in (("１２", 12), ("30人", 30), ("100000", 100_000)):
        resp = await client.post("/admin/signup/new", data={**FORM, "_csrf": t, "capacity": raw},
                                 allow_redirects=False)
        assert resp.status == 303, raw
        async with db() as s:
            assert await s.scalar(select(Activity.capacity).order_by(Activity.id.desc()).limit(1)) == want
    # Editing: the same checks.
    async with db() as s:
        aid = await s.scalar(select(func.min(Activity.id)))
    edit = f"/admin/signup/{aid}/edit"
    t = await token(client, edit)
    resp = await client.post(edit, data={**FORM, "_csrf": t, "capacity": "99999999999999999999"})
    assert resp.status == 400 and CAPACITY_HINT in visible(await resp.text())
    resp = await client.post(edit, data={**FORM, "_csrf": t, "starts_at": "9999-12-31T23:00",
                                         "ends_at": "9999-12-31T23:59"})
    assert resp.status == 400 and "2000 年到 2100 年之间" in visible(await resp.text())
    async with db() as s:
        assert (await s.get(Activity, aid)).capacity == 12

    # The 培训台账's dates: out of range or unreadable → said on the page (not a crash).
    for query in ("from=0001-01-01&to=9999-12-31", "from=2026-13-45", "to=abc"):
        resp = await client.get(f"/admin/signup/record?{query}")
        text = visible(await resp.text())
        assert resp.status == 400 and "培训台账" in text, query
        assert "超出范围" in text or "看不懂" in text, query
        resp = await client.get(f"/admin/signup/record/export.xlsx?{query}")
        assert resp.status == 200, query
    # Pages and ids beyond any row's.
    assert (await client.get("/admin/signup?page=999999999999999999")).status == 200
    for path in ("/admin/signup/999999999", "/admin/signup/999999999/add", "/admin/signup/999999999/edit"):
        resp = await client.get(path)
        assert resp.status == 404 and "没有找到这个活动" in visible(await resp.text()), path
    t = await token(client, f"/admin/signup/{aid}")
    resp = await client.post("/admin/signup/999999999/add", data={"_csrf": t, "name": "王五", "phone": "13900000005"})
    assert resp.status == 404
    resp = await client.post(f"/admin/signup/{aid}/checkin", data={"_csrf": t, "ids": ["abc", "9" * 30]})
    assert "请先勾选要签到的人员" in flashes(await resp.text())


# ------------------------------------------------------------------ dates people read
async def test_dates_with_weekday_and_the_year_when_not_this_year(client, db, clock) -> None:  # noqa: ANN001
    clock.set(datetime(2026, 12, 5, 10, 0, tzinfo=TZ))
    await log_in_staff(client, db)
    soon = await make_activity(db, clock, title="年终安全讲座", starts_at=datetime(2026, 12, 8, 14, tzinfo=TZ),
                               ends_at=datetime(2026, 12, 8, 16, tzinfo=TZ))
    later = await make_activity(db, clock, title="新春技能培训", starts_at=datetime(2027, 1, 8, 14, tzinfo=TZ),
                                ends_at=datetime(2027, 1, 8, 16, tzinfo=TZ))
    text = visible(await (await client.get("/admin/signup")).text())
    assert "12月8日（周二）14:00–16:00" in text and "2026年12月8日" not in text
    assert "2027年1月8日（周五）14:00–16:00" in text
    text = visible(await (await client.get(f"/admin/signup/{later.id}")).text())
    assert "2027年1月8日（周五）14:00–16:00" in text
    assert "报名截止 2027年1月8日（周五）14:00" in text
    text = visible(await (await client.get(f"/admin/signup/{soon.id}")).text())
    assert "12月8日（周二）14:00–16:00" in text and "2026年" not in text.split("现场签到")[0]
    for path in ("/admin/signup", f"/admin/signup/{soon.id}", f"/admin/signup/{soon.id}/edit",
                 f"/admin/signup/{soon.id}/add", "/admin/signup/new", "/admin/signup/record"):
        resp = await client.get(path)
        assert resp.status == 200, path
        text = visible(await resp.text())
        for word in TECHNICAL:
            assert word not in text, (path, word)


# ------------------------------------------------------------------ the list
async def test_activity_list_pages_sorts_and_searches(client, db, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    for i in range(45):
        day = timedelta(days=i % 4)
        await make_activity(db, clock, title=f"第{i:02d}期职工讲堂", starts_at=at(26, 8) + day, ends_at=at(26, 9) + day)
    await make_activity(db, clock, title="叉车操作技能培训", place="物流园区")

    def names(page: str) -> list[str]:
        return re.findall(r'<td data-label="名称" class="su-name"><a href="[^"]+">([^<]+)</a>', page)

    first = await (await client.get("/admin/signup")).text()
    assert "第 1 / 3 页" in visible(first) and "共 46 个" in visible(first)
    assert len(names(first)) == 20
    last = await (await client.get("/admin/signup?page=3")).text()
    assert "第 3 / 3 页" in visible(last) and len(names(last)) == 6
    beyond = await (await client.get("/admin/signup?page=999")).text()
    assert "第 3 / 3 页" in visible(beyond)
    by_title = names(await (await client.get("/admin/signup?sort=title")).text())
    assert len(by_title) == 20 and by_title == sorted(by_title) and by_title != names(first)
    assert by_title[1:3] == ["第00期职工讲堂", "第01期职工讲堂"]
    found = await (await client.get("/admin/signup?q=物流")).text()
    assert names(found) == ["叉车操作技能培训"] and "共 1 个" in visible(found)
    # The activity's page leads back to the list as it was (filters and page).
    link = re.search(r'<a href="(/admin/signup/\d+\?list=[^"]+)">', last)
    assert link is not None
    detail = await (await client.get(link.group(1).replace("&amp;", "&"))).text()
    assert 'href="/admin/signup?page=3"' in detail


# ------------------------------------------------------------------ check-in in bulk, and 更正
async def test_batch_checkin_and_correction_are_confirmed_and_audited(client, sim, db, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    act = await make_activity(db, clock, capacity=3)
    for openid, name, phone in (("oA", "王一", "13800000001"), ("oB", "王二", "13800000002"),
                                ("oC", "王三", "13800000003"), ("oD", "王四", "13800000004")):
        await signup_via_chat(sim.user(openid), name, phone)
    clock.set(at(26, 13, 30))
    assert "签到成功" in await sim.user("oC").send(f"签到 {act.checkin_code}")
    async with db() as s:
        ids = {r.openid: r.id for r in await s.scalars(select(Signup))}
    url = f"/admin/signup/{act.id}"
    page = await (await client.get(url)).text()
    assert 'data-confirm="确定为所选的 {n} 人登记签到吗？"' in page
    boxes = re.findall(r'name="ids" value="(\d+)" form="lv-bulk"', page)
    assert sorted(map(int, boxes)) == sorted([ids["oA"], ids["oB"]])  # not the checked-in, not the waitlisted

    t = csrf_from(page)
    resp = await client.post(f"{url}/checkin", data={
        "_csrf": t, "back": "status=confirmed",
        "ids": [str(ids["oA"]), str(ids["oB"]), str(ids["oC"]), str(ids["oD"]), "999999"]}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"{url}?status=confirmed"  # the filter kept
    said = flashes(await (await client.get(resp.headers["Location"])).text())
    assert "已为 2 人登记签到：王一、王二" in said
    assert "1 人此前已签到，未重复登记" in said
    assert any(f.startswith("2 人未签到：") and "王四还在候补中" in f and "没有这条报名" in f for f in said), said
    rows = await audits(db, "signup.checkin")
    assert sorted(r.target for r in rows) == sorted([f"signup:{ids['oA']}", f"signup:{ids['oB']}"])
    assert all(r.detail == {"activity": act.id, "batch": True} for r in rows)

    # 「更正」: asked first; a staff check-in is undone quietly, a worker's own is undone and told.
    page = await (await client.get(url)).text()
    assert page.count('data-confirm="确定把王一的签到更正为「未签到」吗？该职工将不计入培训台账。"') == 1
    assert "确定把王三的签到更正为「未签到」吗？本人是自己签到的，会收到微信通知。" in page
    resp = await client.post(f"{url}/signups/{ids['oA']}/uncheckin", data={"_csrf": t})
    assert "已更正：王一 改为未签到" in flashes(await resp.text())
    resp = await client.post(f"{url}/signups/{ids['oC']}/uncheckin", data={"_csrf": t})
    assert "已更正：王三 改为未签到，已通过微信告知本人" in flashes(await resp.text())
    resp = await client.post(f"{url}/signups/{ids['oA']}/uncheckin", data={"_csrf": t})
    assert "王一还没有签到，无需更正。" in flashes(await resp.text())
    async with db() as s:
        told = list(await s.scalars(select(Outbox).where(Outbox.purpose == ops.CORRECTED_PURPOSE)))
        back = {r.openid: r.attended_at for r in await s.scalars(select(Signup))}
    assert [o.openid for o in told] == ["oC"]
    assert "更正为「未签到」" in told[0].payload["text"] and "致电" in told[0].payload["text"]
    assert back["oA"] is None and back["oC"] is None and back["oB"] is not None
    undone = await audits(db, "signup.checkin_undo")
    assert [(r.target, r.detail["was_via"], r.detail["worker_told"]) for r in undone] == [
        (f"signup:{ids['oA']}", "工作人员", False), (f"signup:{ids['oC']}", "签到码", True)]
    assert undone[0].detail["was_at"] == "2026-11-26 13:30"
    text = visible(await (await client.get("/admin/signup/record?from=2026-11-01&to=2026-11-30")).text())
    assert "王二" in text and "王一" not in text and "王三" not in text
    # Audit page words for the new actions.
    from bot.admin.audit import ACTION_LABELS
    assert ACTION_LABELS["signup.checkin_undo"] and ACTION_LABELS["signup.enrol"] and ACTION_LABELS["signup.attend"]


# ------------------------------------------------------------------ 代报名
async def test_enrol_by_hand_with_and_without_a_matching_follower(client, sim, db, clock, deliver) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    earlier = await make_activity(db, clock, title="读书会", kind="event", starts_at=at(25, 19), ends_at=at(25, 21),
                                  capacity=None)
    # 王芳 follows the account and left her number when she signed up for the 读书会 in the chat.
    await signup_via_chat(sim.user("oF"), "王芳", "13900000001")
    act = await make_activity(db, clock, capacity=2, deadline=at(24, 9))  # sign-up closed for workers already
    url, add = f"/admin/signup/{act.id}", f"/admin/signup/{act.id}/add"
    page = await (await client.get(url)).text()
    assert "代报名" in visible(page)
    form = await (await client.get(add)).text()
    assert "代报名：电工技能培训" in visible(form)
    t = csrf_from(form)

    # Nobody follows with this number: signed up, unlinked; staff are told to phone.
    resp = await client.post(add, data={"_csrf": t, "name": "李四", "phone": "139 0000 0009", "employer": "红星机械厂"})
    said = flashes(await resp.text())
    assert "已为 李四 代报名，报名成功（未关联微信，之后的变动请电话告知本人）" in said
    # A follower has this number: shown to staff first, nothing stored yet.
    resp = await client.post(add, data={"_csrf": t, "name": "王芳", "phone": "13900000001", "employer": ""})
    page = await resp.text()
    assert resp.status == 200 and "请核实是不是本人" in visible(page) and "139****0001" in page
    assert "姓名不一致" not in visible(page)
    assert await count(db, Signup, Signup.activity_id == act.id) == 1
    member_id = re.search(r'name="link_to" value="(\d+)"', page).group(1)
    resp = await client.post(add, data={"_csrf": t, "name": "王芳", "phone": "13900000001", "employer": "",
                                        "link_to": member_id, "link_confirm": "1"})
    assert "已为 王芳 代报名，报名成功，已通过微信通知本人" in flashes(await resp.text())
    # Full: the next one waits, by the same rules as the chat.
    resp = await client.post(add, data={"_csrf": t, "name": "赵六", "phone": "13900000007", "employer": ""})
    assert "名额已满，已将 赵六 登记为候补第1位（未关联微信，之后的变动请电话告知本人）" in flashes(await resp.text())
    # The same person twice: refused, the form keeps what was typed.
    resp = await client.post(add, data={"_csrf": t, "name": "李四", "phone": "13900000009", "employer": "红星机械厂"})
    page = await resp.text()
    assert resp.status == 400 and "李四（139****0009）已在报名名单中：报名成功。" in visible(page)
    assert 'value="红星机械厂"' in page
    resp = await client.post(add, data={"_csrf": t, "name": "1", "phone": "123", "employer": ""})
    page = visible(await resp.text())
    assert resp.status == 400 and "请填写姓名" in page and "请填写 11 位手机号" in page

    async with db() as s:
        rows = {r.name: r for r in await s.scalars(select(Signup).where(Signup.activity_id == act.id))}
        added = list(await s.scalars(select(Outbox).where(Outbox.purpose == ops.ADDED_PURPOSE)))
    assert {n: (r.status, r.member_id is not None) for n, r in rows.items()} == {
        "李四": ("confirmed", False), "王芳": ("confirmed", True), "赵六": ("waitlist", False)}
    assert [o.openid for o in added] == ["oF"] and "工作人员已为您报名「电工技能培训」" in added[0].payload["text"]
    mine = await sim.user("oF").send("我的报名")
    assert "电工技能培训" in mine and "读书会" in mine
    enrolled = await audits(db, "signup.enrol")
    assert [(r.detail["linked"], r.detail["match_offered"]) for r in enrolled] == [
        (False, False), (True, True), (False, False)]
    page = await (await client.get(url)).text()
    assert page.count("未关联微信·变动请电话告知") == 2

    # A seat freed: the unlinked 赵六 moves up; no WeChat message can reach him, staff are told to phone.
    resp = await client.post(f"{url}/signups/{rows['李四'].id}/cancel", data={"_csrf": t})
    assert "已取消该报名，赵六已递补（未关联微信，请电话告知）" in flashes(await resp.text())
    assert await count(db, Outbox, Outbox.purpose == ops.PROMOTED_PURPOSE) == 0
    await deliver()
    # A new place: 王芳 is told in WeChat, staff are asked to phone 赵六.
    edit = f"{url}/edit"
    base = {"_csrf": t, "kind": "training", "title": act.title, "starts_at": "2026-11-26T14:00",
            "ends_at": "2026-11-26T16:00", "deadline": "2026-11-24T09:00", "capacity": "2", "waitlist": "1"}
    resp = await client.post(edit, data={**base, "place": "街道文体中心三楼"})
    assert "活动已保存，时间地点的变动已通知 1 位报名和候补的职工；另有 1 位未关联微信，请电话告知" in flashes(
        await resp.text())
    resp = await client.post(edit, data={**base, "place": "街道文体中心三楼", "description": "带上笔记本"})
    assert "活动已保存" in flashes(await resp.text())  # nothing moved: nobody to tell

    # The number's follower has another name: a warning; without the tick the sign-up is unlinked.
    other = await make_activity(db, clock, title="安全生产讲座", capacity=1, waitlist=False)
    add2 = f"/admin/signup/{other.id}/add"
    resp = await client.post(add2, data={"_csrf": t, "name": "王小芳", "phone": "13900000001", "employer": ""})
    page = await resp.text()
    assert "姓名不一致：公众号里是「王芳」，这里填写的是「王小芳」" in visible(page)
    resp = await client.post(add2, data={"_csrf": t, "name": "王小芳", "phone": "13900000001", "employer": "",
                                         "link_to": member_id})
    assert "已为 王小芳 代报名，报名成功（未关联微信，之后的变动请电话告知本人）" in flashes(await resp.text())
    last = (await audits(db, "signup.enrol"))[-1]
    assert last.detail["linked"] is False and last.detail["match_offered"] is True and last.detail["name_mismatch"]
    # Full and no waitlist: refused with what to do.
    resp = await client.post(add2, data={"_csrf": t, "name": "孙七", "phone": "13900000017", "employer": ""})
    assert resp.status == 400 and "名额已满，本活动不设候补" in visible(await resp.text())
    assert earlier.id  # (the 读书会 only gave 王芳 her profile)


# ------------------------------------------------------------------ 补录到场 → 培训台账
async def test_attendance_recorded_after_a_training_is_in_the_record_and_its_export(client, sim, db, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    act = await make_activity(db, clock, capacity=1)
    await signup_via_chat(sim.user("oA"), "王一", "13800000001")
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=TZ))  # the training is over; two people came, nobody checked in
    url, add = f"/admin/signup/{act.id}", f"/admin/signup/{act.id}/add"
    page = await (await client.get(url)).text()
    assert "补录到场人员" in visible(page)
    form = await (await client.get(add)).text()
    assert "补录到场：电工技能培训" in visible(form)
    t = csrf_from(form)
    resp = await client.post(add, data={"_csrf": t, "name": "钱七", "phone": "13900000011", "employer": "红星机械厂"})
    assert "已补录 钱七 到场，计入培训台账" in flashes(await resp.text())
    # 王一 (signed up in the chat) came too: the follower is offered; without linking, his own row is checked in.
    resp = await client.post(add, data={"_csrf": t, "name": "王一", "phone": "13800000001", "employer": ""})
    page = await resp.text()
    assert "请核实是不是本人" in visible(page)
    member_id = re.search(r'name="link_to" value="(\d+)"', page).group(1)
    resp = await client.post(add, data={"_csrf": t, "name": "王一", "phone": "13800000001", "employer": "",
                                        "link_to": member_id, "link_confirm": "1"})
    assert "已补录 王一 到场，计入培训台账" in flashes(await resp.text())
    resp = await client.post(add, data={"_csrf": t, "name": "钱七", "phone": "13900000011", "employer": ""})
    assert resp.status == 400 and "钱七（139****0011）已签到，无需重复登记。" in visible(await resp.text())
    async with db() as s:
        rows = {r.name: r for r in await s.scalars(select(Signup).where(Signup.activity_id == act.id))}
    assert set(rows) == {"王一", "钱七"} and all(r.attended_at and r.checkin_via == "record" for r in rows.values())
    assert await count(db, Outbox, Outbox.purpose == ops.ADDED_PURPOSE) == 0  # nobody is messaged about the past
    assert [r.detail["outcome"] for r in await audits(db, "signup.attend")] == ["attended", "attended"]
    page = visible(await (await client.get(url)).text())
    assert "12月1日 10:00 补录" in page

    text = visible(await (await client.get("/admin/signup/record?from=2026-11-01&to=2026-11-30")).text())
    assert "钱七" in text and "王一" in text and "红星机械厂" in text
    resp = await client.get("/admin/signup/record/export.xlsx?from=2026-11-01&to=2026-11-30&by=worker")
    wb = load_workbook(io.BytesIO(await resp.read()))
    assert wb.sheetnames == ["按职工"]
    got = {r[1]: r[2:5] for r in wb.active.iter_rows(min_row=2, values_only=True)}
    assert got == {"钱七": ("139****0011", "红星机械厂", 1), "王一": ("138****0001", "未填写", 1)}
    resp = await client.get("/admin/signup/record/export.csv?from=2026-11-01&to=2026-11-30&by=employer")
    table = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert table[1:] == [["1", "未填写", "1", "1"], ["2", "红星机械厂", "1", "1"]]
    resp = await client.get(f"{url}/export.xlsx")
    wb = load_workbook(io.BytesIO(await resp.read()))
    assert wb.sheetnames == ["报名名单"]
    signed = [r for r in wb.active.iter_rows(min_row=2, values_only=True)]
    assert {r[1]: (r[8], r[9]) for r in signed} == {"王一": ("补录", "已关联"), "钱七": ("补录", "未关联（电话联系）")}
    assert all(isinstance(r[7], datetime) for r in signed)  # 签到时间: a date cell


# ------------------------------------------------------------------ confirmations and messages
async def test_confirmations_before_what_tells_workers_or_cannot_be_undone(client, sim, db, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    act = await make_activity(db, clock, capacity=1)
    await signup_via_chat(sim.user("oA"), "王一", "13800000001")
    await signup_via_chat(sim.user("oB"), "王二", "13800000002")
    url = f"/admin/signup/{act.id}"
    page = await (await client.get(url)).text()
    assert 'data-confirm="确定取消这个活动吗？已报名和候补的 2 位职工都会收到取消通知，取消后不能恢复。"' in page
    assert 'data-confirm="确定取消王一的报名吗？取消后不能恢复，名额会自动递补给候补第一位并通知对方。"' in page
    assert 'data-confirm="确定取消王二的报名吗？取消后不能恢复。"' in page
    edit = await (await client.get(f"{url}/edit")).text()
    assert 'data-confirm="改了时间或地点的话，已报名和候补的 2 位职工都会收到变动通知。确定保存吗？"' in edit
    t = csrf_from(page)
    async with db() as s:
        ids = {r.openid: r.id for r in await s.scalars(select(Signup))}
    resp = await client.post(f"{url}/signups/{ids['oA']}/checkin", data={"_csrf": t})
    assert "王一 已签到" in flashes(await resp.text())
    resp = await client.post(f"{url}/signups/{ids['oA']}/contact", data={"_csrf": t}, allow_redirects=False)
    assert resp.status == 303  # a reveal redirects back (a refresh doesn't reveal and audit again)
    page = await (await client.get(resp.headers["Location"])).text()
    assert '<a class="su-tel" href="tel:13800000001">13800000001</a>' in page
    assert "已显示王一的完整电话（本次查看已记录）" in flashes(page)
    assert "13800000001" not in await (await client.get(url)).text()  # once only
    resp = await client.post(f"{url}/cancel", data={"_csrf": t, "reason": "场地检修"})
    assert "活动已取消，已通知 2 位报名和候补的职工" in flashes(await resp.text())
    resp = await client.post(f"{url}/cancel", data={"_csrf": t, "reason": "场地检修"})
    assert "这个活动已经取消过了" in flashes(await resp.text())
    page = await (await client.get(url)).text()
    assert "取消活动" not in visible(page) and "代报名" not in visible(page)


# ------------------------------------------------------------------ in the browser
CHROMIUM_MISSING = not Path("/usr/bin/chromium").exists() and not os.environ.get("CI")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def seed_for_browser(db, clock) -> Activity:  # noqa: ANN001
    for i in range(24):
        await make_activity(db, clock, title=f"第{i + 1}期职工素质提升讲堂", starts_at=at(27, 9), ends_at=at(27, 11),
                            capacity=40, place="街道党群服务中心三楼多功能厅")
    act = await make_activity(db, clock, title="特种设备作业人员（叉车司机）安全技能提升培训班", capacity=10,
                              place="街道职工学校二楼201教室（地铁2号线职工路站B口）", community=None)
    now = clock.now()
    async with db() as s, s.begin():
        members = []
        for i in range(13):
            m = Member(openid=f"oW{i:02d}", first_seen=now, last_seen=now, name=f"职工{i:02d}", phone=f"1390000{i:04d}")
            s.add(m)
            members.append(m)
        await s.flush()
        for i, m in enumerate(members):
            await ops.sign_up(s, ops_ctx(clock), act.id, m, name=["欧阳娜娜", "王一", "阿依古丽·买买提"][i % 3] + str(i),
                              phone=m.phone, employer="某某物流（集团）有限公司第三分公司" if i % 2 else "红星机械厂")
    clock.set(at(26, 13, 40))
    async with db() as s, s.begin():
        for sid in (1, 2, 3):
            row = await s.scalar(select(Signup).where(Signup.activity_id == act.id).order_by(Signup.seq).offset(sid))
            await ops.staff_check_in(s, ops_ctx(clock), act.id, row.id)
    return act


@pytest.mark.skipif(CHROMIUM_MISSING, reason="/usr/bin/chromium is missing")
async def test_list_and_activity_page_fit_phone_and_desk(aiohttp_server, app, db, clock, tmp_path) -> None:  # noqa: ANN001
    from playwright.async_api import async_playwright

    from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user
    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    out = SHOTS if os.environ.get("UNIONBOT_SAVE_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    act = await seed_for_browser(db, clock)
    await create_staff_user(db)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width, height in ((1366, 800), (390, 844)):
                ctx = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
                page = await ctx.new_page()
                await page.goto(f"{base}/admin/login")
                await page.get_by_label("用户名").fill(DEFAULT_USER)
                await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
                await page.get_by_role("button", name="登录").click()
                await page.wait_for_url(f"{base}/admin/")

                await page.goto(f"{base}/admin/signup")
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, ("list", width, overflow)
                assert "第 1 / 2 页" in await page.locator(".pagination").inner_text()
                await page.screenshot(path=str(out / f"signup-list-{width}-top.png"))  # the first screen
                await page.screenshot(path=str(out / f"signup-list-{width}.png"), full_page=True)

                await page.goto(f"{base}/admin/signup/{act.id}")
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, ("detail", width, overflow)
                list_top = (await page.locator("#su-list-title").bounding_box())["y"]
                facts_top = (await page.locator("#su-facts-title").bounding_box())["y"]
                # a phone shows the sign-up list (check-in) first; a desk the facts above it
                assert (list_top < facts_top) if width < 600 else (facts_top < list_top), (width, list_top, facts_top)
                button = page.locator("table.su-signups tbody tr").filter(
                    has=page.get_by_role("button", name="签到", exact=True)).first.get_by_role("button", name="签到",
                                                                                              exact=True)
                box = await button.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
                await page.screenshot(path=str(out / f"signup-detail-{width}-top.png"))  # the first screen
                # every row's buttons are inside the list's box (nothing cut off at the right)
                wrap = await page.locator(".su-list-card .table-wrap").bounding_box()
                for b in await page.locator("table.su-signups td.su-ops button").all():
                    bb = await b.bounding_box()
                    assert bb["x"] + bb["width"] <= wrap["x"] + wrap["width"] + 0.5, (width, bb, wrap)
                await page.screenshot(path=str(out / f"signup-detail-{width}.png"), full_page=True)

                # batch check-in through the real form: tick two, confirm, done
                page.once("dialog", lambda d: d.accept())
                boxes = page.locator('input[name="ids"][form="lv-bulk"]')
                await boxes.nth(0).check()
                await boxes.nth(1).check()
                assert await page.locator("[data-lv-count]").inner_text() == "已选 2 条"
                await page.get_by_role("button", name="批量签到").click()
                await page.wait_for_selector(".flash-ok")
                assert "已为 2 人登记签到" in await page.locator(".flash-ok").first.inner_text()

                await page.goto(f"{base}/admin/signup/{act.id}/add")
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, ("add", width, overflow)
                await page.screenshot(path=str(out / f"signup-add-{width}.png"), full_page=True)
                await page.goto(f"{base}/admin/signup/record?from=2026-11-01&to=2026-11-30")
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, ("record", width, overflow)
                await page.screenshot(path=str(out / f"signup-record-{width}.png"), full_page=True)
                await ctx.close()
        finally:
            await browser.close()
