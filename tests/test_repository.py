"""The repository against a real SQLite file: atomic quota, exactly-once transitions, refunds."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.storage.repository import NewTask, Repository


def new_task(n: int, *, guild: int = 1, cost: int = 1, day: str = "2026-11-21") -> NewTask:
    return NewTask(
        secret_hash=f"hash-{n}",
        guild_id=guild,
        channel_id=10,
        requester_id=100 + n,
        action="generate",
        request={"action": "generate", "prompt": f"song {n}"},
        quota_day=day,
        cost=cost,
        created_at=1000.0,
        deadline_at=2200.0,
    )


async def test_fifty_concurrent_reservations_against_five(repo: Repository) -> None:
    """Exactly the allowance is charged when many commands arrive at once."""
    results = await asyncio.gather(*(repo.reserve_task(new_task(n), daily_limit=5) for n in range(50)))
    assert sum(task is not None for task in results) == 5
    assert await repo.quota_used(1, "2026-11-21") == 5
    assert len(await repo.tasks_in_states("reserved")) == 5


async def test_quota_is_per_guild_and_per_day(repo: Repository) -> None:
    assert await repo.reserve_task(new_task(1), daily_limit=1)
    assert await repo.reserve_task(new_task(2), daily_limit=1) is None
    assert await repo.reserve_task(new_task(3, guild=2), daily_limit=1)
    assert await repo.reserve_task(new_task(4, day="2026-11-22"), daily_limit=1)


async def test_failing_refunds_once(repo: Repository) -> None:
    """A failed task gives its credit back exactly once, however often failure is reported."""
    task = await repo.reserve_task(new_task(1), daily_limit=3)
    assert task is not None
    failed = await repo.fail_task(task.id, "boom", 1001.0)
    assert failed is not None and failed.refunded and failed.state == "failed"
    assert await repo.fail_task(task.id, "boom again", 1002.0) is None
    assert await repo.quota_used(1, "2026-11-21") == 0


async def test_result_is_stored_once_and_claimed_once(repo: Repository) -> None:
    task = await repo.reserve_task(new_task(1), daily_limit=3)
    assert task is not None
    await repo.mark_submitted(task.id, "api-1", 1000.5)
    stored = await asyncio.gather(*(repo.store_result(task.id, {"success": True, "n": n}, 1001.0) for n in range(5)))
    assert stored.count(True) == 1
    claims = await asyncio.gather(*(repo.claim_delivery(task.id) for _ in range(5)))
    assert sum(claim is not None for claim in claims) == 1
    assert await repo.fail_task(task.id, "late", 1003.0) is not None  # delivering can still fail
    assert (await repo.task_by_api_id("api-1")).state == "failed"  # type: ignore[union-attr]


async def test_callback_before_submit_returns_keeps_state(repo: Repository) -> None:
    """A result that lands before the submit answer is not undone by marking it submitted."""
    task = await repo.reserve_task(new_task(1), daily_limit=3)
    assert task is not None
    assert await repo.store_result(task.id, {"success": True}, 1001.0)
    await repo.mark_submitted(task.id, "api-1", 1001.5)
    current = await repo.task(task.id)
    assert current is not None and current.state == "received" and current.api_task_id == "api-1"


async def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "db" / "bot.db"
    first = await Repository.open(path)
    await first.set_meta("k", "v")
    await first.close()
    second = await Repository.open(path)
    assert await second.get_meta("k") == "v"
    await second.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
