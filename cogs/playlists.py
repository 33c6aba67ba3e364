"""/playlist: members' playlists of the server's songs, and the ➕ Add to playlist button's select.

Thin: the rules (who may change or delete a playlist, what a member sees of one) live in
`bot.playlists.service`, the pages and the `.m3u8` in `bot.playlists.render`. `/play playlist:`
is in cogs/listen.py; the ➕ button on songs is dispatched by cogs/followups.py to `add_to_playlist`.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.commands import report_error
from bot.core.errors import InvalidInput, Phrase
from bot.i18n import Locale, t
from bot.playlists.render import export_filename, m3u8, page_count, playlist_embed
from bot.songs.render import NO_MENTIONS, clip
from bot.storage import Playlist, SongRow
from cogs._common import song_autocomplete, song_choice_label

if TYPE_CHECKING:
    from bot.app.bot import MusicBot


def _bot(interaction: discord.Interaction) -> MusicBot:
    return interaction.client  # type: ignore[return-value]


def _label(playlist: Playlist, member_id: int, locale: Locale) -> str:
    if playlist.owner_id == member_id:
        whose = t(locale, "yours")
    else:
        whose = t(locale, "shared") if playlist.shared else t(locale, "personal")
    return clip(f"{playlist.name} · {whose}", 100)


async def _choices(interaction: discord.Interaction, current: str, *, editable: bool) -> list[app_commands.Choice[str]]:
    if interaction.guild_id is None:
        return []
    found = await _bot(interaction).playlists.choices(
        interaction.guild_id, interaction.user.id, current, editable=editable
    )
    return [
        app_commands.Choice(name=_label(p, interaction.user.id, interaction.locale), value=str(p.id)) for p in found
    ]


async def playlist_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Every playlist of the server (the member's own and shared ones first)."""
    return await _choices(interaction, current, editable=False)


async def editable_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """The playlists the member may change: their own and shared ones."""
    return await _choices(interaction, current, editable=True)


async def in_playlist_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Songs of the playlist chosen in the same command that the member can see."""
    bot = _bot(interaction)
    reference = str(getattr(interaction.namespace, "playlist", "") or "")
    if interaction.guild_id is None or not reference:
        return await song_autocomplete(interaction, current)
    try:
        playlist = await bot.playlists.find(interaction.guild_id, reference)
    except InvalidInput:
        return []
    songs, _ = await bot.playlists.visible_songs(interaction.user, playlist)
    text = current.strip().casefold()
    matching = [s for s in songs if text in (s.title or "").casefold() or s.id.startswith(current.strip())]
    return [app_commands.Choice(name=song_choice_label(s), value=s.id) for s in matching[:25]]


async def find_playlist(interaction: discord.Interaction, reference: str) -> Playlist:
    if interaction.guild_id is None:
        raise InvalidInput("Playlists belong to a server: use this in one.")
    return await _bot(interaction).playlists.find(interaction.guild_id, reference)


async def reply(interaction: discord.Interaction, said: Phrase | str, **extra: Any) -> None:
    """A private answer in the member's language (a `Phrase` is translated; a `str` already is)."""
    text = t(interaction.locale, said) if isinstance(said, Phrase) else said
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra)


async def show_page(interaction: discord.Interaction, playlist: Playlist, page: int, *, edit: bool = False) -> None:
    """A page of the playlist, privately, with ◀️ ▶️ to turn pages (they edit the same message)."""
    songs, hidden = await _bot(interaction).playlists.visible_songs(interaction.user, playlist)
    pages = page_count(songs)
    page = max(1, min(page, pages))
    embed = playlist_embed(playlist, songs, page, hidden=hidden, locale=interaction.locale)
    view = discord.ui.View(timeout=None)
    if pages > 1:
        view.add_item(PageButton(playlist.id, page - 1, disabled=page <= 1, emoji="◀️"))
        view.add_item(PageButton(playlist.id, page + 1, disabled=page >= pages, emoji="▶️"))
    if edit:
        await interaction.response.edit_message(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)


class PageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"playlist:page:(?P<id>\d+):(?P<page>\d+)"):
    """◀️ / ▶️ under /playlist show; the custom id holds the playlist and the page it leads to."""

    def __init__(self, playlist_id: int, page: int, *, disabled: bool = False, emoji: str = "▶️") -> None:
        super().__init__(
            discord.ui.Button(
                emoji=emoji,
                style=discord.ButtonStyle.secondary,
                disabled=disabled,
                custom_id=f"playlist:page:{playlist_id}:{max(page, 1)}",
            )
        )
        self.playlist_id, self.page = playlist_id, max(page, 1)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> PageButton:
        return cls(int(match["id"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            playlist = await find_playlist(interaction, str(self.playlist_id))
            await show_page(interaction, playlist, self.page, edit=True)
        except Exception as exc:  # buttons do not pass through the command tree's handler
            await report_error(interaction, exc)


class AddSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=r"playlist:add:(?P<song_id>[^\s]{1,80})"):
    """The private select the ➕ Add to playlist button shows: the member's playlists (and shared ones)."""

    def __init__(self, song_id: str, options: list[discord.SelectOption] | None = None, locale: Locale = None) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"playlist:add:{song_id}",
                placeholder=t(locale, "Add to which playlist?"),
                options=options or [discord.SelectOption(label="…", value="0")],
            )
        )
        self.song_id = song_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Select[Any], match: re.Match[str], /
    ) -> AddSelect:
        return cls(match["song_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            bot = _bot(interaction)
            values = (interaction.data or {}).get("values") or []  # type: ignore[union-attr]
            song = await bot.find_song(interaction, self.song_id)
            playlist = await find_playlist(interaction, str(values[0]) if values else "")
            said = await bot.playlists.add(playlist, song, interaction.user.id)
            text = t(interaction.locale, said)
            await interaction.response.edit_message(content=text, view=None, allowed_mentions=NO_MENTIONS)
        except Exception as exc:
            await report_error(interaction, exc)


async def add_to_playlist(bot: MusicBot, interaction: discord.Interaction, song: SongRow) -> None:
    """The ➕ Add to playlist button: a private select of the playlists the member may add to."""
    if interaction.guild_id is None:
        raise InvalidInput("Playlists belong to a server: use this in one.")
    found = await bot.playlists.choices(interaction.guild_id, interaction.user.id, "", editable=True)
    if not found:
        raise InvalidInput("You have no playlist here yet: make one with `/playlist create`, then press ➕ again.")
    locale = interaction.locale
    options = [discord.SelectOption(label=_label(p, interaction.user.id, locale), value=str(p.id)) for p in found]
    view = discord.ui.View(timeout=None)
    view.add_item(AddSelect(song.id, options, locale))
    await interaction.response.send_message(
        t(
            locale,
            "Add **{song}** to which playlist?",
            song=discord.utils.escape_markdown(clip(song.title or "Untitled", 80)),
        ),
        view=view,
        ephemeral=True,
        allowed_mentions=NO_MENTIONS,
    )


@app_commands.guild_only()
class PlaylistCommands(commands.GroupCog, group_name="playlist", group_description="Playlists of this server's songs."):
    """Create, fill, reorder, show, export and delete playlists."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PageButton, AddSelect)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PageButton, AddSelect)

    @app_commands.command(name="create", description="Make a playlist: personal (only you edit it) or shared.")
    @app_commands.describe(name="Its name (unique in this server)", shared="Let every member add, remove and reorder")
    async def create(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 50], shared: bool = False
    ) -> None:
        assert interaction.guild_id is not None
        playlist = await self.bot.playlists.create(interaction.guild_id, interaction.user.id, name, shared=shared)
        name = discord.utils.escape_markdown(playlist.name)
        if shared:
            made = Phrase(
                "🎼 Made the shared playlist (any member may edit it) **{playlist}**. Add songs with "
                "`/playlist add` or a song's ➕ Add to playlist button.",
                playlist=name,
            )
        else:
            made = Phrase(
                "🎼 Made the playlist (only you can edit it) **{playlist}**. Add songs with "
                "`/playlist add` or a song's ➕ Add to playlist button.",
                playlist=name,
            )
        await reply(interaction, made)

    @app_commands.command(name="add", description="Add a song to the end of a playlist.")
    @app_commands.describe(playlist="The playlist", song="A song of this server (pick from the list, or paste its id)")
    @app_commands.autocomplete(playlist=editable_autocomplete, song=song_autocomplete)
    async def add(self, interaction: discord.Interaction, playlist: str, song: str) -> None:
        found = await find_playlist(interaction, playlist)
        row = await self.bot.find_song(interaction, song)
        await reply(interaction, await self.bot.playlists.add(found, row, interaction.user.id))

    @app_commands.command(name="remove", description="Take a song out of a playlist.")
    @app_commands.describe(playlist="The playlist", song="A song in it")
    @app_commands.autocomplete(playlist=editable_autocomplete, song=in_playlist_autocomplete)
    async def remove(self, interaction: discord.Interaction, playlist: str, song: str) -> None:
        found = await find_playlist(interaction, playlist)
        row = await self.bot.find_song(interaction, song)
        await reply(interaction, await self.bot.playlists.remove(found, row, interaction.user.id))

    @app_commands.command(name="move", description="Move a song to another place in a playlist (1 = first).")
    @app_commands.describe(playlist="The playlist", song="A song in it", position="Its new place (1 = first)")
    @app_commands.autocomplete(playlist=editable_autocomplete, song=in_playlist_autocomplete)
    async def move(
        self, interaction: discord.Interaction, playlist: str, song: str, position: app_commands.Range[int, 1, 1000]
    ) -> None:
        found = await find_playlist(interaction, playlist)
        row = await self.bot.find_song(interaction, song)
        await reply(interaction, await self.bot.playlists.move(found, row, position, interaction.user.id))

    @app_commands.command(name="show", description="A playlist's songs in order, with its total length.")
    @app_commands.describe(playlist="The playlist", page="Which page (15 songs each)")
    @app_commands.autocomplete(playlist=playlist_autocomplete)
    async def show(
        self, interaction: discord.Interaction, playlist: str, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        await show_page(interaction, await find_playlist(interaction, playlist), page)

    @app_commands.command(name="rename", description="Give a playlist a new name.")
    @app_commands.describe(playlist="The playlist", name="Its new name")
    @app_commands.autocomplete(playlist=editable_autocomplete)
    async def rename(
        self, interaction: discord.Interaction, playlist: str, name: app_commands.Range[str, 1, 50]
    ) -> None:
        found = await find_playlist(interaction, playlist)
        await reply(interaction, await self.bot.playlists.rename(found, name, interaction.user.id))

    @app_commands.command(name="delete", description="Delete a playlist (its songs stay in the library).")
    @app_commands.describe(playlist="The playlist (yours; any, with Manage Server)")
    @app_commands.autocomplete(playlist=playlist_autocomplete)
    async def delete(self, interaction: discord.Interaction, playlist: str) -> None:
        found = await find_playlist(interaction, playlist)
        text = await self.bot.playlists.delete(
            found, interaction.user.id, manage_guild=interaction.permissions.manage_guild
        )
        await reply(interaction, text)

    @app_commands.command(name="export", description="A playlist as an .m3u8 file (titles and audio links).")
    @app_commands.describe(playlist="The playlist")
    @app_commands.autocomplete(playlist=playlist_autocomplete)
    async def export(self, interaction: discord.Interaction, playlist: str) -> None:
        found = await find_playlist(interaction, playlist)
        songs, _ = await self.bot.playlists.visible_songs(interaction.user, found)
        data = m3u8(found, songs).encode()
        file = discord.File(io.BytesIO(data), filename=export_filename(found))
        count = sum(1 for song in songs if song.audio_url)
        said = Phrase.counted(
            "📄 **{playlist}**: {count} song. Open the file in a music player (VLC, foobar2000, …).",
            "📄 **{playlist}**: {count} songs. Open the file in a music player (VLC, foobar2000, …).",
            count,
            playlist=discord.utils.escape_markdown(found.name),
        )
        await reply(interaction, said, file=file)


async def setup(bot: MusicBot) -> None:
    """Load /playlist."""
    await bot.add_cog(PlaylistCommands(bot))
