"""帮扶审核 as staff use it every day (issue 14): numbers range-checked with the input kept, reveal
as POST → 303 → GET, the way back to the filtered list, confirmations and messages, 更正 with the
worker told, 我的待办, photos with 代办录入 — over HTTP, on both databases — and the detail page
at phone width with the decisions in the first screen (Chromium)."""
from __future__ import annotations

import html
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from yarl import URL

from bot.db.models.core import AuditLog, Member, Outbox, Staff
from bot.db.models.hardship import HardshipPhoto, HardshipRequest
from bot.keys import DELIVERY, PROCESSOR, SERVICES, SESSIONMAKER
from handlers.hardship import ops
from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user, csrf_at, csrf_from, log_in_staff, login
from tests.support.fake_wechat import JPEG_BYTES
from tests.support.hardship import multipart, ops_ctx
from tests.support.settings import make_settings

ID_NUMBER = "11010519491231002X"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


async def seed(db, app, clock, *, openid="oW1", name="王小明", phone="13800138000", status="submitted",  # noqa: ANN001
               kind="因病", app_id="") -> HardshipRequest:
    now = clock.now()
    async with db() as s, s.begin():
        if openid and await s.scalar(select(Member).where(Member.openid == openid)) is None:
            s.add(Member(openid=openid, app_id=app_id, first_seen=now, last_seen=now, msg_window_at=now,
                         msg_window_used=0))
        req = await ops.submit_request(
            s, ops_ctx(app), openid=openid, consent_version="2026-1",
            data={"kind": kind, "description": "母亲住院做手术，自付医药费很多。", "household": 3, "income": 4500.0,
                  "expenses": 1500.0, "name": name, "phone": phone, "employer": "街道环卫所", "id_number": ID_NUMBER})
        if status != "submitted":
            await ops.start_review(s, ops_ctx(app), req.id)
        if status in ("approved", "delivered"):
            await ops.approve(s, ops_ctx(app), req.id)
        return req


async def fetch(db, req_id: int) -> HardshipRequest:  # noqa: ANN001
    async with db() as s:
        return await s.get(HardshipRequest, req_id)


async def outbox_rows(db, openid: str | None = None) -> list[Outbox]:  # noqa: ANN001
    async with db() as s:
        stmt = select(Outbox).order_by(Outbox.id)
        return list(await s.scalars(stmt.where(Outbox.openid == openid) if openid else stmt))


