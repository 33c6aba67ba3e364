"""Every message a contest shows: the contest message, the vote, the results, the leaderboard.

Public messages are written in the server's language and `/contest status` in the member's: every
function takes the `locale` to write in (`bot.i18n`).

What members wrote (the theme, the rules, song titles) is escaped and clipped here, so it never
renders as markdown or a link; mentions are shown but never ping (messages go out with
`NO_MENTIONS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import discord

from bot.contests.durations import describe
from bot.core.errors import Phrase
from bot.i18n import N_, Locale, t, t_english, tn
from bot.songs.render import EMBED_COLOUR, FIELD_VALUE, clip, display_title, fit_embed, safe_url
from bot.songs.status import jump_url
from bot.storage.contests import Contest, ContestEntry, LeaderRow
from bot.storage.models import SongRow

MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}
PHASES = {
    "submitting": N_("📝 Taking entries"),
    "voting": N_("🗳️ Voting"),
    "finished": N_("🏁 Finished"),
    "cancelled": N_("🚫 Cancelled"),
}
NO_EVENT_PERMISSION = Phrase(
    "No scheduled event: I need the **Create Events** and **Manage Events** permissions for that "
    "(Server Settings → Roles → my role)."
)
REMOVED_SONG = N_("(a removed song)")


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry with its song (None when the song was removed since)."""

    entry: ContestEntry
    song: SongRow | None

    def title(self, locale: Locale = None) -> str:
        return discord.utils.escape_markdown(display_title(self.song, 80)) if self.song else t(locale, REMOVED_SONG)

    def option_label(self, number: int, locale: Locale = None) -> str:
        """The entry in the vote menu (plain text: menus render no markdown)."""
        title = display_title(self.song, 90) if self.song else t(locale, REMOVED_SONG)
        return clip(f"{number}. {title}", 100)

    def play_link(self, locale: Locale = None) -> str:
        song = self.song
        if song is None:
            return ""
        play = t(locale, "play")
        if song.message_id:
            return f" · [{play}]({jump_url(song.guild_id, song.channel_id, song.message_id)})"
        url = safe_url(song.audio_url)
        return f" · [{play}]({url})" if url else ""


def when(at: float) -> str:
    """A Discord timestamp: the date in the reader's own time zone, and how long from now."""
    return f"<t:{int(at)}:f> (<t:{int(at)}:R>)"


def _theme(contest: Contest) -> str:
    return discord.utils.escape_markdown(contest.theme)


def entry_lines(entries: list[Entry], *, links: bool = True, locale: Locale = None) -> str:
    lines = [
        t(
            locale,
            "{number}. **{song}** by {member}",
            number=n,
            song=item.title(locale),
            member=f"<@{item.entry.member_id}>",
        )
        + (item.play_link(locale) if links else "")
        for n, item in enumerate(entries, 1)
    ]
    return "\n".join(lines)


def contest_embed(
    contest: Contest, entries: list[Entry], *, event_url: str | None = None, locale: Locale = None
) -> discord.Embed:
    """The contest message: theme, rules, phase, deadlines, entries so far, and the reminder event."""
    title = t(locale, "🏆 Song contest: {theme}", theme=_theme(contest))
    embed = discord.Embed(title=clip(title, 256), colour=EMBED_COLOUR)
    if contest.rules:
        rules = t(locale, "**Rules:** {rules}", rules=discord.utils.escape_markdown(contest.rules))
        embed.description = clip(rules, 2000)
    phase = t(locale, PHASES[contest.phase]) if contest.phase in PHASES else contest.phase
    embed.add_field(name=t(locale, "Phase"), value=phase, inline=True)
    embed.add_field(name=t(locale, "Entries per member"), value=str(contest.max_entries), inline=True)
    if contest.phase == "submitting":
        embed.add_field(name=t(locale, "Entries close"), value=when(contest.due_at), inline=False)
        voting = t(
            locale,
            "for {time} after entries close; results {when}",
            time=describe(contest.vote_seconds),
            when=when(contest.vote_until),
        )
        embed.add_field(name=t(locale, "Voting"), value=voting, inline=False)
    elif contest.phase == "voting":
        embed.add_field(name=t(locale, "Results"), value=when(contest.due_at), inline=False)
    elif contest.ended_at is not None:
        embed.add_field(name=t(locale, "Ended"), value=f"<t:{int(contest.ended_at)}:f>", inline=False)
    listed = entry_lines(entries, locale=locale) or t(locale, "No entries yet.")
    name = t(locale, "Entries ({count})", count=len(entries))
    embed.add_field(name=name, value=clip(listed, FIELD_VALUE), inline=False)
    if contest.event_note:
        note = t_note(contest.event_note, locale)
        embed.add_field(name=t(locale, "Reminder"), value=clip(note, FIELD_VALUE), inline=False)
    elif event_url and contest.is_open:
        reminder = t(locale, "[Results event]({link}): mark yourself interested.", link=event_url)
        embed.add_field(name=t(locale, "Reminder"), value=reminder, inline=False)
    if contest.phase == "submitting":
        embed.set_footer(text=t(locale, "Enter a song you made here since the contest started: /contest submit"))
    elif contest.phase == "voting":
        embed.set_footer(text=t(locale, "Vote with the menu under the entries. Votes stay secret until the results."))
    return fit_embed(embed)


def t_note(note: str, locale: Locale) -> str:
    """The stored reminder note (written in English by `events`), in `locale`'s words."""
    return t_english(locale, note)


