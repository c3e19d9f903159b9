"""The Alembic migrations build exactly the schema the models describe."""
from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import bot.db.models  # noqa: F401
from bot.db.base import Base
from bot.db.migrate import upgrade


def test_upgrade_matches_models(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "m.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    upgrade(f"sqlite+aiosqlite:///{path}")  # idempotent
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], "models changed without a migration: " + repr(diff)[:500]


async def test_upgrade_runs_from_a_thread_inside_a_loop(tmp_path) -> None:  # noqa: ANN001
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{tmp_path}/t.db")
    engine = create_engine(f"sqlite:///{tmp_path}/t.db")
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert {"inbound_message", "member", "dialogue", "outbox", "hardship_request", "signup"} <= tables