async def audit_rows(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


async def post_on(client, req_id: int, path: str, **data):  # noqa: ANN001, ANN201
    token = await csrf_at(client, f"/admin/hardship/{req_id}")
    return await client.post(f"/admin/hardship/{req_id}/{path}", data={"_csrf": token, **data})


def form_of(page: str, action_part: str) -> str:
    """The <form …> tag whose action contains `action_part` (and its attributes)."""
    match = re.search(r'<form[^>]*action="[^"]*' + re.escape(action_part) + r'[^"]*"[^>]*>', page)
    assert match, f"no form posting to …{action_part}"
    return html.unescape(match.group(0))


# ----------------------------------------------------------------------------- amounts
@pytest.mark.parametrize("raw, words", [
    ("1e309", "不能超过 100,000 元"), ("inf", "不是一个数字"), ("nan", "不是一个数字"), ("-200", "不能是负数"),
    ("1000001", "不能超过"), ("12.345", "两位小数"), ("两千", "不是一个数字"), ("0", "请填写发放金额或实物内容"),
])
async def test_an_aid_amount_out_of_range_is_refused_with_the_input_kept(client, db, app, clock, raw, words):  # noqa: ANN001
    req = await seed(db, app, clock, status="approved")
    await log_in_staff(client, db)
    before = len(await outbox_rows(db))
    resp = await post_on(client, req.id, "act/deliver", amount=raw, aid_kind="", aid_date="2026-11-24")
    page = await resp.text()
    assert resp.status == 400 and words in page and "没有办成" in page
    assert f'name="amount" inputmode="decimal" autocomplete="off" value="{raw}"' in page  # what was typed stays
    assert (await fetch(db, req.id)).status == "approved"
    assert len(await outbox_rows(db)) == before  # the worker is told nothing, never 「inf 元」
    [refused] = await audit_rows(db, "hardship.deliver")
    assert refused.refused and words in refused.detail["reason"]


async def test_aid_dates_and_amounts_in_range_go_through(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock, status="approved")
    await log_in_staff(client, db)
    for date_, words in (("0001-01-01", "不能早于申请提交的日期"), ("2026-13-01", "不是有效的日期"),
                         ("2027-01-01", "不能晚于今天")):
        resp = await post_on(client, req.id, "act/deliver", amount="500", aid_kind="", aid_date=date_)
        assert resp.status == 400 and words in await resp.text()
    resp = await post_on(client, req.id, "act/deliver", amount="0", aid_kind="米面油一套", aid_date="2026-11-24")
    assert resp.status == 200 and "已登记发放：BF-2026-0001，已给职工发送通知" in await resp.text()
    r = await fetch(db, req.id)
    assert r.status == "delivered" and r.aid_amount is None and r.aid_kind == "米面油一套"
    assert "发放内容：米面油一套，发放日期：2026-11-24。" in (await outbox_rows(db))[-1].payload["text"]


# ----------------------------------------------------------------------------- reveal (PRG)
async def test_reveal_is_post_redirect_get_and_a_refresh_is_no_new_reveal(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock)
    await log_in_staff(client, db)
    back = "/admin/hardship?kind=因病"
    detail = f"/admin/hardship/{req.id}?back=%2Fadmin%2Fhardship%3Fkind%3D%E5%9B%A0%E7%97%85"
    page = await (await client.get(detail)).text()
    assert "13800138000" not in page and ID_NUMBER not in page
    reveal_form = form_of(page, "/reveal")
    assert "back=" in reveal_form  # the way back survives the reveal
    resp = await client.post(f"/admin/hardship/{req.id}/reveal?back={back}",
                             data={"_csrf": csrf_from(page), "field": "phone"}, allow_redirects=False)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location.startswith(f"/admin/hardship/{req.id}?back=") and location.endswith("#hs-contact")
    page = await (await client.get(location.split("#")[0])).text()
    assert '<a class="hs-tel" href="tel:13800138000">13800138000</a>' in page
    assert len(await audit_rows(db, "hardship.reveal_phone")) == 1
    # a refresh shows it again without a new audit row; the ID number stays hidden
    page = await (await client.get(location.split("#")[0])).text()
    assert "tel:13800138000" in page and ID_NUMBER not in page
    assert len(await audit_rows(db, "hardship.reveal_phone")) == 1
    await client.post(f"/admin/hardship/{req.id}/reveal", data={"_csrf": csrf_from(page), "field": "id"})
    assert len(await audit_rows(db, "hardship.reveal_id")) == 1
    assert ID_NUMBER in await (await client.get(f"/admin/hardship/{req.id}")).text()
    # after a while the page masks them again
    clock.advance(minutes=31)
    page = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert "13800138000" not in page and ID_NUMBER not in page and "查看完整号码" in page
    # a reveal is the staff member's own: a colleague sees the masked number
    await client.post(f"/admin/hardship/{req.id}/reveal", data={"_csrf": csrf_from(page), "field": "phone"})
    assert "tel:13800138000" in await (await client.get(f"/admin/hardship/{req.id}")).text()
    await create_staff_user(db, "staff2", display_name="李干事", roles=("hardship",))
    await login(client, "staff2")
    assert "13800138000" not in await (await client.get(f"/admin/hardship/{req.id}")).text()


# ----------------------------------------------------------------------------- back link
async def test_the_way_back_keeps_the_lists_filters_and_page(client, db, app, clock, settings):  # noqa: ANN001
    for i in range(settings.admin.page_size + 2):
        await seed(db, app, clock, openid=f"oP{i}", name=f"周{i:02d}号", phone=f"139000000{i:02d}")
    await log_in_staff(client, db)
    listing = "/admin/hardship?kind=因病&page=2"
    page = await (await client.get(listing)).text()
    links = re.findall(r'href="(/admin/hardship/\d+\?back=[^"]+)"', page)
    assert links, "rows link to their request with the list's address"
    detail = html.unescape(links[0])
    page = await (await client.get(detail)).text()
    back = html.unescape(re.search(r'<a href="([^"]+)">← 返回列表</a>', page).group(1))
    assert URL(back).path == "/admin/hardship" and dict(URL(back).query) == {"kind": "因病", "page": "2"}
    # the breadcrumb goes there too
    assert page.count(f'href="{html.escape(back)}"') >= 2
    # an action keeps it: after 开始审核 the page still leads back to page 2
    req_id = int(re.search(r"/admin/hardship/(\d+)", detail).group(1))
    action = form_of(page, "/act/start_review")
    url = re.search(r'action="([^"]+)"', action).group(1)
    resp = await client.post(url, data={"_csrf": csrf_from(page)}, allow_redirects=False)
    assert resp.status == 303
    location = URL(resp.headers["Location"])
    assert location.path == URL(detail).path and location.query["back"] == URL(detail).query["back"] == back
    assert (await fetch(db, req_id)).status == "reviewing"
    # only the list itself is a way back
    for bad in ("https://evil.example/", "//evil.example/admin/hardship", "/admin/hardship/export.csv",
                "/admin/staff"):
        page = await (await client.get(f"/admin/hardship/{req_id}", params={"back": bad})).text()
        assert '<a href="/admin/hardship">← 返回列表</a>' in page and "evil" not in page


# ----------------------------------------------------------------------------- confirmations, messages
async def test_decisions_that_tell_the_worker_ask_first_and_every_action_says_what_it_did(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock)
    unlinked = await seed(db, app, clock, openid="", name="吴六", phone="13700001111")
    await log_in_staff(client, db)
    page = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert "职工会通过微信收到通知" in form_of(page, "/act/start_review")
    resp = await post_on(client, req.id, "act/start_review")
    page = await resp.text()
    assert "已开始审核：BF-2026-0001，已给职工发送通知" in page
    for action, words in (("approve", "确定审核通过吗？职工会通过微信收到通知"), ("reject", "确定不予通过吗？职工会通过微信收到通知"),
                          ("request_more", "职工会通过微信收到通知")):
        assert words in form_of(page, f"/act/{action}"), action
    await post_on(client, req.id, "act/approve")
    page = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert "确定登记发放吗？职工会通过微信收到通知" in form_of(page, "/act/deliver")

    page = await (await post_on(client, req.id, "note", text="已电话核实，情况属实")).text()
    assert "已添加备注（仅工作人员可见，不会发给职工）" in page
    resp = await post_on(client, req.id, "note", text="很长" * 1001)
    page = await resp.text()
    assert resp.status == 400 and "备注最多 2000 字" in page and "很长很长" in page  # the note is kept to shorten
    staff2 = await create_staff_user(db, "staff2", display_name="李干事")
    assert "已将 BF-2026-0001 的经办人改为「李干事」" in await (await post_on(
        client, req.id, "assign", assignee=str(staff2.id))).text()
    resp = await post_on(client, req.id, "assign", assignee="9" * 30)
    assert resp.status == 200 and "没有找到这位工作人员" in await resp.text()

    page = await (await client.get(f"/admin/hardship/{unlinked.id}")).text()
    assert "没有关联微信，职工收不到通知，请电话告诉本人" in form_of(page, "/act/start_review")
    page = await (await post_on(client, unlinked.id, "act/start_review")).text()
    assert "已开始审核：BF-2026-0002。这份申请没有关联微信，请电话告知本人" in page


# ----------------------------------------------------------------------------- 更正
@pytest.fixture
def online(db_url, tmp_path, fake_wechat):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, wechat=fake_wechat.wechat_config())


