"""/share and the 🔗 Share button: a public link to one song, and the link to every song's page.

A song's requester, or a member with Manage Server, may share it; `/share song: revoke:True` ends
the link (its page then 404s). A song from a channel `@everyone` cannot view is shared only after
the member confirms. With the web gallery off (no PUBLIC_URL, DISCORD_CLIENT_SECRET or SECRET_KEY)
none of this is offered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.commands import report_error
from bot.core.errors import InvalidInput, Phrase
from bot.i18n import N_, Locale, t
from bot.songs.render import NO_MENTIONS, display_title
from bot.storage.repository import SongRow
from bot.web.links import WebLinks
from cogs._common import song_autocomplete

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

CONFIRM_SECONDS = 120
WEB_OFF = N_("The web pages are off on this bot (its owner has not set them up), so songs cannot be shared by link.")
GALLERY_OFF = N_("This server has turned its web gallery off (`/settings web_gallery:`), so songs cannot be shared.")
NOT_YOURS = N_("Only the member who made this song, or someone with Manage Server, can share it or end its link.")
SHARED = N_(
    "🔗 Anyone with this link can listen to **{title}**: {url}\nEnd it with `/share song:{song_id} revoke:True`."
)
PRIVATE = N_(
    "**{title}** was made in a channel not everyone in this server can see. "
    "A public link lets anyone on the internet listen to it. Share it anyway?"
)
REVOKED = N_("The public link to **{title}** no longer works.")
NOT_SHARED = N_("**{title}** had no public link.")
SHARE_DESCRIPTION = "Share a song with anyone by a public link, or end its link."
SONG_HELP = "A song from this server: pick from the list, or paste its id or message link"
REVOKE_HELP = "End the song's public link (its page then shows 'not found')"
"""The command's words, the same whether the web pages are on or off (the catalog holds one set)."""


class ShareButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"share:(?P<song_id>[^\s]{1,80})"):
    """🔗 Share on a song message: the same as `/share song:`."""

    def __init__(self, song_id: str, locale: Locale = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=t(locale, "Share"), emoji="🔗", style=discord.ButtonStyle.secondary, custom_id=f"share:{song_id}"
            )
        )
        self.song_id = song_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> ShareButton:
        return cls(match["song_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Share")  # type: ignore[attr-defined]
        try:
            assert isinstance(cog, Share)
            await cog.share(interaction, self.song_id)
        except Exception as exc:  # buttons do not pass through the command tree's handler
            await report_error(interaction, exc)


class ConfirmShare(discord.ui.View):
    """ "Share anyway" for a song from a private channel; only the member who asked may press it."""

    def __init__(self, cog: Share, song: SongRow, member_id: int, locale: Locale = None) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.cog, self.song, self.member_id = cog, song, member_id
        self.confirm.label, self.cancel.label = t(locale, "Share anyway"), t(locale, "Cancel")

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.member_id

    @discord.ui.button(label="…", emoji="🔗", style=discord.ButtonStyle.danger)  # labelled in __init__
    async def confirm(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        self.stop()
        text = t(interaction.locale, await self.cog.make_link(self.song, interaction.user.id))
        await interaction.response.edit_message(content=text, view=None)

    @discord.ui.button(label="…", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(content=t(interaction.locale, "Not shared."), view=None)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]) -> None:
        await report_error(interaction, error)


class Share(commands.Cog):
    """Public links to songs, and links from song messages to their pages on the web."""

    def __init__(self, bot: MusicBot, links: WebLinks) -> None:
        self.bot = bot
        self.links = links
        self._inner_view: Callable[[SongRow, int, str], discord.ui.View | None] | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ShareButton)
        self._inner_view = self.bot.delivery.song_view
        self.bot.delivery.song_view = self.song_view

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ShareButton)
        self.bot.delivery.song_view = self._inner_view

    def song_view(self, song: SongRow, stars: int = 0, locale: Locale = None) -> discord.ui.View | None:
        """The song's buttons (cogs/followups), plus 🔗 Share and a link to its page."""
        view = self._inner_view(song, stars, locale or "en-US") if self._inner_view is not None else None
        if view is None or song.kind != "song":
            return view
        view.add_item(ShareButton(song.id, locale))
        page = self.links.song_page(song.guild_id, song.id)
        view.add_item(discord.ui.Button(label=t(locale, "Song page"), emoji="🌐", url=page))
        return view

    async def _check(self, interaction: discord.Interaction, reference: str) -> SongRow:
        assert interaction.guild_id is not None
        song = await self.bot.find_song(interaction, reference)
        if song.requester_id != interaction.user.id and not interaction.permissions.manage_guild:
            raise InvalidInput(NOT_YOURS)
        return song

    async def make_link(self, song: SongRow, member_id: int) -> Phrase:
        if not await self.bot.repo.web_gallery(song.guild_id):
            raise InvalidInput(GALLERY_OFF)
        token = await self.bot.repo.share_song(song, member_id, self.bot.songs.now())
        return Phrase(
            SHARED,
            title=discord.utils.escape_markdown(display_title(song, 100)),
            url=self.links.share_page(token),
            song_id=song.id,
        )

    async def share(self, interaction: discord.Interaction, reference: str) -> None:
        song = await self._check(interaction, reference)
        if not await self.bot.repo.web_gallery(song.guild_id):
            raise InvalidInput(GALLERY_OFF)
        already = await self.bot.repo.share_token(song.id)
        if already is None and not await self.bot.visibility.is_public(song.guild_id, song.channel_id):
            title = discord.utils.escape_markdown(display_title(song, 100))
            await interaction.response.send_message(
                t(interaction.locale, PRIVATE, title=title),
                view=ConfirmShare(self, song, interaction.user.id, interaction.locale),
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        text = t(interaction.locale, await self.make_link(song, interaction.user.id))
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="share", description=SHARE_DESCRIPTION)
    @app_commands.guild_only()
    @app_commands.describe(song=SONG_HELP, revoke=REVOKE_HELP)
    @app_commands.autocomplete(song=song_autocomplete)
    async def share_command(self, interaction: discord.Interaction, song: str, revoke: bool = False) -> None:
        if not revoke:
            await self.share(interaction, song)
            return
        target = await self._check(interaction, song)
        ended = await self.bot.repo.revoke_share(target.id)
        title = discord.utils.escape_markdown(display_title(target, 100))
        text = t(interaction.locale, REVOKED if ended else NOT_SHARED, title=title)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


class WebOff(commands.Cog):
    """/share when the web gallery is off: says so instead of vanishing, so members learn why."""

    @app_commands.command(name="share", description=SHARE_DESCRIPTION)
    @app_commands.guild_only()
    @app_commands.describe(song=SONG_HELP, revoke=REVOKE_HELP)
    async def share_command(self, interaction: discord.Interaction, song: str, revoke: bool = False) -> None:
        raise InvalidInput(WEB_OFF)


async def setup(bot: MusicBot) -> None:
    """Load /share (and the Share button and song-page links when the web gallery is on)."""
    if bot.web_links is None:
        await bot.add_cog(WebOff())
    else:
        await bot.add_cog(Share(bot, bot.web_links))
