"""Shared fixtures: a fresh database per test (SQLite file, and PostgreSQL when
UNIONBOT_TEST_DATABASE_URL is set), a fake clock, the real app, the WeChat simulator,
the fake WeChat API server."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import bot.db.models  # noqa: F401  (registers every table)
from bot.app import create_app
from bot.keys import DELIVERY, PROCESSOR, SESSIONMAKER
from bot.clock import FakeClock
from bot.config import Settings
from bot.db.base import Base
from bot.db.engine import make_sessionmaker
from bot.wechat.simulator import WeChatSim
from tests.support.db import PG_URL, make_test_engine
from tests.support.fake_wechat import fake_wechat  # noqa: F401  (the fake WeChat API server fixture, for every module)
from tests.support.settings import make_settings

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def db_url(backend: str, tmp_path) -> AsyncIterator[str]:  # noqa: ANN001
    """A database URL of its own for this test."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/test.db"
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_async_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    # asyncpg takes the search path through server_settings; see make_test_engine.
    yield f"{PG_URL}{sep}unionbot_schema={schema}"
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await admin.dispose()


@pytest.fixture(autouse=True)
def _fresh_faq_cache():  # noqa: ANN202
    """Each test starts with no FAQ entries cached (a process keeps them a few seconds)."""
    from handlers.inbox import faq

    faq.forget()
    yield
    faq.forget()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):  # noqa: ANN001, ANN202
    """Cheap argon2 parameters in every test (the real ones cost ~0.3 s per login)."""
    from argon2 import PasswordHasher

    from bot.admin import staff as staff_ops

    monkeypatch.setattr(staff_ops, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(staff_ops, "_DUMMY_HASH", staff_ops._hasher.hash("unionbot-dummy-password"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(db_url: str, tmp_path) -> Settings:  # noqa: ANN001
    return make_settings(db_url, tmp_path)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_test_engine(db_url)
    async with eng.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine):
    """A session factory on this test's own database, for tests that build parts without the whole app."""
    return make_sessionmaker(engine)


@pytest.fixture
def make_app(settings: Settings, clock: FakeClock, db_url: str, monkeypatch, tmp_path):  # noqa: ANN001
    """Build an app on the test database; call again to 'restart' the service."""
    monkeypatch.chdir(tmp_path)

    def factory(settings_: Settings | None = None, **kwargs):  # noqa: ANN003, ANN202
        kwargs.setdefault("background", False)
        return create_app(settings_ or settings, clock=clock, engine=make_test_engine(db_url), **kwargs)

    return factory


@pytest.fixture
async def app(make_app, engine):  # noqa: ANN001
    return make_app()


@pytest.fixture
async def client(aiohttp_client, app):  # noqa: ANN001
    return await aiohttp_client(app)


@pytest.fixture
def sim(client, settings: Settings, clock: FakeClock):  # noqa: ANN001
    return WeChatSim(client, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock)


@pytest.fixture
def db(app):  # noqa: ANN001
    """The app's session factory, for asserting on what was stored."""
    return app[SESSIONMAKER]


@pytest.fixture
def deliver(app):  # noqa: ANN001
    """Run one outbox delivery pass (background tasks are off in tests)."""
    async def run() -> int:
        await app[PROCESSOR].drain()
        return await app[DELIVERY].run_once()
    return run
