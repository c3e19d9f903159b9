"""The message writer's rows (bot/db/hotpath.py): one set of Core statements, run two ways.

On SQLite the fast path (the compiled statements straight on sqlite3) and the SQLAlchemy path
must store byte-identical rows for the same batch; on PostgreSQL the SQLAlchemy path must read
back the same values as SQLite. Plus the optimistic lock on dialogues, and the version check of
the inline SQLite driver."""
from __future__ import annotations

import sqlite3
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.base import Base
from bot.db.engine import make_engine
from bot.db.hotpath import (
    CoreRows, DialogueConflict, DialogueRow, DialogueSave, MemberRow, Rows, SQLiteRows, rows_for,
)

T0 = datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=timezone.utc)
LOCAL = timezone(timedelta(hours=8))


async def _rows(conn: Any, fast: bool) -> Rows:
    rows = await rows_for(conn, "app1", fast=fast)
    assert isinstance(rows, SQLiteRows if fast else CoreRows)
    return rows


async def scenario(engine: AsyncEngine, fast: bool) -> dict[str, Any]:
    """The same batches every way; returns what the writer read back at each step."""
    seen: dict[str, Any] = {}
    t1 = T0 + timedelta(minutes=5)
    async with engine.begin() as conn:
        rows = await _rows(conn, fast)
        seen["claim1"] = await rows.claim([("k1", "oA", "text"), ("k2", "oB", "event"), ("k3", "oC", "event"),
                                           ("k4", "oD", "event"), ("k5", "oE", "event")], T0)
        await rows.upsert_members({"message": ["oA"], "subscribe": ["oB"], "unsubscribe": ["oC"],
                                   "short_window": ["oD"], "event": ["oE"]}, T0)
        seen["members1"] = await rows.members(["oA", "oB", "oC", "oD", "oE", "oNobody"])
        seen["dialogues0"] = await rows.dialogues(["oA", "oB"])
        await rows.save_dialogues([
            DialogueSave("app1", "oA", "sample:age", {"d": {"名字": "张三", "n": 1}, "drafts": {}}, None, T0,
                         T0 + timedelta(hours=72)),
            DialogueSave("app1", "oB", None, {"d": {}, "drafts": {}}, None, T0, None)])
        await rows.finish([("k1", "done", b"<xml>ok</xml>"), ("k2", "detached", None), ("k3", "done", None),
                           ("k4", "done", b"\x00\xff"), ("k5", "done", None)])
    async with engine.begin() as conn:
        rows = await _rows(conn, fast)
        # A second batch: a re-sent key, members seen again (another kind of message), dialogues updated.
        seen["claim2"] = await rows.claim([("k1", "oA", "text"), ("k6", "oB", "text"), ("k7", "oC", "event")],
                                          t1.astimezone(LOCAL))
        seen["stored"] = await rows.stored(["k1", "k2", "k4", "missing"])
        await rows.upsert_members({"message": ["oB"], "subscribe": ["oC"], "unsubscribe": ["oA"]}, t1)
        seen["members2"] = await rows.members(["oA", "oB", "oC"])
        seen["dialogues1"] = await rows.dialogues(["oA", "oB", "oC"])
        await rows.save_dialogues([
            DialogueSave("app1", "oA", "sample:phone", {"d": {"age": 30}, "drafts": {}}, 1, t1, None),
            DialogueSave("app1", "oC", "quiz:q1", {"d": {}, "drafts": {"sample": {"state": "sample:age"}}}, None,
                         t1, t1 + timedelta(days=1))])
        await rows.finish([("k6", "done", b"x"), ("k7", "failed", b"sorry")])
        await rows.store_failed("k8", "oE", "text", t1, b"apology")
        await rows.store_failed("k1", "oA", "text", t1, b"not stored: k1 exists")
        seen["dialogues2"] = await rows.dialogues(["oA", "oB", "oC"])
    return seen


def _dump(path: Path) -> dict[str, list[tuple]]:
    """Every row as SQLite stores it (text timestamps, integer booleans, JSON text)."""
    db = sqlite3.connect(path)
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("member", "dialogue", "inbound_message")}
    finally:
        db.close()


async def _fresh_sqlite(path: Path) -> AsyncEngine:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return engine


async def test_both_sqlite_paths_store_identical_rows(tmp_path) -> None:  # noqa: ANN001
    results = {}
    for fast in (True, False):
        engine = await _fresh_sqlite(tmp_path / f"{fast}.db")
        try:
            results[fast] = await scenario(engine, fast)
        finally:
            await engine.dispose()
    assert results[True] == results[False]
    stored_fast, stored_core = _dump(tmp_path / "True.db"), _dump(tmp_path / "False.db")
    assert stored_fast == stored_core
    # What the rows must be, not only equal: column defaults applied, UTC text timestamps.
    inbound = {r[0]: r for r in stored_fast["inbound_message"]}
    assert inbound["k6"][4] == "done" and inbound["k7"][4] == "failed"
    assert inbound["k6"][3] == "2026-03-02 01:07:03.456789"  # given in UTC+8, stored in UTC
    assert inbound["k8"][4:6] == ("failed", b"apology") and inbound["k1"][5] == b"<xml>ok</xml>"
    members = {r[2]: r for r in stored_fast["member"]}
    assert members["oE"][5] == 1 and members["oE"][11] == 0 and members["oE"][13] == 0  # defaults
    assert members["oC"][5] == 1 and members["oC"][6] is None  # unsubscribed, then subscribed again


