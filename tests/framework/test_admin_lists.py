"""The declarative admin lists (bot/admin/lists.py) over HTTP: sorting, pages, exports, bulk
actions with CSRF, the permission hook, and parameters that must not give a 5xx."""
from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import unquote

from aiohttp import FormData
from openpyxl import load_workbook
from sqlalchemy import select

from bot.db.models.core import AuditLog, Member, Outbox
from bot.db.models.hardship import HardshipRequest
from bot.db.models.quiz import QuizQuestion
from bot.keys import SERVICES, SETTINGS
from bot.operations import OpsContext
from handlers.chairs import ops as chairs_ops
from handlers.hardship import admin as hardship_admin, ops as hardship_ops
from tests.support.admin import csrf_from, log_in_staff
from tests.support.quiz import add_bank
from tests.support.signup import at, make_activity

ID_NUMBER = "11010519491231002X"
BULK_FORM = re.compile(r'<form id="lv-bulk" method="post" action="([^"]+)"')
BACK = re.compile(r'name="back" value="([^"]*)"')


def ops_ctx(app, clock) -> OpsContext:  # noqa: ANN001
    return OpsContext(clock, app[SETTINGS], app[SERVICES])


async def seed(db, app, clock, openid: str, name: str, income: float = 3000.0, **data):  # noqa: ANN001, ANN003, ANN201
    now = clock.now()
    async with db() as s, s.begin():
        s.add(Member(openid=openid, first_seen=now, last_seen=now))
        await s.flush()
        return await hardship_ops.submit_request(
            s, ops_ctx(app, clock), openid=openid, consent_version="2026-1",
            data={"kind": "因病", "description": "住院", "household": 2, "income": income, "expenses": 0,
                  "name": name, "phone": "13900000001", "employer": "某厂", "id_number": ID_NUMBER, **data})


async def statuses(db) -> dict[str, str]:  # noqa: ANN001
    async with db() as s:
        return {r.name: r.status for r in await s.scalars(select(HardshipRequest))}


def names_in_order(page: str, names: list[str]) -> list[str]:
    return sorted((n for n in names if n in page), key=page.index)


