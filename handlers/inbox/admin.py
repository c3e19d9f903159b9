"""/admin/inbox: the staff's inbox — threads, the thread page, replies, notes, assignment,
closing, the phone reveal, quick replies (snippets).

Presentation only: every read and change calls `handlers.inbox.replies` with
`ops_context(request)`, shows its `InboxError` as it is, and writes the audit row in the
same transaction. Every POST ends in a redirect (PRG), except a refused reply, which shows
the page again with the text kept in the textarea.
"""
from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot import keys
from bot.admin import audit, lists, permissions
from bot.admin.auth import current_staff
from bot.admin.web import SERVICES, db_session, flash, ops_context, render, render_error
from bot.db.models.inbox import InboxThread
from bot.feature import TodoItem
from handlers.inbox import ops, replies



# ----------------------------------------------------------------------------- the list
def _thread_cell(row: replies.ThreadRow, page: lists.ListPage) -> Markup:
    t = row.thread
    title = t.subject or "（没有文字）"
    link = page.link(page.url("inbox.thread", id=t.id), title)
    return Markup('<div>{}<br><small>#{} · {}</small></div>').format(link, t.id, t.topic)


def _worker_cell(row: replies.ThreadRow, page: lists.ListPage) -> Markup:
    m = row.member
    name = m.name if m is not None and m.name else "未留姓名"
    phone = page.m.masked(m.phone, "phone") if m is not None and m.phone else Markup("")
    return Markup("<div>{}<br>{}</div>").format(name, phone) if phone else Markup("{}").format(name)


def _unread_cell(row: replies.ThreadRow, page: lists.ListPage) -> Markup:
    n = row.thread.unread
    return page.m.badge("x", f"{n} 条未读", "bad") if n else Markup('<span class="muted">—</span>')


def _waiting_cell(row: replies.ThreadRow, page: lists.ListPage) -> Markup:
    t = row.thread
    if t.status == "closed":
        return page.m.badge("closed", "已结束")
    if t.waiting:
        return page.m.badge("x", row.waited or "待回复", "wait")
    return page.m.badge("x", "已回复", "ok")


async def _list_context(request: web.Request) -> dict[str, Any]:
    return {"views": replies.VIEWS, "view": request.query.get("view", "")}


async def _topics(db, request: web.Request) -> list[tuple[str, str]]:  # noqa: ANN001
    return await replies.topic_choices(db, permissions.community(request))


T = InboxThread
THREADS = lists.ListView(
    title="留言咨询",
    template="inbox/list.html",
    query=lambda st: replies.list_query(view=st.filters["view"], topic=st.filters["topic"],
                                        staff_id=getattr(st.staff, "id", None)),
    search=lists.Search(replies.search_clause, placeholder="内容、姓名或电话"),
    filters=[lists.Choice("view", "范围", list(replies.VIEWS.items()), hidden=True),
             lists.Choice("topic", "类别", _topics)],
    rows=lambda db, threads, st: replies.list_rows(db, st.ops, threads),
    row_id=lambda row: row.thread.id,
    columns=[
        lists.Column("thread", "留言", render=_thread_cell),
        lists.Column("worker", "职工", render=_worker_cell),
        lists.Column("unread", "未读", render=_unread_cell),
        lists.Column("waiting", "等待", render=_waiting_cell),
        lists.Column("assignee", "经办人", value=lambda row: row.assignee or "—"),
        lists.Column("last", "最近消息", value=lambda row: row.thread.last_message_at, sort=T.last_message_at),
    ],
    default_sort="-last",
    tiebreak=T.id.desc(),
    context=_list_context,
    scope=ops.thread_community(),  # a community account: its community's workers' threads only
    unit="条",
    empty="没有符合条件的留言。",
)


# ----------------------------------------------------------------------------- the thread page
def _thread_id(request: web.Request) -> int:
    return int(request.match_info["id"])


def _thread_url(request: web.Request, thread_id: int, anchor: str = "") -> str:
    return str(request.app.router["inbox.thread"].url_for(id=str(thread_id))) + (f"#{anchor}" if anchor else "")


