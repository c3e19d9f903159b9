"""Who may open which admin route, and which records a community-scoped account sees: the one place.

Every request to the admin site passes `permission_middleware` (after the login and CSRF
checks), which decides with `decide` from three facts: the account (`Principal`: roles and
community), the owner of the route (the feature whose `admin(app)` registered it, recorded by
`record_owners` in `create_admin_app`; None for the site's own routes) and the kind of route.

Routes
  - public (`login`, `static`): no login needed (the login middleware lets them through);
  - the site's own pages (工作台, own account, logout …): every logged-in account, except staff
    management and the audit log (route name or path starting with `staff` / `audit`): admin
    only; a reveal among them (工作台's 查看电话) is refused to read-only accounts;
  - a feature's routes: accounts holding the feature's role (`Feature.role`) or `admin`;
    `viewer` may GET the pages of every feature but sends no POST, reveals nothing, exports no
    personal data and opens no photo file. Any other role is refused a feature it doesn't hold.

Sensitive routes are marked by their name's last part, in every feature the same way:
  `reveal`, `reveal_*`   shows a full personal value (phone, ID number);
  `photo`, `photo_*`     serves an evidence file;
  `export`, `*_export`   a download holding personal data.
A download without personal data (the question bank, the activity list) is named
`download` / `*_download`; viewers may take it.

A refused request gets a 403 page in Chinese and an audit row marked refused, named as the done
action would be (`refused_action`: `hardship.reveal_id` for a refused 查看身份证号, `hardship.view`
for another community's request), or `staff.access` (a page or action without a name of its own;
the route and path are in the row).

Community scope
  An account with `community` set (a community union's staff) sees and acts only on records
  of its community; the federation's accounts (community None) see all. Features apply it with
  `scope_filter(request, column)` in their queries (the declarative lists with
  `ListView(scope=column)`) and `check_scope(request, community, not_found=...)` on every
  record they open by id, which answers exactly as the feature's own "not found" does (another
  community's record is not revealed to exist) and is audited as refused.
  - hardship requests by `HardshipRequest.community` (the worker's answer, or set by staff);
    requests without one are seen by federation accounts only;
  - chairs, their reports, the grid, the 通报 export and the dashboard by `Chair.community`;
  - activities by organiser community (`Activity.community`, None = the federation's own): a
    scoped account sees its community's and the federation-wide activities (title, time,
    counts), but the sign-up list, exports, reveals and every action only on its own
    community's activities (`check_own`); sign-ups go with their activity; the training
    record counts its own community's trainings;
  - inbox threads by the worker's community (`Member.community` through
    `InboxThread.member_id`): the list, the thread page and its actions, photos, the nav badge
    and the 工作台 count; threads of a worker who named no community are seen by federation
    accounts only, like hardship requests;
  - the FAQ and the inbox's quick replies are the federation's content, one set for every
    community: community accounts with the inbox role read and use them, only the federation's
    accounts change them (`FEDERATION_CONTENT`);
  - the quiz and the account's menu and texts hold no community: community accounts don't open
    them at all (`FEDERATION_ONLY`), whatever their roles.
"""
from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from aiohttp import web
from sqlalchemy import or_, true

from bot import keys
from bot.admin import audit
from bot.admin.roles import ADMIN, ROLES, VIEWER
from bot.feature import Feature

log = logging.getLogger(__name__)

# The feature that registered each route of the admin app (by resource); absent = the site's own.
ROUTE_OWNERS = web.AppKey("admin_route_owners", dict)
PRINCIPAL: web.RequestKey["Principal"] = web.RequestKey("admin_principal", object)
OUT_OF_SCOPE: web.RequestKey[bool] = web.RequestKey("admin_out_of_scope", bool)  # audited as refused

PUBLIC_ROUTES = frozenset({"login", "static"})
ADMIN_ONLY = ("staff", "audit")  # the site's pages for admins: staff management, the audit log
# Features whose records carry no community (the quiz, the account's menu and texts): only the
# federation's accounts open them, whatever roles a community account holds.
FEDERATION_ONLY = frozenset({"quiz", "common"})
# Routes (by name prefix) of the federation's shared content — the FAQ, the inbox's quick
# replies: community accounts may read them (and use them in replies), not change them.
FEDERATION_CONTENT = ("faq.", "inbox.snippet")

# Kinds of route.
READ, WRITE, REVEAL, EXPORT, FILE = "read", "write", "reveal", "export", "file"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

NOT_FOUND = "没有找到这条记录。"


