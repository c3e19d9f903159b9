"""Scheduled jobs of the hardship feature: photo fetching and the retention clean-up."""
from __future__ import annotations

from pathlib import Path

from bot.media import fetch_pending
from handlers.hardship.privacy import anonymise_expired
from bot.jobs import JobContext, JobSpec


def _media_dir(ctx: JobContext) -> Path:
    return Path(ctx.services.get("media_dir") or "data/media")


async def fetch_photos(ctx: JobContext) -> int:
    """Download evidence photos still pending (WeChat keeps them for three days)."""
    if ctx.settings.wechat.offline:
        return 0
    api = ctx.services.get("api")
    if api is not None:
        return await fetch_pending(ctx.sessionmaker, api, _media_dir(ctx), ctx.clock)
    from bot.wechat.api import WeChatAPI  # no shared client handed over: use one for this run

    api = WeChatAPI(ctx.settings.wechat, ctx.sessionmaker, ctx.clock)
    try:
        return await fetch_pending(ctx.sessionmaker, api, _media_dir(ctx), ctx.clock)
    finally:
        await api.close()


async def anonymise_closed(ctx: JobContext) -> int:
    """Anonymise personal data of requests finished (rejected, delivered or closed) longer than
    hardship.retention_days ago, and of finished ones whose worker asked for deletion."""
    async with ctx.sessionmaker() as db, db.begin():
        return await anonymise_expired(db, ctx.ops)


JOBS: list[JobSpec] = [
    JobSpec("hardship.fetch_photos", fetch_photos, {"trigger": "interval", "minutes": 2},
            "Download pending evidence photos from WeChat"),
    JobSpec("hardship.retention", anonymise_closed, {"trigger": "cron", "hour": 3, "minute": 30},
            "Anonymise finished hardship requests past the retention period or whose worker asked for deletion"),
]
