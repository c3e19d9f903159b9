"""Promises of the README and docs/ that had no test of their own (see docs/guarantees.md):
a batch commits together or not at all, the last admin stays, the service never deletes audit
rows, and the field key is never inside a backup."""
from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

import bot.pipeline as pipeline
from bot.app import features
from bot.cli import main
import asyncio

from bot.core.context import Ctx
from bot.core.forms import Field, Form, int_parser
from bot.core.router import Router, text_is
from bot.crypto import FieldCrypto
from bot.db.migrate import upgrade
from bot.db.models import AuditLog, InboundMessage, Member, Outbox, Sequence, Staff
from bot.wechat.simulator import WeChatSim
from scheduler.setup import all_jobs, job_context, run_job
from tests.support.admin import create_staff_user, csrf_at, login, make_admin_client

router = Router("promises")


@router.on(text_is("记一笔"))
async def write_everything(ctx: Ctx) -> str:
    """A handler that touches every kind of row a message can write: a feature row, the member,
    an outbox message."""
    seq = await ctx.session.get(Sequence, "promise")
    if seq is None:
        seq = Sequence(name="promise", value=0)
        ctx.session.add(seq)
    seq.value += 1
    ctx.member.employer = "记过一笔"
    await ctx.notify(ctx.openid, "随后的通知", key=f"promise:{ctx.openid}:{seq.value}")
    return f"记好了 {seq.value}"


_age = int_parser(16, 99)


def _age_or_explode(text: str) -> int:
    """A parser with a bug: 「炸」 makes it raise (a handler failing on a message)."""
    if text == "炸":
        raise RuntimeError("a bug in a parser")
    return _age(text)


class OrderForm(Form):
    flow = "promise_order"
    title = "顺序登记"
    fields = (
        Field("age", "请问您多大年纪？", parse=_age_or_explode, label="年龄"),
        Field("town", "住在哪个镇？", label="镇"),
    )

    async def submit(self, ctx: Ctx, data) -> str:  # noqa: ANN001
        return "登记好了"


OrderForm.mount(router, start=text_is("顺序登记"))


@pytest.fixture
async def app(make_app, engine):  # noqa: ANN001
    return make_app(extra_routers=[router])


async def _count(db, model, *where) -> int:  # noqa: ANN001
    async with db() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


# ------------------------------------------------------------------ one transaction per batch
async def test_a_failure_in_the_writers_own_statements_keeps_nothing_of_the_message(
        sim: WeChatSim, db, monkeypatch) -> None:  # noqa: ANN001
    """docs/batch-semantics.md: "dedup record, member, dialogue, feature rows, outbox rows and the
    rendered reply commit together, or not at all"; "a failure outside the handlers … rolls the
    batch back". The handler succeeds; the writer's last statement (recording the message) fails:
    none of the handler's rows may survive, and the worker gets the apology, once."""
    real_rows_for = pipeline.rows_for
    failures = [RuntimeError("disk I/O error while recording the message")]

    async def rows_for(conn, app_id, *, fast=True):  # noqa: ANN001, ANN202
        rows = await real_rows_for(conn, app_id, fast=fast)
        if failures:
            error = failures.pop()

            async def finish(_rows) -> None:  # noqa: ANN001
                raise error
            rows.finish = finish
        return rows

    monkeypatch.setattr(pipeline, "rows_for", rows_for)
    u = sim.user("oTogether")
    reply = await u.send("记一笔")
    assert "抱歉" in reply and "记好了" not in reply
    assert await _count(db, Sequence, Sequence.name == "promise") == 0
    assert await _count(db, Outbox, Outbox.openid == "oTogether") == 0
    async with db() as s:
        member = await s.scalar(select(Member).where(Member.openid == "oTogether"))
    assert member is None or member.employer is None
    # the apology is the message's stored outcome: a re-send gets it and runs nothing
    assert await u.resend() == reply
    assert await _count(db, Sequence, Sequence.name == "promise") == 0
    assert await _count(db, InboundMessage, InboundMessage.openid == "oTogether") == 1
    # the next message goes through whole: every row at once
    assert await u.send("记一笔") == "记好了 1"
    assert await _count(db, Outbox, Outbox.openid == "oTogether") == 1
    async with db() as s:
        assert (await s.scalar(select(Member).where(Member.openid == "oTogether"))).employer == "记过一笔"


