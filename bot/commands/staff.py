"""`unionbot staff ...`: staff accounts of the admin site, from the server's shell.

The first account is always an admin. Setting a password ends every session of the account.
Each change is written to the audit log (no staff member: done on the server).
"""
from __future__ import annotations

import asyncio
import getpass
import sys

import click

from bot.commands.common import config_option, database, migrate_embedded, settings_from

ROLE_HELP = "admin, hardship, events, quiz, chairs, inbox, viewer (repeat for several)"


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        click.echo("passwords differ", err=True)
        sys.exit(2)
    return password


def _run(settings, work):  # noqa: ANN001, ANN202
    """Run `work(session, now)` in one transaction on the configured database."""
    async def go():  # noqa: ANN202
        from bot.clock import Clock

        await asyncio.to_thread(migrate_embedded, settings)
        async with database(settings) as sessionmaker, sessionmaker() as session, session.begin():
            return await work(session, Clock(settings.app.timezone).now())

    try:
        return asyncio.run(go())
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group("staff")
def staff() -> None:
    """Staff accounts of the admin site."""


@staff.command("add")
@click.argument("username")
@click.option("--name", "display_name", default="", help="display name, e.g. 王老师")
@click.option("--role", "roles", multiple=True, metavar="ROLE", help=ROLE_HELP)
@click.option("--community", default="", help="a community union's account sees only this community "
              "(one of [federation] communities); omit for the federation")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--temporary", is_flag=True, help="make up a one-time password (printed) that must be changed at the first login")
@config_option
def staff_add(username: str, display_name: str, roles: tuple[str, ...], community: str, password_stdin: bool,
              temporary: bool, config: str | None) -> None:
    """Create a staff account (asks for the password twice)."""
    from bot.admin import audit, staff as staff_ops
    from bot.admin.roles import ADMIN

    password = staff_ops.temporary_password() if temporary else _read_password(password_stdin)
    settings = settings_from(config)
    notes: list[str] = []

    async def add(session, now):  # noqa: ANN001, ANN202
        wanted = list(roles)
        if not await staff_ops.any_staff(session) and ADMIN not in wanted:
            wanted.insert(0, ADMIN)
            notes.append("the first account is an admin: role 'admin' added")
        if not wanted:
            raise ValueError(f"give the account at least one --role ({ROLE_HELP})")
        if ADMIN in wanted and community.strip():
            first = "the first account is an admin, and " if notes else ""
            raise ValueError(f"{first}an admin account belongs to the federation (it manages every account and "
                             "community): drop --community, or give a community account its roles without admin")
        row = await staff_ops.create_staff(
            session, username, password, display_name or username, now, roles=wanted, community=community,
            communities=staff_ops.configured_communities(settings), must_change_password=temporary)
        await audit.record(session, staff_id=None, action="staff.create", target=row.username, now=now,
                           detail={"roles": row.roles, "community": row.community, "via": "cli"})
        return row.username, row.roles, row.community

    name, given, place = _run(settings, add)
    for note in notes:
        click.echo(f"note: {note}")
    click.echo(f"staff account {name!r} created (roles: {', '.join(given)}; "
               f"{'community: ' + place if place else 'federation: every community'})")
    if temporary:
        click.echo(f"temporary password (shown once; must be changed at the first login): {password}")


@staff.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the new password from standard input")
@click.option("--temporary", is_flag=True, help="make up a one-time password (printed) that must be changed at the next login")
@config_option
def staff_passwd(username: str, password_stdin: bool, temporary: bool, config: str | None) -> None:
    """Set a staff member's password; every session of the account ends."""
    from bot.admin import audit, staff as staff_ops

    password = staff_ops.temporary_password() if temporary else _read_password(password_stdin)
    settings = settings_from(config)

    async def passwd(session, now):  # noqa: ANN001, ANN202
        row = await staff_ops.set_password(session, username, password, now, must_change=temporary,
                                           reason="password_reset")
        await audit.record(session, staff_id=None, action="staff.reset_password", target=row.username, now=now,
                           detail={"via": "cli", "temporary": temporary})
        return row.username

    name = _run(settings, passwd)
    click.echo(f"password of {name!r} changed; its sessions have ended")
    if temporary:
        click.echo(f"temporary password (shown once; must be changed at the next login): {password}")


@staff.command("list")
@config_option
def staff_list(config: str | None) -> None:
    """Show every staff account: roles, community, state."""
    from bot.admin import staff as staff_ops

    settings = settings_from(config)

    async def rows(session, _now):  # noqa: ANN001, ANN202
        return [(s.username, s.display_name or "", ",".join(s.roles or ()), s.community or "-",
                 "active" if s.active else "deactivated", "must change password" if s.must_change_password else "")
                for s in await staff_ops.all_staff(session)]

    found = _run(settings, rows)
    if not found:
        click.echo("no staff accounts yet: create one with `unionbot staff add USERNAME`")
    for username, name, given, place, state, note in found:
        click.echo(f"{username:<20} {name:<10} {given:<28} {place:<12} {state}{'  ' + note if note else ''}")


def _set_active(username: str, active: bool, config: str | None) -> None:
    from bot.admin import audit, staff as staff_ops

    settings = settings_from(config)

    async def change(session, now):  # noqa: ANN001, ANN202
        row = await staff_ops.set_active(session, username, active, now)
        await audit.record(session, staff_id=None, action="staff.reactivate" if active else "staff.deactivate",
                           target=row.username, now=now, detail={"via": "cli"})
        return row.username

    name = _run(settings, change)
    click.echo(f"staff account {name!r} {'reactivated' if active else 'deactivated; its sessions have ended'}")


@staff.command("deactivate")
@click.argument("username")
@config_option
def staff_deactivate(username: str, config: str | None) -> None:
    """Disable an account: it can no longer log in, and its sessions end at once."""
    _set_active(username, False, config)


@staff.command("activate")
@click.argument("username")
@config_option
def staff_activate(username: str, config: str | None) -> None:
    """Enable a disabled account again."""
    _set_active(username, True, config)
