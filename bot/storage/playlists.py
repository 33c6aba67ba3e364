"""Playlists and party modes: members' ordered lists of the server's songs, how the party plays
(and each song's measured loudness).

Playlists are server data any process may read and change (a member edits one from any shard);
positions are kept gap-free (1 = first) inside one transaction per change, the playlist's row
locked on PostgreSQL so two members adding at the same moment get distinct places. The radio's
candidates come from here too: the library by source, minus what the party played lately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.storage.base import RepositoryBase
from bot.storage.database import Transaction
from bot.storage.models import SONG_COLUMNS, SongRow, qualified, song_from_row

PLAYLIST_COLUMNS = "id, guild_id, owner_id, name, shared, created_at"
AddResult = Literal["added", "duplicate", "full"]


@dataclass(frozen=True, slots=True)
class Playlist:
    id: int
    guild_id: int
    owner_id: int
    name: str
    shared: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class PartyModes:
    """How a server's listening party plays: its loop mode and radio (`radio_source` None: off)."""

    guild_id: int
    loop_mode: Any = "off"  # a bot.voice LoopMode; the database's CHECK keeps it one of them
    radio_source: Any = None  # a bot.voice RadioSource
    radio_owner_id: int | None = None
    radio_member_id: int | None = None


def _playlist(row: Sequence[Any]) -> Playlist:
    return Playlist(int(row[0]), int(row[1]), int(row[2]), str(row[3]), bool(row[4]), float(row[5]))


