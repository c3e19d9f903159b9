"""The soak's actors: workers and chairs talking through the signed webhook, staff on the admin site.

Every chat message goes through `bot.wechat.simulator` (real XML, real signature) over an
aiohttp session; `Recorder` keeps what the end-of-run checks need: every MsgId answered 200,
the replies of re-sends, and what each flow should have stored (applications, sign-ups,
quiz answers, chair reports, questions for staff). Flows answer the dialogue by what it asks
(not by a fixed script), so a reworded prompt does not derail the soak; a flow that cannot
go on is counted as `stuck` and its last reply kept for the report.
"""
from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.wechat.simulator import SimUser, WeChatSim

_MSGID = re.compile(rb"<MsgId>(\d+)</MsgId>")
_EVENT = re.compile(rb"<FromUserName><!\[CDATA\[(\w+)\]\]></FromUserName><CreateTime>(\d+)</CreateTime>"
                    rb".*<Event><!\[CDATA\[(\w+)\]\]></Event>")
_ID_LINK = r'href="/admin/{}/(\d+)'
_CSRF = re.compile(r'name="_csrf"\s+value="([^"]+)"')
_FIELD = r'name="{}"\s+value="([^"]*)"'

ID_NUMBER = "11010519491231002X"


class Http:
    """What WeChatSim needs of a test client: `post(path, ...)` against the service's base URL."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def post(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.session.post(self.base + path, **kw)


class Stuck(Exception):
    """The dialogue answered something the flow does not know how to go on from."""


@dataclass
class Recorder:
    """What was sent and what the service should have stored because of it."""

    ok_msgids: set[str] = field(default_factory=set)  # answered 200 at least once
    ok_events: set[str] = field(default_factory=set)  # events (follow, click) answered 200: their dedup keys
    sent: int = 0  # requests posted (re-sends included)
    resends: int = 0
    resend_mismatch: list[str] = field(default_factory=list)  # MsgIds whose re-send got other bytes
    errors: Counter = field(default_factory=Counter)  # non-200 / transport errors by kind
    latencies: list[float] = field(default_factory=list)
    flows: Counter = field(default_factory=Counter)  # finished flows by name
    stuck: Counter = field(default_factory=Counter)
    stuck_samples: dict[str, str] = field(default_factory=dict)
    expected: Counter = field(default_factory=Counter)  # rows the flows should have created
    staff: Counter = field(default_factory=Counter)  # staff actions done over HTTP

    def stuck_at(self, flow: str, reply: str | None) -> None:
        self.stuck[flow] += 1
        self.stuck_samples.setdefault(flow, (reply or "")[:300])


class Stop(Exception):
    """The run is over: flows stop at a message boundary (nothing is cut off mid-request)."""


class Pacer:
    """Open-loop pacing: every call waits for the next slot of a Poisson process at `rate` per second;
    after `stop_at` (monotonic) it raises Stop instead."""

    def __init__(self, rate: float, rng: random.Random, stop_at: float) -> None:
        self.rate, self.rng, self.stop_at = rate, rng, stop_at
        self.next_t = time.monotonic()

    async def wait(self) -> None:
        self.next_t = max(self.next_t, time.monotonic() - 1.0) + self.rng.expovariate(self.rate)
        if self.next_t >= self.stop_at:
            raise Stop
        delay = self.next_t - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class Talker:
    """One simulated person: paced sends, recorded; sometimes WeChat re-sends the same bytes."""

    def __init__(self, sim: WeChatSim, openid: str, rec: Recorder, pacer: Pacer, rng: random.Random,
                 resend_p: float) -> None:
        self.u: SimUser = sim.user(openid)
        self.openid, self.rec, self.pacer, self.rng, self.resend_p = openid, rec, pacer, rng, resend_p

    async def _call(self, fn, *args: Any) -> str | None:  # noqa: ANN001
        await self.pacer.wait()
        self.rec.sent += 1
        t0 = time.perf_counter()
        try:
            reply = await fn(*args)
        except AssertionError as exc:  # the simulator's checks: status other than 200, malformed reply
            self.rec.errors[str(exc)[:60]] += 1
            raise Stuck(f"webhook: {exc}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.rec.errors[type(exc).__name__] += 1
            raise Stuck(f"webhook: {exc!r}") from None
        self.rec.latencies.append(time.perf_counter() - t0)
        params, body = self.u._last_request  # noqa: SLF001 (the simulator keeps the bytes it posted)
        m = _MSGID.search(body)
        e = None if m else _EVENT.search(body)
        if e:
            self.rec.ok_events.add(f"e:{e[1].decode()}:{e[2].decode()}:{e[3].decode().lower()}")
        if m:
            msgid = m.group(1).decode()
            self.rec.ok_msgids.add(msgid)
            if self.rng.random() < self.resend_p:
                await self._resend(msgid, self.u.last["raw"])
        return reply

    async def _resend(self, msgid: str, first: bytes) -> None:
        """WeChat's retry: the very same request again (after the answer, or while it is in flight)."""
        self.rec.sent += 1
        self.rec.resends += 1
        try:
            await self.u.resend()
        except (AssertionError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.rec.errors[f"resend {type(exc).__name__}"] += 1
            return
        if self.u.last["raw"] != first:
            self.rec.resend_mismatch.append(msgid)

    async def _send_twice(self, text: str) -> str | None:
        """WeChat's retry while the first delivery is still being processed: the same bytes twice at once."""
        msg_id = self.u._msg_id(None)  # noqa: SLF001
        params, body = self.u.sim.build(self.openid, MsgType="text", Content=text, MsgId=msg_id)

        async def post() -> bytes:
            resp = await self.u.sim.post_raw(body, params, sign=False)
            raw = await resp.read()
            assert resp.status == 200, f"webhook answered {resp.status}"
            return raw

        first, second = await asyncio.gather(post(), post())
        self.rec.sent += 1
        self.rec.resends += 1
        msgid = _MSGID.search(body).group(1).decode()
        if first != second:
            self.rec.resend_mismatch.append(msgid)
        self.u._last_request = (params, body)  # noqa: SLF001
        self.u.last = self.u.sim.parse_reply(first, params, self.openid)
        return self.u.last["text"]

    async def send(self, text: str) -> str:
        dup = self.rng.random() < self.resend_p / 3
        return (await self._call(self._send_twice if dup else self.u.send, text)) or ""

    async def image(self, media_id: str) -> str:
        return (await self._call(self.u.image, media_id)) or ""

    async def voice(self, text: str) -> str:
        return (await self._call(self.u.voice, f"V{self.rng.randrange(10**9)}", text)) or ""

    async def click(self, key: str) -> str:
        return (await self._call(self.u.click, key)) or ""

    async def say(self, what: str) -> str:
        """Text, or `click:KEY` (a menu click), or `voice:text` (voice with its recognition)."""
        kind, _, rest = what.partition(":")
        if kind == "click" and rest:
            return await self.click(rest)
        if kind == "voice" and rest:
            return await self.voice(rest)
        return await self.send(what)

    async def follow(self) -> str:
        return (await self._call(self.u.follow)) or ""


def _answer_for(reply: str, answers: dict[str, str]) -> str | None:
    """The answer to the question the reply ends with: the last line naming one of `answers`' keys."""
    for line in reversed([ln for ln in reply.splitlines() if ln.strip()]):
        for key, answer in answers.items():
            if key in line:
                return answer
    return None


async def fill(t: Talker, first: str, answers: dict[str, str], done: tuple[str, ...], max_steps: int = 24) -> str:
    """Answer a form from `first` until a reply contains one of `done`."""
    reply = first
    for _ in range(max_steps):
        if any(d in reply for d in done):
            return reply
        answer = _answer_for(reply, answers)
        if answer is None:
            raise Stuck(reply)
        reply = await t.send(answer)
    raise Stuck(reply)


# ---- workers' and chairs' flows ---------------------------------------------------------------
# Each maps the last line of a prompt to an answer (first key found wins, checked from the last line up).

HARDSHIP = {"「同意」": "同意", "困难类型": "1", "困难情况": "母亲住院做手术，自付医药费很多，家里收入只靠我一人。",
            "人口": "3", "总收入": "4500", "多花": "1500", "姓名": "王小明", "手机号": "13800138000",
            "工作单位": "街道环卫所", "社区": "1", "身份证号": ID_NUMBER, "回复「确认」": "确认"}
SIGNUP = {"真实姓名": "王小红", "手机号码": "13900139000", "工作单位": "跳过", "社区": "2", "回复「确认」": "确认"}
CHAIR = {"上次留的是": "沿用", "几家": "12", "问题或职工诉求": "两家企业反映招工难",
         "工作小结": "本季度新建工会2家，走访6家企业。", "回复「确认」": "确认"}
QUESTIONS = ["老板拖欠工资三个月了怎么办", "上班路上摔伤了算不算工伤", "孩子上学有困难工会能帮忙吗",
             "怎么加入工会，需要交会费吗", "公司不给交社保可以吗"]
BROWSE = ["菜单", "我的申请", "我的报名", "成绩", "办公时间", "你好", "谢谢", "帮助", "click:HELP", "click:OFFICE",
          "click:MY_SIGNUPS", "click:SCORES", "voice:我想看看菜单"]


async def hardship(t: Talker) -> None:
    """An application with two photos (sent at the photo step, or mid-form as people do)."""
    reply = await t.say(t.rng.choice(["帮扶", "申请帮扶", "我要申请困难帮扶", "click:HARDSHIP"]))
    answers = {**HARDSHIP, "困难类型": str(t.rng.randint(1, 6)), "社区": str(t.rng.randint(1, 3))}
    photos, told = 0, 0  # photos sent; photos the summary says it holds (what must be stored)
    for _ in range(30):
        tail = "\n".join(reply.strip().splitlines()[-3:])  # the question and its hints
        if "申请已提交" in reply:
            t.rec.flows["hardship"] += 1
            t.rec.expected["hardship_request"] += 1
            t.rec.expected["hardship_photo"] += told
            return
        if "请核对" in reply:  # the summary: how many photos it holds
            m = re.search(r"证明材料：(\d+) 张", reply)
            told = int(m.group(1)) if m else 0
        photo_step = "发送照片" in tail or ("照片" in tail and "「完成」" in tail)
        if photos < 2 and (photo_step or (photos == 0 and "身份证号" in tail and t.rng.random() < 0.5)):
            photos += 1
            reply = await t.image(f"M{t.openid}x{photos}")
            continue
        if photo_step:
            reply = await t.send("完成")
            continue
        answer = _answer_for(reply, answers)
        if answer is None:
            raise Stuck(reply)
        reply = await t.send(answer)
    raise Stuck(reply)


async def signup(t: Talker) -> None:
    """A sign-up for an activity not yet signed up for: name and phone asked once, then remembered."""
    reply = await t.say(t.rng.choice(["报名", "我要报名", "click:SIGNUP"]))
    open_ = [ln.split(".")[0].strip() for ln in reply.splitlines()
             if re.match(r"\s*\d+\. ", ln) and "已报名" not in ln]
    if not open_:
        await t.send("取消")
        return
    reply = await t.send(t.rng.choice(open_))
    reply = await fill(t, reply, SIGNUP, ("报名成功", "候补"))
    t.rec.flows["signup"] += 1
    t.rec.expected["signup"] += 1


async def quiz(t: Talker) -> None:
    """This month's question (once; later 答题 says it is done), sometimes the scores."""
    reply = await t.say(t.rng.choice(["答题", "每月一题", "click:QUIZ"]))
    if "选项字母" in reply:
        await t.send(t.rng.choice(["B", "b", "A", "C", "答案：B"]))
        t.rec.expected["quiz_answer"] += 1
    t.rec.flows["quiz"] += 1
    if t.rng.random() < 0.5:
        await t.send("成绩")


async def chair_report(t: Talker) -> None:
    """The quarterly report: seven items and 确认; filed again later, every item kept with 沿用."""
    reply = await t.say(t.rng.choice(["报送", "季度报送", "click:REPORT"]))
    reply = await fill(t, reply, CHAIR, ("已收到", "已更新"))
    t.rec.flows["chair_report"] += 1
    if "已收到" in reply:
        t.rec.expected["chair_report"] += 1


async def question(t: Talker) -> None:
    """A question for staff (留言): topic, the question, sometimes a photo or a follow-up."""
    reply = await t.say(t.rng.choice(["我要留言", "留言", "人工", "click:CONTACT"]))
    if "哪方面" in reply:
        reply = await t.send(str(t.rng.randint(1, 5)))
    if "写下您的问题" in reply or "哪方面" in reply:
        if t.rng.random() < 0.3:
            await t.image(f"Q{t.openid}x{t.rng.randrange(10**6)}")
        await (t.voice if t.rng.random() < 0.3 else t.send)(t.rng.choice(QUESTIONS))
    elif "咨询正在进行" in reply or "还开着" in reply:
        await t.send(t.rng.choice(QUESTIONS))
    t.rec.flows["question"] += 1


async def browse(t: Talker) -> None:
    for _ in range(t.rng.randint(1, 3)):
        await t.say(t.rng.choice(BROWSE))
    t.rec.flows["browse"] += 1


FLOWS = {"hardship": hardship, "signup": signup, "quiz": quiz, "chair_report": chair_report,
         "question": question, "browse": browse}


# ---- staff on the admin site --------------------------------------------------------------------

class Staff:
    """One staff member in a browser: logs in through the form, acts through the pages' own forms."""

    def __init__(self, base: str, username: str, password: str, rec: Recorder) -> None:
        self.base, self.username, self.password, self.rec = base, username, password, rec
        self.replies = 0
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for 127.0.0.1
                                          timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        await self.http.close()

    async def get(self, path: str) -> str:
        async with self.http.get(self.base + path, allow_redirects=False) as r:
            html = await r.text()
            if r.status != 200:
                self.rec.errors[f"admin GET {r.status}"] += 1
                raise Stuck(f"GET {path}: {r.status}")
            return html

    async def post(self, path: str, data: dict[str, str], what: str) -> bool:
        async with self.http.post(self.base + path, data=data, allow_redirects=False) as r:
            await r.read()
            if r.status not in (200, 302, 303):
                self.rec.errors[f"admin POST {what} {r.status}"] += 1
                return False
            self.rec.staff[what] += 1
            return r.status in (302, 303)

    @staticmethod
    def csrf(html: str) -> str:
        m = _CSRF.search(html)
        if not m:
            raise Stuck("no _csrf in the page")
        return m.group(1)

    async def login(self) -> None:
        token = self.csrf(await self.get("/admin/login"))
        if not await self.post("/admin/login", {"_csrf": token, "username": self.username,
                                                "password": self.password, "next": "/admin/"}, "login"):
            raise Stuck("login refused")
        await self.get("/admin/")

    async def logout(self) -> None:
        await self.post("/admin/logout", {"_csrf": self.csrf(await self.get("/admin/"))}, "logout")

    async def review_hardship(self) -> None:
        """The oldest submitted request: 开始审核, then 审核通过 with a note (two messages to the worker)."""
        ids = re.findall(_ID_LINK.format("hardship"), await self.get("/admin/hardship?status=submitted"))
        if not ids:
            return
        rid = ids[-1]
        html = await self.get(f"/admin/hardship/{rid}")
        if await self.post(f"/admin/hardship/{rid}/act/start_review", {"_csrf": self.csrf(html)},
                           "hardship.start_review"):
            self.rec.expected["staff_outbox"] += 1
        html = await self.get(f"/admin/hardship/{rid}")
        if await self.post(f"/admin/hardship/{rid}/act/approve", {"_csrf": self.csrf(html), "message": "请留意电话"},
                           "hardship.approve"):
            self.rec.expected["staff_outbox"] += 1

    async def answer_inbox(self, rng: random.Random) -> None:
        """A waiting question: open the thread, reply through its form."""
        ids = re.findall(_ID_LINK.format("inbox"), await self.get("/admin/inbox?view=waiting"))
        if not ids:
            return
        tid = rng.choice(ids)
        html = await self.get(f"/admin/inbox/{tid}")
        self.replies += 1  # every answer worded apart, so a message delivered twice shows at the fake API
        form = {"_csrf": self.csrf(html),
                "text": f"您好，您反映的情况我们已经收到（第{self.replies}号回复），请保留好相关材料，我们会尽快联系您。"}
        for name in ("token", "seen"):
            m = re.search(_FIELD.format(name), html)
            if m:
                form[name] = m.group(1)
        if await self.post(f"/admin/inbox/{tid}/reply", form, "inbox.reply"):
            self.rec.expected["staff_outbox"] += 1

    async def edit_activity(self, activity_id: int, fields: dict[str, str]) -> None:
        """Save the activity's edit form with a new place: everyone signed up is told (outbox rows)."""
        path = f"/admin/signup/{activity_id}/edit"
        await self.post(path, {**fields, "_csrf": self.csrf(await self.get(path))}, "signup.edit")
