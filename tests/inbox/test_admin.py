"""The staff's inbox over HTTP (with CSRF): the list, the thread page, notes, assignment,
closing, quick replies, the nav badge and the 工作台 count."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.db.models.core import AuditLog
from bot.db.models.inbox import InboxSnippet
from tests.support.admin import create_staff_user, csrf_at, csrf_from, log_in_staff, login
from tests.support.fake_wechat import JPEG_BYTES
from tests.support.inbox import (add_member, add_thread, add_worker_message, messages, open_thread, outbox_rows,
                                  thread)


async def audit_rows(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


async def test_login_and_csrf_required(client, db, clock):  # noqa: ANN001
    tid = await add_thread(db, clock, "oW1", [("worker", "工资拖了三个月")])
    resp = await client.get("/admin/inbox", allow_redirects=False)
    assert resp.status == 302 and "/admin/login" in resp.headers["Location"]
    await log_in_staff(client, db)
    resp = await client.post(f"/admin/inbox/{tid}/reply", data={"_csrf": "forged", "text": "您好"})
    assert resp.status == 403
    assert await outbox_rows(db) == [] and len(await messages(db, tid)) == 1


async def test_list_newest_first_with_filters_search_and_pages(client, db, clock, settings):  # noqa: ANN001
    settings.admin.page_size = 5
    await add_member(db, clock, "oA", name="王建国", phone="13800138001")
    await add_member(db, clock, "oB", name="李秀英", phone="13912345602")
    await log_in_staff(client, db)
    other = await create_staff_user(db, "staff2", display_name="李干事")
    now = clock.now()

    def ago(**kw):  # noqa: ANN003, ANN202
        return now - timedelta(**kw)

    e = await add_thread(db, clock, "oE", [("worker", "去年问过的事情")], status="closed", at=ago(days=50))
    f = await add_thread(db, clock, "oF", [("worker", "上个月问过的事情")], status="closed", at=ago(days=20))
    a = await add_thread(db, clock, "oA", [("worker", "老板拖欠工资三个月了")], topic="劳动争议/讨薪", at=ago(hours=6))
    b = await add_thread(db, clock, "oB", [("worker", "我在工地摔伤了怎么办"), ("staff", "请先就医，保留病历")],
                         topic="工伤", assigned_to=other.id, at=ago(hours=5))
    c = await add_thread(db, clock, "oC", [("worker", "怎么加入工会")], topic="入会", status="closed", at=ago(hours=4))
    d = await add_thread(db, clock, "oD", [("worker", "孩子上学有补助吗"), ("worker", "家里困难")], topic="帮扶",
                         at=ago(hours=3))

    page = await (await client.get("/admin/inbox")).text()
    assert "留言咨询" in page and "共 6 条" in page
    # newest first, five a page
    order = [page.index(x) for x in ("孩子上学有补助吗", "怎么加入工会", "我在工地摔伤了怎么办", "老板拖欠工资", "上个月问过")]
    assert order == sorted(order)
    assert "去年问过" not in page and "下一页" in page
    assert "2 条未读" in page and "等了 3 小时" in page and "已回复" in page and "已结束" in page
    assert "王建国" in page and "李秀英" in page and "139****5602" in page and "13912345602" not in page
    assert "去年问过" in await (await client.get("/admin/inbox?page=2")).text()

    async def listed(query: str) -> set[int]:
        html = await (await client.get(f"/admin/inbox?{query}")).text()
        return {t for t in (a, b, c, d, e, f) if f'href="/admin/inbox/{t}"' in html}

    assert await listed("view=waiting") == {a, d}
    assert await listed("view=open") == {a, b, d}
    assert await listed("view=closed") == {c, e, f}
    assert await listed("view=unassigned") == {a, d}
    assert await listed("view=mine") == set()
    assert await listed("topic=工伤") == {b}
    assert await listed("q=病历") == {b}  # a staff reply's text
    assert await listed("q=王建") == {a}  # the worker's name
    assert await listed("q=5602") == {b}  # phone digits
    assert await listed("q=补助") == {d}  # the subject
    assert await listed(f"q=%23{c}") == {c}  # the thread number
    assert await listed("q=100%25") == set()  # LIKE wildcards are text
    assert await listed("view=bogus") == {a, b, c, d, f}  # unknown: all, first page


async def test_thread_page_shows_everything_and_marks_read(client, app, db, clock):  # noqa: ANN001
    from handlers.chairs import ops as chair_ops
    from bot.db.models.core import Member
    from handlers.hardship import ops as hardship_ops
    from handlers.signup import ops as signup_ops
    from tests.support.hardship import ops_ctx
    from tests.support.signup import make_activity, ops_ctx as signup_ctx

    await add_member(db, clock, "oW1", name="王小明", phone="13800138000")
    photo = Path("data/media/inbox/p1.jpg")  # the app runs in tmp_path
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(JPEG_BYTES)
    tid = await add_thread(db, clock, "oW1", [
        ("worker", "老板拖欠工资<script>alert(1)</script>怎么办"),
        ("bot", "讨薪请先保留工资条、考勤记录和劳动合同。"),
        {"sender": "worker", "kind": "voice", "text": "他们说下个月再给", "media_id": "V1"},
        {"sender": "worker", "kind": "image", "media_id": "M1", "media_status": "fetched", "path": "inbox/p1.jpg",
         "content_type": "image/jpeg"},
        {"sender": "worker", "kind": "image", "media_id": "M2", "media_status": "pending"},
        ("note", "已电话联系过一次，职工情绪较急"),
    ], topic="劳动争议/讨薪")
    # what other features know of this worker
    async with db() as s, s.begin():
        req = await hardship_ops.submit_request(
            s, ops_ctx(app), openid="oW1", consent_version="2026-1",
            data={"kind": "因病", "description": "母亲住院", "household": 3, "income": 4500.0, "expenses": 1500.0,
                  "name": "王小明", "phone": "13800138000", "employer": "环卫所", "id_number": None})
        chair = await chair_ops.add_chair(s, ops_ctx(app), name="王小明", organisation="某物业公司",
                                          community="东风社区", mobile="13800138000")
        chair.openid = "oW1"
    act = await make_activity(db, clock, title="电工技能培训")
    async with db() as s, s.begin():
        member = await s.scalar(select(Member).where(Member.openid == "oW1"))
        await signup_ops.sign_up(s, signup_ctx(clock), act.id, member, name="王小明", phone="13800138000")
    await log_in_staff(client, db)
    assert (await thread(db, tid)).unread == 4

    html, form = await open_thread(client, tid)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "讨薪请先保留工资条" in html and "自动回复" in html
    assert "语音" in html and "他们说下个月再给" in html
    [img] = [m for m in await messages(db, tid) if m.media_status == "fetched"]
    assert f'src="/admin/inbox/photo/{img.id}"' in html and "正在获取" in html
    assert "已电话联系过一次" in html and "仅工作人员可见" in html
    assert "王小明" in html and "138****8000" in html and "13800138000" not in html
    assert f'href="/admin/hardship/{req.id}"' in html and f"{req.ref} 已提交" in html
    assert f'href="/admin/chairs/{chair.id}"' in html and "某物业公司" in html and "尚无报送记录" in html
    assert f'href="/admin/signup/{act.id}"' in html and "电工技能培训 已报名" in html
    assert int(form["seen"]) == max(m.id for m in await messages(db, tid))
    assert (await thread(db, tid)).unread == 0  # opening it marks it read
    async with db() as s:  # and the view of what the worker wrote is audited
        views = list(await s.scalars(select(AuditLog).where(AuditLog.action == "inbox.view")))
    assert [v.target for v in views] == [f"inbox:{tid}"]

    resp = await client.get(f"/admin/inbox/photo/{img.id}")
    assert resp.status == 200 and await resp.read() == JPEG_BYTES and resp.headers["Content-Type"] == "image/jpeg"
    pending = max(m.id for m in await messages(db, tid) if m.media_status == "pending")
    assert (await client.get(f"/admin/inbox/photo/{pending}")).status == 404

    resp = await client.get("/admin/inbox/999999")
    assert resp.status == 404 and "没有这条留言" in await resp.text()
    assert (await client.get("/admin/inbox/12345678901")).status == 404


async def test_notes_assignment_close_and_reopen(client, db, clock):  # noqa: ANN001
    await log_in_staff(client, db)
    other = await create_staff_user(db, "staff2", display_name="李干事")
    tid = await add_thread(db, clock, "oW1", [("worker", "请问工会会费怎么交")], topic="入会")
    url = f"/admin/inbox/{tid}"

    t = await csrf_at(client, url)
    resp = await client.post(f"{url}/note", data={"_csrf": t, "text": "  "})  # follows the redirect
    assert "备注内容是空的" in await resp.text()
    await client.post(f"{url}/note", data={"_csrf": t, "text": "明天问一下财务"})
    [note] = [m for m in await messages(db, tid) if m.sender == "note"]
    assert note.text == "明天问一下财务" and note.staff_id is not None
    assert await outbox_rows(db) == []  # a note never goes to the worker
    assert len(await audit_rows(db, "inbox.note")) == 1

    await client.post(f"{url}/assign", data={"_csrf": t, "assignee": "me"})
    me = (await thread(db, tid)).assigned_to
    assert me is not None and me != other.id
    assert f'href="{url}"' in await (await client.get("/admin/inbox?view=mine")).text()
    await client.post(f"{url}/assign", data={"_csrf": t, "assignee": str(other.id)})
    assert (await thread(db, tid)).assigned_to == other.id
    assert "李干事" in await (await client.get("/admin/inbox")).text()
    await client.post(f"{url}/assign", data={"_csrf": t, "assignee": ""})
    assert (await thread(db, tid)).assigned_to is None
    assert [a.detail.get("assignee") for a in await audit_rows(db, "inbox.assign")] == [me, other.id, None]

    await client.post(f"{url}/close", data={"_csrf": t})
    closed = await thread(db, tid)
    assert closed.status == "closed" and closed.closed_by == "staff" and not closed.waiting
    [notice] = await outbox_rows(db)
    assert notice.purpose == "inbox.notice" and notice.openid == "oW1"
    assert "工作人员已结束本次咨询" in notice.payload["text"] and "010-12345678" in notice.payload["text"]
    page = await (await client.get(url)).text()
    assert "重新打开" in page and "发送回复" not in page
    resp = await client.post(f"{url}/reply", data={"_csrf": t, "text": "补充一句"})
    assert resp.status == 400 and "请先点「重新打开」" in await resp.text() and "补充一句" in await resp.text()

    # the worker has started a new conversation: the old one can't be reopened beside it
    newer = await add_thread(db, clock, "oW1", [("worker", "还有一个问题")])
    resp = await client.post(f"{url}/reopen", data={"_csrf": t})
    assert f"已有一条进行中的咨询（#{newer}）" in await resp.text()
    async with db() as s, s.begin():
        (await s.get(type(closed), newer)).status = "closed"
    await client.post(f"{url}/reopen", data={"_csrf": t})
    assert (await thread(db, tid)).status == "open"
    assert [len(await audit_rows(db, f"inbox.{a}")) for a in ("close", "reopen")] == [1, 1]
    # the worker was told it had ended, so they are told it goes on
    assert [r.purpose for r in await outbox_rows(db)] == ["inbox.notice", "inbox.notice"]
    assert "重新打开了您之前的咨询" in (await outbox_rows(db))[-1].payload["text"]


async def test_snippets_managed_and_offered_in_the_reply_form(client, db, clock):  # noqa: ANN001
    await log_in_staff(client, db)
    tid = await add_thread(db, clock, "oW1", [("worker", "讨薪要准备什么")])
    t = await csrf_at(client, "/admin/inbox/snippets")
    assert "还没有常用回复" in await (await client.get("/admin/inbox/snippets")).text()

    resp = await client.post("/admin/inbox/snippets", data={"_csrf": t, "title": "", "text": "x" * 3000})
    body = await resp.text()
    assert resp.status == 400 and "请填写标题" in body and "回复太长了" in body
    resp = await client.post("/admin/inbox/snippets", data={"_csrf": t, "title": "讨薪材料",
                                                             "text": "请保留劳动合同、工资条、考勤记录。"})
    assert resp.status == 200 and "已保存常用回复「讨薪材料」" in await resp.text()
    async with db() as s:
        [snip] = list(await s.scalars(select(InboxSnippet)))

    page = await (await client.get(f"/admin/inbox/snippets/{snip.id}")).text()
    assert "修改常用回复" in page and "请保留劳动合同" in page
    await client.post(f"/admin/inbox/snippets/{snip.id}", data={"_csrf": t, "title": "讨薪要准备的材料",
                                                                 "text": "请保留劳动合同、工资条。"})
    html, _ = await open_thread(client, tid)
    assert 'data-text="请保留劳动合同、工资条。"' in html  # the select the inline script uses
    assert "<summary>常用回复（1）</summary>" in html  # and the list shown without script

    await client.post(f"/admin/inbox/snippets/{snip.id}/delete", data={"_csrf": t})
    async with db() as s:
        assert list(await s.scalars(select(InboxSnippet))) == []
    assert (await client.get(f"/admin/inbox/snippets/{snip.id}")).status == 404
    assert [len(await audit_rows(db, a)) for a in ("inbox.snippet_save", "inbox.snippet_delete")] == [2, 1]


async def test_nav_badge_and_home_count_waiting_threads(client, db, clock):  # noqa: ANN001
    await log_in_staff(client, db)
    home = await (await client.get("/admin/")).text()
    assert "待回复的留言" in home and "nav-badge" not in home
    for i in range(3):
        await add_thread(db, clock, f"oW{i}", [("worker", f"问题{i}")])
    await add_thread(db, clock, "oX", [("worker", "已答"), ("staff", "好的")])
    await add_thread(db, clock, "oY", [("worker", "结束了")], status="closed")
    home = await (await client.get("/admin/")).text()
    assert '<span class="nav-badge" aria-label="3 条待处理">3</span>' in home
    assert '<span class="todo-num">3</span><span>待回复的留言</span>' in home
    assert 'href="/admin/inbox?view=waiting"' in home
    # the badge is on every admin page, counted per view
    resp = await client.get("/admin/hardship")
    assert 'aria-label="3 条待处理"' in await resp.text()
    # 我的待办: the waiting threads assigned to me
    from bot.db.models.core import Staff

    async with db() as s:
        me = await s.scalar(select(Staff.id).where(Staff.username == "staff1"))
    await add_thread(db, clock, "oMine", [("worker", "分给我的问题")], assigned_to=me)
    home = await (await client.get("/admin/")).text()
    assert "分给我的待回复留言" in home and 'href="/admin/inbox?view=mine"' in home


async def test_waiting_time_reads_naturally():
    from datetime import datetime, timezone

    from handlers.inbox.replies import waited_text

    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    cases = [(timedelta(seconds=20), "刚刚"), (timedelta(minutes=5), "等了 5 分钟"), (timedelta(hours=3, minutes=59),
             "等了 3 小时"), (timedelta(hours=47), "等了 47 小时"), (timedelta(days=4), "等了 4 天")]
    assert [waited_text(now - d, now) for d, _ in cases] == [text for _, text in cases]


async def test_roles_decide_who_answers(client, db, clock):  # noqa: ANN001
    await create_staff_user(db, "answerer", display_name="王干事", roles=("inbox",))
    helper = await create_staff_user(db, "helper", display_name="赵干事", roles=("hardship",))
    await create_staff_user(db, "reader", display_name="孙干事", roles=("viewer",))
    tid = await add_thread(db, clock, "oW1", [("worker", "请问工会会费怎么交")])
    url = f"/admin/inbox/{tid}"

    await login(client, "helper")
    home = await (await client.get("/admin/")).text()
    assert 'href="/admin/inbox"' not in home and "nav-badge" not in home
    assert (await client.get(url)).status == 403
    await client.post("/admin/logout", data={"_csrf": await csrf_at(client, "/admin/")})

    await login(client, "answerer")
    html, form = await open_thread(client, tid)
    assert '<span class="nav-badge" aria-label="1 条待处理">1</span>' in html
    assert "赵干事" not in html  # not offered as an assignee: no inbox role
    resp = await client.post(f"{url}/assign", data={"_csrf": form["_csrf"], "assignee": str(helper.id)})
    assert "没有「留言咨询」的权限" in await resp.text() and (await thread(db, tid)).assigned_to is None
    resp = await client.post(f"{url}/reply", data={**form, "text": "每月从工资中代扣。"}, allow_redirects=False)
    assert resp.status == 303 and len(await outbox_rows(db)) == 1
    await client.post("/admin/logout", data={"_csrf": await csrf_at(client, "/admin/")})

    await add_worker_message(db, clock, tid, "那退休了还要交吗")
    await login(client, "reader")  # reads, never answers
    html = await (await client.get(url)).text()
    assert "每月从工资中代扣。" in html and "那退休了还要交吗" in html
    assert "只能查看留言" in html and "发送回复" not in html and "查看电话" not in html
    assert (await thread(db, tid)).unread == 1  # a reader doesn't mark it read for those who answer
    resp = await client.post(f"{url}/reply", data={"_csrf": csrf_from(html), "text": "再补充一句"},
                             allow_redirects=False)
    assert resp.status == 403 and len(await outbox_rows(db)) == 1
