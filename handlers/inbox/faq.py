"""Common questions (FAQ): matching a worker's message, hit counts, staff's edits, the seeded entries.

Matching reads the message and every keyword the same way: folded by the normaliser the
dialogues use (`bot.core.normalize.fold`: full-width forms, case, voice's 「。」), then without
any punctuation or spaces inside, so 「请问，怎么 入会呀？」 contains 「怎么入会」 and polite
wrappers around a keyword don't matter. An entry answers when the message contains one of its
keywords whole; among several, the highest priority wins, then the longest keyword, then the
oldest entry. Feature keywords come first (the dispatcher only asks the FAQ about messages no
feature took); `preview` tells staff when that happens.
"""
from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, String, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import sitetext
from bot.core.normalize import fold
from bot.core.types import Incoming
from bot.db.engine import session_engine
from bot.db.models.inbox import FaqEntry
from bot.menu import good_url
from bot.operations import DomainError, OpsContext

if TYPE_CHECKING:
    from bot.core.router import Router

SEEDED_KEY = "faq_seeded"  # site_text marker: the starter entries were written once
MAX_ANSWER_BYTES = 1800  # answer + link line: fits a passive reply (2,047 bytes) with a line to spare
MAX_KEYWORDS, MIN_KEYWORD, MAX_KEYWORD = 30, 2, 30
MAX_LINK = 500
MIN_PRIORITY, MAX_PRIORITY = -99, 99
_SPLIT = re.compile(r"[,，、;；\n\r\t]+| +|\u3000+")


class FaqError(DomainError):
    """An FAQ entry was refused (its text says why, for staff)."""


@dataclass(frozen=True)
class FaqMatch:
    entry_id: int
    answer: str  # the answer, with the link on a line of its own
    topic: str  # the inbox topic it belongs to ("" = none)
    to_inbox: bool  # also hand the question to a person
    keyword: str = ""  # the keyword that matched (as staff typed it)


@dataclass(frozen=True)
class Preview:
    """What would answer a typed question: a feature's keyword, an FAQ entry, or nothing."""

    text: str
    feature: str = ""  # the router name of the feature that answers first ("" = none)
    match: FaqMatch | None = None
    question: bool | None = None  # without either: whether it reads like a question (None = unknown)


# ------------------------------------------------------------------------------ matching
@lru_cache(maxsize=4096)  # the message's key: asked before matching and by it
def match_key(text: str) -> str:
    """The form both a message and a keyword are compared in: folded, lower-case, no
    punctuation, symbols or spaces."""
    return "".join(ch for ch in fold(text or "").lower()
                   if not ch.isspace() and unicodedata.category(ch)[0] not in "PSZC")


def full_answer(entry: Any) -> str:
    return entry.answer + (f"\n详细了解：{entry.link}" if entry.link else "")


@dataclass(frozen=True)
class _Active:
    """An active entry as matching needs it, keywords folded once (kept per process)."""

    id: int
    keywords: tuple[str, ...]
    folded: tuple[str, ...]
    priority: int
    answer: str
    link: str
    topic: str
    to_inbox: bool


# Active entries per database, read at most every CACHE_SECONDS by each process: the FAQ is
# asked about every message no feature took, and loading and folding the entries each time cost
# more than the rest of the message. Staff's edits here drop it at once; another process sees
# them within CACHE_SECONDS.
CACHE_SECONDS = 5.0
_cache: dict[Any, tuple[float, tuple[_Active, ...]]] = {}  # by engine


def forget() -> None:
    """Drop the cached entries (after any change to them)."""
    _cache.clear()


async def _active_entries(session: AsyncSession) -> tuple[_Active, ...]:
    where = session_engine(session)  # the engine itself: `str(url)` rendered the URL per message
    now = time.monotonic()
    hit = _cache.get(where)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    rows = await session.execute(select(FaqEntry.id, FaqEntry.keywords, FaqEntry.priority, FaqEntry.answer,
                                        FaqEntry.link, FaqEntry.topic, FaqEntry.to_inbox)
                                 .where(FaqEntry.active.is_(True)))
    entries = tuple(_Active(i, tuple(kws or ()), tuple(match_key(k) for k in kws or ()), prio, answer, link or "",
                            topic or "", bool(to_inbox)) for i, kws, prio, answer, link, topic, to_inbox in rows)
    _cache[where] = (now, entries)
    return entries


