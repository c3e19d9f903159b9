"""Backups: made while the service writes, restored into a fresh service that answers as before;
retention of daily and monthly backups; restore refuses to overwrite; PostgreSQL without pg_dump."""
from __future__ import annotations

import asyncio
import sqlite3
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.app import create_app
from bot.backup import BackupError, make_backup, prune, restore, to_keep
from bot.cli import main
from bot.clock import FakeClock
from bot.db.engine import make_engine
from bot.db.migrate import upgrade
from bot.db.models.core import InboundMessage
from bot.jobs import JobContext
from bot.keys import SERVICES, SESSIONMAKER
from bot.wechat.simulator import WeChatSim
from scheduler.backup_job import nightly_backup
from tests.support.db import PG_URL
from tests.support.hardship import apply
from tests.support.settings import make_settings


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder}/data/unionbot.db"


async def serve(aiohttp_client, folder: Path, clock: FakeClock, monkeypatch):  # noqa: ANN001, ANN201
    """A service whose working directory is `folder` (media under folder/data/media), migrated like
    `unionbot serve` migrates the embedded database."""
    monkeypatch.chdir(folder)
    url = sqlite_url(folder)
    settings = make_settings(url, folder)
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    app = create_app(settings, clock=clock, engine=make_engine(url), background=False)
    client = await aiohttp_client(app)
    return app, WeChatSim(client, path=settings.server.webhook_path, token=settings.wechat.token, clock=clock)


async def count_inbound(app) -> int:  # noqa: ANN001
    async with app[SESSIONMAKER]() as s:
        return int(await s.scalar(select(func.count()).select_from(InboundMessage)))


