"""`unionbot backup [--to DIR]` and `unionbot restore FILE [--force]` (bot/backup.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.commands.common import config_option, settings_from


def _media_dir(settings) -> Path:  # noqa: ANN001
    from bot.app import build_services

    return Path(build_services(settings)["media_dir"])


@click.command("backup")
@config_option
@click.option("--to", "to", type=click.Path(file_okay=False),
              help="folder to write into (default: [backup] dir; only that folder is pruned)")
def backup(config: str | None, to: str | None) -> None:
    """Back up the database and the media folder (photos) now, while the service runs."""
    from bot.backup import BackupError, make_backup, prune
    from bot.clock import Clock

    settings = settings_from(config)
    dest = Path(to) if to else Path(settings.backup.dir)
    try:
        result = make_backup(settings.database.url, _media_dir(settings), dest,
                             Clock(settings.app.timezone).local())
    except BackupError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo(f"backup written: {result.path} ({result.size} bytes, {result.media_files} media files)")
    if not to:
        for gone in prune(dest, settings.backup.keep_daily, settings.backup.keep_monthly):
            click.echo(f"deleted old backup: {gone.name}")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@config_option
@click.option("--force", is_flag=True, help="replace the existing database and media folder")
def restore(file: str, config: str | None, force: bool) -> None:
    """Restore a backup (database and media), then migrate it. Stop the service first."""
    from bot.backup import BackupError, restore as do_restore
    from bot.clock import Clock

    settings = settings_from(config)
    try:
        done = do_restore(file, settings.database.url, _media_dir(settings), force=force,
                          now_utc=Clock(settings.app.timezone).now())
    except BackupError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo(f"restored {file}: database {done['database']}, {done['media_files']} media files; "
               "database is up to date")
