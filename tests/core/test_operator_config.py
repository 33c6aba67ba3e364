"""What an owner writes in `.env` or `--env-file`, read as they meant it (issue 20, items 3, 7 and 8)."""

from __future__ import annotations

import io
import logging

import pytest

from bot.core.logs import RedactSecrets
from bot.core.settings import SettingsError, settings_from_mapping

TOKENS = {"DISCORD_TOKEN": "d", "PRODUCER_API_TOKEN": "p"}


def logged(secrets: list[str], *lines: str) -> str:
    """What a handler with `RedactSecrets(secrets)` writes for `lines`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(secrets))
    logger = logging.getLogger("test.operator_config")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for line in lines:
            logger.warning(line)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_short_token_is_masked_only_where_it_stands_alone() -> None:
    """Item 7: token `y` or `test` leaves `Applying` and `latest` alone but still hides the token itself."""
    text = logged(
        ["y", "test"],
        "Applying database migration 0009",
        "the latest version",
        "token=test; other y",
        "postgresql://bot:test@db:5432/bot",
    )
    assert text.splitlines() == [
        "Applying database migration 0009",
        "the latest version",
        "token=********; other ********",
        "postgresql://bot:********@db:5432/bot",
    ]


def test_a_long_token_is_masked_even_inside_other_text() -> None:
    """Item 7: a real-length token glued to other characters is still blanked."""
    token = "MTIzNDU2Nzg5MDEy.GxYz12.abcdefghijklmnopqrstuvwx"
    assert logged([token], f"Authorization: Bot{token}x") == "Authorization: Bot********x\n"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DISCORD_TOKEN", "<your bot token>"),
        ("DISCORD_TOKEN", "paste token here"),
        ("DISCORD_TOKEN", "1234567890123456789"),
        ("PRODUCER_API_TOKEN", "changeme"),
        ("PRODUCER_API_TOKEN", "your-token"),
        ("PRODUCER_API_TOKEN", "xxxxxxxx"),
        ("PRODUCER_API_TOKEN", "..."),
    ],
)
def test_placeholder_tokens_are_configuration_errors(variable: str, value: str) -> None:
    """Item 7: a placeholder fails the configuration check in one line, which never quotes the value."""
    with pytest.raises(SettingsError) as raised:
        settings_from_mapping({**TOKENS, variable: value})
    (problem,) = raised.value.problems
    assert problem.startswith(variable) and value not in problem


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5  # seconds", 5.0),
        ("5\t# seconds", 5.0),
        ('"5" # seconds', 5.0),
        ("'5'", 5.0),
        ("7", 7.0),
    ],
)
def test_a_trailing_comment_is_dropped_as_python_dotenv_does(raw: str, expected: float) -> None:
    """Item 8: `docker run --env-file` keeps ` # seconds`; the bot reads the value as `.env` would."""
    assert settings_from_mapping({**TOKENS, "POLL_INTERVAL": raw}).poll_interval == expected


def test_a_hash_inside_a_value_is_kept() -> None:
    """Item 8: only whitespace before `#` starts a comment, as in python-dotenv."""
    settings = settings_from_mapping({**TOKENS, "PUBLIC_URL": "https://bot.example.com/#frag"})
    assert settings.public_url == "https://bot.example.com/#frag"


def test_log_format_is_case_insensitive_like_log_level() -> None:
    """Item 8: `LOG_FORMAT=JSON` is accepted as `LOG_LEVEL=debug` is."""
    settings = settings_from_mapping({**TOKENS, "LOG_FORMAT": "JSON", "LOG_LEVEL": "debug"})
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")


def test_metrics_port_equal_to_webhook_port_is_a_configuration_error() -> None:
    """Item 3: not "port already in use" after connecting to Discord, but one configuration line."""
    with pytest.raises(SettingsError) as raised:
        settings_from_mapping({**TOKENS, "METRICS": "true", "METRICS_PORT": "8080", "WEBHOOK_PORT": "8080"})
    assert raised.value.problems == [
        "METRICS_PORT=8080 is the same as WEBHOOK_PORT: leave METRICS_PORT empty to serve /metrics on the webhook "
        "listener, or choose another port"
    ]


def test_shutdown_grace_is_a_setting() -> None:
    """Item 1: SHUTDOWN_GRACE bounds how long a stop takes; 8 s fits inside `docker stop`'s 10."""
    assert settings_from_mapping(TOKENS).shutdown_grace == 8.0
    assert settings_from_mapping({**TOKENS, "SHUTDOWN_GRACE": "3"}).shutdown_grace == 3.0
