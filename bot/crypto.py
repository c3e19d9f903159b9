"""Encryption of personal fields at rest (ID numbers), with Fernet, under `[admin] field_key`.

`field_key` is the only key for personal fields: it is never derived from `secret_key` or a
built-in string. A stored value reads `<key id>$<Fernet token>`; the key id (8 hex characters
of a hash of the key) says which key wrote it, so a key can be rotated:

1. set `field_key` to a new key (`unionbot keys generate`) and `field_key_old` to the old one,
   restart: new values are written with the new key, both keys read;
2. `unionbot keys rotate` re-encrypts every stored value under the new key (idempotent, in
   batches; it can be stopped and run again);
3. remove `field_key_old` and restart.

Without `field_key`, a service with no WeChat account (offline: development, trying it out)
uses a random key kept in `data/field.key` (created on first use, mode 0600); a service with a
WeChat account refuses to start (`check_keys` in bot/config.py).

Values written before key ids existed (no `$`) are still read — with `field_key_old` (which may
hold the old passphrase), and the keys the old code derived when no field_key was set — so that
`unionbot keys rotate` can re-encrypt them under the real key. Nothing is ever written with those.

Every encrypted column is named `*_enc` (e.g. `hardship_request.id_number_enc`); `encrypted_columns()`
finds them all for rotation.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from bot.config import Settings

log = logging.getLogger("unionbot.crypto")

SEP = "$"
DEV_KEY_PATH = Path("data") / "field.key"
# Only ever used to READ values written by versions before issue 13 (never to write).
_LEGACY_DEV_SEED = b"unionbot-development-only"


def generate_key() -> str:
    """A new random field key (44 characters of URL-safe base64)."""
    return Fernet.generate_key().decode("ascii")


def is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32 and len(key.strip()) == 44
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False


def key_id(key: str | bytes) -> str:
    """A short, stable name of a key (not a secret: 32 bits of a hash of it)."""
    raw = key.encode("ascii") if isinstance(key, str) else key
    return hashlib.sha256(b"unionbot-field-key-id:" + raw).hexdigest()[:8]


def _passphrase_key(passphrase: str) -> bytes:
    """How versions before issue 13 turned a field_key that was not a Fernet key into one."""
    return base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())


def legacy_keys(settings: Settings) -> list[bytes]:
    """Keys that may have written values without a key id (read-only, for rotation)."""
    out: list[bytes] = []
    old = settings.admin.field_key_old
    if old and not is_fernet_key(old):
        out.append(_passphrase_key(old))
    if settings.admin.secret_key:
        out.append(base64.urlsafe_b64encode(hashlib.sha256(b"field:" + settings.admin.secret_key.encode()).digest()))
    out.append(base64.urlsafe_b64encode(hashlib.sha256(b"field:" + _LEGACY_DEV_SEED).digest()))
    return out


def dev_key(path: Path = DEV_KEY_PATH) -> str:
    """The development key kept in `path` (created once, readable by the owner only)."""
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker made it first: use theirs
            return dev_key(path)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
        log.warning("admin.field_key is not set: created a development key in %s (offline mode only; "
                    "set [admin] field_key before connecting a WeChat account)", path)
    if not is_fernet_key(key):
        raise ValueError(f"{path} does not hold a field key; delete it or set [admin] field_key")
    return key


class FieldCrypto:
    """Encrypts with one key; reads with it, the old key, and (values without a key id) legacy keys."""

    def __init__(self, key: str, old_keys: Sequence[str] = (), legacy: Sequence[bytes] = ()) -> None:
        self.key_id = key_id(key)
        self._current = Fernet(key.encode("ascii"))
        self._by_id: dict[str, Fernet] = {self.key_id: self._current}
        for old in old_keys:
            if old and is_fernet_key(old):
                self._by_id.setdefault(key_id(old), Fernet(old.encode("ascii")))
        self._unnamed = [*self._by_id.values(), *(Fernet(k) for k in legacy)]

    @classmethod
    def from_settings(cls, settings: Settings, *, dev_key_path: Path | None = None) -> "FieldCrypto":
        admin = settings.admin
        path = dev_key_path or DEV_KEY_PATH
        key = admin.field_key or dev_key(path)
        old = [admin.field_key_old] if admin.field_key_old else []
        if admin.field_key and path.is_file():
            # Values written in development (before field_key was set) stay readable, so that
            # `unionbot keys rotate` can move them under field_key.
            try:
                old.append(path.read_text(encoding="ascii").strip())
            except (OSError, UnicodeDecodeError):
                pass
        return cls(key, old, legacy_keys(settings))

    def encrypt(self, value: str) -> str:
        return self.key_id + SEP + self._current.encrypt(value.encode()).decode("ascii")

    def decrypt(self, stored: str | None) -> str | None:
        """The plain value, or None when no key we hold can read it."""
        if not stored:
            return None
        kid, sep, token = stored.partition(SEP)
        candidates: Iterable[Fernet]
        if sep:
            f = self._by_id.get(kid)
            if f is None:
                return None
            candidates = (f,)
        else:
            token, candidates = stored, self._unnamed
        for f in candidates:
            try:
                return f.decrypt(token.encode("ascii")).decode()
            except (InvalidToken, UnicodeEncodeError, ValueError):
                continue
        return None

    def is_current(self, stored: str | None) -> bool:
        """Whether `stored` is already written with the current key."""
        return bool(stored) and stored.startswith(self.key_id + SEP)

    def reencrypt(self, stored: str) -> str | None:
        """`stored` under the current key (as is when it already is); None when unreadable."""
        if self.is_current(stored):
            return stored
        plain = self.decrypt(stored)
        return None if plain is None else self.encrypt(plain)


def encrypted_columns() -> list[tuple[Any, str]]:
    """(model, attribute) of every encrypted column: the mapped columns named `*_enc`."""
    import bot.db.models  # noqa: F401  (registers every model)
    from bot.db.base import Base

    out = []
    for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__name__):
        for attr in mapper.column_attrs:
            if attr.key.endswith("_enc"):
                out.append((mapper.class_, attr.key))
    return out


async def rotate(sessionmaker: Any, crypto: FieldCrypto, *, batch: int = 200,
                 progress: Any = None) -> dict[str, int]:
    """Re-encrypt every encrypted column under `crypto`'s current key, `batch` rows per
    transaction (rows already under it are skipped: running it again is harmless).

    Returns counts: `rotated`, `current` (already under the key), `unreadable` (no key we hold
    reads them — they are left as they are and named in the log by table and id)."""
    from sqlalchemy import select

    counts = {"rotated": 0, "current": 0, "unreadable": 0}
    for model, attr in encrypted_columns():
        col = getattr(model, attr)
        pk = model.__mapper__.primary_key[0]
        last = None
        while True:
            async with sessionmaker() as db, db.begin():
                stmt = select(model).where(col.is_not(None)).order_by(pk).limit(batch)
                if last is not None:
                    stmt = stmt.where(pk > last)
                rows = list(await db.scalars(stmt))
                if not rows:
                    break
                for row in rows:
                    stored = getattr(row, attr)
                    if not stored:
                        continue
                    if crypto.is_current(stored):
                        counts["current"] += 1
                        continue
                    new = crypto.reencrypt(stored)
                    if new is None:
                        counts["unreadable"] += 1
                        log.error("keys rotate: %s.%s of id %s is readable with none of the keys",
                                  model.__tablename__, attr, getattr(row, pk.key))
                        continue
                    setattr(row, attr, new)
                    counts["rotated"] += 1
                last = getattr(rows[-1], pk.key)
            if progress is not None:
                progress(model.__tablename__, attr, dict(counts))
    return counts
