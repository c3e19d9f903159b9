"""Sharper tests for handlers/hardship/ops.py (mutation group `ops-hardship`, part C): the notice a
decision sends (its template fields), what the worker's 我的申请 keeps as the staff's message, the
refusals of a decision, whether a 更正 tells the worker, and — on PostgreSQL — that two people
acting on one request at once are serialised by the row lock (`get_request(lock=True)`)."""
from __future__ import annotations

import asyncio
from datetime import date, datetime

import pytest
from sqlalchemy import select, text, update

from bot.db.models.core import Staff
from bot.db.models.hardship import HardshipRequest
from handlers.hardship import ops
from handlers.hardship.ops import HardshipError
from tests.hardship.test_admin import fetch, outbox_rows
from tests.hardship.test_jobs import seed
from tests.hardship.test_ops_mutants_a import _add
from tests.support.admin import create_staff_user
from tests.hardship.test_ops_mutants_b import _events, _op, _refused
from tests.support.hardship import ops_ctx

TODAY = date(2026, 11, 24)  # the FakeClock's day in Asia/Shanghai


async def _reviewing(db, app, clock) -> int:  # noqa: ANN001
    req = await seed(db, app, clock, online=False)
    await _op(db, app, ops.start_review, req.id)
    return req.id


# --- the notice of a decision -------------------------------------------------------------

