"""The language a server's public messages speak: song posts, status lines, feed and jam posts.

`/settings language:` chooses one of the shipped languages; until a manager does, the server's
own preferred locale (Server Settings → Community) is used when the bot speaks it, else English.
The preferred locale comes from the gateway's cache, so a process that does not run the server's
shard (a cluster) uses English for a server that never chose: `/settings language:` makes it sure.
"""

from __future__ import annotations

import discord

from bot.i18n import SOURCE_LANGUAGE, resolve
from bot.storage.repository import Repository


class ServerLanguages:
    """Answers the Discord locale code to write a server's public messages in."""

    def __init__(self, repo: Repository, client: discord.Client | None = None) -> None:
        self._repo = repo
        self._client = client

    async def of(self, guild_id: int | None) -> str:
        if guild_id is None:
            return SOURCE_LANGUAGE
        chosen = (await self._repo.guild_settings(guild_id)).language
        if chosen:
            return resolve(chosen)
        return self.preferred(guild_id)

    def preferred(self, guild_id: int) -> str:
        """The server's preferred locale when the bot speaks it, else English."""
        guild = self._client.get_guild(guild_id) if self._client is not None else None
        return resolve(guild.preferred_locale) if guild is not None else SOURCE_LANGUAGE
