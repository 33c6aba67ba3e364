"""Songs and the library: every song (and upload, and stems bundle) once, and every message showing one."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from bot.storage.base import RepositoryBase
from bot.storage.models import SONG_COLUMNS, SongRow, qualified, song_from_row

LibraryOrder = Literal["auto", "newest", "relevance", "top"]
MAX_SEARCH_TERMS = 8
_WORD = re.compile(r"[^\W_]+")


SONG_CHANNELS = (
    "WITH RECURSIVE found (channel_id) AS ("
    "SELECT MIN(channel_id) FROM songs WHERE guild_id = ? "
    "UNION ALL SELECT (SELECT MIN(channel_id) FROM songs WHERE guild_id = ? AND channel_id > found.channel_id) "
    "FROM found WHERE found.channel_id IS NOT NULL"
    ") SELECT channel_id FROM found WHERE channel_id IS NOT NULL"
)
"""A guild's song channels, one index lookup per channel (`song_channels`)."""


def search_terms(text: str) -> list[str]:
    """The words of a search, lower-cased, as both backends' query syntaxes can take them verbatim."""
    return _WORD.findall(text.lower())[:MAX_SEARCH_TERMS]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
        order: LibraryOrder = "auto",
        starred_since: float | None = None,
        channel_ids: Sequence[int] | None = None,
    ) -> list[SongRow]:
        """This guild's songs and uploads, by words or id prefix and by member.

        `order`: "newest"; "relevance" (best word matches first, an id-prefix match before them);
        "top" (only starred songs, most stars first, counting stars given since `starred_since`
        when set); "auto" is relevance when there is text, newest otherwise. With `channel_ids`,
        only songs made in those channels (the ones the member can see).
        """
        sql, params = self._library_query(
            f"SELECT {qualified(SONG_COLUMNS, 'songs')}",
            guild_id,
            text,
            requester_id,
            order,
            starred_since,
            channel_ids=channel_ids,
        )
        rows = await self._fetchall(f"{sql} LIMIT ? OFFSET ?", (*params, limit, offset))
        return [song_from_row(row) for row in rows]

    async def count_songs(
        self,
        guild_id: int,
        *,
        text: str = "",
        requester_id: int | None = None,
        order: LibraryOrder = "auto",
        starred_since: float | None = None,
        channel_ids: Sequence[int] | None = None,
    ) -> int:
        """How many songs `search_songs` would list with the same filters (for page counts)."""
        sql, params = self._library_query(
            "SELECT COUNT(*)",
            guild_id,
            text,
            requester_id,
            order,
            starred_since,
            ordered=False,
            channel_ids=channel_ids,
        )
        row = await self._fetchone(sql, params)
        return int(row[0]) if row else 0

    def _library_query(
        self,
        select: str,
        guild_id: int,
        text: str,
        requester_id: int | None,
        order: LibraryOrder,
        starred_since: float | None,
        *,
        ordered: bool = True,
        channel_ids: Sequence[int] | None = None,
    ) -> tuple[str, list[Any]]:
        """FROM … WHERE … ORDER BY for the library, with its parameters in the order they appear.

        Words match as prefixes ("Christ" finds "Christmas"), all of them, in the title, the prompt or
        style, or the lyrics: SQLite through the `songs_fts` FTS5 table (ranked by bm25, the title
        weighing most), PostgreSQL through the `songs.search` tsvector (ranked by ts_rank, weights
        A/B/C). Either way `hits.score` is lower for a better match. A part of a title and the start of
        a song id match too, case-insensitively, with `%` and `_` taken literally.
        """
        text = text.strip()
        terms = search_terms(text)
        joins: list[str] = []
        params: list[Any] = []
        if terms and self.dialect == "postgres":
            joins.append(
                "LEFT JOIN (SELECT id AS song_id, -ts_rank(search, query) AS score "
                "FROM songs, to_tsquery('simple', ?) AS query WHERE guild_id = ? AND search @@ query) AS hits "
                "ON hits.song_id = songs.id"
            )
            params += [" & ".join(f"{term}:*" for term in terms), guild_id]
        elif terms:
            joins.append(
                "LEFT JOIN (SELECT song_id, bm25(songs_fts, 0.0, 10.0, 4.0, 1.0) AS score "
                "FROM songs_fts WHERE songs_fts MATCH ?) AS hits ON hits.song_id = songs.id"
            )
            params.append(" ".join(f'"{term}"*' for term in terms))
        if order == "top":
            since = " AND starred_at >= ?" if starred_since is not None else ""
            joins.append(
                "JOIN (SELECT song_id, COUNT(*) AS stars FROM song_stars "
                f"WHERE guild_id = ?{since} GROUP BY song_id) AS starred ON starred.song_id = songs.id"
            )
            params += [guild_id] if starred_since is None else [guild_id, starred_since]
        where = ["songs.guild_id = ?", "songs.kind != 'stems'"]
        params.append(guild_id)
        like = "ILIKE" if self.dialect == "postgres" else "LIKE"  # SQLite's LIKE ignores ASCII case already
        id_prefix = f"songs.id {like} ? ESCAPE '\\'"
        if text:
            matched = "hits.song_id IS NOT NULL OR " if terms else ""
            # Also any part of a title ("hrist", "100%"), for what is not a whole word's start (but
            # not of the API's placeholder title, or "unt" would list every untitled song).
            title_part = f"(songs.title <> 'Untitled' AND songs.title {like} ? ESCAPE '\\')"
            where.append(f"({matched}{title_part} OR {id_prefix})")
            params += [f"%{_escape_like(text)}%", _escape_like(text) + "%"]
        if requester_id is not None:
            where.append("songs.requester_id = ?")
            params.append(requester_id)
        if channel_ids is not None:  # only songs from channels the member can view
            where.append(f"songs.channel_id IN ({', '.join('?' for _ in channel_ids)})" if channel_ids else "1 = 0")
            params += list(channel_ids)
        sql = f"{select} FROM songs {' '.join(joins)} WHERE {' AND '.join(where)}"
        if not ordered:
            return sql, params
        newest = "songs.created_at DESC, songs.id DESC"
        if order == "top":
            sql += f" ORDER BY starred.stars DESC, {newest}"
        elif text and order in ("auto", "relevance"):
            # A song whose id someone pasted comes first; then the best word matches; then title parts.
            word_match = "WHEN hits.song_id IS NOT NULL THEN 1 " if terms else ""
            score = "hits.score, " if terms else ""
            sql += f" ORDER BY CASE WHEN {id_prefix} THEN 0 {word_match}ELSE 2 END, {score}{newest}"
            params.append(_escape_like(text) + "%")
        else:
            sql += f" ORDER BY {newest}"
        return sql, params

    async def song_channels(self, guild_id: int) -> list[int]:
        """Every channel (or thread) of this guild that songs were made in.

        Asked on every `/songs` and gallery page, so it hops from one channel to the next through the
        `songs_by_channel` index (a loose index scan: a few lookups per channel) instead of reading
        every song of the server, which a plain DISTINCT does.
        """
        rows = await self._fetchall(SONG_CHANNELS, (guild_id, guild_id))
        return [int(row[0]) for row in rows]

    async def children(self, song_id: str) -> list[SongRow]:
        rows = await self._fetchall(
            f"SELECT {SONG_COLUMNS} FROM songs WHERE parent_song_id = ? ORDER BY created_at, id", (song_id,)
        )
        return [song_from_row(row) for row in rows]
