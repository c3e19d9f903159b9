"""Backups of the whole service's memory: the database and the media folder (workers' photos).

One backup is one file, `<dir>/unionbot-YYYYMMDD-HHMMSS.tar.gz` (service-local time), holding

    unionbot.db        SQLite: a copy made with the online backup API (consistent while the
                       service writes; a read transaction in WAL mode never blocks the writer)
    unionbot.pgdump    PostgreSQL: `pg_dump --format=custom`
    media/...          the media folder (photos), as it was

The copy is checked before the archive is kept (`PRAGMA integrity_check`; the archive is read
back in full), and written under a temporary name first, so a backup that exists is whole.

Retention (`prune`): the newest backup of each of the last `keep_daily` days that have one and
the first backup of each of the last `keep_monthly` months; other `unionbot-*.tar.gz` files in
the folder are deleted. Restore (`restore`): database and media back in place, then migrations.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger("unionbot.backup")

NAME_RE = re.compile(r"^unionbot-(\d{8})-(\d{6})\.tar\.gz$")
DB_MEMBER = "unionbot.db"
PG_MEMBER = "unionbot.pgdump"
MEDIA_MEMBER = "media"


class BackupError(Exception):
    """A backup or restore that cannot be done, worded as one line for the operator."""


@dataclass
class BackupResult:
    path: Path
    size: int
    media_files: int


def backup_name(when: datetime) -> str:
    return f"unionbot-{when:%Y%m%d-%H%M%S}.tar.gz"


def stamp_of(name: str) -> datetime | None:
    """The local time a backup file's name carries, or None for any other file."""
    m = NAME_RE.match(name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        return None


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for PostgreSQL); BackupError for an in-memory database."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    if not u.database or u.database == ":memory:":
        raise BackupError("backup error: an in-memory SQLite database cannot be backed up")
    return Path(u.database)


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as pg_dump/pg_restore take it (postgresql://…)."""
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise BackupError(f"backup error: {name} is not on PATH; install the PostgreSQL client "
                          f"(Debian: apt install postgresql-client) or back up with your own {name}")
    return exe


# ---- writing a backup ------------------------------------------------------------------

def copy_sqlite(src: Path, dest: Path) -> None:
    """Online copy of a live SQLite database into `dest` (one self-contained file), then check it."""
    if not src.exists():
        raise BackupError(f"backup error: database file not found: {src}")
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(dest)
        try:
            source.backup(target)  # one step: a single read transaction, a consistent snapshot
            target.execute("PRAGMA journal_mode=DELETE")  # the copy needs no -wal file beside it
            check_sqlite(target, dest)
        except sqlite3.DatabaseError as exc:  # a damaged or unreadable database: one line, no traceback
            raise BackupError(f"backup error: cannot read {src}: {exc}") from exc
        finally:
            target.close()
    finally:
        source.close()


def check_sqlite(conn: sqlite3.Connection, label: Path | str) -> None:
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    if rows != ["ok"]:
        raise BackupError(f"backup error: integrity check of {label} failed: {'; '.join(rows[:3])}")


def dump_postgresql(url: str, dest: Path) -> None:
    exe = _pg_tool("pg_dump")
    proc = subprocess.run([exe, "--format=custom", "--no-owner", f"--file={dest}", f"--dbname={libpq_url(url)}"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"backup error: pg_dump failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    # the custom format is checked by listing its table of contents
    exe_restore = shutil.which("pg_restore")
    if exe_restore:
        check = subprocess.run([exe_restore, "--list", str(dest)], capture_output=True, text=True)
        if check.returncode != 0:
            raise BackupError("backup error: the pg_dump file cannot be read back (pg_restore --list failed)")


def _verify_archive(path: Path) -> int:
    """Read the whole archive back; the database member must be there. Returns the member count."""
    n = 0
    found = False
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                n += 1
                if member.name in (DB_MEMBER, PG_MEMBER):
                    found = True
                if member.isfile():
                    f = tar.extractfile(member)
                    assert f is not None
                    while f.read(1 << 20):
                        pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"backup error: the archive {path.name} cannot be read back: {exc}") from None
    if not found:
        raise BackupError(f"backup error: the archive {path.name} holds no database")
    return n


def make_backup(url: str, media_dir: Path | str, dest_dir: Path | str, now_local: datetime) -> BackupResult:
    """Write one backup into `dest_dir` (blocking: call it in a thread from async code)."""
    dest_dir = Path(dest_dir)
    media_dir = Path(media_dir)
    db_file = sqlite_path(url)
    if db_file is None:
        _pg_tool("pg_dump")  # before anything is written: the one-line message when it is missing
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / backup_name(now_local)
    if final.exists():
        raise BackupError(f"backup error: {final} exists already")
    with tempfile.TemporaryDirectory(prefix=".unionbot-backup-", dir=dest_dir) as tmp:
        tmpdir = Path(tmp)
        if db_file is not None:
            member, copy = DB_MEMBER, tmpdir / DB_MEMBER
            copy_sqlite(db_file, copy)
        else:
            member, copy = PG_MEMBER, tmpdir / PG_MEMBER
            dump_postgresql(url, copy)
        part = tmpdir / (final.name + ".part")
        media_files = 0
        with tarfile.open(part, "w:gz", compresslevel=6) as tar:
            tar.add(copy, arcname=member)
            if media_dir.is_dir():
                tar.add(media_dir, arcname=MEDIA_MEMBER)
                media_files = sum(1 for p in media_dir.rglob("*") if p.is_file())
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        _verify_archive(part)
        os.replace(part, final)
    log.info("backup written: %s (%d bytes, %d media files)", final, final.stat().st_size, media_files)
    return BackupResult(final, final.stat().st_size, media_files)


# ---- retention -------------------------------------------------------------------------

def to_keep(names: list[str], keep_daily: int, keep_monthly: int) -> set[str]:
    """Which backup names retention keeps: the newest of each of the last `keep_daily` days and
    the first of each of the last `keep_monthly` months (names that are not backups: all)."""
    stamped = sorted((s, n) for n in names if (s := stamp_of(n)) is not None)
    keep = {n for n in names if stamp_of(n) is None}
    by_day: dict[date, str] = {}
    by_month: dict[tuple[int, int], str] = {}
    for s, n in stamped:  # oldest first
        by_day[s.date()] = n  # the last one of the day wins
        by_month.setdefault((s.year, s.month), n)  # the first one of the month wins
    keep |= {by_day[d] for d in sorted(by_day)[-keep_daily:]} if keep_daily > 0 else set()
    keep |= {by_month[m] for m in sorted(by_month)[-keep_monthly:]} if keep_monthly > 0 else set()
    return keep


def prune(dest_dir: Path | str, keep_daily: int, keep_monthly: int) -> list[Path]:
    """Delete the backups retention does not keep; returns what was deleted."""
    dest_dir = Path(dest_dir)
    if not dest_dir.is_dir():
        return []
    names = [p.name for p in dest_dir.iterdir() if p.is_file()]
    keep = to_keep(names, keep_daily, keep_monthly)
    gone = []
    for name in sorted(names):
        if name not in keep:
            (dest_dir / name).unlink(missing_ok=True)
            gone.append(dest_dir / name)
    if gone:
        log.info("backups pruned: %s", ", ".join(p.name for p in gone))
    return gone


def has_backup_since(dest_dir: Path | str, since_local: datetime) -> bool:
    dest_dir = Path(dest_dir)
    if not dest_dir.is_dir():
        return False
    naive = since_local.replace(tzinfo=None)
    return any((s := stamp_of(p.name)) is not None and s >= naive for p in dest_dir.iterdir())


# ---- restore ---------------------------------------------------------------------------

def _members(tar: tarfile.TarFile, label: str) -> list[tarfile.TarInfo]:
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"restore error: {label} cannot be read (damaged or cut short): {exc!r}") from None
    for m in members:
        parts = Path(m.name).parts
        if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
            raise BackupError(f"restore error: unexpected entry in the archive: {m.name!r}")
    return members


def sqlite_in_use(db_file: Path, now_utc: datetime) -> bool:
    """True when a process holds the scheduler's lease on this file (a running `unionbot serve`
    with the scheduler enabled renews it every 5 s; it lapses 15 s after the process stops)."""
    if not db_file.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("SELECT expires_at FROM lease").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # no lease table (or not a database): nothing says it is in use
    naive_now = now_utc.astimezone(timezone.utc).replace(tzinfo=None)
    for (expires,) in rows:
        try:
            if datetime.fromisoformat(str(expires)).replace(tzinfo=None) > naive_now:
                return True
        except ValueError:
            continue
    return False


def _database_exists(url: str, db_file: Path | None) -> bool:
    if db_file is not None:
        return db_file.exists() and db_file.stat().st_size > 0
    import asyncio

    from sqlalchemy import text

    from bot.db.engine import make_engine

    async def count() -> int:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return int(await conn.scalar(text(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()")) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count()) > 0


def restore(archive: Path | str, url: str, media_dir: Path | str, *, force: bool, now_utc: datetime) -> dict:
    """Put a backup's database and media back in place, then migrate the database to this version.
    Blocking, and not to be called while the service runs."""
    from bot.db.migrate import upgrade

    archive = Path(archive)
    media_dir = Path(media_dir)
    if not archive.is_file():
        raise BackupError(f"restore error: no such file: {archive}")
    db_file = sqlite_path(url)
    if db_file is not None and sqlite_in_use(db_file, now_utc):
        raise BackupError(f"restore error: {db_file} is in use by a running unionbot (its scheduler lease is "
                          "current); stop the service first")
    if db_file is None:
        _pg_tool("pg_restore")
    if not force and _database_exists(url, db_file):
        raise BackupError(f"restore error: the database {db_file or make_url(url).database} exists; "
                          "restoring replaces it: add --force (stop the service first)")
    (db_file.parent if db_file is not None else media_dir.parent).mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"restore error: {archive.name} is not a unionbot backup: {exc}") from None
    with tar, tempfile.TemporaryDirectory(prefix=".unionbot-restore-",
                                          dir=db_file.parent if db_file is not None else media_dir.parent) as tmp:
        tmpdir = Path(tmp)
        members = _members(tar, archive.name)
        names = {m.name for m in members}
        wanted = DB_MEMBER if db_file is not None else PG_MEMBER
        if wanted not in names:
            other = PG_MEMBER if wanted == DB_MEMBER else DB_MEMBER
            hint = (" (it is a backup of the other kind of database)" if other in names else "")
            raise BackupError(f"restore error: {archive.name} holds no {wanted}{hint}")
        try:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmpdir, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4; members were checked above
                tar.extractall(tmpdir, members=members)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise BackupError(f"restore error: {archive.name} cannot be read: {exc!r}") from None
        restored_db = tmpdir / wanted
        if db_file is not None:
            conn = sqlite3.connect(restored_db)
            try:
                check_sqlite(conn, archive.name)
            finally:
                conn.close()
            staged = db_file.with_name(db_file.name + ".restoring")
            shutil.move(str(restored_db), staged)
            # the old database's WAL must not be applied to the restored file
            for suffix in ("-wal", "-shm", "-journal"):
                Path(str(db_file) + suffix).unlink(missing_ok=True)
            os.replace(staged, db_file)
        else:
            proc = subprocess.run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
                                   f"--dbname={libpq_url(url)}", str(restored_db)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["exit code %d" % proc.returncode])[-1]
                raise BackupError(f"restore error: pg_restore failed: {last}")
        media_files = 0
        src_media = tmpdir / MEDIA_MEMBER
        if src_media.is_dir():
            media_files = sum(1 for p in src_media.rglob("*") if p.is_file())
            if media_dir.exists():
                shutil.rmtree(media_dir)
            media_dir.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src_media), media_dir)
    upgrade(url)
    return {"database": str(db_file or make_url(url).database), "media_files": media_files}