async def deliver_all(app) -> None:  # noqa: ANN001
    await app[PROCESSOR].drain()
    await app[DELIVERY].run_once()


async def test_a_mistaken_decision_is_corrected_audited_and_the_worker_told(aiohttp_client, make_app, engine, online,
                                                                          fake_wechat, clock):  # noqa: ANN001
    app = make_app(online)
    db = app[SESSIONMAKER]
    client = await aiohttp_client(app)
    req = await seed(db, app, clock, status="reviewing", app_id=fake_wechat.app_id)
    await log_in_staff(client, db)
    await post_on(client, req.id, "act/approve", message="请留意电话")
    await deliver_all(app)

    # approved by mistake → back to 审核中
    page = await (await client.get(f"/admin/hardship/{req.id}")).text()
    assert "撤回「审核通过」，改回「审核中」" in page and "职工会通过微信收到一条更正通知" in form_of(page, "/correct")
    resp = await post_on(client, req.id, "correct", kind="reopen", reason="")
    assert resp.status == 400 and "请写明更正的原因" in await resp.text()
    assert (await fetch(db, req.id)).status == "approved"
    page = await (await post_on(client, req.id, "correct", kind="reopen", reason="误点了审核通过")).text()
    assert "已更正 BF-2026-0001：撤回「审核通过」，改回「审核中」。已给职工发送更正通知" in page
    r = await fetch(db, req.id)
    assert r.status == "reviewing" and r.last_message == ""
    [row] = [a for a in await audit_rows(db, "hardship.correct") if not a.refused]
    assert row.target == "BF-2026-0001" and row.detail["before"] == {"status": "approved"}
    assert row.detail["after"] == {"status": "reviewing"} and row.detail["told"] is True
    last = (await outbox_rows(db, "oW1"))[-1]
    assert last.purpose == ops.NOTIFY_PURPOSE
    assert last.payload["text"] == (
        "关于您的帮扶申请 BF-2026-0001：之前发给您的「审核通过，帮扶待发放」通知有误，给您添麻烦了，非常抱歉。"
        "您的申请目前还在审核中，有结果会第一时间告诉您。\n如有疑问，欢迎致电街道总工会（010-12345678）。\n"
        "回复「我的申请」可随时查看。")
    await deliver_all(app)
    assert fake_wechat.delivered_to("oW1")[-1]["text"] == last.payload["text"]
    assert "原因：误点了审核通过" in page and "已给职工发送更正通知" in page  # on the timeline

    # a wrong amount delivered → corrected, before/after kept, the worker told the right one
    await post_on(client, req.id, "act/approve")
    await post_on(client, req.id, "act/deliver", amount="2000", aid_kind="", aid_date="2026-11-24")
    resp = await post_on(client, req.id, "correct", kind="fix_delivery", amount="1e309", aid_kind="",
                         aid_date="2026-11-24", reason="多打了一个零")
    page = await resp.text()
    assert resp.status == 400 and "不能超过" in page and 'value="1e309"' in page and "多打了一个零" in page
    page = await (await post_on(client, req.id, "correct", kind="fix_delivery", amount="200", aid_kind="",
                                aid_date="2026-11-24", reason="多打了一个零")).text()
    assert "已更正 BF-2026-0001：更正发放信息" in page and "2000.00 元 （2026-11-24）→ 200.00 元 （2026-11-24）" in page
    r = await fetch(db, req.id)
    assert r.status == "delivered" and r.aid_amount == 200
    fixed = [a for a in await audit_rows(db, "hardship.correct") if not a.refused][-1]
    assert fixed.detail["before"]["amount"] == 2000 and fixed.detail["after"]["amount"] == 200
    assert "更正后为：发放内容：200.00 元，发放日期：2026-11-24。" in (await outbox_rows(db, "oW1"))[-1].payload["text"]
    resp = await post_on(client, req.id, "correct", kind="fix_delivery", amount="200", aid_kind="",
                         aid_date="2026-11-24", reason="再点一次")
    assert resp.status == 400 and "没有需要更正的内容" in await resp.text()

    # 结束 by mistake: undone, nobody told (closing told the worker nothing)
    n = len(await outbox_rows(db))
    await post_on(client, req.id, "act/close")
    await post_on(client, req.id, "correct", kind="reopen_closed", reason="还要补一次回访")
    r = await fetch(db, req.id)
    assert r.status == "delivered" and r.closed_at is None and len(await outbox_rows(db)) == n


