"""The staff's side of the inbox: the thread list, the thread page's data, replies, notes,
assignment, closing and reopening, quick replies (snippets) and the phone reveal.

A reply is an `InboxMessage` (sender "staff") and an outbox row under `inbox:<thread>:<message
id>`: a customer-service text inside the worker's 48-hour window, a template (`[wechat]
templates.inbox_reply`) outside it when configured, else `unreachable` for staff to phone.
The reply form carries a token: the message's unique `source_key` is `staff:<token>`, so the
same form sent twice (a double click, two worker processes) is stored and sent once.
"""
from __future__ import annotations

import logging

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.db.engine import dialect_insert
from bot.db.models.core import AuditLog, Member, Staff
from bot.db.models.inbox import InboxMessage, InboxSnippet, InboxThread
from bot.feature import MemberContextFunc, MemberFact
from bot.operations import OpsContext
from handlers.inbox.ops import NOTICE_PURPOSE, REPLY_PURPOSE, TEMPLATE_KIND, InboxError, thread_community

# WeChat's customer-service text message takes at most 2048 bytes of UTF-8 (errcode 45002 beyond).
CS_TEXT_LIMIT = 2048
TEMPLATE_TEXT_CHARS = 100  # the start of a reply shown in the template message
SNIPPET_TITLE_MAX = 64
NOTE_MAX = 2000
MSG_WINDOW, MSG_WINDOW_LIMIT = timedelta(hours=48), 5  # as bot.delivery counts them
TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
ANSWER_ROLES = ("inbox", "admin")  # the staff roles that answer workers (bot/admin/roles.py)
REVEAL_ACTION = "inbox.reveal_phone"  # the audit row of a phone reveal
REVEAL_FOR = timedelta(minutes=30)  # the thread page shows the number this long after the reveal

VIEWS = {"waiting": "待回复", "open": "进行中", "mine": "分配给我", "unassigned": "未分配", "closed": "已结束"}
STATUS_LABELS = {"open": "进行中", "closed": "已结束"}
REOPEN_NOTICE = "工作人员重新打开了您之前的咨询，会在这里继续回复您；有要补充的也可以直接发来。"
CLOSE_NOTICE = "工作人员已结束本次咨询。如还有问题，随时给我们留言；急事请{call}。"


def new_token() -> str:
    """The reply form's one-time token (its double submission is sent once)."""
    return secrets.token_hex(16)


# ----------------------------------------------------------------------------- delivery labels
@dataclass(frozen=True)
class DeliveryState:
    label: str
    tone: str  # ok | wait | bad | muted
    needs_phone: bool = False


def delivery_state(status: str | None, via: str | None = None) -> DeliveryState:
    """What staff read beside a message sent to the worker."""
    if status in ("pending", "sending"):
        return DeliveryState("发送中", "wait")
    if status == "sent":
        return DeliveryState("已送达（模板消息）" if via == "template" else "已送达", "ok")
    if status == "simulated":
        return DeliveryState("离线模式·未实际发送", "muted")
    if status == "unreachable":
        return DeliveryState("无法送达·请电话联系", "bad", True)
    if status == "failed":
        return DeliveryState("发送失败·请电话联系", "bad", True)
    if status == "uncertain":
        return DeliveryState("可能未送达·请电话联系", "bad", True)
    if status == "cancelled":
        return DeliveryState("已取消", "muted")
    return DeliveryState("未发送", "muted")


def waited_text(since: datetime | None, now: datetime) -> str:
    """「等了 3 小时」: how long the worker's question has waited."""
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 1:
        return "刚刚"
    if minutes < 60:
        return f"等了 {minutes} 分钟"
    if minutes < 48 * 60:
        return f"等了 {minutes // 60} 小时"
    return f"等了 {minutes // (24 * 60)} 天"


# ----------------------------------------------------------------------------- lookups
async def member_for(session: AsyncSession, ctx: OpsContext, openid: str) -> Member | None:
    """The worker's profile row (this account's row preferred)."""
    rows = list(await session.scalars(select(Member).where(Member.openid == openid).order_by(Member.id)))
    app_id = ctx.settings.wechat.app_id
    return next((m for m in rows if m.app_id == app_id), rows[0] if rows else None)


