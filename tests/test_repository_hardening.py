"""Repository behaviour behind issue 10 (queue room, jams per channel, pruning), on every backend."""

from __future__ import annotations

import asyncio

from bot.storage.repository import Refusal, Repository, Task
from tests.test_repository import limits, new_task


async def test_a_burst_counts_only_songs_that_will_wait(repo: Repository) -> None:
    """30 at once against 4 free slots and a 20-place line: 4 run, 20 wait, 6 are refused."""
    results = await asyncio.gather(
        *(repo.enqueue_task(new_task(n), limits(allowance=100, running=4, queued=20)) for n in range(30))
    )
    assert sum(isinstance(result, Task) for result in results) == 24
    assert [r.reason for r in results if isinstance(r, Refusal)] == ["queue"] * 6


async def test_one_by_one_the_songs_about_to_run_are_not_the_line(repo: Repository) -> None:
    """Charged one at a time (each its own transaction), tasks still `queued` for a free slot do not fill the line."""
    accepted = 0
    for n in range(30):
        accepted += isinstance(await repo.enqueue_task(new_task(n), limits(allowance=100, running=4, queued=20)), Task)
    assert accepted == 24
