"""Every admin page in a real browser, at phone and desk width, on a realistic dataset.

For each GET page of the admin router (ids filled with seeded records): the page opens (no
4xx/5xx), shows no English error text or raw Python values, and nothing pushes the page body
sideways (`document.documentElement.scrollWidth <= window.innerWidth + 1`: wide tables scroll
inside their own container). With UNIONBOT_SAVE_SCREENSHOTS=1 a full-page screenshot of each is
saved as docs/screenshots/<route-name>-<width>.png (look at them before calling a page done).
"""
from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.admin import permissions
from bot.db.models.core import Member, Outbox
from bot.keys import CLOCK, SETTINGS
from bot.operations import OpsContext
from handlers.chairs import ops as chairs_ops
from handlers.chairs.quarters import Quarter
from handlers.hardship import ops as hardship_ops
from handlers.quiz import ops as quiz_ops
from handlers.signup import ops as signup_ops
from tests.support.admin import DEFAULT_PASSWORD, DEFAULT_USER, create_staff_user
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.hardship import ops_ctx as hardship_ctx
from tests.support.inbox import add_thread
from tests.support.quiz import add_bank
from tests.support.settings import make_settings
from tests.support.signup import at, make_activity

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing (run .ci/install-browser.sh); in CI this test always runs",
                allow_module_level=True)

from playwright.async_api import async_playwright  # noqa: E402  (Debian's Chromium, never `playwright install`)

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORTS = ((390, 844), (1366, 800))
COMMUNITIES = ["幸福社区", "和平社区", "东湖社区"]
# What staff must never read: the server's English error pages, exceptions, raw Python values.
ENGLISH = re.compile(
    r"Not Found|Method Not Allowed|Server got itself in trouble|Internal Server Error|Bad Request|Forbidden|"
    r"Request Entity Too Large|Maximum request body|Traceback|Exception|Error:|\bNone\b|\bTrue\b|\bFalse\b|"
    r"\binf\b|\bnan\b|\{\{|\{%")
# Technical names staff shouldn't read (the 「给技术人员」 details, closed, are not in the page's text).
JARGON = re.compile(
    r"openid|OpenID|staff_openids|chinese[-_]calendar|\[(?:wechat|chairs|quiz|hardship|signup|inbox|office|admin|"
    r"server|federation|app)\]|\b20\d\d-H[12]\b|\b20\d\dQ[1-4]\b|\b(?:pending|sending|unreachable|uncertain|"
    r"submitted|reviewing|approved|rejected|delivered|waitlist|confirmed|cancelled|withdrawn)\b")
# The culprits of a horizontal overflow: the outermost elements reaching past the right edge.
OVERFLOW_JS = """() => {
  const w = window.innerWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= w + 1) continue;
    let p = el.parentElement, inside = false;
    while (p && p !== document.body) {
      const pr = p.getBoundingClientRect(), ox = getComputedStyle(p).overflowX;
      if (pr.right > w + 1 || ox === 'auto' || ox === 'scroll' || ox === 'hidden') { inside = true; break; }
      p = p.parentElement;
    }
    if (inside) continue;
    const cls = typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    out.push(`${el.tagName.toLowerCase()}${cls} right=${Math.round(r.right)} «${(el.innerText || '').trim().slice(0, 30)}»`);
    if (out.length >= 4) break;
  }
  return {scroll: document.documentElement.scrollWidth, inner: w, culprits: out};
}"""


@pytest.fixture
def settings(db_url, tmp_path):  # noqa: ANN001, ANN201
    return make_settings(db_url, tmp_path, federation={"communities": COMMUNITIES})


def admin_app(app: web.Application) -> web.Application:
    for resource in app.router.resources():
        info = resource.get_info()
        if info.get("prefix") == "/admin":
            return info["app"]
    raise AssertionError("no admin sub-application at /admin")


WORKERS = [  # openid, name, phone, community
    ("oWang", "王小明", "13800138000", "幸福社区"), ("oLi", "李秀英", "13912345678", "幸福社区"),
    ("oZhang", "张建华", "13700001111", "和平社区"), ("oLiu", "刘芳", "13600002222", "和平社区"),
    ("oChen", "陈志强", "13500003333", "东湖社区"), ("oZhao", "赵丽娟", "13400004444", None),
]
STORY = "母亲住院做手术，自付医药费很多，家里收入只靠我一人，孩子还在上学，房贷每月三千多，实在周转不开。"