# ----------------------------------------------------------------------------- who is asking
@dataclass(frozen=True)
class Principal:
    """The logged-in account as permissions see it."""

    staff_id: int | None
    roles: frozenset[str]
    community: str | None = None  # None: the federation (sees every community)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def scoped(self) -> bool:
        return self.community is not None

    def holds(self, role: str | None) -> bool:
        """Full use of pages belonging to `role` (admin holds every role)."""
        return self.is_admin or (role is not None and role in self.roles)

    def reads(self, role: str | None) -> bool:
        """May at least read pages belonging to `role`."""
        return self.holds(role) or VIEWER in self.roles


def _roles(raw: Any) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        raw = [raw]
    return frozenset(str(r) for r in raw)


def principal(request: web.Request) -> Principal:
    """The account of this request: roles and community of the logged-in staff member
    (`bot.admin.auth.current_staff`); nobody (no role) when not logged in."""
    p = request.get(PRINCIPAL)
    if p is None:
        staff = request.get(keys.REQUEST_STAFF)
        if staff is None:
            return Principal(None, frozenset())
        p = Principal(getattr(staff, "id", None), _roles(getattr(staff, "roles", ())),
                      getattr(staff, "community", None) or None)
        request[PRINCIPAL] = p
    return p


# ----------------------------------------------------------------------------- the routes
def route_kind(name: str | None, method: str) -> str:
    """What a route does, from its name's last part (see the module's docstring) and the method."""
    last = (name or "").rsplit(".", 1)[-1]
    if last == "reveal" or last.startswith("reveal_"):
        return REVEAL
    if last == "photo" or last.startswith("photo_"):
        return FILE
    if last == "export" or last.endswith("_export"):
        return EXPORT
    return READ if method.upper() in SAFE_METHODS else WRITE


def _admin_only(name: str | None, path: str) -> bool:
    path = path.removeprefix("/admin")
    return any((name or "").startswith(p) or path.lstrip("/").startswith(p) for p in ADMIN_ONLY)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # why refused: admin_only | role | read_only | federation_only | federation_content
    message: str = ""  # what the 403 page says


def decide(p: Principal, owner: Feature | None, name: str | None, path: str, method: str) -> Decision:
    """Allow or refuse one request (see the module's docstring). `path` is the route's path."""
    kind = route_kind(name, method)
    if owner is None:  # the site's own pages
        if _admin_only(name, path):
            return Decision(p.is_admin, "admin_only", "只有管理员可以打开这个页面。")
        if kind in (REVEAL, EXPORT, FILE) and not (p.roles - {VIEWER}):
            return _read_only(kind)
        return Decision(True)
    role = owner.role or ADMIN
    if p.scoped and owner.name in FEDERATION_ONLY:
        return Decision(False, "federation_only", "这个页面由街道总工会管理，社区账号不能打开。")
    if p.scoped and kind != READ and (name or "").startswith(FEDERATION_CONTENT):
        return Decision(False, "federation_content",
                        "常见问题和常用回复由街道总工会统一维护，社区账号可以查看和使用，不能修改。如需调整，请联系街道总工会。")
    if p.holds(role):
        return Decision(True)
    if VIEWER in p.roles:
        if kind == READ:
            return Decision(True)
        return _read_only(kind)
    label = ROLES.get(role, role)
    return Decision(False, "role", f"这个页面需要「{label}」权限，您的账号没有。如需开通，请联系管理员。")


def _read_only(kind: str) -> Decision:
    return Decision(False, "read_only", {
        REVEAL: "只读账号不能查看完整的个人信息。",
        EXPORT: "只读账号不能导出个人信息。",
        FILE: "只读账号不能查看证明材料照片。",
    }.get(kind, "只读账号只能查看，不能进行这项操作。"))


def record_owners(app: web.Application, feature: Feature, before: Iterable[Any]) -> None:
    """After `feature.admin(app)`: the routes added since `before` belong to `feature`."""
    if feature.role is not None and feature.role not in ROLES:
        raise ValueError(f"feature {feature.name}: unknown role {feature.role!r} (bot/admin/roles.py)")
    seen = set(before)
    owners = app[ROUTE_OWNERS]
    for resource in app.router.resources():
        if resource not in seen:
            owners[resource] = feature


def _route_of(request: web.Request) -> tuple[Any, str | None, str]:
    route = request.match_info.route
    resource = getattr(route, "resource", None)
    if resource is None:
        return None, None, request.path
    return resource, resource.name, resource.canonical


def _resource_named(request: web.Request, name: str) -> Any:
    try:
        return request.app.router[name]
    except KeyError:
        return None


def may(request: web.Request, name: str, method: str = "GET") -> bool:
    """Whether this request's account may use the route called `name` (to show a link or button)."""
    resource = _resource_named(request, name)
    if resource is None:
        return False
    owner = request.app.get(ROUTE_OWNERS, {}).get(resource)
    return decide(principal(request), owner, name, resource.canonical, method).allowed


