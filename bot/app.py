"""The composition root: create_app(settings) builds the aiohttp application from the list
of feature manifests. Only entry points (the CLI, `unionbot chat`, worker processes, bench)
import this module; nothing here holds a business rule."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import ConfigError, Settings, check_keys
from bot.core.dispatcher import Dispatcher
from bot.db.engine import make_engine, make_sessionmaker
from bot.feature import Feature
from bot.operations import OpsContext
from bot.keys import API, CLOCK, DELIVERY, ENGINE, FEATURES, JOBS, PROCESSOR, SERVICES, SESSIONMAKER, SETTINGS
from bot.pipeline import Processor
from scheduler.setup import all_jobs

log = logging.getLogger("unionbot.app")

def features() -> list[Feature]:
    """The features this service runs, in match order. Adding one is one line here."""
    import handlers.chairs
    import handlers.common
    import handlers.hardship
    import handlers.inbox
    import handlers.office
    import handlers.quiz
    import handlers.signup

    return [
        handlers.common.FEATURE,
        handlers.hardship.FEATURE,
        handlers.signup.FEATURE,
        handlers.quiz.FEATURE,
        handlers.chairs.FEATURE,
        handlers.office.FEATURE,
        handlers.inbox.FEATURE,
    ]


def build_dispatcher(feats: list[Feature], extra_routers: list | None = None) -> Dispatcher:
    from handlers.common import FALLBACK

    return Dispatcher([*(extra_routers or []), *(f.router for f in feats if f.router is not None)], FALLBACK)


def check_config(settings: Settings, feats: list[Feature]) -> None:
    """Menu click keys and template kinds in the config must be ones a feature declares
    (a typo would otherwise fail silently); raises ConfigError naming the key."""
    keys_known = {m.key for f in feats for m in f.menu}
    kinds_known = {k for f in feats for k in f.template_kinds}

    def walk(buttons: list, path: str) -> None:
        for i, b in enumerate(buttons):
            here = f"{path}[{i}]"
            if b.key and b.key not in keys_known:
                raise ConfigError(f"config error: '{here}.key' {b.key!r} is not a menu key any feature declares "
                                  f"(known: {', '.join(sorted(keys_known))})")
            walk(b.sub, f"{here}.sub")

    walk(settings.wechat.menu, "wechat.menu")
    for kind in settings.wechat.templates:
        if kind not in kinds_known:
            raise ConfigError(f"config error: 'wechat.templates.{kind}' is not a template kind any feature sends "
                              f"(known: {', '.join(sorted(kinds_known))})")


async def run_startup_hooks(feats: list[Feature], sessionmaker: async_sessionmaker[AsyncSession],
                            ctx: OpsContext) -> None:
    """Each feature's `startup` (e.g. seeding editable content once), one transaction each."""
    for f in feats:
        if f.startup is not None:
            async with sessionmaker() as session, session.begin():
                await f.startup(session, ctx)


def build_services(settings: Settings) -> dict[str, Any]:
    """Shared helpers handed to handlers and operations (no network clients)."""
    from bot.crypto import FieldCrypto

    return {"crypto": FieldCrypto.from_settings(settings), "media_dir": Path("data/media")}


GC_SETTLED_AFTER = 120.0  # seconds of serving after which the warmed-up caches are frozen too


def freeze_startup_objects(app: web.Application | None = None) -> None:
    """Call once in a serving process, after create_app and before serving.

    Everything built so far (modules, routes, templates, statements) lives as long as the process:
    gc.freeze keeps it out of the cyclic collector's full scans, which otherwise show up as
    latency spikes under load (the use the Python docs describe for gc.freeze). With `app`, the
    same once more `GC_SETTLED_AFTER` seconds into serving: what the first messages and pages
    built (SQLAlchemy's compiled statements, templates, metric children) lives as long too.
    """
    import gc

    gc.collect()
    gc.freeze()
    if app is not None:
        async def settle(_app: web.Application) -> None:
            asyncio.get_running_loop().call_later(GC_SETTLED_AFTER, _refreeze)

        app.on_startup.append(settle)


