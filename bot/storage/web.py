"""The web gallery's rows: whether a server shows its gallery, share links, and a song's family.

Portable SQL only, so every method runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from bot.storage.base import RepositoryBase
from bot.storage.models import SONG_COLUMNS, SongRow, qualified, song_from_row

SHARE_TOKEN_BYTES = 24
"""192 random bits: a link nobody guesses, short enough to paste (32 characters)."""


class WebRepository(RepositoryBase):
    """`guild_settings.web_gallery`, `song_shares`, and the family queries of the song page."""

    # -- the gallery switch ------------------------------------------------------------------

    async def web_gallery(self, guild_id: int) -> bool:
        """Whether the server shows its songs on the web (on unless a manager turned it off)."""
        row = await self._fetchone("SELECT web_gallery FROM guild_settings WHERE guild_id = ?", (guild_id,))
        return row is None or bool(row[0])

    async def set_web_gallery(self, guild_id: int, enabled: bool) -> None:
        await self._write(
            "INSERT INTO guild_settings (guild_id, web_gallery) VALUES (?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET web_gallery = excluded.web_gallery",
            (guild_id, int(enabled)),
        )

    # -- share links -------------------------------------------------------------------------

    async def share_song(self, song: SongRow, shared_by: int, at: float) -> str:
        """The song's public link token: the existing one, or a new one made now."""
        token = secrets.token_urlsafe(SHARE_TOKEN_BYTES)
        async with self._transaction() as tx:
            await tx.execute(
                "INSERT INTO song_shares (song_id, token, guild_id, shared_by, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (song_id) DO NOTHING",
                (song.id, token, song.guild_id, shared_by, at),
            )
            row = await tx.fetchone("SELECT token FROM song_shares WHERE song_id = ?", (song.id,))
        assert row is not None
        return str(row[0])

    async def share_token(self, song_id: str) -> str | None:
        row = await self._fetchone("SELECT token FROM song_shares WHERE song_id = ?", (song_id,))
        return str(row[0]) if row else None

    async def revoke_share(self, song_id: str) -> bool:
        """End a song's public link; False when it had none."""
        return await self._write("DELETE FROM song_shares WHERE song_id = ?", (song_id,)) > 0

    async def shared_song(self, token: str) -> SongRow | None:
        row = await self._fetchone(
            f"SELECT {qualified(SONG_COLUMNS, 'songs')} FROM song_shares JOIN songs ON songs.id = song_shares.song_id "
            "WHERE song_shares.token = ?",
            (token,),
        )
        return song_from_row(row) if row else None

    # -- family ------------------------------------------------------------------------------

    async def songs_by_ids(self, song_ids: Sequence[str]) -> dict[str, SongRow]:
        ids = list(dict.fromkeys(song_ids))
        if not ids:
            return {}
        rows = await self._fetchall(
            f"SELECT {SONG_COLUMNS} FROM songs WHERE id IN ({', '.join('?' for _ in ids)})", ids
        )
        songs = (song_from_row(row) for row in rows)
        return {song.id: song for song in songs}

    async def children_of(self, song_ids: Sequence[str]) -> list[SongRow]:
        """Songs made from any of these (by `songs_by_parent`), oldest first."""
        ids = list(dict.fromkeys(song_ids))
        if not ids:
            return []
        rows = await self._fetchall(
            f"SELECT {SONG_COLUMNS} FROM songs WHERE parent_song_id IN ({', '.join('?' for _ in ids)}) "
            "ORDER BY created_at, id",
            ids,
        )
        return [song_from_row(row) for row in rows]

    async def jam_takes(self, song: SongRow, limit: int = 20) -> list[SongRow]:
        """The songs of the jam this song came from, oldest first (empty when it is not a jam's)."""
        if song.task_id is None:
            return []
        rows = await self._fetchall(
            f"SELECT {qualified(SONG_COLUMNS, 'songs')} FROM songs JOIN tasks ON tasks.id = songs.task_id "
            "WHERE tasks.jam_id = (SELECT jam_id FROM tasks WHERE id = ?) AND songs.kind = 'song' "
            "ORDER BY songs.created_at, songs.id LIMIT ?",
            (song.task_id, limit),
        )
        return [song_from_row(row) for row in rows]