# ------------------------------------------------------------------ one user at a time
async def test_a_failing_message_does_not_undo_the_users_message_before_it(sim: WeChatSim) -> None:
    """docs/batch-semantics.md: "at most one per user, none of a user whose earlier message is
    still in a running batch" and "If it raises … its dialogue stays as it was". Two messages of
    one user sent at once: the first opens a form, the second fails. Whatever order they ran
    in, the form must be open afterwards — the failure rolls back only itself, never the
    user's earlier message (which it would if both shared one batch)."""
    users = [sim.user(f"oOrder{i}") for i in range(6)]

    async def both(u):  # noqa: ANN001, ANN202
        return await asyncio.gather(u.send("顺序登记"), u.send("炸"))

    for replies in await asyncio.gather(*(both(u) for u in users)):
        assert any("多大年纪" in r for r in replies), replies
    for u in users:
        assert "住在哪个镇" in await u.send("30"), u.openid


# ------------------------------------------------------------------ the last admin
def test_the_last_active_admin_cannot_be_deactivated(tmp_path) -> None:  # noqa: ANN001
    """docs/security.md §2: "Nobody can remove the last active admin"."""
    db = tmp_path / "cli.db"
    config = tmp_path / "cli.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n', encoding="utf-8")
    runner = CliRunner()

    def run(*args: str, input: str | None = None):  # noqa: A002, ANN202
        return runner.invoke(main, [*args, "--config", str(config)], input=input)

    assert run("staff", "add", "boss", "--password-stdin", input="chief-password-1\n").exit_code == 0
    refused = run("staff", "deactivate", "boss")
    assert refused.exit_code == 2 and "至少要保留一个在用的管理员账号" in refused.output
    assert run("staff", "add", "boss2", "--role", "admin", "--password-stdin",
               input="second-chief-pw-2\n").exit_code == 0
    assert run("staff", "deactivate", "boss").exit_code == 0  # another admin remains
    refused = run("staff", "deactivate", "boss2")
    assert refused.exit_code == 2 and "至少要保留一个在用的管理员账号" in refused.output
    engine = create_engine(f"sqlite:///{db}")
    with Session(engine) as s:
        active = {st.username: st.active for st in s.scalars(select(Staff))}
    engine.dispose()
    assert active == {"boss": False, "boss2": True}


async def test_a_reactivated_account_does_not_bring_back_its_old_sessions(
        aiohttp_client, settings, sessionmaker, clock) -> None:  # noqa: ANN001
    """docs/security.md §3: "Logout, a password change, a password reset, deactivation … end
    sessions at once". Ended means ended: reactivating the account later must not make the
    browser that was logged in before the deactivation work again."""
    await create_staff_user(sessionmaker, "boss1", "boss-password-1", "王主任")
    admin = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    await login(admin, "boss1", "boss-password-1")
    worker = await create_staff_user(sessionmaker, roles=("quiz",))
    browser = await make_admin_client(aiohttp_client, settings, sessionmaker, clock)
    await login(browser)
    assert (await browser.get("/admin/", allow_redirects=False)).status == 200
    page = f"/admin/staff/{worker.id}"
    token = await csrf_at(admin, page)
    assert (await admin.post(f"{page}/active", data={"_csrf": token, "active": "0"})).status == 200
    # (the browser makes no request while the account is off: nothing else could end its session)
    assert (await admin.post(f"{page}/active", data={"_csrf": token, "active": "1"})).status == 200
    assert (await browser.get("/admin/", allow_redirects=False)).status == 302  # log in again
    await login(browser)  # a new login works
    assert (await browser.get("/admin/", allow_redirects=False)).status == 200


