"""代办录入 links a request to a WeChat follower only when staff saw who it is and confirmed it
(a typo in a phone number must not send someone's hardship decisions to a stranger)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db.models.core import AuditLog, Member, Outbox
from bot.db.models.hardship import HardshipRequest
from tests.support.admin import csrf_at, csrf_from, log_in_staff

FORM = {"kind": "因灾", "description": "入户走访：台风损毁房屋", "household": "2", "income": "1800", "expenses": "0",
        "name": "吴六", "phone": "13700002222", "employer": "某物业公司", "id_number": "", "openid": "", "consent": "1"}


async def follower(db, clock, openid: str, phone: str, name: str | None, days_ago: int = 3) -> None:  # noqa: ANN001
    seen = clock.now() - timedelta(days=days_ago)
    async with db() as s, s.begin():
        s.add(Member(openid=openid, first_seen=seen, last_seen=seen, phone=phone, name=name))


async def requests(db) -> list[HardshipRequest]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(HardshipRequest).order_by(HardshipRequest.id)))


async def submit(client, **changes):  # noqa: ANN001, ANN201
    data = {**FORM, **changes, "_csrf": await csrf_at(client, "/admin/hardship/new")}
    return await client.post("/admin/hardship/new", data={k: v for k, v in data.items() if v is not None})


async def start_review(client, req_id: int) -> None:  # noqa: ANN001
    t = await csrf_at(client, f"/admin/hardship/{req_id}")
    await client.post(f"/admin/hardship/{req_id}/act/start_review", data={"_csrf": t})


async def outbox_to(db, openid: str) -> list[Outbox]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(Outbox).where(Outbox.openid == openid)))


async def submit_for_rows(db) -> list[AuditLog]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(AuditLog).where(AuditLog.action == "hardship.submit_for")
                                    .order_by(AuditLog.id)))


async def test_a_phone_typo_is_shown_with_the_name_mismatch_and_stays_unlinked(client, db, clock) -> None:  # noqa: ANN001
    # The phone typed belongs to someone else (a typo): their profile says 赵七, not 吴六.
    await follower(db, clock, "oStranger", "13700002222", "赵七")
    await log_in_staff(client, db)
    resp = await submit(client)
    page = await resp.text()
    assert resp.status == 200 and await requests(db) == []  # nothing stored before staff decide
    assert "请核实是不是本人" in page and "137****2222" in page and "赵七" in page
    assert "姓名不一致" in page and "「吴六」" in page
    local_seen = (clock.now() - timedelta(days=3)).astimezone(clock.tz).strftime("%Y-%m-%d %H:%M")
    assert local_seen in page  # when the follower was last seen
    assert 'name="link_to" value="oStranger"' in page and 'name="link_confirm"' in page

    # Not ticked: recorded, unlinked; the stranger hears nothing about it.
    data = {**FORM, "_csrf": csrf_from(page), "link_to": "oStranger"}
    resp = await client.post("/admin/hardship/new", data=data)
    assert "已代办录入：BF-2026-0001（未确认匹配的微信用户，未关联微信，进度请电话告知本人）" in await resp.text()
    [req] = await requests(db)
    assert req.openid == "" and req.phone == "13700002222"
    await start_review(client, req.id)
    assert await outbox_to(db, "oStranger") == []
    [row] = await submit_for_rows(db)
    assert row.detail == {"linked": False, "match_offered": True, "name_mismatch": True}
    assert row.target == "BF-2026-0001"
    async with db() as s:  # the stranger's profile was not overwritten with the worker's details
        m = await s.scalar(select(Member).where(Member.openid == "oStranger"))
    assert m.name == "赵七"


async def test_staff_confirm_the_right_follower_and_progress_reaches_them(client, db, clock) -> None:  # noqa: ANN001
    await follower(db, clock, "oWu6", "13700002222", "吴六")
    await log_in_staff(client, db)
    page = await (await submit(client)).text()
    assert "请核实是不是本人" in page and "姓名不一致" not in page
    resp = await client.post("/admin/hardship/new", data={**FORM, "_csrf": csrf_from(page), "link_to": "oWu6",
                                                           "link_confirm": "1"})
    assert "已代办录入：BF-2026-0001（已关联微信，进度会通知本人）" in await resp.text()
    [req] = await requests(db)
    assert req.openid == "oWu6"
    await start_review(client, req.id)
    assert [o.purpose for o in await outbox_to(db, "oWu6")] == ["hardship.status"]
    [row] = await submit_for_rows(db)
    assert row.detail == {"linked": True, "match_offered": True, "name_mismatch": False}


async def test_a_changed_phone_shows_the_new_match_never_links_the_old_one(client, db, clock) -> None:  # noqa: ANN001
    await follower(db, clock, "oFirst", "13700002222", "吴六")
    await follower(db, clock, "oSecond", "13700003333", "钱八")
    await log_in_staff(client, db)
    page = await (await submit(client)).text()
    assert 'value="oFirst"' in page
    # staff correct the phone, the box still ticked for the follower shown before
    resp = await client.post("/admin/hardship/new", data={**FORM, "phone": "13700003333", "_csrf": csrf_from(page),
                                                           "link_to": "oFirst", "link_confirm": "1"})
    page = await resp.text()
    assert await requests(db) == [] and 'value="oSecond"' in page and "钱八" in page and "姓名不一致" in page
    # a link to a follower who is not the match is never made, even when asked for
    resp = await client.post("/admin/hardship/new", data={**FORM, "phone": "13700009999", "_csrf": csrf_from(page),
                                                           "link_to": "oFirst", "link_confirm": "1"})
    assert "未关联微信，进度请电话告知本人" in await resp.text()
    assert [r.openid for r in await requests(db)] == [""]


async def test_no_match_and_ambiguous_numbers_are_recorded_unlinked_at_once(client, db, clock) -> None:  # noqa: ANN001
    await log_in_staff(client, db)
    resp = await submit(client)
    assert "已代办录入：BF-2026-0001（未关联微信，进度请电话告知本人）" in await resp.text()
    # two followers left the same number: no guess
    await follower(db, clock, "oTwin1", "13700004444", "吴六")
    await follower(db, clock, "oTwin2", "13700004444", "吴六")
    resp = await submit(client, phone="13700004444")
    text = await resp.text()
    assert "BF-2026-0002" in text and "对应多位微信用户" in text
    assert [r.openid for r in await requests(db)] == ["", ""]
    rows = await submit_for_rows(db)
    assert [r.detail["linked"] for r in rows] == [False, False]


async def test_a_typed_openid_is_shown_and_confirmed_too(client, db, clock) -> None:  # noqa: ANN001
    await follower(db, clock, "oTyped", "13900001111", None)  # no name in the profile: can't compare
    await log_in_staff(client, db)
    assert "没有找到这个微信用户" in await (await submit(client, openid="oNobody")).text()
    page = await (await submit(client, openid="oTyped")).text()
    assert "按微信用户编号找到的微信用户" in page and "未留姓名" in page and "139****1111" in page
    assert await requests(db) == []
    resp = await client.post("/admin/hardship/new", data={**FORM, "openid": "oTyped", "_csrf": csrf_from(page),
                                                           "link_to": "oTyped", "link_confirm": "1"})
    assert "已关联微信" in await resp.text()
    assert [r.openid for r in await requests(db)] == ["oTyped"]