async def test_backup_while_writing_restores_into_a_fresh_service(aiohttp_client, tmp_path, monkeypatch):  # noqa: ANN001
    clock = FakeClock()
    live = tmp_path / "live"
    live.mkdir()
    app, sim = await serve(aiohttp_client, live, clock, monkeypatch)
    worker = sim.user("oBackupWorker")
    await apply(worker)
    assert "BF-2026-0001" in await worker.send("确认")
    media = Path(app[SERVICES]["media_dir"])
    (live / media / "hardship" / "1").mkdir(parents=True)
    (live / media / "hardship" / "1" / "1.jpg").write_bytes(b"\xff\xd8jpeg-bytes")
    before = await count_inbound(app)

    # many users keep writing through the webhook while the backup copies the live database
    stop = asyncio.Event()

    async def chatter(n: int) -> int:
        u, sent = sim.user(f"oBusy{n}"), 0
        while not stop.is_set() or sent < 3:
            assert await u.send("帮助")
            sent += 1
        return sent

    writers = [asyncio.create_task(chatter(n)) for n in range(8)]
    await asyncio.sleep(0.05)
    result = await asyncio.to_thread(make_backup, sqlite_url(live), live / media, live / "backups",
                                     clock.local())
    stop.set()
    sent = sum(await asyncio.gather(*writers))
    after = await count_inbound(app)
    assert after == before + sent and sent >= 24

    archive = result.path
    assert archive.name.startswith("unionbot-2026") and archive.name.endswith(".tar.gz")
    assert result.media_files == 1
    with tarfile.open(archive) as tar:
        assert {"unionbot.db", "media/hardship/1/1.jpg"} <= set(tar.getnames())

    # a fresh directory, a fresh service on the restored database
    fresh = tmp_path / "fresh"
    (fresh / "data").mkdir(parents=True)
    monkeypatch.chdir(fresh)
    done = await asyncio.to_thread(restore, archive, sqlite_url(fresh), Path("data/media"), force=False,
                                   now_utc=clock.now())
    assert done["media_files"] == 1
    assert (fresh / "data/media/hardship/1/1.jpg").read_bytes() == b"\xff\xd8jpeg-bytes"
    with sqlite3.connect(fresh / "data/unionbot.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        restored = conn.execute("SELECT count(*) FROM inbound_message").fetchone()[0]
    assert before <= restored <= after  # a consistent snapshot taken while writes went on

    app2, sim2 = await serve(aiohttp_client, fresh, clock, monkeypatch)
    reply = await sim2.user("oBackupWorker").send("我的申请")
    assert "BF-2026-0001" in reply
    assert await sim2.user("oNewcomer").send("帮助")


def test_retention_keeps_daily_and_first_of_month(tmp_path) -> None:  # noqa: ANN001
    folder = tmp_path / "backups"
    folder.mkdir()
    start = datetime(2026, 1, 1, 3, 7, 0)
    names = []
    for day in range(400):  # one a night for 400 nights, and a manual one on the last day
        names.append(f"unionbot-{start + timedelta(days=day):%Y%m%d-%H%M%S}.tar.gz")
    names.append("unionbot-20270205-150000.tar.gz")
    for n in [*names, "notes.txt"]:
        (folder / n).write_bytes(b"x")

    deleted = prune(folder, keep_daily=7, keep_monthly=12)
    left = sorted(p.name for p in folder.iterdir())
    daily = [f"unionbot-202702{d:02d}-030700.tar.gz" for d in range(1, 5)] + [
        "unionbot-20270130-030700.tar.gz", "unionbot-20270131-030700.tar.gz", "unionbot-20270205-150000.tar.gz"]
    monthly = [f"unionbot-2026{m:02d}01-030700.tar.gz" for m in range(3, 13)] + [
        "unionbot-20270101-030700.tar.gz", "unionbot-20270201-030700.tar.gz"]
    assert left == sorted({*daily, *monthly, "notes.txt"})
    assert "unionbot-20270205-030700.tar.gz" not in left  # the day's newest one is kept
    assert len(deleted) == len(names) - len(set(daily) | set(monthly))
    assert to_keep(["unionbot-20261205-030700.tar.gz"], 7, 0) == {"unionbot-20261205-030700.tar.gz"}


async def test_nightly_job_makes_one_backup_a_day_from_the_hour(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    url = sqlite_url(tmp_path)
    await asyncio.to_thread(upgrade, url)
    settings = make_settings(url, tmp_path, backup={"dir": str(tmp_path / "nightly"), "hour": 3})
    clock = FakeClock(datetime(2026, 12, 5, 2, 0, tzinfo=timezone(timedelta(hours=8))))
    ctx = JobContext(settings=settings, sessionmaker=None, clock=clock,  # type: ignore[arg-type]
                     services={"media_dir": tmp_path / "media"})
    assert await nightly_backup(ctx) == "not yet"
    clock.advance(hours=8)  # 10:00: the service was down at 03:00, the day's backup is made now
    assert (await nightly_backup(ctx)).startswith("unionbot-20261205-100000.tar.gz")
    clock.advance(hours=1)
    assert await nightly_backup(ctx) == "done today"
    clock.advance(days=1)
    assert (await nightly_backup(ctx)).startswith("unionbot-20261206-110000.tar.gz")
    assert len(list((tmp_path / "nightly").iterdir())) == 2


def write_config(folder: Path, url: str) -> Path:
    cfg = folder / "config.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n[backup]\ndir = "{folder / "backups"}"\n', encoding="utf-8")
    return cfg


def test_cli_backup_and_restore_refuse_to_overwrite(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    url = sqlite_url(tmp_path)
    upgrade(url)
    cfg = write_config(tmp_path, url)
    runner = CliRunner()
    made = runner.invoke(main, ["backup", "--config", str(cfg)])
    assert made.exit_code == 0, made.output
    [archive] = (tmp_path / "backups").iterdir()

    refused = runner.invoke(main, ["restore", str(archive), "--config", str(cfg)])
    assert refused.exit_code == 2 and "--force" in refused.output and "exists" in refused.output

    # a running service (its scheduler lease is current) is never overwritten, even with --force
    with sqlite3.connect(tmp_path / "data/unionbot.db") as conn:
        soon = (datetime.now(timezone.utc) + timedelta(seconds=15)).replace(tzinfo=None)
        conn.execute("INSERT INTO lease (name, holder, expires_at) VALUES ('scheduler', 'h:1', ?)",
                     (soon.isoformat(sep=" "),))
    busy = runner.invoke(main, ["restore", str(archive), "--force", "--config", str(cfg)])
    assert busy.exit_code == 2 and "running" in busy.output

    with sqlite3.connect(tmp_path / "data/unionbot.db") as conn:
        conn.execute("DELETE FROM lease")
    Path(str(tmp_path / "data/unionbot.db") + "-wal").write_bytes(b"stale wal of the old database")
    forced = runner.invoke(main, ["restore", str(archive), "--force", "--config", str(cfg)])
    assert forced.exit_code == 0, forced.output
    assert not Path(str(tmp_path / "data/unionbot.db") + "-wal").exists()

    broken = tmp_path / "unionbot-20261205-000000.tar.gz"
    broken.write_bytes(archive.read_bytes()[:200])
    bad = runner.invoke(main, ["restore", str(broken), "--force", "--config", str(cfg)])
    assert bad.exit_code == 2 and "restore error" in bad.output, (bad.output, bad.exc_info)


def test_postgresql_without_pg_dump_says_so_in_one_line(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    cfg = write_config(tmp_path, "postgresql+asyncpg://unionbot@127.0.0.1:1/unionbot")
    result = CliRunner().invoke(main, ["backup", "--config", str(cfg)])
    assert result.exit_code == 2
    assert result.output.strip() == result.output.strip().splitlines()[0]
    assert "pg_dump is not on PATH" in result.output
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())
    with pytest.raises(BackupError, match="pg_dump is not on PATH"):
        make_backup("postgresql+asyncpg://u@127.0.0.1:1/x", tmp_path / "media", tmp_path / "b", datetime.now())


def _pg_databases(n: int) -> list[str]:
    import uuid

    return [f"ub_backup_{uuid.uuid4().hex[:10]}" for _ in range(n)]


async def _pg_admin(sql: list[str]) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for stmt in sql:
                await conn.execute(text(stmt))
    finally:
        await engine.dispose()


if PG_URL:  # the PostgreSQL path runs where the suite runs on PostgreSQL (.ci)
    async def test_postgresql_backup_and_restore_with_pg_dump(tmp_path) -> None:  # noqa: ANN001
        import shutil

        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        assert shutil.which("pg_dump") and shutil.which("pg_restore"), "the PostgreSQL client is needed here"
        src_db, dst_db = _pg_databases(2)
        base = make_url(PG_URL)
        src = base.set(database=src_db).render_as_string(hide_password=False)
        dst = base.set(database=dst_db).render_as_string(hide_password=False)
        await _pg_admin([f'CREATE DATABASE "{src_db}"', f'CREATE DATABASE "{dst_db}"'])
        try:
            await asyncio.to_thread(upgrade, src)
            engine = make_engine(src)
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO lease (name, holder, expires_at) "
                                        "VALUES ('marker', 'from-backup', now())"))
            await engine.dispose()
            (tmp_path / "media" / "x").mkdir(parents=True)
            (tmp_path / "media" / "x" / "p.jpg").write_bytes(b"photo")
            result = await asyncio.to_thread(make_backup, src, tmp_path / "media", tmp_path / "b", datetime.now())
            with tarfile.open(result.path) as tar:
                assert "unionbot.pgdump" in tar.getnames()
            await asyncio.to_thread(upgrade, dst)
            with pytest.raises(BackupError, match="--force"):
                await asyncio.to_thread(restore, result.path, dst, tmp_path / "m2", force=False,
                                        now_utc=datetime.now(timezone.utc))
            await asyncio.to_thread(restore, result.path, dst, tmp_path / "m2", force=True,
                                    now_utc=datetime.now(timezone.utc))
            assert (tmp_path / "m2" / "x" / "p.jpg").read_bytes() == b"photo"
            engine = make_engine(dst)
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT holder FROM lease WHERE name = 'marker'")) == "from-backup"
            await engine.dispose()
        finally:
            await _pg_admin([f'DROP DATABASE IF EXISTS "{src_db}" WITH (FORCE)',
                             f'DROP DATABASE IF EXISTS "{dst_db}" WITH (FORCE)'])