def _refreeze() -> None:
    import gc

    gc.collect()
    gc.freeze()


def create_app(settings: Settings, *, clock: Clock | None = None, engine: AsyncEngine | None = None,
               background: bool = True, scheduler: bool | None = None,
               extra_routers: list | None = None, feature_list: list[Feature] | None = None) -> web.Application:
    """The whole service: webhook, admin site, outbox delivery and (optionally) the scheduler.

    `background=False` leaves delivery and the scheduler to the caller (tests
    drive them step by step with a fake clock).
    """
    from bot.admin.site import create_admin_app
    from bot.delivery import Delivery
    from bot.wechat.api import WeChatAPI
    from bot.wechat.codec import Codec
    from bot.wechat.webhook import add_webhook_routes

    feats = features() if feature_list is None else feature_list
    check_config(settings, feats)
    check_keys(settings)  # online without [admin] field_key: refuse to start
    clock = clock or Clock(settings.app.timezone)
    engine = engine or make_engine(settings.database.url, echo=settings.database.echo,
                                   pool_size=settings.database.pool_size,
                                   synchronous=settings.database.sqlite_synchronous)
    sessionmaker: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)
    services = build_services(settings)

    # aiohttp takes the body limit of every request from this top-level app, so it is the admin's
    # (imports, photos: `[server] admin_max_body`); the webhook reads its body itself and refuses
    # more than its own `max_body` (64 KB) with a 413 (bot/wechat/webhook.py `read_capped`).
    app = web.Application(client_max_size=max(settings.server.max_body, settings.server.admin_max_body))
    if settings.server.behind_proxy:
        from aiohttp_remotes import XForwardedRelaxed

        app.middlewares.append(XForwardedRelaxed(num=1).middleware)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[ENGINE] = engine
    app[SESSIONMAKER] = sessionmaker
    app[SERVICES] = services
    app[FEATURES] = feats
    app[JOBS] = all_jobs(feats)

    api = None if settings.wechat.offline else WeChatAPI(settings.wechat, sessionmaker, clock)
    app[API] = api
    services["api_available"] = api is not None
    services["api"] = api
    delivery = Delivery(settings, sessionmaker, clock, api)
    app[DELIVERY] = delivery

    codec = Codec(settings.wechat.token, settings.wechat.app_id, settings.wechat.encoding_aes_key, clock,
                  tolerance=settings.server.timestamp_tolerance)
    processor = Processor(settings, sessionmaker, build_dispatcher(feats, extra_routers), codec.render_plain, clock, services,
                          on_queued=delivery.wake)
    app[PROCESSOR] = processor
    add_webhook_routes(app, settings.server.webhook_path, codec, processor, settings.server.max_body)

    from bot.health import add_ops_routes

    add_ops_routes(app)  # /healthz, /readyz, /metrics; observes the processor and delivery
    app.add_subapp("/admin", create_admin_app(settings, sessionmaker, clock, services, feats))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await run_startup_hooks(feats, sessionmaker, OpsContext(clock, settings, services))
        stop = asyncio.Event()
        tasks: list[asyncio.Task] = []
        if background:
            tasks.append(asyncio.create_task(delivery.run_forever(stop), name="outbox delivery"))
        leader = None
        if (scheduler if scheduler is not None else background) and settings.scheduler.enabled:
            # Exactly one scheduler across processes: PostgreSQL advisory lock or SQLite lease.
            from scheduler.leader import scheduler_under_leadership

            leader = await scheduler_under_leadership(app)
        yield
        stop.set()
        if leader is not None:
            await leader.close()
        await processor.close()
        # Let delivery record what is in flight before it is cancelled.
        _done, pending = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if api is not None:
            await api.close()
        await engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    return app
