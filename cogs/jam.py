"""Community song jams: members write lines together, the bot sings them, the thread extends it.

A jam lives in a thread named after its theme (or in the channel itself where threads are not
allowed). Everything is in the database, so a jam carries on across restarts.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.commands import report_error
from bot.core.errors import InvalidInput
from bot.i18n import Locale, t, tn
from bot.songs.render import EMBED_COLOUR, NO_MENTIONS, clip
from bot.songs.requests import SongRequest
from bot.songs.validation import STYLE_MAX, check_model, clean_text
from bot.storage.models import LyricsDraft
from bot.storage.outbox import OutboxItem
from bot.storage.repository import Jam, JamLine
from cogs._common import MODEL_CHOICES
from cogs.library import song_line
from cogs.listen import play_jam

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

log = logging.getLogger(__name__)

LINE_MAX = 200
"""Characters per jam line: one sung line, not a verse."""
JAM_MAX_LINES = 40
"""Lines per jam: about a song's worth of lyrics."""
THEME_MAX = 100
"""A thread name holds at most 100 characters."""
LINE_ADDED_REACTION = "✍️"


def jam_embed(
    jam: Jam, lines: list[JamLine], *, latest_link: str | None = None, locale: Locale = None
) -> discord.Embed:
    """The jam message (in the server's language; `/jam status` in the member's): the lyrics so far,
    and who wrote each line."""
    title = t(locale, "🎤 Jam: {theme}", theme=discord.utils.escape_markdown(jam.theme))
    embed = discord.Embed(title=clip(title, 256), colour=EMBED_COLOUR)
    rendered = [
        f"{n}. {discord.utils.escape_markdown(line.line)} — <@{line.author_id}>" for n, line in enumerate(lines, 1)
    ]
    text = "\n".join(rendered)
    while len(text) > 4000 and rendered:  # keep the newest lines visible
        rendered.pop(0)
        text = "…\n" + "\n".join(rendered)
    embed.description = text or t(locale, "No lines yet.")
    if jam.style:
        embed.add_field(
            name=t(locale, "Style"), value=clip(discord.utils.escape_markdown(jam.style), 1024), inline=True
        )
    embed.add_field(name=t(locale, "Model"), value=jam.model, inline=True)
    count = t(locale, "{count} of {limit}", count=len(lines), limit=JAM_MAX_LINES)
    embed.add_field(name=t(locale, "Lines"), value=count, inline=True)
    if jam.state == "open":
        footer = t(locale, "Add a line with /jam add or by mentioning me here. /jam finish turns it into a song.")
    else:
        if latest_link:
            embed.add_field(name=t(locale, "Latest song"), value=latest_link, inline=False)
        footer = t(locale, "Finished. Reply to the song with lyrics (or press Extend) to keep it going.")
    embed.set_footer(text=footer)
    return embed


def suggestion_embed(draft: LyricsDraft, *, added_by: int | None = None, locale: Locale = None) -> discord.Embed:
    """A `/jam suggest` answer (public: the server's language): the suggested lines, and who added them."""
    embed = discord.Embed(title=t(locale, "💡 Suggested next lines"), colour=EMBED_COLOUR)
    embed.description = clip("\n".join(discord.utils.escape_markdown(line) for line in draft.lyrics.splitlines()), 4000)
    if added_by is None:
        embed.set_footer(text=t(locale, "Add these puts them in the jam as your lines."))
    else:
        embed.add_field(name=t(locale, "Added"), value=t(locale, "by {member}", member=f"<@{added_by}>"), inline=False)
    return embed


class AddTheseButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"jam:add:(?P<id>\d{1,19})"):
    """Add these, under a jam suggestion: the custom id names the stored suggestion."""

    def __init__(self, draft_id: int, locale: Locale = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=t(locale, "Add these"),
                emoji="✍️",
                style=discord.ButtonStyle.primary,
                custom_id=f"jam:add:{draft_id}",
            )
        )
        self.draft_id = draft_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> AddTheseButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Jams")  # type: ignore[attr-defined]
        assert isinstance(cog, Jams)
        try:
            await cog.add_suggestion(interaction, self.draft_id)
        except Exception as exc:  # buttons do not pass through the command tree's handler
            await report_error(interaction, exc)


