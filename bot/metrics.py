"""Prometheus metrics and structured logs.

One `Metrics` object per app, on its own CollectorRegistry (tests build many apps in one
process; the default global registry would refuse duplicate names).

Hooks, all cheap and synchronous:
- `handled(msg, outcome, seconds)`: the Processor calls it for every message it runs;
- `delivered(row_status, via)` / `failed(errcode)`: the delivery layer calls them per row;
- `refresh_backlog(sessionmaker)`: one COUNT of pending outbox rows, run on each scrape.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

# Handler latency buckets, seconds: the passive reply must leave within ~4.5 s.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages = Counter("unionbot_messages_handled", "Messages and events handled by the pipeline.",
                                ["kind", "outcome"], registry=r)
        self.latency = Histogram("unionbot_handler_seconds", "Time to handle one message (claim to commit).",
                                 ["kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.backlog = Gauge("unionbot_outbox_backlog", "Outbox rows waiting to be sent (pending or sending).",
                             registry=r)
        self.deliveries = Counter("unionbot_outbox_delivered", "Outbox rows finished, by final status and channel.",
                                  ["status", "via"], registry=r)
        self.failures = Counter("unionbot_delivery_failures", "WeChat API calls that failed, by errcode.",
                                ["errcode"], registry=r)
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    # ---- hooks -------------------------------------------------------------
    def handled(self, msg: Any, outcome: str, seconds: float) -> None:
        kind = getattr(msg, "kind", None) or "unknown"
        children = self._children.get((kind, outcome))
        if children is None:  # `labels()` looks its child up under a lock each time (~6 µs a message)
            children = self._children[(kind, outcome)] = (self.messages.labels(kind=kind, outcome=outcome),
                                                          self.latency.labels(kind=kind))
        children[0].inc()
        children[1].observe(seconds)

    def delivered(self, row_status: str, via: str | None = None) -> None:
        self.deliveries.labels(status=row_status or "unknown", via=via or "none").inc()

    def failed(self, errcode: int | str | None) -> None:
        self.failures.labels(errcode=str(errcode if errcode is not None else "network")).inc()

    # ---- scrape ------------------------------------------------------------
    async def refresh_backlog(self, sessionmaker: Any) -> None:
        from bot.db.models import Outbox

        async with sessionmaker() as s:
            n = await s.scalar(select(func.count()).select_from(Outbox)
                               .where(Outbox.status.in_(("pending", "sending"))))
        self.backlog.set(n or 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# ---- structured logs -----------------------------------------------------------

_STD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, the message `key` and any other extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STD and not k.startswith("_"):
                out[k] = v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with `key=<dedup key>` when the record has one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k}={v}" for k, v in record.__dict__.items() if k not in _STD and not k.startswith("_")]
        if extras:
            first, nl, rest = line.partition("\n")
            line = first + " " + " ".join(extras) + nl + rest
        return line


def setup_logging(level: str | int = "INFO", json: bool = False) -> None:  # noqa: A002
    """Configure the root logger once: JSON lines (for log shippers) or key=value text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else KeyValueFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