async def test_a_correction_on_an_unlinked_request_asks_staff_to_phone(client, db, app, clock):  # noqa: ANN001
    req = await seed(db, app, clock, openid="", status="approved")
    await log_in_staff(client, db)
    page = await (await post_on(client, req.id, "correct", kind="undo_delivery", reason="x")).text()
    assert "当前状态为「已通过」，不能撤回「登记发放」" in page
    await post_on(client, req.id, "act/deliver", amount="300", aid_kind="", aid_date="2026-11-24")
    page = await (await post_on(client, req.id, "correct", kind="undo_delivery", reason="钱还没领走")).text()
    assert "这份申请没有关联微信，请电话告诉本人更正的内容" in page
    r = await fetch(db, req.id)
    assert r.status == "approved" and r.aid_amount is None and r.aid_date is None
    assert await outbox_rows(db) == []


async def test_reopening_a_finished_request_waits_while_the_worker_has_another_open(client, db, app, clock):  # noqa: ANN001
    """One request at a time: 更正 cannot open an old one again beside the worker's new one."""
    await log_in_staff(client, db)
    old = await seed(db, app, clock, status="reviewing")
    await post_on(client, old.id, "act/reject", message="材料不全")
    assert (await fetch(db, old.id)).status == "rejected"
    new = await seed(db, app, clock)  # the worker applied again, as they were told they may
    page = await (await post_on(client, old.id, "correct", kind="reopen", reason="材料其实齐了")).text()
    assert f"这位职工还有一份进行中的申请 {new.ref}，同一时间只办理一份" in page
    assert (await fetch(db, old.id)).status == "rejected"
    for step in ("start_review", "approve"):
        await post_on(client, new.id, f"act/{step}")
    await post_on(client, new.id, "act/deliver", amount="800", aid_kind="", aid_date="2026-11-24")
    await post_on(client, old.id, "correct", kind="reopen", reason="材料其实齐了")
    assert (await fetch(db, old.id)).status == "reviewing"  # the new one is finished: allowed


