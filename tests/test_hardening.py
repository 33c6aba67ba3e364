"""Issue 10: uploads as songs, privacy, permissions, paid results kept, a start that never blocks."""

from __future__ import annotations

import io
import logging
import secrets
from typing import Any

import aiohttp
import pytest

from bot.logs import RedactSecrets
from tests.harness import World, reply_text


async def test_jam_style_and_theme_are_shown_escaped(world: World) -> None:
    """Markdown a member wrote in a jam's theme and style shows as typed, not as formatting."""
    await world.start_bot(callbacks=True)
    start = await world.discord.invoke_slash(
        "jam start",
        {"theme": "Night *owls*", "style": "**loud** _lofi_ ~~x~~"},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    assert "started a jam" in await reply_text(world, start)
    thread = next(c.id for c in world.discord.channels.values() if c.name == "Night *owls*")
    jam_message = await world.discord.wait_for_message(thread, lambda m: bool(m.embeds))
    embed = jam_message.embeds[0]
    assert embed["title"] == "🎤 Jam: Night \\*owls\\*"
    style = next(f["value"] for f in embed["fields"] if f["name"] == "Style")
    assert style == "\\*\\*loud\\*\\* \\_lofi\\_ \\~\\~x\\~\\~"


async def test_a_failing_callback_never_logs_its_secret(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """The listener's error line names the route, not `/callbacks/<secret>`; the filter blanks any that slip in."""
    await world.start_bot(callbacks=True)
    secret = secrets.token_urlsafe(32)
    assert world.bot is not None

    async def broken(secret: str, body: dict[str, Any]) -> str:
        raise RuntimeError("database is locked")

    world.bot.songs.accept_callback = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="bot.webhook"):
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{world.webhook_base}/callbacks/{secret}", json={"code": 200}) as response,
        ):
            assert response.status == 500
    assert "Webhook handler failed on POST /callbacks/{secret}" in caplog.text
    assert secret not in caplog.text


def test_the_log_filter_blanks_callback_urls() -> None:
    """A callback URL in a message, an argument or a traceback loses its secret (tokens already did)."""
    secret = secrets.token_urlsafe(32)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["tok-123456"]))
    logger = logging.getLogger("test.redact.callbacks")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("posting to %s", f"https://bot.example/callbacks/{secret}")
        try:
            raise RuntimeError(f"Cannot connect to https://bot.example/callbacks/{secret}?x=1")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert secret not in text
    assert "https://bot.example/callbacks/********" in text and "callbacks/********?x=1" in text
