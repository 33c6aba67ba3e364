"""All SQL lives here. Methods return plain dataclasses.

One aiosqlite connection is shared by every coroutine, so a transaction opened by one coroutine
would see another's statements interleave across awaits. An `asyncio.Lock` therefore wraps every
method: each is one short critical section, and multi-statement changes (charge + create task,
fail + refund) commit together or not at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

OPEN_STATES = ("reserved", "pending", "received", "delivering")
"""States of a task that has not reached its end (`delivered` or `failed`)."""


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    api_task_id: str | None
    guild_id: int
    channel_id: int
    requester_id: int
    status_message_id: int | None
    action: str
    request: dict[str, Any]
    parent_song_id: str | None
    state: str
    quota_day: str
    cost: int
    refunded: bool
    result: dict[str, Any] | None
    error: str | None
    created_at: float
    submitted_at: float | None
    finished_at: float | None
    deadline_at: float


@dataclass(frozen=True, slots=True)
class NewTask:
    secret_hash: str
    guild_id: int
    channel_id: int
    requester_id: int
    action: str
    request: dict[str, Any]
    quota_day: str
    cost: int
    created_at: float
    deadline_at: float
    parent_song_id: str | None = None


@dataclass(frozen=True, slots=True)
class SongRow:
    id: str
    task_id: int
    kind: str
    guild_id: int
    channel_id: int
    requester_id: int
    title: str
    prompt: str
    lyric: str
    duration: float | None
    audio_url: str | None
    image_url: str | None
    stems_url: str | None
    model: str | None
    seed: str | None
    parent_song_id: str | None
    action: str
    message_id: int | None
    created_at: float


_TASK_COLUMNS = (
    "id, api_task_id, guild_id, channel_id, requester_id, status_message_id, action, request, "
    "parent_song_id, state, quota_day, cost, refunded, result, error, created_at, submitted_at, "
    "finished_at, deadline_at"
)
_SONG_COLUMNS = (
    "id, task_id, kind, guild_id, channel_id, requester_id, title, prompt, lyric, duration, audio_url, "
    "image_url, stems_url, model, seed, parent_song_id, action, message_id, created_at"
)


def _task(row: aiosqlite.Row | tuple[Any, ...]) -> Task:
    values = list(row)
    values[7] = json.loads(values[7])
    values[12] = bool(values[12])
    values[13] = json.loads(values[13]) if values[13] is not None else None
    return Task(*values)


def _song_filter(guild_id: int, text: str, requester_id: int | None) -> tuple[str, tuple[Any, ...]]:
    """WHERE clause for the song library: a guild's songs (not stems bundles), by text and member."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    where = (
        "guild_id = ? AND kind != 'stems' "
        "AND (title LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\') AND (? IS NULL OR requester_id = ?)"
    )
    return where, (guild_id, f"%{escaped}%", f"{escaped}%", requester_id, requester_id)


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("bot.storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Repository:
    """The bot's SQLite database: quota use, tasks and songs."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Repository:
        """Open (creating folders as needed), switch to WAL and apply pending migrations."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        repo = cls(connection)
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA foreign_keys=ON")
            await connection.execute("PRAGMA busy_timeout=5000")
            await connection.execute("PRAGMA synchronous=NORMAL")
            await repo._migrate()
        except BaseException:
            await connection.close()
            raise
        return repo

    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        current = row[0] if row else 0
        for version, script in _migrations():
            if version <= current:
                continue
            log.info("Applying database migration %04d", version)
            await self._db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        async with self._lock, self._db.execute(sql, tuple(params)) as cursor:
            row = await cursor.fetchone()
        return tuple(row) if row is not None else None

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._lock, self._db.execute(sql, tuple(params)) as cursor:
            rows = await cursor.fetchall()
        return [tuple(row) for row in rows]

    # -- quota -------------------------------------------------------------------------------

    async def quota_used(self, guild_id: int, day: str) -> int:
        row = await self._fetchone("SELECT used FROM quota_usage WHERE guild_id = ? AND day = ?", (guild_id, day))
        return int(row[0]) if row else 0

    async def reserve_task(self, new: NewTask, *, daily_limit: int) -> Task | None:
        """Charge the guild's quota and create the task in one transaction.

        Returns `None`, charging nothing, when the charge would take the guild over its limit.
        The limit is checked by the UPDATE itself, so concurrent commands cannot overshoot it.
        """
        if new.cost > daily_limit:
            return None
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO quota_usage (guild_id, day, used) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, day) DO UPDATE SET used = used + excluded.used "
                "WHERE quota_usage.used + excluded.used <= ?",
                (new.guild_id, new.quota_day, new.cost, daily_limit),
            )
            if cursor.rowcount != 1:
                return None
            async with db.execute(
                "INSERT INTO tasks (secret_hash, guild_id, channel_id, requester_id, action, request, "
                "parent_song_id, state, quota_day, cost, created_at, deadline_at) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?, ?) RETURNING {_TASK_COLUMNS}",
                (
                    new.secret_hash,
                    new.guild_id,
                    new.channel_id,
                    new.requester_id,
                    new.action,
                    json.dumps(new.request),
                    new.parent_song_id,
                    new.quota_day,
                    new.cost,
                    new.created_at,
                    new.deadline_at,
                ),
            ) as insert:
                row = await insert.fetchone()
        assert row is not None
        return _task(row)

    # -- tasks -------------------------------------------------------------------------------

    async def task(self, task_id: int) -> Task | None:
        row = await self._fetchone(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return _task(row) if row else None

    async def task_by_secret_hash(self, secret_hash: str) -> Task | None:
        row = await self._fetchone(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE secret_hash = ?", (secret_hash,))
        return _task(row) if row else None

    async def task_by_api_id(self, api_task_id: str) -> Task | None:
        row = await self._fetchone(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE api_task_id = ?", (api_task_id,))
        return _task(row) if row else None

    async def tasks_in_states(self, *states: str) -> list[Task]:
        marks = ", ".join("?" for _ in states)
        rows = await self._fetchall(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE state IN ({marks}) ORDER BY id", states)
        return [_task(row) for row in rows]

    async def set_status_message(self, task_id: int, message_id: int) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE tasks SET status_message_id = ? WHERE id = ?", (message_id, task_id))

    async def mark_submitted(self, task_id: int, api_task_id: str | None, at: float) -> None:
        """Record the API's task id. A callback may already have moved the task on; keep its state."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE tasks SET api_task_id = COALESCE(?, api_task_id), submitted_at = ?, "
                "state = CASE state WHEN 'reserved' THEN 'pending' ELSE state END WHERE id = ?",
                (api_task_id, at, task_id),
            )

    async def store_result(self, task_id: int, result: dict[str, Any], at: float) -> bool:
        """Persist a finished result once. False when one was already stored or the task ended."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE tasks SET result = ?, state = 'received', finished_at = ? "
                "WHERE id = ? AND state IN ('reserved', 'pending')",
                (json.dumps(result), at, task_id),
            )
            return cursor.rowcount == 1

    async def claim_delivery(self, task_id: int) -> Task | None:
        """Move a received task to `delivering`; only one caller can win, so one delivery happens."""
        async with (
            self._transaction() as db,
            db.execute(
                f"UPDATE tasks SET state = 'delivering' WHERE id = ? AND state = 'received' RETURNING {_TASK_COLUMNS}",
                (task_id,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return _task(row) if row else None

    async def release_delivery(self, task_id: int) -> None:
        """Put a task whose delivery was interrupted back in line for another attempt."""
        async with self._transaction() as db:
            await db.execute("UPDATE tasks SET state = 'received' WHERE id = ? AND state = 'delivering'", (task_id,))

    async def mark_delivered(self, task_id: int) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE tasks SET state = 'delivered' WHERE id = ?", (task_id,))

    async def fail_task(self, task_id: int, error: str, at: float, *, refund: bool = True) -> Task | None:
        """End a task as failed and give its credits back, together. None if it had already ended."""
        async with self._transaction() as db:
            async with db.execute(
                "UPDATE tasks SET state = 'failed', error = ?, finished_at = COALESCE(finished_at, ?), "
                "refunded = CASE WHEN ? THEN 1 ELSE refunded END "
                f"WHERE id = ? AND state IN {OPEN_STATES!r} RETURNING {_TASK_COLUMNS}",
                (error, at, refund, task_id),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            task = _task(row)
            if refund and task.cost:
                await db.execute(
                    "UPDATE quota_usage SET used = MAX(used - ?, 0) WHERE guild_id = ? AND day = ?",
                    (task.cost, task.guild_id, task.quota_day),
                )
        return task

    # -- songs -------------------------------------------------------------------------------

    async def add_song(self, song: SongRow) -> SongRow:
        """Insert a song once; a repeat keeps the first row (and its message id)."""
        async with self._transaction() as db:
            await db.execute(
                f"INSERT INTO songs ({_SONG_COLUMNS}) VALUES ({', '.join('?' for _ in range(19))}) "
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
                ),
            )
            async with db.execute(f"SELECT {_SONG_COLUMNS} FROM songs WHERE id = ?", (song.id,)) as cursor:
                row = await cursor.fetchone()
        assert row is not None
        return SongRow(*row)

    async def song(self, song_id: str) -> SongRow | None:
        row = await self._fetchone(f"SELECT {_SONG_COLUMNS} FROM songs WHERE id = ?", (song_id,))
        return SongRow(*row) if row else None

    async def songs_for_task(self, task_id: int) -> list[SongRow]:
        rows = await self._fetchall(f"SELECT {_SONG_COLUMNS} FROM songs WHERE task_id = ? ORDER BY rowid", (task_id,))
        return [SongRow(*row) for row in rows]

    async def set_song_message(self, song_id: str, channel_id: int, message_id: int) -> None:
        """Record where a song was first posted (a DM when the channel refused it)."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE songs SET channel_id = ?, message_id = ? WHERE id = ?",
                (channel_id, message_id, song_id),
            )
            await db.execute(
                "INSERT OR IGNORE INTO song_messages (message_id, song_id, channel_id) VALUES (?, ?, ?)",
                (message_id, song_id, channel_id),
            )

    async def add_song_message(self, song_id: str, channel_id: int, message_id: int) -> None:
        """Record another message showing a song (a /show re-post), so follow-ups work from it too."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO song_messages (message_id, song_id, channel_id) VALUES (?, ?, ?)",
                (message_id, song_id, channel_id),
            )

    async def song_by_message(self, message_id: int) -> SongRow | None:
        row = await self._fetchone(
            f"SELECT {_SONG_COLUMNS} FROM songs WHERE id = (SELECT song_id FROM song_messages WHERE message_id = ?)",
            (message_id,),
        )
        return SongRow(*row) if row else None

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
        where, params = _song_filter(guild_id, text, requester_id)
        rows = await self._fetchall(
            f"SELECT {_SONG_COLUMNS} FROM songs WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [SongRow(*row) for row in rows]

    async def count_songs(self, guild_id: int, *, text: str = "", requester_id: int | None = None) -> int:
        where, params = _song_filter(guild_id, text, requester_id)
        row = await self._fetchone(f"SELECT COUNT(*) FROM songs WHERE {where}", params)
        return int(row[0]) if row else 0

    async def children(self, song_id: str) -> list[SongRow]:
        rows = await self._fetchall(
            f"SELECT {_SONG_COLUMNS} FROM songs WHERE parent_song_id = ? ORDER BY created_at, rowid", (song_id,)
        )
        return [SongRow(*row) for row in rows]

    # -- meta --------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        row = await self._fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
