"""The message writer's own rows: dedup records, members, dialogues — one statement per batch.

The statements are SQLAlchemy Core, defined once at the bottom of this module, and the writer's
operations (`Rows`) are written once on top of them. Only *how a statement runs* differs:

- `CoreRows` executes it through the session's SQLAlchemy connection (PostgreSQL; and SQLite in
  the tests that compare both ways, see tests/framework/test_writer_paths.py);
- `SQLiteRows` executes the very same statement, compiled once for the engine's SQLite dialect
  (`Plan`), straight on the sqlite3 connection under the session's transaction. Measured with
  `python -m bench webhook`, SQLAlchemy's execution layer (async adapter, greenlet switch,
  parameter and result processing) cost ~100 µs per statement against ~5 µs for sqlite3 itself,
  and this path runs for every message the service gets.

A `Plan` takes everything from the compiled statement: the SQL text, the order of the positional
parameters, literal values, column defaults (scalar or callable, as SQLAlchemy would fill them in)
and the bind/result processors of each type. So the two ways cannot drift apart: a column default
or a new column is picked up by both, or the plan refuses to build (a default it cannot compute).

Feature code never comes here: handlers use the session (ORM) as usual, and the few statements
that run for most messages are built once and run through `bot/db/prepared.py`, which hands them
to the batch's `Rows` (`prepared_fetch` / `prepared_run`): the same plans, in the handler's savepoint.
"""
from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import LargeBinary, bindparam, event, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.db.base import UTCDateTime
from bot.db.engine import dialect_insert
from bot.db.models import Dialogue, InboundMessage, Member

_IM = InboundMessage.__table__
_MT = Member.__table__
_DT = Dialogue.__table__


# --- the rows a handler sees -------------------------------------------------------------------

class MemberRow(NamedTuple):
    """A member as read with the message, the same typed shape from either way of reading it.

    `Ctx.member` turns it into an ORM entity on first use (most messages never need one)."""

    id: int
    app_id: str
    openid: str
    first_seen: datetime
    last_seen: datetime
    subscribed: bool
    unsubscribed_at: datetime | None
    name: str | None
    phone: str | None
    employer: str | None
    msg_window_at: datetime | None
    msg_window_used: int
    evt_window_at: datetime | None
    evt_window_used: int
    community: str | None


class DialogueRow(NamedTuple):
    openid: str
    state: str | None
    data: dict[str, Any]
    version: int
    expires_at: datetime | None


if MemberRow._fields != tuple(c.name for c in _MT.c):  # a column added to Member must be added here
    raise RuntimeError(f"MemberRow {MemberRow._fields} does not match the member table "
                       f"{tuple(c.name for c in _MT.c)}")


@dataclass(frozen=True)
class DialogueSave:
    """One dialogue to write: `expected` is the version read (None: there was no row)."""

    app_id: str
    openid: str
    state: str | None
    data: dict[str, Any]
    expected: int | None
    updated_at: datetime
    expires_at: datetime | None


class DialogueConflict(Exception):
    """A dialogue changed (or appeared, or went) after the writer read it: optimistic lock lost."""

    def __init__(self, openids: Sequence[str]) -> None:
        super().__init__(f"dialogue changed meanwhile for {len(openids)} user(s)")
        self.openids = list(openids)


# --- what a message does to its member row -------------------------------------------------------

NOW = object()  # stands for the batch's timestamp in _WINDOW_COLS
_WINDOW_COLS: dict[str, dict[str, Any]] = {
    "message": {"msg_window_at": NOW, "msg_window_used": 0},
    "short_window": {"evt_window_at": NOW, "evt_window_used": 0},
    "subscribe": {"evt_window_at": NOW, "evt_window_used": 0, "subscribed": True, "unsubscribed_at": None},
    "unsubscribe": {"subscribed": False, "unsubscribed_at": NOW},
    "event": {},
}


