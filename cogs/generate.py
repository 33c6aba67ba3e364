"""/generate (from a prompt) and /compose (from custom lyrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Locale, t
from bot.songs.validation import (
    LYRICS_MAX,
    LYRICS_MODAL_MAX,
    PROMPT_MAX,
    STYLE_MAX,
    TITLE_MAX,
    check_lyrics_file,
    check_model,
    check_range,
    clean_text,
    read_lyrics_file,
)
from cogs._common import MODEL_CHOICES, Form, song_request

if TYPE_CHECKING:
    from bot.app.bot import MusicBot


def _optional(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Add only the options the member set: unset strengths are left to the API's defaults."""
    body.update({key: value for key, value in fields.items() if value is not None})
    return body


class ComposeModal(Form):
    """Lyrics need line breaks, which slash options cannot carry, so they come through a modal.
    Its title, labels and hints are set in the member's language when it opens."""

    def __init__(
        self,
        bot: MusicBot,
        *,
        options: dict[str, Any],
        lyrics_file: discord.Attachment | None,
        member_id: int,
        title: str = "",
        lyrics: str = "",
        locale: Locale = None,
    ) -> None:
        super().__init__(form="compose", member_id=member_id, title=t(locale, "Compose a song"))
        # Built here, not as class attributes, so the labels are in the member's language from the
        # start (discord.py deprecates changing a text input's label afterwards).
        self.song_title: discord.ui.TextInput[ComposeModal] = discord.ui.TextInput(
            label=t(locale, "Title"),
            placeholder=t(locale, "Optional"),
            custom_id="compose:title",
            max_length=TITLE_MAX,
            required=False,
            default=title[:TITLE_MAX] or None,
        )
        self.style: discord.ui.TextInput[ComposeModal] = discord.ui.TextInput(
            label=t(locale, "Style"),
            placeholder=t(locale, "e.g. dreamy synth-pop, female vocals"),
            custom_id="compose:style",
            max_length=STYLE_MAX,
            required=False,
        )
        self.lyrics: discord.ui.TextInput[ComposeModal] = discord.ui.TextInput(
            label=t(locale, "Lyrics"),
            placeholder=t(locale, "[Verse]\nWrite your lines here…"),
            custom_id="compose:lyrics",
            style=discord.TextStyle.paragraph,
            max_length=LYRICS_MODAL_MAX,
            default=lyrics[:LYRICS_MODAL_MAX] or None,
            required=lyrics_file is None and not options["instrumental"],
        )
        self.add_item(self.song_title)
        self.add_item(self.style)
        if lyrics_file is None:
            self.add_item(self.lyrics)
        self.bot = bot
        self.options = options
        self.lyrics_file = lyrics_file

    async def on_submit(self, interaction: discord.Interaction) -> None:
        title = clean_text("Title", self.song_title.value, limit=TITLE_MAX)
        style = clean_text("Style", self.style.value, limit=STYLE_MAX)
        style = await self.bot.prefs.styled(interaction.user.id, "Style", style, limit=STYLE_MAX)
        if self.lyrics_file is not None:
            await interaction.response.defer(thinking=True)
            lyrics = await read_lyrics_file(self.bot.http_session, self.lyrics_file)
        else:
            lyrics = clean_text(
                "Lyrics",
                self.lyrics.value,
                limit=LYRICS_MAX,
                required=not self.options["instrumental"],
                multiline=True,
            )
        body = _optional(
            {
                "action": "generate",
                "custom": True,
                "model": self.options["model"],
                "lyric": lyrics,
                "prompt": style,
                "instrumental": self.options["instrumental"],
            },
            title=title or None,
            lyrics_strength=self.options["lyrics_strength"],
            sound_strength=self.options["sound_strength"],
            weirdness=self.options["weirdness"],
        )
        await self.bot.start_song(interaction, song_request(interaction, body))


class Generate(commands.Cog):
    """Commands that make a new song from nothing but words."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    @app_commands.command(name="generate", description="Make a song from a short description.")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What the song is about and how it sounds (up to 200 characters)",
        model="Which FUZZ model to use (default: the server's default)",
        instrumental="No vocals",
        title="A title for the song",
        weirdness="How unusual the style may get, 0 to 1",
    )
    @app_commands.choices(model=MODEL_CHOICES)
    async def generate(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, PROMPT_MAX],
        model: str | None = None,
        instrumental: bool = False,
        title: app_commands.Range[str, 1, TITLE_MAX] | None = None,
        weirdness: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        user_id = interaction.user.id
        prompt = clean_text("prompt", prompt, limit=PROMPT_MAX, required=True)
        body = _optional(
            {
                "action": "generate",
                "custom": False,
                "model": check_model(model, await self.bot.prefs.model_for(interaction.guild_id or 0, user_id)),
                "prompt": await self.bot.prefs.styled(user_id, "prompt", prompt, limit=PROMPT_MAX),
                "lyric": "",
                "instrumental": instrumental,
            },
            title=clean_text("title", title, limit=TITLE_MAX) or None,
            weirdness=check_range("weirdness", weirdness, 0, 1),
        )
        await self.bot.start_song(interaction, song_request(interaction, body))

    @app_commands.command(name="compose", description="Make a song from your own lyrics (opens a form).")
    @app_commands.guild_only()
    @app_commands.describe(
        model="Which FUZZ model to use (default: the server's default)",
        instrumental="No vocals",
        lyrics_strength="How closely the vocals follow your lyrics, 0 to 1",
        sound_strength="How strongly the style shapes the sound, 0.2 to 1",
        weirdness="How unusual the style may get, 0 to 1",
        lyrics_file="A .txt file with the lyrics, instead of typing them in the form",
    )
    @app_commands.choices(model=MODEL_CHOICES)
    async def compose(
        self,
        interaction: discord.Interaction,
        model: str | None = None,
        instrumental: bool = False,
        lyrics_strength: app_commands.Range[float, 0.0, 1.0] | None = None,
        sound_strength: app_commands.Range[float, 0.2, 1.0] | None = None,
        weirdness: app_commands.Range[float, 0.0, 1.0] | None = None,
        lyrics_file: discord.Attachment | None = None,
    ) -> None:
        options = {
            "model": check_model(model, await self.bot.prefs.model_for(interaction.guild_id or 0, interaction.user.id)),
            "instrumental": instrumental,
            "lyrics_strength": check_range("lyrics_strength", lyrics_strength, 0, 1),
            "sound_strength": check_range("sound_strength", sound_strength, 0.2, 1),
            "weirdness": check_range("weirdness", weirdness, 0, 1),
        }
        if lyrics_file is not None:
            check_lyrics_file(lyrics_file)
        await interaction.response.send_modal(
            ComposeModal(
                self.bot,
                options=options,
                lyrics_file=lyrics_file,
                member_id=interaction.user.id,
                locale=interaction.locale,
            )
        )


async def setup(bot: MusicBot) -> None:
    """Load the generate cog."""
    await bot.add_cog(Generate(bot))