def may_open(request: web.Request, path: str) -> bool:
    """Whether a link to `path` (a navigation entry) opens for this account."""
    owners = request.app.get(ROUTE_OWNERS, {})
    for resource in request.app.router.resources():
        canonical = resource.canonical
        if canonical == path or canonical == "/admin" + path or (canonical.rstrip("/") == path.rstrip("/") and path):
            return decide(principal(request), owners.get(resource), resource.name, canonical, "GET").allowed
    return True  # not a route of ours (an outside link)


def feature_roles(request: web.Request, features: Sequence[Feature]) -> list[Feature]:
    """The features whose pages this account works with (the 工作台's to-dos)."""
    p = principal(request)
    return [f for f in features if p.reads(f.role or ADMIN) and not (p.scoped and f.name in FEDERATION_ONLY)]


# ----------------------------------------------------------------------------- community scope
class OutOfScope(web.HTTPNotFound):
    """Another community's record: answered as the feature's own "not found" (its text)."""


class Refused(web.HTTPForbidden):
    """An action the account may not take on a record it may see (e.g. a community account on a
    federation-wide activity): a 403 page with `message`, audited as refused."""

    def __init__(self, message: str, reason: str = "scope") -> None:
        super().__init__(text=message)
        self.message = message
        self.why = reason  # (HTTPException's own `reason` is the status line's)


def community(request: web.Request) -> str | None:
    """The account's community; None for the federation's accounts."""
    return principal(request).community


def scope_filter(request: web.Request, column: Any, *, shared: bool = False) -> Any:
    """A WHERE clause keeping the records this account may see: `column` equal to its community
    (`shared`: or NULL, the federation's own records seen by everyone); always true for the
    federation's accounts."""
    mine = community(request)
    if mine is None:
        return true()
    return or_(column == mine, column.is_(None)) if shared else column == mine


def in_scope(request: web.Request, record_community: str | None, *, shared: bool = False) -> bool:
    mine = community(request)
    if mine is None:
        return True
    return record_community == mine or (shared and record_community is None)


def check_scope(request: web.Request, record_community: str | None, *, shared: bool = False,
                not_found: str = NOT_FOUND, error: Exception | None = None) -> None:
    """For a record outside the account's community, answer exactly as the feature does for a
    record that doesn't exist: its 404 (`not_found`, the same text), or raise `error` — the
    feature's own "not found" exception where a missing record is, say, flashed — so nobody
    learns another community's record exists. Audited as refused either way."""
    if not in_scope(request, record_community, shared=shared):
        hide(request, not_found=not_found, error=error)


def hide(request: web.Request, *, not_found: str = NOT_FOUND, error: Exception | None = None) -> NoReturn:
    """Answer as for a record that doesn't exist (see `check_scope`); audited as refused."""
    request[OUT_OF_SCOPE] = True
    if error is not None:
        raise error
    raise OutOfScope(text=not_found)


def check_own(request: web.Request, record_community: str | None, *, not_found: str = NOT_FOUND,
              error: Exception | None = None,
              shared_message: str = "这是街道总工会组织的活动，社区账号只能查看，不能操作。") -> None:
    """For an action: the record must be the account's own community's (as `check_scope` for
    another community's; a 403 page for a federation-wide one the account may only read)."""
    check_scope(request, record_community, shared=True, not_found=not_found, error=error)
    if community(request) is not None and record_community is None:
        raise Refused(shared_message)


def forced_community(request: web.Request, chosen: str | None) -> str | None:
    """The community a new record gets: a scoped account's own, whatever the form said."""
    mine = community(request)
    return mine if mine is not None else (chosen or None)


def configured_communities(request: web.Request) -> list[str]:
    """`[federation] communities`, in their configured order."""
    return list(request.app[keys.ADMIN_SETTINGS].federation.communities)


def community_choices(request: web.Request) -> list[str]:
    """The communities this account may give a record: its own, or (the federation) every one."""
    mine = community(request)
    return [mine] if mine is not None else configured_communities(request)


class BadCommunity(ValueError):
    """A form named a community that isn't configured (the message is for staff)."""


def chosen_community(request: web.Request, raw: Any) -> str | None:
    """The community a form chose: a community account's own whatever was sent; for the
    federation one of `[federation] communities`, or None for "" (none / the federation's own)."""
    mine = community(request)
    if mine is not None:
        return mine
    name = str(raw or "").strip()
    if not name:
        return None
    if name not in configured_communities(request):
        raise BadCommunity("请从列表中选择社区。")
    return name


