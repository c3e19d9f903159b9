"""Staff side of the chairs feature, over HTTP through the whole app."""
from __future__ import annotations

import io
import re
from datetime import datetime

from openpyxl import load_workbook
from sqlalchemy import select

from bot.db.models.chairs import Chair, ChairReport
from bot.db.models.core import AuditLog
from bot.operations import OpsContext
from handlers.chairs import ops
from handlers.chairs import stats
from handlers.chairs.quarters import Quarter
from handlers.chairs.jobs import send_reminders
from scheduler.setup import job_context
from tests.support.admin import csrf_at, log_in_staff

Q4 = Quarter(2026, 4)
FIGS = {"visits": 3, "problems": None, "summary": "一切正常，按计划推进。"}


async def seed(db, clock, settings):  # noqa: ANN001, ANN201
    async with db() as s, s.begin():
        a = await ops.add_chair(s, OpsContext(clock, settings), name="王建国", organisation="东湖电子厂工会", community="东湖社区",
                                mobile="13800138001")
        b = await ops.add_chair(s, OpsContext(clock, settings), name="李秀英", organisation="东湖物流工会", community="东湖社区",
                                mobile="13800138002")
        c = await ops.add_chair(s, OpsContext(clock, settings), name="张伟", organisation="西园机械厂工会", community="西园社区",
                                mobile="13900139003")
        await ops.submit_report(s, OpsContext(clock, settings), a, Q4, {
            "enterprises": 20, "unionised": 19, "wage_agreements": 18, "harmonious": 10, **FIGS})
        await ops.submit_report(s, OpsContext(clock, settings), c, Q4, {
            "enterprises": 10, "unionised": 8, "wage_agreements": 6, "harmonious": 2, **FIGS})
    return a, b, c