def best_match(entries: Sequence[Any], text: str) -> FaqMatch | None:
    """The entry answering `text` among `entries` (see the module's docstring)."""
    key = match_key(text)
    if not key:
        return None
    best: tuple[tuple[int, int, int], Any, str] | None = None
    for e in entries:
        folded = getattr(e, "folded", None) or tuple(match_key(kw) for kw in e.keywords or ())
        for kw, k in zip(e.keywords or (), folded):
            if len(k) >= MIN_KEYWORD and k in key:
                rank = (e.priority, len(k), -e.id)
                if best is None or rank > best[0]:
                    best = (rank, e, kw)
    if best is None:
        return None
    _, e, kw = best
    return FaqMatch(entry_id=e.id, answer=full_answer(e), topic=e.topic, to_inbox=e.to_inbox, keyword=kw)


async def match(session: AsyncSession, text: str) -> FaqMatch | None:
    """The active entry answering a worker's message, or None."""
    if not match_key(text):
        return None
    return best_match(await _active_entries(session), text)


async def record_hit(session: AsyncSession, entry_id: int, now: datetime) -> None:
    """Count one answer given (atomic: several processes may answer at once)."""
    await session.execute(update(FaqEntry).where(FaqEntry.id == entry_id)
                          .values(hits=FaqEntry.hits + 1, last_hit_at=now)
                          .execution_options(synchronize_session=False))


def feature_answering(routers: Sequence["Router"], text: str, now: datetime) -> str:
    """The name of the feature whose keyword takes `text` before the FAQ is asked ("" = none):
    the interrupts and routes the dispatcher tries for a worker with no open dialogue."""
    msg = Incoming(openid="faq-preview", kind="text", create_time=now, dedup_key="faq-preview", text=text.strip())
    for r in routers:
        if any(route.filter(msg) for route in r.interrupts):
            return r.name
    for r in routers:
        if any(route.filter(msg) for route in r.routes):
            return r.name
    return ""


async def preview(session: AsyncSession, text: str, *, routers: Sequence["Router"] = (), now: datetime) -> Preview:
    """What would answer `text` sent by a worker: a feature first, else an FAQ entry, else the
    inbox when it reads like a question."""
    text = (text or "").strip()[:500]
    feature = feature_answering(routers, text, now) if text else ""
    if feature:
        return Preview(text, feature=feature)
    found = await match(session, text)
    if found is not None:
        return Preview(text, match=found)
    return Preview(text, question=_reads_like_question(text))


def _reads_like_question(text: str) -> bool | None:
    from handlers.inbox import question  # the worker side's rule

    return question.looks_like_question(text) if text else None


# ------------------------------------------------------------------------------ staff's edits
@dataclass
class EntryInput:
    """An entry as staff typed it (kept as typed when refused)."""

    keywords: str = ""
    answer: str = ""
    link: str = ""
    topic: str = ""
    to_inbox: bool = False
    active: bool = True
    priority: str = "0"

    @classmethod
    def of(cls, e: FaqEntry) -> "EntryInput":
        return cls("、".join(e.keywords or ()), e.answer, e.link, e.topic, e.to_inbox, e.active, str(e.priority))


def parse_keywords(raw: str) -> list[str]:
    """Keywords separated by commas, 、, semicolons, spaces or lines; repeats dropped."""
    out: list[str] = []
    seen: set[str] = set()
    for part in _SPLIT.split(raw or ""):
        kw = fold(part)
        if kw and match_key(kw) not in seen:
            seen.add(match_key(kw))
            out.append(kw)
    return out


