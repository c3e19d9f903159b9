"""Helpers for the hardship tests: a whole application through the simulator, the stored requests."""
from __future__ import annotations

from typing import Any

from aiohttp import FormData
from sqlalchemy import select

from bot.db.models.hardship import HardshipRequest
from bot.keys import CLOCK, SERVICES, SETTINGS
from bot.operations import OpsContext

ID_NUMBER = "11010519491231002X"

ANSWERS = ["同意", "1", "母亲住院做手术，自付医药费很多，家里收入只靠我一人。", "3", "4500", "1500",
           "王小明", "13800138000", "街道环卫所", ID_NUMBER]


async def apply(u, answers=ANSWERS, photos=("MEDIA1", "MEDIA2")):  # noqa: ANN001, ANN201
    reply = await u.send("帮扶")
    assert "同意" in reply
    for a in answers:
        reply = await u.send(a)
    for p in photos:
        reply = await u.image(p)
    reply = await u.send("完成" if photos else "跳过")
    assert "请核对" in reply
    return reply


async def requests(db) -> list[HardshipRequest]:  # noqa: ANN001
    async with db() as s:
        return list(await s.scalars(select(HardshipRequest).order_by(HardshipRequest.id)))


def ops_ctx(app, staff_id: int | None = None, **services: Any) -> OpsContext:  # noqa: ANN001
    """The context the hardship operations take, built from the app as its pages and jobs build it
    (`services` override the app's, e.g. `api_available=True`)."""
    return OpsContext(app[CLOCK], app[SETTINGS], {**app[SERVICES], **services}, staff_id=staff_id)


def multipart(token: str, fields: dict[str, str], files: list[tuple[str, bytes, str]]) -> FormData:
    """A 代办 form post of the admin: the CSRF token, the fields and the photos (name, bytes, type)."""
    data = FormData()
    data.add_field("_csrf", token)
    for k, v in fields.items():
        data.add_field(k, v)
    for name, body, ctype in files:
        data.add_field("photos", body, filename=name, content_type=ctype)
    return data
