"""What every repository area module builds on: the backend-neutral statement helpers.

Area modules (queue, tasks, songs, community, cluster) are mixins over `RepositoryBase`;
`Repository` composes them. They run SQL only through the four helpers below, written with `?`
placeholders, and branch on `self.dialect` where SQLite and PostgreSQL need different statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.storage.database import Database, Dialect, Row, Transaction
from bot.storage.postgres import advisory_key


class RepositoryBase:
    """Holds the database and offers one-statement helpers and transactions to the area modules."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @property
    def dialect(self) -> Dialect:
        """ "sqlite" or "postgres": which SQL the few backend-specific statements must use."""
        return self._database.dialect

    @property
    def _db_now(self) -> str:
        """SQL for the database's own clock, in unix seconds: lease expiry is judged by it, so
        processes whose clocks disagree still agree on whose lease has run out."""
        if self.dialect == "postgres":
            return "EXTRACT(EPOCH FROM clock_timestamp())::double precision"
        return "((julianday('now') - 2440587.5) * 86400.0)"

    def _now(self, now: float | None) -> tuple[str, tuple[float, ...]]:
        """'Now' in a statement: the database's clock (`_db_now`), or a time the caller names (the
        repository tests' way of stepping past a lease). Returns the SQL and its parameters."""
        if now is None:
            return self._db_now, ()
        return ("?::double precision" if self.dialect == "postgres" else "?"), (now,)

    async def database_time(self) -> float:
        """The database's clock now (unix seconds)."""
        row = await self._fetchone(f"SELECT {self._db_now}")
        assert row is not None
        return float(row[0])

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row of one statement (one round trip), or None."""
        return await self._database.fetchone(sql, params)

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return await self._database.fetchall(sql, params)

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement, atomic by itself; the number of rows it changed."""
        return await self._database.write(sql, params)

    def _transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """`async with self._transaction() as tx:` — every statement through `tx` commits together."""
        return self._database.transaction()

    def _values(self, types: Sequence[str], count: int) -> str:
        """Placeholders for `count` rows of a `VALUES` list whose columns have these SQL types.

        PostgreSQL cannot infer a parameter's type inside `VALUES` (it would guess text and then
        refuse `bigint = text`), so there each placeholder names its type (`?::bigint`); SQLite
        needs no hint.
        """
        if self.dialect == "postgres":
            row = "(" + ", ".join(f"?::{kind}" for kind in types) + ")"
        else:
            row = "(" + ", ".join("?" for _ in types) + ")"
        return ", ".join([row] * count)

    async def _lock_guilds(self, tx: Transaction, guild_ids: Iterable[int]) -> None:
        """Serialize quota and queue decisions for these guilds across processes (PostgreSQL).

        Charges and promotions read counters, decide, then write; two processes doing that at once
        for one guild could both see the last free credit. Each such transaction first takes a
        transaction-scoped advisory lock per guild, in sorted key order so two batches naming the
        same guilds cannot deadlock. SQLite needs nothing: `BEGIN IMMEDIATE` already makes the
        transaction the database's only writer.
        """
        if self.dialect != "postgres":
            return
        keys = sorted({advisory_key(f"guild:{guild_id}") for guild_id in guild_ids})
        if keys:
            await tx.fetchall(
                "SELECT pg_advisory_xact_lock(key) FROM (SELECT unnest(?::bigint[]) AS key ORDER BY 1) AS keys",
                (keys,),
            )

    async def _try_lock_guild(self, tx: Transaction, guild_id: int) -> bool:
        """`_lock_guilds` for one guild without waiting: False (nothing locked) while another
        transaction holds it. For work one process can do for all (promoting a guild's line), so
        the others go on instead of holding a connection idle in a queue for the lock."""
        if self.dialect != "postgres":
            return True
        row = await tx.fetchone("SELECT pg_try_advisory_xact_lock(?::bigint)", (advisory_key(f"guild:{guild_id}"),))
        return bool(row and row[0])

    async def close(self) -> None:
        await self._database.close()
