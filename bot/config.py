"""Typed settings loaded from TOML (plus environment variables for secrets).

Every key is validated at start; an unknown key or a wrong type raises
`ConfigError` whose message is one line naming the key, so `unionbot serve`
can stop with that line instead of a traceback.
"""
from __future__ import annotations

import logging
import os
import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG_PATH = Path("config.toml")
WECHAT_API = "https://api.weixin.qq.com"


class ConfigError(Exception):
    """A configuration problem, worded as one line for the operator."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    webhook_path: str = "/wechat"
    # Public base URL, used in links sent to users and staff (optional).
    public_url: str = ""
    # Seconds a handler may run before the webhook answers `success` and the
    # reply goes out through the outbox instead (WeChat waits 5 s).
    reply_timeout: float = Field(4.0, gt=0, le=4.8)
    # Largest accepted webhook body, in bytes.
    max_body: int = Field(64 * 1024, ge=1024)
    # Largest accepted request body in the staff admin (/admin: imports, photos), in bytes.
    admin_max_body: int = Field(10 * 1024 * 1024, ge=64 * 1024, le=200 * 1024 * 1024)
    # Seconds a signed timestamp may be off from our clock.
    timestamp_tolerance: int = Field(300, ge=30)
    # True when a reverse proxy (nginx) in front sets X-Forwarded-For/-Proto: the
    # client's address then comes from those headers (login throttling, audit log).
    behind_proxy: bool = False
    # /metrics and the details of /readyz answer loopback callers, or callers sending
    # `Authorization: Bearer <metrics_token>` (empty: loopback only).
    metrics_token: str = ""

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must start with '/'")
        return v


class MenuButton(_Section):
    name: str
    key: str = ""
    url: str = ""
    sub: list["MenuButton"] = []


class WeChatSettings(_Section):
    app_id: str = ""
    app_secret: str = ""
    token: str = "unionbot-dev-token"
    encoding_aes_key: str = ""
    api_base_url: str = WECHAT_API
    # Template ids per kind of outbound message (e.g. hardship_status,
    # chair_reminder, signup_reminder, quiz_open). Missing → customer-service
    # message only, or `unreachable` outside the user's window.
    templates: dict[str, str] = {}
    # The custom menu pushed by `unionbot menu push` while staff have saved none in the admin.
    menu: list[MenuButton] = []

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes(cls, v: str) -> str:
        if v and len(v) != 43:
            raise ValueError("must be the 43-character EncodingAESKey from the WeChat console")
        return v

    @property
    def offline(self) -> bool:
        return not self.app_id


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///./data/unionbot.db"
    echo: bool = False
    pool_size: int = Field(10, ge=1)
    # SQLite: "normal" (a power cut can take back the last second of commits) or "full" (every
    # commit on disk before the reply; slower). docs/deploy.md §7.
    sqlite_synchronous: Literal["normal", "full"] = "normal"


class AdminSettings(_Section):
    # Signs nothing any more (staff sessions live in the database; the cookie is a random token).
    # Only read to re-encrypt ID numbers older versions derived from it (`unionbot keys rotate`).
    secret_key: str = ""
    # The key of personal fields at rest (ID numbers): 44 characters, from `unionbot keys generate`.
    # Required once wechat.app_id is set; see docs/security.md for rotation.
    field_key: str = ""
    # The previous field_key while `unionbot keys rotate` moves stored values to the new one.
    field_key_old: str = ""
    # A staff login ends after this many seconds in any case (absolute lifetime) …
    session_max_age: int = Field(8 * 3600, ge=60)
    # … and after this many minutes without a page view (idle timeout).
    session_idle_minutes: int = Field(30, ge=5)  # last_seen is written once a minute
    # Wrong passwords for one username from one address before that pair must wait
    # login_block_seconds; each further failure doubles the wait, up to login_lockout_seconds.
    login_max_failures: int = Field(5, ge=1)
    login_block_seconds: int = Field(60, ge=1)
    login_lockout_seconds: int = Field(900, ge=1)
    # Failed logins (any usernames) from one address within the window before the address waits
    # one window. Behind nginx this needs [server] behind_proxy = true (docs/deploy.md).
    login_address_max_failures: int = Field(50, ge=5)
    login_address_window_seconds: int = Field(900, ge=60)
    page_size: int = Field(20, ge=5, le=200)

    @field_validator("field_key")
    @classmethod
    def _field_key(cls, v: str) -> str:
        v = v.strip()
        if v and not _is_fernet_key(v):
            raise ValueError("must be a key made by `unionbot keys generate` (44 characters); "
                             "an older passphrase goes into admin.field_key_old, then run `unionbot keys rotate`")
        return v


def _is_fernet_key(v: str) -> bool:
    import base64
    import binascii

    try:
        return len(v) == 44 and len(base64.urlsafe_b64decode(v.encode("ascii"))) == 32
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False


def check_keys(settings: "Settings") -> None:
    """At the service's start: with a WeChat account (online), personal fields need their own key."""
    if not settings.wechat.offline and not settings.admin.field_key:
        raise ConfigError("config error: 'admin.field_key' must be set when wechat.app_id is set (it encrypts "
                          "ID numbers); create one with `unionbot keys generate` or set UNIONBOT_ADMIN_FIELD_KEY")