async def staff_names(session: AsyncSession) -> dict[int, str]:
    return {s.id: s.display_name or s.username for s in await session.scalars(select(Staff))}


def answers_workers(staff: Staff) -> bool:
    """May this account look after threads (bot/admin/roles.py: the inbox role, or an admin)?"""
    return staff.active and bool(set(staff.roles or ()) & set(ANSWER_ROLES))


def sees_thread(staff: Staff, community: str | None) -> bool:
    """Does this account see threads of `community` (a community account only its own)?"""
    return staff.community is None or staff.community == community


async def active_staff(session: AsyncSession, community: str | None = None) -> list[Staff]:
    """Whom a thread of `community` may be assigned to."""
    return [s for s in await session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.id))
            if answers_workers(s) and sees_thread(s, community)]


MISSING = "没有这条留言，可能已被删除。"  # another community's thread reads the same (bot/admin/permissions.py)


async def get_thread(session: AsyncSession, thread_id: int, *, lock: bool = False) -> InboxThread:
    q = select(InboxThread).where(InboxThread.id == thread_id)
    thread = await session.scalar(q.with_for_update() if lock else q)
    if thread is None:
        raise InboxError(MISSING)
    return thread


async def community_of(session: AsyncSession, thread: InboxThread) -> str | None:
    """The thread's community: its worker's (None: the federation's accounts only)."""
    if thread.member_id is None:
        return None
    return await session.scalar(select(Member.community).where(Member.id == thread.member_id))


async def message_thread(session: AsyncSession, message_id: int) -> tuple[InboxMessage, InboxThread] | None:
    """A message and its thread (a photo's URL names only the message)."""
    msg = await session.get(InboxMessage, message_id)
    thread = await session.get(InboxThread, msg.thread_id) if msg is not None else None
    return (msg, thread) if msg is not None and thread is not None else None


# ----------------------------------------------------------------------------- the list
def list_query(*, view: str = "", topic: str = "", staff_id: int | None = None) -> Select:
    """Threads, newest activity first, in one of the VIEWS and of one topic."""
    q = select(InboxThread)
    t = InboxThread
    if view == "waiting":
        q = q.where(t.status == "open", t.waiting.is_(True))
    elif view == "open":
        q = q.where(t.status == "open")
    elif view == "mine":
        q = q.where(t.status == "open", t.assigned_to == (staff_id if staff_id is not None else -1))
    elif view == "unassigned":
        q = q.where(t.status == "open", t.assigned_to.is_(None))
    elif view == "closed":
        q = q.where(t.status == "closed")
    if topic:
        q = q.where(t.topic == topic)
    return q.order_by(t.last_message_at.desc(), t.id.desc())


def search_clause(term: str):  # noqa: ANN201
    """Subject, any message's text, the worker's name (or phone digits), or the thread number."""
    t = InboxThread
    conds: list[Any] = [
        t.subject.contains(term, autoescape=True),
        exists().where(InboxMessage.thread_id == t.id, InboxMessage.text.contains(term, autoescape=True)),
        exists().where(Member.openid == t.openid, Member.name.contains(term, autoescape=True)),
    ]
    digits = term.lstrip("#")
    if digits.isdecimal():
        if len(digits) <= 9:
            conds.append(t.id == int(digits))
        if len(digits) >= 4:
            conds.append(exists().where(Member.openid == t.openid, Member.phone.contains(digits, autoescape=True)))
    return or_(*conds)


async def topic_choices(session: AsyncSession, community: str | None = None) -> list[tuple[str, str]]:
    """The topics threads have (configured topics may change; old threads keep theirs); of a
    community's threads when `community` is given."""
    q = select(InboxThread.topic).distinct().order_by(InboxThread.topic)
    if community is not None:
        q = q.where(thread_community() == community)
    return [(tp, tp) for tp in await session.scalars(q) if tp]


