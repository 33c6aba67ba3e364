"""Every message a contest shows: the contest message, the vote, the results, the leaderboard.

What members wrote (the theme, the rules, song titles) is escaped and clipped here, so it never
renders as markdown or a link; mentions are shown but never ping (messages go out with
`NO_MENTIONS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import discord

from bot.contests.durations import describe
from bot.songs.render import EMBED_COLOUR, FIELD_VALUE, clip, display_title, fit_embed, safe_url
from bot.songs.status import jump_url
from bot.storage.contests import Contest, ContestEntry, LeaderRow
from bot.storage.models import SongRow

MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}
PHASES = {
    "submitting": "📝 Taking entries",
    "voting": "🗳️ Voting",
    "finished": "🏁 Finished",
    "cancelled": "🚫 Cancelled",
}
NO_EVENT_PERMISSION = (
    "No scheduled event: I need the **Create Events** and **Manage Events** permissions for that "
    "(Server Settings → Roles → my role)."
)


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry with its song (None when the song was removed since)."""

    entry: ContestEntry
    song: SongRow | None

    @property
    def title(self) -> str:
        return discord.utils.escape_markdown(display_title(self.song, 80)) if self.song else "(a removed song)"

    def option_label(self, number: int) -> str:
        """The entry in the vote menu (plain text: menus render no markdown)."""
        title = display_title(self.song, 90) if self.song else "(a removed song)"
        return clip(f"{number}. {title}", 100)

    @property
    def play_link(self) -> str:
        song = self.song
        if song is None:
            return ""
        if song.message_id:
            return f" · [play]({jump_url(song.guild_id, song.channel_id, song.message_id)})"
        url = safe_url(song.audio_url)
        return f" · [play]({url})" if url else ""


def when(at: float) -> str:
    """A Discord timestamp: the date in the reader's own time zone, and how long from now."""
    return f"<t:{int(at)}:f> (<t:{int(at)}:R>)"


def _theme(contest: Contest) -> str:
    return discord.utils.escape_markdown(contest.theme)


def entry_lines(entries: list[Entry], *, links: bool = True) -> str:
    lines = [
        f"{n}. **{item.title}** by <@{item.entry.member_id}>{item.play_link if links else ''}"
        for n, item in enumerate(entries, 1)
    ]
    return "\n".join(lines)


def contest_embed(contest: Contest, entries: list[Entry], *, event_url: str | None = None) -> discord.Embed:
    """The contest message: theme, rules, phase, deadlines, entries so far, and the reminder event."""
    embed = discord.Embed(title=clip(f"🏆 Song contest: {_theme(contest)}", 256), colour=EMBED_COLOUR)
    if contest.rules:
        embed.description = clip(f"**Rules:** {discord.utils.escape_markdown(contest.rules)}", 2000)
    embed.add_field(name="Phase", value=PHASES.get(contest.phase, contest.phase), inline=True)
    embed.add_field(name="Entries per member", value=str(contest.max_entries), inline=True)
    if contest.phase == "submitting":
        embed.add_field(name="Entries close", value=when(contest.due_at), inline=False)
        embed.add_field(
            name="Voting",
            value=f"for {describe(contest.vote_seconds)} after entries close; results {when(contest.vote_until)}",
            inline=False,
        )
    elif contest.phase == "voting":
        embed.add_field(name="Results", value=when(contest.due_at), inline=False)
    elif contest.ended_at is not None:
        embed.add_field(name="Ended", value=f"<t:{int(contest.ended_at)}:f>", inline=False)
    listed = entry_lines(entries) or "No entries yet."
    embed.add_field(name=f"Entries ({len(entries)})", value=clip(listed, FIELD_VALUE), inline=False)
    if contest.event_note:
        embed.add_field(name="Reminder", value=clip(contest.event_note, FIELD_VALUE), inline=False)
    elif event_url and contest.is_open:
        embed.add_field(name="Reminder", value=f"[Results event]({event_url}): mark yourself interested.", inline=False)
    if contest.phase == "submitting":
        embed.set_footer(text="Enter a song you made here since the contest started: /contest submit")
    elif contest.phase == "voting":
        embed.set_footer(text="Vote with the menu under the entries. Votes stay secret until the results.")
    return fit_embed(embed)


