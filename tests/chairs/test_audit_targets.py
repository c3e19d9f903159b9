"""G2 (docs/guarantees.md, row P9) for the chairs' registry and reports: an audit `target` is
"the record's reference as staff know it … Never a phone, ID number or name", and values of
personal fields stay out of the detail (security.md §6). A chair added, edited (name and mobile
changed), revealed, imported (a good file and a rejected one), exported, bound and marked
received, through the admin site, with distinctive names and mobiles — and the reveal is audited."""
from __future__ import annotations

from aiohttp import FormData
from sqlalchemy import select

from bot.db.models.chairs import Chair
from bot.db.models.core import AuditLog
from tests.support.admin import audit_rows_holding, csrf_at, log_in_staff

ADDED = ("司马建国", "13512340001")
RENAMED = ("司马建业", "13512340002")
IMPORTED = ("欧阳秀英", "13512340003")
REJECTED = ("上官小红", "13512340004")  # in a file refused for another row's bad mobile


def _csv(rows: list[tuple[str, str, str, str]]) -> bytes:
    lines = ["name,organisation,community,mobile", *[",".join(r) for r in rows]]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


async def test_chairs_audit_rows_never_name_the_chair(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    token = await csrf_at(client, "/admin/chairs/registry")

    async def post(path: str, **data: str):  # noqa: ANN202
        resp = await client.post(path, data={"_csrf": token, **data}, allow_redirects=False)
        assert resp.status in (200, 303), (path, resp.status)
        return resp

    async def upload(name: str, data: bytes) -> None:
        form = FormData()
        form.add_field("_csrf", token)
        form.add_field("file", data, filename=name, content_type="text/csv")
        assert (await client.post("/admin/chairs/registry/import", data=form, allow_redirects=False)).status == 303

    await post("/admin/chairs/registry", name=ADDED[0], organisation="东湖电子厂工会", community="东湖社区", mobile=ADDED[1])
    async with db() as s:
        chair_id = await s.scalar(select(Chair.id).where(Chair.mobile == ADDED[1]))
    one = f"/admin/chairs/{chair_id}"
    await post(f"{one}/edit", name=RENAMED[0], organisation="东湖电子厂工会", community="东湖社区", mobile=RENAMED[1])
    await post(f"{one}/reveal")
    assert RENAMED[1] in await (await client.get(one)).text()
    await post(f"{one}/code")
    await post(f"{one}/received", quarter="2026Q4", note=f"{RENAMED[0]}送来纸质报表")
    await post(f"{one}/received/undo", quarter="2026Q4")
    await post(f"{one}/active", active="0")
    await post(f"{one}/active", active="1")
    await upload("chairs-new.csv", _csv([(IMPORTED[0], "西园物流工会", "西园社区", IMPORTED[1])]))
    await upload("chairs-bad.csv", _csv([(REJECTED[0], "南山机械厂工会", "南山社区", REJECTED[1]),
                                         ("李四", "南山纺织厂工会", "南山社区", "12345")]))
    for path in ("/admin/chairs/registry/export.csv", f"/admin/chairs/registry/export.xlsx?q={IMPORTED[1]}",
                 f"/admin/chairs/registry/export.csv?q={IMPORTED[0]}", "/admin/chairs/export.csv?quarter=2026Q3"):
        assert (await client.get(path)).status == 200, path

    async with db() as s:
        rows = list(await s.scalars(select(AuditLog).order_by(AuditLog.id)))
    actions = [r.action for r in rows]
    for wanted in ("chairs.add", "chairs.edit", "chairs.reveal_mobile", "chairs.bind_code", "chairs.received",
                   "chairs.received_undo", "chairs.deactivate", "chairs.activate", "chairs.import",
                   "chairs.registry_export", "chairs.export"):
        assert wanted in actions, (wanted, actions)
    assert any(r.action == "chairs.import" and r.refused for r in rows)  # the rejected file
    [reveal] = [r for r in rows if r.action == "chairs.reveal_mobile"]
    assert reveal.target == f"chair:{chair_id}" and not reveal.refused
    [edit] = [r for r in rows if r.action == "chairs.edit"]
    assert sorted(edit.detail["changed"]) == ["mobile", "name"]  # the names of the fields, not the values
    secrets = [v for person in (ADDED, RENAMED, IMPORTED, REJECTED) for v in (person[0], person[1], person[1][-8:])]
    found = await audit_rows_holding(db, secrets)
    assert found == [], "\n".join(found)
    # The data-protection officer reads that an export was narrowed by a search, not what was typed.
    page = await (await client.get("/admin/audit?action=chairs.registry_export")).text()
    assert "按关键词搜索：是" in page and IMPORTED[0] not in page and IMPORTED[1] not in page
