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


async def test_a_finished_jams_channel_hosts_the_next_jam(repo: Repository) -> None:
    """One jam at a time per channel: refused while open, allowed once finished (the old one ends)."""
    fields = {"guild_id": 1, "channel_id": 50, "starter_id": 7, "style": "", "model": "FUZZ-2.0", "at": 1.0}
    first = await repo.create_jam(theme="first", **fields)
    assert first is not None
    assert await repo.create_jam(theme="too soon", **fields) is None
    assert await repo.finish_jam(first.id)
    second = await repo.create_jam(theme="second", **fields)
    assert second is not None and second.id != first.id
    current = await repo.jam_in_channel(50)
    assert current is not None and current.id == second.id
    ended = await repo.jam(first.id)
    assert ended is not None and ended.state == "ended"


async def test_a_discarded_jam_frees_its_channel(repo: Repository) -> None:
    fields = {"guild_id": 1, "channel_id": 51, "starter_id": 7, "style": "", "model": "FUZZ-2.0", "at": 1.0}
    orphan = await repo.create_jam(theme="orphan", **fields)
    assert orphan is not None
    await repo.discard_jam(orphan.id)
    assert await repo.jam(orphan.id) is None and await repo.jam_in_channel(51) is None
    assert await repo.create_jam(theme="next", **fields) is not None