def member_variant(kind: str, event: str, opens_short_window: bool) -> str:
    if kind != "event":
        return "message"
    if event in ("subscribe", "unsubscribe"):
        return event
    return "short_window" if opens_short_window else "event"


# --- the operations, written once ---------------------------------------------------------------

class Rows:
    """The batch operations of the message writer. Subclasses say how a statement is executed."""

    def __init__(self, conn: AsyncConnection, app_id: str) -> None:
        self.conn = conn
        self.app_id = app_id
        self.dialect = conn.dialect.name
        self.info = conn.info  # the pooled connection's own dict: `_open_pending` finds the savepoint there

    # Execution primitives --------------------------------------------------------------------
    async def _fetch(self, stmt: Any, params: dict[str, Any]) -> list[Sequence[Any]]:
        """Rows of a SELECT (or RETURNING), with Python values."""
        raise NotImplementedError

    async def _run(self, stmt: Any, params: dict[str, Any]) -> int:
        """Execute once; the number of rows matched."""
        raise NotImplementedError

    async def _run_many(self, stmt: Any, params: list[dict[str, Any]]) -> int | None:
        """Execute for each parameter set; the total of rows matched, or None if the driver can't tell."""
        raise NotImplementedError

    @property
    def counts_many(self) -> bool:
        """Does `_run_many` count the rows it matched? (asyncpg's executemany doesn't.)"""
        return bool(self.conn.dialect.supports_sane_multi_rowcount)

    def _sql_in_hook(self, conn: Any, sql: str) -> None:
        """Run a SAVEPOINT statement from inside SQLAlchemy's before_execute (sync, in its greenlet)."""
        raise NotImplementedError

    async def _sql(self, sql: str) -> None:
        raise NotImplementedError

    # A feature's statement built once (bot/db/prepared.py) --------------------------------------
    async def prepared_fetch(self, stmt: Any, params: dict[str, Any]) -> list[Sequence[Any]]:
        """Its rows (SELECT or RETURNING; [] for neither), in the running handler's savepoint."""
        self._open_savepoint()
        return await self._fetch(stmt, params)

    async def prepared_run(self, stmt: Any, params: dict[str, Any]) -> int:
        """Execute it once in the running handler's savepoint; the number of rows matched."""
        self._open_savepoint()
        return await self._run(stmt, params)

    def _open_savepoint(self) -> None:
        """Statements through SQLAlchemy open it in `_open_pending`; the sqlite3 path does it here."""

    def savepoint(self, session: AsyncSession) -> "HandlerSavepoint":
        """A SAVEPOINT around one handler: an exception inside rolls back only what it did."""
        if self.conn.sync_engine not in _LISTENING:
            event.listen(self.conn.sync_engine, "before_execute", _open_pending)
            _LISTENING.add(self.conn.sync_engine)
        return HandlerSavepoint(self, session)

    # Operations ------------------------------------------------------------------------------
    async def claim(self, items: Sequence[tuple[str, str, str]], now: datetime) -> set[str]:
        """Insert (key, openid, kind) dedup records; the keys that were new."""
        rows = await self._insert_returning(_claim, [{"key": k, "openid": o, "kind": kind, "at": now}
                                                     for k, o, kind in items])
        return {r[0] for r in rows}

    async def _insert_returning(self, factory: Callable[[str, int], Any],
                                rows: list[dict[str, Any]]) -> list[Sequence[Any]]:
        """One INSERT ... RETURNING of many rows: `factory(dialect, n)` is the statement for n rows,
        its parameters named `<name>_<row>`. SQLAlchemy doesn't cache a multi-row VALUES statement
        (it compiled it for every batch: ~3 ms on PostgreSQL), so this way sends the one-row
        statement as an executemany, which SQLAlchemy turns into multi-row VALUES itself."""
        return list((await self.conn.execute(factory(self.dialect, 1),
                                             [{f"{k}_0": v for k, v in r.items()} for r in rows])).all())

    async def stored(self, keys: Sequence[str]) -> dict[str, tuple[str, bytes | None]]:
        rows = await self._fetch(_STORED, {"keys": list(keys)})
        return {key: (status, reply) for key, status, reply in rows}

    async def upsert_members(self, by_variant: dict[str, list[str]], now: datetime) -> None:
        for variant, openids in by_variant.items():
            await self._run_many(_member_upsert(self.dialect, variant),
                                 [{"app_id": self.app_id, "openid": o, "now": now} for o in openids])

    async def members(self, openids: Sequence[str]) -> dict[str, MemberRow]:
        rows = await self._fetch(_MEMBERS, {"app_id": self.app_id, "openids": list(openids)})
        return {r[2]: MemberRow._make(r) for r in rows}

    async def dialogues(self, openids: Sequence[str]) -> dict[str, DialogueRow]:
        rows = await self._fetch(_LOAD_DIALOGUES, {"app_id": self.app_id, "openids": list(openids)})
        return {r[0]: DialogueRow._make(r) for r in rows}

    async def save_dialogues(self, saves: Sequence[DialogueSave]) -> None:
        """Write changed dialogues, each only if it is still the version read (optimistic lock).

        A row read at version v is updated only WHERE version = v (to v + 1); a dialogue that had
        no row is inserted only if none appeared meanwhile. Raises DialogueConflict otherwise."""
        new = [{"app_id": s.app_id, "openid": s.openid, "state": s.state, "data": s.data, "version": 1,
                "updated_at": s.updated_at, "expires_at": s.expires_at} for s in saves if s.expected is None]
        old = [{"w_app_id": s.app_id, "w_openid": s.openid, "expected": s.expected, "state": s.state,
                "data": s.data, "version": s.expected + 1, "updated_at": s.updated_at,
                "expires_at": s.expires_at} for s in saves if s.expected is not None]
        lost: list[str] = []
        for stmt, params, who in ((_insert_dialogue(self.dialect), new, "openid"),
                                  (_UPDATE_DIALOGUE, old, "w_openid")):
            if not params:
                continue
            if len(params) == 1 or not self.counts_many:  # one statement each, each counted
                for p in params:
                    if await self._run(stmt, p) != 1:
                        lost.append(p[who])
            elif await self._run_many(stmt, params) != len(params):
                lost += [p[who] for p in params]  # which ones, a re-run one by one tells
        if lost:
            raise DialogueConflict(lost)

    async def finish(self, rows: Iterable[tuple[str, str, bytes | None]]) -> None:
        params = [{"k": k, "status": s, "reply": r} for k, s, r in rows]
        if params:
            await self._run_many(_FINISH, params)

    async def store_failed(self, key: str, openid: str, kind: str, now: datetime, reply: bytes | None) -> None:
        """Record a message whose handling failed, with its apology (unless the key is there already)."""
        await self._run(_failed(self.dialect), {"key": key, "openid": openid, "kind": kind, "received_at": now,
                                                "status": "failed", "reply": reply})


