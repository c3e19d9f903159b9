"""Sharper tests for handlers/hardship/ops.py (mutation group `ops-hardship`, part D): a 更正 of the
aid recorded keeps a request 已发放 whatever its history; on PostgreSQL the row lock of a decision
and of the worker's 补充 (two staff approving at once; material sent while staff ask for more) and
the first reference numbers; and the orders staff read on the admin pages (the 经办人 dropdown, the
list's community filter) whatever order the database reads unordered rows in."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

from sqlalchemy import text, update

from bot.db.models.core import Staff
from bot.db.models.hardship import HardshipRequest
from handlers.hardship import ops
from handlers.hardship.ops import HardshipError
from tests.hardship.test_admin import fetch, outbox_rows
from tests.hardship.test_ops_mutants_a import _add
from tests.hardship.test_ops_mutants_b import _events, _op
from tests.hardship.test_ops_mutants_c import _race, _reviewing
from tests.support.admin import create_staff_user, log_in_staff
from tests.support.hardship import ops_ctx

TODAY = date(2026, 11, 24)  # the FakeClock's day in Asia/Shanghai


@asynccontextmanager
async def unordered_reads_reversed(db) -> AsyncIterator[None]:  # noqa: ANN001
    """On SQLite, rows a query does not order come in the reverse of their usual order while the
    block runs (the pragma SQLite has for finding code that counts on an order no ORDER BY asked
    for; the test's one SQLite connection serves the app's pages too). On PostgreSQL nothing needs
    setting: a small table is read by a sequential scan, a row changed lately last."""
    if db.kw["bind"].dialect.name == "postgresql":
        yield
        return
    async with db() as s:
        await s.execute(text("PRAGMA reverse_unordered_selects = ON"))
    try:
        yield
    finally:
        async with db() as s:
            await s.execute(text("PRAGMA reverse_unordered_selects = OFF"))


def _options(page: str, name: str) -> list[tuple[str, str]]:
    """The (value, label) of each option of the page's <select name=`name`>, in order."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None, name
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1))


# --- 更正 of the aid recorded: the request stays 已发放 ---------------------------------------

async def test_fixing_the_aid_keeps_a_delivered_request_delivered_though_it_was_once_closed_rejected(db, app, clock) -> None:  # noqa: ANN001
    """A rejection closed, then reopened (结束 and the decision corrected), approved and delivered: the
    latest 结束 on its timeline came from 未通过. Correcting the amount later leaves it 已发放 — it is
    not sent back to the status that old 结束 came from."""
    req_id = await _reviewing(db, app, clock)
    await _op(db, app, ops.reject, req_id, reason="收入超过标准")
    await _op(db, app, ops.close, req_id)
    await _op(db, app, ops.correct, req_id, kind="reopen_closed", reason="结束早了")
    assert (await fetch(db, req_id)).status == "rejected"
    await _op(db, app, ops.correct, req_id, kind="reopen", reason="收入算错了")
    await _op(db, app, ops.approve, req_id)
    await _op(db, app, ops.deliver, req_id, amount=800, aid_kind="大米一袋", aid_date=TODAY)
    fix = await _op(db, app, ops.correct, req_id, kind="fix_delivery", reason="金额录错了", amount=500,
                    aid_kind="大米一袋", aid_date=TODAY)
    assert (fix.before["status"], fix.after["status"]) == ("delivered", "delivered")
    got = await fetch(db, req_id)
    assert (got.status, got.aid_amount, got.last_message) == (
        "delivered", 500, "发放内容：500.00 元，大米一袋，发放日期：2026-11-24。")
    last = (await _events(db, req_id))[-1]
    assert (last.action, last.from_status, last.to_status) == ("correct", "delivered", "delivered")
    notice = (await outbox_rows(db))[-1].payload
    assert notice["template"]["data"]["status"] == ops.WORKER_STATUS["delivered"]
    assert "更正后为：发放内容：500.00 元，大米一袋，发放日期：2026-11-24。" in notice["text"]


# --- PostgreSQL: the row lock of a decision and of the worker's 补充 ---------------------------