def vote_embed(contest: Contest, entries: list[Entry], locale: Locale = None) -> discord.Embed:
    """The vote: every entry with a play link and who made it."""
    embed = discord.Embed(title=clip(t(locale, "🗳️ Vote: {theme}", theme=_theme(contest)), 256), colour=EMBED_COLOUR)
    embed.description = clip(entry_lines(entries, locale=locale), 4000)
    embed.add_field(name=t(locale, "Voting closes"), value=when(contest.due_at), inline=False)
    embed.set_footer(
        text=t(
            locale,
            "One vote each, changeable until the end; not for your own song. Votes are secret until the results. "
            "Members who joined after voting started cannot vote.",
        )
    )
    return fit_embed(embed)


def vote_closed_embed(contest: Contest, entries: list[Entry], locale: Locale = None) -> discord.Embed:
    embed = vote_embed(contest, entries, locale)
    embed.clear_fields()
    embed.set_footer(text=t(locale, "Voting is closed."))
    return embed


def ranked(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda item: (item.entry.place or 10**6, item.entry.submitted_at))


def winners(entries: list[Entry]) -> list[Entry]:
    """The entries in first place, if anyone voted at all."""
    return [item for item in entries if item.entry.place == 1 and (item.entry.votes or 0) > 0]


def results_embed(contest: Contest, entries: list[Entry], locale: Locale = None) -> discord.Embed:
    """Ranked entries with their votes; ties share a place."""
    title = t(locale, "🏆 Results: {theme}", theme=_theme(contest))
    embed = discord.Embed(title=clip(title, 256), colour=EMBED_COLOUR)
    if not entries:
        embed.description = t(locale, "No songs were entered, so there is no winner this time.")
        return embed
    lines = []
    for item in ranked(entries):
        place = item.entry.place or 0
        votes = item.entry.votes or 0
        medal = MEDALS.get(place, f"{place}.")
        line = tn(
            locale,
            "{medal} **{song}** by {member} — {count} vote",
            "{medal} **{song}** by {member} — {count} votes",
            votes,
            medal=medal,
            song=item.title(locale),
            member=f"<@{item.entry.member_id}>",
        )
        lines.append(line + item.play_link(locale))
    embed.description = clip("\n".join(lines), 4000)
    top = winners(entries)
    if not top:
        nobody = t(locale, "Nobody voted, so there is no winner this time.")
        embed.add_field(name=t(locale, "Winner"), value=nobody, inline=False)
    else:
        names = ", ".join(f"<@{item.entry.member_id}>" for item in top)
        label = t(locale, "Winners (a tie)") if len(top) > 1 else t(locale, "Winner")
        embed.add_field(name=label, value=clip(names, FIELD_VALUE), inline=False)
    return fit_embed(embed)


def results_text(contest: Contest, entries: list[Entry], locale: Locale = None) -> str:
    top = winners(entries)
    if not top:
        return t(locale, "🏁 The contest **{theme}** is over.", theme=_theme(contest))
    names = ", ".join(f"<@{item.entry.member_id}>" for item in top)
    return clip(t(locale, "🎉 {members} won the contest **{theme}**!", members=names, theme=_theme(contest)), 2000)


def winner_text(item: Entry, locale: Locale = None) -> str:
    return t(locale, "🥇 The winning song, by {member}:", member=f"<@{item.entry.member_id}>")


def cancelled_text(contest: Contest, locale: Locale = None) -> str:
    return t(locale, "🚫 The contest **{theme}** was cancelled; there are no results.", theme=_theme(contest))


LEADERBOARD_PERIODS = {"month": N_("🏆 Leaderboard (this month)"), "all": N_("🏆 Leaderboard (all time)")}


def leaderboard_embed(rows: list[LeaderRow], period: str, locale: Locale = None) -> discord.Embed:
    """Wins, podiums, stars received and songs made, per member."""
    embed = discord.Embed(title=t(locale, LEADERBOARD_PERIODS[period]), colour=EMBED_COLOUR)
    if not rows:
        embed.description = t(locale, "Nothing yet: make songs, star them, and run a contest with `/contest start`.")
        return embed
    lines = [
        f"{MEDALS.get(n, f'{n}.')} <@{row.member_id}> — "
        f"🏆 {row.wins} · 🎖️ {row.podiums} · ⭐ {row.stars} · 🎵 {row.songs}"
        for n, row in enumerate(rows, 1)
    ]
    embed.description = clip("\n".join(lines), 4000)
    embed.set_footer(text=t(locale, "🏆 contest wins · 🎖️ podiums (top 3) · ⭐ stars received · 🎵 songs made"))
    return embed


def status_text(contest: Contest, now: float, locale: Locale = None) -> str:
    """`/contest status`: the phase and the time left."""
    phase = t(locale, PHASES[contest.phase]) if contest.phase in PHASES else contest.phase
    if contest.is_open:
        left = describe(60 * math.ceil(max(0.0, contest.due_at - now) / 60))  # whole minutes, rounded up
        if contest.phase == "submitting":
            return t(
                locale,
                "{phase}: entries close in about {time} ({when}).",
                phase=phase,
                time=left,
                when=when(contest.due_at),
            )
        return t(
            locale,
            "{phase}: voting closes in about {time} ({when}).",
            phase=phase,
            time=left,
            when=when(contest.due_at),
        )
    return f"{phase}."