@dataclass
class ThreadRow:
    thread: InboxThread
    member: Member | None
    assignee: str
    waited: str


async def list_rows(session: AsyncSession, ctx: OpsContext, threads: Sequence[InboxThread]) -> list[ThreadRow]:
    openids = sorted({t.openid for t in threads})
    members: dict[str, Member] = {}
    app_id = ctx.settings.wechat.app_id
    for m in await session.scalars(select(Member).where(Member.openid.in_(openids)).order_by(Member.id)):
        if m.openid not in members or m.app_id == app_id:
            members[m.openid] = m
    names = await staff_names(session) if any(t.assigned_to for t in threads) else {}
    now = ctx.now
    return [ThreadRow(t, members.get(t.openid), names.get(t.assigned_to, "") if t.assigned_to else "",
                      waited_text(t.waiting_since, now) if t.status == "open" and t.waiting else "")
            for t in threads]


# ----------------------------------------------------------------------------- the thread page
@dataclass
class MessageView:
    msg: InboxMessage
    author: str  # 职工 / the staff member's name / 自动回复
    delivery: DeliveryState | None = None


@dataclass
class ThreadView:
    thread: InboxThread
    messages: list[MessageView]
    member: Member | None
    facts: list[MemberFact]
    facts_failed: list[str]
    other_threads: list[InboxThread]
    staff: list[Staff]
    assignee: str
    snippets: list[InboxSnippet]
    route: str  # how a reply would go now: cs | template | none | offline
    community: str | None  # the worker's community (None: the federation's accounts only)
    window_left: int  # customer-service messages left in the window
    unreachable: bool  # the latest staff reply did not reach the worker
    last_id: int  # the newest message id (the reply form's "seen")
    waited: str = ""


def reply_route(ctx: OpsContext, member: Member | None) -> tuple[str, int]:
    """How a reply sent now would go: inside the window (cs, messages left), template, or none."""
    if not ctx.settings.wechat.app_id:
        return "offline", 0
    if member is not None and member.msg_window_at is not None and member.msg_window_at > ctx.now - MSG_WINDOW:
        left = MSG_WINDOW_LIMIT - (member.msg_window_used or 0)
        if left > 0:
            return "cs", left
    return ("template" if ctx.settings.wechat.templates.get(TEMPLATE_KIND) else "none"), 0


async def member_facts(session: AsyncSession, openid: str, contexts: Iterable[tuple[str, MemberContextFunc]],
                       ) -> tuple[list[MemberFact], list[str]]:
    """Every feature's facts about this worker; a feature that fails is named, not fatal."""
    facts: list[MemberFact] = []
    failed: list[str] = []
    for name, fn in contexts:
        try:
            async with session.begin_nested():
                facts.extend(await fn(session, openid))
        except Exception:  # one feature's bug must not hide the conversation from staff
            logging.getLogger(__name__).exception("member_context of %s failed", name)
            failed.append(name)
    return facts, failed


async def thread_view(session: AsyncSession, ctx: OpsContext, thread_id: int,
                      contexts: Iterable[tuple[str, MemberContextFunc]] = (), *,
                      scope: str | None = None) -> ThreadView:
    """The thread page's data; `scope`: the viewing account's community (its other threads
    listed only of that community)."""
    thread = await get_thread(session, thread_id)
    msgs = list(await session.scalars(select(InboxMessage).where(InboxMessage.thread_id == thread_id)
                                      .order_by(InboxMessage.at, InboxMessage.id)))
    sent = {m.key: m for m in await outbox.messages(session, keys=[x.outbox_key for x in msgs if x.outbox_key])}
    names = await staff_names(session)
    views = []
    for m in msgs:
        author = {"worker": "职工", "bot": "自动回复"}.get(m.sender) or names.get(m.staff_id, "工作人员")
        delivery = None
        if m.outbox_key:
            o = sent.get(m.outbox_key)
            delivery = delivery_state(o.status if o else None, o.via if o else None)
        views.append(MessageView(m, author, delivery))
    staff_replies = [v for v in views if v.msg.sender == "staff"]
    member = await member_for(session, ctx, thread.openid)
    facts, failed = await member_facts(session, thread.openid, contexts)
    community = await community_of(session, thread)
    others = list(await session.scalars(
        select(InboxThread).where(InboxThread.openid == thread.openid, InboxThread.id != thread.id,
                                  true() if scope is None else thread_community() == scope)
        .order_by(InboxThread.id.desc()).limit(5)))
    route, left = reply_route(ctx, member)
    return ThreadView(
        thread=thread, messages=views, member=member, facts=facts, facts_failed=failed, other_threads=others,
        staff=await active_staff(session, community),
        assignee=names.get(thread.assigned_to, "") if thread.assigned_to else "",
        snippets=await list_snippets(session), route=route, community=community, window_left=left,
        unreachable=bool(staff_replies and staff_replies[-1].delivery and staff_replies[-1].delivery.needs_phone),
        last_id=max((m.id for m in msgs), default=0),
        waited=waited_text(thread.waiting_since, ctx.now) if thread.status == "open" and thread.waiting else "",
    )


