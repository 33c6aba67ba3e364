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
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite

log = logging.getLogger(__name__)


class StorageError(Exception):
    """The database cannot be used; the message says why in one line."""


MIN_SQLITE = (3, 35)
"""RETURNING came in 3.35; every Python 3.11+ from python.org or Debian 12 bundles a newer one."""

OPEN_STATES = ("queued", "reserved", "pending", "received", "delivering")
"""States of a task that has not reached its end (`delivered`, `failed` or `cancelled`)."""
RUNNING_STATES = ("reserved", "pending")
"""Taken a slot: being submitted, or submitted and waiting for the API."""
CANCELLABLE_STATES = ("queued", "reserved", "pending")


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
    jam_id: int | None = None
    credits: list[int] | None = None


@dataclass(frozen=True, slots=True)
class NewTask:
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
    jam_id: int | None = None
    credits: list[int] | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What a guild allows, resolved from its settings and the bot's defaults."""

    daily_allowance: int
    member_daily_cap: int | None
    max_running: int
    max_running_per_member: int
    max_queued: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was not accepted; nothing was charged."""

    reason: str  # "guild", "member" or "queue"


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """A guild's own settings; `None` means "the bot's default"."""

    guild_id: int
    daily_allowance: int | None = None
    member_daily_cap: int | None = None
    default_model: str | None = None
    feed_channel_id: int | None = None
    allow_uploads: bool = True
    max_running: int | None = None
    max_running_per_member: int | None = None
    max_queued: int | None = None


GUILD_SETTING_FIELDS = (
    "daily_allowance",
    "member_daily_cap",
    "default_model",
    "feed_channel_id",
    "allow_uploads",
    "max_running",
    "max_running_per_member",
    "max_queued",
)


@dataclass(frozen=True, slots=True)
class Jam:
    id: int
    guild_id: int
    channel_id: int
    starter_id: int
    theme: str
    style: str
    model: str
    message_id: int | None
    state: str
    latest_song_id: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class JamLine:
    id: int
    author_id: int
    line: str


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
    credits: list[int] | None = None


_TASK_COLUMNS = (
    "id, api_task_id, guild_id, channel_id, requester_id, status_message_id, action, request, "
    "parent_song_id, state, quota_day, cost, refunded, result, error, created_at, submitted_at, "
    "finished_at, deadline_at, jam_id, credits"
)
_SONG_COLUMNS = (
    "id, task_id, kind, guild_id, channel_id, requester_id, title, prompt, lyric, duration, audio_url, "
    "image_url, stems_url, model, seed, parent_song_id, action, message_id, created_at, credits"
)
_JAM_COLUMNS = (
    "id, guild_id, channel_id, starter_id, theme, style, model, message_id, state, latest_song_id, created_at"
)


def _task(row: aiosqlite.Row | tuple[Any, ...]) -> Task:
    values = list(row)
    values[7] = json.loads(values[7])
    values[12] = bool(values[12])
    values[13] = json.loads(values[13]) if values[13] is not None else None
    values[20] = json.loads(values[20]) if values[20] is not None else None
    return Task(*values)


async def _counters(
    db: aiosqlite.Connection, select_where: str, keys: list[tuple[Any, ...]]
) -> dict[tuple[Any, ...], int]:
    """Usage counters for many keys at once: `select_where` ends with the key columns, the last column is `used`."""
    found: dict[tuple[Any, ...], int] = {}
    width = len(keys[0]) if keys else 0
    for start in range(0, len(keys), 300):
        chunk = keys[start : start + 300]
        marks = ", ".join("(" + ", ".join("?" for _ in range(width)) + ")" for _ in chunk)
        rows = await db.execute_fetchall(f"{select_where} IN (VALUES {marks})", [v for key in chunk for v in key])
        found.update({tuple(row[:-1]): int(row[-1]) for row in rows})
    return found


def _queued_task(task_id: int, new: NewTask) -> Task:
    """The row `enqueue_task` just inserted, without reading it back."""
    return Task(
        id=task_id,
        api_task_id=None,
        guild_id=new.guild_id,
        channel_id=new.channel_id,
        requester_id=new.requester_id,
        status_message_id=None,
        action=new.action,
        request=new.request,
        parent_song_id=new.parent_song_id,
        state="queued",
        quota_day=new.quota_day,
        cost=new.cost,
        refunded=False,
        result=None,
        error=None,
        created_at=new.created_at,
        submitted_at=None,
        finished_at=None,
        deadline_at=new.deadline_at,
        jam_id=new.jam_id,
        credits=new.credits,
    )