def clean(data: EntryInput, topics: Sequence[str]) -> dict[str, Any]:
    """The entry's columns, or FaqError naming the first problem."""
    keywords = parse_keywords(data.keywords)
    if not keywords:
        raise FaqError("请至少填写一个关键词（多个关键词用逗号或顿号隔开）。")
    if len(keywords) > MAX_KEYWORDS:
        raise FaqError(f"关键词最多 {MAX_KEYWORDS} 个，现在有 {len(keywords)} 个。")
    for kw in keywords:
        n = len(match_key(kw))
        if n < MIN_KEYWORD:
            raise FaqError(f"关键词「{kw}」太短：去掉标点后至少要 {MIN_KEYWORD} 个字，太短的词容易答非所问。")
        if len(kw) > MAX_KEYWORD:
            raise FaqError(f"关键词「{kw[:12]}…」太长：最多 {MAX_KEYWORD} 个字。")
    answer = "\n".join(line.rstrip() for line in (data.answer or "").replace("\r\n", "\n").split("\n")).strip()
    if not answer:
        raise FaqError("请填写回答内容。")
    link = (data.link or "").strip()
    if link and (len(link) > MAX_LINK or not good_url(link)):
        raise FaqError("链接不正确：请填写以 https:// 或 http:// 开头的完整网址（最多 500 个字符），不需要可留空。")
    size = len((answer + (f"\n详细了解：{link}" if link else "")).encode("utf-8"))
    if size > MAX_ANSWER_BYTES:
        raise FaqError(f"回答太长：微信一条消息最多约 {MAX_ANSWER_BYTES // 3} 个汉字（连同链接），"
                       f"现在约 {size // 3} 个，请精简，或把详细内容放到链接里。")
    topic = (data.topic or "").strip()
    if topic and topic not in topics:
        raise FaqError(f"分类「{topic}」不在设置的留言分类中（{'、'.join(topics)}）。")
    try:
        priority = int((data.priority or "0").strip() or "0")
    except ValueError:
        raise FaqError(f"优先级请填写 {MIN_PRIORITY} 到 {MAX_PRIORITY} 之间的整数（数字越大越优先）。") from None
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise FaqError(f"优先级请填写 {MIN_PRIORITY} 到 {MAX_PRIORITY} 之间的整数（数字越大越优先）。")
    return {"keywords": keywords, "answer": answer, "link": link, "topic": topic, "to_inbox": bool(data.to_inbox),
            "active": bool(data.active), "priority": priority}


async def get_entry(session: AsyncSession, entry_id: int) -> FaqEntry:
    entry = await session.get(FaqEntry, entry_id)
    if entry is None:
        raise FaqError("没有找到这条常见问题，可能已被删除。")
    return entry


def _topics(ctx: OpsContext, current: str = "") -> list[str]:
    topics = list(ctx.settings.inbox.topics)
    return topics + [current] if current and current not in topics else topics


async def create_entry(session: AsyncSession, ctx: OpsContext, data: EntryInput) -> FaqEntry:
    fields = clean(data, _topics(ctx))
    entry = FaqEntry(**fields, hits=0, created_at=ctx.now, updated_at=ctx.now)
    session.add(entry)
    await session.flush()
    forget()
    return entry


async def update_entry(session: AsyncSession, ctx: OpsContext, entry_id: int, data: EntryInput) -> FaqEntry:
    entry = await get_entry(session, entry_id)
    for name, value in clean(data, _topics(ctx, entry.topic)).items():
        setattr(entry, name, value)
    entry.updated_at = ctx.now
    await session.flush()
    forget()
    return entry


async def delete_entry(session: AsyncSession, ctx: OpsContext, entry_id: int) -> FaqEntry:
    entry = await get_entry(session, entry_id)
    await session.delete(entry)
    await session.flush()
    forget()
    return entry


def list_query(active: str = "", topic: str = "") -> Select:
    stmt = select(FaqEntry)
    if active == "1":
        stmt = stmt.where(FaqEntry.active.is_(True))
    elif active == "0":
        stmt = stmt.where(FaqEntry.active.is_(False))
    if topic == "-":
        stmt = stmt.where(FaqEntry.topic == "")
    elif topic:
        stmt = stmt.where(FaqEntry.topic == topic)
    return stmt.order_by(FaqEntry.priority.desc(), FaqEntry.id)


