"""`unionbot keys`: the key of personal fields at rest (`[admin] field_key`).

    unionbot keys generate            print a new random key
    unionbot keys rotate              re-encrypt every stored value under [admin] field_key
    unionbot keys rotate --new-key-stdin   … under a key read from standard input
                                      (or UNIONBOT_ADMIN_FIELD_KEY_NEW)

The safe order (no moment where the running service can't read a value; docs/security.md):
set field_key = NEW and field_key_old = OLD, restart, run `unionbot keys rotate`, then remove
field_key_old and restart again.
"""
from __future__ import annotations

import asyncio
import os
import sys

import click

from bot.commands.common import config_option, database, migrate_embedded, settings_from

NEW_KEY_ENV = "UNIONBOT_ADMIN_FIELD_KEY_NEW"


@click.group()
def keys() -> None:
    """The key that encrypts personal fields (ID numbers) at rest."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random key for [admin] field_key."""
    from bot.crypto import generate_key

    click.echo(generate_key())


@keys.command("rotate")
@config_option
@click.option("--new-key", "new_key", default="", help=f"re-encrypt under this key (default: [admin] field_key; "
              f"better: --new-key-stdin or {NEW_KEY_ENV}, so the key stays out of the shell history)")
@click.option("--new-key-stdin", is_flag=True, help="read the new key from standard input")
@click.option("--batch", type=click.IntRange(1, 5000), default=200, show_default=True, help="rows per transaction")
def keys_rotate(config: str | None, new_key: str, new_key_stdin: bool, batch: int) -> None:
    """Re-encrypt every encrypted field under the new key, reading with the current and old keys.

    Safe to stop and run again: values already under the new key are skipped."""
    from bot.crypto import FieldCrypto, is_fernet_key, key_id, legacy_keys, rotate, DEV_KEY_PATH

    settings = settings_from(config)
    if new_key_stdin:
        new_key = sys.stdin.readline().strip()
    new_key = (new_key or os.environ.get(NEW_KEY_ENV, "")).strip()
    admin = settings.admin
    target = new_key or admin.field_key
    if not target:
        click.echo("error: no key to rotate to: set [admin] field_key (UNIONBOT_ADMIN_FIELD_KEY) or give "
                   f"--new-key-stdin / {NEW_KEY_ENV}; create one with `unionbot keys generate`", err=True)
        sys.exit(2)
    if not is_fernet_key(target):
        click.echo("error: the new key is not a key made by `unionbot keys generate` (44 characters)", err=True)
        sys.exit(2)
    readers = [k for k in (admin.field_key, admin.field_key_old) if k and is_fernet_key(k) and k != target]
    if DEV_KEY_PATH.is_file():
        readers.append(DEV_KEY_PATH.read_text(encoding="ascii").strip())
    crypto = FieldCrypto(target, readers, legacy_keys(settings))

    def progress(table: str, column: str, counts: dict[str, int]) -> None:
        click.echo(f"  {table}.{column}: {counts['rotated']} re-encrypted, {counts['current']} already current, "
                   f"{counts['unreadable']} unreadable")

    async def run() -> dict[str, int]:
        await asyncio.to_thread(migrate_embedded, settings)
        async with database(settings) as sessionmaker:
            return await rotate(sessionmaker, crypto, batch=batch, progress=progress)

    click.echo(f"re-encrypting personal fields under key {key_id(target)} …")
    counts = asyncio.run(run())
    click.echo(f"done: {counts['rotated']} re-encrypted, {counts['current']} already under key {key_id(target)}, "
               f"{counts['unreadable']} unreadable")
    if counts["unreadable"]:
        click.echo("error: some values are readable with none of the keys given (see the log above): put the key "
                   "that wrote them into [admin] field_key_old and run this again", err=True)
        sys.exit(1)
    if target != admin.field_key:
        click.echo("next: set [admin] field_key to the new key and field_key_old to the previous one, restart the "
                   "service, run `unionbot keys rotate` again (values written meanwhile), then remove field_key_old")
    elif admin.field_key_old:
        click.echo("next: remove [admin] field_key_old and restart the service")