# ----------------------------------------------------------------------------- 我的待办
async def test_my_todo_tab_and_the_home_count(client, db, app, clock):  # noqa: ANN001
    await log_in_staff(client, db)
    async with db() as s:
        me = await s.scalar(select(Staff).where(Staff.username == DEFAULT_USER))
    other = await create_staff_user(db, "staff2", display_name="李干事")
    mine = await seed(db, app, clock, openid="oA", name="赵一")
    done = await seed(db, app, clock, openid="oB", name="钱二", status="approved")
    theirs = await seed(db, app, clock, openid="oC", name="孙三")
    await seed(db, app, clock, openid="oD", name="李四")
    for req, who in ((mine, me.id), (done, me.id), (theirs, other.id)):
        await post_on(client, req.id, "assign", assignee=str(who))
    async with db() as s, s.begin():
        (await s.get(HardshipRequest, done.id)).status = "delivered"

    async def names(query: str) -> list[str]:
        page = await (await client.get("/admin/hardship" + query)).text()
        return [n for n in ("赵一", "钱二", "孙三", "李四") if n in page]

    assert await names("?mine=me") == ["赵一"]
    assert await names("?mine=me_all") == ["赵一", "钱二"]
    assert await names("?mine=none") == ["李四"]
    page = await (await client.get("/admin/hardship")).text()
    assert 'href="/admin/hardship?mine=me">我的待办 <span class="n">1</span></a>' in page
    home = await (await client.get("/admin/")).text()
    assert '<span class="todo-num">1</span><span>分配给我的帮扶申请</span>' in home


# ----------------------------------------------------------------------------- 代办 with photos
FORM = {"kind": "因灾", "description": "入户走访：台风损毁房屋", "household": "2", "income": "1800", "expenses": "0",
        "name": "吴六", "phone": "13700001111", "employer": "某物业公司", "id_number": "", "openid": ""}




