"""The landing page (工作台): what is assigned to me, each feature's to-dos, a few counts, and
the messages staff must follow up by phone.

A feature's manifest declares `todos`: `async def func(db) -> list[TodoItem]` counts what
waits for staff; items with a count of 0 are shown greyed, so the page reads the same every
day. Two optional keywords:
  - `community`: counted for a community account's community (without it, a community
    account gets none of the feature's counts);
  - `assigned_to`: called a second time with the staff member's id, the items assigned to
    them (「我的待办」: e.g. the hardship requests they handle, the questions given to them).
Outbox purposes are labelled with the features' `outbox_purposes`.

Follow-ups: a message that did not reach the person stays on the page until a staff member
marks it 「已电话联系」 (`bot.outbox.mark_followed_up`, audited); a mistaken mark is undone
from 「最近已联系」 within a week.
"""
from __future__ import annotations

import inspect
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func, select

from bot import outbox
from bot.admin import audit, permissions
from bot.admin.roles import ADMIN, VIEWER
from bot.admin.auth import current_staff
from bot.admin.web import CLOCK, db_session, flash, render
from bot.db.models.core import Member, Staff
from bot.feature import Feature, NavEntry
from bot.keys import ADMIN_FEATURES

NAV = NavEntry("首页", "/", 0)
TITLE = "工作台"  # the page's heading (and the first step of every page's breadcrumbs)


# Messages staff should follow up by phone (outbox.NEEDS_PHONE): WeChat could not take them, the
# send failed, or the sender stopped mid-send so nobody knows whether it arrived (`uncertain`).
FOLLOW_UP_LIMIT = 20
RECENT_DAYS = 7  # a 「已联系」 mark can be undone from the page for this long
RECENT_LIMIT = 10
FRAMEWORK_PURPOSES = {"late_reply": "消息回复", "reply": "消息回复"}
NOT_FOUND = "没有这条消息。"
STATUS_LABELS = {"unreachable": "无法送达", "failed": "发送失败", "uncertain": "可能未送达"}


def purpose_labels(features: list[Feature]) -> dict[str, str]:
    """Staff-facing names of every outbox purpose: the framework's and the features'."""
    labels = dict(FRAMEWORK_PURPOSES)
    for f in features:
        labels.update(f.outbox_purposes)
    return labels


def when(value: datetime | None, now: datetime, tz: ZoneInfo) -> str:
    """A time as staff read it: 今天 / 昨天 HH:MM, 11月20日 HH:MM this year, with the year otherwise."""
    if value is None:
        return ""
    local, today = value.astimezone(tz), now.astimezone(tz).date()
    hm = local.strftime("%H:%M")
    if local.date() == today:
        return f"今天 {hm}"
    if local.date() == today - timedelta(days=1):
        return f"昨天 {hm}"
    if local.year == today.year:
        return f"{local.month}月{local.day}日 {hm}"
    return f"{local.year}年{local.month}月{local.day}日 {hm}"


def _purpose_owners(features: list[Feature]) -> dict[str, Feature]:
    return {purpose: f for f in features for purpose in f.outbox_purposes}


def _may_follow_up(request: web.Request, msg, member: Member | None) -> bool:  # noqa: ANN001
    """A message to phone about: of a feature the account works with (the framework's own:
    admins), and for a community account, to a member of its community."""
    feature = _purpose_owners(request.app[ADMIN_FEATURES]).get(msg.purpose)
    if feature is None:
        if not permissions.principal(request).reads(ADMIN):
            return False
    elif not permissions.feature_roles(request, [feature]):
        return False
    return permissions.in_scope(request, member.community if member is not None else None)


def _may_mark(request: web.Request) -> bool:
    """Marking a follow-up is an action: not for a read-only account."""
    return bool(permissions.principal(request).roles - {VIEWER})


