"""/admin/faq: staff edit the common questions and see which ones workers ask.

The list (most asked first), add / edit / delete (with a confirmation page), and 试一试:
which entry — or which feature, or nobody — would answer a typed question. Rules live in
`handlers/inbox/faq.py`; every change is audited.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import keys
from bot.admin import audit, lists
from bot.admin.web import db_session, flash, ops_context, render
from bot.db.models.inbox import FaqEntry
from handlers.inbox import faq

# What staff read for the feature that answers a message before the FAQ (router names).
FEATURE_LABELS = {
    "common": "菜单 / 帮助 / 取消", "hardship": "困难帮扶", "signup": "活动报名", "quiz": "每月一题",
    "chairs": "工会主席报送", "office": "办公时间、电话、地址", "inbox": "留言咨询",
}


def feature_label(name: str) -> str:
    return FEATURE_LABELS.get(name, name)


def _routers(request: web.Request) -> list[Any]:
    return [f.router for f in request.app[keys.ADMIN_FEATURES] if f.router is not None]


async def _topics(db: AsyncSession) -> list[tuple[str, str]]:
    used = (await db.scalars(select(FaqEntry.topic).where(FaqEntry.topic != "").distinct())).all()
    return [(t, t) for t in sorted(used)] + [("-", "未分类")]


def _answer_start(e: FaqEntry) -> str:
    first = " ".join(e.answer.split())
    return first[:40] + ("…" if len(first) > 40 else "")


def _keywords(e: FaqEntry) -> str:
    return "、".join(e.keywords or ())


ENTRIES = lists.ListView(
    title="常见问题",
    template="inbox/faq_list.html",
    query=lambda st: faq.list_query(active=st.filters["active"], topic=st.filters["topic"]),
    search=lists.Search(faq.search_clause, placeholder="关键词或回答里的字"),
    filters=[lists.Choice("active", "状态", [("1", "启用"), ("0", "停用")]),
             lists.Choice("topic", "分类", _topics)],
    columns=[
        lists.Column("keywords", "关键词", value=_keywords,
                     render=lambda e, p: p.link(p.url("faq.edit", entry_id=e.id), _keywords(e))),
        lists.Column("answer", "回答", value=_answer_start),
        lists.Column("topic", "分类", value=lambda e: e.topic or "—"),
        lists.Column("to_inbox", "转人工", value=lambda e: "是" if e.to_inbox else "否",
                     render=lambda e, p: p.m.badge("x", "同时转人工", "wait") if e.to_inbox else Markup("—")),
        lists.Column("hits", "命中次数", value=lambda e: e.hits, sort=FaqEntry.hits, css="num"),
        lists.Column("last_hit", "最近命中", value=lambda e: e.last_hit_at,
                     sort=(FaqEntry.hits > 0, FaqEntry.last_hit_at),  # never asked: last, on either database
                     render=lambda e, p: p.localtime(e.last_hit_at) if e.last_hit_at else "—"),
        lists.Column("priority", "优先级", value=lambda e: e.priority, sort=FaqEntry.priority, css="num"),
        lists.Column("active", "状态", value=lambda e: "启用" if e.active else "停用",
                     render=lambda e, p: p.m.badge("x", "启用" if e.active else "停用", "ok" if e.active else "muted")),
    ],
    default_sort="-hits",
    desc_first=frozenset({"hits", "last_hit", "priority"}),
    tiebreak=FaqEntry.id,
    export=lists.Export("常见问题", sheet="常见问题", audit="faq.export"),
    unit="条",
    empty="没有符合条件的常见问题。",
)


# ----------------------------------------------------------------------------- add / edit
def _input(form: Any) -> faq.EntryInput:
    return faq.EntryInput(
        keywords=str(form.get("keywords", ""))[:2000], answer=str(form.get("answer", ""))[:5000],
        link=str(form.get("link", ""))[:1000], topic=str(form.get("topic", "")).strip()[:32],
        to_inbox=form.get("to_inbox") == "1", active=form.get("active") == "1",
        priority=str(form.get("priority", "0"))[:6])


def _form_page(request: web.Request, data: faq.EntryInput, entry: FaqEntry | None, error: str = "",
               status: int = 200) -> web.Response:
    topics = list(request.app[keys.ADMIN_SETTINGS].inbox.topics)
    if data.topic and data.topic not in topics:
        topics.append(data.topic)
    return render(request, "inbox/faq_form.html", {
        "v": data, "entry": entry, "error": error, "topics": topics,
        "max_chars": faq.MAX_ANSWER_BYTES // 3,
    }, status=status)


async def new_form(request: web.Request) -> web.Response:
    return _form_page(request, faq.EntryInput(keywords=request.query.get("keywords", "")[:200]), None)


async def edit_form(request: web.Request) -> web.Response:
    async with db_session(request) as db:
        entry = await _entry_or_404(db, request)
    return _form_page(request, faq.EntryInput.of(entry), entry)


async def _entry_or_404(db: AsyncSession, request: web.Request) -> FaqEntry:
    try:
        return await faq.get_entry(db, int(request.match_info["entry_id"]))
    except faq.FaqError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None


async def save(request: web.Request) -> web.StreamResponse:
    """Create (no id) or edit an entry; a refusal shows the form again with what was typed."""
    ctx = ops_context(request)
    raw_id = request.match_info.get("entry_id")
    data = _input(await request.post())
    try:
        async with db_session(request) as db, db.begin():
            if raw_id is None:
                entry = await faq.create_entry(db, ctx, data)
            else:
                entry = await faq.update_entry(db, ctx, int(raw_id), data)
            await audit.record(db, staff_id=ctx.staff_id, action="faq.create" if raw_id is None else "faq.edit",
                               target=f"faq:{entry.id}",
                               detail={"keywords": entry.keywords, "active": entry.active, "to_inbox": entry.to_inbox},
                               now=ctx.now)
    except faq.FaqError as exc:
        current = None
        if raw_id is not None:
            async with db_session(request) as db:
                current = await _entry_or_404(db, request)
        return _form_page(request, data, current, str(exc), status=400)
    await flash(request, "已添加这条常见问题" if raw_id is None else "已保存")
    for kw, name in faq.keyword_conflicts(_routers(request), entry.keywords, ctx.now):
        await flash(request, f"提示：职工只发「{kw}」这几个字时，会由「{feature_label(name)}」功能回答；"
                             "句子里包含它时才由这条常见问题回答。", "warn")
    raise web.HTTPSeeOther(str(request.app.router["faq.list"].url_for()))


# ----------------------------------------------------------------------------- delete
async def delete_confirm(request: web.Request) -> web.Response:
    async with db_session(request) as db:
        entry = await _entry_or_404(db, request)
    return render(request, "inbox/faq_delete.html", {"entry": entry})


async def delete(request: web.Request) -> web.StreamResponse:
    ctx = ops_context(request)
    try:
        async with db_session(request) as db, db.begin():
            entry = await faq.delete_entry(db, ctx, int(request.match_info["entry_id"]))
            await audit.record(db, staff_id=ctx.staff_id, action="faq.delete", target=f"faq:{entry.id}",
                               detail={"keywords": entry.keywords, "hits": entry.hits}, now=ctx.now)
    except faq.FaqError as exc:
        await flash(request, str(exc), "error")
    else:
        await flash(request, f"已删除「{'、'.join(entry.keywords[:3])}」这条常见问题")
    raise web.HTTPSeeOther(str(request.app.router["faq.list"].url_for()))


# ----------------------------------------------------------------------------- 试一试
async def try_page(request: web.Request) -> web.Response:
    """Which entry (or feature, or nobody) would answer a question typed here."""
    text = request.query.get("q", "").strip()[:500]
    result = None
    entry = None
    if text:
        ctx = ops_context(request)
        async with db_session(request) as db:
            result = await faq.preview(db, text, routers=_routers(request), now=ctx.now)
            if result.match is not None:
                entry = await db.get(FaqEntry, result.match.entry_id)
    return render(request, "inbox/faq_try.html", {
        "q": text, "result": result, "entry": entry,
        "feature": feature_label(result.feature) if result and result.feature else "",
    })


def setup(app: web.Application) -> None:
    ENTRIES.add_routes(app.router, "/faq", name="faq.list", export_name="faq.download")
    app.router.add_get("/faq/try", try_page, name="faq.preview")
    app.router.add_get("/faq/new", new_form, name="faq.new")
    app.router.add_post("/faq/new", save, name="faq.create")
    app.router.add_get("/faq/{entry_id:\\d{1,9}}", edit_form, name="faq.edit")
    app.router.add_post("/faq/{entry_id:\\d{1,9}}", save, name="faq.save")
    app.router.add_get("/faq/{entry_id:\\d{1,9}}/delete", delete_confirm, name="faq.delete_confirm")
    app.router.add_post("/faq/{entry_id:\\d{1,9}}/delete", delete, name="faq.delete")