class Jams(commands.Cog):
    """/jam start, add, finish and status, and lines posted in a jam thread."""

    jam = app_commands.Group(name="jam", description="Write a song together", guild_only=True)

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.songs.follow_ups.register("jam", self.on_song_delivered)
        self.bot.add_dynamic_items(AddTheseButton)

    async def cog_unload(self) -> None:
        self.bot.songs.follow_ups.unregister("jam")
        self.bot.remove_dynamic_items(AddTheseButton)

    async def _jam_here(self, interaction: discord.Interaction) -> Jam:
        jam = await self.bot.repo.jam_in_channel(interaction.channel_id or 0)
        if jam is None:
            raise InvalidInput("There is no jam here. Start one with `/jam start`, or use this in a jam's thread.")
        return jam

    async def refresh(self, jam_id: int) -> None:
        """Redraw the jam message from the database."""
        jam = await self.bot.repo.jam(jam_id)
        if jam is None or jam.message_id is None:
            return
        link = None
        if jam.latest_song_id:
            latest = await self.bot.repo.song(jam.latest_song_id)
            if latest is not None and latest.message_id:
                link = f"https://discord.com/channels/{latest.guild_id}/{latest.channel_id}/{latest.message_id}"
        locale = await self.bot.languages.of(jam.guild_id)
        embed = jam_embed(jam, await self.bot.repo.jam_lines(jam.id), latest_link=link, locale=locale)
        channel = self.bot.get_partial_messageable(jam.channel_id, guild_id=jam.guild_id)
        try:
            await channel.get_partial_message(jam.message_id).edit(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("Could not update the message of jam %d (%s)", jam.id, exc.code)

    # -- commands --------------------------------------------------------------------------------

    @jam.command(name="start", description="Start a jam: a thread where everyone adds lines to a song.")
    @app_commands.describe(
        theme="What the song is about (also the thread's name)",
        style="How it should sound",
        model="Which FUZZ model will sing it",
    )
    @app_commands.choices(model=MODEL_CHOICES)
    async def start(
        self,
        interaction: discord.Interaction,
        theme: app_commands.Range[str, 1, THEME_MAX],
        style: app_commands.Range[str, 1, STYLE_MAX] | None = None,
        model: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        theme = clean_text("theme", theme, limit=THEME_MAX, required=True)
        style = clean_text("style", style, limit=STYLE_MAX)
        chosen = check_model(model, await self.bot.prefs.model_for(interaction.guild_id, interaction.user.id))
        await interaction.response.defer(thinking=True)
        place = await self._jam_place(interaction, theme)
        jam = await self.bot.repo.create_jam(
            guild_id=interaction.guild_id,
            channel_id=place.id,
            starter_id=interaction.user.id,
            theme=theme,
            style=style,
            model=chosen,
            at=self.bot.songs.now(),
        )
        if jam is None:
            raise InvalidInput("This channel has a jam going on. Use `/jam status` to see it, or finish it first.")
        try:
            locale = await self.bot.languages.of(interaction.guild_id)  # the jam is public: the server's language
            message = await place.send(embed=jam_embed(jam, [], locale=locale), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            # No jam message, no jam: otherwise it would hold the channel with nothing to show for it.
            await self.bot.repo.discard_jam(jam.id)
            log.warning("Could not post the message of jam %d (%s); jam discarded", jam.id, exc.code)
            raise InvalidInput("I could not post the jam message there, so no jam was started.") from None
        await self.bot.repo.set_jam_message(jam.id, message.id)
        member, theme = f"<@{interaction.user.id}>", discord.utils.escape_markdown(theme)
        if place.id != interaction.channel_id:
            text = t(
                locale,
                "🎤 {member} started a jam in {channel}: **{theme}**. "
                "Add lines with `/jam add` or by mentioning me there.",
                member=member,
                channel=place.mention,
                theme=theme,
            )
        else:
            text = t(
                locale,
                "🎤 {member} started a jam here: **{theme}**. Add lines with `/jam add` or by mentioning me there.",
                member=member,
                theme=theme,
            )
        await interaction.followup.send(text, allowed_mentions=NO_MENTIONS)

    async def _jam_place(self, interaction: discord.Interaction, theme: str) -> discord.abc.Messageable:
        """A new thread named after the theme; the channel itself where threads are not possible."""
        channel = interaction.channel
        if isinstance(channel, discord.TextChannel):
            try:
                return await channel.create_thread(
                    name=theme[:THEME_MAX], type=discord.ChannelType.public_thread, auto_archive_duration=10080
                )
            except discord.HTTPException as exc:
                log.info("Could not open a jam thread in %d (%s); using the channel", channel.id, exc.code)
        assert interaction.channel_id is not None
        return self.bot.get_partial_messageable(interaction.channel_id, guild_id=interaction.guild_id)

    @jam.command(name="add", description="Add a line to this jam's lyrics.")
    @app_commands.describe(line="One line of the song (up to 200 characters)")
    async def add(self, interaction: discord.Interaction, line: app_commands.Range[str, 1, LINE_MAX]) -> None:
        jam = await self._jam_here(interaction)
        number = await self._add_line(jam, interaction.user.id, line)
        await interaction.response.send_message(
            t(interaction.locale, "Added as line {number}.", number=number), ephemeral=True
        )
        await self.refresh(jam.id)

    async def _add_line(self, jam: Jam, author_id: int, text: str) -> int:
        line = clean_text("line", text, limit=LINE_MAX, required=True)
        number = await self.bot.repo.add_jam_line(
            jam.id, author_id, line, max_lines=JAM_MAX_LINES, at=self.bot.songs.now()
        )
        if number is None:
            if jam.state != "open" or (fresh := await self.bot.repo.jam(jam.id)) is None or fresh.state != "open":
                raise InvalidInput("This jam is finished. Reply to its song with lyrics to extend it.")
            raise InvalidInput("This jam already has {count} lines. Time for `/jam finish`!", count=JAM_MAX_LINES)
        return number

    @jam.command(name="finish", description="Turn this jam's lines into a song (the starter or a manager).")
    async def finish(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        jam = await self._jam_here(interaction)
        if interaction.user.id != jam.starter_id and not interaction.permissions.manage_guild:
            raise InvalidInput(
                "Only the jam's starter ({member}) or a manager can finish it.", member=f"<@{jam.starter_id}>"
            )
        lines = await self.bot.repo.jam_lines(jam.id)
        if not lines:
            raise InvalidInput("This jam has no lines yet. Add some with `/jam add` first.")
        if not await self.bot.repo.finish_jam(jam.id):
            raise InvalidInput("This jam is already finished.")
        credits = list(dict.fromkeys(line.author_id for line in lines))
        body = {
            "action": "generate",
            "custom": True,
            "model": jam.model,
            "lyric": "\n".join(line.line for line in lines),
            "prompt": jam.style,
            "title": jam.theme,
            "instrumental": False,
        }
        request = SongRequest(
            action="generate",
            body=body,
            guild_id=interaction.guild_id,
            channel_id=jam.channel_id,
            requester_id=interaction.user.id,
            jam_id=jam.id,
            credits=credits,
        )
        try:
            await self.bot.start_song(interaction, request)
        except Exception:
            await self.bot.repo.reopen_jam(jam.id)  # not charged: let them try again
            raise
        await self.refresh(jam.id)

    @jam.command(name="suggest", description="Lyrics for the next lines, from the theme and the lines so far.")
    async def suggest(self, interaction: discord.Interaction) -> None:
        assert interaction.channel_id is not None
        jam = await self._jam_here(interaction)
        if jam.state != "open":
            raise InvalidInput("This jam is finished. Reply to its song with lyrics to extend it.")
        await interaction.response.defer(thinking=True)
        lines = await self.bot.repo.jam_lines(jam.id)
        draft = await self.bot.lyrics.suggest(
            jam, lines, channel_id=interaction.channel_id, user_id=interaction.user.id
        )
        locale = await self.bot.languages.of(jam.guild_id)  # the suggestion is public: the server's language
        view = discord.ui.View(timeout=None)
        view.add_item(AddTheseButton(draft.id, locale))
        embed = suggestion_embed(draft, locale=locale)
        await interaction.followup.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS)

    async def add_suggestion(self, interaction: discord.Interaction, draft_id: int) -> None:
        """Add a suggestion's lines to its jam, credited to the member who pressed; once."""
        draft = await self.bot.lyrics.draft(draft_id)
        jam = await self.bot.repo.jam(draft.jam_id) if draft.jam_id is not None else None
        if jam is None:
            raise InvalidInput("That suggestion no longer belongs to a jam.")
        if jam.state != "open":
            raise InvalidInput("This jam is finished. Reply to its song with lyrics to extend it.")
        if not await self.bot.repo.use_lyrics_draft(draft.id, interaction.user.id):
            raise InvalidInput("These lines were added already.")
        added = 0
        note = ""
        try:
            for line in draft.lyrics.splitlines():
                await self._add_line(jam, interaction.user.id, line)
                added += 1
        except InvalidInput as exc:
            if not added:
                await self.bot.repo.release_lyrics_draft(draft.id)
                raise
            note = f" {t(interaction.locale, exc.phrase)}"
        server = await self.bot.languages.of(jam.guild_id)
        await interaction.response.edit_message(
            embed=suggestion_embed(draft, added_by=interaction.user.id, locale=server),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )
        await interaction.followup.send(
            tn(interaction.locale, "Added {count} line as yours.", "Added {count} lines as yours.", added) + note,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        await self.refresh(jam.id)

    @jam.command(name="play", description="Play this jam's songs in order in a voice channel, announced here.")
    @app_commands.describe(channel="The voice or stage channel to play in (default: the one you are in)")
    async def play(
        self, interaction: discord.Interaction, channel: discord.VoiceChannel | discord.StageChannel | None = None
    ) -> None:
        await play_jam(self.bot, interaction, await self._jam_here(interaction), channel)

    @jam.command(name="status", description="This jam's lines and its chain of songs.")
    async def status(self, interaction: discord.Interaction) -> None:
        jam = await self._jam_here(interaction)
        lines = await self.bot.repo.jam_lines(jam.id)
        songs = await self.bot.repo.jam_songs(jam.id)
        locale = interaction.locale
        embed = jam_embed(jam, lines, locale=locale)
        chain = "\n".join(f"{n}. {song_line(song, locale=locale)}" for n, song in enumerate(songs, 1))
        name = tn(locale, "Chain ({count} song)", "Chain ({count} songs)", len(songs))
        embed.add_field(name=name, value=clip(chain or t(locale, "No song yet."), 1024), inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- lines posted in the thread, and the chain ----------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A message in an open jam's thread that mentions the bot adds its lines (replies are extends)."""
        if message.author.bot or message.guild is None or message.reference is not None or self.bot.user is None:
            return
        if self.bot.user.id not in {user.id for user in message.mentions}:
            return
        jam = await self.bot.repo.jam_in_channel(message.channel.id)
        if jam is None or jam.state != "open":
            return
        text = re.sub(rf"<@!?{self.bot.user.id}>", "", message.content)
        lines = [line for line in (part.strip() for part in text.splitlines()) if line]
        if not lines:
            return
        try:
            await self.bot.check_command_access("jam", message.author, message.channel)
            for line in lines:
                await self._add_line(jam, message.author.id, line)
        except InvalidInput as exc:
            with contextlib.suppress(discord.HTTPException):
                locale = await self.bot.languages.of(jam.guild_id)  # a public reply: the server's language
                await message.reply(t(locale, exc.phrase), allowed_mentions=NO_MENTIONS)
        else:
            with contextlib.suppress(discord.HTTPException):
                await message.add_reaction(LINE_ADDED_REACTION)
        await self.refresh(jam.id)

    async def on_song_delivered(self, step: OutboxItem) -> None:
        """A jam's song (or an extension of it) was posted, and made the one the thread extends in
        the same transaction (`Repository.mark_delivered`): redraw the jam message (an outbox step)."""
        task = await self.bot.repo.task(step.task_id) if step.task_id is not None else None
        if task is not None and task.jam_id is not None:
            await self.refresh(task.jam_id)


async def setup(bot: MusicBot) -> None:
    """Load the jam commands."""
    await bot.add_cog(Jams(bot))
