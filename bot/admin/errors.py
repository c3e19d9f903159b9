"""Error pages of the staff site: every error inside /admin answers in Chinese, in the layout, with a way back.

`error_middleware` (bot/admin/site.py puts it right after the security headers, so it wraps the
session, login, upload-size, CSRF and permission checks and every page) turns what aiohttp and
the pages raise into the site's error page:

  400  a bad parameter: `raise BadParameter("开始日期", "不是有效的日期")` names it and says what
       was wrong; a feature's own `web.HTTPBadRequest(text="…")` shows its text when it is Chinese
  401  not logged in (a POST after the session ended)            → 请先登录, link to the login page
  403  refused                                                   → 没有权限 (the exception's Chinese text)
  404  an unknown URL under /admin, or a missing record          → 页面不存在 / the feature's own text
  405  e.g. a GET on a POST-only URL                             → 「这个地址只能通过页面上的按钮提交」
  413  a body over the admin's limit                             → bot/admin/uploads.py's page
  429  too many tries                                            → 操作太频繁 (Retry-After kept)
  400  also a value the code or the database can't take (OverflowError; a database "data
       exception": a number past the column's, a NUL character) that a page didn't check
       itself: logged as a warning with a reference
  500  any other exception (or a 5xx HTTPException)              → a short reference (E-7F3A2C) shown to
       staff and logged with the traceback, so IT can find it; the exception's text is never shown

aiohttp runs a sub-application's middlewares also for paths under its prefix that match no route
(the match info carries the 404/405), so unknown URLs get the page too. What passes untouched:
responses below 400 and redirects (HTTPFound, HTTPSeeOther …), error pages that are already HTML
(`web.render_error`, the form pages re-rendered with status 400, the login page's 429), JSON
answers, and anything under /admin/static (a missing file stays a plain 404). A client asking
for JSON only (`Accept: application/json`) gets `{"error": {"status", "title", "message", …}}`.

The way back: the page the request came from (same site), else the nearest page above the URL
that opens with a GET for this account (/admin/hardship/12/note → /admin/hardship/12), else the
工作台.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.exc import DataError, DBAPIError
from yarl import URL

from bot import keys
from bot.admin import nav, permissions

log = logging.getLogger(__name__)

HOME = nav.ADMIN_PREFIX + "/"
STATIC_PREFIX = nav.ADMIN_PREFIX + "/static/"
_CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
_KEPT_HEADERS = ("Allow", "Retry-After")  # what an error answer keeps of the exception's headers


def out_of_range_input(exc: BaseException) -> bool:
    """Input a page didn't check and the code or the database couldn't take: 9999-12-31 + 1 day,
    an integer past the column's, a NUL character in text (PostgreSQL's SQLSTATE class 22, "data
    exception", which asyncpg's adapter doesn't always raise as a DataError)."""
    if isinstance(exc, (OverflowError, DataError)):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc.orig, exc.__cause__]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if str(getattr(e, "sqlstate", "") or getattr(e, "pgcode", "") or "").startswith("22"):
            return True
        todo += [e.__cause__, e.__context__]
    return False


@dataclass(frozen=True)
class Page:
    """What an error page says."""

    status: int
    title: str
    message: str
    link: str = ""
    link_label: str = ""
    reference: str = ""


class BadParameter(web.HTTPBadRequest):
    """A query or form value the page can't use. The 400 page says which and what was wrong:
    `raise BadParameter("开始日期", "不是有效的日期，请按 2026-05-01 的格式填写")`.
    `link` is where to go back to (default: the page the request came from)."""

    def __init__(self, label: str, problem: str, *, link: str = "") -> None:
        super().__init__(text=f"「{label}」{problem}")
        self.label, self.problem, self.link = label, problem, link


def new_reference() -> str:
    """A short reference for one unexpected error, e.g. E-7F3A2C (staff quote it to IT)."""
    return "E-" + secrets.token_hex(3).upper()


def is_chinese(text: str | None) -> bool:
    """Text meant for staff (the pages' own messages) rather than aiohttp's English defaults."""
    return bool(text) and bool(_CJK.search(text or ""))


# ----------------------------------------------------------------------------- the way back
def _same_site_referer(request: web.Request) -> str:
    """The admin page the request came from (a path, same host), unless it is this very URL."""
    raw = request.headers.get("Referer", "")
    if not raw:
        return ""
    try:
        url = URL(raw)
    except ValueError:
        return ""
    if url.host is None or url.raw_authority != request.host:
        return ""
    if not url.path.startswith(nav.ADMIN_PREFIX) or url.path.startswith(STATIC_PREFIX):
        return ""
    path_qs = url.raw_path_qs
    if path_qs == request.rel_url.raw_path_qs and request.method in ("GET", "HEAD"):
        return ""  # the page that failed itself
    return path_qs


