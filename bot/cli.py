"""The `unionbot` command: serve, db, chat, menu, staff, chairs, quiz, jobs, keys, backup, restore."""
from __future__ import annotations

import asyncio
import getpass
import importlib
import logging
import sys

import click

from bot.commands.common import config_option, database, migrate_embedded, settings_from
from bot.config import ConfigError


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def main(verbose: bool) -> None:
    """unionbot — the street trade union's WeChat assistant."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


@main.command()
@config_option
@click.option("--host", help="override server.host")
@click.option("--port", type=int, help="override server.port")
@click.option("--workers", type=int, default=1, show_default=True,
              help="worker processes on one port (PostgreSQL only for more than 1)")
@click.option("--log-json", is_flag=True, help="JSON log lines (for journald / log shippers)")
@click.option("--log-level", default="INFO", show_default=True)
def serve(config: str | None, host: str | None, port: int | None, workers: int, log_json: bool,
          log_level: str) -> None:
    """Run the webhook, admin site, scheduler and outbox delivery."""
    from bot.metrics import setup_logging

    setup_logging(log_level, json=log_json)
    settings = settings_from(config)
    try:
        from bot.config import check_keys

        check_keys(settings)  # online without [admin] field_key: one line, no start
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    if host:
        settings.server.host = host
    if port:
        settings.server.port = port
    migrate_embedded(settings)
    if workers > 1:
        from bot.processes import check_workers, serve as serve_workers

        try:
            check_workers(settings, workers)
        except ConfigError as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
        serve_workers(settings, workers, config, log_json=log_json, log_level=log_level)
        return
    from aiohttp import web

    from bot.app import create_app, freeze_startup_objects

    log = logging.getLogger("unionbot")
    mode = "offline (no wechat.app_id: outbound messages are simulated)" if settings.wechat.offline else "online"
    log.info("unionbot serving on http://%s:%d%s (%s); admin at /admin/",
             settings.server.host, settings.server.port, settings.server.webhook_path, mode)
    app = create_app(settings)
    freeze_startup_objects(app)
    web.run_app(app, host=settings.server.host, port=settings.server.port, print=None, access_log=None)


@main.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@config_option
@click.option("--revision", default="head", show_default=True)
def db_upgrade(config: str | None, revision: str) -> None:
    """Create or migrate the database schema."""
    from bot.db.migrate import upgrade

    settings = settings_from(config)
    upgrade(settings.database.url, revision)
    click.echo("database is up to date")


@main.command()
@config_option
@click.option("--url", help="base URL of a running server, e.g. http://127.0.0.1:8080 (default: in-process)")
@click.option("--openid", default="oChatUser", show_default=True, help="the WeChat user you play")
def chat(config: str | None, url: str | None, openid: str) -> None:
    """Talk to the bot as a WeChat user, from the terminal.

    Type a message and press Enter; `/click KEY`, `/follow`, `/image [MEDIA_ID]`
    and `/quit` send the other kinds of message.
    """
    from bot.chat import chat_loop

    settings = settings_from(config)
    run(chat_loop(settings, url, openid))


@main.group()
def menu() -> None:
    """The official account's custom menu."""


@menu.command("push")
@config_option
def menu_push(config: str | None) -> None:
    """Create the custom menu: the one saved in the admin, else [wechat].menu, else the default."""
    from bot.app import features
    from bot.menu import SOURCE_LABELS, click_keys, menu_to_push, record_push, validate

    settings = settings_from(config)
    if settings.wechat.offline:
        click.echo("wechat.app_id is not set: nothing to push (offline mode)", err=True)
        sys.exit(2)
    feats = features()

    async def push() -> tuple[str, list[str], dict]:
        from bot.clock import Clock
        from bot.wechat.api import WeChatAPI

        async with database(settings) as sessionmaker:
            async with sessionmaker() as session:
                buttons, source = await menu_to_push(session, settings, feats)
            errors = validate(buttons, click_keys(feats))
            if errors:
                return source, errors, {}
            clock = Clock(settings.app.timezone)
            api = WeChatAPI(settings.wechat, sessionmaker, clock)
            try:
                result = await api.create_menu(buttons)
            finally:
                await api.close()
            async with sessionmaker() as session, session.begin():
                await record_push(session, buttons, True, "unionbot menu push", now=clock.now(), staff_id=None)
            return source, [], result

    source, errors, result = run(push())
    if errors:
        click.echo(f"the menu ({SOURCE_LABELS[source]}) is not valid, nothing pushed:\n" + "\n".join(errors), err=True)
        sys.exit(2)
    click.echo(f"menu pushed ({source}): {result}")


from bot.commands.staff import staff as _staff  # noqa: E402  (unionbot staff add/passwd/list/deactivate)

main.add_command(_staff)

from bot.commands.backup import backup as _backup, restore as _restore  # noqa: E402  (unionbot backup/restore)

main.add_command(_backup)
main.add_command(_restore)


# Feature command groups (bot/commands/<feature>.py), added when present.
for _name, _attr in (("chairs", "chairs"), ("quiz", "quiz"), ("jobs", "jobs"), ("keys", "keys")):
    try:
        _mod = importlib.import_module(f"bot.commands.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"bot.commands.{_name}":
            raise
        continue
    main.add_command(getattr(_mod, _attr))


if __name__ == "__main__":  # pragma: no cover
    main()
