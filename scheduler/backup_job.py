"""The nightly backup (bot/backup.py): checked every hour, made once a day from `[backup] hour`.

Idempotent and catching up like every job: a run makes a backup only when the folder holds none
made since today's `hour` (service-local time), so a service that was down at that hour makes
the day's backup at its next hourly check, and a second run the same day does nothing.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.backup import BackupError, has_backup_since, make_backup, prune
from bot.jobs import JobContext, JobSpec

log = logging.getLogger("unionbot.backup")


async def nightly_backup(ctx: JobContext) -> str:
    cfg = ctx.settings.backup
    local = ctx.clock.local()
    if local.hour < cfg.hour:
        return "not yet"
    since = local.replace(hour=cfg.hour, minute=0, second=0, microsecond=0)
    if has_backup_since(cfg.dir, since):
        return "done today"
    media_dir = Path(ctx.services.get("media_dir") or "data/media")
    try:
        result = await asyncio.to_thread(make_backup, ctx.settings.database.url, media_dir, cfg.dir, local)
    except BackupError as exc:
        log.warning("%s", exc)
        return f"failed: {exc}"
    gone = await asyncio.to_thread(prune, cfg.dir, cfg.keep_daily, cfg.keep_monthly)
    return f"{result.path.name} ({result.size} bytes, {result.media_files} media files); {len(gone)} old deleted"


JOBS = [JobSpec("core.backup", nightly_backup, {"trigger": "cron", "minute": 7},
                "back up the database and photos once a day ([backup] hour), keep daily/monthly ones")]
