"""Playlist rules: who may change a playlist, what a member sees of one, and each change's wording.

* A personal playlist is changed (songs added, removed, moved; renamed) only by its owner; a
  shared one by any member of the server.
* A playlist is deleted by its owner, or by a member with Manage Server (a shared one too).
* A song is in a playlist once at most; order is kept; `move` puts a song at a place (1 = first).
* Songs from channels a member cannot view are never shown, exported or played to them through a
  playlist (they stay in it for those who can).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import discord

from bot.access.visibility import Visibility
from bot.core.errors import InvalidInput, Phrase
from bot.playlists.render import title_of
from bot.storage import Playlist, Repository, SongRow

NAME_MAX = 50
PLAYLIST_SONGS_MAX = 200
"""Songs per playlist: two /play queues' worth, a long evening."""
PLAYLISTS_PER_MEMBER = 25
"""Playlists one member may own in a server (autocomplete shows 25)."""


def clean_name(name: str) -> str:
    """A playlist name on one line, without surrounding spaces; refused when empty or too long."""
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("Give the playlist a name.")
    if len(name) > NAME_MAX:
        raise InvalidInput("A playlist name is at most {limit} characters.", limit=NAME_MAX)
    return name


class PlaylistService:
    """Playlists of a server, as members see and change them."""

    def __init__(self, repo: Repository, visibility: Visibility, *, clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.visibility = visibility
        self.clock = clock

    # -- finding -----------------------------------------------------------------------------

    async def find(self, guild_id: int, reference: str) -> Playlist:
        """The playlist a member named: the id autocomplete filled in, or its name."""
        reference = reference.strip()
        playlist = None
        if reference.isdigit():
            playlist = await self.repo.playlist(int(reference))
            if playlist is not None and playlist.guild_id != guild_id:
                playlist = None
        if playlist is None:
            playlist = await self.repo.playlist_named(guild_id, reference)
        if playlist is None:
            raise InvalidInput("There is no playlist of that name in this server. See them with `/playlist show`.")
        return playlist

    async def choices(self, guild_id: int, member_id: int, text: str, *, editable: bool) -> list[Playlist]:
        """Playlists for autocomplete and the ➕ button's select: the member's own and shared ones
        first; with `editable`, only those they may change."""
        found = await self.repo.guild_playlists(guild_id, text=text, limit=100)
        if editable:
            found = [playlist for playlist in found if self.may_edit(playlist, member_id)]
        found.sort(key=lambda playlist: 0 if playlist.owner_id == member_id else 1 if playlist.shared else 2)
        return found[:25]

    async def visible_songs(self, member: discord.abc.User, playlist: Playlist) -> tuple[list[SongRow], int]:
        """The playlist's songs the member can see, in order, and how many others it holds."""
        everything = await self.repo.playlist_songs(playlist.id)
        if not isinstance(member, discord.Member):
            return everything, 0
        channels = set(await self.visibility.channels_for(member))
        visible = [song for song in everything if song.channel_id in channels]
        return visible, len(everything) - len(visible)

    # -- rules -------------------------------------------------------------------------------

    @staticmethod
    def may_edit(playlist: Playlist, member_id: int) -> bool:
        return playlist.shared or playlist.owner_id == member_id

    def check_edit(self, playlist: Playlist, member_id: int) -> None:
        if not self.may_edit(playlist, member_id):
            raise InvalidInput(
                "**{playlist}** is {member}'s personal playlist: only they can change it.",
                playlist=discord.utils.escape_markdown(playlist.name),
                member=f"<@{playlist.owner_id}>",
            )

    # -- changes -----------------------------------------------------------------------------

    async def create(self, guild_id: int, owner_id: int, name: str, *, shared: bool) -> Playlist:
        name = clean_name(name)
        owned = [p for p in await self.repo.guild_playlists(guild_id, limit=1000) if p.owner_id == owner_id]
        if len(owned) >= PLAYLISTS_PER_MEMBER:
            raise InvalidInput("You have {count} playlists here already: delete one first.", count=PLAYLISTS_PER_MEMBER)
        playlist = await self.repo.create_playlist(guild_id, owner_id, name, shared=shared, at=self.clock())
        if playlist is None:
            raise InvalidInput("This server already has a playlist of that name: pick another one.")
        return playlist

    async def add(self, playlist: Playlist, song: SongRow, member_id: int) -> Phrase:
        self.check_edit(playlist, member_id)
        if song.kind == "stems":
            raise InvalidInput("Stems cannot go in a playlist: add the song itself.")
        try:
            result = await self.repo.add_playlist_song(
                playlist.id, song.id, member_id, self.clock(), max_songs=PLAYLIST_SONGS_MAX
            )
        except LookupError:
            raise InvalidInput("That playlist was just deleted.") from None
        name = discord.utils.escape_markdown(playlist.name)
        if result == "duplicate":
            raise InvalidInput("**{song}** is already in **{playlist}**.", song=title_of(song), playlist=name)
        if result == "full":
            raise InvalidInput(
                "**{playlist}** is full ({count} songs). Remove some first.", playlist=name, count=PLAYLIST_SONGS_MAX
            )
        return Phrase("➕ Added **{song}** to **{playlist}**.", song=title_of(song), playlist=name)

    async def remove(self, playlist: Playlist, song: SongRow, member_id: int) -> Phrase:
        self.check_edit(playlist, member_id)
        name = discord.utils.escape_markdown(playlist.name)
        if not await self.repo.remove_playlist_song(playlist.id, song.id):
            raise InvalidInput("**{song}** is not in **{playlist}**.", song=title_of(song), playlist=name)
        return Phrase("➖ Removed **{song}** from **{playlist}**.", song=title_of(song), playlist=name)

    async def move(self, playlist: Playlist, song: SongRow, position: int, member_id: int) -> Phrase:
        self.check_edit(playlist, member_id)
        name = discord.utils.escape_markdown(playlist.name)
        place = await self.repo.move_playlist_song(playlist.id, song.id, position)
        if place is None:
            raise InvalidInput("**{song}** is not in **{playlist}**.", song=title_of(song), playlist=name)
        return Phrase(
            "↕️ **{song}** is now #{place} in **{playlist}**.", song=title_of(song), place=place, playlist=name
        )

    async def rename(self, playlist: Playlist, name: str, member_id: int) -> Phrase:
        self.check_edit(playlist, member_id)
        new = clean_name(name)
        if not await self.repo.rename_playlist(playlist.id, new):
            raise InvalidInput("This server already has a playlist of that name: pick another one.")
        return Phrase(
            "✏️ Renamed **{old}** to **{new}**.",
            old=discord.utils.escape_markdown(playlist.name),
            new=discord.utils.escape_markdown(new),
        )

    async def delete(self, playlist: Playlist, member_id: int, *, manage_guild: bool) -> Phrase:
        if playlist.owner_id != member_id and not manage_guild:
            raise InvalidInput(
                "Only {member} (who made it) or a member with **Manage Server** can delete **{playlist}**.",
                member=f"<@{playlist.owner_id}>",
                playlist=discord.utils.escape_markdown(playlist.name),
            )
        await self.repo.delete_playlist(playlist.id)
        return Phrase("🗑️ Deleted the playlist **{playlist}**.", playlist=discord.utils.escape_markdown(playlist.name))


__all__ = ["NAME_MAX", "PLAYLISTS_PER_MEMBER", "PLAYLIST_SONGS_MAX", "PlaylistService", "clean_name"]
