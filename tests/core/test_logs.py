"""The log filter blanks secrets wherever they appear: message, arguments, traceback."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.core.logs import QuietDatabaseOutages, RedactSecrets, setup_logging
from tests.conftest import PRODUCER_TOKEN
from tests.crash_helpers import BotProcess
from tests.harness import World, embed_field, free_port, generate


def test_secrets_are_blanked_everywhere() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["tok-123456", "api-abcdef"]))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("header was Bearer %s", "api-abcdef")
        logger.warning("token tok-123456 in the message")
        try:
            raise RuntimeError("failed with tok-123456")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "tok-123456" not in text and "api-abcdef" not in text
    assert "Bearer ********" in text and "token ******** in" in text and "failed with ********" in text
    assert "RuntimeError" in text


def test_asyncpg_pool_tracebacks_become_one_line() -> None:
    """While PostgreSQL restarts, asyncpg's pool logs a traceback per refill attempt; the operator's
    terminal gets its words and the error's name instead."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(QuietDatabaseOutages())
    logger = logging.getLogger("asyncpg.pool")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise asyncpg.CannotConnectNowError("the database system is shutting down")
        except asyncpg.CannotConnectNowError:
            logger.warning("Failed to restore the pool connection floor; retrying", exc_info=True)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert stream.getvalue() == "Failed to restore the pool connection floor; retrying (CannotConnectNowError)\n"


APP_ID = "1578990000000000001"
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTU3ODk5MDAwMDAwMDAwMDAwMjpYaVFzR0x1cF9kZW1vLXRva2Vu"
VOICE_TOKEN = "d1e4f7a2c9b83f60"


@contextlib.contextmanager
def bot_logging(level: str, log_format: str = "plain") -> Iterator[io.StringIO]:
    """The root logger as `setup_logging` sets it up for the bot, writing to a string; restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("discord.http").level
    setup_logging(level, ["tok-123456"], log_format)
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("discord.http").setLevel(saved[2])


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_interaction_and_voice_tokens_are_blanked_in_discord_py_debug_lines(log_format: str) -> None:
    """At LOG_LEVEL=DEBUG discord.py logs interaction webhook URLs (with the token that answers as the bot)
    and every gateway event (an interaction's `token`, a voice server's): each token is blanked."""
    base = "https://discord.com/api/v10"
    with bot_logging("DEBUG", log_format) as stream:
        webhook = logging.getLogger("discord.webhook.async_")
        line = "Webhook ID %s with %s %s has returned status code %s"
        webhook.debug(
            line, APP_ID, "POST", f"{base}/interactions/1578990000000000002/{INTERACTION_TOKEN}/callback", 204
        )
        webhook.debug(line, APP_ID, "PATCH", f"{base}/webhooks/{APP_ID}/{INTERACTION_TOKEN}/messages/@original", 200)
        webhook.debug(line, APP_ID, "POST", f"{base}/webhooks/{APP_ID}/{INTERACTION_TOKEN}?wait=1", 200)
        gateway = logging.getLogger("discord.gateway")
        event = {"t": "INTERACTION_CREATE", "op": 0, "d": {"id": "1578990000000000002", "token": INTERACTION_TOKEN}}
        gateway.debug("For Shard ID %s: WebSocket Event: %s", 0, event)
        voice = {"t": "VOICE_SERVER_UPDATE", "d": {"token": VOICE_TOKEN, "endpoint": "voice.example:443"}}
        gateway.debug("For Shard ID %s: WebSocket Event: %s", 0, voice)
        gateway.debug("Sending voice websocket frame: %s.", json.dumps({"op": 0, "d": {"token": VOICE_TOKEN}}))
        try:
            raise RuntimeError(f"404, message='Not Found', url='{base}/webhooks/{APP_ID}/{INTERACTION_TOKEN}'")
        except RuntimeError:
            logging.getLogger("discord.client").exception("Ignoring exception in a view")
    text = stream.getvalue()
    assert INTERACTION_TOKEN not in text and VOICE_TOKEN not in text
    assert text.count(f"/webhooks/{APP_ID}/********") == 3
    assert "/interactions/1578990000000000002/********/callback" in text
    assert "'token': '********'" in text and '"token": "********"' in text.replace('\\"', '"')
    assert "INTERACTION_CREATE" in text and "@original" in text  # the rest of each line is kept


async def test_the_real_bot_at_debug_never_logs_an_interaction_token(world: World, tmp_path: Path) -> None:
    """`python -m bot` with LOG_LEVEL=DEBUG: a member makes a song and stars it; the process's log shows the
    interaction requests with their tokens blanked."""
    settings = world.make_settings()
    port = free_port()
    env = {
        "DISCORD_TOKEN": world.discord.token,
        "PRODUCER_API_TOKEN": PRODUCER_TOKEN,
        "PRODUCER_API_BASE": world.producer.base_url,
        "DATABASE_PATH": str(settings.database_path),
        "DATABASE_URL": str(settings.database_url or ""),
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ALLOW_PRIVATE_MEDIA_HOSTS": "true",
        "LOG_LEVEL": "DEBUG",
    }
    bot = BotProcess(discord_api=world.discord.api_base, gateway=world.discord.gateway_url, env=env, cwd=tmp_path)
    await bot.start()
    try:
        made = await generate(world, "a song to log")
        song = await world.wait_for_song(timeout=20)
        song_id = embed_field(song, "Song id").strip("`")
        star = await world.discord.click_button(song, f"star:{song_id}", user_id=world.member_id)
        await world.discord.wait_for(lambda: star.responses and "✅" in made.original.content, timeout=20)

        def answered(line: str) -> bool:  # both interaction callbacks are in the log (as discord.py logs them)
            return sum("/callback has returned" in logged for logged in bot.lines) >= 2

        await bot.wait_for_log(answered)
    finally:
        await bot.stop()
    tokens = [interaction.token for interaction in world.discord.interactions.values()]
    assert len(tokens) == 2
    assert not [token[:20] for token in tokens if token in bot.output]
    assert f"/webhooks/{world.discord.application_id}/********" in bot.output
    assert "/********/callback" in bot.output and "'token': '********'" in bot.output
