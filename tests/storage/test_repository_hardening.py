"""Repository behaviour behind issue 10 (queue room, jams per channel, pruning), on every backend."""

from __future__ import annotations

import asyncio

from bot.songs.requests import new_secret
from bot.storage.repository import Refusal, Repository, Task
from tests.rows import song_row
from tests.storage.test_repository import limits, new_task


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


async def test_pruning_keeps_songs_and_work_in_progress(repo: Repository) -> None:
    """Ended tasks past the cutoff lose their request/result JSON; running ones and recent ones keep theirs;
    usage rows of days before the cutoff go."""
    old = await repo.enqueue_task(new_task(1, day="2026-01-01"), limits(allowance=10))
    recent = await repo.enqueue_task(new_task(2, day="2026-03-01"), limits(allowance=10))
    running = await repo.enqueue_task(new_task(3, day="2026-01-01"), limits(allowance=10))
    assert isinstance(old, Task) and isinstance(recent, Task) and isinstance(running, Task)
    await repo.promote_queued(1, limits(allowance=10), new_secret, 900.0)
    for task, finished in ((old, 1000.0), (recent, 5000.0)):
        assert await repo.store_result(task.id, {"data": [{"audio_url": "https://cdn.example/a.mp3"}]}, finished)
        assert await repo.claim_delivery(task.id) is not None
        await repo.mark_delivered(task.id)
    cleared, usage = await repo.prune(2000.0, "2026-02-01")
    assert cleared == 1 and usage == 3  # the old day's guild row and its two members' rows
    pruned = await repo.task(old.id)
    kept = await repo.task(recent.id)
    waiting = await repo.task(running.id)
    assert pruned is not None and pruned.request == {} and pruned.result is None
    assert kept is not None and kept.request and kept.result is not None
    assert waiting is not None and waiting.request
    assert await repo.quota_used(1, "2026-01-01") == 0 and await repo.quota_used(1, "2026-03-01") == 1
    assert await repo.prune(2000.0, "2026-02-01") == (0, 0)


async def test_the_library_narrows_to_visible_channels(repo: Repository) -> None:
    """Searching and counting with `channel_ids` returns only songs made in those channels."""
    for n, channel in enumerate((70, 71, 71)):
        await repo.add_song(
            song_row(
                f"song-{n}", channel_id=channel, requester_id=7, title=f"Song {n}", duration=60.0, created_at=float(n)
            )
        )
    assert sorted(await repo.song_channels(1)) == [70, 71]
    assert [s.id for s in await repo.search_songs(1, channel_ids=[70])] == ["song-0"]
    assert await repo.count_songs(1, channel_ids=[71]) == 2
    assert await repo.count_songs(1, channel_ids=[]) == 0
    assert await repo.count_songs(1) == 3