def search_clause(term: str) -> Any:
    """Entries whose keywords or answer contain `term` (keywords are stored as JSON, where
    Chinese may be written as \\u escapes)."""
    words = cast(FaqEntry.keywords, String)
    return or_(words.contains(term, autoescape=True),
               words.contains(json.dumps(term)[1:-1], autoescape=True),
               FaqEntry.answer.contains(term, autoescape=True))


def keyword_conflicts(routers: Sequence["Router"], keywords: Sequence[str], now: datetime) -> list[tuple[str, str]]:
    """(keyword, feature) for keywords a feature answers when sent on their own."""
    return [(kw, name) for kw in keywords if (name := feature_answering(routers, kw, now))]


# ------------------------------------------------------------------------------ first start
def starter_entries(ctx: OpsContext) -> list[dict[str, Any]]:
    """A handful of entries staff can edit: office details, joining, hardship, unpaid wages, injuries,
    and (`later_entries`) dues, what members get, a contract not renewed, social insurance not paid."""
    return [
        {"keywords": ["几点上班", "几点下班", "什么时候上班", "工会电话", "工会地址", "工会在哪", "怎么找工会",
                      "办公时间是", "电话多少"],
         "answer": ctx.settings.office.card(),
         "topic": "", "to_inbox": False, "priority": 0},
        {"keywords": ["怎么入会", "入会", "如何入会", "怎样入会", "加入工会", "入工会", "入会条件", "入会手续", "入会流程",
                      "想入会", "要入会", "申请入会", "能入会吗", "怎么成为会员"],
         "answer": _join_answer(ctx),
         "topic": "入会", "to_inbox": False, "priority": 0},
        {"keywords": ["帮扶范围", "帮扶条件", "帮扶标准", "哪些人能帮扶", "哪些情况可以帮扶", "能申请帮扶吗",
                      "困难补助", "困难职工", "补助", "救助", "家里困难", "家庭困难", "我家困难", "生活困难", "家里穷",
                      "生活困难补助", "申请补助", "大病救助", "助学金", "上不起学", "没钱了", "实在没钱", "癌症",
                      "化疗", "看不起病", "交不起学费", "医药费太贵"],
         "answer": ("工会困难帮扶面向辖区内家庭生活困难的职工，常见的情况有：本人或家人患重病、遭受灾害、"
                    "子女上学负担重、失业待岗、因工受伤等。\n"
                    "帮扶包括生活救助、医疗救助、助学等，是否符合条件、帮扶多少，由工会根据家庭收入和支出审核决定。\n"
                    "想申请，回复「帮扶」按提示填写即可；准备好家庭收入、支出情况和相关证明（如病历、发票、录取通知书）的照片。"),
         "topic": "帮扶", "to_inbox": False, "priority": 0},
        {"keywords": ["欠薪", "讨薪", "拖欠工资", "欠工资", "拖着工资", "工资不发", "不发工资", "没发工资",
                      "克扣工资", "讨要工资", "扣工资", "工资被扣", "少发工资", "工钱没结", "工钱不给", "不给工钱",
                      "欠工钱", "拖工资", "要工资", "工资拖着"],
         "answer": ("遇到拖欠工资，先保存好这些证据：\n"
                    "1. 能证明您在这里干活的：劳动合同、工牌、工作服、考勤记录、工作群聊天记录；\n"
                    "2. 工资记录：工资条、银行流水、微信或支付宝转账记录；\n"
                    "3. 欠薪的证据：老板或负责人承认欠多少钱的聊天记录、录音、欠条（写明金额、日期并签字）；\n"
                    "4. 一起被拖欠的工友的联系方式。\n"
                    "可以拨打 12333 或到劳动保障监察部门投诉，也可以申请劳动仲裁（不收费，一般要在一年内提出）。"
                    "工会可以帮您出主意、一起协调。"),
         "topic": "劳动争议/讨薪", "to_inbox": True, "priority": 10},
        {"keywords": ["工伤", "工伤认定", "工伤鉴定", "工伤赔偿", "工伤保险", "上班受伤", "上班时受伤",
                      "干活受伤", "工作受伤", "干活时受伤", "摔伤", "摔下来", "掉下来", "砸伤", "压伤", "压断",
                      "骨折", "烫伤", "烧伤", "割伤", "切到手", "被机器", "职业病"],
         "answer": ("发生工伤后请这样做：\n"
                    "1. 先治疗，就医时告诉医生是工作中受的伤，保存好病历、诊断证明和医药费票据；\n"
                    "2. 单位应在受伤之日起 30 日内申请工伤认定；单位不申请的，您本人、家属或工会可以在 1 年内"
                    "向人社部门申请；\n"
                    "3. 保存能证明劳动关系和受伤经过的材料：劳动合同、工资记录、现场照片、在场同事的联系方式；\n"
                    "4. 伤情稳定后，申请劳动能力鉴定。"),
         "topic": "工伤", "to_inbox": True, "priority": 10},
        *later_entries(ctx),
    ]