class CoreRows(Rows):
    """Through the SQLAlchemy connection of the session (any backend)."""

    async def _fetch(self, stmt: Any, params: dict[str, Any]) -> list[Sequence[Any]]:
        return list((await self.conn.execute(stmt, params)).all())

    async def _run(self, stmt: Any, params: dict[str, Any]) -> int:
        return (await self.conn.execute(stmt, params)).rowcount

    async def _run_many(self, stmt: Any, params: list[dict[str, Any]]) -> int | None:
        result = await self.conn.execute(stmt, params)
        return result.rowcount if self.conn.dialect.supports_sane_multi_rowcount else None

    def _sql_in_hook(self, conn: Any, sql: str) -> None:
        conn.exec_driver_sql(sql)

    async def _sql(self, sql: str) -> None:
        await self.conn.exec_driver_sql(sql)


class SQLiteRows(Rows):
    """The same statements straight on the sqlite3 connection of the session's transaction."""

    def __init__(self, conn: AsyncConnection, raw: Any, app_id: str) -> None:
        super().__init__(conn, app_id)
        self.db = raw  # the sqlite3.Connection under SQLAlchemy's pooled connection
        self._plans = _plans_for(conn.dialect)
        if not self._plans:  # the first batch of this engine compiles the claims of every chunk size (~30 ms)
            for size in (1, 2, 4, 8, 16, 32, 64):
                self._plan(_claim(self.dialect, size), {})

    def _plan(self, stmt: Any, params: dict[str, Any]) -> "Plan":
        plans = self._plans
        plan = plans.get(id(stmt))
        if plan is None:
            plan = plans[id(stmt)] = _Plans(stmt, self.conn.dialect)
        return plan.get(params)

    async def _fetch(self, stmt: Any, params: dict[str, Any]) -> list[Sequence[Any]]:
        plan = self._plan(stmt, params)
        rows = self.db.execute(plan.sql, plan.args(params, {})).fetchall()
        return plan.convert(rows)

    async def _insert_returning(self, factory: Callable[[str, int], Any],
                                rows: list[dict[str, Any]]) -> list[Sequence[Any]]:
        """The multi-row statement itself (sqlite3 can't executemany with RETURNING), in chunks of
        64, 32, ... 1 rows: seven statements to compile (64 rows: ~14 ms, once) rather than one per
        batch size, which showed as stalls in the p99 of `python -m bench webhook`."""
        out: list[Sequence[Any]] = []
        start, size = 0, 64
        while start < len(rows):
            while size > len(rows) - start:
                size //= 2
            chunk = rows[start:start + size]
            params = {f"{k}_{i}": v for i, r in enumerate(chunk) for k, v in r.items()}
            out += await self._fetch(factory(self.dialect, size), params)
            start += size
        return out

    async def _run(self, stmt: Any, params: dict[str, Any]) -> int:
        plan = self._plan(stmt, params)
        return self.db.execute(plan.sql, plan.args(params, {})).rowcount

    async def _run_many(self, stmt: Any, params: list[dict[str, Any]]) -> int | None:
        plan = self._plan(stmt, params[0])
        memo: dict[int, Any] = {}  # one conversion per value object (the batch's `now`, shared by all rows)
        return self.db.executemany(plan.sql, [plan.args(p, memo) for p in params]).rowcount

    def _sql_in_hook(self, conn: Any, sql: str) -> None:
        self.db.execute(sql)

    def _open_savepoint(self) -> None:
        pending = self.info.get(_PENDING)
        if pending is not None:
            pending.open(None)

    async def _sql(self, sql: str) -> None:
        self.db.execute(sql)


