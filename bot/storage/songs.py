"""Songs and the library: every song (and upload, and stems bundle) once, and every message showing one."""

from __future__ import annotations

import json

from bot.storage.base import RepositoryBase
from bot.storage.models import SONG_COLUMNS, SongRow, song_filter, song_from_row


class SongRepository(RepositoryBase):
    """Song rows, the messages that show them, and library search."""

    async def add_song(self, song: SongRow) -> SongRow:
        """Insert a song once; a repeat keeps the first row (and its message id)."""
        async with self._transaction() as tx:
            await tx.execute(
                f"INSERT INTO songs ({SONG_COLUMNS}) VALUES ({', '.join('?' for _ in range(20))}) "
                "ON CONFLICT (id) DO NOTHING",
                (
                    song.id,
                    song.task_id,
                    song.kind,
                    song.guild_id,
                    song.channel_id,
                    song.requester_id,
                    song.title,
                    song.prompt,
                    song.lyric,
                    song.duration,
                    song.audio_url,
                    song.image_url,
                    song.stems_url,
                    song.model,
                    song.seed,
                    song.parent_song_id,
                    song.action,
                    song.message_id,
                    song.created_at,
                    json.dumps(song.credits) if song.credits is not None else None,
                ),
            )
            row = await tx.fetchone(f"SELECT {SONG_COLUMNS} FROM songs WHERE id = ?", (song.id,))
        assert row is not None
        return song_from_row(row)

    async def song(self, song_id: str) -> SongRow | None:
        row = await self._fetchone(f"SELECT {SONG_COLUMNS} FROM songs WHERE id = ?", (song_id,))
        return song_from_row(row) if row else None

    async def songs_for_task(self, task_id: int) -> list[SongRow]:
        rows = await self._fetchall(
            f"SELECT {SONG_COLUMNS} FROM songs WHERE task_id = ? ORDER BY created_at, id", (task_id,)
        )
        return [song_from_row(row) for row in rows]

    async def set_song_message(self, song_id: str, channel_id: int, message_id: int) -> None:
        """Record where a song was first posted (a DM when the channel refused it)."""
        async with self._transaction() as tx:
            await tx.execute(
                "UPDATE songs SET channel_id = ?, message_id = ? WHERE id = ?",
                (channel_id, message_id, song_id),
            )
            await tx.execute(
                "INSERT INTO song_messages (message_id, song_id, channel_id) VALUES (?, ?, ?) "
                "ON CONFLICT (message_id) DO NOTHING",
                (message_id, song_id, channel_id),
            )

    async def add_song_message(self, song_id: str, channel_id: int, message_id: int) -> None:
        """Record another message showing a song (a /show re-post), so follow-ups work from it too."""
        await self._write(
            "INSERT INTO song_messages (message_id, song_id, channel_id) VALUES (?, ?, ?) "
            "ON CONFLICT (message_id) DO NOTHING",
            (message_id, song_id, channel_id),
        )

    async def song_by_message(self, message_id: int) -> SongRow | None:
        row = await self._fetchone(
            f"SELECT {SONG_COLUMNS} FROM songs WHERE id = (SELECT song_id FROM song_messages WHERE message_id = ?)",
            (message_id,),
        )
        return song_from_row(row) if row else None

    async def search_songs(
        self,
        guild_id: int,
        *,
        text: str = "",
        requester_id: int | None = None,
        limit: int = 25,
        offset: int = 0,
    ) -> list[SongRow]:
        """This guild's songs and uploads, newest first, by title text or id prefix and by member."""
        where, params = song_filter(guild_id, text, requester_id, self.dialect)
        rows = await self._fetchall(
            f"SELECT {SONG_COLUMNS} FROM songs WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [song_from_row(row) for row in rows]

    async def count_songs(self, guild_id: int, *, text: str = "", requester_id: int | None = None) -> int:
        where, params = song_filter(guild_id, text, requester_id, self.dialect)
        row = await self._fetchone(f"SELECT COUNT(*) FROM songs WHERE {where}", params)
        return int(row[0]) if row else 0

    async def children(self, song_id: str) -> list[SongRow]:
        rows = await self._fetchall(
            f"SELECT {SONG_COLUMNS} FROM songs WHERE parent_song_id = ? ORDER BY created_at, id", (song_id,)
        )
        return [song_from_row(row) for row in rows]
