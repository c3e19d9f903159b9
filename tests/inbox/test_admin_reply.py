"""Staff answer a worker from the admin: through the outbox to the fake WeChat API as a
customer-service message inside the 48-hour window, as a template outside it (when configured),
else `unreachable` with the phone revealed on click; refusals keep the text; a form is sent once,
also by two app instances on one database; two staff answering at once see each other."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.db.models.core import AuditLog
from bot.keys import DELIVERY, PROCESSOR, SESSIONMAKER
from tests.support.admin import create_staff_user, csrf_from, log_in_staff, login
from tests.support.inbox import (add_member, add_thread, add_worker_message, messages, open_thread, outbox_rows,
                                  form_value, send_reply, thread, threads)
from tests.support.settings import make_settings

TEMPLATE_ID = "TPL-INBOX-REPLY"


@pytest.fixture
def online(db_url, tmp_path, fake_wechat):  # noqa: ANN001, ANN201
    """Settings pointing at the fake WeChat API (templates as given)."""
    def build(**templates: str):  # noqa: ANN202
        return make_settings(db_url, tmp_path, wechat={**fake_wechat.wechat_config(), "templates": templates})
    return build


async def deliver_all(app) -> None:  # noqa: ANN001
    await app[PROCESSOR].drain()
    await app[DELIVERY].run_once()


async def staff_client(aiohttp_client, app, username: str = "staff1", name: str = "张干事"):  # noqa: ANN001, ANN201
    client = await aiohttp_client(app)
    db = app[SESSIONMAKER]
    async with db() as s:
        from bot.db.models.core import Staff
        exists = await s.scalar(select(Staff).where(Staff.username == username))
    if exists is None:
        await create_staff_user(db, username, display_name=name)
    await login(client, username)
    return client


async def test_reply_inside_the_window_reaches_wechat_as_a_customer_service_message(
        aiohttp_client, make_app, engine, online, fake_wechat, clock):  # noqa: ANN001
    app = make_app(online())
    db = app[SESSIONMAKER]
    client = await staff_client(aiohttp_client, app)
    await add_member(db, clock, "oW1", name="王小明", phone="13800138000", app_id=fake_wechat.app_id)
    tid = await add_thread(db, clock, "oW1", [("worker", "老板拖欠工资三个月了怎么办")], topic="劳动争议/讨薪")
    html, form = await open_thread(client, tid)
    assert "48 小时内可直接回复（还可发 5 条）" in html

    text = "您好，请先保留好工资条和考勤记录，我们明天上午给您打电话。\n<b>不会被当成标签</b>"
    resp = await send_reply(client, tid, text, form)
    assert resp.status == 303 and resp.headers["Location"].startswith(f"/admin/inbox/{tid}#m")
    [msg] = [m for m in await messages(db, tid) if m.sender == "staff"]
    assert msg.text == text and msg.outbox_key == f"inbox:{tid}:{msg.id}"
    [row] = await outbox_rows(db)
    assert row.key == msg.outbox_key and row.purpose == "inbox.reply" and row.payload["text"] == text
    assert "template" not in row.payload  # no template configured
    t = await thread(db, tid)
    assert not t.waiting and t.unread == 0 and t.assigned_to is not None  # whoever answers looks after it

    page = await (await client.get(f"/admin/inbox/{tid}")).text()
    assert "回复已发送" in page and "发送中" in page
    await deliver_all(app)
    assert fake_wechat.delivered_to("oW1") == [{"openid": "oW1", "kind": "text", "text": text}]
    assert fake_wechat.calls_to("/message/custom/send")[-1]["json"]["msgtype"] == "text"
    page = await (await client.get(f"/admin/inbox/{tid}")).text()
    assert "已送达" in page and "&lt;b&gt;不会被当成标签&lt;/b&gt;" in page
    async with db() as s:
        [audit] = list(await s.scalars(select(AuditLog).where(AuditLog.action == "inbox.reply")))
    assert audit.target == f"inbox:{tid}" and audit.detail["message"] == msg.id


async def test_outside_the_window_a_configured_template_is_sent(aiohttp_client, make_app, engine, online,
                                                                fake_wechat, clock):  # noqa: ANN001
    app = make_app(online(inbox_reply=TEMPLATE_ID))
    db = app[SESSIONMAKER]
    client = await staff_client(aiohttp_client, app)
    await add_member(db, clock, "oW2", name="李秀英", phone="13912345602", app_id=fake_wechat.app_id, window=False)
    tid = await add_thread(db, clock, "oW2", [("worker", "工伤认定要多久")], topic="工伤")
    html, form = await open_thread(client, tid)
    assert "回复将以模板消息通知" in html
    long_text = "工伤认定一般在受理后60日内作出决定。" * 10
    await send_reply(client, tid, long_text, form)
    [row] = await outbox_rows(db)
    data = row.payload["template"]["data"]
    assert row.payload["template"]["kind"] == "inbox_reply" and row.payload["text"] == long_text
    assert data["topic"] == "工伤" and data["reply"].endswith("…") and len(data["reply"]) == 100
    assert data["time"] and "010-12345678" in data["remark"]
    await deliver_all(app)
    [sent] = fake_wechat.delivered_to("oW2")
    assert sent["kind"] == "template" and sent["template_id"] == TEMPLATE_ID
    assert sent["client_msg_id"] == row.key and sent["data"] == {k: {"value": v} for k, v in data.items()}
    assert fake_wechat.calls_to("/message/custom/send") == []
    assert "已送达（模板消息）" in await (await client.get(f"/admin/inbox/{tid}")).text()


async def test_unreachable_shows_call_instead_and_the_phone_reveal_is_audited(
        aiohttp_client, make_app, engine, online, fake_wechat, clock):  # noqa: ANN001
    app = make_app(online())
    db = app[SESSIONMAKER]
    client = await staff_client(aiohttp_client, app)
    await add_member(db, clock, "oW3", name="陈建华", phone="13712345603", app_id=fake_wechat.app_id, window=False)
    tid = await add_thread(db, clock, "oW3", [("worker", "单位不给交社保")], topic="劳动争议/讨薪")
    html, form = await open_thread(client, tid)
    assert "无法送达·请电话联系" in html  # warned before writing
    await send_reply(client, tid, "您好，这种情况可以向社保部门投诉。", form)
    await deliver_all(app)
    assert fake_wechat.delivered == []
    [row] = await outbox_rows(db)
    assert row.status == "unreachable"

    page = await (await client.get(f"/admin/inbox/{tid}")).text()
    assert 'role="alert">' in page and "<strong>无法送达·请电话联系</strong>" in page
    assert "137****5603" in page and "13712345603" not in page
    _, form = await open_thread(client, tid)
    resp = await client.post(f"/admin/inbox/{tid}/reveal", data={"_csrf": form["_csrf"]}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/admin/inbox/{tid}#worker"
    page = await (await client.get(resp.headers["Location"])).text()
    assert 'href="tel:13712345603"' in page
    await client.get(f"/admin/inbox/{tid}")  # a refresh shows it again without a new reveal
    async with db() as s:
        reveals = list(await s.scalars(select(AuditLog).where(AuditLog.action == "inbox.reveal_phone")))
    assert [(r.target, r.detail) for r in reveals] == [(f"inbox:{tid}", {})]
    clock.advance(hours=1)  # later, the number is masked again
    assert "tel:13712345603" not in await (await client.get(f"/admin/inbox/{tid}")).text()


async def test_too_long_or_empty_replies_are_refused_and_the_text_kept(client, db, clock):  # noqa: ANN001
    await log_in_staff(client, db)
    tid = await add_thread(db, clock, "oW1", [("worker", "请问怎么申请帮扶")])
    too_long = "您好" * 342 + "。"  # 2055 bytes of UTF-8
    assert len(too_long.encode()) == 2055
    resp = await send_reply(client, tid, too_long)
    body = await resp.text()
    assert resp.status == 400 and "回复太长了" in body and "2048 字节" in body and "2055 字节" in body
    assert f">{too_long}</textarea>" in body
    resp = await send_reply(client, tid, "   \n ")
    assert resp.status == 400 and "回复内容是空的" in await resp.text()
    ok = "好" * 682  # 2046 bytes: just inside
    assert (await send_reply(client, tid, ok)).status == 303
    assert [m.text for m in await messages(db, tid) if m.sender == "staff"] == [ok]
    assert len(await outbox_rows(db)) == 1


async def test_double_submit_sends_once_and_a_colleagues_reply_is_flagged(aiohttp_client, app, db,
                                                                         clock):  # noqa: ANN001
    zhang = await staff_client(aiohttp_client, app, "staff1", "张干事")
    li = await staff_client(aiohttp_client, app, "staff2", "李干事")
    tid = await add_thread(db, clock, "oW1", [("worker", "我想咨询加班费")])
    _, zhang_form = await open_thread(zhang, tid)
    _, li_form = await open_thread(li, tid)

    first = await send_reply(zhang, tid, "加班费按工资的150%计算。", zhang_form)
    again = await send_reply(zhang, tid, "加班费按工资的150%计算。", zhang_form)  # a double click
    assert first.status == again.status == 303
    assert "刚才已经发送过了" in await (await zhang.get(again.headers["Location"])).text()
    assert len(await outbox_rows(db)) == 1

    # Li had the page open before Zhang sent: nothing goes out until Li has seen Zhang's answer.
    resp = await send_reply(li, tid, "周末加班是200%。", li_form)
    page = await resp.text()
    assert resp.status == 409 and "另一位同事刚刚回复了这位职工" in page and "还没有发出" in page
    assert "加班费按工资的150%计算。" in page and ">周末加班是200%。</textarea>" in page  # the draft is kept
    assert len(await outbox_rows(db)) == 1
    again_form = {"_csrf": csrf_from(page), "token": form_value(page, "token"), "seen": form_value(page, "seen")}
    resp = await send_reply(li, tid, "周末加班是200%。", again_form)  # sent after seeing it
    page = await (await li.get(resp.headers["Location"])).text()
    assert page.index("加班费按工资的150%计算。") < page.index("周末加班是200%。")
    assert "张干事" in page and "李干事" in page
    assert [r.payload["text"] for r in await outbox_rows(db)] == ["加班费按工资的150%计算。", "周末加班是200%。"]

    # the worker writes while Zhang is typing
    _, form = await open_thread(zhang, tid)
    await add_worker_message(db, clock, tid, "那夜班呢")
    resp = await send_reply(zhang, tid, "夜班另有补贴。", form)
    assert "职工刚刚又发来了新消息" in await (await zhang.get(resp.headers["Location"])).text()



async def test_two_app_instances_on_one_database_send_a_reply_once(aiohttp_client, make_app, engine, online,
                                                                   fake_wechat, clock, backend):  # noqa: ANN001
    settings = online()
    first, second = make_app(settings), make_app(settings)  # two worker processes, one database
    db = first[SESSIONMAKER]
    one = await staff_client(aiohttp_client, first)
    two = await staff_client(aiohttp_client, second)
    await add_member(db, clock, "oW1", app_id=fake_wechat.app_id)
    tid = await add_thread(db, clock, "oW1", [("worker", "会员卡丢了怎么补办")], topic="入会")
    _, form = await open_thread(one, tid)
    # the same form reaches both processes (a re-sent POST behind a load balancer)
    form_two = {**form, "_csrf": (await open_thread(two, tid))[1]["_csrf"]}
    results = await asyncio.gather(send_reply(one, tid, "到街道工会服务站补办。", form),
                                   send_reply(two, tid, "到街道工会服务站补办。", form_two))
    assert [r.status for r in results] == [303, 303]
    assert len([m for m in await messages(db, tid) if m.sender == "staff"]) == 1
    assert len(await outbox_rows(db)) == 1
    await asyncio.gather(first[PROCESSOR].drain(), second[PROCESSOR].drain())
    await asyncio.gather(first[DELIVERY].run_once(), second[DELIVERY].run_once())
    assert fake_wechat.delivered_to("oW1") == [{"openid": "oW1", "kind": "text", "text": "到街道工会服务站补办。"}]
    # each process shows the reply and its delivery
    for client in (one, two):
        assert "已送达" in await (await client.get(f"/admin/inbox/{tid}")).text()


async def test_a_question_from_chat_answered_from_the_admin_reaches_the_worker(
        aiohttp_client, make_app, engine, online, fake_wechat, clock):  # noqa: ANN001
    from bot.wechat.simulator import WeChatSim

    settings = online()
    app = make_app(settings)
    db = app[SESSIONMAKER]
    client = await staff_client(aiohttp_client, app)
    sim = WeChatSim(await aiohttp_client(app), path=settings.server.webhook_path, token=settings.wechat.token,
                    clock=clock)
    worker = sim.user("oChat1")
    await worker.send("单位三个月没发工资了，老板说再等等，我们该怎么办？")
    clock.advance(minutes=3)
    await worker.voice(recognition="我们一共有二十多个人<script>")
    [asked] = await threads(db)
    assert asked.openid == "oChat1" and asked.waiting

    html, form = await open_thread(client, asked.id)
    assert "单位三个月没发工资了" in html and "语音" in html and "我们一共有二十多个人&lt;script&gt;" in html
    resp = await send_reply(client, asked.id, "您好，二十多人一起被拖欠，工会可以出面协调，请留个联系电话。", form)
    assert resp.status == 303
    await deliver_all(app)
    assert fake_wechat.delivered_to("oChat1")[-1] == {
        "openid": "oChat1", "kind": "text", "text": "您好，二十多人一起被拖欠，工会可以出面协调，请留个联系电话。"}
    assert not (await thread(db, asked.id)).waiting
    assert "已送达" in await (await client.get(f"/admin/inbox/{asked.id}")).text()
