"""Settings come from the environment and .env; a missing token stops the bot with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.settings import SettingsError, load_settings, settings_from_mapping

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_with_only_the_two_tokens() -> None:
    """Only the two tokens are needed; everything else has the documented default."""
    settings = settings_from_mapping({"DISCORD_TOKEN": "d", "PRODUCER_API_TOKEN": "p"})
    assert settings.producer_api_base == "https://api.acedata.cloud"
    assert settings.public_url is None and not settings.callback_mode
    assert (settings.webhook_host, settings.webhook_port) == ("0.0.0.0", 8080)
    assert str(settings.database_path) == "data/bot.db"
    assert settings.default_model == "FUZZ-2.0 Pro"
    assert settings.dev_guild_id is None
    assert settings.guild_daily_quota == 20
    assert settings.log_level == "INFO"
    assert settings.task_timeout == 1200


@pytest.mark.parametrize("missing", ["DISCORD_TOKEN", "PRODUCER_API_TOKEN"])
def test_missing_token_names_it(missing: str) -> None:
    """A missing required value is named in the error."""
    env = {"DISCORD_TOKEN": "d", "PRODUCER_API_TOKEN": "p"}
    del env[missing]
    with pytest.raises(SettingsError, match=missing):
        settings_from_mapping(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_PORT", "eighty"),
        ("GUILD_DAILY_QUOTA", "-1"),
        ("DEFAULT_MODEL", "FUZZ-9"),
        ("PUBLIC_URL", "example.com"),
        ("LOG_LEVEL", "LOUD"),
        ("DEV_GUILD_ID", "abc"),
    ],
)
def test_malformed_values_are_named(name: str, value: str) -> None:
    """A malformed value is refused with its variable's name."""
    with pytest.raises(SettingsError, match=name):
        settings_from_mapping({"DISCORD_TOKEN": "d", "PRODUCER_API_TOKEN": "p", name: value})


def test_public_url_switches_to_callback_mode() -> None:
    settings = settings_from_mapping(
        {"DISCORD_TOKEN": "d", "PRODUCER_API_TOKEN": "p", "PUBLIC_URL": "https://bot.example.com/"}
    )
    assert settings.callback_mode
    assert settings.public_url == "https://bot.example.com"


def test_tokens_never_show_in_repr() -> None:
    settings = settings_from_mapping({"DISCORD_TOKEN": "discord-abc", "PRODUCER_API_TOKEN": "producer-xyz"})
    assert "discord-abc" not in repr(settings) and "producer-xyz" not in repr(settings)


def test_env_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DISCORD_TOKEN=from-file\nPRODUCER_API_TOKEN=p-file\nGUILD_DAILY_QUOTA=7\n")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.setenv("PRODUCER_API_TOKEN", "p-env")
    settings = load_settings(env_file)
    assert settings.discord_token == "from-file"
    assert settings.producer_api_token == "p-env"
    assert settings.guild_daily_quota == 7


def test_python_m_bot_without_tokens_prints_one_line_each(tmp_path: Path) -> None:
    """`python -m bot` with no configuration exits at once with one line per missing variable."""
    env = {key: value for key, value in os.environ.items() if key not in {"DISCORD_TOKEN", "PRODUCER_API_TOKEN"}}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"Configuration error: {name} is not set: add it to .env or the environment (see .env.example)"
        for name in ("DISCORD_TOKEN", "PRODUCER_API_TOKEN")
    ]


def test_every_problem_is_reported_at_once() -> None:
    """All the invalid values in one go, each on its own line, each naming the value."""
    with pytest.raises(SettingsError) as caught:
        settings_from_mapping(
            {"PRODUCER_API_TOKEN": "p", "WEBHOOK_PORT": "70000", "LOG_LEVEL": "verbose", "METRICS": "maybe"}
        )
    assert caught.value.problems == [
        "DISCORD_TOKEN is not set: add it to .env or the environment (see .env.example)",
        "WEBHOOK_PORT must be at most 65535, got 70000",
        "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR; got 'verbose'",
        "METRICS must be true or false, got 'maybe'",
    ]


def test_quotes_from_docker_env_files_are_stripped() -> None:
    """Docker's --env-file keeps quotes a shell would remove: one matching pair is taken off."""
    settings = settings_from_mapping(
        {
            "DISCORD_TOKEN": '"d-token"',
            "PRODUCER_API_TOKEN": "'p-token'",
            "DEFAULT_MODEL": '"FUZZ-2.0 Raw"',
            "WEBHOOK_PORT": "'9000'",
            "LOG_FORMAT": '"json"',
        }
    )
    assert (settings.discord_token, settings.producer_api_token) == ("d-token", "p-token")
    assert (settings.default_model, settings.webhook_port, settings.log_format) == ("FUZZ-2.0 Raw", 9000, "json")
    with pytest.raises(SettingsError, match="DEFAULT_MODEL"):
        settings_from_mapping({"DISCORD_TOKEN": "d", "PRODUCER_API_TOKEN": "p", "DEFAULT_MODEL": "\"FUZZ-2.0'"})
