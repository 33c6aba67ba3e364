"""The backend layer: one small class per database, the same five operations on each.

Repository code never touches a driver. It calls `fetchone`, `fetchall`, `write` and
`transaction()` (whose handle has `fetchone`, `fetchall`, `execute` and `executemany`) with SQL
written once, `?` placeholders and all; each backend runs it its own way. `dialect` names the
backend so the few statements that must differ can branch on it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import aiosqlite
import asyncpg

from bot.storage.models import StorageError

log = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]

MIN_SQLITE = (3, 35)
"""RETURNING came in 3.35; every Python 3.11+ from python.org or Debian 12 bundles a newer one."""

LEGACY_SQLITE_VERSION = 3
"""The last migration of the releases that tracked the schema by `PRAGMA user_version` alone."""


class Transaction(Protocol):
    """A handle on an open transaction: every statement through it commits or rolls back together."""

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


class Database(ABC):
    """A connected database. Statements outside `transaction()` are each atomic by themselves."""

    dialect: Dialect

    @abstractmethod
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...

    @abstractmethod
    async def write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own transaction; the number of rows it changed."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction: commits when the block ends, rolls back when it raises."""

    @abstractmethod
    async def close(self) -> None: ...


def migrations(dialect: Dialect) -> list[tuple[int, str, str]]:
    """(version, name, script) of `migrations/<dialect>/NNNN_name.sql`, in order."""
    folder = resources.files("bot.storage") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return sorted(found)


# -- SQLite ----------------------------------------------------------------------------------------


class _SqliteTransaction:
    """Statements inside `BEGIN IMMEDIATE … COMMIT` on the shared connection."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self._db.execute_fetchall(sql, tuple(params))
        return tuple(next(iter(rows))) if rows else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        rows = await self._db.execute_fetchall(sql, tuple(params))
        return [tuple(row) for row in rows]

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        cursor = await self._db.execute(sql, tuple(params))
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._db.executemany(sql, [tuple(row) for row in rows])


class SqliteDatabase(Database):
    """One aiosqlite connection shared by every coroutine, in WAL mode.

    A transaction opened by one coroutine would see another's statements interleave across awaits,
    so an `asyncio.Lock` wraps every transaction, and single statements wait until none is open
    (see `_outside_transactions`). SQLite has one writer at a time anyway; this keeps the process
    from queueing on its own file lock.
    """

    dialect: Dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> SqliteDatabase:
        """Open (creating folders as needed), switch to WAL and apply pending migrations."""
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StorageError(
                f"SQLite {sqlite3.sqlite_version} is too old: the bot needs {'.'.join(map(str, MIN_SQLITE))} or "
                "newer (RETURNING, UPDATE … FROM). Use a Python built with a newer SQLite, e.g. python:3.12-slim."
            )
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        database = cls(connection)
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA busy_timeout=5000")
            await connection.execute("PRAGMA synchronous=NORMAL")
            # Migrations rebuild tables; SQLite wants foreign keys off while it does (see "ALTER TABLE").
            await connection.execute("PRAGMA foreign_keys=OFF")
            await database._migrate()
            await connection.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            await connection.close()
            raise
        return database

    async def _migrate(self) -> None:
        """Apply every migration not yet recorded in `schema_migrations`, each atomically, in order.

        Versions are recorded one by one (not only as the highest applied) because migration
        numbers are reserved ahead by different changes and may land out of order: a database
        that has 0006 must still get 0005 when it arrives. Databases from releases before this
        table existed carry their state in `PRAGMA user_version` (at most 0003 then), which is
        read once to fill the table in; `user_version` is still kept at the highest version.
        Each script starts by recording its version, so a second process migrating the same file
        at the same moment fails on the primary key and rolls back instead of applying it twice.
        """
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL) STRICT"
        )
        rows = await self._db.execute_fetchall("SELECT version FROM schema_migrations")
        done = {int(row[0]) for row in rows}
        if not done:
            rows = await self._db.execute_fetchall("PRAGMA user_version")
            legacy = min(next(iter(rows))[0] if rows else 0, LEGACY_SQLITE_VERSION)
            await self._db.executemany(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'before schema_migrations', ?) "
                "ON CONFLICT (version) DO NOTHING",
                [(version, time.time()) for version in range(1, legacy + 1)],
            )
            done = set(range(1, legacy + 1))
        for version, name, script in migrations("sqlite"):
            if version in done:
                continue
            log.info("Applying database migration %04d", version)
            highest = max(done | {version})
            record = (
                f"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({version}, '{name}', {time.time()})"
            )
            try:
                await self._db.executescript(
                    f"BEGIN IMMEDIATE;\n{record};\n{script}\nPRAGMA user_version = {highest};\nCOMMIT;"
                )
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
                found = await self._db.execute_fetchall("SELECT 1 FROM schema_migrations WHERE version = ?", (version,))
                if not found:  # not applied by another process meanwhile: the script itself failed
                    raise StorageError(f"Database migration {name} failed: {exc}") from None
            done.add(version)

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self._db)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction()

    async def _outside_transactions(self) -> None:
        """Return when no transaction is open. The caller must then hand its statement to aiosqlite
        without awaiting anything else first: aiosqlite runs statements in the order they were
        handed over, so it runs before the next BEGIN or after the last COMMIT, never inside."""
        while self._lock.locked():
            async with self._lock:
                pass

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """One statement, one round trip to the database thread (no cursor fetch/close trips)."""
        await self._outside_transactions()
        rows = await self._db.execute_fetchall(sql, tuple(params))
        return tuple(next(iter(rows))) if rows else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        await self._outside_transactions()
        rows = await self._db.execute_fetchall(sql, tuple(params))
        return [tuple(row) for row in rows]

    async def write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement, atomic by itself in autocommit mode: one round trip, not BEGIN/statement/COMMIT."""
        await self._outside_transactions()
        cursor = await self._db.execute(sql, tuple(params))
        return cursor.rowcount


