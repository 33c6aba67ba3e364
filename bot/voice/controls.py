"""What members do to a playing party: skip (or vote), pause, stop, loop, seek, and the radio.

A mixin of `party.Parties`, which holds the parties and their player loop; this module holds the
member-facing rules for changing one:
* the requester of the song playing, or anyone with Move Members, may skip, pause, stop, loop and
  seek (radio songs belong to whoever started the radio);
* anyone else listening votes to skip; half of the listeners (rounded up, bots excluded) skip.
"""

from __future__ import annotations

from bot.core.errors import InvalidInput, Phrase
from bot.i18n import N_
from bot.songs.render import format_duration
from bot.voice.message import song_title
from bot.voice.model import LoopMode, Party, Radio

LOOP_WORDS: dict[LoopMode, str] = {
    "off": N_("➡️ Loop is off: each song plays once."),
    "song": N_("🔂 Looping the song playing."),
    "queue": N_("🔁 Looping the queue: each song goes back to the end of the line once it has played."),
}
"""Catalog messages; what the member is told is a `Phrase` of one (translated by the cog)."""


class PartyControls:
    """Skip, votes, pause, stop, loop, seek and radio on the party of a server (see `Parties`)."""

    def get(self, guild_id: int) -> Party | None:
        raise NotImplementedError

    def refresh(self, party: Party) -> None:
        raise NotImplementedError

    async def end(self, party: Party, reason: Phrase) -> None:
        raise NotImplementedError

    def _require(self, guild_id: int) -> Party:
        party = self.get(guild_id)
        if party is None:
            raise InvalidInput("Nothing is playing in this server. Start a listening party with `/play`.")
        return party

    def _refuse(self, party: Party, action: Phrase) -> InvalidInput:
        if party.current is None:
            return InvalidInput("Only a listener or a member with **Move Members** can {action}.", action=action)
        return InvalidInput(
            "Only {member} (who queued it) or a member with **Move Members** can {action}.",
            member=f"<@{party.current.requester_id}>",
            action=action,
        )

    def skip(self, guild_id: int, member_id: int, *, move_members: bool) -> Phrase:
        """Skip the song playing, or count a listener's vote; returns what to tell the member."""
        party = self._require(guild_id)
        if party.current is None:
            raise InvalidInput("Nothing is playing right now.")
        title = song_title(party.current.song)
        if party.may_control(member_id, move_members=move_members):
            self._skip_now(party)
            return Phrase("⏭️ Skipped **{song}**.", song=title)
        listeners = {member.id for member in party.listeners()}
        if member_id not in listeners:
            raise InvalidInput(
                "Only listeners in {channel} can vote to skip (or the song's requester, "
                "or a member with **Move Members**).",
                channel=party.channel.mention,
            )
        party.votes = (party.votes & listeners) | {member_id}
        needed = party.votes_needed()
        if len(party.votes) >= needed:
            self._skip_now(party)
            votes, total = len(party.votes), len(listeners)
            party.notes.append(
                Phrase("⏭️ **{song}** was skipped by vote ({votes} of {total}).", song=title, votes=votes, total=total)
            )
            return Phrase("⏭️ Skipped **{song}** by vote.", song=title)
        return Phrase(
            "🗳️ Your vote to skip **{song}** counts: {votes} of {needed} needed.",
            song=title,
            votes=len(party.votes),
            needed=needed,
        )

    def _skip_now(self, party: Party) -> None:
        party.skipping = True
        if party.paused:
            party.voice.resume()
            party.paused = False
        party.voice.stop()  # the player thread ends; `after` wakes the loop, which plays the next song

    def toggle_pause(self, guild_id: int, member_id: int, *, move_members: bool) -> Phrase:
        party = self._require(guild_id)
        if party.current is None:
            raise InvalidInput("Nothing is playing right now.")
        if not party.may_control(member_id, move_members=move_members):
            raise self._refuse(party, Phrase("pause or resume it"))
        title = song_title(party.current.song)
        if party.paused:
            party.voice.resume()
            party.paused = False
            text = Phrase("▶️ Resumed **{song}**.", song=title)
        else:
            party.voice.pause()
            party.paused = True
            text = Phrase("⏸️ Paused **{song}**.", song=title)
        self.refresh(party)
        return text

    async def stop(self, guild_id: int, member_id: int, *, move_members: bool) -> Phrase:
        party = self._require(guild_id)
        if not party.may_control(member_id, move_members=move_members):
            raise self._refuse(party, Phrase("stop the party"))
        party.radio = None
        await self.end(party, Phrase("stopped by {member}", member=f"<@{member_id}>"))
        return Phrase("⏹️ Stopped the listening party and left the voice channel.")

    def check_may_control(self, guild_id: int, member_id: int, *, move_members: bool, action: Phrase) -> None:
        """Refuse a member who may not `action` the party playing (no party: nothing to refuse)."""
        party = self.get(guild_id)
        if party is not None and not party.may_control(member_id, move_members=move_members):
            raise self._refuse(party, action)

    def set_loop(self, guild_id: int, mode: LoopMode) -> Phrase:
        """Loop the party's song or queue (or stop looping); the mode is also kept for the next party."""
        party = self.get(guild_id)
        if party is not None:
            party.loop = mode
            self.refresh(party)
        return Phrase(LOOP_WORDS[mode])

    def seek(self, guild_id: int, member_id: int, *, move_members: bool, to: float) -> Phrase:
        """Play the current song from `to` seconds: it stops and starts again from there."""
        party = self._require(guild_id)
        track = party.current
        if track is None or party.audio is None:
            raise InvalidInput("Nothing is playing right now.")
        if not party.may_control(member_id, move_members=move_members):
            raise self._refuse(party, Phrase("seek in it"))
        title = song_title(track.song)
        length = track.song.duration
        if length is not None and to >= length:
            raise InvalidInput(
                "**{song}** is {length} long: pick a time before its end (for example `{example}`).",
                song=title,
                length=format_duration(length),
                example=format_duration(max(0.0, length - 10)),
            )
        party.seek_to = to
        self._skip_now(party)  # the loop sees `seek_to` and plays the same song again from there
        return Phrase("⏩ **{song}** from {time}.", song=title, time=format_duration(to))

    def set_radio(self, guild_id: int, radio: Radio | None) -> None:
        """Turn the party's radio on (or off); it picks a song as soon as the queue is empty."""
        party = self.get(guild_id)
        if party is None:
            return
        party.radio = radio
        party.wake.set()
        self.refresh(party)


__all__ = ["LOOP_WORDS", "PartyControls"]
