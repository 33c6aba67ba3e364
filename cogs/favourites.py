"""The ☆ Star button on every song: star it, press again to unstar; the count shows on the button.

Like the other song buttons it is a `DynamicItem` (`star:<song id>`), so it works after restarts and
on old songs. The favourites channel and `/songs sort:top` read the same stars (`bot.songs.favourites`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.app.commands import report_error
from bot.i18n import Locale, t

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

STAR_EMOJI = "☆"


def star_label(stars: int, locale: Locale = None) -> str:
    """`Star`, then `Star · 3` once someone starred the song."""
    return f"{t(locale, 'Star')} · {stars}" if stars > 0 else t(locale, "Star")


class StarButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"star:(?P<song_id>[^\s]{1,80})"):
    """Toggles the pressing member's star on a song and shows the new count."""

    def __init__(self, song_id: str, stars: int = 0, locale: Locale = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=star_label(stars, locale),
                emoji=STAR_EMOJI,
                style=discord.ButtonStyle.secondary,
                custom_id=f"star:{song_id}",
            )
        )
        self.song_id = song_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> StarButton:
        return cls(match["song_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MusicBot = interaction.client  # type: ignore[assignment]
        try:
            song = await bot.songs.find_song(interaction.guild_id or 0, self.song_id)
            _, stars = await bot.favourites.toggle(song, interaction.user.id)
            locale = await bot.languages.of(interaction.guild_id)  # the song's message is public
            view = bot.delivery.song_view(song, stars, locale) if bot.delivery.song_view is not None else None
            await interaction.response.edit_message(view=view)
        except Exception as exc:  # buttons do not pass through the command tree's handler
            await report_error(interaction, exc)
            return
        bot.favourites.post_soon(song, stars)


class Favourites(commands.Cog):
    """Registers the Star button, so presses on any song message (old or new) reach it."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(StarButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(StarButton)


async def setup(bot: MusicBot) -> None:
    """Load the Star button."""
    await bot.add_cog(Favourites(bot))
