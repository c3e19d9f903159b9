"""Helpers for the sign-up tests: November 2026 times, an activity, signing up through the simulator."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import Settings, build_settings
from sqlalchemy import select

from bot.db.models.core import Outbox
from bot.db.models.signup import Activity, Signup
from bot.operations import OpsContext
from handlers.signup import ops

TZ = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def ops_ctx(clock, settings: Settings | None = None) -> OpsContext:  # noqa: ANN001
    """The context the sign-up operations take: the test's clock, and its settings (or the defaults)."""
    return OpsContext(clock, settings or build_settings({}, env={}))


async def make_activity(db, clock, **kw) -> Activity:  # noqa: ANN001
    fields = dict(kind="training", title="电工技能培训", description="持证上岗复训", place="街道职工之家",
                  starts_at=at(26, 14), ends_at=at(26, 16), capacity=2, deadline=None, waitlist=True,
                  audience="辖区企业职工")
    fields.update(kw)
    async with db() as s, s.begin():
        return await ops.create_activity(s, ops_ctx(clock), **fields)


async def signup_via_chat(u, name: str, phone: str, pick: str = "1") -> str:  # noqa: ANN001
    """报名, pick, the contact details the profile lacks (employer skipped), then 确认 at the summary."""
    await u.send("报名")
    reply = await u.send(pick)
    if "请回复您的真实姓名" in reply:
        reply = await u.send(name)
    if "请回复您的手机号码" in reply:
        reply = await u.send(phone)
    if "请回复您的工作单位" in reply:
        reply = await u.send("跳过")
    assert "回复「确认」报名" in reply, reply
    return await u.send("确认")


async def one_seat_taken_one_waiting(sim, db, clock) -> Activity:  # noqa: ANN001
    """A one-seat activity: oA (王一) holds the seat, oB (王二) is on the waitlist."""
    act = await make_activity(db, clock, capacity=1)
    await signup_via_chat(sim.user("oA"), "王一", "13800000001")
    await signup_via_chat(sim.user("oB"), "王二", "13800000002")
    return act


async def sign_up_in_chat(u, pick: str, name: str = "王一", phone: str = "13800000001") -> str:  # noqa: ANN001
    """报名, the activity's number, then whatever the dialogue asks (确认, 姓名, 手机号, 工作单位 → 跳过)
    until it says the sign-up is done; returns that reply and every question asked on the way."""
    await u.send("报名")
    reply, asked = await u.send(pick), []
    for _ in range(8):
        if ("报名成功" in reply or "候补名单" in reply) and "「确认」" not in reply:
            return "\n".join([*asked, reply])
        asked.append(reply)
        for line in reversed(reply.splitlines()):
            answer = ("确认" if "「确认」" in line else name if "姓名" in line else phone if "手机" in line
                      else "跳过" if "工作单位" in line else None)
            if answer:
                break
        else:
            raise AssertionError(f"unexpected step: {reply}")
        reply = await u.send(answer)
    raise AssertionError(f"sign-up did not finish: {reply}")


async def signup_row(db, sid: int) -> Signup:  # noqa: ANN001
    async with db() as s:
        return await s.get(Signup, sid)


async def outbox_of(db, purpose: str) -> list[Outbox]:  # noqa: ANN001
    """The outbox rows of one purpose (e.g. "signup.reminder"), oldest first."""
    async with db() as s:
        return list(await s.scalars(select(Outbox).where(Outbox.purpose == purpose).order_by(Outbox.id)))
