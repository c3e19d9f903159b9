"""What every `unionbot` command shares: the --config option, settings, the database."""
from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ConfigError, Settings, load_settings

CONFIG_HELP = "TOML config file (default: ./config.toml if present, else built-in offline defaults)"
config_option = click.option("--config", "config", type=click.Path(dir_okay=False), help=CONFIG_HELP)


def settings_from(config: str | None) -> Settings:
    """Load settings (checked against the features' manifests) or stop with the one-line
    config error (no traceback)."""
    from bot.app import check_config, features

    try:
        settings = load_settings(config)
        check_config(settings, features())
        return settings
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def migrate_embedded(settings: Settings) -> None:
    """The embedded SQLite database migrates itself; PostgreSQL is migrated with `unionbot db upgrade`."""
    from bot.db.engine import is_sqlite

    if is_sqlite(settings.database.url):
        from bot.db.migrate import upgrade

        upgrade(settings.database.url)


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the configured database, disposed of afterwards."""
    from bot.db.engine import make_engine, make_sessionmaker

    engine = make_engine(settings.database.url, synchronous=settings.database.sqlite_synchronous)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