async def seed(app: web.Application, db, clock) -> dict[str, dict[str, str]]:  # noqa: ANN001, C901
    """A week's worth of records of every kind; the path parameters by route-name prefix."""
    now = clock.now()
    settings = app[SETTINGS]
    admin_staff = await create_staff_user(db, display_name="张干事")
    other = await create_staff_user(db, "lisi", display_name="李四", roles=("hardship", "inbox"), community="幸福社区")
    async with db() as s, s.begin():
        for openid, name, phone, community in WORKERS:
            s.add(Member(openid=openid, first_seen=now - timedelta(days=40), last_seen=now, name=name, phone=phone,
                         community=community, employer="街道环卫所"))
    # 帮扶: one in every stage
    ctx = hardship_ctx(app, staff_id=admin_staff.id)
    reqs = []
    async with db() as s, s.begin():
        for i, (openid, name, phone, community) in enumerate(WORKERS[:5]):
            req = await hardship_ops.submit_request(
                s, hardship_ctx(app), openid=openid, consent_version="2026-1",
                data={"kind": ["因病", "子女就学", "因灾", "工伤", "失业待岗"][i], "description": STORY, "household": 3 + i % 2,
                      "income": 2500 + 800 * i, "expenses": 1500, "name": name, "phone": phone,
                      "employer": "街道环卫所", "id_number": None, "photos": [], "community": community})
            reqs.append(req.id)
    async with db() as s, s.begin():
        await hardship_ops.start_review(s, ctx, reqs[1])
        await hardship_ops.assign(s, ctx, reqs[1], assignee_id=other.id)
        await hardship_ops.add_note(s, ctx, reqs[1], text="已电话核实，下周入户走访。")
        await hardship_ops.start_review(s, ctx, reqs[2])
        await hardship_ops.approve(s, ctx, reqs[2], message="请留意电话通知领取")
        await hardship_ops.start_review(s, ctx, reqs[3])
        await hardship_ops.approve(s, ctx, reqs[3])
        await hardship_ops.deliver(s, ctx, reqs[3], amount=2000.0, aid_kind="慰问金", aid_date=date(2026, 11, 24))
        await hardship_ops.start_review(s, ctx, reqs[4])
        await hardship_ops.reject(s, ctx, reqs[4], reason="家庭人均收入高于本市困难职工认定标准。")
        # messages that did not reach the worker: the 工作台's follow-ups
        for i, openid in enumerate(("oWang", "oZhang", "oZhao")):
            s.add(Outbox(key=f"seed:{i}", openid=openid, purpose=hardship_ops.NOTIFY_PURPOSE, payload={"text": "x"},
                         status=("unreachable", "failed", "uncertain")[i], next_attempt_at=now,
                         created_at=now - timedelta(days=i * 200)))
    # 活动报名: an upcoming training with a waitlist, an event, a past training with attendance
    training = await make_activity(db, clock, capacity=2, community="幸福社区")
    event = await make_activity(db, clock, kind="event", title="职工子女暑期托管班报名说明会", place="社区党群服务中心三楼多功能厅",
                                starts_at=at(28, 9), ends_at=at(28, 11), capacity=None)
    past = await make_activity(db, clock, title="安全生产月专题培训（叉车、电工、焊工）", starts_at=at(24, 8),
                               ends_at=at(24, 9), capacity=30)
    signup_ids = []
    sctx = OpsContext(app[CLOCK], settings)
    clock.set(at(20, 9))  # the sign-ups came in last week, before the past training began
    async with db() as s, s.begin():
        members = {m.openid: m for m in await s.scalars(select(Member))}
        for act in (training, event, past):
            for openid, name, phone, _ in WORKERS[:4]:
                res = await signup_ops.sign_up(s, sctx, act.id, members[openid], name=name, phone=phone,
                                               employer="街道环卫所")
                signup_ids.append((act.id, res.signup.id))
    clock.set(at(24, 10))  # back to today: the past training took place this morning
    async with db() as s, s.begin():
        for act_id, signup_id in signup_ids:
            if act_id == past.id:
                await signup_ops.staff_check_in(s, OpsContext(app[CLOCK], settings), act_id, signup_id)
                break
    # 每月一题: the bank, October (closed), November (open, answered), the half-year test
    qids = await add_bank(db, clock)
    qctx = OpsContext(app[CLOCK], settings)
    async with db() as s, s.begin():
        await quiz_ops.create_period(s, qctx, "2026-10", question_ids=qids[:2])
        november = await quiz_ops.create_period(s, qctx, "2026-11", question_ids=qids[:3])
        await quiz_ops.create_period(s, qctx, "2026-H2", question_ids=qids[:5])
        questions = await quiz_ops.period_questions(s, november)
        for openid, *_ in WORKERS:
            for q in questions[:2]:
                await quiz_ops.record_answer(s, qctx, november, q, openid, q.answer if openid != "oLiu" else "A")
    # 主席报送: units in three communities, some reported this quarter and last
    chair_ids = []
    cctx = OpsContext(app[CLOCK], settings)
    async with db() as s, s.begin():
        for i in range(9):
            chair = await chairs_ops.add_chair(s, cctx, name=["王建国", "李红梅", "周强", "吴海燕", "郑伟", "孙丽",
                                                              "钱进", "冯雪", "褚明"][i],
                                               organisation=f"{['街道电子厂', '华联超市', '顺达物流有限公司'][i % 3]}工会",
                                               community=COMMUNITIES[i % 3], mobile=f"1380013{8000 + i}")
            chair_ids.append(chair.id)
            figures = {"enterprises": 40, "unionised": 38, "wage_agreements": 35, "harmonious": 16, "visits": 6,
                       "problems": "两家企业反映招工难", "summary": "本季度新建工会2家，走访6家企业。"}
            if i % 3 != 2:
                await chairs_ops.submit_report(s, cctx, chair, Quarter(2026, 3), figures)
            if i % 2 == 0:
                await chairs_ops.submit_report(s, cctx, chair, Quarter(2026, 4), figures)
    # 留言咨询: waiting, answered, closed; a quick reply; an FAQ entry
    threads = [
        await add_thread(db, clock, "oWang", [("worker", "你好，想问一下工伤认定需要准备哪些材料？单位不肯出证明怎么办？")],
                         topic="劳动保障"),
        await add_thread(db, clock, "oZhang", [("worker", "困难帮扶申请提交了多久能有结果？"),
                                               ("staff", "您好，一般10个工作日内会有审核结果，请留意通知。")],
                         topic="困难帮扶", assigned_to=other.id),
        await add_thread(db, clock, "oLiu", [("worker", "培训证书在哪里领？")], topic="活动报名", status="closed"),
    ]
    from bot.db.models.inbox import FaqEntry, InboxMessage, InboxSnippet
    from handlers.inbox import faq as faq_ops, replies

    async with db() as s, s.begin():
        await replies.save_snippet(s, OpsContext(app[CLOCK], settings, staff_id=admin_staff.id), None,
                                   title="工伤认定材料", text="工伤认定需要：劳动关系证明、医疗诊断证明、事故经过说明。")
        if not await s.scalar(select(func.count()).select_from(FaqEntry)):
            await faq_ops.create_entry(s, OpsContext(app[CLOCK], settings),
                                       faq_ops.EntryInput(keywords="工会会费", answer="会费按工资的0.5%缴纳。"))
    async with db() as s:
        snippet_id = await s.scalar(select(func.min(InboxSnippet.id)))
        message_id = await s.scalar(select(func.min(InboxMessage.id)))
        entry_id = await s.scalar(select(func.min(FaqEntry.id)))
        outbox_id = await s.scalar(select(func.min(Outbox.id)))
    return {
        "hardship": {"id": str(reqs[1]), "photo_id": "1", "fmt": "csv"},
        "signup": {"activity_id": str(training.id), "signup_id": str(signup_ids[0][1]), "fmt": "csv"},
        "chairs": {"chair_id": str(chair_ids[0]), "fmt": "csv"},
        "quiz": {"code": "2026-11", "qid": str(qids[0]), "fmt": "csv"},
        "inbox": {"id": str(threads[0]), "snippet_id": str(snippet_id), "message_id": str(message_id), "fmt": "csv"},
        "faq": {"entry_id": str(entry_id), "fmt": "csv"},
        "home": {"outbox_id": str(outbox_id)},
        "staff": {"staff_id": str(other.id)},
        "me": {"sid": "0" * 64},
        "audit": {"fmt": "csv"},
        # more views of the same pages: (route name, suffix, path parameters, query)
        "_extra": [
            ("hardship.detail", "approved", {"id": str(reqs[2])}, ""),
            ("hardship.detail", "rejected", {"id": str(reqs[4])}, ""),
            ("signup.detail", "past", {"activity_id": str(past.id)}, ""),
            ("quiz.period", "half", {"code": "2026-H2"}, ""),
            ("inbox.thread", "answered", {"id": str(threads[1])}, ""),
            ("chairs.grid", "q3", {}, "quarter=2026Q3"),
        ],
    }