class HandlerSavepoint:
    """The SAVEPOINT one handler runs under (`async with rows.savepoint(session)`).

    Opened lazily, just before the handler's first statement reaches the connection (`_open_pending`,
    a before_execute listener): most handlers — menus, answers — never touch the database, and
    SQLAlchemy's `begin_nested()` cost ~50 µs a message on SQLite and two round trips on PostgreSQL
    even then. The handler's ORM changes are flushed inside it. On an exception the savepoint is
    rolled back and the session forgets its objects: every earlier handler's changes were flushed,
    so nothing else is lost, and later reads load fresh rows. The one exception to "only itself": a
    failed *flush* makes SQLAlchemy roll back the whole transaction, so the error goes up and the
    batch is re-run message by message (bot/pipeline.py) — the same outcome, later."""

    __slots__ = ("rows", "session", "opened")
    SQL = ("SAVEPOINT unionbot_handler", "RELEASE SAVEPOINT unionbot_handler",
           "ROLLBACK TO SAVEPOINT unionbot_handler")

    def __init__(self, rows: Rows, session: AsyncSession) -> None:
        self.rows, self.session, self.opened = rows, session, False

    def open(self, conn: Any) -> None:
        if not self.opened:
            self.opened = True  # first: our own statement passes the listener too
            self.rows._sql_in_hook(conn, self.SQL[0])

    async def __aenter__(self) -> None:
        self.rows.info[_PENDING] = self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        sync = self.session.sync_session
        try:
            if exc_type is None:
                try:
                    # `_is_clean` is what Session.flush asks first (0.3 µs; new/dirty/deleted build sets: 2 µs).
                    if not sync._is_clean():
                        await self.session.flush()
                except BaseException:
                    await self._undo(sync)
                    raise
                if self.opened:
                    await self.rows._sql(self.SQL[1])
            else:
                await self._undo(sync)
        finally:
            self.rows.info.pop(_PENDING, None)
        return False

    async def _undo(self, sync: Any) -> None:
        if not sync.is_active:  # SQLAlchemy rolled back the whole transaction (a failed flush)
            return
        self.rows.info.pop(_PENDING, None)
        if self.opened:
            await self.rows._sql(self.SQL[2])
            await self.rows._sql(self.SQL[1])
        sync.expunge_all()