def _song(row: aiosqlite.Row | tuple[Any, ...]) -> SongRow:
    values = list(row)
    values[19] = json.loads(values[19]) if values[19] is not None else None
    return SongRow(*values)


def _song_filter(guild_id: int, text: str, requester_id: int | None) -> tuple[str, tuple[Any, ...]]:
    """WHERE clause for the song library: a guild's songs (not stems bundles), by text and member."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    where = (
        "guild_id = ? AND kind != 'stems' "
        "AND (title LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\') AND (? IS NULL OR requester_id = ?)"
    )
    return where, (guild_id, f"%{escaped}%", f"{escaped}%", requester_id, requester_id)


In = TypeVar("In")
Out = TypeVar("Out")


class GroupCommit(Generic[In, Out]):
    """Runs concurrent requests together: those arriving while a batch is written form the next.

    Under a burst this turns N round trips to the database thread into a handful, while a lone
    request still goes straight through. `run_batch` returns one outcome per request, in order.
    """

    def __init__(self, run_batch: Callable[[list[In]], Awaitable[list[Out]]], name: str) -> None:
        self._run_batch = run_batch
        self._name = name
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        waiter: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, waiter))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=self._name)
        return await waiter

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = [entry for entry in self._waiting if not entry[1].done()]  # callers gone: skip
                self._waiting = []
                try:
                    outcomes = await self._run_batch([item for item, _ in batch])
                except BaseException as exc:
                    error = exc if isinstance(exc, Exception) else RuntimeError(f"{self._name} was interrupted")
                    for _, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(error)
                    raise
                for (_, waiter), outcome in zip(batch, outcomes, strict=True):
                    if not waiter.done():
                        waiter.set_result(outcome)
        finally:
            self._runner = None


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
        self._charges = GroupCommit(self._charge_batch, "charge-batches")
        self._callbacks = GroupCommit(self._store_callbacks, "callback-batches")
        self._guild_settings: dict[int, asyncio.Future[GuildSettings]] = {}

    @classmethod
    async def open(cls, path: Path | str) -> Repository:
        """Open (creating folders as needed), switch to WAL and apply pending migrations."""
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StorageError(
                f"SQLite {sqlite3.sqlite_version} is too old: the bot needs {'.'.join(map(str, MIN_SQLITE))} or "
                "newer (RETURNING, UPDATE … FROM). Use a Python built with a newer SQLite, e.g. python:3.12-slim."
            )
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        repo = cls(connection)
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA busy_timeout=5000")
            await connection.execute("PRAGMA synchronous=NORMAL")
            # Migrations rebuild tables; SQLite wants foreign keys off while it does (see "ALTER TABLE").
            await connection.execute("PRAGMA foreign_keys=OFF")
            await repo._migrate()
            await connection.execute("PRAGMA foreign_keys=ON")
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

    async def _outside_transactions(self) -> None:
        """Return when no transaction is open. The caller must then hand its statement to aiosqlite
        without awaiting anything else first: aiosqlite runs statements in the order they were
        handed over, so it runs before the next BEGIN or after the last COMMIT, never inside."""
        while self._lock.locked():
            async with self._lock:
                pass

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> tuple[Any, ...] | None:
        """One statement, one round trip to the database thread (no cursor fetch/close trips)."""
        await self._outside_transactions()
        rows = await self._db.execute_fetchall(sql, tuple(params))
        return tuple(next(iter(rows))) if rows else None

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        await self._outside_transactions()
        rows = await self._db.execute_fetchall(sql, tuple(params))
        return [tuple(row) for row in rows]

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement, atomic by itself in autocommit mode: one round trip, not BEGIN/statement/COMMIT."""
        await self._outside_transactions()
        cursor = await self._db.execute(sql, tuple(params))
        return cursor.rowcount

    # -- quota -------------------------------------------------------------------------------

    async def quota_used(self, guild_id: int, day: str) -> int:
        row = await self._fetchone("SELECT used FROM quota_usage WHERE guild_id = ? AND day = ?", (guild_id, day))
        return int(row[0]) if row else 0

    async def member_used(self, guild_id: int, user_id: int, day: str) -> int:
        row = await self._fetchone(
            "SELECT used FROM member_usage WHERE guild_id = ? AND user_id = ? AND day = ?", (guild_id, user_id, day)
        )
        return int(row[0]) if row else 0

    async def enqueue_task(self, new: NewTask, limits: Limits) -> Task | Refusal:
        """Charge the guild and the member and queue the task, in one transaction.

        Concurrent charges are group-committed: those that arrive while a batch is being written go
        into the next transaction together. Each batch reads the counters once under
        `BEGIN IMMEDIATE`, decides every request in arrival order exactly as one-at-a-time charging
        would (guild allowance, then member cap, then queue room), and writes the new counters and
        tasks with a few statements, so a burst costs a few round trips in all, not ten per charge.
        A refusal charges nothing.
        """
        return await self._charges.submit((new, limits))

    async def _charge_batch(self, batch: list[tuple[NewTask, Limits]]) -> list[Task | Refusal]:
        if not batch:
            return []
        async with self._transaction() as db:
            guild_days = sorted({(new.guild_id, new.quota_day) for new, _ in batch})
            member_days = sorted({(new.guild_id, new.requester_id, new.quota_day) for new, _ in batch})
            guilds = sorted({new.guild_id for new, _ in batch})
            used = await _counters(db, "SELECT guild_id, day, used FROM quota_usage WHERE (guild_id, day)", guild_days)
            member = await _counters(
                db, "SELECT guild_id, user_id, day, used FROM member_usage WHERE (guild_id, user_id, day)", member_days
            )
            queued: dict[int, int] = {}
            running: dict[int, int] = {}
            mine: dict[tuple[int, int], int] = {}
            rows = await db.execute_fetchall(
                "SELECT guild_id, requester_id, SUM(state = 'queued'), SUM(state IN ('reserved', 'pending')) "
                f"FROM tasks WHERE guild_id IN ({', '.join('?' for _ in guilds)}) "
                "AND state IN ('queued', 'reserved', 'pending') GROUP BY guild_id, requester_id",
                guilds,
            )
            for guild_id, user_id, waiting, busy in rows:
                queued[guild_id] = queued.get(guild_id, 0) + int(waiting)
                running[guild_id] = running.get(guild_id, 0) + int(busy)
                mine[(guild_id, user_id)] = int(busy)
            outcomes: list[Refusal | None] = []
            accepted: list[NewTask] = []
            guild_changed: dict[tuple[Any, ...], int] = {}
            member_changed: dict[tuple[Any, ...], int] = {}
            for new, limits in batch:
                guild_key = (new.guild_id, new.quota_day)
                member_key = (new.guild_id, new.requester_id, new.quota_day)
                waiting = queued.get(new.guild_id, 0)
                must_wait = (
                    waiting > 0
                    or running.get(new.guild_id, 0) >= limits.max_running
                    or mine.get((new.guild_id, new.requester_id), 0) >= limits.max_running_per_member
                )
                if used.get(guild_key, 0) + new.cost > limits.daily_allowance:
                    outcomes.append(Refusal("guild"))
                elif (cap := limits.member_daily_cap) is not None and member.get(member_key, 0) + new.cost > cap:
                    outcomes.append(Refusal("member"))
                elif must_wait and waiting >= limits.max_queued:
                    outcomes.append(Refusal("queue"))
                else:
                    used[guild_key] = guild_changed[guild_key] = used.get(guild_key, 0) + new.cost
                    member[member_key] = member_changed[member_key] = member.get(member_key, 0) + new.cost
                    queued[new.guild_id] = waiting + 1
                    outcomes.append(None)
                    accepted.append(new)
            if guild_changed:
                await db.executemany(
                    "INSERT INTO quota_usage (guild_id, day, used) VALUES (?, ?, ?) "
                    "ON CONFLICT (guild_id, day) DO UPDATE SET used = excluded.used",
                    [(*key, value) for key, value in guild_changed.items()],
                )
            if member_changed:
                await db.executemany(
                    "INSERT INTO member_usage (guild_id, user_id, day, used) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET used = excluded.used",
                    [(*key, value) for key, value in member_changed.items()],
                )
            created: list[Task] = []
            for start in range(0, len(accepted), 500):
                chunk = accepted[start : start + 500]
                rows = await db.execute_fetchall(
                    "INSERT INTO tasks (guild_id, channel_id, requester_id, action, request, parent_song_id, state, "
                    "quota_day, cost, created_at, deadline_at, jam_id, credits) VALUES "
                    + ", ".join("(?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)" for _ in chunk)
                    + " RETURNING id",
                    [
                        value
                        for new in chunk
                        for value in (
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
                            new.jam_id,
                            json.dumps(new.credits) if new.credits is not None else None,
                        )
                    ],
                )
                # Row ids are handed out in VALUES order, so sorting them restores the request order;
                # the rest of each row is what was just written, so it is not read back.
                ids = sorted(int(row[0]) for row in rows)
                created.extend(_queued_task(task_id, new) for task_id, new in zip(ids, chunk, strict=True))
        made = iter(created)
        return [outcome if outcome is not None else next(made) for outcome in outcomes]

    async def promote_queued(
        self, guild_id: int, limits: Limits, make_secret: Callable[[], tuple[str, str]], at: float
    ) -> list[tuple[Task, str]]:
        """Move queued tasks, oldest first, into free slots; each gets its callback secret now.

        Returns the promoted tasks (state `reserved`) with their secrets, to be submitted. A member
        at their own running limit is skipped over, so they cannot hold up everybody else.
        """
        promoted: list[tuple[Task, str]] = []
        async with self._transaction() as db:
            async with db.execute(
                "SELECT requester_id, COUNT(*) FROM tasks WHERE guild_id = ? AND state IN ('reserved', 'pending') "
                "GROUP BY requester_id",
                (guild_id,),
            ) as cursor:
                running_by_member = {int(user): int(count) for user, count in await cursor.fetchall()}
            running = sum(running_by_member.values())
            async with db.execute(
                "SELECT id, requester_id FROM tasks WHERE guild_id = ? AND state = 'queued' ORDER BY id", (guild_id,)
            ) as cursor:
                waiting = [(int(task_id), int(user)) for task_id, user in await cursor.fetchall()]
            for task_id, user in waiting:
                if running >= limits.max_running:
                    break
                if running_by_member.get(user, 0) >= limits.max_running_per_member:
                    continue
                secret, secret_hash = make_secret()
                async with db.execute(
                    # The deadline runs from submission: time spent waiting in line does not count.
                    "UPDATE tasks SET state = 'reserved', secret_hash = ?, "
                    "deadline_at = ? + (deadline_at - created_at) "
                    f"WHERE id = ? AND state = 'queued' RETURNING {_TASK_COLUMNS}",
                    (secret_hash, at, task_id),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is None:
                    continue
                promoted.append((_task(row), secret))
                running += 1
                running_by_member[user] = running_by_member.get(user, 0) + 1
        return promoted

    async def has_queued(self, guild_id: int) -> bool:
        """Whether any task waits in this guild's line (one indexed lookup, no write transaction)."""
        row = await self._fetchone("SELECT 1 FROM tasks WHERE guild_id = ? AND state = 'queued' LIMIT 1", (guild_id,))
        return row is not None

    async def guilds_with_queue(self) -> list[int]:
        rows = await self._fetchall("SELECT DISTINCT guild_id FROM tasks WHERE state = 'queued'")
        return [int(row[0]) for row in rows]

    async def queue_positions(self, guild_id: int) -> dict[int, int]:
        """Task id → place in the guild's line (1 is next)."""
        rows = await self._fetchall(
            "SELECT id FROM tasks WHERE guild_id = ? AND state = 'queued' ORDER BY id", (guild_id,)
        )
        return {int(row[0]): place for place, row in enumerate(rows, start=1)}

    async def member_open_tasks(self, guild_id: int, user_id: int) -> list[Task]:
        rows = await self._fetchall(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE guild_id = ? AND requester_id = ? "
            "AND state IN ('queued', 'reserved', 'pending', 'received', 'delivering') ORDER BY id",
            (guild_id, user_id),
        )
        return [_task(row) for row in rows]

    async def cancel_task(self, task_id: int, at: float) -> Task | None:
        """Cancel a waiting or running task and give its credits back. None if it had moved on."""
        return await self._end_task(
            task_id, "cancelled", "Cancelled. Your credit was refunded.", at, CANCELLABLE_STATES
        )

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
        await self._write("UPDATE tasks SET status_message_id = ? WHERE id = ?", (message_id, task_id))

    async def mark_submitted(self, task_id: int, api_task_id: str | None, at: float) -> None:
        """Record the API's task id. A callback may already have moved the task on; keep its state."""
        await self._write(
            "UPDATE tasks SET api_task_id = COALESCE(?, api_task_id), submitted_at = ?, "
            "state = CASE state WHEN 'reserved' THEN 'pending' ELSE state END WHERE id = ?",
            (api_task_id, at, task_id),
        )

    async def store_result(self, task_id: int, result: dict[str, Any], at: float) -> bool:
        """Persist a finished result once. False when one was already stored or the task ended."""
        changed = await self._write(
            "UPDATE tasks SET result = ?, state = 'received', finished_at = ? "
            "WHERE id = ? AND state IN ('reserved', 'pending')",
            (json.dumps(result), at, task_id),
        )
        return changed == 1

    async def store_callback(
        self, secret_hash: str, result: dict[str, Any], at: float, claimed_api_id: str | None
    ) -> Task | None:
        """Store a callback's result and claim its task for delivery.

        None when no waiting task has this secret, or the body names another API task id; the
        caller then looks the task up to tell those cases (and repeats) apart. Callbacks arriving
        together are stored by one statement (see `_store_callbacks`).
        """
        return await self._callbacks.submit((secret_hash, json.dumps(result), at, claimed_api_id))

    async def _store_callbacks(self, batch: list[tuple[str, str, float, str | None]]) -> list[Task | None]:
        """One `UPDATE … FROM (VALUES …) RETURNING` for a batch: atomic by itself, one round trip.

        A secret that appears twice in a batch (a duplicated callback) updates its task once; the
        first occurrence gets the task, the repeat gets None, exactly as if they came one by one.
        """
        stored: dict[str, Task] = {}
        for start in range(0, len(batch), 500):
            chunk = batch[start : start + 500]
            await self._outside_transactions()
            rows = await self._db.execute_fetchall(
                "WITH incoming (secret_hash, result, finished_at, claimed) AS (VALUES "
                + ", ".join("(?, ?, ?, ?)" for _ in chunk)
                + ") UPDATE tasks SET result = incoming.result, state = 'delivering', "
                "finished_at = incoming.finished_at FROM incoming "
                "WHERE tasks.secret_hash = incoming.secret_hash AND tasks.state IN ('reserved', 'pending') "
                "AND (incoming.claimed IS NULL OR tasks.api_task_id IS NULL OR tasks.api_task_id = incoming.claimed) "
                f"RETURNING {_TASK_COLUMNS}, secret_hash",
                [value for item in chunk for value in item],
            )
            stored.update({row[-1]: _task(tuple(row)[:-1]) for row in rows})
        return [stored.pop(secret_hash, None) for secret_hash, *_ in batch]

    async def claim_delivery(self, task_id: int) -> Task | None:
        """Move a received task to `delivering`; only one caller can win, so one delivery happens."""
        row = await self._fetchone(
            f"UPDATE tasks SET state = 'delivering' WHERE id = ? AND state = 'received' RETURNING {_TASK_COLUMNS}",
            (task_id,),
        )
        return _task(row) if row else None

    async def release_delivery(self, task_id: int) -> None:
        """Put a task whose delivery was interrupted back in line for another attempt."""
        await self._write("UPDATE tasks SET state = 'received' WHERE id = ? AND state = 'delivering'", (task_id,))

    async def mark_delivered(self, task_id: int) -> None:
        await self._write("UPDATE tasks SET state = 'delivered' WHERE id = ?", (task_id,))

    async def fail_task(self, task_id: int, error: str, at: float, *, refund: bool = True) -> Task | None:
        """End a task as failed and give its credits back, together. None if it had already ended."""
        return await self._end_task(task_id, "failed", error, at, OPEN_STATES, refund=refund)

    async def fail_waiting(
        self, task_id: int, error: str, at: float, states: tuple[str, ...] = ("reserved", "pending")
    ) -> Task | None:
        """Fail with a refund only while the task still waits for the API (one of `states`).

        Unlike `fail_task`, a task whose result came in meanwhile (`received`, `delivering`) is
        left alone, so a late decision (a deadline, a failed lookup) never takes back a song.
        """
        return await self._end_task(task_id, "failed", error, at, states)

    async def has_api_task(self, api_task_id: str) -> bool:
        """Whether some task already owns this API task id."""
        return await self._fetchone("SELECT 1 FROM tasks WHERE api_task_id = ?", (api_task_id,)) is not None

    async def secret_hashes(self, task_ids: Iterable[int]) -> dict[int, str]:
        """The stored callback-secret digests of these tasks (those that have one)."""
        ids = list(task_ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = await self._fetchall(
            f"SELECT id, secret_hash FROM tasks WHERE id IN ({marks}) AND secret_hash IS NOT NULL", ids
        )
        return {int(row[0]): str(row[1]) for row in rows}

    async def _end_task(
        self, task_id: int, state: str, error: str, at: float, from_states: tuple[str, ...], *, refund: bool = True
    ) -> Task | None:
        marks = ", ".join("?" for _ in from_states)
        async with self._transaction() as db:
            async with db.execute(
                "UPDATE tasks SET state = ?, error = ?, finished_at = COALESCE(finished_at, ?), "
                "refunded = CASE WHEN ? THEN 1 ELSE refunded END "
                f"WHERE id = ? AND state IN ({marks}) RETURNING {_TASK_COLUMNS}",
                (state, error, at, refund, task_id, *from_states),
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
                await db.execute(
                    "UPDATE member_usage SET used = MAX(used - ?, 0) WHERE guild_id = ? AND user_id = ? AND day = ?",
                    (task.cost, task.guild_id, task.requester_id, task.quota_day),
                )
            if task.jam_id is not None:
                # A jam whose first song never came is open again, so its members can finish it anew.
                await db.execute(
                    "UPDATE jams SET state = 'open' WHERE id = ? AND latest_song_id IS NULL", (task.jam_id,)
                )
        return task

    # -- songs -------------------------------------------------------------------------------

    async def add_song(self, song: SongRow) -> SongRow:
        """Insert a song once; a repeat keeps the first row (and its message id)."""
        async with self._transaction() as db:
            await db.execute(
                f"INSERT INTO songs ({_SONG_COLUMNS}) VALUES ({', '.join('?' for _ in range(20))}) "
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
            async with db.execute(f"SELECT {_SONG_COLUMNS} FROM songs WHERE id = ?", (song.id,)) as cursor:
                row = await cursor.fetchone()
        assert row is not None
        return _song(row)

    async def song(self, song_id: str) -> SongRow | None:
        row = await self._fetchone(f"SELECT {_SONG_COLUMNS} FROM songs WHERE id = ?", (song_id,))
        return _song(row) if row else None

    async def songs_for_task(self, task_id: int) -> list[SongRow]:
        rows = await self._fetchall(f"SELECT {_SONG_COLUMNS} FROM songs WHERE task_id = ? ORDER BY rowid", (task_id,))
        return [_song(row) for row in rows]

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
        return _song(row) if row else None

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
        return [_song(row) for row in rows]

    async def count_songs(self, guild_id: int, *, text: str = "", requester_id: int | None = None) -> int:
        where, params = _song_filter(guild_id, text, requester_id)
        row = await self._fetchone(f"SELECT COUNT(*) FROM songs WHERE {where}", params)
        return int(row[0]) if row else 0

    async def children(self, song_id: str) -> list[SongRow]:
        rows = await self._fetchall(
            f"SELECT {_SONG_COLUMNS} FROM songs WHERE parent_song_id = ? ORDER BY created_at, rowid", (song_id,)
        )
        return [_song(row) for row in rows]

    # -- guild settings ----------------------------------------------------------------------

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        """A guild's settings. Read on every charge and delivery, written rarely (by /settings), and
        this process is the database's only writer, so they are kept in memory after the first read."""
        read = self._guild_settings.get(guild_id)
        if read is None:  # the first caller reads; concurrent callers share its read
            read = self._guild_settings[guild_id] = asyncio.ensure_future(self._read_guild_settings(guild_id))
        try:
            return await asyncio.shield(read)
        except Exception:
            if self._guild_settings.get(guild_id) is read:
                del self._guild_settings[guild_id]
            raise

    async def _read_guild_settings(self, guild_id: int) -> GuildSettings:
        row = await self._fetchone(
            f"SELECT guild_id, {', '.join(GUILD_SETTING_FIELDS)} FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        if row is None:
            return GuildSettings(guild_id=guild_id)
        values = list(row)
        values[5] = bool(values[5])
        return GuildSettings(*values)

    async def update_guild_settings(self, guild_id: int, **changes: Any) -> GuildSettings:
        """Set some of a guild's settings (a value of None restores the bot's default)."""
        unknown = set(changes) - set(GUILD_SETTING_FIELDS)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        if changes:
            names = list(changes)
            async with self._transaction() as db:
                await db.execute(
                    f"INSERT INTO guild_settings (guild_id, {', '.join(names)}) "
                    f"VALUES (?, {', '.join('?' for _ in names)}) ON CONFLICT (guild_id) DO UPDATE SET "
                    + ", ".join(f"{name} = excluded.{name}" for name in names),
                    (guild_id, *(changes[name] for name in names)),
                )
        self._guild_settings.pop(guild_id, None)
        return await self.guild_settings(guild_id)

    # -- jams --------------------------------------------------------------------------------

    async def create_jam(
        self, *, guild_id: int, channel_id: int, starter_id: int, theme: str, style: str, model: str, at: float
    ) -> Jam | None:
        """A new jam in `channel_id`; None when that channel already has one."""
        async with (
            self._transaction() as db,
            db.execute(
                "INSERT INTO jams (guild_id, channel_id, starter_id, theme, style, model, created_at) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel_id) DO NOTHING RETURNING {_JAM_COLUMNS}",
                (guild_id, channel_id, starter_id, theme, style, model, at),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return Jam(*row) if row else None

    async def jam_in_channel(self, channel_id: int) -> Jam | None:
        row = await self._fetchone(f"SELECT {_JAM_COLUMNS} FROM jams WHERE channel_id = ?", (channel_id,))
        return Jam(*row) if row else None

    async def jam(self, jam_id: int) -> Jam | None:
        row = await self._fetchone(f"SELECT {_JAM_COLUMNS} FROM jams WHERE id = ?", (jam_id,))
        return Jam(*row) if row else None

    async def set_jam_message(self, jam_id: int, message_id: int) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE jams SET message_id = ? WHERE id = ?", (message_id, jam_id))

    async def add_jam_line(self, jam_id: int, author_id: int, line: str, *, max_lines: int, at: float) -> int | None:
        """Append a line to an open jam; its number, or None when the jam is full or finished."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO jam_lines (jam_id, author_id, line, created_at) SELECT ?, ?, ?, ? "
                "WHERE (SELECT state FROM jams WHERE id = ?) = 'open' "
                "AND (SELECT COUNT(*) FROM jam_lines WHERE jam_id = ?) < ?",
                (jam_id, author_id, line, at, jam_id, jam_id, max_lines),
            )
            if cursor.rowcount != 1:
                return None
            async with db.execute("SELECT COUNT(*) FROM jam_lines WHERE jam_id = ?", (jam_id,)) as count:
                row = await count.fetchone()
        return int(row[0]) if row else None

    async def jam_lines(self, jam_id: int) -> list[JamLine]:
        rows = await self._fetchall("SELECT id, author_id, line FROM jam_lines WHERE jam_id = ? ORDER BY id", (jam_id,))
        return [JamLine(*row) for row in rows]

    async def finish_jam(self, jam_id: int) -> bool:
        """Close a jam to new lines; only the first finisher wins."""
        async with self._transaction() as db:
            cursor = await db.execute("UPDATE jams SET state = 'finished' WHERE id = ? AND state = 'open'", (jam_id,))
            return cursor.rowcount == 1

    async def reopen_jam(self, jam_id: int) -> None:
        """Undo a finish whose song could not be started (no credit, API refusal)."""
        async with self._transaction() as db:
            await db.execute("UPDATE jams SET state = 'open' WHERE id = ? AND latest_song_id IS NULL", (jam_id,))

    async def set_jam_latest(self, jam_id: int, song_id: str) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE jams SET latest_song_id = ? WHERE id = ?", (song_id, jam_id))

    async def jam_songs(self, jam_id: int) -> list[SongRow]:
        rows = await self._fetchall(
            f"SELECT {', '.join('songs.' + c.strip() for c in _SONG_COLUMNS.split(','))} FROM songs "
            "JOIN tasks ON tasks.id = songs.task_id WHERE tasks.jam_id = ? AND songs.kind = 'song' "
            "ORDER BY songs.created_at, songs.rowid",
            (jam_id,),
        )
        return [_song(row) for row in rows]

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
