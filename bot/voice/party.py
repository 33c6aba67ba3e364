"""Listening parties: one per server, a queue of songs played in a voice channel, one message that follows it.

State lives in this process's memory, by nature: a voice connection belongs to the process that
holds the server's gateway shard, so a restart ends the party (members start it again with /play).
Each server's party has its own queue, player thread, ffmpeg process and task, so one server's
playback (or failure) never touches another's. At most `max_parties` play at once per process.

The member-facing rules live here and in `controls` (skip, votes, pause, stop, loop, seek), the
cog only translates interactions:
* the party leaves after `idle_timeout` seconds with an empty queue, when everyone else left, or on
  Stop, unless the server set `stay_in_voice` (then only Stop, or a disconnect, ends it);
* with the radio on, an empty queue is filled with a song picked from the server's library
  (`radio_picker`, from `bot.playlists`), never one of the last 20 played, while someone listens;
* loop `song` plays the song again when it ends; loop `queue` puts each played song back in line;
* a song whose audio cannot be fetched is skipped with a note.

The loop mode, the radio and `stay_in_voice` are kept in the database (`party_modes`, guild
settings), so a restart loses the party but not how the server likes it to play.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from bot.core.errors import InvalidInput, Phrase, UserError
from bot.i18n import SOURCE_LANGUAGE, t
from bot.songs.language import ServerLanguages
from bot.songs.render import NO_MENTIONS, format_duration
from bot.storage import Repository, SongRow
from bot.voice.audio import LoudnessMemory, PartyAudio, audio_stream
from bot.voice.checks import check_channel
from bot.voice.controls import PartyControls
from bot.voice.message import RADIO_NAMES, party_embed, song_credits, song_title, track_label
from bot.voice.model import Party, Radio, Track

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 120.0
"""Seconds with nothing left to play before the bot leaves the voice channel."""
CONNECT_TIMEOUT = 20.0
END_TIMEOUT = 15.0
"""Seconds Stop waits for the party to leave (opening the song's audio is bounded too)."""
STEP_UP_TIMEOUT = 15.0
"""Seconds Discord gets to make the bot a speaker on a stage (or take its request to speak)."""
QUEUE_MAX = 100
"""Songs waiting per server; a jam's whole chain fits many times over."""

ViewFactory = Callable[[bool, str], discord.ui.View | None]
"""Builds the party message's buttons (given whether playback is paused, and the language); set by the cog."""
RadioPicker = Callable[[Party], Awaitable[Track | None]]
"""Picks the radio's next song for a party (None: nothing left to pick); set by the listening cog."""


class Parties(PartyControls):
    """Every listening party of this process, keyed by server."""

    def __init__(
        self,
        client: discord.Client,
        session: aiohttp.ClientSession,
        *,
        max_parties: int,
        idle_timeout: float = IDLE_TIMEOUT,
        allow_private_media: bool = False,
        repo: Repository | None = None,
        normalise: bool = True,
    ) -> None:
        self.client = client
        self.repo = repo  # where a server's loop mode, radio and stay_in_voice are kept
        self.normalise = normalise  # loudness normalisation (EBU R128) in every song's ffmpeg chain
        self.loudness = LoudnessMemory(repo) if repo is not None and normalise else None
        self.radio_picker: RadioPicker | None = None
        self.session = session  # the media session: public addresses only
        self.allow_private_media = allow_private_media
        self.max_parties = max_parties
        self.idle_timeout = idle_timeout  # tests shorten it
        self.step_up_timeout = STEP_UP_TIMEOUT  # tests shorten it too
        self.view_factory: ViewFactory | None = None
        self.languages: ServerLanguages | None = None
        """The server's language for the party message; the bot hands in its own."""
        self._parties: dict[int, Party] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._closing = False
        self._connecting = 0

    def get(self, guild_id: int) -> Party | None:
        party = self._parties.get(guild_id)
        return party if party is not None and party.ended is None else None

    @property
    def playing(self) -> int:
        return len(self._parties)

    # -- starting and queueing ---------------------------------------------------------------

    check_channel = staticmethod(check_channel)

    async def enqueue(
        self,
        channel: discord.VoiceChannel | discord.StageChannel,
        tracks: list[Track],
        *,
        text_channel_id: int,
    ) -> tuple[Party, int]:
        """Join `channel` if needed and queue `tracks`; returns the party and the first track's place (0 = now)."""
        guild = channel.guild
        lock = self._locks.setdefault(guild.id, asyncio.Lock())
        async with lock:
            party = self.get(guild.id)
            if party is not None and party.channel.id != channel.id:
                raise InvalidInput(
                    "I'm already playing in {channel}. Join it there, or `/stop` that party first.",
                    channel=party.channel.mention,
                )
            if party is None:
                party = await self._start(channel, text_channel_id)
            if len(party.queue) + len(tracks) > QUEUE_MAX:
                raise InvalidInput(
                    "The queue is full ({count} songs). Try again when some have played.", count=QUEUE_MAX
                )
            place = len(party.queue) + (1 if party.current is not None else 0)
            party.queue.extend(tracks)
            party.wake.set()
            self.refresh(party)
            return party, place

    async def _start(self, channel: discord.VoiceChannel | discord.StageChannel, text_channel_id: int) -> Party:
        if self._closing:
            raise UserError("The bot is restarting; try again in a minute.")
        if len(self._parties) + self._connecting >= self.max_parties:
            raise UserError(
                "I'm already playing in as many servers as this bot runs at once ({count}). "
                "Try again in a few minutes.",
                count=self.max_parties,
            )
        self.check_channel(channel)
        guild = channel.guild
        if guild.voice_client is not None:  # a connection left over from an ended party
            with contextlib.suppress(Exception):
                await guild.voice_client.disconnect(force=True)
        self._connecting += 1  # holds a slot while connecting, so parallel starts cannot exceed the bound
        try:
            voice = await channel.connect(timeout=CONNECT_TIMEOUT, reconnect=True, self_deaf=True)
        except (TimeoutError, discord.ClientException) as exc:
            log.warning("Could not join voice in guild %d (%s)", guild.id, type(exc).__name__)
            raise UserError(
                "I could not join {channel}: Discord did not let me connect. Check that I have the "
                "**Connect** and **Speak** permissions there, then try again.",
                channel=channel.mention,
            ) from None
        finally:
            self._connecting -= 1
        party = Party(guild.id, voice, text_channel_id)
        party.locale = await self.languages.of(guild.id) if self.languages is not None else SOURCE_LANGUAGE
        await self._load_modes(party)
        self._parties[guild.id] = party
        if isinstance(channel, discord.StageChannel):
            try:
                await asyncio.wait_for(self._take_the_stage(party, channel), timeout=self.step_up_timeout)
            except (Exception, asyncio.CancelledError) as exc:
                await self._abandon(party, Phrase("I could not step up to speak on the stage"))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.warning("Could not step up on a stage in guild %d (%s)", guild.id, type(exc).__name__)
                raise UserError(
                    "I joined {channel} but Discord did not let me step up to speak there, so I left "
                    "again. Try again in a minute.",
                    channel=channel.mention,
                ) from None
        else:
            party.heard.set()
        party.task = asyncio.create_task(self._run(party), name=f"listening-party-{guild.id}")
        return party

    async def _load_modes(self, party: Party) -> None:
        """The server's loop mode, radio and stay_in_voice, as members last set them (defaults if the
        database cannot say: the party plays anyway)."""
        if self.repo is None:
            return
        try:
            modes = await self.repo.party_modes(party.guild_id)
            settings = await self.repo.guild_settings(party.guild_id)
        except Exception as exc:
            log.warning("Could not read the party modes of guild %d (%s)", party.guild_id, type(exc).__name__)
            return
        party.loop = modes.loop_mode
        party.stay = settings.stay_in_voice
        if modes.radio_source is not None and modes.radio_owner_id is not None:
            party.radio = Radio(modes.radio_source, modes.radio_owner_id, modes.radio_member_id)

    async def _abandon(self, party: Party, reason: Phrase) -> None:
        """A party that never got going (no player task, no message yet): free its slot and leave."""
        party.ended = reason
        if self._parties.get(party.guild_id) is party:
            del self._parties[party.guild_id]
        with contextlib.suppress(Exception):
            await party.voice.disconnect(force=True)

    async def _take_the_stage(self, party: Party, stage: discord.StageChannel) -> None:
        """On a stage the bot arrives in the audience, where nobody hears it. With *Mute Members*
        there (a stage moderator) it makes itself a speaker; otherwise it asks to speak, and the
        party waits (up to the idle timeout) until a stage moderator accepts."""
        me = stage.guild.me
        try:
            if stage.permissions_for(me).mute_members:
                await me.edit(suppress=False)
                party.heard.set()
                return
            await me.request_to_speak()
            party.notes.append(
                Phrase(
                    "🎙️ I asked to speak on {stage}: a stage moderator must accept before anyone hears the "
                    "songs (or give me **Mute Members** there, which lets me step up myself).",
                    stage=stage.mention,
                )
            )
        except discord.HTTPException as exc:
            log.info("Could not become a speaker on a stage in guild %d (%s)", party.guild_id, exc.code)
            party.notes.append(
                Phrase(
                    "🎙️ I can't speak on {stage}: a stage moderator must invite me to speak, or give me "
                    "**Mute Members** (or **Request to Speak**) there.",
                    stage=stage.mention,
                )
            )

    # -- the player loop ---------------------------------------------------------------------

    async def _run(self, party: Party) -> None:
        reason = Phrase("the queue ended")
        again: tuple[Track, float] | None = None  # a looped song, or the song playing after a seek
        try:
            while party.ended is None:
                if again is None and not party.queue:
                    party.wake.clear()
                    picked = await self._radio_pick(party)
                    if picked is not None:
                        party.queue.append(picked)
                        continue
                    if not await self._wait_for(party, party.wake):
                        reason = Phrase("nothing was queued for {time}", time=format_duration(self.idle_timeout))
                        break
                    continue
                if not party.heard.is_set():  # on a stage, waiting for a moderator to let the bot speak
                    if not await self._wait_for(party, party.heard):
                        reason = Phrase(
                            "no stage moderator let me speak for {time}", time=format_duration(self.idle_timeout)
                        )
                        break
                    continue
                track, start = again or (party.queue.popleft(), 0.0)
                played = await self._play(party, track, start)
                again = self._next_after(party, track, played)
        except Exception:
            log.exception("Listening party in guild %d failed", party.guild_id)
            reason = Phrase("something went wrong on our side")
        finally:
            await self._finish(party, party.ended or reason)

    def _next_after(self, party: Party, track: Track, played: bool) -> tuple[Track, float] | None:
        """What a song's end means: after a seek the same song from there; looping a song, the same
        song again (unless it was skipped); looping the queue, the song back at the end of the line."""
        if party.ended is not None:
            return None
        if party.seek_to is not None:
            start, party.seek_to = party.seek_to, None
            return track, start
        if played and party.loop == "song" and not party.skipping:
            return track, 0.0
        if played and party.loop == "queue":
            party.queue.append(track)
        return None

    async def _radio_pick(self, party: Party) -> Track | None:
        """The radio's next song, while the radio is on and someone listens (None otherwise)."""
        if party.radio is None or self.radio_picker is None or not party.listeners():
            return None
        try:
            track = await self.radio_picker(party)
        except Exception as exc:  # the database is away: the party waits, as with an empty queue
            log.warning("The radio could not pick a song in guild %d (%s)", party.guild_id, type(exc).__name__)
            return None
        if track is None:
            radio = party.radio
            what = Phrase(RADIO_NAMES[radio.source], member=f"<@{radio.member_id or radio.owner_id}>")
            note = Phrase("📻 Radio: no song of {what} left that was not played lately.", what=what)
            if note not in party.notes:
                party.notes.append(note)
        return track

    async def _wait_for(self, party: Party, event: asyncio.Event) -> bool:
        """Show the party as it is, then wait up to the idle timeout (with stay_in_voice, for ever) for
        `event`; False if it timed out."""
        self.refresh(party)
        try:
            await asyncio.wait_for(event.wait(), timeout=None if party.stay else self.idle_timeout)
        except TimeoutError:
            return False
        return True

    def _skipped(self, party: Party, song: SongRow, *, missing: bool) -> None:
        """A song that could not be played: a note on the party message, and on to the next."""
        if missing:
            party.notes.append(Phrase("⏭️ Skipped **{song}**: its audio is unavailable.", song=song_title(song)))
        else:
            party.notes.append(Phrase("⏭️ Skipped **{song}**: its audio could not be played.", song=song_title(song)))
        party.current = None
        self.refresh(party)

    async def _play(self, party: Party, track: Track, start: float = 0.0) -> bool:
        """Play `track` (from `start` seconds) to its end, a skip or Stop; whether any of it was heard."""
        song = track.song
        party.current, party.votes, party.paused, party.skipping = track, set(), False, False
        measured = await self.loudness.recall(song.id) if self.loudness is not None else None
        remember = self.loudness.remember(song.id) if self.loudness and measured is None and start == 0 else None
        stream = await audio_stream(self.session, song.audio_url, allow_private=self.allow_private_media)
        if party.ended is not None:
            if stream is not None:
                stream.close()
            return False
        if stream is None:
            self._skipped(party, song, missing=True)
            return False
        try:
            audio = PartyAudio(
                stream, song.id, start=start, normalise=self.normalise, measured=measured, on_measured=remember
            )
        except RuntimeError as exc:
            stream.close()
            log.error("Could not start ffmpeg for song %s (%s)", song.id, exc)
            self._skipped(party, song, missing=False)
            return False
        party.audio = audio  # from here on, `end` stops ffmpeg, its reader and the download even before playback
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        errors: list[BaseException] = []

        def after(error: Exception | None) -> None:  # runs on the player thread
            if error is not None:
                errors.append(error)
            with contextlib.suppress(RuntimeError):  # the loop is gone: the bot stopped meanwhile
                loop.call_soon_threadsafe(done.set)

        try:
            await audio.prime()
            if party.ended is not None or not party.voice.is_connected():  # stopped or kicked meanwhile
                party.ended = party.ended or Phrase("I was disconnected from the voice channel")
                return False
            party.voice.play(audio, after=after)
            if not party.recent or party.recent[-1] != song.id:
                party.recent.append(song.id)
            self.refresh(party)
            if start == 0:
                await self._announce(party, track)
            await done.wait()
        finally:
            if party.voice.is_playing() or party.voice.is_paused():
                party.voice.stop()
            audio.cleanup()  # the player has done it when the song played; here when it never did
            party.audio = None
        if audio.frames == 0 and not party.skipping and party.ended is None:
            log.info("Song %s produced no audio (%s)", song.id, type(errors[0]).__name__ if errors else "empty")
            self._skipped(party, song, missing=False)
        party.current = None
        return audio.frames > 0

    async def _announce(self, party: Party, track: Track) -> None:
        """A jam's song is announced in the jam's thread as it starts, with its credits."""
        if track.announce_channel_id is None:
            return
        text = t(
            party.locale,
            "▶️ Now playing in {channel}{label}: **{song}** · {length} · by {members}",
            channel=party.channel.mention,
            label=track_label(track, party.locale),
            song=song_title(track.song),
            length=format_duration(track.song.duration),
            members=song_credits(track.song),
        )
        channel = self.client.get_partial_messageable(track.announce_channel_id, guild_id=party.guild_id)
        try:
            await channel.send(text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.info("Could not announce a jam song in %d (%s)", track.announce_channel_id, exc.code)

    async def _finish(self, party: Party, reason: Phrase) -> None:
        party.ended = reason
        party.queue.clear()
        party.current = None
        if self._parties.get(party.guild_id) is party:
            del self._parties[party.guild_id]
        with contextlib.suppress(Exception):
            await party.voice.disconnect(force=True)
        self.refresh(party)
        if party._refresher is not None:
            with contextlib.suppress(Exception):
                await party._refresher

    # -- ending ------------------------------------------------------------------------------

    async def end(self, party: Party, reason: Phrase) -> None:
        """End a party now: the queue is dropped, the player stopped, the channel left."""
        if party.ended is not None:
            return
        party.ended = reason
        party.skipping = True
        party.wake.set()  # out of the idle wait
        party.heard.set()  # out of a stage's wait to speak (the loop sees `ended` and stops)
        if party.voice.is_playing() or party.voice.is_paused():
            party.voice.stop()  # the player thread ends and `after` wakes the song's wait
        elif party.audio is not None:
            party.audio.cleanup()  # a song still starting: ffmpeg, its reader and the download end now
        task = party.task
        if task is not None and task is not asyncio.current_task():
            # The loop notices `ended` after its current step and leaves the channel itself.
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=END_TIMEOUT)
            except TimeoutError:
                log.warning("Listening party in guild %d did not end in time; cancelling it", party.guild_id)
                task.cancel()

    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        """Leave when everyone else left the party's channel; end the party if the bot was disconnected."""
        party = self.get(member.guild.id)
        if party is None:
            return
        me = self.client.user
        if me is not None and member.id == me.id:
            if after.channel is None:
                await self.end(party, Phrase("I was disconnected from the voice channel"))
            elif isinstance(after.channel, discord.StageChannel) and not after.suppress:
                if not party.heard.is_set():
                    party.notes.append(Phrase("🎙️ I'm a speaker on {stage} now.", stage=after.channel.mention))
                    party.heard.set()
            elif isinstance(after.channel, discord.StageChannel):
                party.heard.clear()  # moved back to the audience: the next song waits until it may speak
            return
        if after.channel is not None and after.channel.id == party.channel.id:
            party.wake.set()  # a listener is back: a radio that waited for one picks a song
        if before.channel is not None and before.channel.id == party.channel.id and not party.listeners():
            if party.stay:
                self.refresh(party)  # the server asked the bot to stay: it waits for listeners
            else:
                await self.end(party, Phrase("everyone left the voice channel"))

    async def close(self) -> None:
        """The bot is stopping: end every party (each leaves its channel and says so)."""
        self._closing = True
        await asyncio.gather(
            *(self.end(party, Phrase("the bot is restarting")) for party in list(self._parties.values())),
            return_exceptions=True,
        )

    # -- the listening-party message -----------------------------------------------------------

    def refresh(self, party: Party) -> None:
        """Redraw the party message soon; bursts of changes coalesce into one edit."""
        party._dirty = True
        if party._refresher is None or party._refresher.done():
            party._refresher = asyncio.create_task(self._refresh_loop(party))

    async def _refresh_loop(self, party: Party) -> None:
        channel = self.client.get_partial_messageable(party.text_channel_id, guild_id=party.guild_id)
        while party._dirty:
            party._dirty = False
            embed = party_embed(party, self.idle_timeout)
            view = self.view_factory(party.paused, party.locale) if self.view_factory and party.ended is None else None
            try:
                if party.message_id is None:
                    message = await channel.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
                    party.message_id = message.id
                else:
                    await channel.get_partial_message(party.message_id).edit(
                        embed=embed, view=view, allowed_mentions=NO_MENTIONS
                    )
            except discord.HTTPException as exc:
                log.info("Could not update the listening-party message in %d (%s)", party.text_channel_id, exc.code)
            except Exception:
                log.exception("Listening-party message update failed")

    def queue_embed(self, guild_id: int, locale: str | None = None) -> discord.Embed:
        """What /queue shows (in the member's language): the song playing with elapsed / length, and what comes next."""
        party = self._require(guild_id)
        return party_embed(party, self.idle_timeout, detailed=True, locale=locale)


__all__ = ["IDLE_TIMEOUT", "Parties"]