class PlaylistRepository(RepositoryBase):
    """Playlists, their songs in order, the radio's candidates and each server's party modes."""

    # -- playlists ---------------------------------------------------------------------------

    async def create_playlist(
        self, guild_id: int, owner_id: int, name: str, *, shared: bool, at: float
    ) -> Playlist | None:
        """A new playlist; None when the server already has one of that name (in any case)."""
        row = await self._fetchone(
            "INSERT INTO playlists (guild_id, owner_id, name, name_key, shared, created_at) VALUES (?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (guild_id, name_key) DO NOTHING RETURNING {PLAYLIST_COLUMNS}",
            (guild_id, owner_id, name, name.casefold(), int(shared), at),
        )
        return _playlist(row) if row else None

    async def playlist(self, playlist_id: int) -> Playlist | None:
        row = await self._fetchone(f"SELECT {PLAYLIST_COLUMNS} FROM playlists WHERE id = ?", (playlist_id,))
        return _playlist(row) if row else None

    async def playlist_named(self, guild_id: int, name: str) -> Playlist | None:
        row = await self._fetchone(
            f"SELECT {PLAYLIST_COLUMNS} FROM playlists WHERE guild_id = ? AND name_key = ?",
            (guild_id, name.strip().casefold()),
        )
        return _playlist(row) if row else None

    async def guild_playlists(self, guild_id: int, *, text: str = "", limit: int = 25) -> list[Playlist]:
        """The server's playlists whose name contains `text`, names starting with it first."""
        key = text.strip().casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self._fetchall(
            f"SELECT {PLAYLIST_COLUMNS} FROM playlists WHERE guild_id = ? AND name_key LIKE ? ESCAPE '\\' "
            "ORDER BY CASE WHEN name_key LIKE ? ESCAPE '\\' THEN 0 ELSE 1 END, name_key LIMIT ?",
            (guild_id, f"%{key}%", f"{key}%", limit),
        )
        return [_playlist(row) for row in rows]

    async def rename_playlist(self, playlist_id: int, name: str) -> bool:
        """False when the server already has another playlist of that name."""
        row = await self._fetchone(
            "SELECT 1 FROM playlists AS other JOIN playlists AS this ON this.guild_id = other.guild_id "
            "WHERE this.id = ? AND other.id <> this.id AND other.name_key = ?",
            (playlist_id, name.casefold()),
        )
        if row is not None:
            return False
        await self._write(
            "UPDATE playlists SET name = ?, name_key = ? WHERE id = ?", (name, name.casefold(), playlist_id)
        )
        return True

    async def delete_playlist(self, playlist_id: int) -> None:
        async with self._transaction() as tx:  # both tables, on SQLite with or without the cascade
            await tx.execute("DELETE FROM playlist_songs WHERE playlist_id = ?", (playlist_id,))
            await tx.execute("DELETE FROM playlists WHERE id = ?", (playlist_id,))

    # -- a playlist's songs ------------------------------------------------------------------

    async def _lock_playlist(self, tx: Transaction, playlist_id: int) -> bool:
        """Take the playlist's row for this transaction (PostgreSQL; SQLite has one writer); False if gone."""
        lock = " FOR UPDATE" if self.dialect == "postgres" else ""
        return await tx.fetchone(f"SELECT id FROM playlists WHERE id = ?{lock}", (playlist_id,)) is not None

    async def add_playlist_song(
        self, playlist_id: int, song_id: str, added_by: int, at: float, *, max_songs: int
    ) -> AddResult:
        """Put the song at the end of the playlist: once per playlist, at most `max_songs` songs."""
        async with self._transaction() as tx:
            if not await self._lock_playlist(tx, playlist_id):
                raise LookupError(f"playlist {playlist_id} is gone")
            row = await tx.fetchone(
                "SELECT COUNT(*), COALESCE(MAX(position), 0), "
                "COALESCE(SUM(CASE WHEN song_id = ? THEN 1 ELSE 0 END), 0) FROM playlist_songs WHERE playlist_id = ?",
                (song_id, playlist_id),
            )
            count, last, present = (int(value) for value in row) if row else (0, 0, 0)
            if present:
                return "duplicate"
            if count >= max_songs:
                return "full"
            await tx.execute(
                "INSERT INTO playlist_songs (playlist_id, song_id, position, added_by, added_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (playlist_id, song_id, last + 1, added_by, at),
            )
        return "added"

    async def remove_playlist_song(self, playlist_id: int, song_id: str) -> bool:
        """Take the song out (the songs after it move up one); False if it was not in the playlist."""
        async with self._transaction() as tx:
            await self._lock_playlist(tx, playlist_id)
            row = await tx.fetchone(
                "SELECT position FROM playlist_songs WHERE playlist_id = ? AND song_id = ?", (playlist_id, song_id)
            )
            if row is None:
                return False
            await tx.execute("DELETE FROM playlist_songs WHERE playlist_id = ? AND song_id = ?", (playlist_id, song_id))
            await tx.execute(
                "UPDATE playlist_songs SET position = position - 1 WHERE playlist_id = ? AND position > ?",
                (playlist_id, int(row[0])),
            )
        return True

    async def move_playlist_song(self, playlist_id: int, song_id: str, position: int) -> int | None:
        """Move the song to `position` (1 = first; past the end = last); its final place, None if absent."""
        async with self._transaction() as tx:
            await self._lock_playlist(tx, playlist_id)
            rows = await tx.fetchall(
                "SELECT song_id FROM playlist_songs WHERE playlist_id = ? ORDER BY position", (playlist_id,)
            )
            order = [str(r[0]) for r in rows]
            if song_id not in order:
                return None
            order.remove(song_id)
            place = max(1, min(position, len(order) + 1))
            order.insert(place - 1, song_id)
            # Two steps, so no two songs ever hold the same place mid-way (clear of any future unique index).
            await tx.execute("UPDATE playlist_songs SET position = -position WHERE playlist_id = ?", (playlist_id,))
            for index, song in enumerate(order, 1):
                await tx.execute(
                    "UPDATE playlist_songs SET position = ? WHERE playlist_id = ? AND song_id = ?",
                    (index, playlist_id, song),
                )
        return place

    async def playlist_songs(self, playlist_id: int, *, channel_ids: Sequence[int] | None = None) -> list[SongRow]:
        """The playlist's songs in order; with `channel_ids`, only those made in these channels."""
        where, params = "", [playlist_id]
        if channel_ids is not None:
            where = f" AND songs.channel_id IN ({', '.join('?' for _ in channel_ids)})" if channel_ids else " AND 1 = 0"
            params += list(channel_ids)
        rows = await self._fetchall(
            f"SELECT {qualified(SONG_COLUMNS, 'songs')} FROM playlist_songs "
            "JOIN songs ON songs.id = playlist_songs.song_id "
            f"WHERE playlist_songs.playlist_id = ?{where} ORDER BY playlist_songs.position",
            params,
        )
        return [song_from_row(row) for row in rows]

    # -- the radio ---------------------------------------------------------------------------

    async def radio_candidates(
        self,
        guild_id: int,
        source: str,
        *,
        channel_ids: Sequence[int],
        member_id: int | None = None,
        exclude: Sequence[str] = (),
        limit: int = 10,
    ) -> list[SongRow]:
        """Songs the radio may play next, best first by its source: `top` most starred, `new` newest,
        `starred` those `member_id` starred (latest star first), `member` theirs (newest first), `jam`
        songs made in jams (newest first). Only finished songs with audio, from `channel_ids`, and
        none of `exclude` (the songs played lately)."""
        if not channel_ids:
            return []
        joins, params, order = "", [], "songs.created_at DESC, songs.id DESC"
        if source == "top":
            joins = (
                "JOIN (SELECT song_id, COUNT(*) AS stars FROM song_stars WHERE guild_id = ? GROUP BY song_id) "
                "AS starred ON starred.song_id = songs.id"
            )
            params.append(guild_id)
            order = f"starred.stars DESC, {order}"
        elif source == "starred":
            joins = "JOIN song_stars ON song_stars.song_id = songs.id AND song_stars.user_id = ?"
            params.append(member_id)
            order = f"song_stars.starred_at DESC, {order}"
        elif source == "jam":
            joins = "JOIN tasks ON tasks.id = songs.task_id AND tasks.jam_id IS NOT NULL"
        where = [
            "songs.guild_id = ?",
            "songs.kind = 'song'",
            "songs.audio_url IS NOT NULL",
            f"songs.channel_id IN ({', '.join('?' for _ in channel_ids)})",
        ]
        params += [guild_id, *channel_ids]
        if source == "member":
            where.append("songs.requester_id = ?")
            params.append(member_id)
        if exclude:
            where.append(f"songs.id NOT IN ({', '.join('?' for _ in exclude)})")
            params += list(exclude)
        rows = await self._fetchall(
            f"SELECT {qualified(SONG_COLUMNS, 'songs')} FROM songs {joins} WHERE {' AND '.join(where)} "
            f"ORDER BY {order} LIMIT ?",
            (*params, limit),
        )
        return [song_from_row(row) for row in rows]

    # -- loudness ----------------------------------------------------------------------------

    async def song_loudness(self, song_id: str) -> tuple[float, float] | None:
        """(integrated LUFS, true peak dBTP) measured when the song last played whole, or None."""
        row = await self._fetchone("SELECT integrated, true_peak FROM song_loudness WHERE song_id = ?", (song_id,))
        return (float(row[0]), float(row[1])) if row else None

    async def save_song_loudness(self, song_id: str, integrated: float, true_peak: float, at: float) -> None:
        await self._write(
            "INSERT INTO song_loudness (song_id, integrated, true_peak, measured_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (song_id) DO UPDATE SET integrated = excluded.integrated, "
            "true_peak = excluded.true_peak, measured_at = excluded.measured_at",
            (song_id, integrated, true_peak, at),
        )

    # -- party modes -------------------------------------------------------------------------

    async def party_modes(self, guild_id: int) -> PartyModes:
        row = await self._fetchone(
            "SELECT guild_id, loop_mode, radio_source, radio_owner_id, radio_member_id FROM party_modes "
            "WHERE guild_id = ?",
            (guild_id,),
        )
        return PartyModes(*row) if row else PartyModes(guild_id)

    async def set_loop_mode(self, guild_id: int, mode: str) -> None:
        await self._write(
            "INSERT INTO party_modes (guild_id, loop_mode) VALUES (?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET loop_mode = excluded.loop_mode",
            (guild_id, mode),
        )

    async def set_radio(
        self, guild_id: int, source: str | None, *, owner_id: int | None = None, member_id: int | None = None
    ) -> None:
        """Turn the server's radio on with `source` (None: off)."""
        if source is None:
            owner_id = member_id = None
        await self._write(
            "INSERT INTO party_modes (guild_id, radio_source, radio_owner_id, radio_member_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET radio_source = excluded.radio_source, "
            "radio_owner_id = excluded.radio_owner_id, radio_member_id = excluded.radio_member_id",
            (guild_id, source, owner_id, member_id),
        )


__all__ = ["PartyModes", "Playlist", "PlaylistRepository"]
