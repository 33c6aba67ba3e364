"""Who may see what on the web: exactly the Discord rules, from the bot's own view of the guild.

A signed-in member sees a server only while Discord says they are in it (the member is fetched
with the bot's token, and remembered for `MEMBER_TTL` seconds), and only songs from channels their
roles and the channel's overwrites let them view (`bot.access.Visibility`, as `/songs` does). A
server that turned its gallery off, a server the bot is not in, a song from a channel the member
cannot view and a song that does not exist all look the same: `None`, which the pages answer
with one 404.

In a cluster a process's gateway cache holds only the guilds of its own shards, yet any process
serves any page: a guild the cache lacks is read over REST (the guild with its roles, its
channels with their overwrites) and kept for `GUILD_TTL` seconds. Threads are not listed there;
their songs stay hidden on such a process rather than being shown by guesswork.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import discord

from bot.access.visibility import Visibility
from bot.storage.repository import Repository, SongRow

log = logging.getLogger(__name__)

MEMBER_TTL = 60.0
"""Seconds a fetched member (or "not a member") is trusted: leaving or a role change shows within this."""
GUILD_TTL = 60.0
"""Seconds a guild read over REST (another shard's) is kept: role and overwrite changes show within this."""
NAME_CACHE = 10_000
"""Display names remembered for the gallery's "made by" line."""


class GuildLookup(Protocol):
    """What the web pages need from Discord: the bot's cached guilds, and users by id."""

    def get_guild(self, guild_id: int, /) -> discord.Guild | None: ...

    def get_user(self, user_id: int, /) -> discord.User | None: ...

    async def fetch_user(self, user_id: int, /) -> discord.User: ...

    async def fetch_guild(self, guild_id: int, /) -> discord.Guild: ...


class WebAccess:
    def __init__(
        self,
        discord_client: GuildLookup,
        repo: Repository,
        visibility: Visibility,
        *,
        clock: Callable[[], float] = time.monotonic,
        all_shards: bool = True,
    ) -> None:
        self._clock = clock
        self.all_shards = all_shards
        """Whether this process's cache holds every guild of the bot (not one process of a cluster)."""
        self._guilds: dict[int, tuple[discord.Guild | None, float]] = {}
        self._discord = discord_client
        self._repo = repo
        self._visibility = visibility
        self._members: dict[tuple[int, int], tuple[discord.Member | None, float]] = {}
        self._names: OrderedDict[int, str] = OrderedDict()

    def has_guild(self, guild_id: int) -> bool:
        """Whether the bot may be in this guild: in the cache, or (in a cluster) perhaps on another shard."""
        return not self.all_shards or self._discord.get_guild(guild_id) is not None

    async def guild(self, guild_id: int) -> discord.Guild | None:
        """The guild as the bot sees it: from the gateway's cache, else (another shard's) over REST."""
        guild = self._discord.get_guild(guild_id)
        if guild is not None or self.all_shards:
            return guild
        known = self._guilds.get(guild_id)
        if known is not None and known[1] > self._clock():
            return known[0]
        try:
            fetched: discord.Guild | None = await self._discord.fetch_guild(guild_id)
            assert fetched is not None
            for channel in await fetched.fetch_channels():
                _remember_channel(fetched, channel)
        except (discord.NotFound, discord.Forbidden):
            fetched = None
        except discord.HTTPException as exc:
            log.info("Could not read guild %d over REST (%s)", guild_id, exc.status)
            return None
        if len(self._guilds) > NAME_CACHE:
            self._guilds.clear()
        self._guilds[guild_id] = (fetched, self._clock() + GUILD_TTL)
        return fetched

    async def member(self, guild_id: int, user_id: int) -> discord.Member | None:
        """The member as the bot sees them now, or None (not in the server, or the bot is not)."""
        guild = await self.guild(guild_id)
        if guild is None:
            return None
        cached = guild.get_member(user_id)
        if cached is not None:
            return cached
        key = (guild_id, user_id)
        known = self._members.get(key)
        if known is not None and known[1] > self._clock():
            return known[0]
        try:
            member: discord.Member | None = await guild.fetch_member(user_id)
        except discord.NotFound:
            member = None
        except discord.HTTPException as exc:
            log.info("Could not look up a member of guild %d (%s)", guild_id, exc.status)
            return None
        if len(self._members) > NAME_CACHE:
            self._members.clear()
        self._members[key] = (member, self._clock() + MEMBER_TTL)
        return member

    async def gallery_member(self, guild_id: int, user_id: int) -> discord.Member | None:
        """The member, when this server shows its gallery and they are in it; else None."""
        if not self.has_guild(guild_id) or not await self._repo.web_gallery(guild_id):
            return None
        return await self.member(guild_id, user_id)

    async def visible_channels(self, member: discord.Member) -> list[int]:
        return await self._visibility.channels_for(member)

    async def viewable_song(self, member: discord.Member, song_id: str) -> SongRow | None:
        song = await self._repo.song(song_id)
        if song is None or song.guild_id != member.guild.id or song.kind == "stems":
            return None
        if not await self._visibility.member_can_view(member, song.channel_id):
            return None
        return song

    async def shared_song(self, token: str) -> SongRow | None:
        """The song behind a public link, while its server still shows its gallery."""
        song = await self._repo.shared_song(token)
        if song is None or not await self._repo.web_gallery(song.guild_id):
            return None
        return song

    async def names(self, guild_id: int, user_ids: list[int]) -> dict[int, str]:
        """Display names for "made by": the server's cache, then remembered names, then Discord
        (each unknown user fetched once, together); "a member" when Discord does not say."""
        guild = self._discord.get_guild(guild_id)
        names: dict[int, str] = {}
        unknown = []
        for user_id in dict.fromkeys(user_ids):
            member = guild.get_member(user_id) if guild is not None else None
            user = member or self._discord.get_user(user_id)
            if user is not None:
                names[user_id] = user.display_name
            elif user_id in self._names:
                names[user_id] = self._names[user_id]
                self._names.move_to_end(user_id)
            else:
                unknown.append(user_id)
        for user_id, name in zip(unknown, await asyncio.gather(*map(self._fetch_name, unknown)), strict=True):
            names[user_id] = name
        return names

    async def _fetch_name(self, user_id: int) -> str:
        try:
            user = await self._discord.fetch_user(user_id)
        except discord.HTTPException:
            return "a member"
        self._names[user_id] = user.display_name
        while len(self._names) > NAME_CACHE:
            self._names.popitem(last=False)
        return user.display_name


def _remember_channel(guild: discord.Guild, channel: discord.abc.GuildChannel) -> None:
    """Put a channel read over REST into its guild's channel map, where `permissions_for` and
    `Visibility` look. discord.py fills that map only from the gateway and offers no public way."""
    guild._add_channel(channel)  # type: ignore[arg-type]
