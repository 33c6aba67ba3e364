"""/prefer: a member's own defaults in every server, and the DM of each finished song (`auto_dm`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import escape_markdown

from bot.i18n import Locale, command_name, t
from bot.songs.preferences import STYLE_SUFFIX_MAX
from bot.songs.render import EMBED_COLOUR, NO_MENTIONS
from bot.storage.models import Preferences
from cogs._common import MODEL_CHOICES

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

log = logging.getLogger(__name__)


def preferences_embed(prefs: Preferences, *, changed: bool, locale: Locale = None) -> discord.Embed:
    """What `/prefer` shows (in the member's language): every preference and what it does when unset."""
    title = t(locale, "Your preferences (saved)") if changed else t(locale, "Your preferences")
    embed = discord.Embed(title=title, colour=EMBED_COLOUR)
    embed.description = t(locale, "They follow you into every server with this bot. `/prefer reset:True` clears them.")
    auto_dm = t(locale, "on: I DM you each song of yours") if prefs.auto_dm else t(locale, "off")
    embed.add_field(name=command_name(locale, "auto_dm"), value=auto_dm, inline=False)
    embed.add_field(
        name=command_name(locale, "model"),
        value=prefs.model or t(locale, "not chosen: each server's default model"),
        inline=False,
    )
    suffix = f"`{escape_markdown(prefs.style_suffix).replace('`', 'ˋ')}`" if prefs.style_suffix else t(locale, "none")
    value = t(locale, "{suffix} (added to the end of your prompts and styles)", suffix=suffix)
    embed.add_field(name=command_name(locale, "style_suffix"), value=value, inline=False)
    return embed


class Prefer(commands.Cog):
    """/prefer (the DM of each finished song, `auto_dm`, is an outbox step: `bot.songs.follow_ups`)."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    @app_commands.command(name="prefer", description="Your own defaults, in every server (without options: show them).")
    @app_commands.describe(
        auto_dm="Also DM me every finished song of mine",
        model="My default model (a server's default applies only while I have not chosen one)",
        style_suffix="Text added to the end of every prompt or style I send (up to 100 characters)",
        reset="Clear all my preferences",
    )
    @app_commands.choices(model=MODEL_CHOICES)
    async def prefer(
        self,
        interaction: discord.Interaction,
        auto_dm: bool | None = None,
        model: str | None = None,
        style_suffix: app_commands.Range[str, 1, STYLE_SUFFIX_MAX] | None = None,
        reset: bool = False,
    ) -> None:
        user_id = interaction.user.id
        changing = reset or auto_dm is not None or model is not None or style_suffix is not None
        if changing:
            prefs = await self.bot.prefs.update(
                user_id, auto_dm=auto_dm, model=model, style_suffix=style_suffix, reset=reset
            )
        else:
            prefs = await self.bot.prefs.get(user_id)
        await interaction.response.send_message(
            embed=preferences_embed(prefs, changed=changing, locale=interaction.locale),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: MusicBot) -> None:
    """Load /prefer and the auto-DM of finished songs."""
    await bot.add_cog(Prefer(bot))
