"""The PostgreSQL backend: an asyncpg pool that several processes may share, migrated on open.

Also what only PostgreSQL needs: `?` → `$n` placeholder translation, advisory-lock keys, keeping
DATABASE_URL's password out of logs, and the read-only look at its applied migrations that
`python -m bot check` uses.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg

from bot.storage.database import Database, Dialect, Row, Transaction, migrations
from bot.storage.models import DatabaseUnavailable, StorageError

log = logging.getLogger(__name__)


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
    async def open(
        cls, url: str, *, min_size: int = 1, max_size: int = 10, statement_cache_size: int = 100
    ) -> PostgresDatabase:
        """Connect a pool to `url` (postgresql://…) and apply pending migrations.

        `statement_cache_size=0` turns asyncpg's prepared-statement cache off, which PgBouncer in
        transaction mode needs (a prepared statement lives on one server connection, and the next
        transaction may get another).
        """
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min(min_size, max_size),
                max_size=max_size,
                command_timeout=60,
                statement_cache_size=statement_cache_size,
                reset=_no_session_state,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise connection_error(url, exc) from None
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
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection that is closed, not put back, when it broke mid-operation.

        The pool's reset on release is a no-op (`_no_session_state`), so nothing else would notice a
        connection whose protocol was left mid-operation by a killed backend: the next caller got
        it and failed with "another operation is in progress" (the chaos suite's killed
        connections found it, in the identify slot, which ended the process).
        """
        with _unavailable_as_one_error():
            async with self._pool.acquire() as conn:
                try:
                    yield conn
                except UNAVAILABLE:
                    conn.terminate()
                    raise

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        async with self._connection() as conn, conn.transaction():
            yield _PostgresTransaction(conn)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction()

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(to_numbered(sql), *params)
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        async with self._connection() as conn:
            return [tuple(row) for row in await conn.fetch(to_numbered(sql), *params)]

    async def write(self, sql: str, params: Iterable[Any] = ()) -> int:
        async with self._connection() as conn:
            return _rowcount(await conn.execute(to_numbered(sql), *params))


async def _no_session_state(connection: asyncpg.Connection) -> None:
    """What a connection needs before the pool hands it to the next caller: nothing more than the
    rollback of an open transaction, which asyncpg does first anyway.

    asyncpg's default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on
    every release, a second round trip for each one-statement `fetchrow`/`execute` on the pool,
    which doubled the round trips of the callback path. The bot keeps no session state on pooled
    connections: no LISTEN, no SET, no cursors, and its only session advisory lock (migrations) is
    released in a `finally` on the connection that took it.
    """


UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
"""What asyncpg raises while the server restarts, cuts a connection or refuses more clients; and
InternalClientError, a connection left mid-operation by one of those (it is closed, not reused)."""


@contextmanager
def _unavailable_as_one_error() -> Iterator[None]:
    """Turn asyncpg's many ways of saying "the server is not there" into `DatabaseUnavailable`, the
    one error callers ride out (the pool replaces broken connections by itself)."""
    try:
        yield
    except UNAVAILABLE as exc:
        raise DatabaseUnavailable(f"PostgreSQL is not answering ({type(exc).__name__})") from exc


def database_secrets(url: str | None) -> list[str]:
    """What of DATABASE_URL must never appear in a log line: its password (when long enough to be
    told apart from ordinary words) and the URL itself."""
    if not url:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    passwords = {password, unquote(password)} if password and len(password) >= 4 else set()
    return [url, *sorted(passwords)]


def server_address(url: str) -> str:
    """`host:port` of DATABASE_URL, for messages: never the user or the password."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    except ValueError:
        return "the server in DATABASE_URL"


GIVE_UP = (
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InsufficientPrivilegeError,
)
"""Answers that waiting will not change: a wrong password or user, a database that does not exist."""


def connection_error(url: str, exc: BaseException) -> StorageError:
    """`DatabaseUnavailable` (worth retrying: refused, DNS, timeout, still starting up) or a plain
    `StorageError` (the server answered no); both name host:port, never the URL."""
    where = f"Cannot connect to PostgreSQL at {server_address(url)} (DATABASE_URL): {_describe(exc)}"
    if isinstance(exc, GIVE_UP):
        return StorageError(where)
    return DatabaseUnavailable(where)


def _describe(exc: BaseException) -> str:
    """One line about a connection failure, without the URL (it may hold a password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- migration status (read-only, for `python -m bot check`) ------------------------------------


async def postgres_applied_migrations(url: str) -> set[int]:
    """The migrations recorded in the PostgreSQL database at `url`; one connection, reads only.

    Raises `StorageError` (without the URL, which may hold a password) when it cannot connect.
    """
    try:
        connection = await asyncpg.connect(url, timeout=15)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise connection_error(url, exc) from None
    try:
        if not await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            return set()
        return {int(row[0]) for row in await connection.fetch("SELECT version FROM schema_migrations")}
    finally:
        await connection.close()