def _contexts(request: web.Request) -> list[tuple[str, Any]]:
    return [(f.name, f.member_context) for f in permissions.feature_roles(request, request.app[keys.ADMIN_FEATURES])
            if f.member_context is not None]  # only what the account may read (e.g. 帮扶 for hardship staff)


async def _revealed(request: web.Request, thread_id: int) -> bool:
    async with db_session(request) as db:
        return await replies.revealed_recently(db, ops_context(request), thread_id)


async def _not_found(request: web.Request) -> web.Response:
    return await render_error(request, 404, "没有这条留言", "这条留言不存在，可能编号有误。",
                              link=str(request.app.router["inbox.list"].url_for()))


async def _visible(request: web.Request, thread_id: int) -> bool:
    """The thread exists and this account's community may see it. Another community's thread is
    answered exactly as a missing one (`_not_found`), and audited as refused."""
    async with db_session(request) as db:
        try:
            thread = await replies.get_thread(db, thread_id)
            permissions.check_scope(request, await replies.community_of(db, thread),
                                    error=replies.InboxError(replies.MISSING))
        except replies.InboxError:
            return False
    return True


async def _thread_page(request: web.Request, thread_id: int, *, draft: str = "", error: str = "",
                       token: str = "", status: int = 200) -> web.Response:
    if not await _visible(request, thread_id):
        return await _not_found(request)
    ctx = ops_context(request)
    answers = permissions.principal(request).holds(replies.ANSWER_ROLES[0])  # a viewer only reads
    try:
        async with db_session(request) as db, db.begin():
            view = await replies.thread_view(db, ctx, thread_id, _contexts(request),
                                             scope=permissions.community(request))
            if status == 200:  # a view of what a worker wrote is audited, like a hardship record's
                await audit.record(db, staff_id=current_staff(request).id, action="inbox.view",
                                   target=f"inbox:{thread_id}", now=ctx.now)
            if status == 200 and answers:
                await replies.mark_read(db, ctx, thread_id)
    except replies.InboxError:
        return await _not_found(request)
    return render(request, "inbox/thread.html", {
        "v": view, "t": view.thread, "draft": draft, "error": error, "token": token or replies.new_token(),
        "limit": replies.CS_TEXT_LIMIT, "revealed": await _revealed(request, thread_id),
        "status_labels": replies.STATUS_LABELS, "me": current_staff(request).id, "answers": answers,
    }, status=status)


async def thread(request: web.Request) -> web.Response:
    """The whole conversation, the worker's context and the reply form; opening it marks it read."""
    return await _thread_page(request, _thread_id(request))


async def _missing(request: web.Request, thread_id: int) -> bool:
    async with db_session(request) as db:
        try:
            await replies.get_thread(db, thread_id)
        except replies.InboxError:
            return True
    return False


async def reply(request: web.Request) -> web.StreamResponse:
    """Send an answer to the worker (through the outbox, once per form)."""
    staff = current_staff(request)
    thread_id = _thread_id(request)
    if not await _visible(request, thread_id):
        return await _not_found(request)
    form = await request.post()
    text = str(form.get("text", ""))
    token = str(form.get("token", ""))
    seen = str(form.get("seen", ""))
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            result = await replies.reply(db, ctx, thread_id, text, token=token,
                                         seen=int(seen) if seen.isdecimal() and len(seen) < 12 else 0)
            if not result.duplicate and result.message is not None:
                await audit.record(db, staff_id=staff.id, action="inbox.reply", target=f"inbox:{thread_id}",
                                   detail={"message": result.message.id, "chars": len(result.message.text)},
                                   now=ctx.now)
    except replies.InboxError as exc:
        if await _missing(request, thread_id):
            return await _not_found(request)
        status = 409 if isinstance(exc, replies.ColleagueReplied) else 400
        return await _thread_page(request, thread_id, draft=text, error=str(exc), token=token, status=status)
    if result.duplicate:
        await flash(request, "这条回复刚才已经发送过了，没有重复发送。", "warn")
    elif result.worker_wrote:
        await flash(request, "已发送。职工刚刚又发来了新消息，请看上面。", "warn")
    else:
        await flash(request, "回复已发送。")
    anchor = f"m{result.message.id}" if result.message is not None else ""
    raise web.HTTPSeeOther(_thread_url(request, thread_id, anchor))


