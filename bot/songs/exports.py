"""A song's other forms: the lossless WAV (`/producer/wav`) and the MP4 (`/producer/videos`).

Each is asked of the API once per song and remembered (`song_copies`), so a second press of
the WAV or Video button, by anyone, costs no API call. Presses of one song's button in this
process are serialised, so two quick presses make one call too. The auto-DM of a finished song
is remembered the same way, so it is sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

from bot.core.errors import ApiRejected, Phrase
from bot.producer.client import ProducerClient, ProducerError
from bot.producer.wording import describe_api_error
from bot.songs.requests import Clock
from bot.storage.models import SongCopy
from bot.storage.repository import Repository, SongRow


class ExportService:
    """Finds or makes a song's WAV and video, and remembers where they went."""

    def __init__(self, repo: Repository, api: ProducerClient, *, clock: Clock) -> None:
        self._repo = repo
        self._api = api
        self._clock = clock
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    @contextlib.asynccontextmanager
    async def one_at_a_time(self, song_id: str, kind: str) -> AsyncIterator[None]:
        """Hold while making and posting one song's copy, so a double press does the work once.

        One small lock per song ever pressed in this process; never dropped, so a waiter can
        never end up on a different lock than the holder.
        """
        async with self._locks[(song_id, kind)]:
            yield

    async def remembered(self, song_id: str, kind: str) -> SongCopy | None:
        """The song's `kind` copy if one was made already (nothing asked of the API)."""
        return await self._repo.song_copy(song_id, kind)

    async def wav(self, song: SongRow) -> SongCopy:
        """The song's WAV: remembered, or asked of the API once and remembered."""
        return await self._copy(song, "wav", "WAV")

    async def video(self, song: SongRow) -> SongCopy:
        """The song's video: remembered (with the message showing it, once posted), or asked once."""
        return await self._copy(song, "video", "video")

    async def _copy(self, song: SongRow, kind: str, what: str) -> SongCopy:
        known = await self._repo.song_copy(song.id, kind)
        if known is not None and known.url:
            return known
        try:
            api, guild = self._api, song.guild_id
            url = (
                (await api.wav(song.id, guild_id=guild)).file_url
                if kind == "wav"
                else await api.video(song.id, guild_id=guild)
            )
        except ProducerError as exc:
            raise ApiRejected(_export_error(what, exc)) from None
        return await self._repo.save_song_copy(song.id, kind, url, self._clock())

    async def video_posted(self, song_id: str, channel_id: int, message_id: int) -> None:
        await self._repo.set_song_copy_message(song_id, "video", channel_id, message_id)

    async def claim_dm(self, song_id: str) -> bool:
        """The one right to DM a finished song to its requester (False: it was sent already)."""
        return await self._repo.claim_song_copy(song_id, "dm", self._clock())

    async def dm_sent(self, song_id: str, channel_id: int, message_id: int) -> None:
        await self._repo.set_song_copy_message(song_id, "dm", channel_id, message_id)


def _export_error(what: str, error: ProducerError) -> Phrase:
    """The member's message for a failed export; nothing is charged for exports."""
    reason = describe_api_error(error, charged=False)
    if what == "video":
        return Phrase("Could not get the video: {reason}", reason=reason)
    return Phrase("Could not get the WAV: {reason}", reason=reason)
