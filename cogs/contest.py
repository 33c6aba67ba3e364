"""Song contests: /contest start, submit, withdraw, end, cancel, status; /leaderboard; the Vote menu.

Thin: rules, timers and announcements live in `bot.contests.ContestService`; this cog turns
interactions into its calls and owns the vote menu it posts (`ContestService.vote_view`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.commands import report_error
from bot.contests import render
from bot.contests.render import Entry
from bot.contests.service import RULES_MAX, THEME_MAX
from bot.core.errors import InvalidInput, Phrase
from bot.i18n import Locale, t, t_english
from bot.songs.render import NO_MENTIONS, display_title
from bot.songs.validation import clean_text
from bot.storage.contests import Contest
from cogs._common import song_choice_label

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

AUTOCOMPLETE_LIMIT = 25


def _member(interaction: discord.Interaction) -> discord.Member:
    if not isinstance(interaction.user, discord.Member):
        raise InvalidInput("Contests happen in servers.")
    return interaction.user


def _require_manager(interaction: discord.Interaction, what: Phrase) -> None:
    if not interaction.permissions.manage_guild:
        raise InvalidInput("Only members with the Manage Server permission can {action}.", action=what)


class VoteSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=r"contest:vote:(?P<id>\d{1,19})"):
    """The Vote menu under a contest's entries; its custom id names the contest, so it works after restarts."""

    def __init__(
        self, contest_id: int, options: list[discord.SelectOption] | None = None, locale: Locale = None
    ) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"contest:vote:{contest_id}",
                placeholder=t(locale, "Vote for your favourite entry"),
                options=options or [discord.SelectOption(label="…", value="-")],
                min_values=1,
                max_values=1,
            )
        )
        self.contest_id = contest_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Select[Any], match: re.Match[str], /
    ) -> VoteSelect:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MusicBot = interaction.client  # type: ignore[assignment]
        try:
            values = (interaction.data or {}).get("values") or []
            if not values:
                raise InvalidInput("Pick an entry to vote for.")
            said = await bot.contests.vote(self.contest_id, _member(interaction), str(values[0]))
            await interaction.response.send_message(
                t(interaction.locale, said), ephemeral=True, allowed_mentions=NO_MENTIONS
            )
        except Exception as exc:  # menus do not pass through the command tree's handler
            await report_error(interaction, exc)


def vote_view(contest: Contest, entries: list[Entry], locale: Locale = None) -> discord.ui.View:
    """The menu (public: the server's language): one option per entry (its number and title)."""
    options = [
        discord.SelectOption(label=item.option_label(n, locale), value=item.entry.song_id)
        for n, item in enumerate(entries[:25], 1)
    ]
    view = discord.ui.View(timeout=None)
    view.add_item(VoteSelect(contest.id, options, locale))
    return view