async def test_hardship_bulk_start_review_with_csrf(client, db, app, clock):  # noqa: ANN001
    a = await seed(db, app, clock, "oA", "赵一")
    b = await seed(db, app, clock, "oB", "钱二")
    c = await seed(db, app, clock, "oC", "孙三")
    async with db() as s, s.begin():
        await hardship_ops.start_review(s, ops_ctx(app, clock), c.id)  # already in review
    await log_in_staff(client, db)

    page = await (await client.get("/admin/hardship?kind=因病")).text()
    assert "批量开始审核" in page and 'data-confirm="将所选 {n} 份申请' in page
    action = unescape(BULK_FORM.search(page).group(1))
    back = unescape(BACK.search(page).group(1))
    assert action == "/admin/hardship/bulk" and unquote(back) == "/admin/hardship?kind=因病"
    token = csrf_from(page)

    # without the session's token nothing happens
    resp = await client.post(action, data={"_csrf": "forged", "action": "start_review", "ids": [str(a.id)]})
    assert resp.status == 403 and "页面已过期" in await resp.text()
    assert (await statuses(db))["赵一"] == "submitted"

    resp = await client.post(action, data=[("_csrf", token), ("action", "start_review"), ("back", back),
                                           ("ids", str(a.id)), ("ids", str(b.id)), ("ids", str(c.id))],
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == back  # back to the same filters
    assert await statuses(db) == {"赵一": "reviewing", "钱二": "reviewing", "孙三": "reviewing"}
    listed = await (await client.get(back)).text()
    assert "批量开始审核：已处理 2 条（BF-2026-0001、BF-2026-0002）" in listed
    assert "1 条未处理：BF-2026-0003：" in listed and "「审核中」，不能开始审核" in listed

    async with db() as s:
        audits = [(r.action, r.target) for r in await s.scalars(select(AuditLog).order_by(AuditLog.id))
                  if r.action.startswith("hardship.")]
        notices = [o.openid for o in await s.scalars(select(Outbox).where(Outbox.purpose == "hardship.status")
                                                     .order_by(Outbox.id))]
    # audited and told exactly as the detail page's button does, once per request
    assert audits == [("hardship.start_review", "BF-2026-0001"), ("hardship.start_review", "BF-2026-0002")]
    assert notices == ["oC", "oA", "oB"]

    # nothing ticked, an unknown action, a foreign "back": refused politely, back to the list
    resp = await client.post(action, data={"_csrf": token, "action": "start_review", "back": "https://evil.example/"},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/hardship"
    assert "请先勾选要开始审核的记录" in await (await client.get("/admin/hardship")).text()
    resp = await client.post(action, data={"_csrf": token, "action": "approve", "ids": str(a.id)})
    assert "没有这个批量操作" in await resp.text()


async def test_hardship_sorting_is_whitelisted(client, db, app, clock):  # noqa: ANN001
    await seed(db, app, clock, "oA", "赵一", income=5000)
    clock.advance(days=1)
    await seed(db, app, clock, "oB", "钱二", income=1000)
    clock.advance(days=1)
    await seed(db, app, clock, "oC", "孙三", income=3000)
    await log_in_staff(client, db)
    names = ["赵一", "钱二", "孙三"]

    page = await (await client.get("/admin/hardship")).text()
    assert names_in_order(page, names) == ["孙三", "钱二", "赵一"]  # default: newest first
    assert 'href="/admin/hardship?sort=created"' in page  # a header link (and the sort box) sorts
    page = await (await client.get("/admin/hardship?sort=per_capita")).text()
    assert names_in_order(page, names) == ["钱二", "孙三", "赵一"]
    page = await (await client.get("/admin/hardship?sort=-per_capita&kind=因病")).text()
    assert names_in_order(page, names) == ["赵一", "孙三", "钱二"]
    assert '<option value="-per_capita" selected>' in page
    page = await (await client.get("/admin/hardship?sort=created")).text()
    assert names_in_order(page, names) == ["赵一", "钱二", "孙三"]
    # only declared sort keys: anything else is the default order, never SQL
    for bad in ("name", "id;drop", "-description", "__class__"):
        resp = await client.get(f"/admin/hardship?sort={bad}")
        assert resp.status == 200 and names_in_order(await resp.text(), names) == ["孙三", "钱二", "赵一"]
    # the export follows the list's order
    resp = await client.get("/admin/hardship/export.csv?sort=per_capita")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert [r[4] for r in rows[1:]] == ["钱二", "孙三", "赵一"]


async def test_bad_parameters_give_a_page_not_a_crash(client, db, app, clock):  # noqa: ANN001
    await seed(db, app, clock, "oA", "赵一")
    await log_in_staff(client, db)
    for query in ("page=99999999999999999999", "page=-3", "page=abc", "from=0001-01-01&to=9999-12-31",
                  "from=2026-02-30", "status=nope&kind=%00", "q=" + "长" * 500, "tier=none&erase=2"):
        resp = await client.get("/admin/hardship?" + query)
        assert resp.status == 200, query
    assert "赵一" in await (await client.get("/admin/hardship?from=0001-01-01")).text()  # ignored, not applied
    for path in ("/admin/signup?page=1e9", "/admin/chairs/registry?community=%FF", "/admin/quiz/questions?q=%23999999999999"):
        assert (await client.get(path)).status == 200, path


async def test_permission_hook_guards_view_export_and_actions(client, db, app, clock, monkeypatch):  # noqa: ANN001
    req = await seed(db, app, clock, "oA", "赵一")
    await log_in_staff(client, db)
    token = csrf_from(await (await client.get("/admin/hardship")).text())

    monkeypatch.setattr(hardship_admin.REQUESTS, "permission", lambda staff, what: what == "view")
    page = await (await client.get("/admin/hardship")).text()
    assert "赵一" in page and "导出 CSV" not in page and "批量开始审核" not in page
    resp = await client.get("/admin/hardship/export.xlsx")
    assert resp.status == 403 and "没有权限" in await resp.text()
    resp = await client.post("/admin/hardship/bulk", data={"_csrf": token, "action": "start_review", "ids": str(req.id)})
    assert resp.status == 403
    assert (await statuses(db))["赵一"] == "submitted"
    async with db() as s:
        assert await s.scalar(select(AuditLog).where(AuditLog.action == "hardship.export")) is None

    monkeypatch.setattr(hardship_admin.REQUESTS, "permission", lambda staff, what: False)
    resp = await client.get("/admin/hardship")
    assert resp.status == 403 and "赵一" not in await resp.text()


async def test_signup_list_pages_sorts_and_exports(client, db, clock, settings):  # noqa: ANN001
    for i in range(settings.admin.page_size + 1):
        await make_activity(db, clock, title=f"讲座{i:02d}", starts_at=at(26, 9, i), ends_at=at(26, 11, i),
                            place="街道职工学校" if i % 2 else "社区活动室")
    await log_in_staff(client, db)
    first = await (await client.get("/admin/signup")).text()
    assert "下一页" in first and "讲座20" in first and "讲座00" not in first  # newest start first
    assert "讲座00" in await (await client.get("/admin/signup?page=2")).text()
    page = await (await client.get("/admin/signup?sort=starts")).text()
    assert "讲座00" in page and "讲座20" not in page
    page = await (await client.get("/admin/signup?q=活动室")).text()
    assert "讲座00" in page and "讲座01" not in page and "共 11 个" in page

    resp = await client.get("/admin/signup/export.xlsx?q=活动室&sort=starts")
    assert resp.status == 200
    ws = load_workbook(io.BytesIO(await resp.read())).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("名称", "时间", "类别", "状态", "报名 / 名额", "候补", "签到", "地点", "主办")
    assert [r[0] for r in rows[1:3]] == ["讲座00", "讲座02"] and len(rows) == 12
    assert str(rows[1][1]) == "2026-11-26 09:00:00" and rows[1][3] == "报名中"
    async with db() as s:
        assert (await s.scalar(select(AuditLog).where(AuditLog.action == "signup.list_export"))).detail["rows"] == 11


async def test_chairs_registry_filters_search_and_export_masked(client, db, app, clock):  # noqa: ANN001
    async with db() as s, s.begin():
        for name, org, community, mobile in (("王建国", "东湖电子厂工会", "东湖社区", "13800138001"),
                                             ("李红", "西园机械厂工会", "西园社区", "13800138002"),
                                             ("张伟", "=东湖物流工会", "东湖社区", "13800138003")):
            await chairs_ops.add_chair(s, ops_ctx(app, clock), name=name, organisation=org, community=community,
                                       mobile=mobile)
        chair = await s.scalar(select(chairs_ops.Chair).where(chairs_ops.Chair.name == "李红"))
        await chairs_ops.set_active(s, ops_ctx(app, clock), chair.id, False)
    await log_in_staff(client, db)
    page = await (await client.get("/admin/chairs/registry?community=东湖社区")).text()
    assert "东湖电子厂工会" in page and "西园机械厂工会" not in page
    assert '<option value="西园社区">西园社区</option>' in page  # communities in use are the choices
    page = await (await client.get("/admin/chairs/registry?state=inactive")).text()
    assert "西园机械厂工会" in page and "东湖电子厂工会" not in page
    page = await (await client.get("/admin/chairs/registry?q=8002")).text()
    assert "西园机械厂工会" in page and "东湖电子厂工会" not in page and "13800138002" not in page
    orgs = ["东湖电子厂工会", "西园机械厂工会", "=东湖物流工会"]
    up = names_in_order(await (await client.get("/admin/chairs/registry?sort=organisation")).text(), orgs)
    down = names_in_order(await (await client.get("/admin/chairs/registry?sort=-organisation")).text(), orgs)
    assert len(up) == 3 and down == up[::-1]

    resp = await client.get("/admin/chairs/registry/export.csv?community=东湖社区")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert rows[0] == ["社区", "单位", "主席", "手机", "微信", "状态"]
    assert sorted(r[1] for r in rows[1:]) == ["'=东湖物流工会", "东湖电子厂工会"]  # formula-safe
    assert {r[3] for r in rows[1:]} == {"138****8001", "138****8003"} and "13800138001" not in str(rows)


async def test_quiz_bank_bulk_remove_restore_and_export_round_trip(client, db, clock):  # noqa: ANN001
    ids = await add_bank(db, clock)
    await log_in_staff(client, db)
    page = await (await client.get("/admin/quiz/questions")).text()
    assert "批量移出题库" in page and "批量恢复" not in page
    assert page.count('value="移出题库"') == 0 and page.count(">移出题库</button>") == len(ids)  # each row's button
    assert 'name="_csrf" value=""' not in page  # ...and every form carries the token
    token = csrf_from(page)
    resp = await client.post("/admin/quiz/questions/bulk", data=[
        ("_csrf", token), ("action", "remove"), ("back", "/admin/quiz/questions"),
        *(("ids", str(i)) for i in ids[:2])])
    text = await resp.text()
    assert f"批量移出题库：已处理 2 条（#{ids[0]}、#{ids[1]}）" in text
    async with db() as s:
        removed = {q.id for q in await s.scalars(select(QuizQuestion).where(QuizQuestion.deleted_at.is_not(None)))}
        audited = list(await s.scalars(select(AuditLog.target).where(AuditLog.action == "quiz.question_delete")))
    assert removed == set(ids[:2]) and sorted(audited) == sorted(f"question:{i}" for i in ids[:2])

    page = await (await client.get("/admin/quiz/questions?deleted=1")).text()
    assert "批量恢复" in page and "批量移出题库" not in page and "已移出的题目" in page
    assert 'name="deleted" value="1"' in page  # the filter form keeps the view
    resp = await client.post("/admin/quiz/questions/bulk", data={
        "_csrf": token, "action": "restore", "ids": str(ids[0]), "back": "/admin/quiz/questions?deleted=1"})
    assert f"批量恢复：已处理 1 条（#{ids[0]}）" in await resp.text()

    resp = await client.get("/admin/quiz/questions/export.xlsx")
    data = await resp.read()
    ws = load_workbook(io.BytesIO(data)).active
    header = [c.value for c in ws[1]]
    assert header[:3] == ["编号", "题干", "选项A"] and header[-4:] == ["答案", "解析", "专题", "难度"]
    assert ws.max_row == len(ids)  # the one still removed is not exported
    # the export reads back in through the import form: every question is already there
    form = FormData()
    form.add_field("_csrf", token)
    form.add_field("file", data, filename="题库.xlsx", content_type="application/octet-stream")
    text = await (await client.post("/admin/quiz/questions/import", data=form)).text()
    assert "导入完成：新增 0 道" in text and f"跳过 {len(ids) - 1} 道" in text
