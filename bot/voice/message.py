"""The listening-party message: how a party, and each song in it, reads on Discord.

Pure presentation: text and embeds built from a `Party`, no Discord calls, in the party's language
(the server's) unless a member's own is given (`/queue`, a private reply). `party` posts and edits
the message; the cog and the jam announcement reuse the song title and credits.
"""

from __future__ import annotations

import discord

from bot.core.errors import Phrase
from bot.i18n import N_, Locale, t
from bot.songs.render import EMBED_COLOUR, clip, format_duration
from bot.storage import SongRow
from bot.voice.model import Party, RadioSource, Track

UP_NEXT_SHOWN = 10
RADIO_NAMES: dict[RadioSource, str] = {
    "top": N_("the server's most starred songs"),
    "new": N_("the server's newest songs"),
    "starred": N_("{member}'s starred songs"),
    "member": N_("{member}'s songs"),
    "jam": N_("the server's jam songs"),
}
"""What each radio source plays, as the party message says it ("Radio: …"); catalog messages."""
LOOP_LINES = {"song": N_("🔂 Loop: this song."), "queue": N_("🔁 Loop: the queue.")}


def radio_name(source: RadioSource, member_id: int, locale: Locale) -> str:
    """What a radio source plays, in `locale`'s words."""
    return t(locale, RADIO_NAMES[source], member=f"<@{member_id}>")


def radio_line(party: Party, locale: Locale = None) -> str:
    """ "📻 Radio: …" while the radio is on, else ""."""
    radio = party.radio
    if radio is None:
        return ""
    locale = locale or party.locale
    return t(
        locale,
        "📻 Radio: {what}, started by {member}.",
        what=radio_name(radio.source, radio.member_id or radio.owner_id, locale),
        member=f"<@{radio.owner_id}>",
    )


def song_credits(song: SongRow) -> str:
    """Who made the song: its credited members (a jam's writers), else whoever asked for it."""
    members = song.credits or [song.requester_id]
    return ", ".join(f"<@{member}>" for member in dict.fromkeys(members))


def song_title(song: SongRow) -> str:
    """A song's title as members wrote or the API named it (never translated), escaped and short."""
    return discord.utils.escape_markdown(clip(song.title or "Untitled", 80))


def track_label(track: Track, locale: Locale) -> str:
    """ " (2 of 4 in the jam)" in `locale`'s words, " (Road trip)" as the member named the playlist, or ""."""
    if not track.label:
        return ""
    label = t(locale, track.label) if isinstance(track.label, Phrase) else track.label
    return f" ({label})"


def now_playing_line(party: Party, *, detailed: bool, locale: Locale = None) -> str:
    locale = locale or party.locale
    track = party.current
    if track is None:
        return t(locale, "Nothing is playing.")
    song = track.song
    timing = (
        f"{format_duration(party.elapsed())} / {format_duration(song.duration)}"
        if detailed
        else format_duration(song.duration)
    )
    state = t(locale, "⏸️ Paused") if party.paused else t(locale, "▶️ Now playing")
    label = track_label(track, locale)
    return t(
        locale,
        "{state}{label}: **{song}** · {timing}\nby {members} · queued by {member}",
        state=state,
        label=label,
        song=song_title(song),
        timing=timing,
        members=song_credits(song),
        member=f"<@{track.requester_id}>",
    )


def party_embed(party: Party, idle_timeout: float, *, detailed: bool = False, locale: Locale = None) -> discord.Embed:
    """The listening-party message (in the server's language) and /queue (in the member's): now playing,
    up next, recent notes."""
    locale = locale or party.locale
    where = party.channel.mention
    embed = discord.Embed(title=t(locale, "🎧 Listening party"), colour=EMBED_COLOUR)
    if party.ended is not None:
        reason = t(locale, party.ended)
        embed.description = t(
            locale, "The listening party in {channel} has ended: {reason}.", channel=where, reason=reason
        )
    elif party.current is None and not party.queue:
        if party.stay:
            embed.description = t(
                locale,
                "In {channel}. The queue is empty: add songs with `/play` or a song's ▶️ Play button. "
                "I'll stay in the channel (this server keeps me in voice).",
                channel=where,
            )
        else:
            embed.description = t(
                locale,
                "In {channel}. The queue is empty: add songs with `/play` or a song's ▶️ Play button. "
                "I'll leave after {time} of silence.",
                channel=where,
                time=format_duration(idle_timeout),
            )
    else:
        now = now_playing_line(party, detailed=detailed, locale=locale)
        embed.description = t(locale, "In {channel}.", channel=where) + f"\n{now}"
    if party.ended is None:
        loop = LOOP_LINES.get(party.loop)
        extras = [line for line in (radio_line(party, locale), t(locale, loop) if loop else "") if line]
        if extras:
            embed.description = "\n".join([embed.description or "", *extras])
    if party.ended is None and party.queue:
        lines = [
            f"{n}. **{song_title(track.song)}** · {format_duration(track.song.duration)} · <@{track.requester_id}>"
            for n, track in enumerate(list(party.queue)[:UP_NEXT_SHOWN], 1)
        ]
        if len(party.queue) > UP_NEXT_SHOWN:
            lines.append(t(locale, "…and {count} more", count=len(party.queue) - UP_NEXT_SHOWN))
        name = t(locale, "Up next ({count})", count=len(party.queue))
        embed.add_field(name=name, value=clip("\n".join(lines), 1024), inline=False)
    if party.notes:
        notes = "\n".join(t(locale, note) for note in party.notes)
        embed.add_field(name=t(locale, "Notes"), value=clip(notes, 1024), inline=False)
    if party.ended is None:
        footer = t(
            locale, "Skip, Pause/Resume, Stop, /loop, /seek: the song's requester or Move Members; others vote to skip."
        )
        embed.set_footer(text=footer)
    return embed


__all__ = [
    "RADIO_NAMES",
    "now_playing_line",
    "party_embed",
    "radio_line",
    "radio_name",
    "song_credits",
    "song_title",
    "track_label",
]
