"""Background fetching of evidence photos: WeChat MediaId → a file under media_dir.

Handlers only store the MediaId (they never call the network). This pass
downloads pending photos with `api.get_media` and records where the file is.
WeChat keeps temporary media for three days, so the job runs often; a photo
that keeps failing is marked `failed` after MAX_ATTEMPTS (staff then ask the
worker with 补充). Offline mode (no API) keeps the id only.
"""
from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models.hardship import HardshipPhoto

log = logging.getLogger("unionbot.media")

MAX_ATTEMPTS = 5
BATCH = 50
_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}


def _extension(content_type: str) -> str:
    ctype = content_type.split(";")[0].strip().lower()
    return _EXT.get(ctype) or mimetypes.guess_extension(ctype) or ".bin"


async def fetch_pending(sessionmaker: async_sessionmaker[AsyncSession], api: Any, media_dir: Path | str,
                        clock: Clock) -> int:
    """Download every pending photo once; returns how many were stored. Safe to run repeatedly."""
    if api is None:
        return 0
    media_dir = Path(media_dir)
    async with sessionmaker() as db:
        todo = list(await db.execute(
            select(HardshipPhoto.id, HardshipPhoto.media_id, HardshipPhoto.request_id)
            .where(HardshipPhoto.status == "pending").order_by(HardshipPhoto.id).limit(BATCH)))
    stored = 0
    for photo_id, media_id, request_id in todo:
        path: str | None = None
        ctype = ""
        error = ""
        try:
            data, ctype = await api.get_media(media_id)
            rel = Path("hardship") / str(request_id) / f"{photo_id}{_extension(ctype)}"
            target = media_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(target.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(target)
            path = rel.as_posix()
        except Exception as exc:  # noqa: BLE001  (network, WeChat error or disk: record and retry later)
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("photo %s (media %s) not fetched: %s", photo_id, media_id, error)
        async with sessionmaker() as db, db.begin():
            row = await db.get(HardshipPhoto, photo_id)
            if row is None or row.status != "pending":
                continue  # anonymised or fetched meanwhile
            row.attempts = (row.attempts or 0) + 1
            if path is not None:
                row.status, row.path, row.content_type = "fetched", path, ctype.split(";")[0]
                row.fetched_at, row.error = clock.now(), ""
                stored += 1
            else:
                row.error = error
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
    return stored