async def mark_read(session: AsyncSession, ctx: OpsContext, thread_id: int) -> None:
    """Staff opened the thread: its worker messages count as read."""
    thread = await get_thread(session, thread_id)
    if thread.unread:
        thread.unread = 0


async def newest_id(session: AsyncSession, thread_id: int) -> int:
    return int(await session.scalar(select(func.max(InboxMessage.id)).where(InboxMessage.thread_id == thread_id))
               or 0)


# ----------------------------------------------------------------------------- replies
def check_reply(text: str) -> str:
    """The reply as it will be sent, or InboxError saying what to change."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise InboxError("回复内容是空的，请写好再发送。")
    size = len(text.encode("utf-8"))
    if size > CS_TEXT_LIMIT:
        raise InboxError(f"回复太长了：微信一条消息最多 {CS_TEXT_LIMIT} 字节（约 {CS_TEXT_LIMIT // 3} 个汉字），"
                         f"这条有 {size} 字节。请删减一些，或分成两条发送。")
    return text


class ColleagueReplied(InboxError):
    """A colleague answered after the reply form was loaded; the reply was not sent."""


@dataclass
class ReplyResult:
    message: InboxMessage | None
    duplicate: bool = False  # this form was already sent (nothing new was queued)
    worker_wrote: bool = False  # the worker wrote again after the page was loaded


def _template_data(ctx: OpsContext, thread: InboxThread, text: str) -> dict[str, Any]:
    start = text if len(text) <= TEMPLATE_TEXT_CHARS else text[:TEMPLATE_TEXT_CHARS - 1] + "…"
    return {"topic": thread.topic, "reply": start, "time": ctx.local().strftime("%Y-%m-%d %H:%M"),
            "remark": f"如需进一步咨询，请回复本公众号或{ctx.settings.office.call_line()}。"}


async def _insert_message(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert a message; None when its source_key was already used (the same form again)."""
    insert = dialect_insert(session.get_bind().dialect.name)
    stmt = insert(InboxMessage).values(**values)
    if values.get("source_key"):
        stmt = stmt.on_conflict_do_nothing(index_elements=["source_key"])
    return await session.scalar(stmt.returning(InboxMessage.id))


