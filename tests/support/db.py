"""The test databases: PostgreSQL when UNIONBOT_TEST_DATABASE_URL is set, and an engine
on a test's own database (a fresh schema on PostgreSQL, see the `db_url` fixture)."""
from __future__ import annotations

import os

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import make_engine

PG_URL = os.environ.get("UNIONBOT_TEST_DATABASE_URL", "")


def make_test_engine(url: str) -> AsyncEngine:
    if "unionbot_schema=" in url:
        base, _, schema = url.partition("unionbot_schema=")
        base = base.rstrip("?&")
        return make_engine(base, pool_size=5, connect_args={"server_settings": {"search_path": schema}})
    return make_engine(url)
