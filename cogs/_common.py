"""Pieces shared by the command cogs: model choices, song autocomplete, lyrics input, requests, button cooldowns.

Not an extension itself (it has no `setup`); the cogs import from it.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord import app_commands

from bot.app.commands import report_error
from bot.core.settings import MODELS
from bot.i18n import N_, Locale, t
from bot.songs.render import display_title, format_duration
from bot.songs.requests import SongRequest
from bot.songs.validation import LYRICS_MAX, LYRICS_MODAL_MAX, check_lyrics_file, clean_text, read_lyrics_file
from bot.storage.repository import SongRow

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

MODEL_CHOICES = [app_commands.Choice(name=model, value=model) for model in MODELS]
AUTOCOMPLETE_LIMIT = 25


class MemberCooldown:
    """One use per `per` seconds for each member of a server, for buttons.

    What `app_commands.checks.cooldown` gives a slash command (as on `/show`), for buttons, which carry
    no command checks. Refusals raise `CommandOnCooldown`, which `report_error` words like a
    command's. Members whose cooldown has passed are forgotten, so it holds only recent presses.
    """

    def __init__(self, per: float) -> None:
        self._per = per
        self._buckets: dict[tuple[int | None, int], app_commands.Cooldown] = {}

    def check(self, interaction: discord.Interaction) -> None:
        now = interaction.created_at.timestamp()
        self._buckets = {key: bucket for key, bucket in self._buckets.items() if bucket.get_tokens(now) < bucket.rate}
        bucket = self._buckets.setdefault(
            (interaction.guild_id, interaction.user.id), app_commands.Cooldown(1, self._per)
        )
        retry_after = bucket.update_rate_limit(now)
        if retry_after is not None:
            raise app_commands.CommandOnCooldown(bucket, retry_after)


def song_choice_label(song: SongRow) -> str:
    """`title · m:ss · short id` (an untitled song by its prompt), within Discord's 100-character choice name."""
    suffix = f" · {format_duration(song.duration)} · {song.id[:8]}"
    return display_title(song, 100 - len(suffix)) + suffix


async def song_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """This guild's songs: newest first, or the best matches for the words typed so far (title,
    prompt or style, lyrics) and for a pasted id prefix."""
    bot: MusicBot = interaction.client  # type: ignore[assignment]
    if interaction.guild_id is None:
        return []
    member = interaction.user
    visible = await bot.visibility.channels_for(member) if isinstance(member, discord.Member) else None
    songs = await bot.repo.search_songs(
        interaction.guild_id, text=current.strip(), limit=AUTOCOMPLETE_LIMIT, channel_ids=visible
    )
    return [app_commands.Choice(name=song_choice_label(song), value=song.id) for song in songs]


def song_request(
    interaction: discord.Interaction,
    body: dict[str, Any],
    *,
    parent_song_id: str | None = None,
    jam_id: int | None = None,
) -> SongRequest:
    assert interaction.guild_id is not None and interaction.channel_id is not None
    return SongRequest(
        action=body["action"],
        body=body,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        requester_id=interaction.user.id,
        parent_song_id=parent_song_id,
        jam_id=jam_id,
    )


async def song_model(bot: MusicBot, song: SongRow, chosen: str | None = None) -> str:
    """The member's choice, else the song's own model, else the server's default."""
    if chosen:
        return chosen
    return song.model if song.model in MODELS else await bot.songs.default_model(song.guild_id)


@dataclass(frozen=True, slots=True)
class Field:
    """One text input of an `InputModal`; `label` and `placeholder` are catalog messages (`N_("…")`),
    shown in the member's language."""

    key: str
    label: str
    default: str = ""
    paragraph: bool = False
    max_length: int = 4000
    required: bool = False
    placeholder: str | None = None


Submit = Callable[[discord.Interaction, dict[str, str]], Awaitable[None]]


FORM_TIMEOUT = 15 * 60.0
"""Seconds a form stays answerable. A dismissed form sends nothing back, so without a timeout
discord.py would keep every one a member ever opened (and what it holds) for the process's life."""


