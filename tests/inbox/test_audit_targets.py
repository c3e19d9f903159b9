"""G2 (docs/guarantees.md, row P9) for the inbox: an audit `target` is "the record's reference as
staff know it … Never a phone, ID number or name", and values of personal fields stay out of the
detail (security.md §6). A worker with a distinctive name and phone writes (their ID number in
the question); staff open the thread, reveal the phone, reply and note with those values in the
text, assign, close and reopen it, search the list for it — and the reveal is audited."""
from __future__ import annotations

from sqlalchemy import select

from bot.db.models.core import AuditLog
from tests.support.admin import audit_rows_holding, csrf_at, log_in_staff
from tests.support.inbox import add_member, add_thread, open_thread, send_reply

NAME, PHONE, ID_NUMBER = "欧阳咨询", "13698765432", "11010519491231002X"


async def test_inbox_audit_rows_never_name_the_worker(client, db, clock) -> None:  # noqa: ANN001
    await add_member(db, clock, "oAsk", name=NAME, phone=PHONE)
    tid = await add_thread(db, clock, "oAsk", [("worker", f"我是{NAME}，身份证{ID_NUMBER}，电话{PHONE}，想问工伤认定。")])
    await log_in_staff(client, db)
    one = f"/admin/inbox/{tid}"
    token = await csrf_at(client, one)

    async def post(path: str, **data: str) -> None:
        resp = await client.post(path, data={"_csrf": token, **data}, allow_redirects=False)
        assert resp.status == 303, (path, resp.status)

    for q in (NAME, PHONE, PHONE[-4:]):  # staff find the thread by the worker's name or phone
        assert NAME in await (await client.get(f"/admin/inbox?q={q}")).text()
    await post(f"{one}/reveal")
    assert PHONE in await (await client.get(one)).text()
    resp = await send_reply(client, tid, f"{NAME}您好，请带身份证（{ID_NUMBER}）到街道工会，我们会打{PHONE}联系您。")
    assert resp.status == 303
    await post(f"{one}/note", text=f"{NAME}（{PHONE}）已转法律援助。")
    await post(f"{one}/assign", assignee="me")
    await post(f"{one}/close")
    await post(f"{one}/reopen")
    await open_thread(client, tid)

    async with db() as s:
        rows = list(await s.scalars(select(AuditLog).order_by(AuditLog.id)))
    actions = [r.action for r in rows]
    for wanted in ("inbox.view", "inbox.reveal_phone", "inbox.reply", "inbox.note", "inbox.assign", "inbox.close",
                   "inbox.reopen"):
        assert wanted in actions, (wanted, actions)
    [reveal] = [r for r in rows if r.action == "inbox.reveal_phone"]
    assert reveal.target == f"inbox:{tid}" and not reveal.refused and reveal.staff_id is not None
    found = await audit_rows_holding(db, [NAME, PHONE, PHONE[-8:], ID_NUMBER, ID_NUMBER[-8:]])
    assert found == [], "\n".join(found)
