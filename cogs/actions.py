"""Commands that build on a song: /cover, /extend, /replace-section, /swap-vocals,
/swap-instrumentals, /variation and /stems.

Each takes `song` (autocomplete, an id or a message link); /cover, /extend and /replace-section
also take `audio`, a member's own file, registered with the API and used through the `upload_*`
actions. Everything is checked before any credit is charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import InvalidInput
from bot.i18n import t
from bot.songs.actions import action_body, action_for, check_point, check_section, parse_time
from bot.songs.render import format_duration
from bot.songs.validation import PROMPT_MAX, STYLE_MAX, TITLE_MAX, check_audio_attachment, check_range, clean_text
from bot.storage.repository import SongRow
from cogs._common import MODEL_CHOICES, ask_for_lyrics, song_autocomplete, song_model, song_request

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

SONG_HELP = "A song from this server: pick from the list, or paste its id or a link to its message"
AUDIO_HELP = "Or your own audio file (mp3, m4a, wav, ogg, opus, flac, aac)"
LYRICS_FILE_HELP = "A .txt file with the lyrics, instead of the form"


@dataclass(frozen=True, slots=True)
class Source:
    """What an action works on: a known song, or a member's file not yet registered with the API."""

    song: SongRow | None = None
    audio: discord.Attachment | None = None

    @property
    def duration(self) -> float | None:
        return self.song.duration if self.song is not None else None