_PENDING = "unionbot_pending_savepoint"
_LISTENING: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _open_pending(conn: Any, *_args: Any) -> None:
    """before_execute: open the running handler's savepoint before its first statement."""
    pending = conn.info.get(_PENDING)
    if pending is not None and not pending.opened:
        pending.open(conn)


async def rows_for(conn: AsyncConnection, app_id: str, *, fast: bool = True) -> Rows:
    """The fastest implementation this connection allows (`fast=False`: always through SQLAlchemy)."""
    if fast and conn.dialect.name == "sqlite":
        raw = (await conn.get_raw_connection()).driver_connection
        db = getattr(raw, "_conn", None)  # bot.db.inline_sqlite.InlineConnection
        if db is not None:
            return SQLiteRows(conn, db, app_id)
    return CoreRows(conn, app_id)


# --- compiled plans for the sqlite3 path --------------------------------------------------------

class _Mark:
    """Stands for a caller's parameter while the statement's parameters are laid out."""

    __slots__ = ("name", "index")

    def __init__(self, name: str, index: int | None) -> None:
        self.name, self.index = name, index


_PARAM, _CONST, _CALL = 0, 1, 2


class Plan:
    """One Core statement compiled for one SQLite dialect (and one length of each IN list).

    `args(params, memo)` lays out the positional parameters exactly as SQLAlchemy would: the
    caller's values, literal values of the statement and column defaults, each through its bind
    processor (a value object met again in the same `memo` — the batch's `now` — is converted
    once); `convert(rows)` applies the result processors of the selected columns."""

    __slots__ = ("sql", "slots", "args", "results")
    results: "Callable[[Sequence[Any]], tuple[Any, ...]] | None"

    def __init__(self, stmt: Any, compiled: Any, dialect: Any, lengths: dict[str, int]) -> None:
        if not compiled.positional:
            raise ValueError(f"{dialect.name}: expected a positional paramstyle, got {dialect.paramstyle}")
        probe: dict[str, Any] = {}
        calls: dict[str, Callable[[], Any]] = {}
        for col, default in ([(c, c.default) for c in compiled.insert_prefetch]
                             + [(c, c.onupdate) for c in compiled.update_prefetch]):
            if default is None:
                continue
            if default.is_scalar:
                probe[col.key] = default.arg
            elif default.is_callable:
                calls[col.key] = functools.partial(default.arg, None)  # SQLAlchemy wraps f() as f(context)
                probe[col.key] = _Mark(col.key, None)
            else:
                raise ValueError(f"column {col.key}: a {type(default).__name__} default can't be run on the "
                                 "sqlite3 path; use CoreRows for this statement")
        for name, bind in compiled.binds.items():
            if bind.required and name in compiled.positiontup:
                probe[name] = ([_Mark(name, i) for i in range(lengths[name])] if bind.expanding
                               else _Mark(name, None))
        state = compiled.construct_expanded_state(probe)
        self.sql: str = state.statement
        slots = []
        for expanded, value in zip(state.positiontup or (), state.positional_parameters):
            bind = compiled.binds.get(value.name if isinstance(value, _Mark) else expanded)
            if bind is None:
                proc = state.processors.get(expanded)
            else:
                proc = _fast_bind(bind.type, dialect, bind.type.dialect_impl(dialect).bind_processor(dialect))
            if isinstance(value, _Mark):
                if value.name in calls:
                    slots.append((_CALL, calls[value.name], None, proc))
                else:
                    slots.append((_PARAM, value.name, value.index, proc))
            else:
                slots.append((_CONST, proc(value) if proc else value, None, None))
        self.slots = tuple(slots)
        self.args: Callable[[dict[str, Any], dict[int, Any]], tuple[Any, ...]] = _args_function(self.slots)
        columns = list(getattr(stmt, "exported_columns", ()) or ())
        procs = [_fast_result(c.type, dialect, c.type.dialect_impl(dialect).result_processor(dialect, None))
                 for c in columns]
        self.results = _row_function(procs) if any(procs) else None

    def convert(self, rows: list[Any]) -> list[Sequence[Any]]:
        return rows if self.results is None else [self.results(r) for r in rows]