def check_proxy(settings: "Settings") -> None:
    """An https public_url means a proxy (nginx) terminates TLS in front of the service: without
    behind_proxy every visitor would have the proxy's address, and one address's login limit
    would lock every staff member out."""
    if settings.server.public_url.lower().startswith("https://") and not settings.server.behind_proxy:
        raise ConfigError("config error: 'server.behind_proxy' must be true when server.public_url is https "
                          "(a proxy such as nginx is in front; otherwise every visitor has the proxy's address "
                          "and login throttling counts them all as one); see docs/deploy.md")


def _known_timezone(v: str | None) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if v is None:
        return v
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not a known IANA timezone, e.g. Asia/Shanghai") from None
    return v


class AppSettings(_Section):
    # The service's timezone: every local time (reminders, deadlines, dates shown) uses it.
    timezone: str = "Asia/Shanghai"

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _known_timezone(v)))


class SchedulerSettings(_Section):
    enabled: bool = True
    # Deprecated: the old name of [app] timezone, still read (with a warning).
    timezone: str | None = None

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _known_timezone(v)))


class OutboxSettings(_Section):
    concurrency: int = Field(16, ge=1, le=500)
    max_attempts: int = Field(6, ge=1)
    poll_seconds: float = Field(1.0, gt=0)
    backoff_base: float = Field(2.0, gt=0)
    backoff_cap: float = Field(600.0, gt=0)


class DialogueSettings(_Section):
    # An unfinished dialogue older than this is dropped (with a message) on the
    # user's next message.
    expire_hours: int = Field(72, ge=1)


class HardshipSettings(_Section):
    # Local minimum-living standard (低保标准), yuan per person per month, by year.
    dibao: dict[str, float] = {"2026": 1200.0}
    consent_version: str = "2026-1"
    expire_days: int = Field(7, ge=1)
    # Days personal data of a closed request is kept before anonymisation.
    retention_days: int = Field(730, ge=1)


class ChairsSettings(_Section):
    # Day of the quarter's last month by which the report is due (moved back to a working day).
    deadline_day: int = Field(25, ge=1, le=31)
    # Working days before the deadline at which the chair is reminded.
    remind_before: list[int] = [7, 3, 1]
    # Working days after the deadline: a reminder to the chair and to staff.
    escalate_after: int = Field(1, ge=1)
    # Working days after the deadline: the unit goes onto the quarter's 通报 list.
    notice_after: int = Field(3, ge=1)
    # Hour of the day reminders are sent.
    remind_hour: int = Field(9, ge=0, le=23)
    # A reminder more than this many hours late is skipped and recorded, not sent stale.
    max_lateness_hours: int = Field(48, ge=1)
    # Hours a one-time binding code stays valid.
    bind_code_ttl_hours: int = Field(72, ge=1)
    # Wrong binding codes allowed per WeChat account per hour before further tries are refused.
    bind_max_failures: int = Field(5, ge=1)
    # openids of staff who get the escalation message (optional).
    staff_openids: list[str] = []

    @field_validator("remind_before")
    @classmethod
    def _before(cls, v: list[int]) -> list[int]:
        if any(n < 1 or n > 40 for n in v):
            raise ValueError("must list working days between 1 and 40, e.g. [7, 3, 1]")
        return v


