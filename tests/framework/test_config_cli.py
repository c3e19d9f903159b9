"""Configuration is checked at start; the CLI stops with one line naming the key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, build_settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def unionbot(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_defaults_run_offline_on_sqlite_under_data() -> None:
    s = build_settings({}, env={})
    assert s.wechat.offline and s.database.url.startswith("sqlite+aiosqlite:///./data/")
    assert s.server.webhook_path == "/wechat" and s.app.timezone == "Asia/Shanghai"


def test_example_config_is_valid_and_documents_every_key() -> None:
    import tomllib

    from bot.config import Settings

    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    build_settings(data, env={})
    for section, model in Settings.model_fields.items():
        assert f"[{section}]" in text, section
        for key in model.annotation.model_fields:
            assert f"\n{key} =" in text or f"\n# {key} =" in text, f"{section}.{key} undocumented"


@pytest.mark.parametrize("data, words", [
    ({"server": {"port": "eighty"}}, "'server.port'"),
    ({"server": {"prot": 80}}, "unknown key 'server.prot'"),
    ({"wechat": {"encoding_aes_key": "abc"}}, "'wechat.encoding_aes_key'"),
    ({"scheduler": {"enabled": "maybe"}}, "'scheduler.enabled'"),
    ({"database": {"sqlite_synchronous": "off"}}, "'database.sqlite_synchronous'"),
])
def test_bad_values_name_the_key(data, words) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError) as exc:
        build_settings(data, env={})
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_secrets_from_environment(tmp_path) -> None:  # noqa: ANN001
    cfg = tmp_path / "c.toml"
    cfg.write_text('[wechat]\napp_id = "wx123"\n', encoding="utf-8")
    s = load_settings(cfg, env={"UNIONBOT_WECHAT_APP_SECRET": "s3cret"})
    assert s.wechat.app_secret == "s3cret" and s.wechat.app_id == "wx123"


def test_serve_with_a_bad_config_stops_with_one_line(tmp_path) -> None:  # noqa: ANN001
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[server]\nport = 'http'\n", encoding="utf-8")
    result = unionbot("serve", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip()] and "server.port" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade_staff_add_and_chat_in_process(tmp_path) -> None:  # noqa: ANN001
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/u.db"\n', encoding="utf-8")
    assert unionbot("db", "upgrade", cwd=tmp_path).returncode == 0
    added = unionbot("staff", "add", "wang", "--password-stdin", cwd=tmp_path, stdin="long-enough-pw\n")
    assert added.returncode == 0, added.stderr
    again = unionbot("staff", "add", "wang", "--password-stdin", cwd=tmp_path, stdin="long-enough-pw\n")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    talk = unionbot("chat", "--openid", "oTerminal", cwd=tmp_path, stdin="菜单\n/quit\n")
    assert talk.returncode == 0, talk.stderr
    assert "公众号> 您可以回复下面的关键词" in talk.stdout


async def test_menu_push_creates_the_menu_through_the_api(tmp_path, aiohttp_server) -> None:  # noqa: ANN001
    import asyncio

    from tests.support.fake_wechat import FakeWeChat

    fake = FakeWeChat()
    base = await fake.attach(aiohttp_server)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[wechat]\napp_id = "{fake.app_id}"\napp_secret = "{fake.secret}"\napi_base_url = "{base}"\n'
        'menu = [ { name = "困难帮扶", key = "HARDSHIP" }, { name = "学习", sub = [ { name = "报名", key = "SIGNUP" } ] } ]\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/m.db"\n', encoding="utf-8")
    assert (await asyncio.to_thread(unionbot, "db", "upgrade", cwd=tmp_path)).returncode == 0
    result = await asyncio.to_thread(unionbot, "menu", "push", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [call] = fake.calls_to("/cgi-bin/menu/create")
    assert call["json"]["button"][0] == {"type": "click", "name": "困难帮扶", "key": "HARDSHIP"}
    assert call["json"]["button"][1]["sub_button"][0]["key"] == "SIGNUP"


def test_menu_push_offline_says_why(tmp_path) -> None:  # noqa: ANN001
    result = unionbot("menu", "push", cwd=tmp_path)
    assert result.returncode == 2 and "offline" in result.stderr


def test_a_menu_key_or_template_kind_no_feature_declares_stops_the_start(tmp_path) -> None:  # noqa: ANN001
    """Checked against the feature manifests at start: a typo would otherwise fail silently."""
    from bot.app import check_config, features
    from bot.config import ConfigError, build_settings

    feats = features()
    good = build_settings({"wechat": {"menu": [{"name": "帮扶", "key": "HARDSHIP"},
                                               {"name": "我的", "sub": [{"name": "帮助", "key": "HELP"}]}],
                                      "templates": {"hardship_status": "TPL1"}}}, env={})
    check_config(good, feats)
    typo = build_settings({"wechat": {"menu": [{"name": "我的", "sub": [{"name": "帮助", "key": "HLEP"}]}]}}, env={})
    with pytest.raises(ConfigError) as exc:
        check_config(typo, feats)
    assert str(exc.value).startswith("config error: 'wechat.menu[0].sub[0].key' 'HLEP'") and "\n" not in str(exc.value)
    kind = build_settings({"wechat": {"templates": {"hardship_stauts": "TPL1"}}}, env={})
    with pytest.raises(ConfigError, match="'wechat.templates.hardship_stauts' is not a template kind"):
        check_config(kind, feats)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[wechat]\ntemplates = { quiz_opn = "X" }\n', encoding="utf-8")
    from click.testing import CliRunner

    from bot.cli import main

    result = CliRunner().invoke(main, ["jobs", "list", "--config", str(cfg)])
    assert result.exit_code == 2 and "wechat.templates.quiz_opn" in result.output


def test_the_old_timezone_key_still_works_with_a_warning(caplog) -> None:  # noqa: ANN001
    from bot.config import ConfigError, build_settings

    with caplog.at_level("WARNING", logger="unionbot.config"):
        s = build_settings({"scheduler": {"timezone": "Asia/Urumqi"}}, env={})
    assert s.app.timezone == "Asia/Urumqi" and "app.timezone" in caplog.text
    with pytest.raises(ConfigError, match="contradicts 'app.timezone'"):
        build_settings({"scheduler": {"timezone": "Asia/Urumqi"}, "app": {"timezone": "Asia/Shanghai"}}, env={})
    with pytest.raises(ConfigError, match="'app.timezone' is not a known IANA timezone"):
        build_settings({"app": {"timezone": "Mars/Base"}}, env={})


def test_a_wrong_secret_is_not_echoed_in_the_error() -> None:
    from bot.config import ConfigError, build_settings

    secret = "Sxq9WrZHC8ZUXP-not-a-real-key-but-long-enough"
    with pytest.raises(ConfigError) as exc:
        build_settings({}, env={"UNIONBOT_ADMIN_FIELD_KEY": secret})
    assert "admin.field_key" in str(exc.value) and secret[:10] not in str(exc.value)