def _args_function(slots: tuple) -> Callable[[dict[str, Any], dict[int, Any]], tuple[Any, ...]]:
    """The parameter tuple of a plan as generated code (~0.5 µs a row, where a loop over the slots
    took ~2 µs): `p` the caller's parameters, `m` the memo of converted timestamps. Each parameter
    is converted once per row; a timestamp object once per call (the batch's `now`)."""
    env: dict[str, Any] = {"_convert": _convert}
    lines: list[str] = []
    parts: list[str] = []
    seen: dict[tuple[Any, ...], str] = {}
    for i, (kind, a, index, proc) in enumerate(slots):
        if kind == _CONST:
            env[f"c{i}"] = a
            parts.append(f"c{i}")
            continue
        if kind == _PARAM and (a, index, id(proc)) in seen:  # a parameter used twice (`now`): once
            parts.append(seen[(a, index, id(proc))])
            continue
        if kind == _CALL:
            env[f"f{i}"] = a
            expr = f"f{i}()"
        else:
            expr = f"p[{a!r}]" if index is None else f"p[{a!r}][{index:d}]"
        if proc is not None:
            env[f"x{i}"] = proc
            expr = f"_convert(m, x{i}, {expr})" if proc is _dt_to_sqlite else f"x{i}({expr})"
        if kind == _PARAM:
            seen[(a, index, id(proc))] = f"v{i}"
            lines.append(f"    v{i} = {expr}\n")
            expr = f"v{i}"
        parts.append(expr)
    namespace: dict[str, Any] = {}
    source = f"def args(p, m):\n{''.join(lines)}    return ({', '.join(parts)},)\n"
    exec(source, env, namespace)  # noqa: S102 — built from our own slots
    return namespace["args"]