class Form(discord.ui.Modal):
    """A modal with a timeout and a fixed custom id per form and member (`<form>:<member id>`).

    Reopening a form replaces the member's earlier copy instead of piling up dismissed ones: at
    most one open form of each kind per member, each gone after `FORM_TIMEOUT`. Errors reach the
    member privately through the one error handler.
    """

    _open: ClassVar[weakref.WeakValueDictionary[str, Form]] = weakref.WeakValueDictionary()

    def __init__(self, *, form: str, member_id: int, title: str | None = None) -> None:
        custom_id = f"{form}:{member_id}"
        if title is None:
            super().__init__(timeout=FORM_TIMEOUT, custom_id=custom_id)
        else:
            super().__init__(title=title[:45], timeout=FORM_TIMEOUT, custom_id=custom_id)
        earlier = Form._open.get(custom_id)
        if earlier is not None:
            earlier.stop()  # also takes it out of discord.py's store, before this one goes in
        Form._open[custom_id] = self

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report_error(interaction, error)


class InputModal(Form):
    """A form built from `Field`s; its values go to `on_values`."""

    def __init__(
        self, title: str, fields: list[Field], on_values: Submit, *, form: str, member_id: int, locale: Locale = None
    ) -> None:
        super().__init__(form=form, member_id=member_id, title=title)
        self._on_values = on_values
        self._inputs: dict[str, discord.ui.TextInput[InputModal]] = {}
        for spec in fields:
            text_input: discord.ui.TextInput[InputModal] = discord.ui.TextInput(
                label=t(locale, spec.label)[:45],
                custom_id=f"input:{spec.key}",
                style=discord.TextStyle.paragraph if spec.paragraph else discord.TextStyle.short,
                default=spec.default[: spec.max_length] or None,
                max_length=spec.max_length,
                required=spec.required,
                placeholder=t(locale, spec.placeholder) if spec.placeholder else None,
            )
            self._inputs[spec.key] = text_input
            self.add_item(text_input)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._on_values(interaction, {key: text_input.value for key, text_input in self._inputs.items()})


def lyrics_field(song: SongRow | None, *, required: bool = False) -> Field:
    """The lyrics input, pre-filled with the song's current lyrics when known."""
    lyric = song.lyric if song is not None and song.lyric.strip() != "[Instrumental]" else ""
    return Field("lyrics", N_("Lyrics"), default=lyric, paragraph=True, max_length=LYRICS_MODAL_MAX, required=required)


def clean_lyrics(values: dict[str, str]) -> str:
    return clean_text("Lyrics", values.get("lyrics"), limit=LYRICS_MAX, multiline=True)


async def ask_for_lyrics(
    interaction: discord.Interaction,
    *,
    title: str,
    song: SongRow | None,
    lyrics_file: discord.Attachment | None,
    then: Callable[[discord.Interaction, str], Awaitable[None]],
    form: str = "lyrics",
    extra_fields: list[Field] | None = None,
) -> None:
    """Get lyrics from an attached `.txt`, or from a form pre-filled with the song's lyrics.
    `title` is the form's title, already in the member's language.

    Lyrics need line breaks, which slash options cannot carry. With a file there is no form:
    the command is acknowledged first, since downloading may take longer than Discord's 3 s.
    """
    bot: MusicBot = interaction.client  # type: ignore[assignment]
    if lyrics_file is not None:
        check_lyrics_file(lyrics_file)
        await interaction.response.defer(thinking=True)
        await then(interaction, await read_lyrics_file(bot.http_session, lyrics_file))
        return

    async def submitted(modal_interaction: discord.Interaction, values: dict[str, str]) -> None:
        await then(modal_interaction, clean_lyrics(values))

    fields = [*(extra_fields or []), lyrics_field(song)]
    await interaction.response.send_modal(
        InputModal(
            title, fields, submitted, form=f"form:{form}", member_id=interaction.user.id, locale=interaction.locale
        )
    )