async def test_proxy_entry_with_photos_checked_kept_and_shown(client, db, app, clock):  # noqa: ANN001
    await log_in_staff(client, db)
    token = await csrf_at(client, "/admin/hardship/new")
    page = await (await client.get("/admin/hardship/new")).text()
    assert 'enctype="multipart/form-data"' in page and 'type="file" name="photos"' in page
    assert "openid" not in re.sub(r"<[^>]+>", "", page)  # no technical names in what staff read
    # a text file and a photo too big are refused; the good ones are kept, and so is the form
    big = b"\xff\xd8\xff" + b"\x00" * ops.MAX_PHOTO_BYTES
    resp = await client.post("/admin/hardship/new", data=multipart(token, FORM, [
        ("房屋.jpg", JPEG_BYTES, "image/jpeg"), ("说明.txt", b"hello", "text/plain"), ("大图.jpg", big, "image/jpeg"),
        ("屋顶.png", PNG_BYTES, "image/png")]))
    page = await resp.text()
    assert resp.status == 400
    assert "「说明.txt」不是 JPG、PNG 或 WEBP 格式的照片" in page and "「大图.jpg」超过了 5 MB" in page
    assert "取得同意" in page and "已选好的照片 2 张已暂存" in page and "入户走访：台风损毁房屋" in page
    staged = re.search(r'name="staged" value="([0-9a-f]{32})"', page).group(1)
    # submitted with consent: the kept photos and one more are stored with the request
    resp = await client.post("/admin/hardship/new", data=multipart(
        csrf_from(page), {**FORM, "consent": "1", "staged": staged}, [("补拍.jpg", JPEG_BYTES, "image/jpeg")]))
    page = await resp.text()
    assert resp.status == 200 and "已代办录入：BF-2026-0001（未关联微信，进度请电话告知本人，附照片 3 张）" in page
    async with db() as s:
        req = (await s.scalars(select(HardshipRequest))).one()
        photos = list(await s.scalars(select(HardshipPhoto).order_by(HardshipPhoto.id)))
    assert [p.status for p in photos] == ["fetched"] * 3 and [p.content_type for p in photos] == [
        "image/jpeg", "image/png", "image/jpeg"]
    media = Path(app[SERVICES]["media_dir"])
    assert all((media / p.path).read_bytes() in (JPEG_BYTES, PNG_BYTES) for p in photos)
    assert all(p.path.startswith(f"hardship/{req.id}/") for p in photos)
    assert not any((media / "hardship" / "staging").rglob("*.jpg"))  # the kept copies are gone
    assert page.count("工作人员代办上传") == 3
    resp = await client.get(f"/admin/hardship/photo/{photos[1].id}")
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/png" and await resp.read() == PNG_BYTES
    [row] = await audit_rows(db, "hardship.submit_for")
    assert row.detail["photos"] == 3


async def test_photos_survive_the_follower_confirmation_and_belong_to_their_staff_member(client, db, app, clock):  # noqa: ANN001
    await log_in_staff(client, db)
    async with db() as s, s.begin():
        s.add(Member(openid="oWu6", first_seen=clock.now(), last_seen=clock.now(), phone="13700001111", name="吴六"))
    token = await csrf_at(client, "/admin/hardship/new")
    page = await (await client.post("/admin/hardship/new", data=multipart(
        token, {**FORM, "consent": "1"}, [("房屋.jpg", JPEG_BYTES, "image/jpeg")]))).text()
    assert "请核实是不是本人" in page and "已选好的照片 1 张已暂存" in page
    staged = re.search(r'name="staged" value="([0-9a-f]{32})"', page).group(1)
    # another staff member can't use these photos
    await create_staff_user(db, "staff2", display_name="李干事")
    await login(client, "staff2")
    page2 = await (await client.post("/admin/hardship/new", data=multipart(
        await csrf_at(client, "/admin/hardship/new"),
        {**FORM, "consent": "1", "staged": staged, "link_to": "oWu6"}, []))).text()
    assert "已代办录入：BF-2026-0001（未确认匹配的微信用户" in page2 and "附照片" not in page2
    await login(client, DEFAULT_USER, DEFAULT_PASSWORD)
    page = await (await client.post("/admin/hardship/new", data=multipart(
        await csrf_at(client, "/admin/hardship/new"),
        {**FORM, "consent": "1", "staged": staged, "link_to": "oWu6", "link_confirm": "1", "phone": "13700001111"},
        []))).text()
    assert "已代办录入：BF-2026-0002（已关联微信，进度会通知本人，附照片 1 张）" in page
    async with db() as s:
        counts = dict((await s.execute(select(HardshipPhoto.request_id, func.count()).group_by(
            HardshipPhoto.request_id))).all())
    assert list(counts.values()) == [1]


