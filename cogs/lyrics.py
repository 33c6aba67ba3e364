"""/lyrics prompt: lyrics from the API, shown privately with **Sing it** and **Again**.

Sing it opens the /compose form pre-filled with the title and the lyrics, so the member can edit
them before generating; Again asks for new lyrics for the same prompt. The buttons carry the
draft's id (`lyrics:sing:<id>`), so they work after a restart too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import escape_markdown

from bot.app.commands import report_error
from bot.i18n import N_, Locale, t
from bot.songs.lyrics import LYRICS_PROMPT_MAX
from bot.songs.render import EMBED_COLOUR, EMBED_DESCRIPTION, EMBED_TITLE, NO_MENTIONS, clip, fit_embed
from bot.storage.models import LyricsDraft
from cogs.generate import ComposeModal

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

BUTTONS: dict[str, tuple[str, str]] = {"sing": (N_("Sing it"), "🎤"), "again": (N_("Again"), "🔄")}


def lyrics_embed(draft: LyricsDraft, locale: Locale = None) -> discord.Embed:
    """The lyrics in full (as far as an embed holds), their title and the prompt they came from."""
    title = escape_markdown(draft.title) if draft.title else t(locale, "Lyrics")
    embed = discord.Embed(title=clip(title, EMBED_TITLE), colour=EMBED_COLOUR)
    embed.description = clip(escape_markdown(draft.lyrics), EMBED_DESCRIPTION)
    embed.add_field(name=t(locale, "Prompt"), value=clip(escape_markdown(draft.prompt), 1024), inline=False)
    embed.set_footer(text=t(locale, "Sing it opens /compose with these lyrics, to edit before making the song."))
    return fit_embed(embed)


class LyricsButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"lyrics:(?P<action>sing|again):(?P<id>\d{1,19})"
):
    """Sing it / Again under a member's lyrics; the custom id names the stored draft."""

    def __init__(self, action: str, draft_id: int, locale: Locale = None) -> None:
        label, emoji = BUTTONS[action]
        style = discord.ButtonStyle.primary if action == "sing" else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(label=t(locale, label), emoji=emoji, style=style, custom_id=f"lyrics:{action}:{draft_id}")
        )
        self.action = action
        self.draft_id = draft_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> LyricsButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Lyrics")  # type: ignore[attr-defined]
        assert isinstance(cog, Lyrics)
        try:
            if self.action == "sing":
                await cog.sing(interaction, self.draft_id)
            else:
                await cog.again(interaction, self.draft_id)
        except Exception as exc:  # buttons do not pass through the command tree's handler
            await report_error(interaction, exc)


def lyrics_view(draft: LyricsDraft, locale: Locale = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in BUTTONS:
        view.add_item(LyricsButton(action, draft.id, locale))
    return view


class Lyrics(commands.Cog):
    """/lyrics and its buttons."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(LyricsButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(LyricsButton)

    @app_commands.command(name="lyrics", description="Lyrics written for you from a short prompt (shown only to you).")
    @app_commands.guild_only()
    @app_commands.describe(prompt="What the song is about (up to 200 characters)")
    async def lyrics(
        self, interaction: discord.Interaction, prompt: app_commands.Range[str, 1, LYRICS_PROMPT_MAX]
    ) -> None:
        await self._write(interaction, prompt)

    async def _write(self, interaction: discord.Interaction, prompt: str) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        draft = await self.bot.lyrics.write(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            prompt=prompt,
        )
        await interaction.followup.send(
            embed=lyrics_embed(draft, interaction.locale),
            view=lyrics_view(draft, interaction.locale),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def again(self, interaction: discord.Interaction, draft_id: int) -> None:
        """New lyrics for the same prompt, in a new private message (the earlier ones stay usable)."""
        draft = await self.bot.lyrics.draft(draft_id, interaction.user.id)
        await self._write(interaction, draft.prompt)

    async def sing(self, interaction: discord.Interaction, draft_id: int) -> None:
        """The /compose form, pre-filled with the draft's title and lyrics."""
        draft = await self.bot.lyrics.draft(draft_id, interaction.user.id)
        default = await self.bot.prefs.model_for(interaction.guild_id or 0, interaction.user.id)
        options = {
            "model": default,
            "instrumental": False,
            "lyrics_strength": None,
            "sound_strength": None,
            "weirdness": None,
        }
        modal = ComposeModal(
            self.bot,
            options=options,
            lyrics_file=None,
            member_id=interaction.user.id,
            title=draft.title,
            lyrics=draft.lyrics,
            locale=interaction.locale,
        )
        await interaction.response.send_modal(modal)


async def setup(bot: MusicBot) -> None:
    """Load /lyrics."""
    await bot.add_cog(Lyrics(bot))
