"""The audit log as the data-protection officer reads it: /admin/audit over HTTP (the whole app)."""
from __future__ import annotations

import io
import re
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from bot.admin import audit
from bot.db.models.core import AuditLog, Member
from handlers.hardship import ops
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, login
from tests.support.hardship import ops_ctx


async def seed_request(db, app, clock, openid: str = "oW1", name: str = "王小明"):  # noqa: ANN001, ANN201
    now = clock.now()
    async with db() as s, s.begin():
        s.add(Member(openid=openid, first_seen=now, last_seen=now))
        return await ops.submit_request(
            s, ops_ctx(app), openid=openid, consent_version="2026-1",
            data={"kind": "因病", "description": "住院", "household": 3, "income": 4500.0, "expenses": 1500.0,
                  "name": name, "phone": "13800138000", "employer": "街道环卫所", "id_number": None})


def total(page: str) -> int:
    m = re.search(r"共 (\d+) 条", page)
    assert m, "no total on the page"
    return int(m.group(1))


async def rows(db) -> list[AuditLog]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(AuditLog).order_by(AuditLog.id)))


async def test_audit_page_filters_pages_and_exports(client, db, app, clock) -> None:  # noqa: ANN001
    req = await seed_request(db, app, clock)
    admin = await create_staff_user(db)
    await login(client)

    # What staff did, through the pages: a view, a refused decision, a decision with its amount.
    assert (await client.get(f"/admin/hardship/{req.id}")).status == 200
    t = await csrf_at(client, f"/admin/hardship/{req.id}")
    await client.post(f"/admin/hardship/{req.id}/act/deliver",
                      data={"_csrf": t, "amount": "500", "aid_date": "2026-11-24"})  # not approved yet: refused
    for action in ("start_review", "approve"):
        await client.post(f"/admin/hardship/{req.id}/act/{action}", data={"_csrf": t})
    await client.post(f"/admin/hardship/{req.id}/act/deliver",
                      data={"_csrf": t, "amount": "500", "aid_date": "2026-11-24", "aid_kind": ""})
    log = await rows(db)
    by_action = [(r.action, r.target, r.refused) for r in log if r.action.startswith("hardship.")]
    assert ("hardship.view", "BF-2026-0001", False) in by_action
    assert ("hardship.deliver", "BF-2026-0001", True) in by_action  # refused, recorded as refused
    assert ("hardship.deliver", "BF-2026-0001", False) in by_action
    refused = next(r for r in log if r.action == "hardship.deliver" and r.refused)
    done = next(r for r in log if r.action == "hardship.deliver" and not r.refused)
    assert refused.detail["reason"] and refused.staff_id == admin.id
    assert done.detail["amount"] == 500.0 and done.detail["date"] == "2026-11-24"
    assert all(audit.ACTION_RE.match(r.action) for r in log), [r.action for r in log]

    page = await (await client.get("/admin/audit")).text()
    assert "审计日志" in page and "查看帮扶申请" in page and "BF-2026-0001" in page and "被拒绝" in page
    everything = total(page)
    assert everything == len(await rows(db))

    views = await (await client.get("/admin/audit?action=hardship.view")).text()
    assert total(views) == sum(1 for r in await rows(db) if r.action == "hardship.view") >= 1
    only_refused = await (await client.get("/admin/audit?result=refused")).text()
    assert total(only_refused) == 1 and "金额：500.0" in only_refused
    by_target = await (await client.get("/admin/audit?target=BF-2026")).text()
    assert total(by_target) == sum(1 for r in await rows(db) if r.target.startswith("BF-2026"))
    assert total(await (await client.get("/admin/audit?target=BF-2099")).text()) == 0
    by_staff = await (await client.get(f"/admin/audit?staff={admin.id}")).text()
    assert total(by_staff) == sum(1 for r in await rows(db) if r.staff_id == admin.id)
    # a staff value that is not a choice is ignored, not a 500
    assert (await client.get("/admin/audit?staff=99999x")).status == 200

    # dates: local days; an unusable date is left out with a hint in Chinese, never a 500
    today = clock.now().astimezone(clock.tz).date()
    n_today = total(await (await client.get(f"/admin/audit?from={today}&to={today}")).text())
    assert n_today >= everything  # the log grew by nothing but exports so far
    assert total(await (await client.get(f"/admin/audit?from={today + timedelta(days=1)}")).text()) == 0
    assert total(await (await client.get(f"/admin/audit?to={today - timedelta(days=1)}")).text()) == 0
    resp = await client.get("/admin/audit?from=2026-13-45&to=yesterday")
    text = await resp.text()
    assert resp.status == 200 and "「日期（起）」填的「2026-13-45」不是有效的日期" in text and "「日期（止）」" in text
    swapped = await (await client.get(f"/admin/audit?from={today + timedelta(days=3)}&to={today}")).text()
    assert "开始日期晚于结束日期" in swapped and total(swapped) >= everything

    # pages: 25 more rows; the default page size is 20
    async with db() as s, s.begin():
        for i in range(25):
            await audit.record(s, staff_id=admin.id, action="chairs.bind_code", target=f"chair:{i}", now=clock.now())
    first = await (await client.get("/admin/audit?action=chairs.bind_code")).text()
    second = await (await client.get("/admin/audit?action=chairs.bind_code&page=2")).text()
    assert total(first) == 25 and "第 1 / 2 页" in first and "第 2 / 2 页" in second
    assert first.count("chair:") == 20 and second.count("chair:") == 5

    # the export for the data-protection officer: filtered, not cached, itself audited
    resp = await client.get("/admin/audit/export.xlsx?result=refused")
    assert resp.status == 200 and "no-store" in resp.headers["Cache-Control"]
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["时间", "工作人员", "操作代码", "操作", "对象", "结果", "详情"]
    assert len(values) == 2 and values[1][2:6] == ["hardship.deliver", "登记发放", "BF-2026-0001", "被拒绝"]
    last = (await rows(db))[-1]
    assert (last.action, last.staff_id, last.detail["rows"]) == ("audit.export", admin.id, 1)


async def test_only_admins_read_the_audit_log(client, db, app, clock) -> None:  # noqa: ANN001
    await create_staff_user(db)
    reviewer = await create_staff_user(db, username="reviewer", display_name="李干事", roles=("hardship",))
    reader = await create_staff_user(db, username="reader", display_name="周干事", roles=("viewer",))
    for name in ("reviewer", "reader"):
        client.session.cookie_jar.clear()
        await login(client, name, DEFAULT_PASSWORD)
        home = await (await client.get("/admin/")).text()
        assert "审计日志" not in home  # no link to a page that would refuse them
        for path in ("/admin/audit", "/admin/audit/export.xlsx", "/admin/audit/export.csv"):
            resp = await client.get(path)
            assert resp.status == 403, (name, path)
    client.session.cookie_jar.clear()
    await login(client)
    assert "审计日志" in await (await client.get("/admin/")).text()
    assert (await client.get("/admin/audit")).status == 200
    refused = {r.staff_id for r in await rows(db) if r.refused}
    assert {reviewer.id, reader.id} <= refused  # the refused openings are in the log too