# -- PostgreSQL ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def to_numbered(sql: str) -> str:
    """`?` placeholders → `$1, $2, …`, leaving `?` inside string literals, quoted names and comments.

    Standard-conforming strings are assumed (PostgreSQL's default since 9.1): a backslash is an
    ordinary character inside '…', and a quote inside a literal is written twice, which the toggle
    below handles as leaving and re-entering the literal.
    """
    out: list[str] = []
    number = 0
    i = 0
    length = len(sql)
    while i < length:
        char = sql[i]
        if char in "'\"":
            end = sql.find(char, i + 1)
            end = length - 1 if end < 0 else end
            out.append(sql[i : end + 1])
            i = end + 1
            continue
        if char == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = length if end < 0 else end
            out.append(sql[i:end])
            i = end
            continue
        if char == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = length if end < 0 else end + 2
            out.append(sql[i:end])
            i = end
            continue
        if char == "?":
            number += 1
            out.append(f"${number}")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _rowcount(status: str) -> int:
    """Rows changed, from a command tag such as `UPDATE 3` or `INSERT 0 1`."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_*lock` from a readable name (e.g. "guild:42")."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


MIGRATION_LOCK = advisory_key("producer-bot:migrations")
"""Held (session-level) while migrating, so processes starting together migrate one at a time."""


class _PostgresTransaction:
    """Statements on one pooled connection inside `BEGIN … COMMIT` (READ COMMITTED)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._conn = connection

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        row = await self._conn.fetchrow(to_numbered(sql), *params)
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return [tuple(row) for row in await self._conn.fetch(to_numbered(sql), *params)]

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        return _rowcount(await self._conn.execute(to_numbered(sql), *params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(to_numbered(sql), [tuple(row) for row in rows])


class PostgresDatabase(Database):
    """An asyncpg connection pool. Several processes may share the database.

    Unlike SQLite there is no single writer: transactions from this and other processes run
    concurrently at READ COMMITTED, so repository code that reads, decides and writes takes a lock
    first (a row lock, or `pg_advisory_xact_lock` for things without a row, such as a guild's
    quota), and single statements rely on PostgreSQL re-checking their WHERE clause on the newest
    row version (`UPDATE … WHERE state = 'received'` still lets only one caller win).
    """

    dialect: Dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        """Connect a pool to `url` (postgresql://…) and apply pending migrations."""
        try:
            pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, command_timeout=60)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"Cannot connect to PostgreSQL at DATABASE_URL: {_describe(exc)}") from None
        database = cls(pool)
        try:
            await database._migrate()
        except BaseException:
            await pool.close()
            raise
        return database

    async def _migrate(self) -> None:
        """Apply migrations newer than `schema_migrations`, each in its own transaction.

        A session advisory lock serializes processes that start together: the second waits, then
        finds the versions already recorded and applies nothing.
        """
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
                )
                done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
                for version, name, script in migrations("postgres"):
                    if version in done:
                        continue
                    log.info("Applying database migration %04d", version)
                    async with conn.transaction():
                        await conn.execute(script)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                            version,
                            name,
                            time.time(),
                        )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PostgresTransaction(conn)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction()

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        row = await self._pool.fetchrow(to_numbered(sql), *params)
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return [tuple(row) for row in await self._pool.fetch(to_numbered(sql), *params)]

    async def write(self, sql: str, params: Iterable[Any] = ()) -> int:
        return _rowcount(await self._pool.execute(to_numbered(sql), *params))


