"""What a benchmark child counts about itself: statements sent to the database, transactions, CPU.

`StatementCounter.attach(repo)` wraps the repository's backend (`repo._database`, the one layer
every statement passes) so the child can report statements and transactions per callback, and
`cpu_seconds()` reads the process's own CPU time (user + system). Benchmark-only: the bot itself
never does this.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any


def cpu_seconds() -> float:
    """User + system CPU seconds this process has used (children excluded)."""
    times = os.times()
    return times.user + times.system


class _CountingTransaction:
    def __init__(self, inner: Any, counter: StatementCounter) -> None:
        self._inner = inner
        self._counter = counter

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        self._counter.statements += 1
        return await self._inner.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> Any:
        self._counter.statements += 1
        return await self._inner.fetchall(sql, params)

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        self._counter.statements += 1
        return await self._inner.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._counter.statements += 1
        await self._inner.executemany(sql, rows)


class StatementCounter:
    """Statements (each `fetchone`/`fetchall`/`write`, and each statement inside a transaction;
    an `executemany` counts once) and transactions (each `BEGIN … COMMIT`) since `reset`."""

    def __init__(self) -> None:
        self.statements = 0
        self.transactions = 0

    def reset(self) -> None:
        self.statements = self.transactions = 0

    def attach(self, repo: Any) -> StatementCounter:
        database = repo._database
        for name in ("fetchone", "fetchall", "write"):
            original = getattr(database, name)

            async def counted(sql: str, params: Iterable[Any] = (), _original: Any = original) -> Any:
                self.statements += 1
                return await _original(sql, params)

            setattr(database, name, counted)
        opened = database.transaction

        @asynccontextmanager
        async def transaction() -> AsyncIterator[_CountingTransaction]:
            self.transactions += 1
            async with opened() as tx:
                yield _CountingTransaction(tx, self)

        database.transaction = transaction
        return self