def _join_answer(ctx: OpsContext) -> str:
    return ("以工资收入为主要生活来源的职工，承认《中国工会章程》，都可以加入工会，"
            "农民工、劳务派遣工、快递员、外卖骑手等也可以。\n"
            "· 单位已经建了工会：向本单位工会提出申请，填写入会申请书即可。\n"
            "· 单位还没有工会：可以到所在社区联合工会或街道总工会申请入会。\n"
            "申请入会不用交入会费；入会后会员按月交会费（回复「会费」了解怎么交）。"
            f"想了解更多，可以{ctx.settings.office.call_line()}。")


def _old_join_answer(ctx: OpsContext) -> str:
    """The first release's joining answer, whose 「入会不收费」 read as "no dues" (reworded once
    where staff left it as it was)."""
    return ("以工资收入为主要生活来源的职工，承认《中国工会章程》，都可以加入工会，"
            "农民工、劳务派遣工、快递员、外卖骑手等也可以。\n"
            "· 单位已经建了工会：向本单位工会提出申请，填写入会申请书即可。\n"
            "· 单位还没有工会：可以到所在社区联合工会或街道总工会申请入会。\n"
            f"入会不收费。想了解更多，可以{ctx.settings.office.call_line()}，或回复「留言」问工作人员。")


def later_entries(ctx: OpsContext) -> list[dict[str, Any]]:
    """Starter entries added after the first release (`key`: each is seeded once, also where the
    first ones were seeded long ago): dues, what members get, a contract not renewed, social
    insurance not paid. General information; what applies to a worker is for a person."""
    return [
        {"key": "dues",
         "keywords": ["会费", "交会费", "缴会费", "会费多少", "会费怎么交", "会费标准", "会费是多少", "会员费",
                      "入会要交钱吗", "入会交钱吗", "入会收费吗", "入会要钱吗", "工会费"],
         "answer": ("加入工会不用交入会费。入会以后，会员每月交会费：按全国总工会的规定，会员按本人每月工资收入的"
                    "0.5%缴纳会费，一般由所在的单位工会按月收取或从工资里代扣。\n"
                    "具体按哪部分工资计算、怎么交，以您所在的单位工会或社区工会的说明为准，可以直接问问他们。"),
         "topic": "入会", "to_inbox": False, "priority": 0},
        {"key": "benefits",
         "keywords": ["会员福利", "会员权益", "会员待遇", "会员有什么", "会员有啥", "会员能享受", "工会福利",
                      "工会有什么福利", "入会有什么好处", "入会有啥好处", "入会的好处", "入会有什么用", "加入工会有什么好处",
                      "加入工会有什么用", "入工会有什么好处", "工会能为我做什么", "工会能帮我什么", "工会能做什么",
                      "工会有什么用"],
         "answer": ("街道总工会和社区工会为职工做的事主要有这些：\n"
                    "· 困难帮扶：家里遇到大病、灾祸、子女上学等困难，可以申请帮扶（回复「帮扶」）；"
                    "节日期间还有走访慰问、送温暖，特别关心外来务工人员和农民工；\n"
                    "· 技能培训：职工技能培训，以及为下岗、待岗、转岗职工组织的就业技能培训（回复「报名」）；\n"
                    "· 文化活动：读书会、职工文化体育节、书画摄影比赛等，社区和单位还有职工书屋、职工之家（回复「报名」）；\n"
                    "· 维护权益：遇到欠薪、工伤、劳动合同这些问题，工会帮您出主意、一起协调；\n"
                    "· 学习活动：每月一题（回复「答题」）。\n"
                    "各单位工会的福利不一样，具体问问您所在的单位工会或社区工会。"),
         "topic": "入会", "to_inbox": False, "priority": 0},
        {"key": "contract_end",
         "keywords": ["合同到期", "合同期满", "到期不续签", "不续签", "不续约", "不再续签", "不给续签",
                      "不续合同", "不和我续签", "不跟我续签", "没有续签", "不续订"],
         "answer": ("一般情况下，劳动合同到期、单位不再续签的，单位要给经济补偿（《劳动合同法》第四十六条）；"
                    "只有单位维持或者提高原来的条件要和您续签、是您自己不愿意续签的，单位才可以不给。\n"
                    "补偿的标准（第四十七条）：在本单位每工作满一年，给一个月工资；六个月以上不满一年的按一年算，"
                    "不满六个月的给半个月工资。月工资一般按合同终止前十二个月的平均工资算。\n"
                    "以上是一般规定，您能拿多少要看合同、工作年限和工资的具体情况；"
                    "先保存好劳动合同、工资记录和单位通知不续签的消息，工作人员可以帮您具体看看。"),
         "topic": "劳动争议/讨薪", "to_inbox": True, "priority": 5},
        {"key": "social_insurance",
         "keywords": ["不交社保", "不给交社保", "没交社保", "没给交社保", "不缴社保", "没缴社保", "不买社保", "没买社保",
                      "不给买社保", "不上社保", "没上社保", "不给上社保", "社保不交", "社保没交", "社保没缴", "社保断缴",
                      "断缴社保", "不交五险", "五险不交", "没交五险", "不给交五险", "放弃社保", "没有交社保"],
         "answer": ("依法为职工缴纳社会保险（养老、医疗、失业、工伤、生育保险）是单位的法定义务，"
                    "就算签了“自愿放弃社保”之类的协议，单位也不能因此不交。\n"
                    "可以这样做：\n"
                    "1. 在社保经办机构或当地社保的官方 App、公众号查一下自己的缴费记录；\n"
                    "2. 保存好劳动合同、工资记录、考勤等能证明劳动关系的材料；\n"
                    "3. 向当地人社部门（劳动保障监察）或社保经办机构反映、投诉，也可以拨打 12333 咨询；\n"
                    "4. 单位不依法缴纳社保的，您也可以解除劳动合同并要求经济补偿，有争议可以申请劳动仲裁。\n"
                    "工会可以帮您出主意、一起和单位协调。"),
         "topic": "劳动争议/讨薪", "to_inbox": True, "priority": 5},
    ]