async def _todos(request: web.Request, db, feature: Feature, **mine: int) -> list:  # noqa: ANN001
    """A feature's to-dos, counted for this account's community when the feature can; with
    `assigned_to`, only those assigned to that staff member (none when the feature can't say)."""
    params = inspect.signature(feature.todos).parameters
    kwargs: dict[str, object] = {}
    if mine:
        if "assigned_to" not in params:
            return []
        kwargs.update(mine)
    if "community" in params:
        kwargs["community"] = permissions.community(request)
    elif permissions.community(request) is not None:
        return []  # counts of every community are not a community account's business
    return await feature.todos(db, **kwargs)


def _offers_mine(features: list[Feature]) -> bool:
    return any(f.todos is not None and "assigned_to" in inspect.signature(f.todos).parameters for f in features)


async def home(request: web.Request) -> web.Response:
    """Counts of members and outbox rows, and the newest messages that did not go out."""
    staff = current_staff(request)
    now = request.app[CLOCK].now()
    tz = request.app[CLOCK].tz
    async with db_session(request) as db:
        members = await db.scalar(select(func.count()).select_from(Member).where(Member.subscribed.is_(True)))
        by_status = await outbox.status_counts(db, ("pending", "sending", *outbox.NEEDS_PHONE), open_only=True)
        messages = await outbox.needing_follow_up(db, FOLLOW_UP_LIMIT * 5)
        recent = await outbox.recently_followed_up(db, since=now - timedelta(days=RECENT_DAYS), limit=RECENT_LIMIT * 5)
        people = await _members(db, {m.openid for m in messages} | {m.openid for m in recent})
        messages = [o for o in messages if _may_follow_up(request, o, people.get(o.openid))][:FOLLOW_UP_LIMIT]
        recent = [o for o in recent if _may_follow_up(request, o, people.get(o.openid))][:RECENT_LIMIT]
        markers = await _staff_names(db, {o.followed_up_by for o in recent if o.followed_up_by})
        features = request.app[ADMIN_FEATURES]
        # Only the features this account works with (a viewer: all of them, to read).
        mine_features = [f for f in permissions.feature_roles(request, features) if f.todos is not None]
        todos = [item for f in mine_features for item in await _todos(request, db, f)]
        offers_mine = _offers_mine(mine_features)
        my_todos = [item for f in mine_features for item in await _todos(request, db, f, assigned_to=staff.id)]
    counts = {
        "members": members or 0,
        "pending": by_status.get("pending", 0) + by_status.get("sending", 0),
        "unreachable": by_status.get("unreachable", 0),
        "failed": by_status.get("failed", 0) + by_status.get("uncertain", 0),
    }
    labels = purpose_labels(features)

    def row(o: outbox.Message) -> dict:
        return {"outbox": o, "member": people.get(o.openid), "purpose": labels.get(o.purpose, o.purpose or "消息"),
                "when": when(o.created_at, now, tz), "marked": when(o.followed_up_at, now, tz),
                "marker": markers.get(o.followed_up_by or 0, "")}

    return render(request, "home.html", {
        "title": TITLE, "counts": counts, "todos": todos,
        "offers_mine": offers_mine, "my_todos": [t for t in my_todos if t.count],
        "follow_up": [row(o) for o in messages], "recent": [row(o) for o in recent],
        "may_mark": _may_mark(request), "recent_days": RECENT_DAYS,
    })


async def _members(db, openids: set[str]) -> dict[str, Member]:  # noqa: ANN001
    if not openids:
        return {}
    return {m.openid: m for m in await db.scalars(select(Member).where(Member.openid.in_(openids)))}


async def _staff_names(db, ids: set[int]) -> dict[int, str]:  # noqa: ANN001
    if not ids:
        return {}
    rows = await db.execute(select(Staff.id, Staff.display_name, Staff.username).where(Staff.id.in_(ids)))
    return {i: name or username for i, name, username in rows.all()}


def _home_url(request: web.Request) -> str:
    return str(request.app.router["home"].url_for())