async def reply(session: AsyncSession, ctx: OpsContext, thread_id: int, text: str, *, token: str = "",
                seen: int = 0) -> ReplyResult:
    """Answer the worker: stored on the thread and queued in the outbox (sent once per form)."""
    text = check_reply(text)
    thread = await get_thread(session, thread_id, lock=True)
    if thread.status != "open":
        raise InboxError("这条咨询已经结束。如需继续回复，请先点「重新打开」。")
    now = ctx.now
    key = f"staff:{token}" if TOKEN_RE.match(token or "") else f"staff:{new_token()}"
    later = list(await session.execute(select(InboxMessage.sender, InboxMessage.source_key).where(
        InboxMessage.thread_id == thread_id, InboxMessage.id > seen))) if seen else []
    if any(sender == "staff" and source != key for sender, source in later):
        # A colleague answered since this page was loaded: nothing is sent; the page shows their
        # answer and keeps this draft, so two different answers don't both reach the worker.
        raise ColleagueReplied("另一位同事刚刚回复了这位职工（见上方）。您的回复还没有发出，已保留在下面："
                               "看过之后仍要发送，再点一次「发送回复」即可。")
    msg_id = await _insert_message(session, {
        "thread_id": thread_id, "at": now, "sender": "staff", "staff_id": ctx.staff_id, "kind": "text",
        "text": text, "source_key": key, "media_id": "", "media_status": "", "content_type": "", "attempts": 0,
        "error": ""})
    if msg_id is None:
        return ReplyResult(await session.scalar(select(InboxMessage).where(InboxMessage.source_key == key)),
                           duplicate=True)
    msg = await session.get(InboxMessage, msg_id)
    assert msg is not None
    msg.outbox_key = f"inbox:{thread_id}:{msg_id}"
    template = None
    if ctx.settings.wechat.templates.get(TEMPLATE_KIND):
        template = {"kind": TEMPLATE_KIND, "data": _template_data(ctx, thread, text)}
    await outbox.enqueue(session, key=msg.outbox_key, openid=thread.openid, now=now, text=text,
                         purpose=REPLY_PURPOSE, template=template)
    thread.waiting = False
    thread.waiting_since = None
    thread.unread = 0
    thread.last_message_at = now
    if thread.assigned_to is None and ctx.staff_id is not None:
        thread.assigned_to = ctx.staff_id  # whoever answers first looks after it
    await session.flush()
    return ReplyResult(msg, worker_wrote=any(sender == "worker" for sender, _ in later))


async def add_note(session: AsyncSession, ctx: OpsContext, thread_id: int, text: str) -> InboxMessage:
    """An internal note on the thread: staff only, never sent to the worker."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise InboxError("备注内容是空的。")
    if len(text) > NOTE_MAX:
        raise InboxError(f"备注最多 {NOTE_MAX} 字。")
    await get_thread(session, thread_id)
    note = InboxMessage(thread_id=thread_id, at=ctx.now, sender="note", staff_id=ctx.staff_id, kind="text",
                        text=text)
    session.add(note)
    await session.flush()
    return note


async def assign(session: AsyncSession, ctx: OpsContext, thread_id: int, staff_id: int | None) -> InboxThread:
    thread = await get_thread(session, thread_id, lock=True)
    if staff_id is not None:
        who = await session.get(Staff, staff_id)
        if who is None or not who.active:
            raise InboxError("这位同事的账号不存在或已停用。")
        name = who.display_name or who.username
        if not answers_workers(who):
            raise InboxError(f"{name}没有「留言咨询」的权限，请先由管理员开通。")
        if not sees_thread(who, await community_of(session, thread)):
            raise InboxError(f"{name}是{who.community}的账号，看不到这位职工的留言，请分配给本社区或街道总工会的同事。")
    thread.assigned_to = staff_id
    await session.flush()
    return thread


async def close(session: AsyncSession, ctx: OpsContext, thread_id: int) -> InboxThread:
    """Staff end the conversation; the worker is told through the outbox."""
    thread = await get_thread(session, thread_id, lock=True)
    if thread.status == "closed":
        raise InboxError("这条咨询已经结束了。")
    now = ctx.now
    thread.status, thread.closed_at, thread.closed_by = "closed", now, "staff"
    thread.waiting, thread.waiting_since, thread.unread = False, None, 0
    await _notify(session, ctx, thread, CLOSE_NOTICE.format(call=ctx.settings.office.call_line()))
    return thread


async def _notify(session: AsyncSession, ctx: OpsContext, thread: InboxThread, text: str) -> None:
    """Tell the worker what happened to their conversation (kept on the thread, sent once)."""
    notice = InboxMessage(thread_id=thread.id, at=ctx.now, sender="bot", staff_id=ctx.staff_id, kind="text",
                          text=text)
    session.add(notice)
    await session.flush()
    notice.outbox_key = f"inbox:{thread.id}:{notice.id}"
    template = None
    if ctx.settings.wechat.templates.get(TEMPLATE_KIND):
        template = {"kind": TEMPLATE_KIND, "data": _template_data(ctx, thread, text)}
    await outbox.enqueue(session, key=notice.outbox_key, openid=thread.openid, now=ctx.now, text=text,
                         purpose=NOTICE_PURPOSE, template=template)
    await session.flush()


async def reopen(session: AsyncSession, ctx: OpsContext, thread_id: int) -> InboxThread:
    thread = await get_thread(session, thread_id, lock=True)
    if thread.status == "open":
        raise InboxError("这条咨询还在进行中。")
    other = await session.scalar(select(InboxThread.id).where(
        InboxThread.openid == thread.openid, InboxThread.status == "open", InboxThread.id != thread_id).limit(1))
    if other is not None:
        raise InboxError(f"这位职工已有一条进行中的咨询（#{other}），请在那里继续。")
    told = thread.closed_by in ("staff", "auto")  # the worker was told it ended: tell them it goes on
    thread.status, thread.closed_at, thread.closed_by = "open", None, None
    if told:
        await _notify(session, ctx, thread, REOPEN_NOTICE)
    await session.flush()
    return thread


async def worker_phone(session: AsyncSession, ctx: OpsContext, thread_id: int) -> tuple[InboxThread, str]:
    """The worker's full phone number, for the reveal (the caller audits it)."""
    thread = await get_thread(session, thread_id)
    member = await member_for(session, ctx, thread.openid)
    return thread, (member.phone or "") if member is not None else ""


