"""Settings for a test: its own database, a fixed admin secret, plus any sections it overrides."""
from __future__ import annotations

from pathlib import Path

from bot.config import Settings, build_settings

# A fixed key for personal fields in tests (online mode refuses to start without one).
TEST_FIELD_KEY = "87O73SCa9t2nJW-ZYrMI5T_qFxMmRvNMS1KWCg_e_Fs="


# The reply timeout of the modules that test a handler slower than it (their slow handlers sleep
# SLOW_HANDLER seconds): short enough to keep them quick, long enough that four batches of one
# user fit in it late in a full run on a busy CI machine (1 s did not, once).
SHORT_REPLY_TIMEOUT = 2.0
SLOW_HANDLER = SHORT_REPLY_TIMEOUT + 1.0


def short_reply_settings(db_url: str, tmp_path) -> Settings:  # noqa: ANN001
    return make_settings(db_url, tmp_path, server={"reply_timeout": SHORT_REPLY_TIMEOUT})


def make_settings(db_url: str, tmp_path, **sections) -> Settings:  # noqa: ANN001
    data = {
        "database": {"url": db_url},
        # Feature tests move the FakeClock days ahead while logged in: sessions outlive that here
        # (idle timeout and lifetime are tested with their real values in test_admin_sessions.py).
        "admin": {"secret_key": "test-secret-key-0123456789abcdef", "field_key": TEST_FIELD_KEY,
                  "session_idle_minutes": 10 * 365 * 24 * 60, "session_max_age": 10 * 365 * 24 * 3600},
        # As long as the settings allow (WeChat's 5 s less a margin): on a loaded shared machine a
        # message of a full run once took over 4 s, and the sim then got `success` (a late reply).
        # Tests of the 5-second rule set their own (short) timeout.
        "server": {"reply_timeout": 4.8},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return build_settings(data, env={})


def service_config(directory: Path, port: int, db_url: str, token: str) -> Path:
    """A config.toml for a real `python -m bot.processes` in `directory` (process tests)."""
    cfg = directory / "config.toml"
    cfg.write_text(f"""
[server]
host = "127.0.0.1"
port = {port}
[wechat]
token = "{token}"
[database]
url = "{db_url}"
[admin]
secret_key = "process-test-secret-0123456789abcdef"
""", encoding="utf-8")
    return cfg
