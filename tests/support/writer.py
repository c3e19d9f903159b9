"""The message writer driven directly (`Processor.handle`), for the writer's tests: both ways of
writing a batch, the batches it made, a message as the codec hands it over."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest

from bot.core.router import Router
from bot.core.types import Incoming
from bot.keys import PROCESSOR, SESSIONMAKER
from bot.pipeline import Processor


@pytest.fixture(params=["fast", "core"])
def path(request: pytest.FixtureRequest, backend: str) -> str:
    """The writer's two ways of writing a batch (the fast one is SQLite's own)."""
    if request.param == "fast" and backend != "sqlite":
        pytest.skip("the fast path exists on SQLite only")
    return request.param


async def recording_processor(make_app, router: Router, path: str) -> AsyncIterator[Processor]:  # noqa: ANN001
    """The app's writer on `path`, keeping the openids of each batch in `processor.batches`."""
    app = make_app(extra_routers=[router])
    processor = app[PROCESSOR]
    processor.fast_rows = path == "fast"
    processor.batches = []
    run = processor._process

    async def recording(batch):  # noqa: ANN001, ANN202
        processor.batches.append([fl.msg.openid for fl in batch])
        return await run(batch)

    processor._process = recording
    yield processor
    await processor.close()
    await app[SESSIONMAKER].kw["bind"].dispose()


def incoming(openid: str, text: str, n: int = 1) -> Incoming:
    return Incoming(openid=openid, kind="text", create_time=datetime.now(timezone.utc), dedup_key=f"t:{openid}:{n}",
                    text=text, msg_id=str(n))


def says(raw: bytes | None, text: str) -> bool:
    return raw is not None and text.encode() in raw


def timed(proc: Processor):  # noqa: ANN201
    """A `send` that records when each reply came ("openid:text" → seconds since this call)."""
    started = time.perf_counter()
    done: dict[str, float] = {}

    async def send(m: Incoming) -> bytes | None:
        reply = await proc.handle(m)
        done[f"{m.openid}:{m.text}"] = time.perf_counter() - started
        return reply
    return send, done
