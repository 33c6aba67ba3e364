"""Composition root: `python -m bot` reads settings, opens what the bot needs, runs it, closes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

import aiohttp
import discord

from bot.bot import MusicBot
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings
from bot.storage import StorageError, open_repository

log = logging.getLogger("bot")


async def run(settings: Settings) -> None:
    """Open the HTTP session and the database, run the bot until it stops, close in reverse order."""
    async with aiohttp.ClientSession() as session:
        repo = await open_repository(settings)
        try:
            async with MusicBot(settings=settings, repo=repo, session=session) as bot:
                # `docker stop` sends SIGTERM: close cleanly (deliveries finish, the listener stops).
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGTERM, signal.SIGINT):
                    with contextlib.suppress(NotImplementedError):
                        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
                await bot.start(settings.discord_token)
        finally:
            await repo.close()


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, [settings.discord_token, settings.producer_api_token])
    try:
        asyncio.run(run(settings))
    except StorageError as exc:
        log.error("%s", exc)
        return 1
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN: check the bot token in .env")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
