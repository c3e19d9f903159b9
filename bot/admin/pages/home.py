"""The landing page (工作台): each feature's to-dos, a few counts, and the messages
staff must follow up by phone.

A page module adds its to-dos in `setup`: `home.register_todo("hardship", func)`,
where `async def func(db) -> list[TodoItem]` counts what waits for staff; items
with a count of 0 are shown greyed, so the page reads the same every day.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from aiohttp import web
from sqlalchemy import func, select

from bot.admin import audit, nav
from bot.admin.auth import current_staff
from bot.admin.site import CLOCK, db_session, flash, render
from bot.db.models.core import Member, Outbox

class TodoItem(NamedTuple):
    label: str
    count: int
    url: str


TodoFunc = Callable[..., Awaitable[list[TodoItem]]]
_todos: dict[str, TodoFunc] = {}


def register_todo(name: str, func: TodoFunc) -> None:
    """Add (or replace) a feature's to-do counter on the home page."""
    _todos[name] = func


# Messages staff should follow up by phone: WeChat could not take them, the send failed, or the
# sender stopped mid-send so nobody knows whether it arrived (`uncertain`).
FOLLOW_UP = ("unreachable", "failed", "uncertain")
FOLLOW_UP_LIMIT = 20
PURPOSES = {
    "hardship.status": "帮扶进度", "chairs.reminder": "报送提醒", "signup.reminder": "活动提醒",
    "quiz.open": "答题通知", "chairs.escalation": "逾期督办", "signup.promoted": "候补递补",
    "signup.cancelled": "活动取消", "late_reply": "消息回复", "reply": "消息回复",
}


async def home(request: web.Request) -> web.Response:
    """Counts of members and outbox rows, and the newest messages that did not go out."""
    async with db_session(request) as db:
        members = await db.scalar(select(func.count()).select_from(Member).where(Member.subscribed.is_(True)))
        by_status = dict((await db.execute(
            select(Outbox.status, func.count()).where(Outbox.status.in_(("pending", "sending", *FOLLOW_UP)))
            .group_by(Outbox.status)
        )).all())
        rows = (await db.execute(
            select(Outbox, Member).outerjoin(Member, Member.openid == Outbox.openid)
            .where(Outbox.status.in_(FOLLOW_UP)).order_by(Outbox.created_at.desc(), Outbox.id.desc())
            .limit(FOLLOW_UP_LIMIT)
        )).all()
        todos = [item for count_todos in _todos.values() for item in await count_todos(db)]
    counts = {
        "members": members or 0,
        "pending": by_status.get("pending", 0) + by_status.get("sending", 0),
        "unreachable": by_status.get("unreachable", 0),
        "failed": by_status.get("failed", 0) + by_status.get("uncertain", 0),
    }
    follow_up = [
        {"outbox": o, "member": m, "purpose": PURPOSES.get(o.purpose, o.purpose or "消息")} for o, m in rows
    ]
    return render(request, "home.html", {"counts": counts, "follow_up": follow_up, "todos": todos})


async def reveal_contact(request: web.Request) -> web.StreamResponse:
    """Show the full phone number of the member behind an outbox row (audited)."""
    staff = current_staff(request)
    outbox_id = int(request.match_info["outbox_id"])
    async with db_session(request) as db, db.begin():
        row = (await db.execute(
            select(Outbox, Member).outerjoin(Member, Member.openid == Outbox.openid).where(Outbox.id == outbox_id)
        )).first()
        if row is None:
            raise web.HTTPNotFound(text="没有这条消息")
        outbox, member = row
        await audit.record(db, staff_id=staff.id, action="reveal_phone", target=f"outbox:{outbox_id}",
                           detail={"openid": outbox.openid}, now=request.app[CLOCK].now())
    if member is not None and member.phone:
        await flash(request, f"{member.name or '该用户'}的电话：{member.phone}")
    else:
        await flash(request, "该用户没有留下电话，请通过其他方式联系", "warn")
    raise web.HTTPSeeOther(str(request.app.router["home"].url_for()))


def setup(app: web.Application) -> None:
    app.router.add_get("/", home, name="home")
    app.router.add_post("/outbox/{outbox_id:\\d+}/contact", reveal_contact, name="home.reveal_contact")
    nav.register("首页", "/", order=0)