# ----------------------------------------------------------------------------- the middleware
# The audit name of a refused request, where the route's name isn't the done action's own
# (bot/admin/audit.py ACTION_LABELS): `{x}` is filled from the URL's parameters, then the form.
REFUSED_AS: dict[str, str] = {
    "home.reveal_contact": "member.reveal_phone",
    "me.password": "auth.password_change", "me.end_others": "staff.end_sessions",
    "me.end_session": "staff.end_sessions",
    "staff.add": "staff.create", "staff.reset": "staff.reset_password",
    "hardship.detail": "hardship.view", "hardship.reveal": "hardship.reveal_{field}",
    "hardship.act": "hardship.{action}", "hardship.bulk": "hardship.{action}",
    "hardship.create": "hardship.submit_for", "hardship.community": "hardship.set_community",
    "signup.save": "signup.edit", "signup.reveal": "signup.reveal_phone",
    "chairs.reveal": "chairs.reveal_mobile", "chairs.upload": "chairs.import", "chairs.code": "chairs.bind_code",
    "quiz.upload": "quiz.import",
    "inbox.reveal": "inbox.reveal_phone", "inbox.snippet_add": "inbox.snippet_save",
    "faq.save": "faq.edit",
    "account.menu_save": "menu.save", "account.menu_reset": "menu.reset",
    "account.texts_save": "texts.edit", "account.texts_reset": "texts.reset",
}
# Any other refused request (a page, or an action without a label): "opened a page / asked for
# an action", the route's name and the path in the row.
REFUSED_OTHER = "staff.access"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def refused_action(name: str | None, match: Any, form: Any) -> str:
    """The audit action of a refused request to the route `name` (see REFUSED_AS): the done
    action's name when it has a label, else REFUSED_OTHER."""
    template = REFUSED_AS.get(name or "", name or "")

    def fill(m: re.Match[str]) -> str:
        value = (match or {}).get(m.group(1)) or (form or {}).get(m.group(1)) or ""
        return str(value)[:40]

    action = _PLACEHOLDER.sub(fill, template)
    return action if action in audit.ACTION_LABELS else REFUSED_OTHER


async def _audit_refusal(request: web.Request, p: Principal, name: str | None, reason: str) -> None:
    detail = {"method": request.method, "path": request.path, "reason": reason, "route": name or "",
              "roles": sorted(p.roles), "community": p.community}
    kwargs: dict[str, Any] = {}
    if "refused" in inspect.signature(audit.record).parameters:
        kwargs["refused"] = True
    else:
        detail["refused"] = True
    form: Any = {}
    if "{" in REFUSED_AS.get(name or "", "") and request.content_type == "application/x-www-form-urlencoded":
        try:  # a small form (a file upload is never read for this)
            form = await request.post()
        except Exception:  # an unreadable body: the refusal is recorded all the same
            form = {}
    try:
        async with request.app[keys.ADMIN_SESSIONMAKER]() as db, db.begin():
            action = refused_action(name, request.match_info, form)
            await audit.record(db, staff_id=p.staff_id, action=action[:64],
                               target=request.path[:128], detail=detail, now=request.app[keys.ADMIN_CLOCK].now(),
                               **kwargs)
    except Exception:  # a refusal stays a refusal even when the audit row can't be written
        log.exception("could not audit a refused admin request")


async def _forbidden(request: web.Request, message: str) -> web.Response:
    from bot.admin.web import render_error  # the page helpers import this module

    return await render_error(request, 403, "没有权限", message, link="/admin/")


@web.middleware
async def permission_middleware(request: web.Request, handler):  # noqa: ANN001
    """Allow or refuse every admin request by `decide`; audit refusals and out-of-scope records."""
    resource, name, path = _route_of(request)
    staff = request.get(keys.REQUEST_STAFF)
    if resource is None or name in PUBLIC_ROUTES or staff is None:
        return await handler(request)  # 404/405, public pages; the login middleware guards the rest
    p = principal(request)
    verdict = decide(p, request.app.get(ROUTE_OWNERS, {}).get(resource), name, path, request.method)
    if not verdict.allowed:
        await _audit_refusal(request, p, name, verdict.reason)
        return await _forbidden(request, verdict.message)
    try:
        return await handler(request)
    except Refused as exc:
        await _audit_refusal(request, p, name, exc.why)
        return await _forbidden(request, exc.message)
    finally:
        if request.get(OUT_OF_SCOPE):  # another community's record, answered as "not found"
            await _audit_refusal(request, p, name, "community")


async def template_processor(request: web.Request) -> dict[str, Any]:
    """`may("route.name")` / `may("route.name", "POST")` in templates, to show only what works,
    and the account's community (`staff_community`)."""
    return {"may": lambda name, method="POST": may(request, name, method),
            "staff_community": community(request)}


__all__ = ["EXPORT", "FILE", "OutOfScope", "PRINCIPAL", "Principal", "READ", "REVEAL", "ROUTE_OWNERS", "Refused",
           "WRITE", "check_own", "check_scope", "community", "decide", "feature_roles", "forced_community",
           "in_scope", "may", "may_open", "permission_middleware", "principal",
           "record_owners", "refused_action", "route_kind", "scope_filter", "template_processor"]
