"""Shared helpers for the quiz tests (no tests here)."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import build_settings
from bot.operations import OpsContext
from handlers.quiz import ops

TZ = ZoneInfo("Asia/Shanghai")  # the tests' clock and settings timezone (the defaults)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def ops_ctx(clock, settings=None, **sections: dict[str, Any]) -> OpsContext:  # noqa: ANN001
    """The context the quiz operations take: the test's clock and its settings (default: the
    defaults, with `sections` overriding, e.g. `quiz={"half_weight": 2}`)."""
    return OpsContext(clock, settings if settings is not None else build_settings(sections, env={}))


QUESTIONS = [
    dict(stem="建立基层工会委员会的最低会员人数是？", options=["10人", "25人", "50人"], answer="B",
         explanation="会员25人以上建立基层工会委员会。", topic="工会法", difficulty="易"),
    dict(stem="工会经费的来源包括哪些？", options=["会费", "单位拨缴经费", "上级补助", "政府补助"], answer="ABCD",
         explanation="以上都是。", topic="工会法", difficulty="中"),
    dict(stem="劳动者每日工作时间一般不超过？", options=["6小时", "8小时", "10小时"], answer="B",
         explanation="每日不超过八小时。", topic="劳动保障", difficulty="易"),
    dict(stem="集体合同订立后报送哪个部门？", options=["劳动行政部门", "市场监管部门"], answer="A",
         explanation="报送劳动行政部门。", topic="集体协商", difficulty="中"),
    dict(stem="职代会的职权包括？", options=["审议重大决策", "审议规章制度", "选举职工董事", "决定利润分配"],
         answer="ABC", explanation="利润分配由股东会决定。", topic="民主管理", difficulty="难"),
]


async def add_bank(db, clock, n: int = len(QUESTIONS)) -> list[int]:  # noqa: ANN001
    """Put the first n sample questions in the bank; returns their ids in order."""
    async with db() as s, s.begin():
        ids = []
        for q in QUESTIONS[:n]:
            ids.append((await ops.create_question(s, ops_ctx(clock), **q)).id)
        return ids


async def add_period(db, clock, code: str, ids: list[int], **kw):  # noqa: ANN001, ANN003, ANN201
    async with db() as s, s.begin():
        return await ops.create_period(s, ops_ctx(clock), code, question_ids=ids, **kw)
