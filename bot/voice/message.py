"""The listening-party message: how a party, and each song in it, reads on Discord.

Pure presentation: text and embeds built from a `Party`, no Discord calls. `party` posts and
edits the message; the cog and the jam announcement reuse the song title and credits.
"""

from __future__ import annotations

import discord

from bot.songs.render import EMBED_COLOUR, clip, format_duration
from bot.storage import SongRow
from bot.voice.model import Party, RadioSource

UP_NEXT_SHOWN = 10
RADIO_NAMES: dict[RadioSource, str] = {
    "top": "the server's most starred songs",
    "new": "the server's newest songs",
    "starred": "{member}'s starred songs",
    "member": "{member}'s songs",
    "jam": "the server's jam songs",
}
"""What each radio source plays, as the party message says it ("Radio: …")."""
LOOP_LINES = {"song": "🔂 Loop: this song.", "queue": "🔁 Loop: the queue."}


def radio_line(party: Party) -> str:
    """ "📻 Radio: …" while the radio is on, else ""."""
    radio = party.radio
    if radio is None:
        return ""
    member = f"<@{radio.member_id or radio.owner_id}>"
    return f"📻 Radio: {RADIO_NAMES[radio.source].format(member=member)}, started by <@{radio.owner_id}>."


def song_credits(song: SongRow) -> str:
    """Who made the song: its credited members (a jam's writers), else whoever asked for it."""
    members = song.credits or [song.requester_id]
    return ", ".join(f"<@{member}>" for member in dict.fromkeys(members))


def song_title(song: SongRow) -> str:
    return discord.utils.escape_markdown(clip(song.title or "Untitled", 80))


def now_playing_line(party: Party, *, detailed: bool) -> str:
    track = party.current
    if track is None:
        return "Nothing is playing."
    song = track.song
    timing = (
        f"{format_duration(party.elapsed())} / {format_duration(song.duration)}"
        if detailed
        else format_duration(song.duration)
    )
    state = "⏸️ Paused" if party.paused else "▶️ Now playing"
    label = f" ({track.label})" if track.label else ""
    return (
        f"{state}{label}: **{song_title(song)}** · {timing}\n"
        f"by {song_credits(song)} · queued by <@{track.requester_id}>"
    )


def party_embed(party: Party, idle_timeout: float, *, detailed: bool = False) -> discord.Embed:
    """The listening-party message (and /queue): now playing, up next, recent notes."""
    where = party.channel.mention
    embed = discord.Embed(title="🎧 Listening party", colour=EMBED_COLOUR)
    if party.ended is not None:
        embed.description = f"The listening party in {where} has ended: {party.ended}."
    elif party.current is None and not party.queue:
        embed.description = f"In {where}. The queue is empty: add songs with `/play` or a song's ▶️ Play button. " + (
            "I'll stay in the channel (this server keeps me in voice)."
            if party.stay
            else f"I'll leave after {format_duration(idle_timeout)} of silence."
        )
    else:
        embed.description = f"In {where}.\n{now_playing_line(party, detailed=detailed)}"
    if party.ended is None:
        extras = [
            radio_line(party),
            {"song": "🔂 Loop: this song.", "queue": "🔁 Loop: the queue."}.get(party.loop, ""),
        ]
        extras = [line for line in extras if line]
        if extras:
            embed.description = "\n".join([embed.description or "", *extras])
    if party.ended is None and party.queue:
        lines = [
            f"{n}. **{song_title(track.song)}** · {format_duration(track.song.duration)} · <@{track.requester_id}>"
            for n, track in enumerate(list(party.queue)[:UP_NEXT_SHOWN], 1)
        ]
        if len(party.queue) > UP_NEXT_SHOWN:
            lines.append(f"…and {len(party.queue) - UP_NEXT_SHOWN} more")
        embed.add_field(name=f"Up next ({len(party.queue)})", value=clip("\n".join(lines), 1024), inline=False)
    if party.notes:
        embed.add_field(name="Notes", value=clip("\n".join(party.notes), 1024), inline=False)
    if party.ended is None:
        embed.set_footer(
            text="Skip, Pause/Resume, Stop, /loop, /seek: the song's requester or Move Members; others vote to skip."
        )
    return embed


__all__ = ["RADIO_NAMES", "now_playing_line", "party_embed", "radio_line", "song_credits", "song_title"]