async def test_two_staff_approving_at_once_the_worker_is_told_once(db, app, clock, backend) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    before = len(await outbox_rows(db))
    got = await _race(db, backend,
                      lambda s: ops.approve(s, ops_ctx(app), req_id, message="请带身份证来领取"),
                      lambda s: ops.approve(s, ops_ctx(app), req_id, message="请本周内来领取"))
    assert isinstance(got, HardshipError)
    assert str(got) == f"当前状态为「{ops.STATUS_LABELS['approved']}」，不能{ops.ACTION_LABELS['approve']}。"
    assert [e.action for e in await _events(db, req_id)] == ["submit", "start_review", "approve"]
    rows = (await outbox_rows(db))[before:]
    assert [r.payload["template"]["data"]["remark"] for r in rows] == ["请带身份证来领取"]
    assert (await fetch(db, req_id)).last_message == "请带身份证来领取"


async def test_material_sent_while_staff_ask_for_more_takes_the_request_back_to_review(db, app, clock, backend) -> None:  # noqa: ANN001
    """Staff ask for more material just as the worker's 补充 arrives: the 补充 waits for the decision
    and answers it — the request is back in review, not left 待补充材料 with the material beside it."""
    req_id = await _reviewing(db, app, clock)
    got = await _race(db, backend,
                      lambda s: ops.request_more(s, ops_ctx(app), req_id, message="请补充医院诊断书"),
                      lambda s: ops.add_material(s, ops_ctx(app), req_id, text="诊断书已拍照"))
    assert isinstance(got, HardshipRequest) and got.status == "reviewing"
    assert (await fetch(db, req_id)).status == "reviewing"
    evs = await _events(db, req_id)
    assert [(e.action, e.actor, e.from_status, e.to_status) for e in evs[2:]] == [
        ("request_more", "staff", "reviewing", "waiting"), ("supplement", "worker", "waiting", "reviewing")]
    assert evs[-1].text == "诊断书已拍照"


# --- reference numbers on each database -----------------------------------------------------

async def test_reference_numbers_count_up_per_year_from_one(db, app) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        got = [await ops.next_reference(s, 2026), await ops.next_reference(s, 2026), await ops.next_reference(s, 2027)]
    assert got == ["BF-2026-0001", "BF-2026-0002", "BF-2027-0001"]
    async with db() as s, s.begin():
        assert await ops.next_reference(s, 2026) == "BF-2026-0003"


# --- the orders staff read on the admin pages -------------------------------------------------

async def test_the_assignee_dropdown_lists_staff_by_id_whatever_the_read_order(client, db, app, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)  # 张干事, the first staff member
    li = (await create_staff_user(db, "li.hong", display_name="李红")).id
    wang = (await create_staff_user(db, "wang.qiang", display_name="王强")).id
    async with db() as s, s.begin():  # an update moves the row to the end of the table on PostgreSQL
        await s.execute(update(Staff).where(Staff.id == li).values(display_name="李红霞"))
    req_id = await _reviewing(db, app, clock)
    async with unordered_reads_reversed(db):
        page = await (await client.get(f"/admin/hardship/{req_id}")).text()
    assert [label for _, label in _options(page, "assignee")] == ["未分配", "张干事", "李红霞", "王强"]
    assert [v for v, _ in _options(page, "assignee")][2:] == [str(li), str(wang)]


async def test_the_list_filter_offers_communities_in_name_order_whatever_the_read_order(client, db, app, clock) -> None:  # noqa: ANN001
    names = ["幸福社区", "东湖社区", "和平社区", "安居社区", "光明社区", "友谊社区", "长江社区", "新村社区"]
    reqs = [await _add(db, app, community=name) for name in names]
    async with db() as s, s.begin():  # updated rows move to the end of the table on PostgreSQL
        for r in reqs[::2]:
            await s.execute(update(HardshipRequest).where(HardshipRequest.id == r.id).values(updated_at=clock.now()))
    await log_in_staff(client, db)
    async with unordered_reads_reversed(db):
        page = await (await client.get("/admin/hardship")).text()
    assert _options(page, "community") == [("", "全部")] + [(n, n) for n in sorted(names)] + [("none", "未指定社区")]
