"""Settings for a test: its own database, a fixed admin secret, plus any sections it overrides."""
from __future__ import annotations

from bot.config import Settings, build_settings


def make_settings(db_url: str, tmp_path, **sections) -> Settings:  # noqa: ANN001
    data = {
        "database": {"url": db_url},
        "admin": {"secret_key": "test-secret-key-0123456789abcdef"},
        "server": {"reply_timeout": 4.0},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return build_settings(data, env={})
