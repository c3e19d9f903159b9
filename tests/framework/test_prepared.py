"""A feature's prebuilt statements (bot/db/prepared.py): inside a handler they run through the
batch's writer — on SQLite straight on sqlite3 — in the handler's own savepoint.

Through the signed webhook: a worker's consultation stores the same rows whichever way its
statements ran; a handler whose first statement is a prebuilt one and that then fails leaves
nothing behind while the rest of its batch is kept."""
from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, func, insert, select

from bot.core.context import Ctx
from bot.core.router import Router, text_is
from bot.core.types import Incoming
from bot.db import prepared
from bot.db.models import Dialogue, Sequence
from bot.keys import PROCESSOR
from bot.pipeline import APOLOGY

router = Router("prepared_tests")
_SEQ = Sequence.__table__
_PUT = insert(_SEQ).values(name=bindparam("name"), value=bindparam("value"))
_GET = select(_SEQ.c.value).where(_SEQ.c.name == bindparam("name"))


@router.on(text_is("记一笔"))
async def put(ctx: Ctx) -> str:
    await prepared.run(ctx.session, _PUT, {"name": f"p:{ctx.openid}", "value": 7})
    [(value,)] = await prepared.fetch(ctx.session, _GET, {"name": f"p:{ctx.openid}"})
    return f"记好了{value}"


@router.on(text_is("记坏了"))
async def put_then_fail(ctx: Ctx) -> str:
    await prepared.run(ctx.session, _PUT, {"name": f"p:{ctx.openid}", "value": 9})  # its first statement
    raise RuntimeError("boom")


def _incoming(openid: str, text: str, n: int) -> Incoming:
    return Incoming(openid=openid, kind="text", create_time=datetime.now(timezone.utc), dedup_key=f"p:{openid}:{n}",
                    text=text, msg_id=str(n))


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "core"])
async def test_a_failing_handler_takes_its_prebuilt_statements_with_it(make_app, engine, backend: str,  # noqa: ANN001
                                                                       fast: bool) -> None:
    if fast and backend != "sqlite":
        pytest.skip("the fast path exists on SQLite only")
    app = make_app(extra_routers=[router])
    proc = app[PROCESSOR]
    proc.fast_rows = fast
    replies = await asyncio.gather(*(proc.handle(_incoming(o, t, 1))
                                     for o, t in (("oP1", "记一笔"), ("oP2", "记坏了"), ("oP3", "记一笔"))))
    assert b"\xe8\xae\xb0\xe5\xa5\xbd\xe4\xba\x867" in replies[0] and b"7" in replies[2]  # 记好了7
    assert APOLOGY.encode() in replies[1]
    async with proc.sessionmaker() as s:
        stored = dict((await s.execute(select(_SEQ.c.name, _SEQ.c.value).where(_SEQ.c.name.like("p:%")))).all())
        # outside a handler: through the session's connection
        assert [tuple(r) for r in await prepared.fetch(s, _GET, {"name": "p:oP1"})] == [(7,)]
    assert stored == {"p:oP1": 7, "p:oP3": 7}
    await proc.close()


def _inbox_rows(path: Path, openid: str) -> list[dict[str, Any]]:
    """The worker's threads and messages as SQLite stores them, without ids and the worker's own names."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        threads = db.execute("SELECT * FROM inbox_thread WHERE openid = ? ORDER BY id", (openid,)).fetchall()
        msgs = db.execute("SELECT m.* FROM inbox_message m JOIN inbox_thread t ON t.id = m.thread_id "
                          "WHERE t.openid = ? ORDER BY m.id", (openid,)).fetchall()
        own = ("id", "openid", "member_id", "thread_id", "source_key")
        return [{k: r[k] for k in r.keys() if k not in own} for r in threads + msgs]
    finally:
        db.close()


async def test_a_consultation_stores_the_same_rows_either_way(sim, app, settings, clock, backend: str) -> None:  # noqa: ANN001
    if backend != "sqlite":
        pytest.skip("compares the two SQLite paths")
    proc = app[PROCESSOR]
    said = {}
    for fast, openid in ((True, "oFast"), (False, "oCore")):
        proc.fast_rows = fast
        u = sim.user(openid)
        said[fast] = [await u.send("我想问问"), await u.send("1"),
                      await u.send("公司三个月没发工资了怎么办"),  # opens the thread
                      await u.send("还有加班费也没给"),  # a follow-up: the two prebuilt statements
                      await u.image("M1"), await u.send("谢谢"), await u.send("在吗")]
    assert said[True] == said[False]
    assert "已转给工作人员" in said[True][2] and "收到" in said[True][3]
    path = Path(settings.database.url.split("///", 1)[1])
    fast_rows, core_rows = _inbox_rows(path, "oFast"), _inbox_rows(path, "oCore")
    assert fast_rows == core_rows
    thread, *msgs = fast_rows
    assert (thread["status"], thread["unread"], thread["subject"]) == ("open", 5, "公司三个月没发工资了怎么办")
    stamp = clock.now().astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")  # UTC text, as SQLAlchemy stores it
    assert thread["last_message_at"] == stamp
    assert [(m["kind"], m["text"], m["at"]) for m in msgs if m["sender"] == "worker"][1:3] == [
        ("text", "还有加班费也没给", stamp), ("image", "", stamp)]


async def test_follow_ups_in_a_burst_leave_the_dialogue_alone_and_an_hour_on_renew_it(sim, db, clock) -> None:  # noqa: ANN001
    """The open-consultation mark is renewed at most hourly: a worker's run of follow-ups writes
    only their messages; later ones still reach the thread, and push the mark's expiry on."""
    async def dialogue() -> tuple[int, str]:
        async with db() as s:
            row = await s.scalar(select(Dialogue).where(Dialogue.openid == "oBurst"))
            return row.version, row.data["drafts"]["inbox_thread"]["expires_at"]

    u = sim.user("oBurst")
    await u.send("我想问问")
    await u.send("1")
    assert "已转给工作人员" in await u.send("公司三个月没发工资了怎么办")
    before = await dialogue()
    for text in ("还有加班费", "老板也联系不上", "在吗"):
        clock.advance(minutes=5)
        reply = await u.send(text)
        assert "收到" in reply or "自动回复" in reply
    assert await dialogue() == before  # three follow-ups, no dialogue write
    clock.advance(hours=2)
    assert "收到" in await u.send("今天又去找了一次")
    version, expires = await dialogue()
    assert version == before[0] + 1 and expires > before[1]
    async with db() as s:
        n = await s.scalar(select(func.count()).select_from(Dialogue).where(Dialogue.openid == "oBurst"))
    assert n == 1
