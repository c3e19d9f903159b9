"""Staff edit the common questions at /admin/faq over HTTP (with CSRF): add, refuse bad input
keeping what was typed, edit, 试一试, delete after a confirmation; every change audited."""
from __future__ import annotations

import csv
import io
import re
from html import unescape

from sqlalchemy import delete, select

from bot.db.models.core import AuditLog
from bot.db.models.inbox import FaqEntry
from tests.support.admin import csrf_at, log_in_staff

FORM = {"keywords": "社保、不交社保、断缴", "answer": "单位应当为职工缴纳社会保险。\n可以向社保部门投诉。",
        "link": "https://si.example.gov.cn/guide", "topic": "劳动争议/讨薪", "to_inbox": "1", "active": "1",
        "priority": "3"}


async def _entries(db) -> list[FaqEntry]:  # noqa: ANN001
    async with db() as s:
        return list((await s.scalars(select(FaqEntry).order_by(FaqEntry.id))).all())


async def _actions(db) -> list[str]:  # noqa: ANN001
    async with db() as s:
        return list((await s.scalars(select(AuditLog.action).order_by(AuditLog.id))).all())


async def test_add_edit_try_and_delete(client, sim, db) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    async with db() as s, s.begin():
        await s.execute(delete(FaqEntry))  # start from none (the starter entries are tested elsewhere)
    page = await (await client.get("/admin/faq")).text()
    assert "还没有常见问题" in page and "试一试" in page

    # without the CSRF token nothing happens
    refused = await client.post("/admin/faq/new", data=FORM)
    assert refused.status == 403 and await _entries(db) == []

    # bad input: the form again, in Chinese, with what was typed
    t = await csrf_at(client, "/admin/faq/new")
    bad = await client.post("/admin/faq/new", data={**FORM, "_csrf": t, "keywords": "社保、保", "link": "ftp://x"})
    html = await bad.text()
    assert bad.status == 400 and "「保」太短" in html
    assert '>社保、保</textarea>' in html and "单位应当为职工缴纳社会保险。" in html and await _entries(db) == []

    resp = await client.post("/admin/faq/new", data={**FORM, "_csrf": t}, allow_redirects=False)
    assert resp.status == 303
    [e] = await _entries(db)
    assert e.keywords == ["社保", "不交社保", "断缴"] and e.to_inbox and e.priority == 3 and e.active

    # the worker asks; the list shows the hit
    assert "单位应当为职工缴纳社会保险" in await sim.user("oS1").send("公司不给交社保怎么办？")
    page = await (await client.get("/admin/faq")).text()
    assert "社保、不交社保、断缴" in page and "同时转人工" in page
    assert re.search(r'data-label="命中次数"[^>]*>\s*1\s*<', page)

    # 试一试: a feature keyword, this entry, nothing
    page = unescape(await (await client.get("/admin/faq/try", params={"q": "帮扶"})).text())
    assert 'data-result="feature"' in page and "「困难帮扶」功能的关键词" in page
    page = unescape(await (await client.get("/admin/faq/try", params={"q": "单位断缴了半年"})).text())
    assert 'data-result="faq"' in page and "「断缴」" in page and "转到留言咨询（分类：劳动争议/讨薪）" in page
    page = unescape(await (await client.get("/admin/faq/try", params={"q": "孩子上学有补助吗"})).text())
    assert 'data-result="none"' in page and "会转到「留言咨询」" in page
    page = unescape(await (await client.get("/admin/faq/try", params={"q": "哈哈哈哈"})).text())
    assert 'data-result="none"' in page and "会收到菜单" in page

    # edit: deactivate and add a keyword a feature takes on its own (a warning, still saved)
    url = f"/admin/faq/{e.id}"
    t = await csrf_at(client, url)
    resp = await client.post(url, data={**FORM, "_csrf": t, "keywords": "社保、帮扶", "active": ""})
    page = await resp.text()
    assert resp.status == 200 and "已保存" in page and "只发「帮扶」这几个字时，会由「困难帮扶」功能回答" in page
    [e] = await _entries(db)
    assert e.keywords == ["社保", "帮扶"] and not e.active
    assert "单位应当为职工缴纳社会保险" not in await sim.user("oS2").send("公司不给交社保怎么办？")

    # a refused edit keeps the entry as it was
    bad = await client.post(url, data={**FORM, "_csrf": t, "answer": ""})
    assert bad.status == 400 and "请填写回答内容" in await bad.text()
    assert (await _entries(db))[0].keywords == ["社保", "帮扶"]

    # the export (no personal data) lists it
    table = list(csv.reader(io.StringIO((await (await client.get("/admin/faq/export.csv")).read()).decode("utf-8-sig"))))
    assert table[0][:3] == ["关键词", "回答", "分类"] and table[1][0] == "社保、帮扶"

    # delete: a confirmation page first, then the POST
    confirm = await (await client.get(f"{url}/delete")).text()
    assert "删除这条常见问题？" in confirm and "确定删除" in confirm
    t = await csrf_at(client, f"{url}/delete")
    resp = await client.post(f"{url}/delete", data={"_csrf": t}, allow_redirects=False)
    assert resp.status == 303 and await _entries(db) == []
    assert (await client.get(url)).status == 404
    assert [a for a in await _actions(db) if a.startswith("faq.")] == ["faq.create", "faq.edit", "faq.export",
                                                                        "faq.delete"]


ROW = re.compile(r'data-label="关键词"[^>]*><a [^>]*>([^<]+)</a>')


async def test_the_list_sorts_by_hits_and_searches(client, sim, db, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    # the starter entries: workers ask about wages twice, then injuries once
    await sim.user("oH1").send("老板拖欠工资三个月了怎么办")
    clock.advance(minutes=5)
    await sim.user("oH2").send("工地上拖欠工资不发")
    clock.advance(minutes=5)
    await sim.user("oH3").send("工伤认定去哪里办")
    page = await (await client.get("/admin/faq")).text()
    rows = ROW.findall(page)
    assert len(rows) == 9 and rows[0].startswith("欠薪") and rows[1].startswith("工伤")
    assert "2026-11-24 10:10" in page  # the last hit, local time
    rows = ROW.findall(await (await client.get("/admin/faq", params={"sort": "-last_hit"})).text())
    assert rows[0].startswith("工伤") and rows[1].startswith("欠薪")  # never-asked entries last
    rows = ROW.findall(await (await client.get("/admin/faq", params={"sort": "last_hit"})).text())
    assert rows[-1].startswith("工伤") and rows[-2].startswith("欠薪")
    page = await (await client.get("/admin/faq", params={"q": "入会"})).text()
    assert ROW.findall(page)[0].startswith("怎么入会")
    page = await (await client.get("/admin/faq", params={"q": "12333"})).text()  # in an answer
    assert len(re.findall(r'data-label="关键词"', page)) == 2  # unpaid wages, social insurance
