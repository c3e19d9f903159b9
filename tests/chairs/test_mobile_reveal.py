"""Chairs' mobile numbers: masked on every page, shown in full only by an audited 查看 (over HTTP)."""
from __future__ import annotations

import aiohttp
from sqlalchemy import select

from bot.db.models.chairs import Chair
from bot.db.models.core import AuditLog
from bot.operations import OpsContext
from handlers.chairs import ops
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, csrf_from, log_in_staff, login

MOBILE = "13800138001"


async def seed(db, clock, settings) -> Chair:  # noqa: ANN001
    async with db() as s, s.begin():
        return await ops.add_chair(s, OpsContext(clock, settings), name="王建国", organisation="东湖电子厂工会",
                                   community="东湖社区", mobile=MOBILE)


async def audit_rows(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


async def test_mobile_masked_until_an_audited_reveal(client, db, clock, settings) -> None:  # noqa: ANN001
    chair = await seed(db, clock, settings)
    await log_in_staff(client, db)
    for path in (f"/admin/chairs/{chair.id}", "/admin/chairs/registry", "/admin/chairs?quarter=2026Q4"):
        page = await (await client.get(path)).text()
        assert MOBILE not in page, path  # not in the text, nor in a form field's value
        assert "138****8001" in page, path
    assert await audit_rows(db, "chairs.reveal_mobile") == []

    page = await (await client.get(f"/admin/chairs/{chair.id}")).text()
    resp = await client.post(f"/admin/chairs/{chair.id}/reveal", data={"_csrf": csrf_from(page)})
    assert resp.status == 200 and MOBILE in await resp.text()
    [row] = await audit_rows(db, "chairs.reveal_mobile")
    assert row.target == f"chair:{chair.id}" and not row.refused and row.staff_id is not None


async def test_editing_keeps_the_hidden_number_and_records_what_changed(client, db, clock, settings) -> None:  # noqa: ANN001
    chair = await seed(db, clock, settings)
    await log_in_staff(client, db)
    t = await csrf_at(client, f"/admin/chairs/{chair.id}")
    form = {"_csrf": t, "name": "王建国", "organisation": "东湖电子厂工会（新）", "community": "东湖社区", "mobile": ""}
    assert "已保存" in await (await client.post(f"/admin/chairs/{chair.id}/edit", data=form)).text()
    async with db() as s:
        saved = await s.get(Chair, chair.id)
    assert saved.mobile == MOBILE and saved.organisation == "东湖电子厂工会（新）"
    await client.post(f"/admin/chairs/{chair.id}/edit", data={**form, "mobile": "13800138009"})
    async with db() as s:
        assert (await s.get(Chair, chair.id)).mobile == "13800138009"
    first, second = await audit_rows(db, "chairs.edit")
    assert first.detail == {"changed": ["organisation"], "organisation": "东湖电子厂工会（新）"}
    assert second.detail == {"changed": ["mobile"]}  # the number itself stays out of the log


async def test_read_only_accounts_get_no_reveal(client, db, clock, settings) -> None:  # noqa: ANN001
    chair = await seed(db, clock, settings)
    await create_staff_user(db, username="reader", display_name="周干事", roles=("viewer",))
    await login(client, "reader", DEFAULT_PASSWORD)
    page = await (await client.get(f"/admin/chairs/{chair.id}")).text()
    assert MOBILE not in page and "138****8001" in page and f"/admin/chairs/{chair.id}/reveal" not in page
    resp = await client.post(f"/admin/chairs/{chair.id}/reveal", data={"_csrf": csrf_from(page)})
    assert resp.status == 403 and MOBILE not in await resp.text()
    assert [r.refused for r in await audit_rows(db, "chairs.reveal_mobile")] in ([], [True])
    async with db() as s:
        refused = list(await s.scalars(select(AuditLog).where(AuditLog.refused.is_(True))))
    assert refused  # the refused attempt is in the audit log


async def test_a_rejected_import_is_logged(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    form = aiohttp.FormData()
    form.add_field("_csrf", await csrf_at(client, "/admin/chairs/registry"))
    bad = "姓名,单位,社区,手机\n王建国,东湖电子厂工会,东湖社区,12345\n"
    form.add_field("file", bad.encode("utf-8"), filename="chairs.csv", content_type="text/csv")
    page = await (await client.post("/admin/chairs/registry/import", data=form)).text()
    assert "没有导入任何主席" in page
    [row] = await audit_rows(db, "chairs.import")
    assert row.refused and row.target == "chairs.csv" and "第2行" in row.detail["reason"]
