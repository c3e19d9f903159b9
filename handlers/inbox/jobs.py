"""Inbox jobs: fetch workers' photos (as hardship evidence), close quiet threads."""
from __future__ import annotations

from pathlib import Path

from bot.jobs import JobContext, JobSpec
from bot.media import INBOX_PHOTOS, fetch_pending
from handlers.inbox import ops


async def fetch_photos(ctx: JobContext) -> int:
    """Download photos workers sent to the inbox (WeChat keeps them for three days)."""
    if ctx.settings.wechat.offline:
        return 0
    media_dir = Path(ctx.services.get("media_dir") or "data/media")
    api = ctx.services.get("api")
    if api is not None:
        return await fetch_pending(ctx.sessionmaker, api, media_dir, ctx.clock, INBOX_PHOTOS)
    from bot.wechat.api import WeChatAPI  # no shared client handed over: use one for this run

    api = WeChatAPI(ctx.settings.wechat, ctx.sessionmaker, ctx.clock)
    try:
        return await fetch_pending(ctx.sessionmaker, api, media_dir, ctx.clock, INBOX_PHOTOS)
    finally:
        await api.close()


async def close_quiet(ctx: JobContext) -> int:
    """Close threads with nothing new for `[inbox] close_after_days` (answered ones only), telling the worker."""
    async with ctx.sessionmaker() as db, db.begin():
        return await ops.close_quiet_threads(db, ctx.ops)


JOBS: list[JobSpec] = [
    JobSpec("inbox.fetch_photos", fetch_photos, {"trigger": "interval", "minutes": 2},
            "Download photos workers sent to the inbox"),
    JobSpec("inbox.close_quiet", close_quiet, {"trigger": "cron", "hour": 4, "minute": 10},
            "Close answered inbox threads with nothing new for [inbox] close_after_days and tell the worker"),
]
