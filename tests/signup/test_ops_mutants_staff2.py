"""Sharper tests for handlers/signup/ops.py (mutation group `ops-signup`), the staff side, part 2:
代报名 and 补录到场 (seats, waitlist, which row is reused, who is told what), cancelling and editing an
activity (the notices), the follower offered for a phone number, and what 删除我的信息 strips —
direct calls of the operations on the real test database."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.db.models.core import Member
from bot.db.models.signup import Activity, Signup
from handlers.signup import ops
from tests.signup.test_ops_mutants_staff import (  # noqa: F401  (db: the fixture)
    cancel, chat_sign_up, db, local_dt, new_member, refusal_of)
from tests.support.signup import at, make_activity, ops_ctx, outbox_of, signup_row

HOW = "到场后回复「签到」加现场公布的6位数字即可签到"
WHEN = "2027年1月8日（周五）14:00–16:00"  # seen from December 2026: with the year


async def next_year_activity(db, clock, **kw) -> Activity:  # noqa: ANN001, ANN003
    """Made on 30 December 2026 for 8 January 2027 (the notices then give the year)."""
    clock.set(local_dt(2026, 12, 30, 10))
    fields = dict(title="新年技能培训", place="街道职工之家", starts_at=local_dt(2027, 1, 8, 14),
                  ends_at=local_dt(2027, 1, 8, 16), capacity=1)
    fields.update(kw)
    return await make_activity(db, clock, **fields)


async def staff_add(db, clock, act_id: int, name: str, phone: str, member_id: int | None = None,  # noqa: ANN001
                    **kw) -> ops.StaffAdd:  # noqa: ANN003
    async with db() as s, s.begin():
        m = await s.get(Member, member_id) if member_id else None
        return await ops.staff_sign_up(s, ops_ctx(clock), act_id, name=name, phone=phone, member=m, **kw)


async def record(db, clock, act_id: int, name: str, phone: str, member_id: int | None = None,  # noqa: ANN001
                 **kw) -> ops.StaffAdd:  # noqa: ANN003
    async with db() as s, s.begin():
        m = await s.get(Member, member_id) if member_id else None
        return await ops.record_attendance(s, ops_ctx(clock), act_id, name=name, phone=phone, member=m, **kw)


async def staff_sign_up_of(s, ctx, act_id, name, phone, member_id=None):  # noqa: ANN001, ANN201
    m = await s.get(Member, member_id) if member_id else None
    return await ops.staff_sign_up(s, ctx, act_id, name=name, phone=phone, member=m)


async def rows_with_phone(db, act_id: int, phone: str) -> list[Signup]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(Signup).where(Signup.activity_id == act_id, Signup.phone == phone)
                                    .order_by(Signup.id)))


async def taken(db, act_id: int) -> int:  # noqa: ANN001
    async with db() as s:
        return (await s.get(Activity, act_id)).taken


# ---- 代报名 -------------------------------------------------------------------------------------------

async def test_staff_sign_up_seat_waitlist_notices_and_refusals(db, clock) -> None:  # noqa: ANN001
    act = await next_year_activity(db, clock)
    m = await new_member(db, clock, "oM", "王一", "13800000001")
    n = await new_member(db, clock, "oN", "王二", "13800000002")
    now = clock.now()
    first = await staff_add(db, clock, act.id, "王一", "13800000001", m)
    assert (first.outcome, first.position, first.told) == ("confirmed", 0, True)
    second = await staff_add(db, clock, act.id, "王二", "13800000002", n, employer="某物业公司")
    assert (second.outcome, second.position, second.told) == ("waitlist", 1, True)
    third = await staff_add(db, clock, act.id, "", "13900000003")  # unlinked: staff phone them
    assert (third.outcome, third.position, third.told) == ("waitlist", 2, False)
    r1, r2, r3 = [await signup_row(db, x.signup.id) for x in (first, second, third)]
    assert (r1.member_id, r1.openid, r1.name, r1.phone, r1.employer, r1.status, r1.seq, r1.confirmed_at) == (
        m, "oM", "王一", "13800000001", "", "confirmed", 1, now)
    assert (r2.member_id, r2.openid, r2.employer, r2.status, r2.seq, r2.confirmed_at) == (
        n, "oN", "某物业公司", "waitlist", 2, None)
    assert (r3.member_id, r3.openid, r3.status, r3.seq, r3.notice_key) == (None, "", "waitlist", 3, None)
    assert await taken(db, act.id) == 1
    sent = await outbox_of(db, "signup.added")
    assert [(o.openid, o.key) for o in sent] == [("oM", f"signup:added:{act.id}:{m}:1"),
                                                 ("oN", f"signup:added:{act.id}:{n}:2")]
    assert (r1.notice_key, r2.notice_key) == (sent[0].key, sent[1].key)
    assert sent[0].payload["text"] == (
        f"工作人员已为您报名「新年技能培训」。\n时间：{WHEN}\n地点：街道职工之家\n"
        f"活动前一天会提醒您；{HOW}。如不能参加，请回复「我的报名」取消，把名额留给其他职工。")
    assert sent[0].payload["template"] == {"kind": "signup_status", "data": {
        "keyword1": "新年技能培训", "keyword2": WHEN, "keyword3": "街道职工之家", "keyword4": "已报名",
        "remark": "工作人员代为报名，请准时参加"}}
    assert sent[1].payload["text"] == ("工作人员已为您登记「新年技能培训」的候补，目前排第1位。"
                                       "有人取消时会按顺序自动递补并通知您。回复「我的报名」可查看或取消。")
    assert sent[1].payload["template"] == {"kind": "signup_status", "data": {
        "keyword1": "新年技能培训", "keyword2": WHEN, "keyword3": "街道职工之家", "keyword4": "候补第1位",
        "remark": "有名额时会通知您"}}

    ctx = ops_ctx(clock)
    assert await refusal_of(db, staff_sign_up_of, ctx, act.id, "王一", "13800000001", m) == (
        "王一（138****0001）已在报名名单中：报名成功。")
    assert await refusal_of(db, staff_sign_up_of, ctx, act.id, "王二", "13800000002") == (
        "王二（138****0002）已在报名名单中：候补第1位。")
    assert await refusal_of(db, staff_sign_up_of, ctx, act.id, "张三", "13900000003") == (
        "这位职工（139****0003）已在报名名单中：候补第2位。")
    assert await refusal_of(db, staff_sign_up_of, ctx, 999999, "张三", "13900000009") == "没有这个活动。"

    clock.set(local_dt(2027, 1, 8, 14) - timedelta(seconds=1))
    assert (await staff_add(db, clock, act.id, "李四", "13900000004")).position == 3
    clock.set(local_dt(2027, 1, 8, 14))
    assert await refusal_of(db, staff_sign_up_of, ops_ctx(clock), act.id, "李五", "13900000005") == (
        "活动已经开始，请用「补录到场」登记来参加的人员。")
    await cancel(db, clock, act.id)
    assert await refusal_of(db, staff_sign_up_of, ops_ctx(clock), act.id, "李五", "13900000005") == (
        "活动已取消，不能再添加人员。")


async def test_staff_sign_up_without_waitlist_and_long_fields(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1, waitlist=False)
    long_name, long_phone, long_employer = "王" * 70, "1" * 25, "公司" * 70
    got = await staff_add(db, clock, act.id, long_name, long_phone, employer=long_employer)
    assert got.outcome == "confirmed"
    r = await signup_row(db, got.signup.id)
    assert (r.name, r.phone, r.employer) == ("王" * 64, "1" * 20, ("公司" * 70)[:128])
    assert await refusal_of(db, staff_sign_up_of, ops_ctx(clock), act.id, "李四", "13900000004") == (
        "名额已满，本活动不设候补。如需增加名额，请先「编辑」人数上限。")
    assert await taken(db, act.id) == 1


async def test_which_row_a_staff_addition_reuses(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=5)
    other = await make_activity(db, clock, title="读书会", capacity=5)
    # A follower's cancelled row is not reused for an unlinked addition with their number.
    w = await chat_sign_up(db, clock, act.id, "oW", "王五", "13800000005")
    async with db() as s, s.begin():
        assert (await ops.cancel_signup(s, ops_ctx(clock), w, (await s.get(Signup, w)).member_id)).ok
    added = await staff_add(db, clock, act.id, "王五", "13800000005")
    assert added.signup.id != w
    kept = await signup_row(db, w)
    assert (kept.status, kept.openid) == ("cancelled", "oW")
    assert (await signup_row(db, added.signup.id)).openid == ""
    # An unlinked cancelled row is reused for the same unlinked person ...
    u = await staff_add(db, clock, act.id, "赵六", "13700000006")
    async with db() as s, s.begin():
        assert (await ops.cancel_signup(s, ops_ctx(clock), u.signup.id)).ok
    again = await staff_add(db, clock, act.id, "赵六六", "13700000006")
    assert again.signup.id == u.signup.id
    reused = await signup_row(db, u.signup.id)
    assert (reused.name, reused.status, reused.cancelled_at) == ("赵六六", "confirmed", None)
    # ... but not for a follower staff confirmed.
    async with db() as s, s.begin():
        assert (await ops.cancel_signup(s, ops_ctx(clock), u.signup.id)).ok
    lm = await new_member(db, clock, "oL", "赵六", "13700000006")
    linked = await staff_add(db, clock, act.id, "赵六", "13700000006", lm)
    assert linked.signup.id != u.signup.id
    assert [(r.member_id, r.status) for r in await rows_with_phone(db, act.id, "13700000006")] == [
        (None, "cancelled"), (lm, "confirmed")]
    # Signed up on another activity: no bar here (by member, and by phone).
    m = await new_member(db, clock, "oM", "王一", "13800000001")
    await staff_add(db, clock, other.id, "王一", "13800000001", m)
    await staff_add(db, clock, other.id, "孙七", "13600000007")
    assert (await staff_add(db, clock, act.id, "王一", "13800000001", m)).outcome == "confirmed"
    assert (await staff_add(db, clock, act.id, "孙七", "13600000007")).outcome == "confirmed"


async def test_the_followers_own_row_and_the_latest_live_row_decide(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)
    a = await chat_sign_up(db, clock, act.id, "oA", "王一", "13800000001")
    member_a = (await signup_row(db, a)).member_id
    # staff type another number for the follower: their own row is found all the same
    assert await refusal_of(db, staff_sign_up_of, ops_ctx(clock), act.id, "王一", "13800000099", member_a) == (
        "王一（138****0001）已在报名名单中：报名成功。")
    # two followers share a number: the latest of their live rows is named
    await chat_sign_up(db, clock, act.id, "oB", "王二", "13800000001")
    assert await refusal_of(db, staff_sign_up_of, ops_ctx(clock), act.id, "某人", "13800000001") == (
        "王二（138****0001）已在报名名单中：候补第1位。")
    assert len(await rows_with_phone(db, act.id, "13800000001")) == 2


# ---- 补录到场 -----------------------------------------------------------------------------------------

async def test_record_attendance_rows_seats_and_refusals(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=1)
    a = await chat_sign_up(db, clock, act.id, "oA", "王一", "13800000001")
    b = await chat_sign_up(db, clock, act.id, "oB", "王二", "13800000002")  # waitlist
    c = await chat_sign_up(db, clock, act.id, "oC", "王三", "13800000003")  # waitlist, then cancelled
    async with db() as s, s.begin():
        assert (await ops.cancel_signup(s, ops_ctx(clock), c)).ok
    before = {sid: await signup_row(db, sid) for sid in (a, b, c)}
    ma, mc = before[a].member_id, before[c].member_id
    clock.set(at(26, 14) - timedelta(seconds=1))
    assert await refusal_of(db, ops.record_attendance, ops_ctx(clock), act.id, name="王一", phone="13800000001") == (
        "活动还没有开始，请用「代报名」。")
    clock.set(at(26, 14))
    now = clock.now()
    got = await record(db, clock, act.id, "王一", "13800000099", ma)  # found as the follower, whatever the number
    assert (got.signup.id, got.outcome, got.told) == (a, "attended", False)
    ra = await signup_row(db, a)
    assert (ra.status, ra.seq, ra.confirmed_at, ra.attended_at, ra.checkin_via, ra.phone) == (
        "confirmed", before[a].seq, before[a].confirmed_at, now, "record", "13800000001")
    assert await taken(db, act.id) == 1  # already held a seat
    assert await refusal_of(db, ops.record_attendance, ops_ctx(clock), act.id, name="王一", phone="13800000001") == (
        "王一（138****0001）已签到，无需重复登记。")

    got = await record(db, clock, act.id, "王二二", "13800000002")  # the waitlisted row, by number
    assert got.signup.id == b
    rb = await signup_row(db, b)
    assert (rb.name, rb.status, rb.confirmed_at, rb.attended_at, rb.checkin_via) == (
        "王二", "confirmed", now, now, "record")
    assert rb.seq > before[b].seq
    assert await taken(db, act.id) == 2  # past the capacity: they did come

    got = await record(db, clock, act.id, "王三", "13800000003", mc, employer="某物业公司")
    assert got.signup.id == c
    rc = await signup_row(db, c)
    assert (rc.status, rc.cancelled_at, rc.employer, rc.member_id, rc.openid, rc.attended_at) == (
        "confirmed", None, "某物业公司", mc, "oC", now)
    assert await taken(db, act.id) == 3

    got = await record(db, clock, act.id, "", "13700000006")
    rn = await signup_row(db, got.signup.id)
    assert got.signup.id not in (a, b, c)
    assert (rn.name, rn.employer, rn.openid, rn.member_id, rn.status, rn.checkin_via) == (
        "", "", "", None, "confirmed", "record")
    assert await taken(db, act.id) == 4
    assert await refusal_of(db, ops.record_attendance, ops_ctx(clock), act.id, name="周六", phone="13700000006") == (
        "这位职工（137****0006）已签到，无需重复登记。")
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Signup)) == 4
    assert await outbox_of(db, "signup.added") == [] and await outbox_of(db, "signup.promoted") == []


# ---- cancelling and editing an activity --------------------------------------------------------------

async def people_in_seq_order_differing_from_ids(db, clock, act: Activity) -> tuple[int, int]:  # noqa: ANN001
    """W1 and W2 sign up; W1 cancels (W2 promoted), then W1 signs up again (waitlist, a later seq on
    the older row). An unlinked addition, a cancelled follower, and another activity's sign-up
    are never told."""
    w1 = await chat_sign_up(db, clock, act.id, "oW1", "王一", "13800000001")
    w2 = await chat_sign_up(db, clock, act.id, "oW2", "王二", "13800000002")
    m1 = (await signup_row(db, w1)).member_id
    async with db() as s, s.begin():
        assert (await ops.cancel_signup(s, ops_ctx(clock), w1, m1)).promoted.id == w2
    async with db() as s, s.begin():
        r = await ops.sign_up(s, ops_ctx(clock), act.id, await s.get(Member, m1), name="王一", phone="13800000001")
        assert (r.outcome, r.signup.id) == ("waitlist", w1)
    await staff_add(db, clock, act.id, "张三", "13900000003")
    w3 = await chat_sign_up(db, clock, act.id, "oW3", "王三", "13800000003")
    async with db() as s, s.begin():
        assert (await ops.cancel_signup(s, ops_ctx(clock), w3)).ok
    other = await make_activity(db, clock, title="读书会", starts_at=act.starts_at, ends_at=act.ends_at)
    await chat_sign_up(db, clock, other.id, "oX", "李四", "13800000004")
    return w1, w2


async def test_cancel_activity_tells_the_live_followers_in_order(db, clock) -> None:  # noqa: ANN001
    act = await next_year_activity(db, clock)
    w1, w2 = await people_in_seq_order_differing_from_ids(db, clock, act)
    now = clock.now()
    assert await cancel(db, clock, act.id, "场地维修") == 2
    sent = await outbox_of(db, "signup.cancelled")
    assert [o.openid for o in sent] == ["oW2", "oW1"]  # in sign-up order
    for o, sid in zip(sent, (w2, w1)):
        r = await signup_row(db, sid)
        assert o.key == f"signup:cancelled:{act.id}:{r.member_id}" and r.notice_key == o.key
        assert o.payload["text"] == (f"很抱歉通知您：您报名的「新年技能培训」（{WHEN}）已取消（原因：场地维修）。"
                                     "给您带来不便，敬请谅解。更多活动请回复「报名」查看。")
        assert o.payload["template"] == {"kind": "signup_status", "data": {
            "keyword1": "新年技能培训", "keyword2": WHEN, "keyword3": "街道职工之家", "keyword4": "活动已取消",
            "remark": "场地维修"}}
    async with db() as s:
        got = await s.get(Activity, act.id)
        assert (got.status, got.cancel_reason, got.cancelled_at) == ("cancelled", "场地维修", now)
    assert await cancel(db, clock, act.id, "再取消一次") == 0
    assert len(await outbox_of(db, "signup.cancelled")) == 2
    assert await refusal_of(db, ops.cancel_activity, ops_ctx(clock), 999999) == "没有这个活动。"


async def test_cancel_activity_without_reason_and_a_long_reason(db, clock) -> None:  # noqa: ANN001
    act = await next_year_activity(db, clock)
    await chat_sign_up(db, clock, act.id, "oA", "王一", "13800000001")
    async with db() as s, s.begin():
        assert await ops.cancel_activity(s, ops_ctx(clock), act.id) == 1  # no reason given
    [o] = await outbox_of(db, "signup.cancelled")
    assert o.payload["text"] == (f"很抱歉通知您：您报名的「新年技能培训」（{WHEN}）已取消。"
                                 "给您带来不便，敬请谅解。更多活动请回复「报名」查看。")
    assert o.payload["template"]["data"]["remark"] == "活动取消"
    long = await next_year_activity(db, clock, title="读书会")
    await cancel(db, clock, long.id, "因" * 250)
    async with db() as s:
        assert (await s.get(Activity, act.id)).cancel_reason == ""
        assert (await s.get(Activity, long.id)).cancel_reason == "因" * 200


def edit_fields(act: Activity, **kw) -> dict:  # noqa: ANN003
    f = dict(kind=act.kind, title=act.title, description=act.description, place=act.place, starts_at=act.starts_at,
             ends_at=act.ends_at, capacity=act.capacity, deadline=None, waitlist=act.waitlist, audience=act.audience)
    f.update(kw)
    return f


async def test_update_activity_tells_of_a_new_place_and_keeps_the_deadline(db, clock) -> None:  # noqa: ANN001
    act = await next_year_activity(db, clock)
    w1, w2 = await people_in_seq_order_differing_from_ids(db, clock, act)
    now = clock.now()
    deadline = local_dt(2027, 1, 7, 18)
    async with db() as s, s.begin():
        got, told = await ops.update_activity(s, ops_ctx(clock), act.id,
                                              **edit_fields(act, place="文体中心三楼", deadline=deadline))
    assert told == 2
    async with db() as s:
        assert (await s.get(Activity, act.id)).deadline == deadline
    sent = await outbox_of(db, "signup.changed")
    assert [o.openid for o in sent] == ["oW2", "oW1"]
    for o, sid, how in zip(sent, (w2, w1), (f"{HOW}。", "")):  # the waitlisted one is not told how to check in
        r = await signup_row(db, sid)
        assert o.key == f"signup:changed:{act.id}:{r.member_id}:{now:%Y%m%d%H%M%S%f}" and r.notice_key == o.key
        assert o.payload["text"] == (f"您报名的「新年技能培训」时间或地点有变动，请留意：\n时间：{WHEN}\n地点：文体中心三楼\n"
                                     f"{how}如不能参加，请回复「我的报名」取消，把名额留给其他职工。")
        assert o.payload["template"] == {"kind": "signup_status", "data": {
            "keyword1": "新年技能培训", "keyword2": WHEN, "keyword3": "文体中心三楼", "keyword4": "时间或地点变动",
            "remark": "请按新的时间地点参加"}}
    ctx = ops_ctx(clock)
    assert await refusal_of(db, ops.update_activity, ctx, 999999, **edit_fields(act)) == "没有这个活动。"
    await cancel(db, clock, act.id)
    assert await refusal_of(db, ops.update_activity, ctx, act.id, **edit_fields(act)) == "活动已取消，不能再修改。"


# ---- the follower offered for a number (代报名) -------------------------------------------------------

async def test_find_follower_by_phone(db, clock) -> None:  # noqa: ANN001
    spaced = await new_member(db, clock, "oA", " 王 一 ", "13800000001")
    unnamed = await new_member(db, clock, "oB", None, "13800000002")
    await new_member(db, clock, "oC", "张三", "13800000003")
    await new_member(db, clock, "oD", "张三丰", "13800000003")
    async with db() as s:
        assert await ops.find_follower(s, phone="", name="王一") == (None, "")
        assert await ops.find_follower(s, phone="13800000009", name="王一") == (None, "")
        assert await ops.find_follower(s, phone="13800000003", name="张三") == (
            None, "这个手机号对应多位微信用户，无法确定是哪一位，本次不关联微信。")
        got, note = await ops.find_follower(s, phone="13800000001", name="王一")
        assert note == ""
        assert (got.member_id, got.name, got.phone_masked, got.last_seen, got.name_mismatch) == (
            spaced, "王 一", "138****0001", clock.now(), False)  # spaces aside, the same name
        got, _ = await ops.find_follower(s, phone="13800000001", name=" 王  一")
        assert got.name_mismatch is False
        got, _ = await ops.find_follower(s, phone="13800000001", name="王二")
        assert got.name_mismatch is True
        got, note = await ops.find_follower(s, phone="13800000002", name="李四")
        assert (got.member_id, got.name, got.phone_masked, got.name_mismatch, note) == (
            unnamed, "", "138****0002", False, "")
        assert (await ops.member_by_id(s, unnamed)).openid == "oB"


# ---- 删除我的信息: what is stripped -------------------------------------------------------------------

async def test_erasure_strips_everything_that_names_the_person(db, clock) -> None:  # noqa: ANN001
    past = await make_activity(db, clock, title="已结束的培训")
    coming = await make_activity(db, clock, title="将来的培训", starts_at=at(28, 9), ends_at=at(28, 11))
    p = await chat_sign_up(db, clock, past.id, "oA", "王一", "13800000001")
    member_id = (await signup_row(db, p)).member_id
    async with db() as s, s.begin():
        await ops.staff_sign_up(s, ops_ctx(clock), coming.id, name="王一", phone="13800000001",
                                employer="某物业公司", member=await s.get(Member, member_id))
    clock.set(at(27, 9))
    asked = clock.now()
    async with db() as s, s.begin():
        out = await ops.erase_member_signups(s, ops_ctx(clock), member_id)
    assert out.erased == 1 and [a.title for _, a in out.kept] == ["将来的培训"]
    r = await signup_row(db, p)
    assert (r.name, r.phone, r.employer, r.openid, r.member_id, r.notice_key, r.erase_requested_at,
            r.updated_at, r.status) == ("", "", "", "", None, None, asked, asked, "confirmed")
    clock.set(at(28, 12))
    async with db() as s, s.begin():
        assert await ops.erase_pending_signups(s, ops_ctx(clock)) == 1
    async with db() as s:
        k = await s.scalar(select(Signup).where(Signup.activity_id == coming.id))
    assert (k.name, k.phone, k.employer, k.openid, k.member_id, k.notice_key, k.erase_requested_at,
            k.updated_at) == ("", "", "", "", None, None, asked, clock.now())


# ---- a row read earlier in the same session is read afresh ------------------------------------------
# (the admin reads the sign-up before the operation, e.g. `_get_signup` before 更正, and a worker may
# change it in between: here the change is written past the session's copy, as another transaction's)

async def changed_meanwhile(s, sid: int, **values) -> Signup:  # noqa: ANN001, ANN003
    """The session's copy, read first (and held: the session keeps only what is referenced), then the
    row changed underneath it."""
    held = await s.get(Signup, sid)
    await s.execute(update(Signup).where(Signup.id == sid).values(**values)
                    .execution_options(synchronize_session=False))
    return held


async def test_operations_read_the_signup_afresh(db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=3)
    a = await chat_sign_up(db, clock, act.id, "oA", "王一", "13800000001")
    b = await chat_sign_up(db, clock, act.id, "oB", "王二", "13800000002")
    c = await chat_sign_up(db, clock, act.id, "oC", "王三", "13800000003")
    ma = (await signup_row(db, a)).member_id
    clock.set(at(26, 13, 30))
    came = clock.now()
    async with db() as s, s.begin():
        held = await changed_meanwhile(s, b, attended_at=came, checkin_via="code")  # the worker checked in
        got = await ops.undo_check_in(s, ops_ctx(clock), act.id, b)
        assert (got.was_at, got.was_via, got.told) == (came, "code", True) and got.signup is held
    async with db() as s, s.begin():
        held = await changed_meanwhile(s, b, attended_at=came, checkin_via="code")
        out = await ops.staff_check_in_many(s, ops_ctx(clock), act.id, [b])
        assert (out.done, out.already) == ([], [held])
    async with db() as s, s.begin():
        held = await changed_meanwhile(s, c, status="cancelled", cancelled_at=came)  # the worker cancelled
        with pytest.raises(ops.SignupError) as e:
            await ops.staff_check_in(s, ops_ctx(clock), act.id, c)
        assert str(e.value) == "王三的报名已取消，只有报名成功的人员可以签到。" and held.status == "cancelled"
    async with db() as s, s.begin():
        held = await changed_meanwhile(s, a, status="cancelled", cancelled_at=came)
        r = await ops.check_in(s, ops_ctx(clock), await s.get(Activity, act.id), ma, via="code")
        assert r.outcome == "not_signed" and r.signup is held
    clock.set(at(25, 9))
    async with db() as s, s.begin():
        held = await changed_meanwhile(s, a, status="confirmed", cancelled_at=None)  # signed up again in the chat
        with pytest.raises(ops.SignupError) as e:
            await ops.staff_sign_up(s, ops_ctx(clock), act.id, name="王一", phone="13800000001",
                                    member=await s.get(Member, ma))
        assert str(e.value) == "王一（138****0001）已在报名名单中：报名成功。" and held.status == "confirmed"
    async with db() as s, s.begin():
        held = await changed_meanwhile(s, a, status="cancelled", cancelled_at=came)  # cancelled again meanwhile
        got = await ops.staff_sign_up(s, ops_ctx(clock), act.id, name="王一", phone="13800000001")
        assert got.signup is not held and held.status == "cancelled"  # a follower's cancelled row is not taken