async def _opens(request: web.Request, path: str, *, fixed: bool = False) -> bool:
    """Whether a GET of `path` reaches a page of the admin site this account may open (`fixed`:
    a page without an id in its URL — above a record that wasn't found, its id proves nothing)."""
    try:
        probe = request.clone(method="GET", rel_url=URL(path))
        match = await request.app.router.resolve(probe)
    except Exception:  # noqa: BLE001  (a link is a nicety; never an error of its own)
        return False
    if match.http_exception is not None or (fixed and len(match)):
        return False
    name = getattr(match.route.resource, "name", None)
    if name in ("login", "static"):
        return False
    return permissions.may(request, name, "GET") if name else True


async def nearest_page(request: web.Request, *, fixed: bool = False) -> str:
    """The nearest page above this URL that opens with a GET (the 工作台 at the latest); `fixed`:
    one without an id in its URL (for a 404: /admin/signup/99/edit → /admin/signup)."""
    parts = [p for p in request.rel_url.path.split("/") if p]
    while len(parts) > 1:
        parts.pop()
        candidate = "/" + "/".join(parts)
        if candidate != request.rel_url.path and await _opens(request, candidate, fixed=fixed):
            return candidate
    return HOME


async def way_back(request: web.Request, status: int = 0) -> tuple[str, str]:
    """(link, label) of the page's way back (`status` 404: never to a page of the same record)."""
    referer = _same_site_referer(request)
    if referer:
        return referer, "返回上一页"
    if request.get(keys.REQUEST_STAFF) is None:
        return nav.ADMIN_PREFIX + "/login", "去登录"
    link = await nearest_page(request, fixed=status == 404)
    if link == HOME:
        return link, "返回工作台"
    title = next((e.title for e in request.app.get(keys.ADMIN_NAV, ()) if e.path == link), "")
    return link, (f"返回{title}" if title else "返回上一级页面")


# ----------------------------------------------------------------------------- what each status says
def _unknown_url(request: web.Request) -> bool:
    return request.match_info.http_exception is not None


async def page_for(request: web.Request, status: int, text: str = "", *, link: str = "") -> Page:
    """The page for an HTTP error below 500 raised (or returned) by a page or by aiohttp; `text`
    is the page's own message, shown when it is Chinese (never aiohttp's English defaults)."""
    text = text if is_chinese(text) else ""
    back, label = await way_back(request, status)
    if link:
        back, label = link, "返回"
    if status == 400:
        return Page(400, "请求有误", text or "这次提交或链接里有内容无法处理，没有执行任何操作。请返回上一页检查后再试。",
                    back, label)
    if status == 401:
        return Page(401, "请先登录", text or "登录已过期，请重新登录后再操作。", nav.ADMIN_PREFIX + "/login", "去登录")
    if status == 403:
        return Page(403, "没有权限", text or "您的账号不能打开这个页面或进行这项操作。如需开通，请联系管理员。", back, label)
    if status == 404:
        if text and not _unknown_url(request):
            return Page(404, "没有找到", text, back, label)
        return Page(404, "页面不存在", "您要打开的页面不存在：可能是地址输错了，或者链接已经过期。"
                    "请从导航栏重新进入。", back, label)
    if status == 405:
        return Page(405, "不能直接打开这个地址",
                    "这个地址只能通过页面上的按钮提交，不能在浏览器里直接打开或刷新。请返回页面，用页面上的按钮操作。",
                    back, label)
    if status == 429:
        return Page(429, "操作太频繁", text or "操作太频繁了，请稍等几分钟再试。", back, label)
    return Page(status, "无法完成这个请求", text or "这个请求没有完成。请返回上一页再试一次。", back, label)


async def server_error(request: web.Request, exc: BaseException, status: int = 500) -> Page:
    """An unexpected error: logged with its traceback under a short reference that the page shows."""
    reference = new_reference()
    staff = request.get(keys.REQUEST_STAFF)
    log.error("admin error %s: %s %s (staff %s)", reference, request.method, request.path,
              getattr(staff, "id", "-"), exc_info=exc)
    link, label = await way_back(request)
    return Page(status, "系统出了点问题",
                "这次操作没有完成，系统已经记下了这个问题。请稍后再试一次；如果一直这样，"
                "请把下面的参考编号告诉技术人员。", link, label, reference)


async def out_of_range(request: web.Request, exc: BaseException) -> Page:
    """A value the page didn't check and the code or the database couldn't take: a 400, not a 500
    (nothing was saved: the transaction rolled back); logged, as the page should check it itself."""
    reference = new_reference()
    log.warning("admin input out of range %s: %s %s", reference, request.method, request.path, exc_info=exc)
    link, label = await way_back(request)
    return Page(400, "填写的内容无法处理",
                "填写或链接里有一个数字或日期超出了可以处理的范围（例如年份应在 1900 到 2100 年之间），"
                "或含有无法识别的字符，这次操作没有执行。请检查后再试；如果确认填写无误，"
                "请把下面的参考编号告诉技术人员。", link, label, reference)