class SignupSettings(_Section):
    # Time of day (on the day before) reminders are sent.
    reminder_time: time = time(18, 0)
    # Check-in (签到 code or QR scan) opens this many minutes before the start...
    checkin_before_minutes: int = Field(60, ge=0, le=24 * 60)
    # ...and stays open this many minutes after the end.
    checkin_after_minutes: int = Field(0, ge=0, le=24 * 60)


class QuizSettings(_Section):
    questions_per_month: int = Field(1, ge=1, le=20)
    questions_per_half: int = Field(10, ge=1, le=100)
    month_weight: float = Field(1.0, ge=0)
    half_weight: float = Field(2.0, ge=0)
    notify_on_open: bool = False


class OfficeSettings(_Section):
    """The union office as workers see it: every 「致电」 and the welcome carry these."""
    name: str = "街道总工会"
    phone: str = "010-12345678"
    address: str = ""
    hours: str = "工作日 9:00–17:00"

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        if not v.strip() or not any(ch.isdecimal() for ch in v):
            raise ValueError("must be the office's phone number, e.g. 010-12345678")
        return v.strip()

    def call_line(self) -> str:
        """「致电街道总工会（010-…）」: how a worker reaches a person."""
        return f"致电{self.name}（{self.phone}）"

    def card(self) -> str:
        """The office's name, phone, hours and address (asked for on the phone when none is set),
        and how to write to staff: the 办公时间 reply and the FAQ's starter answer."""
        return "\n".join([self.name, f"电话：{self.phone}", f"办公时间：{self.hours}",
                          f"地址：{self.address}" if self.address else "地址：请来电询问，我们告诉您怎么走。",
                          "有事也可以回复「留言」，工作人员会在这里回复您。"])


class FederationSettings(_Section):
    """The street federation (街道总工会) and its community unions (社区联合工会)."""
    # The communities a worker may name in the hardship and sign-up dialogues (a numbered
    # choice), and staff may give a request or an activity; a community account
    # (`unionbot staff add NAME --role ROLE --community NAME`) sees only its community's records.
    # Empty: the question is not asked.
    communities: list[str] = []

    @field_validator("communities")
    @classmethod
    def _communities(cls, v: list[str]) -> list[str]:
        names = [str(c).strip() for c in v]
        if any(not c for c in names):
            raise ValueError("community names must not be empty")
        if any(len(c) > 64 for c in names):
            raise ValueError("each community name must be at most 64 characters")
        if len(set(names)) != len(names):
            raise ValueError("each community must be named once")
        if len(names) > 50:
            raise ValueError("at most 50 communities")
        return names


class InboxSettings(_Section):
    """Workers' questions that reach a person (the staff inbox)."""
    # What a worker picks when they write to the union (留言 / 人工 / 咨询 / 联系工会).
    topics: list[str] = ["劳动争议/讨薪", "工伤", "帮扶", "入会", "其他"]
    # Hand questions no one can answer here to WeChat's own customer-service system instead.
    transfer_to_wechat_kf: bool = False
    # A thread with nothing new for this long is closed (the worker is told).
    close_after_days: int = Field(14, ge=1)

    @field_validator("topics")
    @classmethod
    def _topics(cls, v: list[str]) -> list[str]:
        topics = [t.strip() for t in v if t.strip()]
        if not topics or len(topics) > 9:
            raise ValueError("must name 1 to 9 topics, e.g. [\"劳动争议/讨薪\", \"工伤\", \"其他\"]")
        if any(len(t) > 32 for t in topics) or len(set(topics)) != len(topics):
            raise ValueError("each topic must be unique and at most 32 characters")
        return topics


class BackupSettings(_Section):
    """Nightly backups of the database and the media folder (bot/backup.py, docs/deploy.md)."""
    # Where backups go (relative to the working directory, like the database's default).
    dir: str = "data/backups"
    # Keep the newest backup of each of the last keep_daily days ...
    keep_daily: int = Field(7, ge=1)
    # ... and the first backup of each of the last keep_monthly months.
    keep_monthly: int = Field(12, ge=0)
    # Local hour of the day (app.timezone) from which the nightly backup is made.
    hour: int = Field(3, ge=0, le=23)


