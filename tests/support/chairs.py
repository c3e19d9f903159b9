"""Helpers for the chairs tests: chairs added, codes issued, bound in chat, a report filed; Q4 2026."""
from __future__ import annotations

from bot.operations import OpsContext
from handlers.chairs import ops
from handlers.chairs.quarters import Quarter

Q4 = Quarter(2026, 4)  # deadline Fri 25 Dec; t-7 16 Dec, t-3 22 Dec, t-1 24 Dec, t+1 28 Dec, t+3 30 Dec


async def setup_chairs(db, clock, settings, bound=("oChair1",), unbound=1):  # noqa: ANN001, ANN201
    ids = []
    ctx = OpsContext(clock, settings)
    async with db() as s, s.begin():
        for i, openid in enumerate(bound):
            c = await ops.add_chair(s, ctx, name=f"王主席{'甲乙丙丁'[i]}", organisation=f"第{i + 1}工会",
                                    community="东湖社区", mobile=f"1380013{8000 + i}")
            c.openid = openid
            ids.append(c.id)
        for i in range(unbound):
            c = await ops.add_chair(s, ctx, name=f"李主席{'甲乙丙丁'[i]}", organisation=f"第{i + 11}工会",
                                    community="西园社区", mobile=f"1390013{9000 + i}")
            ids.append(c.id)
    return ids


async def make_chair(db, clock, settings, name="王建国", org="街道电子厂工会", community="东湖社区",  # noqa: ANN001, ANN201
                     mobile="13800138001"):
    async with db() as s, s.begin():
        return await ops.add_chair(s, OpsContext(clock, settings), name=name, organisation=org, community=community, mobile=mobile)


async def issue_code(db, clock, settings, chair_id: int) -> str:  # noqa: ANN001
    async with db() as s, s.begin():
        code, _ = await ops.issue_bind_code(s, OpsContext(clock, settings), chair_id)
    return code


async def bound_chair(sim, db, clock, settings, openid="oChair1", **kw):  # noqa: ANN001, ANN003, ANN201
    chair = await make_chair(db, clock, settings, **kw)
    code = await issue_code(db, clock, settings, chair.id)
    reply = await sim.user(openid).send(f"绑定 {code}")
    assert "绑定成功" in reply
    return chair


ANSWERS = ["40", "38", "35", "16", "6", "两家企业反映招工难", "本季度新建工会2家，走访6家企业。"]


async def file_report(u, answers=ANSWERS) -> str:  # noqa: ANN001
    reply = None
    for a in answers:
        reply = await u.send(a)
    return reply
