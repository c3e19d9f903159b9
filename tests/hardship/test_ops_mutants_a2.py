"""Sharper tests for handlers/hardship/ops.py (mutation group `ops-hardship`, half A, part 2): the
staff list's filters, the self-check, what staff can do now, reveals shown again, reference
numbers and submitting — direct calls against the real test database, on both databases."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from bot.db.models.core import AuditLog, Member, Outbox
from bot.db.models.hardship import HardshipRequest
from bot.keys import SERVICES
from handlers.hardship import ops
from tests.hardship.test_ops_mutants_a import DATA, TZ, _add
from tests.support.admin import create_staff_user
from tests.support.hardship import ops_ctx
from tests.support.inbox import add_member


# --------------------------------------------------------------------------- the list's filters

async def _refs(db, stmt) -> list[str]:  # noqa: ANN001
    async with db() as s:
        return [r.ref for r in await s.scalars(stmt)]


async def test_date_filters_are_whole_local_days(db, app, clock) -> None:  # noqa: ANN001
    clock.set(datetime(2026, 11, 23, 23, 59, 59))  # local (Asia/Shanghai) times
    await _add(db, app)
    clock.set(datetime(2026, 11, 24, 0, 0, 0))
    await _add(db, app)
    clock.set(datetime(2026, 11, 24, 23, 59, 59))
    await _add(db, app)
    clock.set(datetime(2026, 11, 25, 0, 0, 0))
    await _add(db, app)
    day = date(2026, 11, 24)
    assert await _refs(db, ops.list_query(TZ, date_from=day, date_to=day)) == ["BF-2026-0003", "BF-2026-0002"]
    assert await _refs(db, ops.list_query(TZ, date_from=day)) == ["BF-2026-0004", "BF-2026-0003", "BF-2026-0002"]
    assert await _refs(db, ops.list_query(TZ, date_to=day)) == ["BF-2026-0003", "BF-2026-0002", "BF-2026-0001"]


async def test_filters_by_status_kind_tier_erase_community_and_assignee(db, app, clock) -> None:  # noqa: ANN001
    me = await create_staff_user(db, "mine")
    other = await create_staff_user(db, "other")
    a = await _add(db, app, kind="因灾", income=500.0, community="幸福社区", assigned=me.id)  # 深度困难
    b = await _add(db, app, income=3000.0, status="approved", assigned=other.id)  # 相对困难 (1500 ≤ 2400)
    c = await _add(db, app, income=9000.0, status="delivered", community="和平社区", assigned=me.id)  # no tier
    d = await _add(db, app, income=3000.0, status="waiting")
    assert (a.tier, b.tier, c.tier) == ("深度困难", "相对困难", "")
    async with db() as s, s.begin():
        (await s.get(HardshipRequest, b.id)).erase_requested_at = clock.now()
        r = await s.get(HardshipRequest, c.id)
        r.erase_requested_at = r.anonymised_at = clock.now()
    q = ops.list_query
    assert await _refs(db, q(TZ)) == [d.ref, c.ref, b.ref, a.ref]
    assert await _refs(db, q(TZ, status="approved")) == [b.ref]
    assert await _refs(db, q(TZ, kind="因灾")) == [a.ref]
    assert await _refs(db, q(TZ, tier="深度困难")) == [a.ref]
    assert await _refs(db, q(TZ, tier="none")) == [c.ref]
    assert await _refs(db, q(TZ, erase=True)) == [b.ref]
    assert await _refs(db, q(TZ, community="幸福社区")) == [a.ref]
    assert await _refs(db, q(TZ, community="none")) == [d.ref, b.ref]
    assert await _refs(db, q(TZ, mine="me", staff_id=me.id)) == [a.ref]
    assert await _refs(db, q(TZ, mine="me_all", staff_id=me.id)) == [c.ref, a.ref]
    assert await _refs(db, q(TZ, mine="me_all", staff_id=other.id)) == [b.ref]
    assert await _refs(db, q(TZ, mine="none", staff_id=me.id)) == [d.ref]
    assert await _refs(db, q(TZ, mine="me")) == []  # nobody logged in: nothing is "mine"
    assert await _refs(db, q(TZ, mine="me_all")) == []
    assert await _refs(db, q(TZ, mine="other", staff_id=me.id)) == [d.ref, c.ref, b.ref, a.ref]
    f = ops.Filters(q="  吴", tz=TZ, open_only=True)
    assert await _refs(db, ops.filtered(f)) == []
    assert await _refs(db, ops.filtered(ops.Filters(q=" 小明 ", open_only=True))) == [d.ref, b.ref, a.ref]


async def test_a_list_row_does_not_load_the_timeline_or_photos(db, app) -> None:  # noqa: ANN001
    await _add(db, app)
    async with db() as s:
        [req] = list(await s.scalars(ops.list_query(TZ)))
        with pytest.raises(Exception, match="raiseload|lazy"):
            _ = req.events
        with pytest.raises(Exception, match="raiseload|lazy"):
            _ = req.photos


# --------------------------------------------------------------------------- self-check

def test_dibao_of_the_year_or_the_latest_earlier_year() -> None:
    table = {"2024": 1000, "2026": 1200.5, "notes": 1, "2028": 1500}
    assert ops.dibao_for(table, 2023) is None
    assert ops.dibao_for(table, 2024) == 1000.0 and isinstance(ops.dibao_for(table, 2024), float)
    assert ops.dibao_for(table, 2025) == 1000.0
    assert ops.dibao_for(table, 2026) == 1200.5
    assert ops.dibao_for(table, 2027) == 1200.5
    assert ops.dibao_for(table, 2030) == 1500.0
    assert ops.dibao_for({}, 2026) is None


def test_self_check_tiers_at_their_exact_limits() -> None:
    assert ops.self_check(3000, 0, 3, 1000) == ops.SelfCheck(1000.0, 1000, "深度困难")
    assert ops.self_check(3000.03, 0, 3, 1000) == ops.SelfCheck(1000.01, 1000, "相对困难")
    assert ops.self_check(6000, 0, 3, 1000) == ops.SelfCheck(2000.0, 1000, "相对困难")
    assert ops.self_check(6000.03, 0, 3, 1000) == ops.SelfCheck(2000.01, 1000, "")
    assert ops.self_check(1000, 1500, 2, 1000) == ops.SelfCheck(0.0, 1000, "深度困难")
    assert ops.self_check(1000, 0, 0, 1000) == ops.SelfCheck(1000.0, 1000, "深度困难")
    assert ops.self_check(1000, 0, 1, None) == ops.SelfCheck(1000.0, None, "")
    assert ops.self_check(1000, 0, 1, 0.0) == ops.SelfCheck(1000.0, 0.0, "")
    assert ops.self_check(2000, 1, 3, None).per_capita == 666.33


# --------------------------------------------------------------------------- what staff can do now

def test_next_actions_and_corrections_by_status() -> None:
    def req(status: str, anonymised: bool = False) -> HardshipRequest:
        return HardshipRequest(status=status, anonymised_at=datetime(2026, 1, 1) if anonymised else None)
    assert ops.next_actions(req("submitted")) == ("start_review",)
    assert ops.next_actions(req("waiting")) == ("start_review",)
    assert ops.next_actions(req("reviewing")) == ("request_more", "approve", "reject")
    assert ops.next_actions(req("approved")) == ("deliver",)
    assert ops.next_actions(req("rejected")) == ("close",)
    assert ops.next_actions(req("rejected", anonymised=True)) == ("close",)
    assert ops.next_actions(req("reviewing", anonymised=True)) == ()
    assert ops.next_actions(req("closed")) == ()
    assert ops.corrections(req("approved")) == ("reopen",)
    assert ops.corrections(req("delivered")) == ("undo_delivery", "fix_delivery")
    assert ops.corrections(req("closed")) == ("reopen_closed",)
    assert ops.corrections(req("closed", anonymised=True)) == ()
    assert ops.corrections(req("reviewing")) == ()


async def test_recent_reveals_last_thirty_minutes_for_that_staff_member_and_request(db, app, clock) -> None:  # noqa: ANN001
    me = await create_staff_user(db, "mine")
    other = await create_staff_user(db, "other")
    t0 = clock.now()
    async with db() as s, s.begin():
        s.add_all([
            AuditLog(at=t0, staff_id=me.id, action="hardship.reveal_phone", target="BF-2026-0001"),
            AuditLog(at=t0, staff_id=me.id, action="hardship.reveal_id", target="BF-2026-0001", refused=True),
            AuditLog(at=t0, staff_id=other.id, action="hardship.reveal_id", target="BF-2026-0001"),
            AuditLog(at=t0, staff_id=me.id, action="hardship.reveal_id", target="BF-2026-0002"),
            AuditLog(at=t0, staff_id=me.id, action="hardship.view_photo", target="BF-2026-0001"),
        ])
    async with db() as s:
        assert await ops.recent_reveals(s, ops_ctx(app, staff_id=me.id), "BF-2026-0001") == {"phone"}
        assert await ops.recent_reveals(s, ops_ctx(app, staff_id=other.id), "BF-2026-0001") == {"id"}
        assert await ops.recent_reveals(s, ops_ctx(app), "BF-2026-0001") == set()
    async with db() as s, s.begin():
        s.add(AuditLog(at=t0, staff_id=me.id, action="hardship.reveal_id", target="BF-2026-0001"))
    clock.advance(minutes=30, seconds=-1)
    async with db() as s:
        assert await ops.recent_reveals(s, ops_ctx(app, staff_id=me.id), "BF-2026-0001") == {"phone", "id"}
    clock.advance(seconds=1)
    async with db() as s:
        assert await ops.recent_reveals(s, ops_ctx(app, staff_id=me.id), "BF-2026-0001") == set()


# --------------------------------------------------------------------------- numbers and the open request

async def test_reference_numbers_count_per_year(db) -> None:  # noqa: ANN001
    async with db() as s, s.begin():
        got = [await ops.next_reference(s, 2026), await ops.next_reference(s, 2026), await ops.next_reference(s, 2027),
               await ops.next_reference(s, 2026)]
    assert got == ["BF-2026-0001", "BF-2026-0002", "BF-2027-0001", "BF-2026-0003"]


async def test_the_open_request_is_the_workers_latest_unfinished_one(db, app) -> None:  # noqa: ANN001
    await _add(db, app, openid="oW1", status="approved")
    async with db() as s, s.begin():
        (await s.get(HardshipRequest, 1)).status = "waiting"
    for st in ("closed", "rejected", "delivered"):
        await _add(db, app, openid="oW2", status=st)
    await _add(db, app, openid="oW3")
    async with db() as s:
        assert (await ops.open_request(s, "oW1")).ref == "BF-2026-0001"
        assert await ops.open_request(s, "oW2") is None
        assert (await ops.open_request(s, "oW3")).ref == "BF-2026-0005"
        with pytest.raises(ops.HardshipError) as exc:
            await ops.get_request(s, 99)
        assert str(exc.value) == "没有找到这条申请。"
        assert (await ops.get_request(s, 5)).openid == "oW3"


# --------------------------------------------------------------------------- submitting

async def test_submit_checks_the_numbers_at_their_limits(db, app) -> None:  # noqa: ANN001
    bad = [({"kind": "因穷"}, "困难类型不正确，请从因病、因灾、子女就学、失业待岗、工伤、其他中选择。"),
           ({"household": 0}, "家庭人口和收入、支出需为有效数字。"),
           ({"income": -0.01}, "家庭人口和收入、支出需为有效数字。"),
           ({"expenses": -0.01}, "家庭人口和收入、支出需为有效数字。")]
    async with db() as s, s.begin():
        for change, message in bad:
            with pytest.raises(ops.HardshipError) as exc:
                await ops.submit_request(s, ops_ctx(app), openid="", consent_version="v", data={**DATA, **change})
            assert str(exc.value) == message
        req = await ops.submit_request(s, ops_ctx(app), openid="", consent_version="v",
                                       data={**DATA, "household": "1", "income": "0", "expenses": None})
    assert (req.household_size, req.monthly_income, req.fixed_expenses, req.per_capita, req.tier) == (
        1, 0.0, 0.0, 0.0, "深度困难")
    assert req.dibao == 1200.0


async def test_a_workers_request_saves_their_contact_and_community_back(db, app, clock) -> None:  # noqa: ANN001
    await add_member(db, clock, "oW1", name="旧名", phone="13900000000", community="旧社区")
    await add_member(db, clock, "oW2", name="旧名", phone="13900000000", community="旧社区")
    earlier = clock.now()
    clock.advance(minutes=5)
    async with db() as s, s.begin():
        own = await ops.submit_request(s, ops_ctx(app, api_available=True), openid="oW1", consent_version="2026-1",
                                       consent_at=earlier,
                                       data={**DATA, "name": "", "phone": "13800138000", "employer": "",
                                             "community": "", "photos": ["M1"], "id_number": "11010519491231002X"})
        staffed = await ops.submit_request(s, ops_ctx(app, staff_id=None), openid="oW2", consent_version="v",
                                           data={**DATA, "name": "新名", "community": "幸福社区"})
    async with db() as s:
        m1 = await s.scalar(select(Member).where(Member.openid == "oW1"))
        m2 = await s.scalar(select(Member).where(Member.openid == "oW2"))
    assert (m1.name, m1.phone, m1.employer, m1.community) == ("旧名", "13800138000", None, "")
    assert (m2.name, m2.phone, m2.employer, m2.community) == ("新名", "13800138000", "环卫所", "幸福社区")
    assert (own.consent_at, own.created_at, own.community, own.created_by_staff_id) == (
        earlier, clock.now(), None, None)
    assert [(p.media_id, p.status) for p in own.photos] == [("M1", "pending")]
    assert own.id_number_masked and own.id_number_masked != "11010519491231002X"
    assert own.id_number_enc and app[SERVICES]["crypto"].decrypt(own.id_number_enc) == "11010519491231002X"
    assert (staffed.consent_at, staffed.id_number_enc, staffed.id_number_masked) == (clock.now(), None, None)
    [ev] = own.events
    assert (ev.action, ev.actor, ev.staff_id, ev.to_status, ev.at) == ("submit", "worker", None, "submitted", clock.now())


async def test_a_proxy_request_leaves_the_followers_community_alone(db, app, clock) -> None:  # noqa: ANN001
    staff = await create_staff_user(db, "staff9")
    await add_member(db, clock, "oW1", name="王小明", community="旧社区")
    async with db() as s, s.begin():
        req = await ops.submit_on_behalf(s, ops_ctx(app, staff_id=staff.id), openid="oW1",
                                         data={**DATA, "community": "幸福社区", "photos": ["M1"]})
    async with db() as s:
        m = await s.scalar(select(Member).where(Member.openid == "oW1"))
    assert (m.community, req.community, req.created_by_staff_id, req.consent_version) == (
        "旧社区", "幸福社区", staff.id, "代办（本人当面同意）")
    assert [(p.media_id, p.status) for p in req.photos] == [("M1", "offline")]
    [ev] = req.events
    assert (ev.action, ev.actor, ev.staff_id) == ("submit_for", "staff", staff.id)


# --------------------------------------------------------------------------- the detail page's data

async def test_request_detail_says_to_phone_when_the_latest_notice_failed(db, app, clock) -> None:  # noqa: ANN001
    b = await create_staff_user(db, "second", display_name="李干事")
    a = await create_staff_user(db, "first")
    told = await _add(db, app, openid="oW1", income=500.0)
    other = await _add(db, app, openid="oW2")
    quiet = await _add(db, app)
    async with db() as s, s.begin():
        await ops.start_review(s, ops_ctx(app), told.id)
        await ops.request_more(s, ops_ctx(app), told.id, message="请补充住院发票")
        await ops.start_review(s, ops_ctx(app), other.id)
    async with db() as s, s.begin():  # the first notice could not be delivered, the latest went out
        first = await s.scalar(select(Outbox).where(Outbox.openid == "oW1").order_by(Outbox.id).limit(1))
        first.status = "failed"
    async with db() as s:
        d = await ops.request_detail(s, told.id)
        rows = await ops.list_rows(s, ops_ctx(app), [await s.get(HardshipRequest, i) for i in (told.id, other.id)])
    assert [n.openid for n in d.notices] == ["oW1", "oW1"] and d.notices[0].status == "failed"
    assert d.unreachable is False and d.actions == ("start_review",)
    assert [st.id for st in d.staff] == [b.id, a.id] and d.req.ref == told.ref
    assert d.check == ops.SelfCheck(250.0, 1200.0, "深度困难")
    assert [r.unreachable for r in rows] == [False, False]
    async with db() as s, s.begin():
        for o in await s.scalars(select(Outbox)):
            o.status = "unreachable"
    async with db() as s:
        assert (await ops.request_detail(s, told.id)).unreachable is True
        rows = await ops.list_rows(s, ops_ctx(app), [await s.get(HardshipRequest, i) for i in (told.id, quiet.id)])
        q = await ops.request_detail(s, quiet.id)
    assert [r.unreachable for r in rows] == [True, False]
    assert (q.notices, q.unreachable, q.actions) == ([], False, ("start_review",))