async def revealed_recently(session: AsyncSession, ctx: OpsContext, thread_id: int) -> bool:
    """Did this staff member reveal the worker's phone on this thread lately (its audit row)?"""
    if ctx.staff_id is None:
        return False
    found = await session.scalar(select(AuditLog.id).where(
        AuditLog.staff_id == ctx.staff_id, AuditLog.action == REVEAL_ACTION, AuditLog.target == f"inbox:{thread_id}",
        AuditLog.at > ctx.now - REVEAL_FOR).limit(1))
    return found is not None


# ----------------------------------------------------------------------------- snippets
async def list_snippets(session: AsyncSession) -> list[InboxSnippet]:
    return list(await session.scalars(select(InboxSnippet).order_by(InboxSnippet.title, InboxSnippet.id)))


async def get_snippet(session: AsyncSession, snippet_id: int) -> InboxSnippet:
    row = await session.get(InboxSnippet, snippet_id)
    if row is None:
        raise InboxError("没有这条常用回复，可能已被删除。")
    return row


def check_snippet(title: str, text: str) -> dict[str, str]:
    """Field errors of a snippet form (empty when it may be saved)."""
    errors: dict[str, str] = {}
    if not title.strip():
        errors["title"] = "请填写标题，方便在回复时挑选。"
    elif len(title.strip()) > SNIPPET_TITLE_MAX:
        errors["title"] = f"标题最多 {SNIPPET_TITLE_MAX} 字。"
    try:
        check_reply(text)
    except InboxError as exc:
        errors["text"] = str(exc)
    return errors


async def save_snippet(session: AsyncSession, ctx: OpsContext, snippet_id: int | None, *, title: str,
                       text: str) -> InboxSnippet:
    errors = check_snippet(title, text)
    if errors:
        raise InboxError(next(iter(errors.values())))
    now = ctx.now
    if snippet_id is None:
        row = InboxSnippet(title=title.strip(), text=check_reply(text), created_at=now, updated_at=now)
        session.add(row)
    else:
        row = await get_snippet(session, snippet_id)
        row.title, row.text, row.updated_at = title.strip(), check_reply(text), now
    await session.flush()
    return row


async def delete_snippet(session: AsyncSession, ctx: OpsContext, snippet_id: int) -> InboxSnippet:
    row = await get_snippet(session, snippet_id)
    await session.delete(row)
    await session.flush()
    return row