def vote_embed(contest: Contest, entries: list[Entry]) -> discord.Embed:
    """The vote: every entry with a play link and who made it."""
    embed = discord.Embed(title=clip(f"🗳️ Vote: {_theme(contest)}", 256), colour=EMBED_COLOUR)
    embed.description = clip(entry_lines(entries), 4000)
    embed.add_field(name="Voting closes", value=when(contest.due_at), inline=False)
    embed.set_footer(
        text="One vote each, changeable until the end; not for your own song. Votes are secret until the results. "
        "Members who joined after voting started cannot vote."
    )
    return fit_embed(embed)


def vote_closed_embed(contest: Contest, entries: list[Entry]) -> discord.Embed:
    embed = vote_embed(contest, entries)
    embed.clear_fields()
    embed.set_footer(text="Voting is closed.")
    return embed


def ranked(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda item: (item.entry.place or 10**6, item.entry.submitted_at))


def winners(entries: list[Entry]) -> list[Entry]:
    """The entries in first place, if anyone voted at all."""
    return [item for item in entries if item.entry.place == 1 and (item.entry.votes or 0) > 0]


def results_embed(contest: Contest, entries: list[Entry]) -> discord.Embed:
    """Ranked entries with their votes; ties share a place."""
    embed = discord.Embed(title=clip(f"🏆 Results: {_theme(contest)}", 256), colour=EMBED_COLOUR)
    if not entries:
        embed.description = "No songs were entered, so there is no winner this time."
        return embed
    lines = []
    for item in ranked(entries):
        place = item.entry.place or 0
        votes = item.entry.votes or 0
        medal = MEDALS.get(place, f"{place}.")
        lines.append(
            f"{medal} **{item.title}** by <@{item.entry.member_id}> — {votes} vote{'s' if votes != 1 else ''}"
            f"{item.play_link}"
        )
    embed.description = clip("\n".join(lines), 4000)
    top = winners(entries)
    if not top:
        embed.add_field(name="Winner", value="Nobody voted, so there is no winner this time.", inline=False)
    else:
        names = ", ".join(f"<@{item.entry.member_id}>" for item in top)
        label = "Winners (a tie)" if len(top) > 1 else "Winner"
        embed.add_field(name=label, value=clip(names, FIELD_VALUE), inline=False)
    return fit_embed(embed)


def results_text(contest: Contest, entries: list[Entry]) -> str:
    top = winners(entries)
    if not top:
        return f"🏁 The contest **{_theme(contest)}** is over."
    names = " and ".join(f"<@{item.entry.member_id}>" for item in top)
    return clip(f"🎉 {names} won the contest **{_theme(contest)}**!", 2000)


def winner_text(item: Entry) -> str:
    return f"🥇 The winning song, by <@{item.entry.member_id}>:"


def cancelled_text(contest: Contest) -> str:
    return f"🚫 The contest **{_theme(contest)}** was cancelled; there are no results."


LEADERBOARD_PERIODS = {"month": "this month", "all": "all time"}


def leaderboard_embed(rows: list[LeaderRow], period: str) -> discord.Embed:
    """Wins, podiums, stars received and songs made, per member."""
    embed = discord.Embed(title=f"🏆 Leaderboard ({LEADERBOARD_PERIODS[period]})", colour=EMBED_COLOUR)
    if not rows:
        embed.description = "Nothing yet: make songs, star them, and run a contest with `/contest start`."
        return embed
    lines = [
        f"{MEDALS.get(n, f'{n}.')} <@{row.member_id}> — "
        f"🏆 {row.wins} · 🎖️ {row.podiums} · ⭐ {row.stars} · 🎵 {row.songs}"
        for n, row in enumerate(rows, 1)
    ]
    embed.description = clip("\n".join(lines), 4000)
    embed.set_footer(text="🏆 contest wins · 🎖️ podiums (top 3) · ⭐ stars received · 🎵 songs made")
    return embed


def status_text(contest: Contest, now: float) -> str:
    """`/contest status`: the phase and the time left."""
    phase = PHASES.get(contest.phase, contest.phase)
    if contest.is_open:
        left = describe(60 * math.ceil(max(0.0, contest.due_at - now) / 60))  # whole minutes, rounded up
        ends = "entries close" if contest.phase == "submitting" else "voting closes"
        return f"{phase}: {ends} in about {left} ({when(contest.due_at)})."
    return f"{phase}."
