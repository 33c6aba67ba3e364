"""A cancelled SQLite transaction leaves the shared connection usable (issue 18, defect 8).

aiosqlite runs each statement on its own thread: cancelling the coroutine that awaits `BEGIN
IMMEDIATE`, a statement or `COMMIT` does not stop the statement. The connection used to be left
inside an open transaction: every later transaction failed ("cannot start a transaction within a
transaction") and later single writes were never committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.storage.sqlite import SqliteDatabase


async def _cancel_after(database: SqliteDatabase, steps: int, *, statements: int) -> None:
    async def work() -> None:
        async with database.transaction() as tx:
            for n in range(statements):
                await tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)", (f"cancelled-{statements}-{steps}-{n}", "x")
                )

    task = asyncio.create_task(work())
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _committed(path: Path, key: str) -> bool:
    """Read from a second connection: only what was committed is there."""
    with sqlite3.connect(path) as other:
        return other.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone() is not None


async def test_cancelling_at_any_point_of_a_transaction_leaves_the_connection_usable(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    database = await SqliteDatabase.open(path)
    try:
        # Every cancellation point from before BEGIN to after COMMIT, with one or three statements.
        for statements in (1, 3):
            for steps in range(12):
                await _cancel_after(database, steps, statements=statements)
                key = f"after-{statements}-{steps}"
                async with database.transaction() as tx:
                    await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, "y"))
                assert _committed(path, key), f"a transaction after a cancellation at step {steps} was not committed"
                single = f"single-{statements}-{steps}"
                await database.write("INSERT INTO meta (key, value) VALUES (?, ?)", (single, "z"))
                assert _committed(path, single), f"a single write after a cancellation at step {steps} was lost"
        # A cancelled transaction is all or nothing: never half of its three rows.
        with sqlite3.connect(path) as other:
            for statements in (1, 3):
                for steps in range(12):
                    pattern = f"cancelled-{statements}-{steps}-%"
                    rows = other.execute("SELECT COUNT(*) FROM meta WHERE key LIKE ?", (pattern,))
                    assert rows.fetchone()[0] in (0, statements)
    finally:
        await database.close()