async def _act(request: web.Request, action: str, fn, done: str, **detail: Any) -> web.StreamResponse:  # noqa: ANN001
    """One change to a thread through its operation, audited; the outcome flashed."""
    staff = current_staff(request)
    thread_id = _thread_id(request)
    if not await _visible(request, thread_id):
        return await _not_found(request)
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            await fn(db, ctx, thread_id)
            await audit.record(db, staff_id=staff.id, action=f"inbox.{action}", target=f"inbox:{thread_id}",
                               detail=detail, now=ctx.now)
    except replies.InboxError as exc:
        if await _missing(request, thread_id):
            return await _not_found(request)
        await flash(request, str(exc), "error")
    else:
        await flash(request, done)
    raise web.HTTPSeeOther(_thread_url(request, thread_id))


async def note(request: web.Request) -> web.StreamResponse:
    text = str((await request.post()).get("text", ""))
    return await _act(request, "note", lambda db, ctx, tid: replies.add_note(db, ctx, tid, text), "已添加内部备注")


async def assign(request: web.Request) -> web.StreamResponse:
    raw = str((await request.post()).get("assignee", ""))
    if raw == "me":
        raw = str(current_staff(request).id)
    who = int(raw) if raw.isdecimal() and len(raw) < 10 else None
    return await _act(request, "assign", lambda db, ctx, tid: replies.assign(db, ctx, tid, who),
                      "已更新经办人" if who else "已取消分配", assignee=who)


async def close(request: web.Request) -> web.StreamResponse:
    return await _act(request, "close", replies.close, "已结束这条咨询，并告知了职工")


async def reopen(request: web.Request) -> web.StreamResponse:
    return await _act(request, "reopen", replies.reopen, "已重新打开这条咨询")


async def reveal(request: web.Request) -> web.StreamResponse:
    """Show the worker's full phone number on the thread page (audited once per click)."""
    staff = current_staff(request)
    thread_id = _thread_id(request)
    if not await _visible(request, thread_id):
        return await _not_found(request)
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            _, phone = await replies.worker_phone(db, ctx, thread_id)
            # The page shows the number for a while after this row (a refresh is not a new reveal).
            await audit.record(db, staff_id=staff.id, action=replies.REVEAL_ACTION, target=f"inbox:{thread_id}",
                               now=ctx.now)
    except replies.InboxError:
        return await _not_found(request)
    if not phone:
        await flash(request, "这位职工没有留下电话，可以在微信里请他留个电话。", "warn")
    raise web.HTTPSeeOther(_thread_url(request, thread_id, "worker"))


async def photo(request: web.Request) -> web.StreamResponse:
    """A worker's photo, fetched like hardship evidence (only through the logged-in admin)."""
    media_dir = Path(request.app[SERVICES].get("media_dir") or "data/media")
    async with db_session(request) as db:
        found = await replies.message_thread(db, int(request.match_info["message_id"]))
        community = await replies.community_of(db, found[1]) if found is not None else None
    row = found[0] if found is not None else None
    if row is None or row.kind != "image" or not row.path:
        raise web.HTTPNotFound(text="照片尚未获取")
    permissions.check_scope(request, community, not_found="照片尚未获取")  # another community's: the same 404
    path = (media_dir / row.path).resolve()
    if not path.is_relative_to(media_dir.resolve()) or not path.is_file():
        raise web.HTTPNotFound(text="照片文件不存在")
    ctype = row.content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return web.FileResponse(path, headers={"Content-Type": ctype.split(";")[0], "Cache-Control": "private, no-store"})


# ----------------------------------------------------------------------------- snippets
def _snippets_url(request: web.Request) -> str:
    return str(request.app.router["inbox.snippets"].url_for())


async def _snippets_page(request: web.Request, *, edit: Any = None, values: dict[str, str] | None = None,
                         errors: dict[str, str] | None = None, status: int = 200) -> web.Response:
    async with db_session(request) as db:
        rows = await replies.list_snippets(db)
    return render(request, "inbox/snippets.html", {
        "snippets": rows, "edit": edit, "values": values or {}, "errors": errors or {}, "limit": replies.CS_TEXT_LIMIT,
    }, status=status)


async def snippets(request: web.Request) -> web.Response:
    return await _snippets_page(request)


