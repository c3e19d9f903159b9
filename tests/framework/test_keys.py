"""The key of personal fields (`[admin] field_key`): never derived, required online, rotated
with `unionbot keys rotate` while the old key stays readable — through HTTP and the CLI."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import stat
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.config import ConfigError, build_settings, check_keys
from bot.crypto import DEV_KEY_PATH, FieldCrypto, generate_key, key_id
from bot.db.engine import make_sessionmaker
from bot.db.models.core import Member
from bot.db.models.hardship import HardshipRequest
from handlers.hardship import ops
from tests.support.admin import csrf_from, log_in_staff
from tests.support.db import make_test_engine
from tests.support.hardship import ops_ctx
from tests.support.settings import TEST_FIELD_KEY, make_settings

ID_A, ID_B, ID_OLD = "11010519491231002X", "110105194912310021", "110101199003074477"


def unionbot(*args: str, cwd: Path, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


# ---------------------------------------------------------------------------------- the key itself
def test_values_carry_the_key_id_and_old_keys_stay_readable() -> None:
    old, new = generate_key(), generate_key()
    before = FieldCrypto(old).encrypt(ID_A)
    assert before.startswith(key_id(old) + "$") and ID_A not in before
    both = FieldCrypto(new, [old])
    assert both.decrypt(before) == ID_A and not both.is_current(before)
    after = both.reencrypt(before)
    assert after.startswith(key_id(new) + "$") and FieldCrypto(new).decrypt(after) == ID_A
    assert FieldCrypto(old).decrypt(after) is None  # without the new key: unreadable, not an error
    assert FieldCrypto(new).decrypt("zzzzzzzz$garbage") is None and FieldCrypto(new).decrypt("") is None


def test_field_key_must_be_a_real_key_and_is_required_online() -> None:
    with pytest.raises(ConfigError) as exc:
        build_settings({"admin": {"field_key": "my secret passphrase"}}, env={})
    assert "'admin.field_key'" in str(exc.value) and "\n" not in str(exc.value)
    assert "keys generate" in str(exc.value)
    # a passphrase used by older versions is read as the old key (for rotation)
    build_settings({"admin": {"field_key": generate_key(), "field_key_old": "my secret passphrase"}}, env={})

    online = build_settings({"wechat": {"app_id": "wx123"}}, env={})
    with pytest.raises(ConfigError) as exc:
        check_keys(online)
    assert "'admin.field_key'" in str(exc.value) and "\n" not in str(exc.value)
    check_keys(build_settings({"wechat": {"app_id": "wx123"}}, env={"UNIONBOT_ADMIN_FIELD_KEY": TEST_FIELD_KEY}))
    check_keys(build_settings({}, env={}))  # offline: a development key will do


def test_serve_online_without_field_key_stops_with_one_line(tmp_path) -> None:  # noqa: ANN001
    cfg = tmp_path / "online.toml"
    cfg.write_text('[wechat]\napp_id = "wx123"\napp_secret = "s"\n'
                   f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/x.db"\n', encoding="utf-8")
    env = {k: "" for k in ("UNIONBOT_ADMIN_FIELD_KEY", "UNIONBOT_WECHAT_APP_ID")}
    result = unionbot("serve", "--config", str(cfg), cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "admin.field_key" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching anything
    generated = unionbot("keys", "generate", cwd=tmp_path).stdout.strip()
    assert len(generated) == 44 and len(base64.urlsafe_b64decode(generated)) == 32


async def test_online_app_refuses_to_start_without_field_key(db_url, tmp_path, clock) -> None:  # noqa: ANN001
    from bot.app import create_app

    settings = make_settings(db_url, tmp_path, wechat={"app_id": "wx123"}, admin={"field_key": ""})
    with pytest.raises(ConfigError, match="admin.field_key"):
        create_app(settings, clock=clock, background=False)


def test_offline_without_field_key_uses_a_random_key_kept_in_data(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    a = FieldCrypto.from_settings(build_settings({"admin": {"secret_key": "s" * 40}}, env={}))
    path = tmp_path / DEV_KEY_PATH
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    token = a.encrypt(ID_A)
    # the same key after a restart, whatever secret_key says: it is not derived from it
    b = FieldCrypto.from_settings(build_settings({"admin": {"secret_key": "t" * 40}}, env={}))
    assert b.key_id == a.key_id and b.decrypt(token) == ID_A
    derived = base64.urlsafe_b64encode(hashlib.sha256(b"field:" + b"s" * 40).digest())
    builtin = base64.urlsafe_b64encode(hashlib.sha256(b"field:unionbot-development-only").digest())
    assert a.key_id not in (key_id(derived), key_id(builtin))
    # once field_key is set, values written in development stay readable (for `keys rotate`)
    c = FieldCrypto.from_settings(build_settings({"admin": {"field_key": TEST_FIELD_KEY}}, env={}))
    assert c.key_id == key_id(TEST_FIELD_KEY) and c.decrypt(token) == ID_A


# ---------------------------------------------------------------------------------- rotation
async def store(app, clock, openid: str, id_number: str) -> HardshipRequest:  # noqa: ANN001
    from bot.keys import SESSIONMAKER

    now = clock.now()
    async with app[SESSIONMAKER]() as s, s.begin():
        s.add(Member(openid=openid, first_seen=now, last_seen=now))
        return await ops.submit_request(
            s, ops_ctx(app), openid=openid, consent_version="2026-1",
            data={"kind": "因病", "description": "住院", "household": 3, "income": 4500.0, "expenses": 1500.0,
                  "name": "王小明", "phone": "13800138000", "employer": "街道环卫所", "id_number": id_number})


async def revealed_id(client, req_id: int) -> str:  # noqa: ANN001
    page = await (await client.get(f"/admin/hardship/{req_id}")).text()
    return await (await client.post(f"/admin/hardship/{req_id}/reveal",
                                    data={"_csrf": csrf_from(page), "field": "id"})).text()


def rotate_cli(db_url: str, settings, monkeypatch, *args: str, env: dict | None = None):  # noqa: ANN001, ANN201
    """`unionbot keys rotate` in this process, on the test's database (its own schema on PostgreSQL)."""
    import bot.commands.keys as keys_cmd

    @asynccontextmanager
    async def database(_settings):  # noqa: ANN001, ANN202
        engine = make_test_engine(db_url)
        try:
            yield make_sessionmaker(engine)
        finally:
            await engine.dispose()

    monkeypatch.setattr(keys_cmd, "database", database)
    monkeypatch.setattr(keys_cmd, "migrate_embedded", lambda _settings: None)
    monkeypatch.setattr(keys_cmd, "settings_from", lambda _config: settings)
    from bot.cli import main

    return CliRunner().invoke(main, ["keys", "rotate", *args], env=env or {}, catch_exceptions=False)