async def test_staff_add_a_chair_issue_a_code_and_the_chair_binds(client, db, sim, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    t = await csrf_at(client, "/admin/chairs/registry")
    resp = await client.post("/admin/chairs/registry", data={
        "_csrf": t, "name": "王建国", "organisation": "东湖电子厂工会", "community": "东湖社区", "mobile": "13800138001"})
    assert resp.status == 200 and "已添加王建国" in await resp.text()
    chair_url = str(resp.url.path)
    t = await csrf_at(client, chair_url)
    resp = await client.post(chair_url + "/code", data={"_csrf": t})
    page = await resp.text()
    code = re.search(r"绑定码：([A-Z0-9]{6})", page).group(1)
    reply = await sim.user("oChair1").send(f"绑定 {code}")
    assert "绑定成功" in reply
    page = await (await client.get(chair_url)).text()
    assert "已绑定" in page
    # the registry masks phones
    page = await (await client.get("/admin/chairs/registry")).text()
    assert "138****8001" in page and "13800138001" not in page
    async with db() as s:
        actions = set((await s.scalars(select(AuditLog.action))).all())
    assert {"chairs.add", "chairs.bind_code"} <= actions


async def test_invalid_mobile_is_refused(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    t = await csrf_at(client, "/admin/chairs/registry")
    resp = await client.post("/admin/chairs/registry", data={
        "_csrf": t, "name": "王建国", "organisation": "电子厂工会", "community": "东湖社区", "mobile": "123"})
    assert "不是11位手机号码" in await resp.text()
    async with db() as s:
        assert (await s.scalars(select(Chair))).all() == []


async def test_grid_filters_by_community_and_export_lists_only_non_reporting(app, client, db, clock, settings) -> None:  # noqa: ANN001
    a, b, c = await seed(db, clock, settings)
    clock.set(datetime(2026, 12, 16, 9, 0))
    await send_reminders(job_context(app))  # b is not bound: listed for phoning
    clock.set(datetime(2026, 12, 26, 10, 0))
    await log_in_staff(client, db)
    page = await (await client.get("/admin/chairs?quarter=2026Q4&community=东湖社区")).text()
    assert "东湖电子厂工会" in page and "东湖物流工会" in page and "西园机械厂工会" not in page
    assert "按时报送" in page and "未报送" in page and "未绑定" in page and "12月25日" in page

    resp = await client.get("/admin/chairs/export.xlsx?quarter=2026Q4")
    assert resp.status == 200
    ws = load_workbook(io.BytesIO(await resp.read())).active
    rows = [[cell.value for cell in r] for r in ws.iter_rows()]
    assert len(rows) == 2 and rows[1][2] == "东湖物流工会" and rows[1][4] == "138****8002"

    # received on paper: the chair counts as reported (late) and leaves the list
    t = await csrf_at(client, "/admin/chairs?quarter=2026Q4")
    resp = await client.post(f"/admin/chairs/{b.id}/received", data={"_csrf": t, "quarter": "2026Q4"})
    assert "已登记收到" in await resp.text()
    async with db() as s:
        rep = await ops.report_for(s, b.id, Q4)
    assert rep.channel == "other" and not rep.on_time
    resp = await client.get("/admin/chairs/export.csv?quarter=2026Q4")
    assert "东湖物流工会" not in (await resp.read()).decode("utf-8-sig")


async def test_dashboard_sums_latest_reports_against_targets(client, db, clock, settings) -> None:  # noqa: ANN001
    await seed(db, clock, settings)
    await log_in_staff(client, db)
    page = await (await client.get("/admin/chairs/dashboard?quarter=2026Q4")).text()
    # overall: unionised 27/30 = 90.0 % (target 95 %), wage 24/27 = 88.9 %, harmonious 12/27 = 44.4 %
    assert "90.0%" in page and "88.9%" in page and "44.4%" in page
    assert "东湖社区" in page and "西园社区" in page and "<svg" in page
    assert ">未达标<" in page and ">达标<" in page


async def test_unknown_year_shows_the_calendar_warning(client, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    page = await (await client.get("/admin/chairs?quarter=2099Q4")).text()
    assert "2099年的法定节假日" in page


async def test_deactivate_stops_binding(client, db, clock, settings) -> None:  # noqa: ANN001
    a, _, _ = await seed(db, clock, settings)
    await log_in_staff(client, db)
    t = await csrf_at(client, f"/admin/chairs/{a.id}")
    resp = await client.post(f"/admin/chairs/{a.id}/active", data={"_csrf": t})
    assert "已停用" in await resp.text()
    async with db() as s:
        assert not (await s.get(Chair, a.id)).active
        assert len((await s.scalars(select(ChairReport))).all()) == 2


async def test_notice_list_keeps_units_that_reported_only_after_being_listed(app, client, db, clock, settings) -> None:  # noqa: ANN001
    a, b, c = await seed(db, clock, settings)
    clock.set(datetime(2026, 12, 30, 9, 30))  # t+3: b is put on the 通报 list
    await send_reminders(job_context(app))
    clock.set(datetime(2027, 1, 4, 10, 0))
    async with db() as s, s.begin():
        await ops.mark_received(s, OpsContext(clock, settings), b.id, Q4)
    await log_in_staff(client, db)
    resp = await client.get("/admin/chairs/export.xlsx?quarter=2026Q4")
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(await resp.read())).active
    rows = [[cell.value for cell in r] for r in ws.iter_rows()]
    assert rows[0][:6] == ["季度", "社区", "单位", "主席", "手机", "报送状态"]
    assert [r[2] for r in rows[1:]] == ["东湖物流工会"]
    assert rows[1][5].startswith("逾期补报") and rows[1][7] == "是"


async def test_dashboard_trend_uses_each_units_latest_figures(client, db, clock, settings) -> None:  # noqa: ANN001
    a, b, c = await seed(db, clock, settings)  # a and c reported 2026Q4
    async with db() as s, s.begin():  # b reported only 2026Q3
        await ops.submit_report(s, OpsContext(clock, settings), b, Quarter(2026, 3), {
            "enterprises": 10, "unionised": 3, "wage_agreements": 3, "harmonious": 3, **FIGS})
    async with db() as s:
        data = await stats.dashboard(s, Q4)
    q3, q4 = data["trend"][-2:]
    assert q3["totals"].reports == 1 and q4["totals"].reports == 3
    assert q4["indicators"] == data["overall"].indicators()  # the last point is the headline figure
    assert round(q4["indicators"][0]["rate"], 3) == round(30 / 40, 3)


async def test_staff_edit_a_chair(client, db, clock, settings) -> None:  # noqa: ANN001
    a, _, _ = await seed(db, clock, settings)
    await log_in_staff(client, db)
    t = await csrf_at(client, f"/admin/chairs/{a.id}")
    resp = await client.post(f"/admin/chairs/{a.id}/edit", data={
        "_csrf": t, "name": "王建民", "organisation": "东湖电子厂工会", "community": "东湖社区", "mobile": "13800138009"})
    assert "已保存" in await resp.text()
    t = await csrf_at(client, f"/admin/chairs/{a.id}")
    resp = await client.post(f"/admin/chairs/{a.id}/edit", data={
        "_csrf": t, "name": "王建民", "organisation": "东湖电子厂工会", "community": "东湖社区", "mobile": "13800138002"})
    assert "已被另一位主席使用" in await resp.text()
    async with db() as s:
        chair = await s.get(Chair, a.id)
    assert (chair.name, chair.mobile) == ("王建民", "13800138009")


async def test_an_unpublished_year_is_flagged_in_the_admin_and_the_log(app, client, db, clock, caplog) -> None:  # noqa: ANN001
    clock.set(datetime(2031, 3, 2, 10, 0))
    with caplog.at_level("WARNING"):
        await send_reminders(job_context(app))
    assert any("2031年的法定节假日" in r.getMessage() for r in caplog.records)
    await log_in_staff(client, db)
    page = await (await client.get("/admin/chairs")).text()
    assert "2031年的法定节假日" in page and "只按周末推算" in page
    page = await (await client.get("/admin/chairs/dashboard")).text()
    assert "2031年的法定节假日" in page


async def test_staff_upload_the_registry_all_rows_or_none(client, db) -> None:  # noqa: ANN001
    import aiohttp

    await log_in_staff(client, db)

    async def upload(name: str, content: bytes) -> str:
        form = aiohttp.FormData()
        form.add_field("_csrf", await csrf_at(client, "/admin/chairs/registry"))
        form.add_field("file", content, filename=name, content_type="text/csv")
        resp = await client.post("/admin/chairs/registry/import", data=form)
        assert resp.status == 200
        return await resp.text()

    bad = "姓名,单位,社区,手机\n王建国,东湖电子厂工会,东湖社区,13800138001\n李秀英,东湖物流工会,东湖社区,12345\n"
    page = await upload("chairs.csv", bad.encode("utf-8"))
    assert "没有导入任何主席" in page and "第3行" in page
    async with db() as s:
        assert (await s.scalars(select(Chair))).all() == []

    good = bad.replace("12345", "13800138002")
    page = await upload("chairs.csv", ("\ufeff" + good).encode("utf-8"))
    assert "新增 2 人" in page
    async with db() as s:
        names = sorted(c.name for c in (await s.scalars(select(Chair))).all())
        assert names == ["李秀英", "王建国"]
        assert (await s.scalar(select(AuditLog).where(AuditLog.action == "chairs.import"))) is not None
    # A CSV as Excel saves it in China (GBK) is read too; the rows are the same chairs again.
    assert "更新 2 人" in await upload("gbk.csv", good.encode("gbk"))
