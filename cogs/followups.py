"""Follow-ups from the song itself: buttons on every song, message context menus, reply-to-extend.

Buttons are `DynamicItem`s whose custom id carries the action and the song id
(`song:extend:<id>`), so they keep working after a restart and on songs from months ago without
any view kept in memory. The context menus and replies reach the same `run` method.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.commands import report_error
from bot.core.errors import InvalidInput
from bot.i18n import N_, Locale, t
from bot.songs.actions import action_body, action_for, check_point, parse_at_line, parse_time
from bot.songs.render import format_duration
from bot.songs.requests import SongRequest
from bot.songs.validation import LYRICS_MAX, STYLE_MAX, clean_text
from bot.storage.repository import SongRow
from cogs._common import Field, InputModal, clean_lyrics, lyrics_field, song_model, song_request
from cogs._exports import post_video, send_wav
from cogs.favourites import StarButton
from cogs.listen import play_song
from cogs.playlists import add_to_playlist

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

log = logging.getLogger(__name__)

BUTTONS: dict[str, tuple[str, str]] = {
    "play": (N_("Play"), "▶️"),  # a listening party in the member's voice channel (cogs/listen.py)
    "extend": (N_("Extend"), "➕"),
    "cover": (N_("Cover"), "🎤"),
    "variation": (N_("Variation"), "🔀"),
    "swapvocals": (N_("Swap vocals"), "🗣️"),
    "stems": (N_("Stems"), "🎚️"),
    "reroll": (N_("Re-roll"), "🔄"),
    "wav": ("WAV", "💿"),
    "video": (N_("Video"), "🎬"),
    "playlist": (N_("Add to playlist"), "➕"),  # a private select of the member's playlists (cogs/playlists.py)
}
"""Labels in the server's language (the message is public); the custom id alone carries the action."""
BUTTON_ACTIONS = {"swapvocals": "swap_vocals"}
"""The API action behind a button, where its custom-id name differs."""
BUTTON_COMMANDS = {
    "play": "play",
    "extend": "extend",
    "cover": "cover",
    "variation": "variation",
    "swapvocals": "swap-vocals",
    "stems": "stems",
    "playlist": "playlist",
}
"""The slash command whose server permissions (Integrations) a button or menu follows."""
SONG_MAKERS = ("extend", "cover", "variation", "swapvocals", "stems")
"""The buttons and menus that post a new song where they are used (so the member must be able to post there)."""
ACTION_COMMANDS = {
    "replace_section": "replace-section",
    "swap_vocals": "swap-vocals",
    "swap_instrumentals": "swap-instrumentals",
}
"""An API action's slash command, where the names differ (a re-roll follows the command it repeats)."""
UPLOAD_BUTTONS = ("extend", "cover")
"""The buttons a member's uploaded audio gets: only actions with an `upload_*` form."""
ACCEPTED_REACTION = "🎶"


class SongButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"song:(?P<action>[a-z]+):(?P<song_id>[^\s]{1,80})"
):
    """A follow-up button on a song message; the custom id is all the state it needs."""

    def __init__(self, action: str, song_id: str, locale: Locale = None) -> None:
        label, emoji = BUTTONS[action]
        super().__init__(
            discord.ui.Button(
                label=t(locale, label),
                emoji=emoji,
                style=discord.ButtonStyle.secondary,
                custom_id=f"song:{action}:{song_id}",
            )
        )
        self.action = action
        self.song_id = song_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> SongButton:
        if match["action"] not in BUTTONS:
            raise ValueError(f"unknown song button {match['action']!r}")
        return cls(match["action"], match["song_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("FollowUps")  # type: ignore[attr-defined]
        assert isinstance(cog, FollowUps)
        try:
            song = await cog.bot.find_song(interaction, self.song_id)
            await cog.run(interaction, self.action, song)
        except Exception as exc:  # buttons do not pass through the command tree's handler
            await report_error(interaction, exc)


def song_view(song: SongRow, stars: int = 0, locale: Locale = None) -> discord.ui.View | None:
    """Buttons for a delivered song (with its star count on ☆ Star); uploads get only those with an
    `upload_*` form; stems none."""
    if song.kind not in ("song", "upload"):
        return None
    view = discord.ui.View(timeout=None)
    for action in BUTTONS:
        if action == "reroll" and song.task_id is None:
            continue
        if song.kind == "upload" and action not in UPLOAD_BUTTONS:
            continue
        view.add_item(SongButton(action, song.id, locale))
    if song.kind == "song":
        view.add_item(StarButton(song.id, stars, locale))
    return view


class FollowUps(commands.Cog):
    """Extend, cover, vary, swap vocals, split or re-roll a song from its own message."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot
        self.menus = [
            app_commands.ContextMenu(name="Extend song", callback=self.extend_menu),
            app_commands.ContextMenu(name="Cover song", callback=self.cover_menu),
            app_commands.ContextMenu(name="Make variation", callback=self.variation_menu),
            app_commands.ContextMenu(name="Get stems", callback=self.stems_menu),
        ]
        for menu in self.menus:
            menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SongButton)
        self.bot.delivery.song_view = song_view
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SongButton)
        self.bot.delivery.song_view = None
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    # -- the follow-ups ------------------------------------------------------------------------

    async def chain_target(self, song: SongRow) -> tuple[SongRow, int | None]:
        """In a finished jam's thread, extending any of its songs extends the jam's latest song.

        A jam that has ended (the next jam took its channel) no longer grows: its songs extend alone.
        """
        own_task = await self.bot.repo.task(song.task_id) if song.task_id is not None else None
        jam = await self.bot.repo.jam(own_task.jam_id) if own_task is not None and own_task.jam_id else None
        if jam is None or jam.state == "ended":
            return song, None  # not one of a current jam's songs (a jam held in a channel shares it)
        if jam.state == "finished" and jam.latest_song_id and jam.latest_song_id != song.id:
            latest = await self.bot.repo.song(jam.latest_song_id)
            if latest is not None:
                return latest, jam.id
        return song, jam.id

    async def run(self, interaction: discord.Interaction, action: str, song: SongRow) -> None:
        """Do `action` on `song` for the member who clicked or used the menu."""
        if action in BUTTON_COMMANDS:
            await self.bot.check_command_access(BUTTON_COMMANDS[action], interaction.user, interaction.channel)
        if action in SONG_MAKERS:
            self.bot.check_can_post(interaction)
        if action not in ("reroll", "playlist"):
            action_for(BUTTON_ACTIONS.get(action, action), song.kind)  # an upload: only upload_* actions
        if action == "extend":
            await self._extend_form(interaction, *await self.chain_target(song))
        elif action == "cover":
            await self._cover_form(interaction, song)
        elif action == "swapvocals":
            await self._lyrics_form(interaction, song, "swap_vocals", t(interaction.locale, "New vocals: lyrics"))
        elif action == "variation":
            body = action_body("variation", audio_id=song.id, model=await song_model(self.bot, song), lyric=song.lyric)
            await self.bot.start_song(interaction, song_request(interaction, body, parent_song_id=song.id))
        elif action == "stems":
            body = {"action": "stems", "audio_id": song.id}
            await self.bot.start_song(interaction, song_request(interaction, body, parent_song_id=song.id))
        elif action == "reroll":
            await self._reroll(interaction, song)
        elif action == "wav":
            await send_wav(self.bot, interaction, song)
        elif action == "video":
            await post_video(self.bot, interaction, song)
        elif action == "play":
            await play_song(self.bot, interaction, song)
        elif action == "playlist":
            await add_to_playlist(self.bot, interaction, song)
        else:
            raise InvalidInput("That button is no longer supported.")

    async def _extend_form(self, interaction: discord.Interaction, song: SongRow, jam_id: int | None = None) -> None:
        async def submitted(inter: discord.Interaction, values: dict[str, str]) -> None:
            raw_at = values.get("at", "").strip()
            if raw_at:
                continue_at = check_point("at", parse_time("at", raw_at), song.duration)
            elif song.duration is not None:
                continue_at = round(song.duration, 3)
            else:
                raise InvalidInput("The length of this audio is unknown: fill in `at` (seconds or m:ss).")
            body = action_body(
                "extend",
                audio_id=song.id,
                model=await song_model(self.bot, song),
                lyric=clean_lyrics(values),
                continue_at=continue_at,
                prompt=song.prompt[:STYLE_MAX],
            )
            await self.bot.start_song(inter, song_request(inter, body, parent_song_id=song.id, jam_id=jam_id))

        at_default = format_duration(song.duration) if song.duration is not None else ""
        fields = [
            Field(
                "at",
                N_("Continue from (seconds or m:ss)"),
                default=at_default,
                max_length=12,
                placeholder=N_("the end"),
            ),
            lyrics_field(song),
        ]
        title = t(interaction.locale, "Extend: {title}", title=song.title)
        await interaction.response.send_modal(
            InputModal(
                title, fields, submitted, form="form:extend", member_id=interaction.user.id, locale=interaction.locale
            )
        )

    async def _cover_form(self, interaction: discord.Interaction, song: SongRow) -> None:
        async def submitted(inter: discord.Interaction, values: dict[str, str]) -> None:
            body = action_body(
                "cover",
                audio_id=song.id,
                model=await song_model(self.bot, song),
                lyric=clean_lyrics(values),
                prompt=await self.bot.prefs.styled(
                    inter.user.id, "Style", clean_text("Style", values.get("style"), limit=STYLE_MAX), limit=STYLE_MAX
                ),
            )
            await self.bot.start_song(inter, song_request(inter, body, parent_song_id=song.id))

        fields = [
            Field("style", N_("Style"), default=song.prompt[:STYLE_MAX], max_length=STYLE_MAX),
            lyrics_field(song),
        ]
        title = t(interaction.locale, "Cover: {title}", title=song.title)
        await interaction.response.send_modal(
            InputModal(
                title, fields, submitted, form="form:cover", member_id=interaction.user.id, locale=interaction.locale
            )
        )

    async def _lyrics_form(self, interaction: discord.Interaction, song: SongRow, action: str, title: str) -> None:
        async def submitted(inter: discord.Interaction, values: dict[str, str]) -> None:
            body = action_body(
                action, audio_id=song.id, model=await song_model(self.bot, song), lyric=clean_lyrics(values)
            )
            await self.bot.start_song(inter, song_request(inter, body, parent_song_id=song.id))

        form = f"form:{action}"
        await interaction.response.send_modal(
            InputModal(
                title,
                [lyrics_field(song)],
                submitted,
                form=form,
                member_id=interaction.user.id,
                locale=interaction.locale,
            )
        )

    async def _reroll(self, interaction: discord.Interaction, song: SongRow) -> None:
        """The same request again: same body, same parent, same jam and credits; charged to whoever clicked."""
        task = await self.bot.repo.task(song.task_id) if song.task_id is not None else None
        if task is None:
            raise InvalidInput("This song has no request to repeat.")
        base = task.action.removeprefix("upload_")
        await self.bot.check_command_access(ACTION_COMMANDS.get(base, base), interaction.user, interaction.channel)
        if not task.request:  # pruned after RETENTION_DAYS
            raise InvalidInput("This song is too old to re-roll (its request is no longer kept). Try Variation.")
        request = song_request(interaction, dict(task.request), parent_song_id=task.parent_song_id, jam_id=task.jam_id)
        await self.bot.start_song(interaction, dataclasses.replace(request, credits=task.credits))

    # -- context menus -------------------------------------------------------------------------

    async def _menu_song(self, interaction: discord.Interaction, message: discord.Message) -> SongRow:
        song = await self.bot.songs.song_for_message(interaction.guild_id, message.id)
        if song is None:
            raise InvalidInput("That message is not a song from this bot. Use this on a song the bot posted.")
        return song

    async def extend_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self.run(interaction, "extend", await self._menu_song(interaction, message))

    async def cover_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self.run(interaction, "cover", await self._menu_song(interaction, message))

    async def variation_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self.run(interaction, "variation", await self._menu_song(interaction, message))

    async def stems_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self.run(interaction, "stems", await self._menu_song(interaction, message))

    # -- reply-to-extend -----------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A reply to a song with lyrics extends it from its end (or from a first line `at 1:30`).

        Without the message-content intent Discord still delivers the text of messages that
        mention the bot, and a reply mentions the replied-to author by default.
        """
        if message.author.bot or message.guild is None or message.reference is None:
            return
        referenced = message.reference.message_id
        if referenced is None or self.bot.user is None:
            return
        song = await self.bot.songs.song_for_message(message.guild.id, referenced)
        if song is None:
            return
        song, jam_id = await self.chain_target(song)
        text = re.sub(rf"<@!?{self.bot.user.id}>", "", message.content).strip()
        if not text:
            return
        try:
            await self.bot.check_command_access("extend", message.author, message.channel)
            at, lyrics = parse_at_line(text)
            continue_at = check_point("at", at, song.duration) if at is not None else song.duration
            if continue_at is None:
                raise InvalidInput("The length of this audio is unknown: start your reply with `at 1:30`.")
            body = action_body(
                "extend",
                audio_id=song.id,
                model=await song_model(self.bot, song),
                lyric=clean_text("lyrics", lyrics, limit=LYRICS_MAX, multiline=True, required=True),
                continue_at=round(continue_at, 3),
                prompt=song.prompt[:STYLE_MAX],
            )
        except InvalidInput as exc:
            text = t(await self.bot.languages.of(message.guild.id), exc.phrase)  # a public reply: the server's
            await message.reply(text, allowed_mentions=discord.AllowedMentions.none())
            return
        try:
            await message.add_reaction(ACCEPTED_REACTION)
        except discord.HTTPException:
            log.info("Could not react to a reply-to-extend in channel %d", message.channel.id)
        request = SongRequest(
            action="extend",
            body=body,
            guild_id=message.guild.id,
            channel_id=message.channel.id,
            requester_id=message.author.id,
            parent_song_id=song.id,
            jam_id=jam_id,
        )
        await self.bot.start_song_from_message(message, request)


async def setup(bot: MusicBot) -> None:
    """Load the follow-up buttons, menus and reply-to-extend."""
    await bot.add_cog(FollowUps(bot))