async def seed_once(session: AsyncSession, ctx: OpsContext) -> None:
    """Seed a handful of entries on the very first start (never again, even if staff delete them):
    the marker row goes in first, so of several processes starting at once only one seeds. An entry
    added in a later release (`later_entries`) has a marker of its own (`SEEDED_KEY:key`): it is
    seeded once where the first ones were seeded long ago, and the first release's joining answer
    is reworded where staff left it as it was."""
    first = await sitetext.insert_once(session, SEEDED_KEY, True, now=ctx.now)
    later = {e["key"] for e in later_entries(ctx)}
    for fields in starter_entries(ctx):
        key = fields.get("key")
        if key in later:
            if not await sitetext.insert_once(session, f"{SEEDED_KEY}:{key}", True, now=ctx.now):
                continue
        elif not first:
            continue
        topic = fields["topic"] if fields["topic"] in ctx.settings.inbox.topics else ""  # else guessed per question
        columns = {k: v for k, v in fields.items() if k != "key"}
        session.add(FaqEntry(**{**columns, "topic": topic}, link="", active=True, hits=0,
                             created_at=ctx.now, updated_at=ctx.now))
    if not first and await sitetext.insert_once(session, f"{SEEDED_KEY}:join_dues", True, now=ctx.now):
        await session.execute(update(FaqEntry).where(FaqEntry.answer == _old_join_answer(ctx))
                              .values(answer=_join_answer(ctx), updated_at=ctx.now))
    await session.flush()
    forget()
