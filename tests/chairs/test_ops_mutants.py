"""Sharper tests for handlers/chairs/ops.py (mutation group `ops-chairs`), staff side: what the
registry list shows and finds (filters, search, order), the facts beside a chair's inbox thread,
the quiz's chair column, a chair's page (reports, reminders, the mobile shown after a 查看),
登记已收到 / 更正 and adding a chair — through the admin over HTTP, or direct queries on the real
test database."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from html import unescape

from sqlalchemy import select, update

from bot.db.models.chairs import Chair, ChairReminder, ChairReport
from bot.db.models.core import AuditLog
from bot.operations import OpsContext
from handlers.chairs import ops
from handlers.chairs.quarters import Quarter
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, csrf_from, log_in_staff, login
from tests.support.chairs import Q4, make_chair
from tests.support.inbox import add_thread
from tests.support.settings import make_settings

E, W = "东湖社区", "西园社区"


def table(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def flashes(page: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", m)).strip()
            for m in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', page, re.S)]


async def stored(db, model, *where):  # noqa: ANN001, ANN002, ANN201
    async with db() as s:
        return list(await s.scalars(select(model).where(*where).order_by(model.id)))


# ---- the registry list: filters, search, order -----------------------------------------------------

async def registry_seed(db, clock, settings) -> dict[str, Chair]:  # noqa: ANN001
    """Five chairs whose registry order differs from every order missing one of its keys."""
    made = {
        "周一": await make_chair(db, clock, settings, name="周一", org="B物流工会", community=W, mobile="13800000001"),
        "吴二": await make_chair(db, clock, settings, name="吴二", org="B物流工会", community=E, mobile="13800000002"),
        "郑三": await make_chair(db, clock, settings, name="郑三", org="A电子厂工会", community=E, mobile="13800000003"),
        "王四": await make_chair(db, clock, settings, name="王四", org="A电子厂工会", community=E, mobile="13800000004"),
        "冯五": await make_chair(db, clock, settings, name="冯五", org="A电子厂工会", community=E, mobile="13800000005"),
    }
    async with db() as s, s.begin():
        await s.execute(update(Chair).where(Chair.id == made["周一"].id).values(openid="oZhou"))
        await s.execute(update(Chair).where(Chair.id == made["王四"].id).values(openid="oWang"))
        await ops.set_active(s, OpsContext(clock, settings), made["冯五"].id, False)
        # a later change to 郑三's row (PostgreSQL then stores it after 王四's)
        await s.execute(update(Chair).where(Chair.id == made["郑三"].id).values(updated_at=clock.now()))
    return made


async def test_registry_filters_and_order_as_staff_export_them(client, db, clock, settings) -> None:  # noqa: ANN001
    await registry_seed(db, clock, settings)
    await log_in_staff(client, db)

    async def names(query: str = "") -> list[str]:
        resp = await client.get(f"/admin/chairs/registry/export.csv{'?' + query if query else ''}")
        assert resp.status == 200
        rows = table(await resp.read())
        assert rows[0] == ["社区", "单位", "主席", "手机", "微信", "状态"]
        return [r[2] for r in rows[1:]]

    # in office first, then community, unit, and the order they were added
    assert await names() == ["郑三", "王四", "吴二", "周一", "冯五"]
    assert await names(f"community={E}") == ["郑三", "王四", "吴二", "冯五"]
    assert await names(f"community={W}") == ["周一"]
    assert await names("state=active") == ["郑三", "王四", "吴二", "周一"]
    assert await names("state=inactive") == ["冯五"]
    assert await names("state=unbound") == ["郑三", "吴二"]  # in office and not bound
    assert await names(f"state=unbound&community={W}") == []

    # the search box: a name, a unit, digits of the number; % and _ are plain characters
    assert await names("q=王四") == ["王四"]
    assert await names("q=B物流") == ["吴二", "周一"]
    assert await names("q=0000003") == ["郑三"]
    assert await names("q=王_") == []
    assert await names("q=A电子_") == []
    assert await names("q=%") == []


async def test_registry_query_without_arguments_lists_everyone(db, clock, settings) -> None:  # noqa: ANN001
    made = await registry_seed(db, clock, settings)
    async with db() as s:
        everyone = list(await s.scalars(ops.registry_query()))
    assert [c.id for c in everyone] == [made[n].id for n in ("郑三", "王四", "吴二", "周一", "冯五")]


# ---- beside the inbox thread: who the chair is and their latest report ----------------------------

async def test_staff_see_the_chairs_facts_beside_their_inbox_thread(client, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)  # 王建国, 街道电子厂工会, 东湖社区
    other = await make_chair(db, clock, settings, name="李秀英", org="东湖物流工会", mobile="13800138002")
    new = await make_chair(db, clock, settings, name="张伟", org="西园机械厂工会", community=W, mobile="13800138003")
    gone = await make_chair(db, clock, settings, name="赵敏", org="南山食品厂工会", mobile="13800138004")
    async with db() as s, s.begin():
        for c, openid in ((chair, "oChair1"), (other, "oChair2"), (new, "oChair3"), (gone, "oGone")):
            await s.execute(update(Chair).where(Chair.id == c.id).values(openid=openid))
        # out of office with the account still on the row (changed outside the app, e.g. by hand)
        await s.execute(update(Chair).where(Chair.id == gone.id).values(active=False))
        for c, quarter in ((chair, "2026Q3"), (chair, "2026Q4"), (chair, "2026Q2"), (other, "2027Q1")):
            s.add(ChairReport(chair_id=c.id, quarter=quarter, channel="other", submitted_at=clock.now(),
                              updated_at=clock.now(), on_time=True))
    mine = await add_thread(db, clock, "oChair1", [("worker", "请问报送表怎么填")])
    fresh = await add_thread(db, clock, "oChair3", [("worker", "怎么绑定")])
    worker = await add_thread(db, clock, "oWorker", [("worker", "我想咨询劳动合同")])
    former = await add_thread(db, clock, "oGone", [("worker", "我已经不是主席了")])
    await log_in_staff(client, db)

    page = await (await client.get(f"/admin/inbox/{mine}")).text()
    url = f"/admin/chairs/{chair.id}"
    assert f'<span class="muted">工会主席</span> <a href="{url}">王建国 · 街道电子厂工会（东湖社区）</a>' in page
    assert f'<span class="muted">季度报送</span> <a href="{url}">最近报送：2026年第四季度</a>' in page
    assert "的信息暂时无法读取" not in page

    page = await (await client.get(f"/admin/inbox/{fresh}")).text()
    url = f"/admin/chairs/{new.id}"
    assert f'<span class="muted">工会主席</span> <a href="{url}">张伟 · 西园机械厂工会（西园社区）</a>' in page
    assert f'<span class="muted">季度报送</span> <a href="{url}">尚无报送记录</a>' in page

    for thread in (worker, former):  # not a chair, or no longer one
        page = await (await client.get(f"/admin/inbox/{thread}")).text()
        assert "工会主席" not in page and "季度报送" not in page and "的信息暂时无法读取" not in page


# ---- the quiz's chair column: the chairs in office bound to WeChat ---------------------------------

async def test_the_quiz_scores_list_only_bound_chairs_in_office(client, db, clock, settings) -> None:  # noqa: ANN001
    bound = await make_chair(db, clock, settings, name="周主席", org="丁公司工会", mobile="13700000001")
    gone = await make_chair(db, clock, settings, name="吴主席", org="戊公司工会", mobile="13700000002")
    await make_chair(db, clock, settings, name="郑主席", org="己公司工会", mobile="13700000003")  # never bound
    async with db() as s, s.begin():
        await s.execute(update(Chair).where(Chair.id == bound.id).values(openid="oChair"))
        # out of office with the account still on the row (changed outside the app, e.g. by hand)
        await s.execute(update(Chair).where(Chair.id == gone.id).values(openid="oGone", active=False))
    await log_in_staff(client, db)
    resp = await client.get("/admin/quiz/scores/export.csv?year=2026&chairs=1")
    assert resp.status == 200
    rows = table(await resp.read())
    assert [(r[1], r[5], r[7]) for r in rows[1:]] == [("周主席", "丁公司工会", "是")]


# ---- a chair's page: reports, reminders, the number after 查看 ------------------------------------

async def test_reports_of_a_chair_latest_quarter_first(db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    other = await make_chair(db, clock, settings, name="李秀英", org="东湖物流工会", mobile="13800138002")
    async with db() as s, s.begin():
        for c, quarter in ((chair, "2026Q2"), (chair, "2026Q4"), (other, "2026Q1"), (chair, "2026Q3")):
            s.add(ChairReport(chair_id=c.id, quarter=quarter, channel="other", submitted_at=clock.now(),
                              updated_at=clock.now(), on_time=True))
    async with db() as s:
        assert [r.quarter for r in await ops.reports_of(s, chair.id)] == ["2026Q4", "2026Q3", "2026Q2"]


async def test_recent_reminders_are_the_latest_thirty_of_this_chair(db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    other = await make_chair(db, clock, settings, name="李秀英", org="东湖物流工会", mobile="13800138002")
    start = datetime(2019, 1, 1, 9, 0, tzinfo=clock.tz)
    quarters = [Quarter(2019 + i // 4, i % 4 + 1) for i in range(31)]
    async with db() as s, s.begin():
        for i, q in enumerate(quarters):  # oldest first
            s.add(ChairReminder(chair_id=chair.id, quarter=q.label, stage="t-7", due_at=start + timedelta(days=91 * i),
                                status="queued", created_at=clock.now()))
        s.add(ChairReminder(chair_id=other.id, quarter="2027Q1", stage="t-7", due_at=clock.now() + timedelta(days=9),
                            status="queued", created_at=clock.now()))
    async with db() as s:
        shown = await ops.recent_reminders(s, chair.id)
    assert [r.quarter for r in shown] == [q.label for q in reversed(quarters[1:])]


async def test_the_number_shows_for_thirty_minutes_to_whoever_revealed_it(client, db, clock, settings) -> None:  # noqa: ANN001
    a = await make_chair(db, clock, settings, mobile="13800138001")
    b = await make_chair(db, clock, settings, name="李秀英", org="东湖物流工会", mobile="13800138002")
    c = await make_chair(db, clock, settings, name="张伟", org="西园机械厂工会", community=W, mobile="13800138003")
    await log_in_staff(client, db)
    await create_staff_user(db, "staff2", display_name="刘干事")

    async def page(chair: Chair) -> str:
        return await (await client.get(f"/admin/chairs/{chair.id}")).text()

    assert "13800138001" not in await page(a)
    resp = await client.post(f"/admin/chairs/{a.id}/reveal", data={"_csrf": csrf_from(await page(a))})
    assert resp.status == 200
    revealed_at = clock.now()
    assert "13800138001" in await page(a)  # a refresh keeps it
    assert "13800138002" not in await page(b)  # another chair's number stays masked
    # other audit rows of this staff member about b, c: an edit, a refused reveal
    t = await csrf_at(client, f"/admin/chairs/{b.id}")
    await client.post(f"/admin/chairs/{b.id}/edit", data={"_csrf": t, "name": "李秀英", "organisation": "东湖物流工会二",
                                                         "community": E, "mobile": ""})
    staff1 = (await stored(db, AuditLog, AuditLog.action == "chairs.reveal_mobile"))[0].staff_id
    async with db() as s, s.begin():
        s.add(AuditLog(at=clock.now(), staff_id=staff1, action=ops.REVEAL_ACTION, target=f"chair:{c.id}",
                       detail={}, refused=True))
    assert "13800138002" not in await page(b) and "13800138003" not in await page(c)
    # not for another staff member
    client.session.cookie_jar.clear()
    await login(client, "staff2", DEFAULT_PASSWORD)
    assert "13800138001" not in await page(a)
    # nor, for the one who revealed it, 30 minutes later
    client.session.cookie_jar.clear()
    await login(client)
    clock.set(revealed_at + ops.REVEAL_FOR - timedelta(seconds=1))
    assert "13800138001" in await page(a)
    async with db() as s:  # an operation without a staff member never counts as revealed
        assert not await ops.revealed_recently(s, OpsContext(clock, settings), a.id)
    clock.set(revealed_at + ops.REVEAL_FOR)
    assert "13800138001" not in await page(a)


# ---- 登记已收到 and 更正 ----------------------------------------------------------------------------

async def test_received_and_undo_store_and_say_exactly_what_happened(client, db, clock, settings) -> None:  # noqa: ANN001
    a = await make_chair(db, clock, settings)  # 王建国, 街道电子厂工会
    b = await make_chair(db, clock, settings, name="李秀英", org="东湖物流工会", mobile="13800138002")
    async with db() as s, s.begin():
        await ops.submit_report(s, OpsContext(clock, settings), a, Q4, {
            "enterprises": 20, "unionised": 19, "wage_agreements": 18, "harmonious": 10, "visits": 3,
            "problems": None, "summary": "一切正常。"})
    await log_in_staff(client, db)
    grid = "/admin/chairs?quarter=2026Q4"
    token = await csrf_at(client, grid)

    async def post(path: str, **form: str) -> list[str]:
        resp = await client.post(path, data={"_csrf": token, "back": grid, **form})
        assert resp.status == 200
        return flashes(await resp.text())

    shown = await post(f"/admin/chairs/{b.id}/received", quarter="")
    assert "没有指明是哪个季度的报送，请回到页面重新操作。" in shown
    shown = await post(f"/admin/chairs/{b.id}/received", quarter="2026Q4", note="  纸质材料  ")
    assert any(f.startswith("已登记收到东湖物流工会（李秀英）2026年第四季度的报送") for f in shown)
    [rep] = await stored(db, ChairReport, ChairReport.chair_id == b.id)
    [staff_id] = {r.staff_id for r in await stored(db, AuditLog, AuditLog.action == "chairs.received")}
    assert (rep.quarter, rep.channel, rep.note, rep.received_by, rep.on_time) == ("2026Q4", "other", "纸质材料",
                                                                                  staff_id, True)
    shown = await post(f"/admin/chairs/{b.id}/received", quarter="2026Q4")
    assert "李秀英的2026年第四季度报送已经收到，无需重复登记。" in shown
    assert len(await stored(db, ChairReport, ChairReport.chair_id == b.id)) == 1

    shown = await post(f"/admin/chairs/{b.id}/received/undo", quarter="2026Q4")
    assert any(f.startswith("已更正：撤销了东湖物流工会2026年第四季度的「已收到」登记") for f in shown)
    assert await stored(db, ChairReport, ChairReport.chair_id == b.id) == []
    shown = await post(f"/admin/chairs/{b.id}/received/undo", quarter="2026Q4")
    assert "东湖物流工会2026年第四季度的报送没有登记过，无需撤销。" in shown
    shown = await post(f"/admin/chairs/{a.id}/received/undo", quarter="2026Q4")
    assert "街道电子厂工会2026年第四季度的报送是王建国主席在微信上填报的，不能在这里撤销。" in shown
    assert len(await stored(db, ChairReport, ChairReport.chair_id == a.id)) == 1

    # 批量登记已收到: no note; a unit gone meanwhile is named as missing
    shown = await post("/admin/chairs/bulk", action="received", ids=str(b.id))
    assert any("已处理 1 条（东湖物流工会）" in f for f in shown)
    [rep] = await stored(db, ChairReport, ChairReport.chair_id == b.id)
    assert rep.note is None and rep.received_by == staff_id
    shown = await post("/admin/chairs/bulk", action="received", ids="99999")
    assert "1 条未处理：没有这位主席。" in shown


async def test_a_receipt_at_the_end_of_the_deadline_day_is_late(db, clock, settings) -> None:  # noqa: ANN001
    a = await make_chair(db, clock, settings)
    b = await make_chair(db, clock, settings, name="李秀英", org="东湖物流工会", mobile="13800138002")
    ctx = OpsContext(clock, settings)
    end = ops.deadline_end(ctx, Q4)
    clock.set(end - timedelta(seconds=1))
    async with db() as s, s.begin():
        assert (await ops.mark_received(s, ctx, a.id, Q4)).on_time
    clock.set(end)
    async with db() as s, s.begin():
        assert not (await ops.mark_received(s, ctx, b.id, Q4)).on_time


# ---- adding a chair -------------------------------------------------------------------------------

async def test_adding_a_chair_says_what_is_wrong(client, db, clock, settings) -> None:  # noqa: ANN001
    await make_chair(db, clock, settings, mobile="13800138001")
    await log_in_staff(client, db)
    good = {"name": "李秀英", "organisation": "东湖物流工会", "community": E, "mobile": "13800138002"}

    async def add(**change: str) -> list[str]:
        token = await csrf_at(client, "/admin/chairs/registry")
        resp = await client.post("/admin/chairs/registry", data={"_csrf": token, **good, **change})
        assert resp.status == 200
        return flashes(await resp.text())

    assert "手机号 13800138001 已登记过，不能重复添加。" in await add(mobile="13800138001")
    assert "姓名应为2–20个字、不含数字。" in await add(name="")
    assert "手机号“”不是11位手机号码。" in await add(mobile="")
    assert "单位不能为空。" in await add(organisation="")
    assert "社区不能为空。" in await add(community="")
    assert "单位太长了（最多128字）。" in await add(organisation="厂" * 129)
    assert "社区太长了（最多64字）。" in await add(community="社" * 65)
    assert len(await stored(db, Chair)) == 1
    assert any(f.startswith("已添加李秀英") for f in await add(organisation="厂" * 128, community="社" * 64))
    [_, chair] = await stored(db, Chair)
    assert (chair.organisation, chair.community, chair.active) == ("厂" * 128, "社" * 64, True)


def test_a_spreadsheet_number_keeps_its_digits() -> None:
    # XLSX cells give 13800138001.0
    assert ops.validate_chair("王建国", "电子厂工会", "东湖社区", 13800138001.0)["mobile"] == "13800138001"
    assert ops.validate_chair("王建国", "电子厂工会", "东湖社区", "13800138001.0")["mobile"] == "13800138001"


async def test_no_code_for_a_chair_out_of_office(client, db, clock, settings) -> None:  # noqa: ANN001
    chair = await make_chair(db, clock, settings)
    async with db() as s, s.begin():
        await ops.set_active(s, OpsContext(clock, settings), chair.id, False)
    await log_in_staff(client, db)
    token = await csrf_at(client, f"/admin/chairs/{chair.id}")
    resp = await client.post(f"/admin/chairs/{chair.id}/code", data={"_csrf": token})
    assert "该主席已停用，请先启用后再生成绑定码。" in flashes(await resp.text())


# ---- which quarter staff pages open on -------------------------------------------------------------

async def test_the_previous_quarter_stays_open_through_the_day_of_its_last_stage(clock, db_url, tmp_path) -> None:  # noqa: ANN001
    settings = make_settings(db_url, tmp_path, chairs={"deadline_day": 31})
    ctx = OpsContext(clock, settings)
    q3 = Quarter(2026, 3)
    last = max(s.day for s in ops.ladder(ctx, q3))
    assert last > ops.deadline_of(ctx, q3) and Quarter.of(last) == q3.next()  # the 通报 falls in October
    clock.set(datetime(last.year, last.month, last.day, 23, 59))
    assert ops.default_quarter(ctx) == q3
    clock.set(datetime(last.year, last.month, last.day) + timedelta(days=1))
    assert ops.default_quarter(ctx) == q3.next()
