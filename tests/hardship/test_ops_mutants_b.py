"""Sharper tests for the staff side of handlers/hardship/ops.py (mutation group `ops-hardship`, half B):
decisions, delivery, 更正, notes, assignment, community and material added to a request — what is
stored on the request and its timeline, what the worker is told (outbox) and what staff are refused."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from bot.db.models.core import Outbox, Staff
from bot.db.models.hardship import HardshipEvent, HardshipPhoto, HardshipRequest
from bot.keys import SETTINGS
from handlers.hardship import ops
from handlers.hardship.ops import MAX_AID_AMOUNT, MAX_MESSAGE, MAX_NOTE, HardshipError
from tests.hardship.test_admin import fetch, outbox_rows
from tests.hardship.test_jobs import seed
from tests.support.hardship import ops_ctx

TODAY = date(2026, 11, 24)  # the FakeClock's day in Asia/Shanghai


async def _staff(db, clock, username: str, display_name: str = "") -> int:  # noqa: ANN001
    async with db() as s, s.begin():
        row = Staff(username=username, display_name=display_name, password_hash="x", created_at=clock.now(),
                    roles=["admin"])
        s.add(row)
        await s.flush()
        return row.id


async def _op(db, app, func, req_id: int, *, staff_id: int | None = None, **kw):  # noqa: ANN001, ANN003, ANN202
    async with db() as s, s.begin():
        return await func(s, ops_ctx(app, staff_id), req_id, **kw)


async def _refused(db, app, func, req_id: int, **kw) -> str:  # noqa: ANN001, ANN003
    with pytest.raises(HardshipError) as err:
        await _op(db, app, func, req_id, **kw)
    return str(err.value)


async def _events(db, req_id: int) -> list[HardshipEvent]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(HardshipEvent).where(HardshipEvent.request_id == req_id)
                                    .order_by(HardshipEvent.id)))


async def _photos(db, req_id: int) -> list[tuple[str, str]]:  # noqa: ANN001
    async with db() as s:
        return [(p.media_id, p.status) for p in await s.scalars(
            select(HardshipPhoto).where(HardshipPhoto.request_id == req_id).order_by(HardshipPhoto.id))]


async def _approved(db, app, clock) -> int:  # noqa: ANN001
    req = await seed(db, app, clock, online=False)
    await _op(db, app, ops.start_review, req.id)
    await _op(db, app, ops.approve, req.id)
    return req.id


# --- notes, assignment, community --------------------------------------------------------

async def test_a_note_is_internal_signed_by_its_author_and_bounded(db, app, clock) -> None:  # noqa: ANN001
    me = await _staff(db, clock, "li")
    req = await seed(db, app, clock, online=False)
    assert await _refused(db, app, ops.add_note, req.id, text="  \n ") == "备注内容不能为空。"
    assert await _refused(db, app, ops.add_note, req.id, text="字" * (MAX_NOTE + 1)) == \
        f"备注最多 {MAX_NOTE} 字（现在 {MAX_NOTE + 1} 字），请分成几条。"
    await _op(db, app, ops.add_note, req.id, staff_id=me, text=" 已电话联系 ")
    await _op(db, app, ops.add_note, req.id, staff_id=me, text="字" * MAX_NOTE)
    notes = [e for e in await _events(db, req.id) if e.action == "note"]
    assert [(e.text, e.staff_id, e.actor, e.internal) for e in notes] == [
        ("已电话联系", me, "staff", True), ("字" * MAX_NOTE, me, "staff", True)]
    assert await outbox_rows(db) == []


async def test_assigning_names_the_colleague_on_the_timeline(db, app, clock) -> None:  # noqa: ANN001
    me = await _staff(db, clock, "boss", "王主任")
    named = await _staff(db, clock, "li.hong", "李红")
    plain = await _staff(db, clock, "zhang")
    req = await seed(db, app, clock, online=False)
    assert await _refused(db, app, ops.assign, req.id, assignee_id=plain + 100) == "没有找到这位工作人员。"
    await _op(db, app, ops.assign, req.id, staff_id=me, assignee_id=named)
    assert (await fetch(db, req.id)).assigned_staff_id == named
    await _op(db, app, ops.assign, req.id, staff_id=me, assignee_id=plain)
    assert (await fetch(db, req.id)).assigned_staff_id == plain
    await _op(db, app, ops.assign, req.id, staff_id=me, assignee_id=None)
    assert (await fetch(db, req.id)).assigned_staff_id is None
    rows = [(e.action, e.text, e.staff_id, e.internal) for e in await _events(db, req.id) if e.action == "assign"]
    assert rows == [("assign", "李红", me, True), ("assign", "zhang", me, True), ("assign", "（未分配）", me, True)]


async def test_a_community_change_records_before_and_after(db, app, clock) -> None:  # noqa: ANN001
    me = await _staff(db, clock, "boss")
    req = await seed(db, app, clock, online=False)
    start = (await fetch(db, req.id)).community
    assert await _refused(db, app, ops.set_community, req.id, community=start) == "所属社区没有变化。"
    got, before = await _op(db, app, ops.set_community, req.id, staff_id=me, community="东湖社区")
    assert before == start and got.community == "东湖社区"
    got, before = await _op(db, app, ops.set_community, req.id, staff_id=me, community=None)
    assert before == "东湖社区" and got.community is None
    rows = [(e.text, e.staff_id, e.internal, e.detail) for e in await _events(db, req.id) if e.action == "community"]
    assert rows == [("东湖社区", me, True, {"from": start, "to": "东湖社区"}),
                    ("（未指定社区）", me, True, {"from": "东湖社区", "to": None})]


# --- decisions: what the worker is told, what staff are refused --------------------------

async def test_messages_to_the_worker_are_bounded_and_required_where_needed(db, app, clock) -> None:  # noqa: ANN001
    req = await seed(db, app, clock, online=False)
    await _op(db, app, ops.start_review, req.id)
    long = "字" * (MAX_MESSAGE + 1)
    assert await _refused(db, app, ops.request_more, req.id, message="  ") == "请写明需要职工补充什么材料。"
    assert await _refused(db, app, ops.request_more, req.id, message=long) == \
        f"需要补充的材料最多 {MAX_MESSAGE} 字（现在 {MAX_MESSAGE + 1} 字），请精简一下。"
    assert await _refused(db, app, ops.reject, req.id, reason=" ") == "不予通过需要填写原因。"
    assert await _refused(db, app, ops.reject, req.id, reason=long) == \
        f"不通过原因最多 {MAX_MESSAGE} 字（现在 {MAX_MESSAGE + 1} 字），请精简一下。"
    assert await _refused(db, app, ops.approve, req.id, message=long) == \
        f"给职工的留言最多 {MAX_MESSAGE} 字（现在 {MAX_MESSAGE + 1} 字），请精简一下。"
    exact = "材" * MAX_MESSAGE  # exactly the limit is accepted and sent whole
    got = await _op(db, app, ops.request_more, req.id, message=exact)
    assert got.status == "waiting" and got.last_message == exact
    row = (await outbox_rows(db))[-1]
    assert f"还需要补充一些材料：\n{exact}\n" in row.payload["text"]


async def test_an_approval_without_a_remark_sends_no_remark_line(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    ref = (await fetch(db, req_id)).ref
    row = (await outbox_rows(db))[-1]
    assert row.payload["text"] == (f"您的帮扶申请 {ref} 审核通过了。我们会尽快安排发放，届时另行通知。"
                                   "\n回复「我的申请」可随时查看。")
    assert (await fetch(db, req_id)).last_message == ""


# --- delivery -------------------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "kind", "stored", "said"), [
    (MAX_AID_AMOUNT, "", float(MAX_AID_AMOUNT), f"{MAX_AID_AMOUNT:.2f} 元"),
    (123.456, "", 123.46, "123.46 元"),
    (0.5, "", 0.5, "0.50 元"),
    (0, "大米两袋", None, "大米两袋"),
    (None, " 大米两袋 ", None, "大米两袋"),
    (300, "慰问品", 300.0, "300.00 元，慰问品"),
])
async def test_a_delivery_stores_and_tells_what_was_handed_out(db, app, clock, amount, kind, stored, said) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    got = await _op(db, app, ops.deliver, req_id, amount=amount, aid_kind=kind, aid_date=TODAY)
    assert (got.status, got.aid_amount, got.aid_kind, got.aid_date) == ("delivered", stored, kind.strip(), TODAY)
    stored_req = await fetch(db, req_id)
    assert (stored_req.aid_amount, stored_req.aid_date) == (stored, TODAY)
    row = (await outbox_rows(db))[-1]
    assert f"帮扶已发放。发放内容：{said}，发放日期：2026-11-24。\n" in row.payload["text"]
    ev = (await _events(db, req_id))[-1]
    assert ev.action == "deliver"
    assert ev.detail == {"amount": stored, "kind": kind.strip(), "date": "2026-11-24", "outbox_key": row.key}


@pytest.mark.parametrize(("amount", "kind", "day", "error"), [
    (MAX_AID_AMOUNT + 0.01, "", TODAY, f"发放金额应在 0–{MAX_AID_AMOUNT:,} 元之间，请核对。"),
    (-0.01, "大米", TODAY, f"发放金额应在 0–{MAX_AID_AMOUNT:,} 元之间，请核对。"),
    (float("nan"), "大米", TODAY, f"发放金额应在 0–{MAX_AID_AMOUNT:,} 元之间，请核对。"),
    (float("inf"), "大米", TODAY, f"发放金额应在 0–{MAX_AID_AMOUNT:,} 元之间，请核对。"),
    (None, "米" * 201, TODAY, "实物或说明最多 200 字。"),
    (0, " ", TODAY, "请填写发放金额或实物内容。"),
    (None, "", TODAY, "请填写发放金额或实物内容。"),
    (100, "", None, "请填写发放日期。"),
    (100, "", TODAY + timedelta(days=1), "登记的是已经发放的帮扶：发放日期不能晚于今天（2026-11-24）。"),
    (100, "", TODAY - timedelta(days=1), "发放日期不能早于申请提交的日期（2026-11-24），请核对。"),
])
async def test_a_delivery_is_refused_with_the_reason(db, app, clock, amount, kind, day, error) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    before = len(await outbox_rows(db))
    assert await _refused(db, app, ops.deliver, req_id, amount=amount, aid_kind=kind, aid_date=day) == error
    assert (await fetch(db, req_id)).status == "approved" and len(await outbox_rows(db)) == before


async def test_a_delivery_may_be_dated_on_the_day_of_submission_days_later(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    clock.advance(days=3)
    assert await _refused(db, app, ops.deliver, req_id, amount=None, aid_kind="米" * 200,
                          aid_date=TODAY - timedelta(days=1)) == "发放日期不能早于申请提交的日期（2026-11-24），请核对。"
    got = await _op(db, app, ops.deliver, req_id, amount=None, aid_kind="米" * 200, aid_date=TODAY)
    assert (got.status, got.aid_kind, got.aid_date) == ("delivered", "米" * 200, TODAY)


async def test_closing_tells_the_worker_nothing(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    await _op(db, app, ops.deliver, req_id, amount=100, aid_kind="", aid_date=TODAY)
    before = await outbox_rows(db)
    got = await _op(db, app, ops.close, req_id)
    assert got.status == "closed" and got.closed_at is not None
    assert len(await outbox_rows(db)) == len(before)


# --- 更正 -------------------------------------------------------------------------------------

def _tail(app) -> str:  # noqa: ANN001
    return f"\n如有疑问，欢迎{app[SETTINGS].office.call_line()}。\n回复「我的申请」可随时查看。"


async def test_reopening_a_told_rejection_apologises_and_clears_the_reason(db, app, clock) -> None:  # noqa: ANN001
    me = await _staff(db, clock, "boss")
    req = await seed(db, app, clock, online=False)
    await _op(db, app, ops.start_review, req.id)
    await _op(db, app, ops.reject, req.id, reason="收入超标")
    clock.advance(hours=1)
    fix = await _op(db, app, ops.correct, req.id, staff_id=me, kind="reopen", reason=" 看错了收入 ")
    assert fix.told is True and fix.before == {"status": "rejected"} and fix.after == {"status": "reviewing"}
    got = await fetch(db, req.id)
    assert (got.status, got.reject_reason, got.last_message) == ("reviewing", "", "")
    row = (await outbox_rows(db))[-1]
    assert row.openid == "oW1" and row.purpose == ops.NOTIFY_PURPOSE
    assert row.payload["text"] == (f"关于您的帮扶申请 {req.ref}：之前发给您的「未通过」通知有误，给您添麻烦了，非常抱歉。"
                                   "您的申请目前还在审核中，有结果会第一时间告诉您。" + _tail(app))
    assert row.payload["template"]["kind"] == ops.TEMPLATE_KIND
    assert row.payload["template"]["data"] == {"ref": req.ref, "status": "正在审核",
                                               "remark": "更正：之前的通知有误，请以本条为准", "time": "2026-11-24 11:00"}
    ev = (await _events(db, req.id))[-1]
    assert (ev.action, ev.staff_id, ev.from_status, ev.to_status, ev.text, ev.internal) == (
        "correct", me, "rejected", "reviewing", "看错了收入", True)
    assert ev.detail == {"kind": "reopen", "before": {"status": "rejected"}, "after": {"status": "reviewing"},
                         "outbox_key": row.key}
    assert got.last_notice_key == row.key and ops.worker_was_told(got)


async def test_reopening_an_approval_keeps_no_reject_reason_to_clear(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    fix = await _op(db, app, ops.correct, req_id, kind="reopen", reason="误点")
    row = (await outbox_rows(db))[-1]
    assert fix.told and "之前发给您的「审核通过，帮扶待发放」通知有误" in row.payload["text"]


async def test_undoing_a_delivery_clears_the_aid_and_says_so(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    await _op(db, app, ops.deliver, req_id, amount=200.5, aid_kind="米", aid_date=TODAY)
    fix = await _op(db, app, ops.correct, req_id, kind="undo_delivery", reason="还没发")
    assert fix.before == {"status": "delivered", "amount": 200.5, "kind": "米", "date": "2026-11-24"}
    assert fix.after == {"status": "approved"} and fix.told
    assert fix.req.id == req_id  # the page's audit entry names the request by fix.req.ref
    got = await fetch(db, req_id)
    assert (got.status, got.aid_amount, got.aid_kind, got.aid_date, got.last_message) == ("approved", None, "", None, "")
    row = (await outbox_rows(db))[-1]
    ref = got.ref
    assert row.payload["text"] == (f"关于您的帮扶申请 {ref}：之前发给您的「帮扶已发放」通知有误，给您添麻烦了，非常抱歉。"
                                   "您的申请已审核通过，帮扶正在安排，发放时会再通知您。" + _tail(app))
    assert row.payload["template"]["data"]["status"] == "审核通过，帮扶待发放"


async def test_fixing_a_delivery_replaces_it_and_tells_the_new_one(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    await _op(db, app, ops.deliver, req_id, amount=200, aid_kind="", aid_date=TODAY)
    assert await _refused(db, app, ops.correct, req_id, kind="fix_delivery", reason="r", amount=200, aid_kind="",
                          aid_date=TODAY) == "发放信息和原来一样，没有需要更正的内容。"
    assert await _refused(db, app, ops.correct, req_id, kind="fix_delivery", reason="r", amount=None, aid_kind="",
                          aid_date=TODAY) == "请填写发放金额或实物内容。"
    fix = await _op(db, app, ops.correct, req_id, kind="fix_delivery", reason="金额填错", amount=2000, aid_kind="米",
                    aid_date=TODAY)
    assert fix.before == {"status": "delivered", "amount": 200.0, "kind": "", "date": "2026-11-24"}
    assert fix.after == {"status": "delivered", "amount": 2000.0, "kind": "米", "date": "2026-11-24"}
    got = await fetch(db, req_id)
    assert (got.aid_amount, got.aid_kind, got.last_message) == (
        2000.0, "米", "发放内容：2000.00 元，米，发放日期：2026-11-24。")
    row = (await outbox_rows(db))[-1]
    assert row.payload["text"] == (f"关于您的帮扶申请 {got.ref}：之前通知的发放信息有误，非常抱歉。"
                                   "更正后为：发放内容：2000.00 元，米，发放日期：2026-11-24。" + _tail(app))


async def test_reopening_a_closed_request_restores_its_status_silently(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    await _op(db, app, ops.deliver, req_id, amount=100, aid_kind="", aid_date=TODAY)
    await _op(db, app, ops.close, req_id)
    before = len(await outbox_rows(db))
    fix = await _op(db, app, ops.correct, req_id, kind="reopen_closed", reason="结束早了")
    assert fix.told is False
    assert fix.before == {"status": "closed", "amount": 100.0, "kind": "", "date": "2026-11-24"}
    assert fix.after == {"status": "delivered", "amount": 100.0, "kind": "", "date": "2026-11-24"}
    got = await fetch(db, req_id)
    assert (got.status, got.closed_at) == ("delivered", None)
    assert len(await outbox_rows(db)) == before


async def test_a_rejected_then_closed_request_reopens_as_rejected(db, app, clock) -> None:  # noqa: ANN001
    req = await seed(db, app, clock, online=False)
    await _op(db, app, ops.start_review, req.id)
    await _op(db, app, ops.reject, req.id, reason="不符合")
    await _op(db, app, ops.close, req.id)
    fix = await _op(db, app, ops.correct, req.id, kind="reopen_closed", reason="误关")
    assert fix.before == {"status": "closed", "amount": None, "kind": "", "date": None}
    assert fix.after == {"status": "rejected"} and (await fetch(db, req.id)).status == "rejected"


async def test_a_request_closed_without_a_closing_on_its_timeline_reopens_as_delivered(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    await _op(db, app, ops.deliver, req_id, amount=100, aid_kind="", aid_date=TODAY)
    async with db() as s, s.begin():  # closed before closings were put on the timeline
        await s.execute(update(HardshipRequest).where(HardshipRequest.id == req_id)
                        .values(status="closed", closed_at=clock.now()))
    fix = await _op(db, app, ops.correct, req_id, kind="reopen_closed", reason="误关")
    assert fix.after["status"] == "delivered" and (await fetch(db, req_id)).status == "delivered"


async def test_a_fix_of_the_amount_alone_keeps_no_kind(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    await _op(db, app, ops.deliver, req_id, amount=200, aid_kind="", aid_date=TODAY)
    fix = await _op(db, app, ops.correct, req_id, kind="fix_delivery", reason="r", amount=250, aid_date=TODAY)
    assert fix.after == {"status": "delivered", "amount": 250.0, "kind": "", "date": "2026-11-24"}


async def test_a_correction_is_refused_with_the_reason(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    assert await _refused(db, app, ops.correct, req_id, kind="undo", reason="r") == "没有这种更正。"
    assert await _refused(db, app, ops.correct, req_id, kind="reopen", reason="  ") == \
        "请写明更正的原因（仅工作人员可见），方便以后查看。"
    assert await _refused(db, app, ops.correct, req_id, kind="reopen", reason="字" * (MAX_MESSAGE + 1)) == \
        f"更正原因最多 {MAX_MESSAGE} 字。"
    assert await _refused(db, app, ops.correct, req_id, kind="undo_delivery", reason="r") == \
        f"当前状态为「{ops.STATUS_LABELS['approved']}」，不能{ops.CORRECTIONS['undo_delivery'][1]}。"
    fix = await _op(db, app, ops.correct, req_id, kind="reopen", reason="字" * MAX_MESSAGE)
    assert fix.after == {"status": "reviewing"}
    async with db() as s, s.begin():
        await s.execute(update(HardshipRequest).where(HardshipRequest.id == req_id)
                        .values(status="approved", anonymised_at=clock.now()))
    assert await _refused(db, app, ops.correct, req_id, kind="reopen", reason="r") == \
        "这份申请的个人信息已经匿名化，不能再更正。"


async def test_a_correction_of_an_untold_decision_sends_nothing(db, app, clock) -> None:  # noqa: ANN001
    req_id = await _approved(db, app, clock)
    async with db() as s, s.begin():  # a request entered on paper: no WeChat account to tell
        await s.execute(update(HardshipRequest).where(HardshipRequest.id == req_id).values(openid=""))
    before = len(await outbox_rows(db))
    fix = await _op(db, app, ops.correct, req_id, kind="reopen", reason="误点")
    assert fix.told is False and len(await outbox_rows(db)) == before
    assert "outbox_key" not in (await _events(db, req_id))[-1].detail


# --- material from the worker -----------------------------------------------------------------

async def test_material_on_a_request_under_review_is_added_as_new_material(db, app, clock) -> None:  # noqa: ANN001
    req = await seed(db, app, clock, online=False, photos=())
    await _op(db, app, ops.start_review, req.id)
    await _op(db, app, ops.add_material, req.id, text=" 医院发票 ")
    await _op(db, app, ops.add_material, req.id, media_id="P1")
    async with db() as s, s.begin():
        await ops.add_material(s, ops_ctx(app, api_available=True), req.id, media_id="P2")
    evs = [e for e in await _events(db, req.id) if e.action == "material"]
    assert [(e.actor, e.staff_id, e.text, e.internal, e.detail) for e in evs] == [
        ("worker", None, "医院发票", True, {"photos": 0, "new_material": True}),
        ("worker", None, "", True, {"photos": 1, "new_material": True}),
        ("worker", None, "", True, {"photos": 1, "new_material": True})]
    assert await _photos(db, req.id) == [("P1", "offline"), ("P2", "pending")]
    got = await fetch(db, req.id)
    assert got.status == "reviewing"
    assert len(await outbox_rows(db)) == 1  # only the start of the review was told


async def test_the_first_material_on_a_waiting_request_puts_it_back_to_review_silently(db, app, clock) -> None:  # noqa: ANN001
    req = await seed(db, app, clock, online=False, photos=())
    await _op(db, app, ops.start_review, req.id)
    await _op(db, app, ops.request_more, req.id, message="请补充发票")
    before = len(await outbox_rows(db))
    got = await _op(db, app, ops.add_material, req.id, text="发票见照片")
    assert got.status == "reviewing" and len(await outbox_rows(db)) == before
    ev = (await _events(db, req.id))[-1]
    assert (ev.action, ev.actor, ev.from_status, ev.to_status, ev.text, ev.detail) == (
        "supplement", "worker", "waiting", "reviewing", "发票见照片", {"photos": 0, "new_material": True})
    assert await _photos(db, req.id) == []


async def test_material_is_refused_on_a_finished_or_anonymised_request(db, app, clock) -> None:  # noqa: ANN001
    done = await seed(db, app, clock, online=False, photos=())
    await _op(db, app, ops.start_review, done.id)
    await _op(db, app, ops.reject, done.id, reason="不符合")
    assert await _refused(db, app, ops.add_material, done.id, text="x") == "这份申请已经办结，不能再补充材料了。"
    req = await seed(db, app, clock, online=False, photos=())
    async with db() as s, s.begin():  # still open, but its personal data were anonymised
        await s.execute(update(HardshipRequest).where(HardshipRequest.id == req.id)
                        .values(anonymised_at=clock.now()))
    assert await _refused(db, app, ops.add_material, req.id, text="x") == "这份申请已经办结，不能再补充材料了。"
    assert [e.action for e in await _events(db, req.id) if e.action == "material"] == []


async def test_a_decision_is_signed_by_the_staff_member_who_took_it(db, app, clock) -> None:  # noqa: ANN001
    me = await _staff(db, clock, "boss")
    req = await seed(db, app, clock, online=False)
    await _op(db, app, ops.start_review, req.id, staff_id=me)
    ev = (await _events(db, req.id))[-1]
    assert (ev.action, ev.actor, ev.staff_id, ev.from_status, ev.to_status) == (
        "start_review", "staff", me, "submitted", "reviewing")