def pages(admin: web.Application, params: dict) -> list[tuple[str, str]]:
    """(screenshot name, path) of every GET page of the admin app, and the extra views."""
    out = []
    for resource in admin.router.resources():
        name = resource.name
        if name in ("login", "static") or name is None:
            continue
        if not any(r.method in ("GET", "*") for r in resource):
            continue
        last = name.rsplit(".", 1)[-1]
        if permissions.route_kind(name, "GET") in (permissions.EXPORT, permissions.FILE) or "download" in last \
                or "{fmt" in resource.canonical or resource.canonical.endswith((".xlsx", ".csv")):
            continue  # files, not pages
        info = resource.get_info()
        if "formatter" in info:
            wanted = set(resource._pattern.groupindex)  # noqa: SLF001  (the names in {…})
            given = params.get(name.split(".")[0], {})
            missing = wanted - set(given)
            assert not missing, f"no seeded value for {name}'s {sorted(missing)}: add it to seed()"
            path = str(resource.url_for(**{k: given[k] for k in wanted}))
        else:
            path = info.get("path") or str(resource.url_for())
        out.append((name, path))
    for name, suffix, parts, query in params["_extra"]:
        path = str(admin.router[name].url_for(**parts))
        out.append((f"{name}-{suffix}", path + (f"?{query}" if query else "")))
    return out


