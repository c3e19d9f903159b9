"""Photos chosen in the 代办 form, kept between rounds of the form until it is submitted.

A browser can't refill a file box: when the form comes back (a field to correct, or the WeChat
follower to confirm), the photos already chosen would be lost. They are kept here instead, under
media_dir/hardship/staging/<staff id>/<token>/, the form carrying only the token; only the staff
member who chose them can use them. `ops.submit_on_behalf` stores them with the request, then
`discard` removes the kept copies; `sweep` removes what was left behind (a form never submitted)
after a day.
"""
from __future__ import annotations

import re
import secrets
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from handlers.hardship.ops import MAX_PHOTOS, PHOTO_TYPES, UploadedPhoto, photo_type

TOKEN = re.compile(r"^[0-9a-f]{32}$")
KEEP_SECONDS = 24 * 3600  # files on disk are aged by the file system's clock


def _folder(root: Path, staff_id: int, token: str) -> Path | None:
    if not TOKEN.match(token or ""):
        return None
    return root / "hardship" / "staging" / str(int(staff_id)) / token


def load(root: Path, staff_id: int, token: str) -> list[UploadedPhoto]:
    """The photos kept under `token` for this staff member (none for an unknown token)."""
    folder = _folder(root, staff_id, token)
    if folder is None or not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir(), key=lambda p: (len(p.stem), p.stem)):
        data = path.read_bytes()
        ctype = photo_type(data)
        if ctype:
            out.append(UploadedPhoto(data, ctype))
    return out[:MAX_PHOTOS]


def keep(root: Path, staff_id: int, token: str, photos: Sequence[UploadedPhoto]) -> str:
    """Add `photos` to those kept under `token` (a new token when it is none); returns the token."""
    folder = _folder(root, staff_id, token)
    if folder is None:
        token = secrets.token_hex(16)
        folder = _folder(root, staff_id, token)
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    start = len(list(folder.iterdir()))
    for n, photo in enumerate(photos, start=start + 1):
        (folder / f"{n}{PHOTO_TYPES[photo.content_type]}").write_bytes(photo.data)
    return token


def discard(root: Path, staff_id: int, token: str) -> None:
    folder = _folder(root, staff_id, token)
    if folder is not None and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def sweep(root: Path) -> None:
    """Remove photos kept for forms that were never submitted (older than KEEP_SECONDS)."""
    base = root / "hardship" / "staging"
    if not base.is_dir():
        return
    limit = time.time() - KEEP_SECONDS
    for staff_dir in base.iterdir():
        for folder in staff_dir.iterdir() if staff_dir.is_dir() else ():
            if folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