async def snippet_edit(request: web.Request) -> web.Response:
    async with db_session(request) as db:
        try:
            row = await replies.get_snippet(db, int(request.match_info["snippet_id"]))
        except replies.InboxError as exc:
            return await render_error(request, 404, "没有这条常用回复", str(exc), link=_snippets_url(request))
    return await _snippets_page(request, edit=row, values={"title": row.title, "text": row.text})


async def snippet_save(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    raw_id = request.match_info.get("snippet_id")
    snippet_id = int(raw_id) if raw_id else None
    form = await request.post()
    values = {"title": str(form.get("title", "")), "text": str(form.get("text", ""))}
    errors = replies.check_snippet(values["title"], values["text"])
    ctx = ops_context(request)
    if not errors:
        try:
            async with db_session(request) as db, db.begin():
                row = await replies.save_snippet(db, ctx, snippet_id, **values)
                await audit.record(db, staff_id=staff.id, action="inbox.snippet_save", target=f"snippet:{row.id}",
                                   detail={"title": row.title}, now=ctx.now)
        except replies.InboxError as exc:
            return await render_error(request, 404, "没有这条常用回复", str(exc), link=_snippets_url(request))
        await flash(request, f"已保存常用回复「{row.title}」")
        raise web.HTTPSeeOther(_snippets_url(request))
    edit = {"id": snippet_id} if snippet_id else None
    return await _snippets_page(request, edit=edit, values=values, errors=errors, status=400)


async def snippet_delete(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            row = await replies.delete_snippet(db, ctx, int(request.match_info["snippet_id"]))
            await audit.record(db, staff_id=staff.id, action="inbox.snippet_delete", target=f"snippet:{row.id}",
                               detail={"title": row.title}, now=ctx.now)
    except replies.InboxError as exc:
        await flash(request, str(exc), "warn")
    else:
        await flash(request, f"已删除常用回复「{row.title}」")
    raise web.HTTPSeeOther(_snippets_url(request))


# ----------------------------------------------------------------------------- 工作台 and routes
async def todo(db, community: str | None = None, assigned_to: int | None = None) -> list[TodoItem]:  # noqa: ANN001
    """The 工作台's inbox line: workers' questions waiting for an answer (of a community
    account: its community's workers'); with `assigned_to`, 我的待办 — those assigned to them."""
    if assigned_to is not None:
        return [TodoItem("分给我的待回复留言", await ops.count_waiting(db, community, assigned_to),
                         "/admin/inbox?view=mine")]
    return [TodoItem("待回复的留言", await ops.count_waiting(db, community), "/admin/inbox?view=waiting")]


def setup(app: web.Application) -> None:
    THREADS.add_routes(app.router, "/inbox", name="inbox.list")
    r = app.router
    r.add_get("/inbox/snippets", snippets, name="inbox.snippets")
    r.add_post("/inbox/snippets", snippet_save, name="inbox.snippet_add")
    r.add_get(r"/inbox/snippets/{snippet_id:\d{1,9}}", snippet_edit, name="inbox.snippet_edit")
    r.add_post(r"/inbox/snippets/{snippet_id:\d{1,9}}", snippet_save, name="inbox.snippet_save")
    r.add_post(r"/inbox/snippets/{snippet_id:\d{1,9}}/delete", snippet_delete, name="inbox.snippet_delete")
    r.add_get(r"/inbox/photo/{message_id:\d{1,9}}", photo, name="inbox.photo")
    r.add_get(r"/inbox/{id:\d{1,9}}", thread, name="inbox.thread")
    r.add_post(r"/inbox/{id:\d{1,9}}/reply", reply, name="inbox.reply")
    r.add_post(r"/inbox/{id:\d{1,9}}/note", note, name="inbox.note")
    r.add_post(r"/inbox/{id:\d{1,9}}/assign", assign, name="inbox.assign")
    r.add_post(r"/inbox/{id:\d{1,9}}/close", close, name="inbox.close")
    r.add_post(r"/inbox/{id:\d{1,9}}/reopen", reopen, name="inbox.reopen")
    r.add_post(r"/inbox/{id:\d{1,9}}/reveal", reveal, name="inbox.reveal")
