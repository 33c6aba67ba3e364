"""Who may see which songs: a song belongs to the channel it was made in.

A member finds (autocomplete, `/songs`), shows and builds on only songs made in channels they can
view, computed from the guild's roles and the channel's permission overwrites exactly as Discord
does (discord.py's `permissions_for` over the cached guild). A thread follows its parent channel;
a private thread is for its creator and members who can manage threads (the bot does not track a
private thread's other members). The song feed takes only songs from channels `@everyone` can view.

Channels the cache does not hold (archived threads) are fetched once and remembered; a channel
that no longer exists hides its songs.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import discord

from bot.storage.repository import Repository

log = logging.getLogger(__name__)

FETCHES_PER_CHECK = 5
"""Unknown channels fetched from Discord per check: autocomplete must answer within 3 seconds."""

Place = discord.abc.GuildChannel | discord.Thread


class ChannelLookup(Protocol):
    """What visibility needs from Discord: a cached guild, a channel the cache does not hold (the bot's client)."""

    def get_guild(self, guild_id: int, /) -> discord.Guild | None: ...

    async def fetch_channel(self, channel_id: int, /) -> Any: ...


class Visibility:
    def __init__(self, discord_client: ChannelLookup, repo: Repository) -> None:
        self._discord = discord_client
        self._repo = repo
        self._fetched: dict[int, Place | None] = {}

    async def _place(self, guild: discord.Guild, channel_id: int, budget: list[int]) -> Place | None:
        place = guild.get_channel_or_thread(channel_id)
        if place is not None:
            return place
        if channel_id in self._fetched:
            return self._fetched[channel_id]
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        try:
            fetched = await self._discord.fetch_channel(channel_id)
        except (discord.NotFound, discord.Forbidden):
            fetched = None
        except discord.HTTPException as exc:
            log.info("Could not look up channel %d (%s)", channel_id, exc.code)
            return None
        found = fetched if isinstance(fetched, discord.abc.GuildChannel | discord.Thread) else None
        self._fetched[channel_id] = found
        return found

    @staticmethod
    def _member_can_view(place: Place, member: discord.Member) -> bool:
        if isinstance(place, discord.Thread):
            parent = place.parent
            if parent is None:
                return False
            permissions = parent.permissions_for(member)
            if place.type == discord.ChannelType.private_thread:
                return permissions.view_channel and (permissions.manage_threads or place.owner_id == member.id)
            return permissions.view_channel
        return place.permissions_for(member).view_channel

    async def channels_for(self, member: discord.Member) -> list[int]:
        """The channels (and threads) with songs in them that `member` can view."""
        budget = [FETCHES_PER_CHECK]
        visible = []
        for channel_id in await self._repo.song_channels(member.guild.id):
            place = await self._place(member.guild, channel_id, budget)
            if place is not None and self._member_can_view(place, member):
                visible.append(channel_id)
        return visible

    async def member_can_view(self, member: discord.Member, channel_id: int) -> bool:
        place = await self._place(member.guild, channel_id, [FETCHES_PER_CHECK])
        return place is not None and self._member_can_view(place, member)

    async def everyone_can_view(self, guild: discord.Guild, channel_id: int) -> bool:
        """Whether `@everyone` may view the channel (a private thread: never)."""
        place = await self._place(guild, channel_id, [FETCHES_PER_CHECK])
        if place is None:
            return False
        if isinstance(place, discord.Thread):
            if place.type == discord.ChannelType.private_thread or place.parent is None:
                return False
            place = place.parent
        return place.permissions_for(guild.default_role).view_channel

    async def is_public(self, guild_id: int, channel_id: int) -> bool:
        """`everyone_can_view` by the guild's id, for songs posted away from any interaction (the
        favourites channel): False when the bot no longer knows the guild."""
        guild = self._discord.get_guild(guild_id)
        return guild is not None and await self.everyone_can_view(guild, channel_id)