async def test_reads_are_typed_the_same_everywhere(tmp_path, engine: AsyncEngine,  # noqa: ANN001
                                                  backend: str) -> None:
    """The fast SQLite path, and SQLAlchemy on this test's backend, read back the same Python values."""
    sqlite_engine = await _fresh_sqlite(tmp_path / "reference.db")
    try:
        expected = await scenario(sqlite_engine, fast=True)
    finally:
        await sqlite_engine.dispose()
    got = await scenario(engine, fast=False)
    for step in ("members1", "members2"):
        for openid, row in got[step].items():
            assert isinstance(row, MemberRow)
            assert row._replace(id=0) == expected[step][openid]._replace(id=0), (step, openid)
    assert got.keys() == expected.keys()
    for step in ("claim1", "claim2", "stored", "dialogues0", "dialogues1", "dialogues2"):
        assert got[step] == expected[step], step
    member = got["members2"]["oA"]
    assert member.subscribed is False and member.unsubscribed_at == T0 + timedelta(minutes=5)
    assert member.first_seen == T0 and member.first_seen.tzinfo is not None
    dialogue = got["dialogues2"]["oA"]
    assert isinstance(dialogue, DialogueRow) and dialogue.version == 2
    assert dialogue.data == {"d": {"age": 30}, "drafts": {}}
    assert got["dialogues2"]["oC"].version == 1 and got["dialogues2"]["oB"].version == 1


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "core"])
async def test_a_dialogue_changed_meanwhile_is_not_overwritten(engine: AsyncEngine, backend: str, fast: bool) -> None:
    if fast and backend != "sqlite":
        pytest.skip("the fast path exists on SQLite only")
    async with engine.begin() as conn:
        rows = await _rows(conn, fast)
        await rows.save_dialogues([DialogueSave("app1", o, "s:1", {"d": {"who": "first"}}, None, T0, None)
                                   for o in ("oA", "oB")])
    async with engine.begin() as conn:  # someone else writes oA (version 1 -> 2)
        rows = await _rows(conn, fast)
        await rows.save_dialogues([DialogueSave("app1", "oA", "s:2", {"d": {"who": "other"}}, 1, T0, None)])
    for stale in ([DialogueSave("app1", "oA", "s:x", {"d": {"who": "late"}}, 1, T0, None)],  # read at 1
                  [DialogueSave("app1", "oA", "s:x", {"d": {"who": "late"}}, None, T0, None)],  # read no row
                  [DialogueSave("app1", "oB", "s:x", {"d": {"who": "late"}}, 1, T0, None),  # fine alone
                   DialogueSave("app1", "oA", "s:x", {"d": {"who": "late"}}, 1, T0, None)]):
        async with engine.connect() as conn:
            trans = await conn.begin()
            rows = await _rows(conn, fast)
            with pytest.raises(DialogueConflict) as caught:
                await rows.save_dialogues(stale)
            assert "oA" in caught.value.openids
            await trans.rollback()
    async with engine.connect() as conn:
        found = await (await _rows(conn, fast)).dialogues(["oA", "oB"])
    assert found["oA"].data == {"d": {"who": "other"}} and found["oA"].version == 2
    assert found["oB"].data == {"d": {"who": "first"}} and found["oB"].version == 1


def test_member_row_has_every_member_column() -> None:
    from bot.db.models import Member

    assert MemberRow._fields == tuple(c.name for c in Member.__table__.c)


# --- the inline driver's version check ----------------------------------------------------------

@pytest.mark.parametrize(("module", "version"), [("sqlalchemy", "2.0.44"), ("sqlalchemy", "2.2.0"),
                                                 ("aiosqlite", "0.19.0"), ("aiosqlite", "0.23.1")])
def test_the_inline_driver_refuses_versions_it_was_not_built_for(monkeypatch, tmp_path, module: str,
                                                                 version: str) -> None:  # noqa: ANN001
    import importlib

    from bot.db.inline_sqlite import DriverVersionError

    monkeypatch.setattr(importlib.import_module(module), "__version__", version)
    with pytest.raises(DriverVersionError) as caught:
        make_engine(f"sqlite+aiosqlite:///{tmp_path}/v.db")
    message = str(caught.value)
    assert "\n" not in message and version in message and "pip install" in message
    assert isinstance(caught.value, SystemExit)  # uncaught, it stops the start with that one line


def test_installed_versions_pass_and_pyproject_pins_the_same_ranges() -> None:
    from bot.db.inline_sqlite import SUPPORTED, check_versions

    check_versions()
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    deps = {d.split("[")[0].split(">")[0].split("<")[0].strip(): d for d in pyproject["project"]["dependencies"]}
    for dist, (low, high) in SUPPORTED.items():
        assert deps[dist].endswith(f"{low},{high}"), (dist, deps[dist])
