"""Community scope of the chairs pages: a community union's chairs account sees and acts only on
its community's units — the grid, the 通报 export, the registry and its export, a chair's page
and actions, the dashboard, adding and importing."""
from __future__ import annotations

import csv
import io
from datetime import datetime

import aiohttp
from sqlalchemy import select

from bot.db.models.chairs import Chair, ChairReport
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, login
from tests.support.chairs import Q4, make_chair

A, B = "幸福社区", "和平社区"


async def report(db, clock, chair: Chair, enterprises: int, unionised: int) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        s.add(ChairReport(chair_id=chair.id, quarter=Q4.label, enterprises=enterprises, unionised=unionised,
                          wage_agreements=unionised, harmonious=unionised, channel="wechat",
                          submitted_at=clock.now(), updated_at=clock.now(), on_time=True))


async def units(db, clock, settings) -> dict[str, Chair]:  # noqa: ANN001
    made = {
        "a1": await make_chair(db, clock, settings, name="张幸福", org="幸福电子厂工会", community=A, mobile="13800138001"),
        "a2": await make_chair(db, clock, settings, name="赵幸福", org="幸福物流工会", community=A, mobile="13800138003"),
        "b1": await make_chair(db, clock, settings, name="李和平", org="和平纺织厂工会", community=B, mobile="13800138002"),
        "b2": await make_chair(db, clock, settings, name="钱和平", org="和平食品厂工会", community=B, mobile="13800138004"),
    }
    await report(db, clock, made["a1"], 40, 37)
    await report(db, clock, made["b1"], 90, 11)
    return made


def table(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_community_chairs_account_scope(client, db, clock, settings):  # noqa: ANN001
    c = await units(db, clock, settings)
    await create_staff_user(db, "xingfu", roles=("chairs",), community=A)
    await login(client, "xingfu", DEFAULT_PASSWORD)
    clock.set(datetime(2026, 12, 28, 10, 0))  # past the deadline (25 December): the 通报 list exists

    # the grid and its 通报 export, whatever community the address asks for
    for query in (f"quarter={Q4.label}", f"quarter={Q4.label}&community={B}"):
        page = await (await client.get(f"/admin/chairs?{query}")).text()
        assert "幸福电子厂工会" in page and "和平纺织厂工会" not in page and "和平食品厂工会" not in page
        rows = table(await (await client.get(f"/admin/chairs/export.csv?{query}")).read())
        assert [r[2] for r in rows[1:]] == ["幸福物流工会"]  # its community's unit without a report

    # the registry and its export
    page = await (await client.get("/admin/chairs/registry")).text()
    assert "幸福电子厂工会" in page and "和平纺织厂工会" not in page
    rows = table(await (await client.get("/admin/chairs/registry/export.csv")).read())
    assert sorted(r[1] for r in rows[1:]) == ["幸福物流工会", "幸福电子厂工会"]

    # the dashboard: its community's figures only
    page = await (await client.get(f"/admin/chairs/dashboard?quarter={Q4.label}")).text()
    assert "1 家单位有数据，共 2 家" in page and f"<h3>{A}" in page and B not in page

    # another community's chair answers as one that doesn't exist, and nothing changes
    missing, other = await client.get("/admin/chairs/999999"), await client.get(f"/admin/chairs/{c['b2'].id}")
    assert missing.status == other.status == 404 and await missing.text() == await other.text()
    assert "13800138004" not in await other.text()
    token = await csrf_at(client, f"/admin/chairs/{c['a1'].id}")
    for action, data in (("edit", {"name": "改名字", "organisation": "x", "community": A, "mobile": "13900000000"}),
                         ("code", {}), ("received", {"quarter": Q4.label})):
        on_missing = await client.post(f"/admin/chairs/999999/{action}", data={"_csrf": token, **data})
        on_other = await client.post(f"/admin/chairs/{c['b2'].id}/{action}", data={"_csrf": token, **data})
        assert on_missing.status == on_other.status, action
        assert "没有这位主席" in await on_other.text(), action
    resp = await client.post(f"/admin/chairs/{c['b2'].id}/active", data={"_csrf": token})
    assert resp.status == 404
    resp = await client.post(f"/admin/chairs/{c['b2'].id}/reveal", data={"_csrf": token})
    assert resp.status == 404 and "13800138004" not in await resp.text()
    async with db() as s:
        b2 = await s.get(Chair, c["b2"].id)
        assert b2.name == "钱和平" and b2.active
        assert await s.scalar(select(ChairReport).where(ChairReport.chair_id == b2.id)) is None

    # its own chair: edits stay in its community
    resp = await client.post(f"/admin/chairs/{c['a1'].id}/edit", data={
        "_csrf": token, "name": "张幸福", "organisation": "幸福电子厂工会", "community": B, "mobile": "13800138001"})
    assert resp.status == 200
    # adding and importing: its own community's chairs only
    token = await csrf_at(client, "/admin/chairs/registry")
    await client.post("/admin/chairs/registry", data={"_csrf": token, "name": "孙幸福", "organisation": "幸福超市工会",
                                                      "community": B, "mobile": "13800138005"})
    form = aiohttp.FormData()
    form.add_field("_csrf", token)
    form.add_field("file", f"姓名,单位,社区,手机\n周幸福,幸福医院工会,{A},13800138006\n吴和平,和平学校工会,{B},13800138007\n"
                   .encode("utf-8"), filename="chairs.csv", content_type="text/csv")
    page = await (await client.post("/admin/chairs/registry/import", data=form)).text()
    assert "第 3 行的社区不是「幸福社区」" in page
    async with db() as s:
        chairs = {ch.organisation: ch.community for ch in (await s.scalars(select(Chair))).all()}
    assert chairs["幸福电子厂工会"] == A and chairs["幸福超市工会"] == A
    assert "幸福医院工会" not in chairs and "和平学校工会" not in chairs


async def test_federation_chairs_account_sees_every_community(client, db, clock, settings):  # noqa: ANN001
    await units(db, clock, settings)
    await create_staff_user(db, "street", roles=("chairs",))
    await login(client, "street", DEFAULT_PASSWORD)
    page = await (await client.get(f"/admin/chairs?quarter={Q4.label}")).text()
    assert "幸福电子厂工会" in page and "和平纺织厂工会" in page
    page = await (await client.get(f"/admin/chairs?quarter={Q4.label}&community={B}")).text()
    assert "幸福电子厂工会" not in page and "和平纺织厂工会" in page
    page = await (await client.get(f"/admin/chairs/dashboard?quarter={Q4.label}")).text()
    assert "全街道 <small>2 家单位有数据，共 4 家" in page and f"<h3>{A}" in page and f"<h3>{B}" in page
