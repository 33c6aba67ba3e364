"""Songs members name or bring: finding one by id or message link, and registering an upload.

Neither touches a task's lifecycle; `SongService` answers for this class (`bot.songs.find_song`,
`song_for_message`, `register_upload`), so cogs keep one service to ask.
"""

from __future__ import annotations

from bot.core.errors import ApiRejected, InvalidInput
from bot.producer.client import ProducerClient, ProducerError
from bot.producer.wording import describe_api_error
from bot.songs.actions import parse_song_ref
from bot.songs.requests import Clock
from bot.storage.repository import Repository, SongRow


class Library:
    """The guild's songs as members refer to them; stems rows are never offered as songs."""

    def __init__(self, repo: Repository, api: ProducerClient, *, clock: Clock) -> None:
        self._repo = repo
        self._api = api
        self._clock = clock

    async def find_song(self, guild_id: int, reference: str) -> SongRow:
        """The song a member named by id or message link, in this guild; a clear error otherwise."""
        ref = parse_song_ref(reference)
        if ref.message_id is not None:
            song = await self._repo.song_by_message(ref.message_id)
        else:
            assert ref.song_id is not None
            song = await self._repo.song(ref.song_id)
        if song is None or song.guild_id != guild_id or song.kind == "stems":
            raise InvalidInput(
                "I don't know that song in this server. Pick one from the list, or paste a song id "
                "or a link to a song message."
            )
        return song

    async def song_for_message(self, guild_id: int | None, message_id: int) -> SongRow | None:
        song = await self._repo.song_by_message(message_id)
        if song is None or song.guild_id != guild_id or song.kind == "stems":
            return None
        return song

    async def register_upload(
        self, *, guild_id: int, channel_id: int, uploader_id: int, url: str, filename: str
    ) -> SongRow:
        """Register a member's audio with `/producer/upload` and record it as a song (origin: upload)."""
        try:
            upload = await self._api.upload(url, guild_id=guild_id)
        except ProducerError as exc:
            raise ApiRejected(describe_api_error(exc)) from None
        stem = filename.rsplit(".", 1)[0] or "Uploaded audio"
        return await self._repo.add_song(
            SongRow(
                id=upload.audio_id,
                task_id=None,
                kind="upload",
                guild_id=guild_id,
                channel_id=channel_id,
                requester_id=uploader_id,
                title=stem[:100],
                prompt="",
                lyric=upload.lyric,
                duration=None,
                audio_url=upload.audio_url or url,
                image_url=None,
                stems_url=None,
                model=None,
                seed=None,
                parent_song_id=None,
                action="upload",
                message_id=None,
                created_at=self._clock(),
            )
        )
