"""Encryption of sensitive fields at rest (ID numbers), with Fernet."""
from __future__ import annotations

import base64
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken

from bot.config import Settings

log = logging.getLogger("unionbot.crypto")


class FieldCrypto:
    def __init__(self, key: bytes) -> None:
        self._f = Fernet(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> "FieldCrypto":
        key = settings.admin.field_key
        if key:
            try:
                return cls(key.encode())
            except (ValueError, TypeError):
                # A passphrase rather than a Fernet key: derive one.
                return cls(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))
        log.warning("admin.field_key is not set: ID numbers are encrypted with a key derived from "
                    "admin.secret_key (set admin.field_key in production)")
        seed = (settings.admin.secret_key or "unionbot-development-only").encode()
        return cls(base64.urlsafe_b64encode(hashlib.sha256(b"field:" + seed).digest()))

    def encrypt(self, value: str) -> str:
        return self._f.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        try:
            return self._f.decrypt(token.encode()).decode()
        except InvalidToken:
            return None
