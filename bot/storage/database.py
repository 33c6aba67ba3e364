"""The backend layer: one small class per database, the same five operations on each.

Repository code never touches a driver. It calls `fetchone`, `fetchall`, `write` and
`transaction()` (whose handle has `fetchone`, `fetchall`, `execute` and `executemany`) with SQL
written once, `?` placeholders and all; each backend runs it its own way. `dialect` names the
backend so the few statements that must differ can branch on it.

This module is the contract both backends keep (`Database`, `Transaction`) and the schema they
share the numbering of (`migrations`); the backends themselves are `bot.storage.sqlite` and
`bot.storage.postgres`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from importlib import resources
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]


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


# -- migration status (read-only, for `python -m bot check`) ------------------------------------


def pending_migrations(dialect: Dialect, applied: set[int]) -> tuple[list[int], list[int]]:
    """(migrations this version has that are not applied, applied ones this version does not know)."""
    known = {version for version, _, _ in migrations(dialect)}
    return sorted(known - applied), sorted(applied - known)