async def _message_to_follow_up(request: web.Request, db, outbox_id: int):  # noqa: ANN001, ANN202
    """The message and its member, or the same 404 as for a message that doesn't exist."""
    msg = await outbox.message(db, outbox_id)
    if msg is None:
        raise web.HTTPNotFound(text=NOT_FOUND)
    member = (await _members(db, {msg.openid})).get(msg.openid)
    if not _may_follow_up(request, msg, member):
        permissions.hide(request, not_found=NOT_FOUND)  # answered as if there were none
    return msg, member


def _audit_detail(request: web.Request, msg: outbox.Message) -> dict[str, str]:
    """What the audit page shows of a message (the target `outbox:<id>` names it, and whom)."""
    what = purpose_labels(request.app[ADMIN_FEATURES]).get(msg.purpose, msg.purpose or "消息")
    status = STATUS_LABELS.get(msg.status)
    return {"kind": f"{what}（{status}）" if status else what}


async def reveal_contact(request: web.Request) -> web.StreamResponse:
    """Show the full phone number of the member behind an outbox row (audited)."""
    staff = current_staff(request)
    outbox_id = int(request.match_info["outbox_id"])
    async with db_session(request) as db, db.begin():
        msg, member = await _message_to_follow_up(request, db, outbox_id)
        await audit.record(db, staff_id=staff.id, action="member.reveal_phone", target=f"outbox:{outbox_id}",
                           detail=_audit_detail(request, msg), now=request.app[CLOCK].now())
    if member is not None and member.phone:
        await flash(request, f"{member.name or '该用户'}的电话：{member.phone}")
    else:
        await flash(request, "该用户没有留下电话，请通过其他方式联系", "warn")
    raise web.HTTPSeeOther(_home_url(request))


async def follow_up_done(request: web.Request) -> web.StreamResponse:
    """「已电话联系」: the message leaves the list (audited; undone from 「最近已联系」)."""
    return await _change_follow_up(request, done=True)


async def follow_up_undo(request: web.Request) -> web.StreamResponse:
    """Undo a mistaken 「已电话联系」: the message is back on the list (audited)."""
    return await _change_follow_up(request, done=False)


async def _change_follow_up(request: web.Request, *, done: bool) -> web.StreamResponse:
    staff = current_staff(request)
    if not _may_mark(request):
        raise permissions.Refused("只读账号只能查看，不能进行这项操作。", "read_only")
    outbox_id = int(request.match_info["outbox_id"])
    now = request.app[CLOCK].now()
    labels = purpose_labels(request.app[ADMIN_FEATURES])
    try:
        async with db_session(request) as db, db.begin():
            msg, member = await _message_to_follow_up(request, db, outbox_id)
            if done:
                await outbox.mark_followed_up(db, outbox_id, staff_id=staff.id, now=now)
            else:
                await outbox.reopen_follow_up(db, outbox_id)
            await audit.record(db, staff_id=staff.id, action="member.follow_up_done" if done else "member.follow_up_undo",
                               target=f"outbox:{outbox_id}", detail=_audit_detail(request, msg), now=now)
    except outbox.FollowUpError as exc:
        await flash(request, str(exc), "warn")
        raise web.HTTPSeeOther(_home_url(request)) from None
    who = (member.name if member is not None else "") or "该职工"
    what = labels.get(msg.purpose, msg.purpose or "消息")
    if done:
        await flash(request, f"已标记为已电话联系：{who}（{what}）。如果标错了，可在「最近已联系」中撤销。")
    else:
        await flash(request, f"已撤销：{who}（{what}）重新回到「需要电话联系」。")
    raise web.HTTPSeeOther(_home_url(request))


def setup(app: web.Application) -> None:
    app.router.add_get("/", home, name="home")
    app.router.add_post("/outbox/{outbox_id:\\d{1,9}}/contact", reveal_contact, name="home.reveal_contact")
    app.router.add_post("/outbox/{outbox_id:\\d{1,9}}/followed-up", follow_up_done, name="home.follow_up_done")
    app.router.add_post("/outbox/{outbox_id:\\d{1,9}}/follow-up/undo", follow_up_undo, name="home.follow_up_undo")