# ----------------------------------------------------------------------------- the phone
CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason=f"{CHROMIUM} is missing")
async def test_the_decisions_come_first_on_a_phone(aiohttp_server, app, db, clock, tmp_path):  # noqa: ANN001
    from playwright.async_api import async_playwright

    from tests.support.browser import CHROMIUM_ARGS

    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    await create_staff_user(db, display_name="张干事")
    shown = await seed(db, app, clock, status="reviewing")  # the page in the screenshots
    decided = await seed(db, app, clock, openid="oW2", name="李秀英", phone="13912345602")  # decided on the phone
    async with db() as s, s.begin():
        for req in (shown, decided):
            for i in range(12):  # a long history, as a real request has
                await ops.add_note(s, ops_ctx(app), req.id, text=f"第 {i + 1} 次电话回访：" + "情况已核实，家中仍有困难。" * 3)

    async def decisions_in_first_screen(p, names: tuple[str, ...], height: int) -> None:  # noqa: ANN001
        for name in names:
            box = await p.get_by_role("button", name=name, exact=True).bounding_box()
            assert box is not None and box["y"] + box["height"] < height, f"「{name}」 below the first screen"

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            desk = await browser.new_context(viewport={"width": 1366, "height": 800}, locale="zh-CN")
            page = await desk.new_page()
            await page.goto(f"{base}/admin/login")
            await page.get_by_label("用户名").fill(DEFAULT_USER)
            await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.wait_for_url(f"{base}/admin/")
            phone = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                              is_mobile=True, has_touch=True, locale="zh-CN",
                                              storage_state=await desk.storage_state())
            shots = {}
            for width, height, ctx in ((1366, 800, desk), (390, 844, phone)):
                p = await ctx.new_page()
                await p.goto(f"{base}/admin/hardship/{shown.id}")
                await p.get_by_role("heading", name="审核操作").wait_for()
                await decisions_in_first_screen(p, ("审核通过", "请职工补充", "不予通过"), height)
                history = await p.get_by_role("heading", name="处理记录").bounding_box()
                decide = await p.get_by_role("heading", name="审核操作").bounding_box()
                assert decide["y"] < history["y"]
                assert await p.evaluate("document.documentElement.scrollWidth") <= width  # nothing sideways
                shots[width] = tmp_path / f"hardship-detail-{width}.png"
                await p.screenshot(path=str(shots[width]), full_page=True)

            # a whole decision on the phone: asked first, said after, the next step still in the first screen
            p = await phone.new_page()
            asked: list[str] = []

            async def answer(dialog) -> None:  # noqa: ANN001
                asked.append(dialog.message)
                await dialog.accept()

            p.on("dialog", answer)
            await p.goto(f"{base}/admin/hardship/{decided.id}")
            await p.get_by_role("button", name="开始审核").click()
            await p.get_by_text("已开始审核：BF-2026-0002，已给职工发送通知").wait_for()
            await decisions_in_first_screen(p, ("审核通过", "请职工补充", "不予通过"), 844)
            await p.get_by_label("给职工的留言（选填）").fill("请留意电话通知领取")
            await p.get_by_role("button", name="审核通过", exact=True).click()
            await p.get_by_text("已审核通过：BF-2026-0002，已给职工发送通知").wait_for()
            await decisions_in_first_screen(p, ("登记发放",), 844)
            assert len(asked) == 2 and all("职工会通过微信收到通知" in q for q in asked)
            if os.environ.get("UNIONBOT_SAVE_SCREENSHOTS"):
                DOCS.mkdir(parents=True, exist_ok=True)
                for png in shots.values():
                    shutil.copy(png, DOCS / png.name)
        finally:
            await browser.close()
    assert (await fetch(db, decided.id)).status == "approved"
    assert [o.purpose for o in await outbox_rows(db, "oW2")] == [ops.NOTIFY_PURPOSE] * 2