# ------------------------------------------------------------------ audit rows are kept
async def test_no_job_of_the_service_deletes_audit_rows(app, client, db, clock, tmp_path) -> None:  # noqa: ANN001
    """docs/security.md §6: "Audit rows are not deleted by the service." Every scheduled job,
    run three years later, leaves every audit row in place (retention, pruning, anonymising…)."""
    await create_staff_user(db)
    await login(client)
    assert (await client.get("/admin/audit")).status == 200
    async with db() as s:
        before = sorted((r.id, r.action) for r in await s.scalars(select(AuditLog)))
    assert before  # at least the login
    clock.advance(days=3 * 365)
    ctx = job_context(app)
    ran = 0
    for spec in all_jobs(features()):
        try:
            await run_job(spec, ctx)
            ran += 1
        except Exception:  # noqa: BLE001 — a job that can't run here (no pg_dump…) deletes nothing either
            pass
    assert ran >= 10
    async with db() as s:
        after = sorted((r.id, r.action) for r in await s.scalars(select(AuditLog)))
    assert after[:len(before)] == before


# ------------------------------------------------------------------ backups never hold the key
def test_the_field_key_is_not_in_the_backup(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """docs/deploy.md §6: "`[admin] field_key` is **not** in the backup"; docs/security.md §7:
    "never next to `field_key`". An offline install keeps its generated key in data/field.key:
    `unionbot backup` must leave it out (and never write the key's text into the archive)."""
    from bot.config import build_settings

    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path}/data/unionbot.db"
    upgrade(url)
    FieldCrypto.from_settings(build_settings({"database": {"url": url}}, env={}))  # what serving offline does
    key_file = tmp_path / "data" / "field.key"
    assert key_file.is_file()
    (tmp_path / "data" / "media" / "hardship").mkdir(parents=True)
    (tmp_path / "data" / "media" / "hardship" / "p.jpg").write_bytes(b"photo")
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[backup]\ndir = "{tmp_path / "backups"}"\n', encoding="utf-8")
    made = CliRunner().invoke(main, ["backup", "--config", str(config)])
    assert made.exit_code == 0, made.output
    [archive] = (tmp_path / "backups").iterdir()
    key = key_file.read_bytes().strip()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert any(n.endswith("p.jpg") for n in names)  # the media are there…
        assert not any(Path(n).name == "field.key" for n in names)  # …the key is not
        for member in tar.getmembers():
            if member.isfile():
                assert key not in tar.extractfile(member).read(), member.name


def _damaged_database_backup(tmp_path, monkeypatch):  # noqa: ANN001, ANN202
    """`unionbot backup` of a database whose pages are damaged: (result, backups folder)."""
    import sqlite3

    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path}/data/unionbot.db"
    upgrade(url)
    db_file = tmp_path / "data" / "unionbot.db"
    with sqlite3.connect(db_file) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, t TEXT)")
        conn.executemany("INSERT INTO filler (t) VALUES (?)", [("x" * 200,) for _ in range(2000)])
        conn.execute("CREATE INDEX ix_filler_t ON filler (t)")
    data = bytearray(db_file.read_bytes())
    page = 4096
    for start in range(len(data) // 2, len(data) - page, 7 * page):  # scribble over pages past the schema
        data[start + 100:start + 400] = b"\xa5" * 300
    db_file.write_bytes(bytes(data))
    backups = tmp_path / "backups"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[backup]\ndir = "{backups}"\n', encoding="utf-8")
    return CliRunner().invoke(main, ["backup", "--config", str(config)]), backups


def test_a_damaged_database_leaves_no_backup_file_behind(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """docs/deploy.md §6: "the SQLite copy passes `PRAGMA integrity_check` … before it is kept; a
    file named `unionbot-*.tar.gz` is always complete". Nothing named like a backup (nor any
    temporary file) is left when the copy is damaged."""
    made, backups = _damaged_database_backup(tmp_path, monkeypatch)
    assert made.exit_code != 0
    assert not backups.exists() or list(backups.iterdir()) == []


def test_a_damaged_database_is_one_line_and_exit_code_2(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """docs/deploy.md §6: `unionbot backup` — "Exit code 2 and one line on failure"."""
    made, _ = _damaged_database_backup(tmp_path, monkeypatch)
    assert made.exit_code == 2, made.output
    assert "backup error" in made.output and len(made.output.strip().splitlines()) == 1
