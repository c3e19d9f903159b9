"""G2 (docs/guarantees.md, row P9) for sign-up: an audit `target` is "the record's reference as
staff know it … Never a phone, ID number or name", and values of personal fields stay out of the
detail (security.md §6). The whole staff workflow of an activity, through the admin site, with
distinctive names and phones — and the reveal of a phone is audited."""
from __future__ import annotations

from sqlalchemy import select

from bot.db.models.core import AuditLog, Member
from bot.db.models.signup import Signup
from handlers.signup import ops
from tests.support.admin import audit_rows_holding, csrf_at, log_in_staff
from tests.support.inbox import add_member
from tests.support.signup import make_activity, ops_ctx

WORKER = ("欧阳报名", "13912340001")  # signed up in chat (as ops stores it)
ENROLLED = ("司马代报", "13912340002")  # 代报名 typed by staff
FOLLOWER = ("诸葛关注", "13912340003")  # a follower found by phone, linked after staff confirm
LATE = ("上官补录", "13912340004")  # 补录到场 after the start


async def test_signup_audit_rows_never_name_the_worker(client, db, clock) -> None:  # noqa: ANN001
    act = await make_activity(db, clock, capacity=10)
    aid = act.id
    await add_member(db, clock, "oWorker", name=WORKER[0], phone=WORKER[1])
    await add_member(db, clock, "oFollower", name=FOLLOWER[0], phone=FOLLOWER[1])
    async with db() as s, s.begin():
        member = await s.scalar(select(Member).where(Member.openid == "oWorker"))
        worker_sid = (await ops.sign_up(s, ops_ctx(clock), aid, member, name=WORKER[0], phone=WORKER[1],
                                        employer="红星机械厂")).signup.id
    await log_in_staff(client, db)
    page = f"/admin/signup/{aid}"
    token = await csrf_at(client, page)

    async def post(path: str, **data: str):  # noqa: ANN202
        resp = await client.post(path, data={"_csrf": token, **data}, allow_redirects=False)
        assert resp.status in (200, 303), (path, resp.status)
        return resp

    assert (await client.get(page)).status == 200
    # 代报名 of someone unknown, and of a follower (offered by phone, then confirmed)
    await post(f"{page}/add", name=ENROLLED[0], phone=ENROLLED[1], employer="纺织厂")
    offered = await (await post(f"{page}/add", name=FOLLOWER[0], phone=FOLLOWER[1], employer="")).text()
    async with db() as s:
        follower_id = await s.scalar(select(Member.id).where(Member.openid == "oFollower"))
    assert str(follower_id) in offered
    await post(f"{page}/add", name=FOLLOWER[0], phone=FOLLOWER[1], employer="", link_to=str(follower_id),
               link_confirm="1")
    async with db() as s:
        sids = {r.name: r.id for r in await s.scalars(select(Signup).where(Signup.activity_id == aid))}
    assert set(sids) == {WORKER[0], ENROLLED[0], FOLLOWER[0]}
    # the worker's phone, a check-in and its correction, a batch check-in, a cancellation
    await post(f"{page}/signups/{worker_sid}/contact")
    assert WORKER[1] in await (await client.get(page)).text()
    await post(f"{page}/signups/{worker_sid}/checkin")
    await post(f"{page}/signups/{worker_sid}/uncheckin")
    await client.post(f"{page}/checkin", data=[("_csrf", token), ("ids", str(sids[ENROLLED[0]])),
                                               ("ids", str(sids[FOLLOWER[0]]))], allow_redirects=False)
    await post(f"{page}/signups/{sids[FOLLOWER[0]]}/cancel")
    for query in ("", f"?q={WORKER[0]}", f"?q={WORKER[1]}"):  # a search is what staff do to find one worker
        assert (await client.get(f"{page}/export.csv{query}")).status == 200
    assert (await client.get(f"{page}/export.xlsx")).status == 200
    assert (await client.get("/admin/signup/record/export.csv?from=2026-11-01&to=2026-11-30&by=worker")).status == 200
    # 补录到场 after the start, then the activity edited and cancelled
    clock.set(clock.now().astimezone(clock.tz).replace(day=26, hour=15))
    await post(f"{page}/add", name=LATE[0], phone=LATE[1], employer="")
    await post(f"{page}/cancel", reason="场地维修")

    async with db() as s:
        rows = list(await s.scalars(select(AuditLog).order_by(AuditLog.id)))
    actions = [r.action for r in rows]
    for wanted in ("signup.enrol", "signup.reveal_phone", "signup.checkin", "signup.checkin_undo", "signup.cancel_one",
                   "signup.export", "signup.record_export", "signup.attend", "signup.cancel"):
        assert wanted in actions, (wanted, actions)
    [reveal] = [r for r in rows if r.action == "signup.reveal_phone"]
    assert reveal.target == f"signup:{worker_sid}" and not reveal.refused and reveal.staff_id is not None
    secrets = [v for person in (WORKER, ENROLLED, FOLLOWER, LATE) for v in (person[0], person[1], person[1][-8:])]
    found = await audit_rows_holding(db, secrets)
    assert found == [], "\n".join(found)