class Contests(commands.Cog):
    """/contest and /leaderboard."""

    contest = app_commands.Group(name="contest", description="Themed song contests with a vote", guild_only=True)

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.contests.vote_view = vote_view
        self.bot.add_dynamic_items(VoteSelect)

    async def cog_unload(self) -> None:
        self.bot.contests.vote_view = None
        self.bot.remove_dynamic_items(VoteSelect)

    async def _here(self, interaction: discord.Interaction) -> Contest:
        assert interaction.guild_id is not None
        return await self.bot.contests.contest_here(interaction.guild_id, interaction.channel_id)

    @contest.command(name="start", description="Start a song contest: a theme, entries, a vote, a winner.")
    @app_commands.describe(
        theme="What the songs should be about",
        submit_for="How long members can enter songs: 2d, 12h, 90m (1m to 30d)",
        vote_for="How long voting lasts after that: 2d, 12h, 90m (1m to 30d)",
        channel="Where the contest runs (default: here)",
        max_entries="Songs each member may enter (default 1)",
        rules="Anything else entrants should know",
    )
    async def start(
        self,
        interaction: discord.Interaction,
        theme: app_commands.Range[str, 1, THEME_MAX],
        submit_for: app_commands.Range[str, 1, 20],
        vote_for: app_commands.Range[str, 1, 20],
        channel: discord.TextChannel | None = None,
        max_entries: app_commands.Range[int, 1, 5] = 1,
        rules: app_commands.Range[str, 1, RULES_MAX] | None = None,
    ) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        _require_manager(interaction, Phrase("start a contest"))
        theme = clean_text("theme", theme, limit=THEME_MAX, required=True)
        rules = clean_text("rules", rules, limit=RULES_MAX)
        await interaction.response.defer(ephemeral=True, thinking=True)
        where = channel.id if channel is not None else interaction.channel_id
        contest = await self.bot.contests.start_contest(
            guild_id=interaction.guild_id,
            channel_id=where,
            starter_id=interaction.user.id,
            theme=theme,
            rules=rules,
            submit_for=submit_for,
            vote_for=vote_for,
            max_entries=max_entries,
        )
        locale = interaction.locale
        if contest.event_note:
            note = t_english(locale, contest.event_note)
        else:
            note = t(locale, "A scheduled event reminds members of the results.")
        text = t(
            locale,
            "🏆 The contest is on in {channel}: entries close {when}.",
            channel=f"<#{where}>",
            when=f"<t:{int(contest.due_at)}:R>",
        )
        await interaction.followup.send(f"{text} {note}", ephemeral=True, allowed_mentions=NO_MENTIONS)

    @contest.command(name="submit", description="Enter a song you made here since the contest started.")
    @app_commands.describe(song="One of your songs (start typing its title)")
    async def submit(self, interaction: discord.Interaction, song: app_commands.Range[str, 1, 200]) -> None:
        contest = await self._here(interaction)
        entered = await self.bot.contests.submit(contest, _member(interaction), song)
        title = discord.utils.escape_markdown(display_title(entered, 80))
        text = t(
            interaction.locale,
            "✅ **{song}** is entered in **{theme}**. Good luck!",
            song=title,
            theme=discord.utils.escape_markdown(contest.theme),
        )
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @submit.autocomplete("song")
    async def _songs_to_enter(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Only songs the member may enter: their own, made in this server since the contest started,
        in channels everyone can see."""
        member = interaction.user
        if interaction.guild_id is None or not isinstance(member, discord.Member):
            return []
        try:
            contest = await self._here(interaction)
        except InvalidInput:
            return []
        songs = await self.bot.repo.songs_to_enter(
            interaction.guild_id, member.id, contest.started_at, text=current, limit=AUTOCOMPLETE_LIMIT
        )
        allowed = []
        for song in songs:
            if await self.bot.visibility.everyone_can_view(member.guild, song.channel_id):
                allowed.append(app_commands.Choice(name=song_choice_label(song), value=song.id))
        return allowed

    @contest.command(name="withdraw", description="Take one of your entries back (before voting starts).")
    @app_commands.describe(song="Your entry")
    async def withdraw(self, interaction: discord.Interaction, song: app_commands.Range[str, 1, 200]) -> None:
        contest = await self._here(interaction)
        await self.bot.contests.withdraw(contest, _member(interaction), song.strip())
        await interaction.response.send_message(t(interaction.locale, "Your entry is withdrawn."), ephemeral=True)

    @withdraw.autocomplete("song")
    async def _own_entries(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        try:
            contest = await self._here(interaction)
        except InvalidInput:
            return []
        entries = await self.bot.contests.entries(contest)
        return [
            app_commands.Choice(name=item.option_label(n, interaction.locale), value=item.entry.song_id)
            for n, item in enumerate(entries, 1)
            if item.entry.member_id == interaction.user.id
        ][:AUTOCOMPLETE_LIMIT]

    @contest.command(name="end", description="End the current phase now: close entries, or close the vote.")
    async def end(self, interaction: discord.Interaction) -> None:
        _require_manager(interaction, Phrase("end a contest's phase"))
        contest = await self._here(interaction)
        said = await self.bot.contests.end_phase(contest)
        await interaction.response.send_message(t(interaction.locale, said), ephemeral=True)

    @contest.command(name="cancel", description="End the contest without results.")
    async def cancel(self, interaction: discord.Interaction) -> None:
        _require_manager(interaction, Phrase("cancel a contest"))
        contest = await self._here(interaction)
        await self.bot.contests.cancel(contest)
        await interaction.response.send_message(t(interaction.locale, "The contest is cancelled."), ephemeral=True)

    @contest.command(name="status", description="The contest's phase, entries and time left.")
    async def status(self, interaction: discord.Interaction) -> None:
        contest = await self._here(interaction)
        entries = await self.bot.contests.entries(contest)
        await interaction.response.send_message(
            render.status_text(contest, self.bot.contests.now(), interaction.locale),
            embed=render.contest_embed(contest, entries, locale=interaction.locale),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="leaderboard", description="Contest wins, podiums, stars and songs per member.")
    @app_commands.guild_only()
    @app_commands.describe(period="This month, or all time (default)")
    async def leaderboard(self, interaction: discord.Interaction, period: Literal["month", "all"] = "all") -> None:
        assert interaction.guild_id is not None
        rows = await self.bot.contests.leaderboard(interaction.guild_id, period)
        locale = await self.bot.languages.of(interaction.guild_id)  # a public answer: the server's language
        await interaction.response.send_message(
            embed=render.leaderboard_embed(rows, period, locale), allowed_mentions=NO_MENTIONS
        )


async def setup(bot: MusicBot) -> None:
    """Load the contest commands."""
    await bot.add_cog(Contests(bot))
