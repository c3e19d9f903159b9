"""`unionbot chairs ...`: the chair registry from the command line."""
from __future__ import annotations

import asyncio
import sys

import click

from bot.commands.common import config_option, database, migrate_embedded, settings_from


@click.group("chairs")
def chairs() -> None:
    """Grassroots union chairs (基层工会主席)."""


@chairs.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@config_option
def import_file(file: str, config: str | None) -> None:
    """Add or update chairs from a CSV or XLSX file.

    Columns: name, organisation, community, mobile (or 姓名, 单位, 社区, 手机).
    A chair already registered with the same mobile is updated. If any line is
    wrong, every error is listed with its line number and nothing is imported.
    """
    from bot.clock import Clock
    from bot.operations import OpsContext
    from handlers.chairs import registry_import as ops

    settings = settings_from(config)
    try:
        rows = ops.read_chair_file(file)
    except ops.ChairError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)

    migrate_embedded(settings)

    async def go() -> ops.ImportResult:
        ctx = OpsContext(Clock(settings.app.timezone), settings)
        async with database(settings) as sessionmaker, sessionmaker() as session, session.begin():
            return await ops.import_chairs(session, ctx, rows, source=file)

    try:
        result = asyncio.run(go())
    except ops.ImportRefused as exc:
        for line, msg in exc.errors:
            click.echo(f"line {line}: {msg}", err=True)
        click.echo(f"nothing imported: {len(exc.errors)} line(s) to fix", err=True)
        sys.exit(1)
    click.echo(f"imported {len(rows)} chair(s): {result.added} added, {result.updated} updated")