class Actions(commands.Cog):
    """One slash command per Producer action on an existing song."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def _source(
        self, interaction: discord.Interaction, action: str, song: str | None, audio: discord.Attachment | None = None
    ) -> Source:
        if (song is None) == (audio is None):
            raise InvalidInput("Give exactly one of `song` (a song from this server) or `audio` (your own file).")
        if audio is not None:
            assert interaction.guild_id is not None
            if not (await self.bot.repo.guild_settings(interaction.guild_id)).allow_uploads:
                raise InvalidInput("This server does not allow using your own audio; pick a `song` instead.")
            check_audio_attachment(audio)
            return Source(audio=audio)
        assert interaction.guild_id is not None and song is not None
        found = await self.bot.find_song(interaction, song)
        action_for(action, found.kind)  # refused before any form opens when the song cannot take it
        return Source(song=found)

    async def _audio_id(self, interaction: discord.Interaction, source: Source, action: str) -> tuple[str, str]:
        """The API action and audio id; a member's file is registered first (`/producer/upload`)."""
        if source.song is not None:
            return action_for(action, source.song.kind), source.song.id
        assert source.audio is not None and interaction.guild_id is not None and interaction.channel_id is not None
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True)
        roles = tuple(role.id for role in getattr(interaction.user, "roles", ()))
        await self.bot.songs.check_quota(interaction.guild_id, interaction.user.id, roles)
        upload = await self.bot.songs.register_upload(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            uploader_id=interaction.user.id,
            url=source.audio.url,
            filename=source.audio.filename,
        )
        return action_for(action, upload.kind), upload.id

    async def _model(self, interaction: discord.Interaction, source: Source, model: str | None) -> str:
        if source.song is not None:
            return await song_model(self.bot, source.song, model)
        assert interaction.guild_id is not None
        return model or await self.bot.prefs.model_for(interaction.guild_id, interaction.user.id)

    # -- /cover --------------------------------------------------------------------------------

    @app_commands.command(name="cover", description="A new performance of a song, in another style.")
    @app_commands.guild_only()
    @app_commands.describe(
        song=SONG_HELP,
        audio=AUDIO_HELP,
        title="Title of the cover",
        style="The style to cover it in",
        cover_strength="How far the cover may move from the original, 0.2 to 1",
        model="Which FUZZ model to use",
        lyrics_file=LYRICS_FILE_HELP,
    )
    @app_commands.choices(model=MODEL_CHOICES)
    @app_commands.autocomplete(song=song_autocomplete)
    async def cover(
        self,
        interaction: discord.Interaction,
        song: str | None = None,
        audio: discord.Attachment | None = None,
        title: app_commands.Range[str, 1, TITLE_MAX] | None = None,
        style: app_commands.Range[str, 1, STYLE_MAX] | None = None,
        cover_strength: app_commands.Range[float, 0.2, 1.0] | None = None,
        model: str | None = None,
        lyrics_file: discord.Attachment | None = None,
    ) -> None:
        source = await self._source(interaction, "cover", song, audio)
        title = clean_text("title", title, limit=TITLE_MAX)
        style = clean_text("style", style, limit=STYLE_MAX)
        style = await self.bot.prefs.styled(interaction.user.id, "style", style, limit=STYLE_MAX)
        strength = check_range("cover_strength", cover_strength, 0.2, 1)
        chosen_model = await self._model(interaction, source, model)

        async def submit(inter: discord.Interaction, lyrics: str) -> None:
            action, audio_id = await self._audio_id(inter, source, "cover")
            body = action_body(
                action,
                audio_id=audio_id,
                model=chosen_model,
                lyric=lyrics,
                title=title,
                prompt=style,
                cover_strength=strength,
            )
            await self.bot.start_song(inter, song_request(inter, body, parent_song_id=audio_id))

        await ask_for_lyrics(
            interaction,
            title=t(interaction.locale, "Lyrics for the cover"),
            song=source.song,
            lyrics_file=lyrics_file,
            then=submit,
        )

    # -- /extend -------------------------------------------------------------------------------

    @app_commands.command(name="extend", description="Continue a song from a point (default: its end).")
    @app_commands.guild_only()
    @app_commands.describe(
        song=SONG_HELP,
        audio=AUDIO_HELP,
        at="Where to continue: seconds (95) or m:ss (1:35); default the end",
        title="Title of the extended song",
        style="The style of the new part",
        lyrics_strength="How closely the vocals follow the lyrics, 0 to 1",
        sound_strength="How strongly the style shapes the sound, 0.2 to 1",
        weirdness="How unusual the style may get, 0 to 1",
        model="Which FUZZ model to use",
        lyrics_file=LYRICS_FILE_HELP,
    )
    @app_commands.choices(model=MODEL_CHOICES)
    @app_commands.autocomplete(song=song_autocomplete)
    async def extend(
        self,
        interaction: discord.Interaction,
        song: str | None = None,
        audio: discord.Attachment | None = None,
        at: app_commands.Range[str, 1, 12] | None = None,
        title: app_commands.Range[str, 1, TITLE_MAX] | None = None,
        style: app_commands.Range[str, 1, STYLE_MAX] | None = None,
        lyrics_strength: app_commands.Range[float, 0.0, 1.0] | None = None,
        sound_strength: app_commands.Range[float, 0.2, 1.0] | None = None,
        weirdness: app_commands.Range[float, 0.0, 1.0] | None = None,
        model: str | None = None,
        lyrics_file: discord.Attachment | None = None,
    ) -> None:
        source = await self._source(interaction, "extend", song, audio)
        continue_at = self.continue_point(source.duration, at)
        title = clean_text("title", title, limit=TITLE_MAX)
        style = clean_text("style", style, limit=STYLE_MAX)
        if style:  # only a style typed here: without one the API carries the song's own on
            style = await self.bot.prefs.styled(interaction.user.id, "style", style, limit=STYLE_MAX)
        strengths = {
            "lyrics_strength": check_range("lyrics_strength", lyrics_strength, 0, 1),
            "sound_strength": check_range("sound_strength", sound_strength, 0.2, 1),
            "weirdness": check_range("weirdness", weirdness, 0, 1),
        }
        chosen_model = await self._model(interaction, source, model)

        async def submit(inter: discord.Interaction, lyrics: str) -> None:
            action, audio_id = await self._audio_id(inter, source, "extend")
            body = action_body(
                action,
                audio_id=audio_id,
                model=chosen_model,
                lyric=lyrics,
                continue_at=continue_at,
                title=title,
                prompt=style,
                **strengths,
            )
            await self.bot.start_song(inter, song_request(inter, body, parent_song_id=audio_id))

        await ask_for_lyrics(
            interaction,
            title=t(interaction.locale, "Lyrics for the new part"),
            song=source.song,
            lyrics_file=lyrics_file,
            then=submit,
        )

    @staticmethod
    def continue_point(duration: float | None, at: str | None) -> float:
        """Where an extension starts: `at` checked against the song, or the song's end."""
        if at is None:
            if duration is None:
                raise InvalidInput("The length of uploaded audio is unknown: give `at` (seconds or m:ss).")
            return round(duration, 3)
        return check_point("at", parse_time("at", at), duration)

    # -- /replace-section ----------------------------------------------------------------------

    @app_commands.command(name="replace-section", description="Re-make one stretch of a song with new lyrics.")
    @app_commands.guild_only()
    @app_commands.describe(
        start="Where the section starts: seconds (30) or m:ss (0:30)",
        end="Where the section ends: seconds (70) or m:ss (1:10)",
        song=SONG_HELP,
        audio=AUDIO_HELP,
        title="Title of the new version",
        model="Which FUZZ model to use",
        lyrics_file=LYRICS_FILE_HELP,
    )
    @app_commands.choices(model=MODEL_CHOICES)
    @app_commands.autocomplete(song=song_autocomplete)
    async def replace_section(
        self,
        interaction: discord.Interaction,
        start: app_commands.Range[str, 1, 12],
        end: app_commands.Range[str, 1, 12],
        song: str | None = None,
        audio: discord.Attachment | None = None,
        title: app_commands.Range[str, 1, TITLE_MAX] | None = None,
        model: str | None = None,
        lyrics_file: discord.Attachment | None = None,
    ) -> None:
        source = await self._source(interaction, "replace_section", song, audio)
        section_start, section_end = check_section(parse_time("start", start), parse_time("end", end), source.duration)
        title = clean_text("title", title, limit=TITLE_MAX)
        chosen_model = await self._model(interaction, source, model)

        async def submit(inter: discord.Interaction, lyrics: str) -> None:
            action, audio_id = await self._audio_id(inter, source, "replace_section")
            body = action_body(
                action,
                audio_id=audio_id,
                model=chosen_model,
                lyric=lyrics,
                replace_section_start=section_start,
                replace_section_end=section_end,
                title=title,
            )
            await self.bot.start_song(inter, song_request(inter, body, parent_song_id=audio_id))

        await ask_for_lyrics(
            interaction,
            title=t(
                interaction.locale,
                "Lyrics for {start}–{end}",
                start=format_duration(section_start),
                end=format_duration(section_end),
            ),
            song=source.song,
            lyrics_file=lyrics_file,
            then=submit,
        )

    # -- /swap-vocals, /swap-instrumentals, /variation, /stems ---------------------------------

    @app_commands.command(name="swap-vocals", description="New vocals over the same music.")
    @app_commands.guild_only()
    @app_commands.describe(
        song=SONG_HELP,
        weirdness="How unusual the vocals may get, 0 to 1",
        lyrics_strength="How closely the vocals follow the lyrics, 0 to 1",
        model="Which FUZZ model to use",
        lyrics_file=LYRICS_FILE_HELP,
    )
    @app_commands.choices(model=MODEL_CHOICES)
    @app_commands.autocomplete(song=song_autocomplete)
    async def swap_vocals(
        self,
        interaction: discord.Interaction,
        song: str,
        weirdness: app_commands.Range[float, 0.0, 1.0] | None = None,
        lyrics_strength: app_commands.Range[float, 0.0, 1.0] | None = None,
        model: str | None = None,
        lyrics_file: discord.Attachment | None = None,
    ) -> None:
        source = await self._source(interaction, "swap_vocals", song)
        assert source.song is not None
        weird = check_range("weirdness", weirdness, 0, 1)
        strength = check_range("lyrics_strength", lyrics_strength, 0, 1)
        chosen_model = await self._model(interaction, source, model)
        target = source.song

        async def submit(inter: discord.Interaction, lyrics: str) -> None:
            body = action_body(
                "swap_vocals",
                audio_id=target.id,
                model=chosen_model,
                lyric=lyrics,
                weirdness=weird,
                lyrics_strength=strength,
            )
            await self.bot.start_song(inter, song_request(inter, body, parent_song_id=target.id))

        await ask_for_lyrics(
            interaction,
            title=t(interaction.locale, "Lyrics to sing"),
            song=target,
            lyrics_file=lyrics_file,
            then=submit,
        )

    @app_commands.command(name="swap-instrumentals", description="New music under the same vocals.")
    @app_commands.guild_only()
    @app_commands.describe(
        song=SONG_HELP,
        prompt="The sound of the new music (up to 200 characters)",
        weirdness="How unusual the music may get, 0 to 1",
        model="Which FUZZ model to use",
    )
    @app_commands.choices(model=MODEL_CHOICES)
    @app_commands.autocomplete(song=song_autocomplete)
    async def swap_instrumentals(
        self,
        interaction: discord.Interaction,
        song: str,
        prompt: app_commands.Range[str, 1, PROMPT_MAX],
        weirdness: app_commands.Range[float, 0.0, 1.0] | None = None,
        model: str | None = None,
    ) -> None:
        source = await self._source(interaction, "swap_instrumentals", song)
        assert source.song is not None
        body = action_body(
            "swap_instrumentals",
            audio_id=source.song.id,
            model=await self._model(interaction, source, model),
            prompt=await self.bot.prefs.styled(
                interaction.user.id,
                "prompt",
                clean_text("prompt", prompt, limit=PROMPT_MAX, required=True),
                limit=PROMPT_MAX,
            ),
            weirdness=check_range("weirdness", weirdness, 0, 1),
        )
        await self.bot.start_song(interaction, song_request(interaction, body, parent_song_id=source.song.id))

    @app_commands.command(name="variation", description="A new take on a song, close to the original.")
    @app_commands.guild_only()
    @app_commands.describe(song=SONG_HELP, model="Which FUZZ model to use", lyrics_file=LYRICS_FILE_HELP)
    @app_commands.choices(model=MODEL_CHOICES)
    @app_commands.autocomplete(song=song_autocomplete)
    async def variation(
        self,
        interaction: discord.Interaction,
        song: str,
        model: str | None = None,
        lyrics_file: discord.Attachment | None = None,
    ) -> None:
        source = await self._source(interaction, "variation", song)
        assert source.song is not None
        target, chosen_model = source.song, await self._model(interaction, source, model)

        async def submit(inter: discord.Interaction, lyrics: str) -> None:
            body = action_body("variation", audio_id=target.id, model=chosen_model, lyric=lyrics)
            await self.bot.start_song(inter, song_request(inter, body, parent_song_id=target.id))

        await ask_for_lyrics(
            interaction,
            title=t(interaction.locale, "Lyrics for the variation"),
            song=target,
            lyrics_file=lyrics_file,
            then=submit,
        )

    @app_commands.command(name="stems", description="Split a song into vocals and instrumental (a zip).")
    @app_commands.guild_only()
    @app_commands.describe(song=SONG_HELP)
    @app_commands.autocomplete(song=song_autocomplete)
    async def stems(self, interaction: discord.Interaction, song: str) -> None:
        source = await self._source(interaction, "stems", song)
        assert source.song is not None
        body = {"action": "stems", "audio_id": source.song.id}
        await self.bot.start_song(interaction, song_request(interaction, body, parent_song_id=source.song.id))


async def setup(bot: MusicBot) -> None:
    """Load the song-action commands."""
    await bot.add_cog(Actions(bot))