async def test_a_decision_notice_fills_the_template_with_ref_status_remark_and_local_time(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    ref = (await fetch(db, req_id)).ref
    clock.set(datetime(2026, 11, 24, 9, 5, 42))  # local time
    remark = "请" + "留" * 130 + "尾"  # longer than the template's 100 characters
    await _op(db, app, ops.approve, req_id, message=remark)
    row = (await outbox_rows(db))[-1]
    assert row.key.startswith(f"hardship:{ref}:")
    assert row.payload["template"] == {"kind": ops.TEMPLATE_KIND, "data": {
        "ref": ref, "status": ops.WORKER_STATUS["approved"], "remark": remark[:100], "time": "2026-11-24 09:05"}}
    assert len(row.payload["template"]["data"]["remark"]) == 100
    assert row.payload["text"].endswith(f"\n工作人员留言：{remark}\n回复「我的申请」可随时查看。")  # the text is whole


async def test_the_worker_keeps_the_staffs_words_of_an_approval_rejection_and_delivery(db, app, clock) -> None:  # noqa: ANN001
    approved = await _reviewing(db, app, clock)
    await _op(db, app, ops.approve, approved, message="请带身份证到工会领取")
    assert (await fetch(db, approved)).last_message == "请带身份证到工会领取"
    await _op(db, app, ops.deliver, approved, amount=800, aid_kind="大米一袋", aid_date=TODAY)
    assert (await fetch(db, approved)).last_message == "发放内容：800.00 元，大米一袋，发放日期：2026-11-24。"
    rejected = await _reviewing(db, app, clock)
    await _op(db, app, ops.reject, rejected, reason="家庭人均收入高于标准")
    got = await fetch(db, rejected)
    assert (got.status, got.reject_reason, got.last_message) == ("rejected", "家庭人均收入高于标准", "家庭人均收入高于标准")


# --- refusals and the timeline ------------------------------------------------------------

async def test_a_decision_on_an_anonymised_request_is_refused_but_it_can_be_closed(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    await _op(db, app, ops.reject, req_id, reason="不符合条件")
    async with db() as s, s.begin():
        await s.execute(update(HardshipRequest).where(HardshipRequest.id == req_id).values(anonymised_at=clock.now()))
    assert await _refused(db, app, ops.approve, req_id) == "这份申请的个人信息已经匿名化，不能再办理。"
    got = await _op(db, app, ops.close, req_id)
    assert got.status == "closed"


async def test_a_decision_out_of_turn_names_the_status_as_staff_read_it(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    assert await _refused(db, app, ops.start_review, req_id) == \
        f"当前状态为「{ops.STATUS_LABELS['reviewing']}」，不能{ops.ACTION_LABELS['start_review']}。"
    assert ops.STATUS_LABELS["reviewing"] != "reviewing"


async def test_only_closing_stamps_the_closing_time(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    await _op(db, app, ops.reject, req_id, reason="不符合条件")
    assert (await fetch(db, req_id)).closed_at is None
    clock.advance(hours=2)
    await _op(db, app, ops.close, req_id)
    assert (await fetch(db, req_id)).closed_at == clock.now()


async def test_a_note_after_the_decision_does_not_keep_the_correction_from_the_worker(db, app, clock) -> None:  # noqa: ANN001
    me = (await create_staff_user(db, "boss")).id
    req_id = await _reviewing(db, app, clock)
    await _op(db, app, ops.approve, req_id)
    await _op(db, app, ops.add_note, req_id, staff_id=me, text="已电话告知职工")
    before = len(await outbox_rows(db))
    fix = await _op(db, app, ops.correct, req_id, staff_id=me, kind="reopen", reason="收入算错了")
    assert fix.told is True
    rows = await outbox_rows(db)
    assert len(rows) == before + 1 and "之前发给您的「审核通过，帮扶待发放」通知有误" in rows[-1].payload["text"]


# --- PostgreSQL: two people acting on one request at once ----------------------------------

async def _race(db, backend: str, first, second):  # noqa: ANN001, ANN202
    """`first` runs in a transaction it keeps open; `second` starts in another; once `second` waits
    on a row lock, `first` commits. Returns what `second` returned or the HardshipError it raised."""
    if backend != "postgresql":
        pytest.skip("row locks: PostgreSQL only")
    done, hold = asyncio.Event(), asyncio.Event()

    async def run_first() -> None:
        async with db() as s, s.begin():
            await first(s)
            done.set()
            await hold.wait()

    async def run_second():  # noqa: ANN202
        try:
            async with db() as s, s.begin():
                return await second(s)
        except HardshipError as err:
            return err

    t1 = asyncio.create_task(run_first())
    await asyncio.wait_for(done.wait(), 5)
    t2 = asyncio.create_task(run_second())
    try:
        for _ in range(500):
            async with db() as s:
                if await s.scalar(text(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN "
                        "(SELECT pid FROM pg_stat_activity WHERE datname = current_database())")):
                    break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the second transaction never waited for the first")
    finally:
        hold.set()
    await t1
    return await asyncio.wait_for(t2, 5)


async def test_two_staff_deciding_at_once_the_second_sees_the_first_decision(db, app, clock, backend) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    got = await _race(db, backend,
                      lambda s: ops.approve(s, ops_ctx(app), req_id),
                      lambda s: ops.reject(s, ops_ctx(app), req_id, reason="不符合条件"))
    assert isinstance(got, HardshipError)
    assert str(got) == f"当前状态为「{ops.STATUS_LABELS['approved']}」，不能{ops.ACTION_LABELS['reject']}。"
    assert (await fetch(db, req_id)).status == "approved"
    assert [e.action for e in await _events(db, req_id)] == ["submit", "start_review", "approve"]


async def test_material_sent_while_staff_reject_is_refused_as_finished(db, app, clock, backend) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    got = await _race(db, backend,
                      lambda s: ops.reject(s, ops_ctx(app), req_id, reason="不符合条件"),
                      lambda s: ops.add_material(s, ops_ctx(app), req_id, text="补充的诊断书"))
    assert isinstance(got, HardshipError) and str(got) == "这份申请已经办结，不能再补充材料了。"
    assert "material" not in [e.action for e in await _events(db, req_id)]


async def test_two_staff_correcting_at_once_the_second_is_refused(db, app, clock, backend) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    await _op(db, app, ops.approve, req_id)
    got = await _race(db, backend,
                      lambda s: ops.correct(s, ops_ctx(app), req_id, kind="reopen", reason="看错了"),
                      lambda s: ops.correct(s, ops_ctx(app), req_id, kind="reopen", reason="也看错了"))
    assert isinstance(got, HardshipError)
    assert str(got).startswith(f"当前状态为「{ops.STATUS_LABELS['reviewing']}」，不能")
    assert [e.text for e in await _events(db, req_id) if e.action == "correct"] == ["看错了"]


# --- PostgreSQL: orders a heap scan does not keep --------------------------------------------

async def test_the_detail_page_lists_staff_by_id_even_after_one_was_renamed(db, app, clock, backend) -> None:  # noqa: ANN001
    first = (await create_staff_user(db, "li.hong")).id
    second = (await create_staff_user(db, "wang")).id
    async with db() as s, s.begin():  # an update moves the row to the end of the table on PostgreSQL
        await s.execute(update(Staff).where(Staff.id == first).values(display_name="李红"))
    req_id = await _reviewing(db, app, clock)
    async with db() as s:
        detail = await ops.request_detail(s, req_id)
    assert [st.id for st in detail.staff] == sorted([first, second])


async def test_communities_in_use_come_in_name_order(db, app, clock) -> None:  # noqa: ANN001
    names = ["幸福社区", "东湖社区", "和平社区", "安居社区", "光明社区", "友谊社区", "长江社区", "新村社区"]
    reqs = [await _add(db, app, community=name) for name in names]
    async with db() as s, s.begin():  # updated rows move to the end of the table on PostgreSQL
        for r in reqs[::2]:
            await s.execute(update(HardshipRequest).where(HardshipRequest.id == r.id).values(updated_at=clock.now()))
    async with db() as s:
        assert await ops.communities_in_use(s) == sorted(names)


async def test_an_older_rejection_is_not_reopened_beside_a_newer_open_request(db, app, clock) -> None:  # noqa: ANN001
    older = await _reviewing(db, app, clock)
    await _op(db, app, ops.reject, older, reason="不符合条件")
    newer = (await seed(db, app, clock, online=False)).id  # allowed: the older one is finished
    with pytest.raises(HardshipError) as err:
        await _op(db, app, ops.correct, older, kind="reopen", reason="看错了收入")
    assert str(err.value) == (f"这位职工还有一份进行中的申请 {(await fetch(db, newer)).ref}，同一时间只办理一份；"
                              "请先办结那一份，再更正这一份。")
    async with db() as s:
        got = await ops.open_request(s, "oW1")
        assert (got.id, got.status) == (newer, "submitted")
        assert (await ops.get_request(s, older)).status == "rejected"


async def test_a_decision_without_words_clears_the_request_for_material_it_answers(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    await _op(db, app, ops.request_more, req_id, message="请补充医院诊断书")
    await _op(db, app, ops.add_material, req_id, text="诊断书已拍照")  # the worker's 补充: back to review
    got = await fetch(db, req_id)
    assert (got.status, got.last_message) == ("reviewing", "请补充医院诊断书")  # still what was asked for
    await _op(db, app, ops.approve, req_id)
    got = await fetch(db, req_id)
    assert (got.status, got.last_message) == ("approved", "")  # 我的申请 no longer says 请补充… once approved


async def test_a_worker_with_an_open_request_cannot_submit_another(db, app, clock) -> None:  # noqa: ANN001
    first = await seed(db, app, clock, online=False)
    with pytest.raises(HardshipError) as err:
        await seed(db, app, clock, online=False)
    assert str(err.value) == f"已有一份进行中的申请 {first.ref}，办结前不能再提交新的申请。"
    async with db() as s:
        assert len(list(await s.scalars(select(HardshipRequest)))) == 1


async def test_a_request_without_description_or_phone_stores_them_empty(db, app) -> None:  # noqa: ANN001
    req = await _add(db, app, description="", phone="")
    got = await fetch(db, req.id)
    assert (got.description, got.phone, got.status) == ("", "", "submitted")


async def test_a_note_on_the_timeline_changes_no_status(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _reviewing(db, app, clock)
    await _op(db, app, ops.add_note, req_id, text="已电话联系")
    note = (await _events(db, req_id))[-1]
    assert (note.action, note.from_status, note.to_status) == ("note", "", "")
