"""The SQLite backend (the default): one aiosqlite connection in WAL mode, migrated on open.

Beside it, the read-only look at a SQLite file's applied migrations that `python -m bot check`
uses, since it reads exactly what `SqliteDatabase._migrate` records.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.storage.database import Database, Dialect, Row, Transaction, migrations
from bot.storage.models import StorageError

log = logging.getLogger(__name__)

MIN_SQLITE = (3, 35)
"""RETURNING came in 3.35; every Python 3.11+ from python.org or Debian 12 bundles a newer one."""

LEGACY_SQLITE_VERSION = 3
"""The last migration of the releases that tracked the schema by `PRAGMA user_version` alone."""


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
        """`BEGIN IMMEDIATE … COMMIT`, whole or not at all, however the caller is cancelled.

        aiosqlite runs a statement on its own thread, and cancelling the coroutine that awaits it
        does not stop it: a BEGIN cancelled in flight still opens a transaction. So BEGIN, COMMIT
        and ROLLBACK are always awaited to their end (`_settled`), and whatever is left open is
        rolled back before the lock is let go; otherwise every later transaction on the shared
        connection would fail and every later single write would never be committed.
        """
        async with self._lock:
            try:
                await self._settled("BEGIN IMMEDIATE")
            except BaseException:
                await self._roll_back_if_open()
                raise
            try:
                yield _SqliteTransaction(self._db)
            except BaseException:
                await self._roll_back_if_open()
                raise
            try:
                await self._settled("COMMIT")
            except BaseException:
                await self._roll_back_if_open()
                raise

    async def _settled(self, sql: str) -> None:
        """Run a statement to its end even if the caller is cancelled meanwhile, then pass the
        cancellation on."""
        job = asyncio.ensure_future(self._db.execute(sql))
        cancelled: asyncio.CancelledError | None = None
        while not job.done():
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError as exc:
                cancelled = exc
        job.result()
        if cancelled is not None:
            raise cancelled

    async def _roll_back_if_open(self) -> None:
        if self._db.in_transaction:
            await self._settled("ROLLBACK")

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


# -- migration status (read-only, for `python -m bot check`) ------------------------------------


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