class RetentionSettings(_Section):
    """How long the framework's own records are kept (scheduler/retention.py); old rows are
    deleted nightly in small batches."""
    # Days a message's dedup record (with the reply given) is kept. WeChat re-sends within 15 s;
    # a week still recognises a re-delivery after an outage.
    inbound_days: int = Field(7, ge=1)
    # Days outbound messages that went out (sent, simulated) or were cancelled are kept; messages
    # that may not have reached the person (failed, unreachable, uncertain) stay until staff
    # followed them up, then as long. At least 200: a quiz period (up to half a year) knows whom
    # it already notified from these rows.
    outbox_days: int = Field(400, ge=200)
    # Days ended staff logins (logged out, revoked, idle, expired) are kept, for the sessions page.
    staff_session_days: int = Field(30, ge=1)
    # Rows deleted per statement (each its own short transaction, so the writer is never held long).
    batch_size: int = Field(500, ge=10, le=100_000)


class Settings(_Section):
    app: AppSettings = AppSettings()
    server: ServerSettings = ServerSettings()
    office: OfficeSettings = OfficeSettings()
    wechat: WeChatSettings = WeChatSettings()
    database: DatabaseSettings = DatabaseSettings()
    admin: AdminSettings = AdminSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    outbox: OutboxSettings = OutboxSettings()
    dialogue: DialogueSettings = DialogueSettings()
    hardship: HardshipSettings = HardshipSettings()
    chairs: ChairsSettings = ChairsSettings()
    signup: SignupSettings = SignupSettings()
    quiz: QuizSettings = QuizSettings()
    inbox: InboxSettings = InboxSettings()
    federation: FederationSettings = FederationSettings()
    retention: RetentionSettings = RetentionSettings()
    backup: BackupSettings = BackupSettings()


# Environment variables that override secrets (and a few deployment keys).
ENV_KEYS = {
    "UNIONBOT_WECHAT_APP_ID": ("wechat", "app_id"),
    "UNIONBOT_WECHAT_APP_SECRET": ("wechat", "app_secret"),
    "UNIONBOT_WECHAT_TOKEN": ("wechat", "token"),
    "UNIONBOT_WECHAT_ENCODING_AES_KEY": ("wechat", "encoding_aes_key"),
    "UNIONBOT_DATABASE_URL": ("database", "url"),
    "UNIONBOT_ADMIN_SECRET_KEY": ("admin", "secret_key"),
    "UNIONBOT_ADMIN_FIELD_KEY": ("admin", "field_key"),
    "UNIONBOT_ADMIN_FIELD_KEY_OLD": ("admin", "field_key_old"),
    "UNIONBOT_SERVER_METRICS_TOKEN": ("server", "metrics_token"),
}


SECRET_WORDS = ("key", "secret", "token", "password")


def _describe(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"config error: unknown key '{key}'"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    text = f"config error: '{key}' {msg[0].lower() + msg[1:] if msg else ''}"
    if any(word in key for word in SECRET_WORDS):  # never echo a secret into logs (even a wrong one)
        return text
    return f"{text} (got {err.get('input')!r})"


def build_settings(data: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    """Validate a config mapping (as read from TOML) plus environment overrides."""
    env = os.environ if env is None else env
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for var, (section, key) in ENV_KEYS.items():
        if env.get(var):
            sec = data.setdefault(section, {})
            if isinstance(sec, dict):
                sec[key] = env[var]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0])) from None
    check_proxy(settings)
    old = settings.scheduler.timezone
    if old is not None:
        given = (data.get("app") or {}).get("timezone") if isinstance(data.get("app"), dict) else None
        if given is not None and given != old:
            raise ConfigError(f"config error: 'scheduler.timezone' ({old!r}) contradicts 'app.timezone' ({given!r}); "
                              "keep only [app] timezone")
        logging.getLogger("unionbot.config").warning(
            "config: 'scheduler.timezone' is the old name of 'app.timezone' (the whole service's timezone); "
            "please rename it")
        settings.app.timezone = old
    return settings


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load settings from `path`, or ./config.toml if present, else defaults."""
    if path is None:
        path = DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config error: file not found: {p}")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config error: {p} is not valid TOML: {exc}") from None
    return build_settings(data, env)
