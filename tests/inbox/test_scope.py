"""Community scope of the inbox: a thread belongs to its worker's community (Member.community),
a community union's inbox account sees and answers only its community's threads (list, thread
page, actions, photos, nav badge, 工作台 count); threads of a worker without a community are the
federation's only. The FAQ and quick replies are the federation's: community accounts read them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.db.models.core import AuditLog, Member
from bot.db.models.inbox import FaqEntry, InboxSnippet
from bot.keys import SERVICES
from tests.support.admin import DEFAULT_PASSWORD, create_staff_user, csrf_at, login
from tests.support.fake_wechat import JPEG_BYTES
from tests.support.inbox import add_member, add_thread, messages, open_thread, outbox_rows, send_reply, thread
from tests.support.settings import make_settings

A, B = "幸福社区", "和平社区"


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": [A, B]})


async def three_threads(app, db, clock) -> dict[str, int]:  # noqa: ANN001
    """A thread of a worker of each community and of one who named none, each with a photo."""
    media = Path(app[SERVICES]["media_dir"])
    (media / "inbox").mkdir(parents=True, exist_ok=True)
    ids = {}
    for key, openid, name, community, text in (
            ("a", "oA", "张幸福", A, "幸福小区物业拖欠工资怎么办"),
            ("b", "oB", "李和平", B, "和平路工地摔伤了算工伤吗"),
            ("n", "oN", "王无名", None, "想问一下怎么入会")):
        await add_member(db, clock, openid, name=name, phone="1380000000" + str(len(ids)), community=community)
        (media / "inbox" / f"{openid}.jpg").write_bytes(JPEG_BYTES)
        ids[key] = await add_thread(db, clock, openid, [
            ("worker", text),
            {"sender": "worker", "kind": "image", "media_id": "M" + openid, "media_status": "fetched",
             "path": f"inbox/{openid}.jpg", "content_type": "image/jpeg"}],
            topic={"a": "劳动争议/讨薪", "b": "工伤"}.get(key, "入会"))
    return ids


async def photo_id(db, thread_id: int) -> int:  # noqa: ANN001
    return next(m.id for m in await messages(db, thread_id) if m.kind == "image")


def same_page(html: str) -> str:
    """A page without what differs per response (the CSP nonce, the CSRF token)."""
    return re.sub(r'(nonce|value|content)="[^"]*"', "", html)


def listed(html: str, ids: dict[str, int]) -> set[str]:
    return {k for k, t in ids.items() if f'href="/admin/inbox/{t}"' in html}


async def refusals(db, username: str) -> list[AuditLog]:  # noqa: ANN001
    from bot.db.models.core import Staff

    async with db() as s:
        sid = await s.scalar(select(Staff.id).where(Staff.username == username))
        rows = list(await s.scalars(select(AuditLog).where(AuditLog.staff_id == sid).order_by(AuditLog.id)))
    return [r for r in rows if getattr(r, "refused", False) or r.detail.get("refused")]


async def test_list_thread_badge_and_count_follow_the_workers_community(aiohttp_client, app, db, clock):  # noqa: ANN001
    ids = await three_threads(app, db, clock)
    await create_staff_user(db, "fed", roles=("inbox",))
    await create_staff_user(db, "xingfu", display_name="幸福社区干事", roles=("inbox",), community=A)

    fed = await aiohttp_client(app)
    await login(fed, "fed", DEFAULT_PASSWORD)
    assert listed(await (await fed.get("/admin/inbox")).text(), ids) == {"a", "b", "n"}
    home = await (await fed.get("/admin/")).text()
    assert 'aria-label="3 条待处理"' in home and '<span class="todo-num">3</span><span>待回复的留言</span>' in home
    assert "未填写（仅街道总工会的账号能看到这条留言）" in (await open_thread(fed, ids["n"]))[0]

    com = await aiohttp_client(app)
    await login(com, "xingfu", DEFAULT_PASSWORD)
    page = await (await com.get("/admin/inbox")).text()
    assert listed(page, ids) == {"a"} and "共 1 条" in page and "李和平" not in page and "王无名" not in page
    assert '<option value="工伤"' not in page  # another community's topics are not offered either
    assert listed(await (await com.get("/admin/inbox?q=李和平")).text(), ids) == set()
    assert listed(await (await com.get(f"/admin/inbox?q=%23{ids['b']}")).text(), ids) == set()
    home = await (await com.get("/admin/")).text()
    assert 'aria-label="1 条待处理"' in home and '<span class="todo-num">1</span><span>待回复的留言</span>' in home

    html, _ = await open_thread(com, ids["a"])
    assert "幸福小区物业拖欠工资" in html and f"<dd>{A}</dd>" in html
    # another community's thread, and a worker without one: exactly as a thread that doesn't exist
    missing = await com.get("/admin/inbox/999999")
    missing_body = await missing.text()
    for key in ("b", "n"):
        resp = await com.get(f"/admin/inbox/{ids[key]}")
        body = await resp.text()
        assert resp.status == missing.status == 404 and "这条留言不存在" in body
        assert "和平路工地" not in body and "想问一下怎么入会" not in body
        assert same_page(body) == same_page(missing_body) and "这条留言不存在，可能编号有误。" in body
    rows = await refusals(db, "xingfu")
    assert [r.detail["reason"] for r in rows] == ["community", "community"]
    assert [r.target for r in rows] == [f"/admin/inbox/{ids['b']}", f"/admin/inbox/{ids['n']}"]
    assert (await thread(db, ids["b"])).unread == 2  # not marked read by the refused look

    # photos: its own community's only; another's answers as a photo not fetched
    assert (await com.get(f"/admin/inbox/photo/{await photo_id(db, ids['a'])}")).status == 200
    gone = await com.get("/admin/inbox/photo/999999")
    gone_body = same_page(await gone.text())
    for key in ("b", "n"):
        resp = await com.get(f"/admin/inbox/photo/{await photo_id(db, ids[key])}")
        assert resp.status == gone.status == 404 and same_page(await resp.text()) == gone_body
        assert "照片尚未获取" in gone_body
    assert (await fed.get(f"/admin/inbox/photo/{await photo_id(db, ids['n'])}")).status == 200

    # the worker names a community later (staff set it, or a dialogue asks): the thread follows
    async with db() as s, s.begin():
        await s.execute(update(Member).where(Member.openid == "oN").values(community=A))
    assert listed(await (await com.get("/admin/inbox")).text(), ids) == {"a", "n"}
    assert 'aria-label="2 条待处理"' in await (await com.get("/admin/")).text()


async def test_actions_on_another_communitys_thread_change_nothing(aiohttp_client, app, db, clock):  # noqa: ANN001
    ids = await three_threads(app, db, clock)
    fed_staff = await create_staff_user(db, "fed", display_name="街道干事", roles=("inbox",))
    mine = await create_staff_user(db, "xingfu", display_name="幸福社区干事", roles=("inbox",), community=A)
    other = await create_staff_user(db, "heping", display_name="和平社区干事", roles=("inbox",), community=B)
    com = await aiohttp_client(app)
    await login(com, "xingfu", DEFAULT_PASSWORD)
    token = await csrf_at(com, "/admin/inbox")
    tb = ids["b"]
    before = [(m.id, m.text) for m in await messages(db, tb)]
    posts = {"reply": {"text": "您好，我们收到了。", "token": "0" * 32}, "note": {"text": "内部备注"},
             "assign": {"assignee": "me"}, "close": {}, "reveal": {}}
    for action, data in posts.items():
        resp = await com.post(f"/admin/inbox/{tb}/{action}", data={"_csrf": token, **data}, allow_redirects=False)
        body = await resp.text()
        assert resp.status == 404 and "这条留言不存在" in body, action
        assert "13800000001" not in body
    t = await thread(db, tb)
    assert (t.status, t.assigned_to, t.unread) == ("open", None, 2)
    assert [(m.id, m.text) for m in await messages(db, tb)] == before and await outbox_rows(db) == []
    async with db() as s:
        done = list(await s.scalars(select(AuditLog).where(AuditLog.staff_id == mine.id,
                                                           AuditLog.action.like("inbox.%"))))
    assert done and all((getattr(r, "refused", False) or r.detail.get("refused")) for r in done)
    assert {r.detail["reason"] for r in done} == {"community"} and len(done) == len(posts)

    # its own community's thread: answered like any other
    resp = await send_reply(com, ids["a"], "您好，请带上工资条来社区工会。")
    assert resp.status == 303
    [row] = await outbox_rows(db)
    assert row.openid == "oA"

    # assignment stays within who can see the thread
    fed = await aiohttp_client(app)
    await login(fed, "fed", DEFAULT_PASSWORD)
    html, form = await open_thread(fed, ids["a"])
    assign_box = html.split('name="assignee"', 1)[1].split("</select>", 1)[0]
    assert "幸福社区干事" in assign_box and "街道干事" in assign_box and "和平社区干事" not in assign_box
    resp = await fed.post(f"/admin/inbox/{ids['a']}/assign", data={"_csrf": form["_csrf"], "assignee": str(other.id)})
    assert "是和平社区的账号，看不到这位职工的留言" in await resp.text()
    assert (await thread(db, ids["a"])).assigned_to == mine.id  # who answered first, unchanged
    await fed.post(f"/admin/inbox/{ids['n']}/assign", data={"_csrf": form["_csrf"], "assignee": str(mine.id)})
    assert (await thread(db, ids["n"])).assigned_to is None  # a worker without community: federation only
    await fed.post(f"/admin/inbox/{ids['n']}/assign", data={"_csrf": form["_csrf"], "assignee": str(fed_staff.id)})
    assert (await thread(db, ids["n"])).assigned_to == fed_staff.id


async def test_faq_and_quick_replies_are_read_only_for_community_accounts(aiohttp_client, app, db, clock):  # noqa: ANN001
    now = clock.now()
    async with db() as s, s.begin():
        s.add(InboxSnippet(title="讨薪材料", text="请保留劳动合同、工资条。", created_at=now, updated_at=now))
        s.add(FaqEntry(keywords=["入会"], answer="入会请带身份证到社区工会。", topic="入会", priority=0, active=True,
                       to_inbox=False, hits=0, created_at=now, updated_at=now))
    async with db() as s:
        entry = await s.scalar(select(FaqEntry).where(FaqEntry.answer.like("入会请带%")))
        snippet = await s.scalar(select(InboxSnippet))
    await create_staff_user(db, "xingfu", roles=("inbox",), community=A)
    ids = await three_threads(app, db, clock)
    com = await aiohttp_client(app)
    await login(com, "xingfu", DEFAULT_PASSWORD)
    token = await csrf_at(com, "/admin/inbox")

    page = await (await com.get("/admin/faq")).text()
    assert "入会请带身份证" in page
    assert 'href="/admin/faq/new"' not in page and "常见问题由街道总工会统一维护" in page
    assert (await com.get("/admin/faq/try?q=怎么入会")).status == 200
    form = await (await com.get(f"/admin/faq/{entry.id}")).text()
    assert "社区账号只能查看" in form and ">保存</button>" not in form
    for url, data in ((f"/admin/faq/{entry.id}", {"keywords": "入会", "answer": "改掉了"}),
                      ("/admin/faq/new", {"keywords": "加班费", "answer": "新的"}),
                      (f"/admin/faq/{entry.id}/delete", {})):
        resp = await com.post(url, data={"_csrf": token, **data})
        assert resp.status == 403 and "常见问题和常用回复由街道总工会统一维护" in await resp.text()

    snippets = await (await com.get("/admin/inbox/snippets")).text()
    assert "讨薪材料" in snippets and "添加常用回复" not in snippets and "社区账号可以使用，不能修改" in snippets
    for url in ("/admin/inbox/snippets", f"/admin/inbox/snippets/{snippet.id}",
                f"/admin/inbox/snippets/{snippet.id}/delete"):
        resp = await com.post(url, data={"_csrf": token, "title": "改", "text": "改"})
        assert resp.status == 403
    html, _ = await open_thread(com, ids["a"])  # and used in a reply all the same
    assert 'data-text="请保留劳动合同、工资条。"' in html and "查看常用回复" in html
    async with db() as s:
        assert (await s.get(FaqEntry, entry.id)).answer == "入会请带身份证到社区工会。"
        assert [x.title for x in await s.scalars(select(InboxSnippet))] == ["讨薪材料"]
        assert await s.scalar(select(FaqEntry.id).where(FaqEntry.answer == "新的")) is None
    assert {r.detail["reason"] for r in await refusals(db, "xingfu")} == {"federation_content"}
