"""Background fetching of workers' photos: WeChat MediaId → a file under media_dir.

Handlers only store the MediaId (they never call the network). This pass
downloads pending photos with `api.get_media` and records where the file is.
A `PhotoTable` says where a kind of photo lives: hardship evidence
(media_dir/hardship/<request>/) and photos sent to the inbox (media_dir/inbox/<thread>/).
WeChat keeps temporary media for three days, so the job runs often; a photo
that keeps failing is marked `failed` after MAX_ATTEMPTS (staff then ask the
worker with 补充). Offline mode (no API) keeps the id only.
"""
from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models.hardship import HardshipPhoto
from bot.db.models.inbox import InboxMessage

log = logging.getLogger("unionbot.media")

MAX_ATTEMPTS = 5
BATCH = 50
_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}


@dataclass(frozen=True)
class PhotoTable:
    """Rows holding photos to fetch. The model has `media_id`, `path`, `content_type`,
    `attempts`, `error` and `fetched_at`; `status` names its pending/fetched/failed column;
    files go to media_dir/<folder>/<value of `group`>/<row id>.<ext>."""

    model: type
    status: str
    folder: str
    group: str


HARDSHIP_PHOTOS = PhotoTable(HardshipPhoto, "status", "hardship", "request_id")
INBOX_PHOTOS = PhotoTable(InboxMessage, "media_status", "inbox", "thread_id")


def _extension(content_type: str) -> str:
    ctype = content_type.split(";")[0].strip().lower()
    return _EXT.get(ctype) or mimetypes.guess_extension(ctype) or ".bin"


async def fetch_pending(sessionmaker: async_sessionmaker[AsyncSession], api: Any, media_dir: Path | str,
                        clock: Clock, table: PhotoTable = HARDSHIP_PHOTOS) -> int:
    """Download every pending photo of `table` once; returns how many were stored.
    Safe to run repeatedly."""
    if api is None:
        return 0
    media_dir = Path(media_dir)
    model, status = table.model, getattr(table.model, table.status)
    async with sessionmaker() as db:
        todo = list(await db.execute(
            select(model.id, model.media_id, getattr(model, table.group))
            .where(status == "pending").order_by(model.id).limit(BATCH)))
    stored = 0
    for photo_id, media_id, group in todo:
        path: str | None = None
        ctype = ""
        error = ""
        try:
            data, ctype = await api.get_media(media_id)
            rel = Path(table.folder) / str(group) / f"{photo_id}{_extension(ctype)}"
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
            row = await db.get(model, photo_id)
            if row is None or getattr(row, table.status) != "pending":
                continue  # anonymised or fetched meanwhile
            row.attempts = (row.attempts or 0) + 1
            if path is not None:
                setattr(row, table.status, "fetched")
                row.path, row.content_type = path, ctype.split(";")[0]
                row.fetched_at, row.error = clock.now(), ""
                stored += 1
            else:
                row.error = error
                if row.attempts >= MAX_ATTEMPTS:
                    setattr(row, table.status, "failed")
    return stored
