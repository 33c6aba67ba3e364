"""The repository against a real SQLite file: atomic quotas, the queue, exactly-once transitions, refunds."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.songs.requests import new_secret
from bot.storage.repository import Limits, NewTask, Refusal, Repository, Task

DAY = "2026-11-21"


def new_task(n: int, *, guild: int = 1, user: int | None = None, cost: int = 1, day: str = DAY) -> NewTask:
    return NewTask(
        guild_id=guild,
        channel_id=10,
        requester_id=user if user is not None else 100 + n,
        action="generate",
        request={"action": "generate", "prompt": f"song {n}"},
        quota_day=day,
        cost=cost,
        created_at=1000.0,
        deadline_at=2200.0,
    )


def limits(
    allowance: int = 5, cap: int | None = None, running: int = 4, per_member: int = 2, queued: int = 100
) -> Limits:
    return Limits(
        daily_allowance=allowance,
        member_daily_cap=cap,
        max_running=running,
        max_running_per_member=per_member,
        max_queued=queued,
    )


async def enqueue(repo: Repository, new: NewTask, lim: Limits) -> Task:
    task = await repo.enqueue_task(new, lim)
    assert isinstance(task, Task), task
    return task


async def test_fifty_concurrent_requests_against_five(repo: Repository) -> None:
    """Exactly the allowance is charged when many commands arrive at once."""
    results = await asyncio.gather(*(repo.enqueue_task(new_task(n), limits(allowance=5)) for n in range(50)))
    assert sum(isinstance(task, Task) for task in results) == 5
    assert [r.reason for r in results if isinstance(r, Refusal)] == ["guild"] * 45
    assert await repo.quota_used(1, DAY) == 5
    assert len(await repo.tasks_in_states("queued")) == 5


async def test_member_cap_is_exact_under_contention(repo: Repository) -> None:
    results = await asyncio.gather(
        *(repo.enqueue_task(new_task(n, user=7), limits(allowance=50, cap=3)) for n in range(20))
    )
    assert sum(isinstance(task, Task) for task in results) == 3
    assert {r.reason for r in results if isinstance(r, Refusal)} == {"member"}
    assert await repo.member_used(1, 7, DAY) == 3 and await repo.quota_used(1, DAY) == 3


async def test_quota_is_per_guild_and_per_day(repo: Repository) -> None:
    assert isinstance(await repo.enqueue_task(new_task(1), limits(allowance=1)), Task)
    assert await repo.enqueue_task(new_task(2), limits(allowance=1)) == Refusal("guild")
    assert isinstance(await repo.enqueue_task(new_task(3, guild=2), limits(allowance=1)), Task)
    assert isinstance(await repo.enqueue_task(new_task(4, day="2026-11-22"), limits(allowance=1)), Task)


async def test_queue_promotes_fairly_and_refuses_when_full(repo: Repository) -> None:
    """Slots go oldest first, a member at their own limit is skipped, and a full line refuses."""
    lim = limits(allowance=100, running=2, per_member=1, queued=2)
    # As in the bot, every accepted request is followed by a promotion attempt.
    a1 = await enqueue(repo, new_task(1, user=1), lim)
    (first, secret), *_ = await repo.promote_queued(1, lim, new_secret, 1500.0)
    assert first.id == a1.id and first.state == "reserved" and secret
    assert first.deadline_at == 1500.0 + 1200.0  # waiting in line does not eat the deadline
    a2 = await enqueue(repo, new_task(2, user=1), lim)
    b1 = await enqueue(repo, new_task(3, user=2), lim)
    promoted = await repo.promote_queued(1, lim, new_secret, 1500.0)
    assert [task.id for task, _ in promoted] == [b1.id]  # a2 is older but member 1 is at their limit
    assert await repo.queue_positions(1) == {a2.id: 1}
    c1 = await enqueue(repo, new_task(4, user=3), lim)
    assert await repo.queue_positions(1) == {a2.id: 1, c1.id: 2}
    assert await repo.enqueue_task(new_task(5, user=4), lim) == Refusal("queue")
    assert await repo.quota_used(1, DAY) == 4  # the refused one charged nothing
    assert await repo.promote_queued(1, lim, new_secret, 1600.0) == []  # both slots are taken


async def test_failing_or_cancelling_refunds_once(repo: Repository) -> None:
    lim = limits(allowance=3, cap=3)
    task = await enqueue(repo, new_task(1, user=9), lim)
    failed = await repo.fail_task(task.id, "boom", 1001.0)
    assert failed is not None and failed.refunded and failed.state == "failed"
    assert await repo.fail_task(task.id, "boom again", 1002.0) is None
    other = await enqueue(repo, new_task(2, user=9), lim)
    cancelled = await repo.cancel_task(other.id, 1003.0)
    assert cancelled is not None and cancelled.state == "cancelled"
    assert await repo.cancel_task(other.id, 1004.0) is None
    assert await repo.quota_used(1, DAY) == 0 and await repo.member_used(1, 9, DAY) == 0


async def test_result_is_stored_once_and_claimed_once(repo: Repository) -> None:
    task = await enqueue(repo, new_task(1), limits())
    await repo.promote_queued(1, limits(), new_secret, 1000.2)
    await repo.mark_submitted(task.id, "api-1", 1000.5)
    stored = await asyncio.gather(*(repo.store_result(task.id, {"success": True, "n": n}, 1001.0) for n in range(5)))
    assert stored.count(True) == 1
    claims = await asyncio.gather(*(repo.claim_delivery(task.id) for _ in range(5)))
    assert sum(claim is not None for claim in claims) == 1


async def test_callback_before_submit_returns_keeps_state(repo: Repository) -> None:
    """A result that lands before the submit answer is not undone by marking it submitted."""
    task = await enqueue(repo, new_task(1), limits())
    await repo.promote_queued(1, limits(), new_secret, 1000.2)
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
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 3
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


async def test_refunds_racing_charges_from_another_process_stay_exact(
    repo: Repository, request: pytest.FixtureRequest
) -> None:
    """Charges read the counters and write them back; a refund committed in between (by another
    process: a second connection pool on PostgreSQL) must not be overwritten by that write."""
    postgres = repo.dialect == "postgres"
    other = await Repository.connect(request.getfixturevalue("postgres_url")) if postgres else repo
    try:
        lim = limits(allowance=1000, queued=1000)
        first = [await enqueue(repo, new_task(n), lim) for n in range(40)]
        results = await asyncio.gather(
            *(other.fail_task(task.id, "gone", 1500.0) for task in first),
            *(repo.enqueue_task(new_task(1000 + n), lim) for n in range(40)),
        )
        charged = [task for task in results[40:] if isinstance(task, Task)]
        assert len(charged) == 40
        # 40 refunded, 40 new: exactly the new ones are counted, for the guild and for each member.
        assert await repo.quota_used(1, DAY) == 40
        assert sum([await repo.member_used(1, 100 + n, DAY) for n in range(40)]) == 0
    finally:
        if other is not repo:
            await other.close()