def _row_function(procs: list[Callable[[Any], Any] | None]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A row's values through the result processors, as one generated expression."""
    env: dict[str, Any] = {f"x{i}": proc for i, proc in enumerate(procs) if proc is not None}
    env["_iso"] = datetime.fromisoformat
    parts = []
    for i, proc in enumerate(procs):
        if proc is None:
            parts.append(f"r[{i}]")
        elif proc is _sqlite_to_dt:  # inlined: most member columns are timestamps, many of them NULL
            parts.append(f"(None if r[{i}] is None else _iso(r[{i}] + '+00:00'))")
        else:
            parts.append(f"x{i}(r[{i}])")
    namespace: dict[str, Any] = {}
    exec(f"def row(r):\n    return ({', '.join(parts)},)\n", env, namespace)  # noqa: S102 — our own columns
    return namespace["row"]


def _convert(memo: dict[int, Any], proc: Callable[[Any], Any], value: Any) -> Any:
    hit = memo.get(id(value))
    if hit is not None and hit[0] is proc:
        return hit[2]
    result = proc(value)
    memo[id(value)] = (proc, value, result)  # holds `value`, so its id stays its own
    return result


class _Plans:
    """The plans of one statement, by the lengths of its IN lists."""

    __slots__ = ("stmt", "dialect", "compiled", "expanding", "by_lengths")

    def __init__(self, stmt: Any, dialect: Any) -> None:
        self.stmt, self.dialect = stmt, dialect  # keeps the statement (and so its id) alive
        self.compiled = stmt.compile(dialect=dialect)  # once: a new IN-list length only re-expands it
        # the caller's IN lists (a literal one, `col.in_(("a", "b"))`, has its own fixed length)
        self.expanding = tuple(name for name, b in self.compiled.binds.items() if b.expanding and b.required)
        self.by_lengths: dict[tuple[int, ...], Plan] = {}

    def get(self, params: dict[str, Any]) -> Plan:
        key = tuple(len(params[name]) for name in self.expanding)
        plan = self.by_lengths.get(key)
        if plan is None:
            plan = self.by_lengths[key] = Plan(self.stmt, self.compiled, self.dialect,
                                               dict(zip(self.expanding, key)))
        return plan


_PLANS: "weakref.WeakKeyDictionary[Any, dict[int, _Plans]]" = weakref.WeakKeyDictionary()


def _plans_for(dialect: Any) -> dict[int, _Plans]:
    plans = _PLANS.get(dialect)
    if plans is None:
        plans = _PLANS[dialect] = {}
    return plans


# Faster equivalents of SQLAlchemy's processors on SQLite. UTCDateTime (the TypeDecorator plus the
# DATETIME string format cost ~5 µs a value): used only after giving the same results as
# SQLAlchemy's own processors on sample values (checked once per dialect), else SQLAlchemy's.
# LargeBinary: SQLAlchemy wraps the value in sqlite3.Binary (a memoryview); sqlite3 binds the
# bytes themselves as the same BLOB (tests/framework/test_writer_paths.py compares the stored
# rows), and the wrapping measured ~3% of the writer's time per message.

def _dt_to_sqlite(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_to_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value + "+00:00")


_SAMPLES = [datetime(2026, 3, 1, 8, 5, 9, 7, tzinfo=timezone.utc),
            datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
            datetime(2026, 7, 1, 0, 0, tzinfo=timezone.utc).astimezone()]
_VERIFIED: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def _fast_ok(dialect: Any) -> bool:
    ok = _VERIFIED.get(dialect)
    if ok is None:
        impl = UTCDateTime().dialect_impl(dialect)
        bind, result = impl.bind_processor(dialect), impl.result_processor(dialect, None)
        try:
            ok = bool(bind and result) and bind(None) is None and result(None) is None and all(
                bind(v) == _dt_to_sqlite(v) and result(bind(v)) == _sqlite_to_dt(bind(v)) for v in _SAMPLES)
        except Exception:  # noqa: BLE001 — anything unexpected: keep SQLAlchemy's processors
            ok = False
        _VERIFIED[dialect] = ok
    return ok


def _fast_bind(type_: Any, dialect: Any, proc: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    if proc is not None and isinstance(type_, UTCDateTime) and dialect.name == "sqlite" and _fast_ok(dialect):
        return _dt_to_sqlite
    if proc is not None and isinstance(type_, LargeBinary) and dialect.name == "sqlite":
        return None  # sqlite3 binds bytes as a BLOB itself
    return proc


def _fast_result(type_: Any, dialect: Any, proc: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    if proc is not None and isinstance(type_, UTCDateTime) and dialect.name == "sqlite" and _fast_ok(dialect):
        return _sqlite_to_dt
    return proc


# --- the statements (Core, built once) ----------------------------------------------------------

def _typed(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


_INSERT = {name: dialect_insert(name) for name in ("postgresql", "sqlite")}


@functools.cache
def _claim(dialect: str, n: int) -> Any:
    """One multi-row INSERT of n dedup records; RETURNING the keys that were new.
    `status` comes from the column default ('processing')."""
    rows = [{"key": _typed(f"key_{i}", _IM.c.key), "openid": _typed(f"openid_{i}", _IM.c.openid),
             "kind": _typed(f"kind_{i}", _IM.c.kind), "received_at": _typed(f"at_{i}", _IM.c.received_at)}
            for i in range(n)]
    return (_INSERT[dialect](_IM).values(rows if n > 1 else rows[0])  # one row: not the multi-row form
            .on_conflict_do_nothing(index_elements=["key"]).returning(_IM.c.key))


@functools.cache
def _failed(dialect: str) -> Any:
    return _INSERT[dialect](_IM).values(
        key=_typed("key", _IM.c.key), openid=_typed("openid", _IM.c.openid), kind=_typed("kind", _IM.c.kind),
        received_at=_typed("received_at", _IM.c.received_at), status=_typed("status", _IM.c.status),
        reply=_typed("reply", _IM.c.reply)).on_conflict_do_nothing(index_elements=["key"])


_STORED = select(_IM.c.key, _IM.c.status, _IM.c.reply).where(_IM.c.key.in_(bindparam("keys", expanding=True)))
_FINISH = (update(_IM).where(_IM.c.key == bindparam("k"))
           .values(status=_typed("status", _IM.c.status), reply=_typed("reply", _IM.c.reply)))
_MEMBERS = select(*_MT.c).where(_MT.c.app_id == bindparam("app_id"),
                                _MT.c.openid.in_(bindparam("openids", expanding=True)))
_LOAD_DIALOGUES = select(_DT.c.openid, _DT.c.state, _DT.c.data, _DT.c.version, _DT.c.expires_at).where(
    _DT.c.app_id == bindparam("app_id"), _DT.c.openid.in_(bindparam("openids", expanding=True)))
_DIALOGUE_VALUES = {name: _typed(name, _DT.c[name])
                    for name in ("state", "data", "version", "updated_at", "expires_at")}
_UPDATE_DIALOGUE = (update(_DT).where(_DT.c.app_id == bindparam("w_app_id"), _DT.c.openid == bindparam("w_openid"),
                                      _DT.c.version == bindparam("expected")).values(**_DIALOGUE_VALUES))


@functools.cache
def _insert_dialogue(dialect: str) -> Any:
    return _INSERT[dialect](_DT).values(app_id=_typed("app_id", _DT.c.app_id), openid=_typed("openid", _DT.c.openid),
                                        **_DIALOGUE_VALUES).on_conflict_do_nothing(
        index_elements=[_DT.c.app_id, _DT.c.openid])


@functools.cache
def _member_upsert(dialect: str, variant: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE for a member, per dialect and kind of message.

    A new member gets the column defaults for what this kind of message doesn't set
    (subscribed, the window counters); an existing one gets exactly the changes."""
    now = _typed("now", _MT.c.last_seen)
    changes: dict[str, Any] = {"last_seen": now}
    for col, value in _WINDOW_COLS[variant].items():
        changes[col] = now if value is NOW else value
    ins = _INSERT[dialect](_MT).values(app_id=bindparam("app_id"), openid=bindparam("openid"), first_seen=now,
                                      **changes)
    # The update takes its values from the proposed row (`excluded`): each timestamp is bound once.
    updates = {col: (ins.excluded[col] if value is now else value) for col, value in changes.items()}
    return ins.on_conflict_do_update(index_elements=[_MT.c.app_id, _MT.c.openid], set_=updates)


__all__ = ["CoreRows", "DialogueConflict", "DialogueRow", "DialogueSave", "MemberRow", "Rows", "SQLiteRows",
           "member_variant", "rows_for"]
