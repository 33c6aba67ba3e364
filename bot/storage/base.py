"""What every repository area module builds on: the backend-neutral statement helpers.

Area modules (tasks, songs, community, cluster) are mixins over `RepositoryBase`; `Repository`
composes them. They run SQL only through the four helpers below, written with `?` placeholders,
and branch on `self.dialect` where SQLite and PostgreSQL need different statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.storage.database import Database, Dialect, Row, Transaction


class RepositoryBase:
    """Holds the database and offers one-statement helpers and transactions to the area modules."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @property
    def dialect(self) -> Dialect:
        """ "sqlite" or "postgres": which SQL the few backend-specific statements must use."""
        return self._database.dialect

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

    async def close(self) -> None:
        await self._database.close()
