"""Community state: per-guild settings (cached), jams and their lines, and small key/value metadata."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.storage.base import RepositoryBase
from bot.storage.models import (
    GUILD_SETTING_FIELDS,
    JAM_COLUMNS,
    SONG_COLUMNS,
    GuildSettings,
    Jam,
    JamLine,
    SongRow,
    song_from_row,
)

SETTINGS_TTL_POSTGRES = 5.0
"""Seconds a guild's settings are cached on PostgreSQL, where another process may change them: a
/settings change made through one process reaches the others within this long."""


class CommunityRepository(RepositoryBase):
    """Guild settings, jams and meta."""

    _guild_settings: dict[int, tuple[asyncio.Future[GuildSettings], float]]
    _settings_ttl: float

    def _init_community(self) -> None:
        self._guild_settings = {}
        # SQLite: this process is the database's only writer, so a cached read stays true until it
        # writes (and drops the entry). PostgreSQL: other processes write too, so entries expire.
        self._settings_ttl = SETTINGS_TTL_POSTGRES if self.dialect == "postgres" else float("inf")

    # -- guild settings ----------------------------------------------------------------------

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        """A guild's settings. Read on every charge and delivery, written rarely (by /settings), so
        they are kept in memory after the first read: until this process changes them on SQLite
        (its only writer), for `SETTINGS_TTL_POSTGRES` seconds on PostgreSQL (shared by processes)."""
        now = time.monotonic()
        cached = self._guild_settings.get(guild_id)
        if cached is None or cached[1] <= now:  # the first caller reads; concurrent callers share its read
            cached = self._guild_settings[guild_id] = (
                asyncio.ensure_future(self._read_guild_settings(guild_id)),
                now + self._settings_ttl,
            )
        read = cached[0]
        try:
            return await asyncio.shield(read)
        except Exception:
            if self._guild_settings.get(guild_id) is cached:
                del self._guild_settings[guild_id]
            raise

    def forget_guild_settings(self, guild_id: int | None = None) -> None:
        """Drop cached settings (one guild's, or all), e.g. when another process says it changed them."""
        if guild_id is None:
            self._guild_settings.clear()
        else:
            self._guild_settings.pop(guild_id, None)

    async def _read_guild_settings(self, guild_id: int) -> GuildSettings:
        row = await self._fetchone(
            f"SELECT guild_id, {', '.join(GUILD_SETTING_FIELDS)} FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        if row is None:
            return GuildSettings(guild_id=guild_id)
        values = dict(zip(("guild_id", *GUILD_SETTING_FIELDS), row, strict=True))
        for name in ("allow_uploads", "stay_in_voice"):  # stored as 0/1 on both backends
            values[name] = bool(values[name])
        return GuildSettings(**values)

    async def update_guild_settings(self, guild_id: int, **changes: Any) -> GuildSettings:
        """Set some of a guild's settings (a value of None restores the bot's default)."""
        unknown = set(changes) - set(GUILD_SETTING_FIELDS)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        if changes:
            names = list(changes)
            # Booleans are stored as 0/1 on both backends (asyncpg will not bind a bool to INTEGER).
            values = [int(value) if isinstance(value, bool) else value for value in changes.values()]
            await self._write(
                f"INSERT INTO guild_settings (guild_id, {', '.join(names)}) "
                f"VALUES (?, {', '.join('?' for _ in names)}) ON CONFLICT (guild_id) DO UPDATE SET "
                + ", ".join(f"{name} = excluded.{name}" for name in names),
                (guild_id, *values),
            )
        self._guild_settings.pop(guild_id, None)
        return await self.guild_settings(guild_id)

    # -- jams --------------------------------------------------------------------------------

    async def create_jam(
        self, *, guild_id: int, channel_id: int, starter_id: int, theme: str, style: str, model: str, at: float
    ) -> Jam | None:
        """A new jam in `channel_id`; None while that channel has a jam still open.

        A finished jam in the channel is ended first (its songs and lines stay), so a channel
        where threads cannot be made can host one jam after another.
        """
        async with self._transaction() as tx:
            await tx.execute(
                "UPDATE jams SET state = 'ended' WHERE channel_id = ? AND state = 'finished'", (channel_id,)
            )
            row = await tx.fetchone(
                "INSERT INTO jams (guild_id, channel_id, starter_id, theme, style, model, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel_id) WHERE state <> 'ended' DO NOTHING "
                f"RETURNING {JAM_COLUMNS}",
                (guild_id, channel_id, starter_id, theme, style, model, at),
            )
        return Jam(*row) if row else None

    async def discard_jam(self, jam_id: int) -> None:
        """Remove a jam whose message could never be posted (it has no lines or songs yet)."""
        async with self._transaction() as tx:
            await tx.execute("DELETE FROM jam_lines WHERE jam_id = ?", (jam_id,))
            await tx.execute("DELETE FROM jams WHERE id = ? AND latest_song_id IS NULL", (jam_id,))

    async def jam_in_channel(self, channel_id: int) -> Jam | None:
        """The channel's current jam (open, or finished and carrying on as a chain); not ended ones."""
        row = await self._fetchone(
            f"SELECT {JAM_COLUMNS} FROM jams WHERE channel_id = ? AND state <> 'ended'", (channel_id,)
        )
        return Jam(*row) if row else None

    async def jam(self, jam_id: int) -> Jam | None:
        row = await self._fetchone(f"SELECT {JAM_COLUMNS} FROM jams WHERE id = ?", (jam_id,))
        return Jam(*row) if row else None

    async def set_jam_message(self, jam_id: int, message_id: int) -> None:
        await self._write("UPDATE jams SET message_id = ? WHERE id = ?", (message_id, jam_id))

    async def add_jam_line(self, jam_id: int, author_id: int, line: str, *, max_lines: int, at: float) -> int | None:
        """Append a line to an open jam; its number, or None when the jam is full or finished.

        The jam row is locked first where writers run concurrently (PostgreSQL), so two members
        adding the last free line at once cannot both get it; SQLite's `BEGIN IMMEDIATE` already
        makes the transaction the only writer.
        """
        async with self._transaction() as tx:
            if self.dialect == "postgres":
                await tx.fetchone("SELECT id FROM jams WHERE id = ? FOR UPDATE", (jam_id,))
            added = await tx.execute(
                "INSERT INTO jam_lines (jam_id, author_id, line, created_at) SELECT ?, ?, ?, ? "
                "WHERE (SELECT state FROM jams WHERE id = ?) = 'open' "
                "AND (SELECT COUNT(*) FROM jam_lines WHERE jam_id = ?) < ?",
                (jam_id, author_id, line, at, jam_id, jam_id, max_lines),
            )
            if added != 1:
                return None
            row = await tx.fetchone("SELECT COUNT(*) FROM jam_lines WHERE jam_id = ?", (jam_id,))
        return int(row[0]) if row else None

    async def jam_lines(self, jam_id: int) -> list[JamLine]:
        rows = await self._fetchall("SELECT id, author_id, line FROM jam_lines WHERE jam_id = ? ORDER BY id", (jam_id,))
        return [JamLine(*row) for row in rows]

    async def finish_jam(self, jam_id: int) -> bool:
        """Close a jam to new lines; only the first finisher wins."""
        return await self._write("UPDATE jams SET state = 'finished' WHERE id = ? AND state = 'open'", (jam_id,)) == 1

    async def reopen_jam(self, jam_id: int) -> None:
        """Undo a finish whose song could not be started (no credit, API refusal)."""
        await self._write("UPDATE jams SET state = 'open' WHERE id = ? AND latest_song_id IS NULL", (jam_id,))

    async def set_jam_latest(self, jam_id: int, song_id: str) -> None:
        await self._write("UPDATE jams SET latest_song_id = ? WHERE id = ?", (song_id, jam_id))

    async def jam_songs(self, jam_id: int) -> list[SongRow]:
        rows = await self._fetchall(
            f"SELECT {', '.join('songs.' + c.strip() for c in SONG_COLUMNS.split(','))} FROM songs "
            "JOIN tasks ON tasks.id = songs.task_id WHERE tasks.jam_id = ? AND songs.kind = 'song' "
            "ORDER BY songs.created_at, songs.id",
            (jam_id,),
        )
        return [song_from_row(row) for row in rows]

    # -- meta --------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        row = await self._fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