async def test_every_admin_page_fits_phone_and_desk(aiohttp_server, app, db, clock):  # noqa: ANN001
    params = await seed(app, db, clock)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    visits = pages(admin_app(app), params)
    save = os.environ.get("UNIONBOT_SAVE_SCREENSHOTS") == "1"
    if save:
        SHOTS.mkdir(parents=True, exist_ok=True)

    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            state = None
            for width, height in VIEWPORTS:
                context = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                                    storage_state=state)
                page = await context.new_page()
                if state is None:
                    await page.goto(f"{base}/admin/login")
                    await page.get_by_label("用户名").fill(DEFAULT_USER)
                    await page.get_by_label("密码").fill(DEFAULT_PASSWORD)
                    await page.get_by_role("button", name="登录").click()
                    await page.get_by_role("heading", name="工作台").wait_for()
                    state = await context.storage_state()
                    # the check itself: a page pushed sideways is caught, with its culprit named
                    await page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', "
                                        "'<p class=probe style=\"width:900px\">x</p>')")
                    fit = await page.evaluate(OVERFLOW_JS)
                    assert fit["scroll"] > fit["inner"] + 1 and any("p.probe" in c for c in fit["culprits"]), fit
                    # 工作台: a follow-up phoned about is marked done on the phone, and can be undone
                    await page.reload()
                    await page.get_by_role("button", name="已联系").first.click()
                    await page.get_by_text("已标记为已电话联系：王小明").wait_for()
                    await page.get_by_text("最近已联系（1）").click()
                    assert await page.get_by_role("button", name="撤销").is_visible()
                for name, path in visits:
                    resp = await page.goto(base + path)
                    where = f"{name} @{width} ({path})"
                    if resp is None or resp.status >= 400:
                        problems.append(f"{where}: HTTP {resp.status if resp else '—'}")
                    if "/admin/login" in page.url and not path.endswith("/login"):
                        problems.append(f"{where}: sent back to the login page")
                    text = await page.inner_text("body")
                    english = ENGLISH.search(text)
                    if english:
                        problems.append(f"{where}: English/raw text «{text[max(0, english.start() - 20):english.end() + 20]}»")
                    jargon = JARGON.search(text)
                    if jargon:
                        problems.append(f"{where}: technical text «{text[max(0, jargon.start() - 20):jargon.end() + 20]}»")
                    fit = await page.evaluate(OVERFLOW_JS)
                    if fit["scroll"] > fit["inner"] + 1:
                        problems.append(f"{where}: page {fit['scroll']}px wide in a {fit['inner']}px window; "
                                        + "; ".join(fit["culprits"]))
                    if save:
                        await page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
                await context.close()
        finally:
            await browser.close()
    assert not problems, f"{len(problems)} page problems:\n" + "\n".join(problems)