# ----------------------------------------------------------------------------- rendering
def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


async def _context(request: web.Request) -> None:
    """The layout's context, when the error came before the context processors ran."""
    if aiohttp_jinja2.REQUEST_CONTEXT_KEY in request:
        return
    context: dict[str, Any] = {}
    for processor in request.app.get(aiohttp_jinja2.APP_CONTEXT_PROCESSORS_KEY, ()):
        context.update(await processor(request))
    request[aiohttp_jinja2.REQUEST_CONTEXT_KEY] = context


_FALLBACK = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 街道总工会</title></head>
<body><main><h1>{title}</h1><p>{message}</p>{reference}<p><a href="{link}">{label}</a></p></main></body></html>
"""


def _fallback(page: Page) -> web.Response:
    """The page without the layout, when even rendering the layout failed (e.g. the database is down)."""
    from html import escape

    reference = f"<p>参考编号：<strong>{escape(page.reference)}</strong></p>" if page.reference else ""
    body = _FALLBACK.format(title=escape(page.title), message=escape(page.message), reference=reference,
                            link=escape(page.link or HOME, quote=True), label=escape(page.link_label or "返回工作台"))
    return web.Response(status=page.status, text=body, content_type="text/html")


async def render(request: web.Request, page: Page) -> web.Response:
    """The error page in the site's layout (or JSON for a JSON client)."""
    if wants_json(request):
        body = {"status": page.status, "title": page.title, "message": page.message}
        if page.reference:
            body["reference"] = page.reference
        return web.json_response({"error": body}, status=page.status)
    try:
        await _context(request)
        return aiohttp_jinja2.render_template(
            "error.html", request,
            {"status": page.status, "title": page.title, "message": page.message, "link": page.link,
             "link_label": page.link_label, "reference": page.reference,
             "flashes": lambda: []},  # the session was saved already: leave its messages for the next page
            status=page.status,
        )
    except Exception:  # noqa: BLE001
        log.exception("admin error page could not be rendered (%s %s)", request.method, request.path)
        return _fallback(page)


def _keep_headers(source: web.StreamResponse, target: web.StreamResponse) -> web.StreamResponse:
    for name in _KEPT_HEADERS:
        if name in source.headers:
            target.headers[name] = source.headers[name]
    return target


def _is_static(request: web.Request) -> bool:
    resource = getattr(request.match_info.route, "resource", None)
    return (resource is not None and resource.name == "static") or request.path.startswith(STATIC_PREFIX)


def _passes(response: web.StreamResponse) -> bool:
    """An answer left as it is: not an error, or an error page already (HTML or JSON)."""
    if response.status < 400 or response.prepared:
        return True
    ctype = response.content_type or ""
    return ctype in ("text/html", "application/json") or not isinstance(response, web.Response)


async def _error_page(request: web.Request, status: int, text: str, source: web.StreamResponse,
                      *, link: str = "", exc: BaseException | None = None) -> web.Response:
    if status == 413:
        from bot.admin import uploads  # (uploads imports the page helpers)

        return await uploads.too_large(request)
    if status >= 500:
        page = await server_error(request, exc or RuntimeError(f"HTTP {status} answered by the page"), status)
    else:
        page = await page_for(request, status, text, link=link)
    return _keep_headers(source, await render(request, page))


def _plain_text(response: web.StreamResponse) -> str:
    if isinstance(response, web.Response) and response.content_type == "text/plain":
        return response.text or ""
    return ""


@web.middleware
async def error_middleware(request: web.Request, handler):  # noqa: ANN001, ANN201
    """Every error inside /admin as the site's Chinese page (see the module's docstring)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or _is_static(request) or _passes(exc):
            raise  # redirects, static files, pages that are already HTML or JSON
        return await _error_page(request, exc.status, _plain_text(exc), exc,
                                 link=exc.link if isinstance(exc, BadParameter) else "", exc=exc)
    except Exception as exc:  # noqa: BLE001  (CancelledError, a BaseException, goes on up)
        if out_of_range_input(exc):
            return await render(request, await out_of_range(request, exc))
        return await render(request, await server_error(request, exc))
    if _passes(response) or _is_static(request):
        return response
    # An error answer returned (not raised) as plain text: the same page.
    return await _error_page(request, response.status, _plain_text(response), response)


__all__ = ["BadParameter", "Page", "error_middleware", "is_chinese", "nearest_page", "new_reference", "page_for",
           "render", "server_error", "way_back"]
