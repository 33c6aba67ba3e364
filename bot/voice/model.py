"""What a listening party is: the songs in its queue (`Track`) and one server's party (`Party`).

Plain state with the few questions the rules ask of it (who listens, how many votes skip, who may
control); `party` drives it and `message` draws it, so both import it and neither imports the other.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import discord

from bot.core.errors import Phrase
from bot.i18n import SOURCE_LANGUAGE
from bot.storage import SongRow
from bot.voice.audio import PartyAudio

NOTES_SHOWN = 3
"""Recent notes (skips, stage requests) kept on the party message."""
RADIO_MEMORY = 20
"""Songs the radio never repeats: the last this many played in the party."""
LoopMode = Literal["off", "song", "queue"]
LOOP_MODES: tuple[LoopMode, ...] = ("off", "song", "queue")
RadioSource = Literal["top", "new", "starred", "member", "jam"]
RADIO_SOURCES: tuple[RadioSource, ...] = ("top", "new", "starred", "member", "jam")


@dataclass(frozen=True, slots=True)
class Radio:
    """What the radio plays when the queue runs out: songs of the server's library by `source`
    (`member_id`: whose songs, or whose stars), all belonging to `owner_id`, who started it."""

    source: RadioSource
    owner_id: int
    member_id: int | None = None


@dataclass(frozen=True, slots=True)
class Track:
    """A song in a party's queue: who queued it, and where (a jam thread) its start is announced."""

    song: SongRow
    requester_id: int
    announce_channel_id: int | None = None
    label: Phrase | str | None = None
    """E.g. "2 of 4 in the jam" (a `Phrase`, translated) or a playlist's name (a member's words, as written)."""


@dataclass(eq=False)
class Party:
    """One server's listening party."""

    guild_id: int
    voice: discord.VoiceClient
    text_channel_id: int
    queue: deque[Track] = field(default_factory=deque)
    current: Track | None = None
    audio: PartyAudio | None = None
    paused: bool = False
    votes: set[int] = field(default_factory=set)
    notes: deque[Phrase] = field(default_factory=lambda: deque(maxlen=NOTES_SHOWN))
    message_id: int | None = None
    ended: Phrase | None = None  # why the party ended, once it has
    locale: str = SOURCE_LANGUAGE
    """The server's language, for the party message and announcements (chosen when the party starts)."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    heard: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while the bot can be heard: always in a voice channel; on a stage, once it is a speaker."""
    task: asyncio.Task[None] | None = None
    skipping: bool = False
    loop: LoopMode = "off"
    radio: Radio | None = None
    stay: bool = False
    """`/settings stay_in_voice`: no leaving when the queue is empty or everyone left."""
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RADIO_MEMORY))
    """Ids of the songs played last, newest at the end (the radio skips these)."""
    seek_to: float | None = None
    """Set by /seek: the song playing stops and starts again from here."""
    _dirty: bool = False
    _refresher: asyncio.Task[None] | None = None

    @property
    def channel(self) -> discord.VoiceChannel | discord.StageChannel:
        return self.voice.channel

    def listeners(self) -> list[discord.Member]:
        """Members in the party's voice channel, bots excluded."""
        return [member for member in self.voice.channel.members if not member.bot]

    def votes_needed(self) -> int:
        return max(1, math.ceil(len(self.listeners()) / 2))

    def may_control(self, member_id: int, *, move_members: bool) -> bool:
        """The requester of the song playing, or anyone with Move Members; when nothing plays, any listener."""
        if move_members:
            return True
        if self.current is not None:
            return self.current.requester_id == member_id
        return any(member.id == member_id for member in self.listeners())

    def elapsed(self) -> float:
        return self.audio.elapsed if self.audio is not None else 0.0


__all__ = [
    "LOOP_MODES",
    "NOTES_SHOWN",
    "RADIO_MEMORY",
    "RADIO_SOURCES",
    "LoopMode",
    "Party",
    "Radio",
    "RadioSource",
    "Track",
]
