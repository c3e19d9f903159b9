"""The landing page (工作台): each feature's to-dos, a few counts, and the messages
staff must follow up by phone.

A feature's manifest declares `todos`: `async def func(db) -> list[TodoItem]` counts what
waits for staff; items with a count of 0 are shown greyed, so the page reads the same every
day. Outbox purposes are labelled with the features' `outbox_purposes`.
"""
from __future__ import annotations

import inspect

from aiohttp import web
from sqlalchemy import func, select

from bot import outbox
from bot.admin import audit, permissions
from bot.admin.roles import ADMIN
from bot.admin.auth import current_staff
from bot.admin.web import CLOCK, db_session, flash, render
from bot.feature import Feature, NavEntry
from bot.keys import ADMIN_FEATURES
from bot.db.models.core import Member

NAV = NavEntry("首页", "/", 0)


# Messages staff should follow up by phone (outbox.NEEDS_PHONE): WeChat could not take them, the
# send failed, or the sender stopped mid-send so nobody knows whether it arrived (`uncertain`).
FOLLOW_UP_LIMIT = 20
FRAMEWORK_PURPOSES = {"late_reply": "消息回复", "reply": "消息回复"}


def purpose_labels(features: list[Feature]) -> dict[str, str]:
    """Staff-facing names of every outbox purpose: the framework's and the features'."""
    labels = dict(FRAMEWORK_PURPOSES)
    for f in features:
        labels.update(f.outbox_purposes)
    return labels


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


async def _todos(request: web.Request, db, feature: Feature) -> list:  # noqa: ANN001
    """A feature's to-dos, counted for this account's community when the feature can."""
    if "community" in inspect.signature(feature.todos).parameters:
        return await feature.todos(db, community=permissions.community(request))
    if permissions.community(request) is not None:
        return []  # counts of every community are not a community account's business
    return await feature.todos(db)


async def home(request: web.Request) -> web.Response:
    """Counts of members and outbox rows, and the newest messages that did not go out."""
    async with db_session(request) as db:
        members = await db.scalar(select(func.count()).select_from(Member).where(Member.subscribed.is_(True)))
        by_status = await outbox.status_counts(db, ("pending", "sending", *outbox.NEEDS_PHONE))
        messages = await outbox.needing_follow_up(db, FOLLOW_UP_LIMIT * 5)
        people = await _members(db, {m.openid for m in messages})
        messages = [o for o in messages if _may_follow_up(request, o, people.get(o.openid))][:FOLLOW_UP_LIMIT]
        features = request.app[ADMIN_FEATURES]
        # Only the features this account works with (a viewer: all of them, to read).
        todos = [item for f in permissions.feature_roles(request, features) if f.todos is not None
                 for item in await _todos(request, db, f)]
    counts = {
        "members": members or 0,
        "pending": by_status.get("pending", 0) + by_status.get("sending", 0),
        "unreachable": by_status.get("unreachable", 0),
        "failed": by_status.get("failed", 0) + by_status.get("uncertain", 0),
    }
    labels = purpose_labels(features)
    follow_up = [
        {"outbox": o, "member": people.get(o.openid), "purpose": labels.get(o.purpose, o.purpose or "消息")}
        for o in messages
    ]
    return render(request, "home.html", {"counts": counts, "follow_up": follow_up, "todos": todos})


async def _members(db, openids: set[str]) -> dict[str, Member]:  # noqa: ANN001
    if not openids:
        return {}
    return {m.openid: m for m in await db.scalars(select(Member).where(Member.openid.in_(openids)))}


async def reveal_contact(request: web.Request) -> web.StreamResponse:
    """Show the full phone number of the member behind an outbox row (audited)."""
    staff = current_staff(request)
    outbox_id = int(request.match_info["outbox_id"])
    async with db_session(request) as db, db.begin():
        msg = await outbox.message(db, outbox_id)
        if msg is None:
            raise web.HTTPNotFound(text="没有这条消息")
        member = (await _members(db, {msg.openid})).get(msg.openid)
        if not _may_follow_up(request, msg, member):
            permissions.hide(request, not_found="没有这条消息")  # answered as if there were none
        await audit.record(db, staff_id=staff.id, action="member.reveal_phone", target=f"outbox:{outbox_id}",
                           detail={"openid": msg.openid}, now=request.app[CLOCK].now())
    if member is not None and member.phone:
        await flash(request, f"{member.name or '该用户'}的电话：{member.phone}")
    else:
        await flash(request, "该用户没有留下电话，请通过其他方式联系", "warn")
    raise web.HTTPSeeOther(str(request.app.router["home"].url_for()))


def setup(app: web.Application) -> None:
    app.router.add_get("/", home, name="home")
    app.router.add_post("/outbox/{outbox_id:\\d{1,9}}/contact", reveal_contact, name="home.reveal_contact")