async def test_rotation_round_trip(make_app, aiohttp_client, engine, db_url, tmp_path, clock,  # noqa: ANN001
                                   monkeypatch) -> None:
    key_a, key_b = TEST_FIELD_KEY, generate_key()
    settings_a = make_settings(db_url, tmp_path, admin={"field_key": key_a})
    app = make_app(settings_a)
    client = await aiohttp_client(app)
    first = await store(app, clock, "oA", ID_A)
    # a value from before key ids (the old code's key derived from secret_key), as upgrades find them
    legacy = base64.urlsafe_b64encode(hashlib.sha256(b"field:" + settings_a.admin.secret_key.encode()).digest())
    from cryptography.fernet import Fernet

    from bot.keys import SESSIONMAKER

    old_style = await store(app, clock, "oOld", ID_OLD)
    async with app[SESSIONMAKER]() as s, s.begin():
        (await s.get(HardshipRequest, old_style.id)).id_number_enc = Fernet(legacy).encrypt(ID_OLD.encode()).decode()
    await log_in_staff(client, app[SESSIONMAKER])
    assert ID_A in await revealed_id(client, first.id) and ID_OLD in await revealed_id(client, old_style.id)

    # 1. the service restarts with field_key = B and field_key_old = A: both read, B writes
    settings_ab = make_settings(db_url, tmp_path, admin={"field_key": key_b, "field_key_old": key_a})
    app = make_app(settings_ab)
    client = await aiohttp_client(app)
    await log_in_staff_again(client, app)
    second = await store(app, clock, "oB", ID_B)
    assert ID_A in await revealed_id(client, first.id) and ID_B in await revealed_id(client, second.id)
    async with app[SESSIONMAKER]() as s:
        stored = {r.id: r.id_number_enc for r in await s.scalars(select(HardshipRequest))}
    assert stored[second.id].startswith(key_id(key_b) + "$") and stored[first.id].startswith(key_id(key_a) + "$")

    # 2. `unionbot keys rotate` moves every value under B (twice is harmless)
    result = await asyncio.to_thread(rotate_cli, db_url, settings_ab, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "2 re-encrypted, 1 already under key" in result.output and "0 unreadable" in result.output
    again = await asyncio.to_thread(rotate_cli, db_url, settings_ab, monkeypatch)
    assert "0 re-encrypted, 3 already under key" in again.output and again.exit_code == 0
    async with app[SESSIONMAKER]() as s:
        rows = list(await s.scalars(select(HardshipRequest)))
    assert all(r.id_number_enc.startswith(key_id(key_b) + "$") for r in rows)
    assert not any(i in r.id_number_enc for r in rows for i in (ID_A, ID_B, ID_OLD))

    # 3. field_key_old removed: everything still reads with B alone
    app = make_app(make_settings(db_url, tmp_path, admin={"field_key": key_b}))
    client = await aiohttp_client(app)
    await log_in_staff_again(client, app)
    for req, plain in ((first, ID_A), (second, ID_B), (old_style, ID_OLD)):
        assert plain in await revealed_id(client, req.id)
    # ...and with the old key alone, nothing (staff are told why, not shown garbage)
    app = make_app(make_settings(db_url, tmp_path, admin={"field_key": key_a, "secret_key": "other-" * 6}))
    client = await aiohttp_client(app)
    await log_in_staff_again(client, app)
    page = await revealed_id(client, first.id)
    assert ID_A not in page and "无法解密" in page


async def test_rotate_to_a_new_key_from_the_environment_and_unreadable_values(  # noqa: ANN001
        make_app, engine, db_url, tmp_path, clock, monkeypatch) -> None:
    key_a, key_c, stranger = TEST_FIELD_KEY, generate_key(), generate_key()
    settings = make_settings(db_url, tmp_path, admin={"field_key": key_a})
    app = make_app(settings)
    from bot.keys import SESSIONMAKER

    req = await store(app, clock, "oA", ID_A)
    lost = await store(app, clock, "oLost", ID_B)
    async with app[SESSIONMAKER]() as s, s.begin():
        (await s.get(HardshipRequest, lost.id)).id_number_enc = FieldCrypto(stranger).encrypt(ID_B)
    result = await asyncio.to_thread(rotate_cli, db_url, settings, monkeypatch,
                                     env={"UNIONBOT_ADMIN_FIELD_KEY_NEW": key_c})
    assert result.exit_code == 1 and "1 unreadable" in result.output and "field_key_old" in result.output
    async with app[SESSIONMAKER]() as s:
        moved = await s.get(HardshipRequest, req.id)
        kept = await s.get(HardshipRequest, lost.id)
    assert FieldCrypto(key_c).decrypt(moved.id_number_enc) == ID_A
    assert FieldCrypto(stranger).decrypt(kept.id_number_enc) == ID_B  # left as it was, not destroyed
    bad = await asyncio.to_thread(rotate_cli, db_url, settings, monkeypatch, "--new-key", "not-a-key")
    assert bad.exit_code == 2 and "44" in bad.output


async def log_in_staff_again(client, app) -> None:  # noqa: ANN001
    """The staff account exists already (same database): log in through the form."""
    from tests.support.admin import login

    await login(client)