def database_secrets(url: str | None) -> list[str]:
    """What of DATABASE_URL must never appear in a log line: its password (when long enough to be
    told apart from ordinary words) and the URL itself."""
    if not url:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return [url, *([password] if password and len(password) >= 4 else [])]


def _describe(exc: BaseException) -> str:
    """One line about a connection failure, without the URL (it may hold a password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- migration status (read-only, for `python -m bot check`) ------------------------------------


def pending_migrations(dialect: Dialect, applied: set[int]) -> tuple[list[int], list[int]]:
    """(migrations this version has that are not applied, applied ones this version does not know)."""
    known = {version for version, _, _ in migrations(dialect)}
    return sorted(known - applied), sorted(applied - known)


def sqlite_applied_migrations(path: Path) -> set[int] | None:
    """The migrations recorded in the SQLite file at `path`, read-only; None if there is no file.

    Reads what `SqliteDatabase._migrate` records: `schema_migrations`, or for files from before
    that table, `PRAGMA user_version` (at most `LEGACY_SQLITE_VERSION`). Never creates or writes.
    """
    if not path.is_file():
        return None
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        if connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone():
            applied = {int(row[0]) for row in connection.execute("SELECT version FROM schema_migrations")}
            if applied:
                return applied
        legacy = min(int(connection.execute("PRAGMA user_version").fetchone()[0]), LEGACY_SQLITE_VERSION)
        return set(range(1, legacy + 1))
    finally:
        connection.close()


async def postgres_applied_migrations(url: str) -> set[int]:
    """The migrations recorded in the PostgreSQL database at `url`; one connection, reads only.

    Raises `StorageError` (without the URL, which may hold a password) when it cannot connect.
    """
    try:
        connection = await asyncpg.connect(url, timeout=15)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise StorageError(f"Cannot connect to PostgreSQL at DATABASE_URL: {_describe(exc)}") from None
    try:
        if not await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            return set()
        return {int(row[0]) for row in await connection.fetch("SELECT version FROM schema_migrations")}
    finally:
        await connection.close()


# -- group commit ----------------------------------------------------------------------------------

In = TypeVar("In")
Out = TypeVar("Out")


class GroupCommit(Generic[In, Out]):
    """Runs concurrent requests together: those arriving while a batch is written form the next.

    Under a burst this turns N round trips to the database into a handful, while a lone request
    still goes straight through. `run_batch` returns one outcome per request, in order.
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
