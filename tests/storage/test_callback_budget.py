"""The callback path's round trips on PostgreSQL, with asyncpg's statement cache off (as behind
PgBouncer in transaction mode): a delivery ends in one statement that also queues the auto-DMs and
says whether the guild has a line; it ends once; a promotion that finds the guild's lock taken
steps aside instead of waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.songs.requests import hash_secret, new_secret
from bot.storage.models import Preferences, SongRow, Task
from bot.storage.repository import Repository
from tests.storage.test_repository import enqueue, limits, new_task


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Repository]:
    repository = await Repository.connect(postgres_url, pool_size=3, statement_cache_size=0)
    try:
        yield repository
    finally:
        await repository.close()


async def _delivering(repo: Repository, n: int, *, running: int = 4) -> Task:
    """A task of guild 1 whose callback was stored and claimed for delivery by process A."""
    await enqueue(repo, new_task(n), limits(running=running))
    promoted = await repo.promote_queued(1, limits(running=running), new_secret, 1000.0, owner="A", ttl=60)
    assert promoted
    task, secret = next((t, s) for t, s in promoted if t.request["prompt"] == f"song {n}")
    await repo.mark_submitted(task.id, f"api-{n}", 1001.0)
    claimed = await repo.store_callback(hash_secret(secret), {"data": []}, 1002.0, f"api-{n}", owner="B", ttl=60)
    assert claimed is not None and claimed.state == "delivering"
    return claimed


def _song(task: Task, song_id: str) -> SongRow:
    return SongRow(
        id=song_id,
        task_id=task.id,
        kind="song",
        guild_id=task.guild_id,
        channel_id=task.channel_id,
        requester_id=task.requester_id,
        title="t",
        prompt="p",
        lyric="",
        duration=None,
        audio_url="https://cdn.example.com/a.mp3",
        image_url=None,
        stems_url=None,
        model=None,
        seed=None,
        parent_song_id=None,
        action="generate",
        message_id=None,
        created_at=1003.0,
    )


async def test_a_delivery_ends_once_in_one_statement_with_its_auto_dms(pg: Repository) -> None:
    """The end names the claim's epoch; the requester's auto-DMs are queued with it; a repeat (or a
    lost claim) writes nothing."""
    task = await _delivering(pg, 1)
    await pg.add_song(_song(task, "song-a"))
    await pg.add_song(_song(task, "song-b"))
    await pg.save_preferences(Preferences(user_id=task.requester_id, auto_dm=True), 1000.0)

    assert await pg.finish_delivery(task.id, task.lease_epoch - 1) is None  # a claim lost meanwhile
    finished = await pg.finish_delivery(task.id, task.lease_epoch)
    assert finished is not None and (finished.direct_messages, finished.queued) == (2, False)
    assert await pg.finish_delivery(task.id, task.lease_epoch) is None
    done = await pg.task(task.id)
    assert done is not None and (done.state, done.lease_owner) == ("delivered", None)
    steps = await pg.claim_outbox("C", 60)
    assert sorted((step.kind, step.song_id) for step in steps) == [("dm", "song-a"), ("dm", "song-b")]


async def test_the_end_of_a_delivery_says_whether_the_guild_has_a_line(pg: Repository) -> None:
    """With one slot and a second song waiting, the delivery of the first reports the line."""
    task = await _delivering(pg, 1, running=1)
    await enqueue(pg, new_task(2), limits(running=1))
    finished = await pg.finish_delivery(task.id, task.lease_epoch)
    assert finished is not None and (finished.direct_messages, finished.queued) == (0, True)


async def test_a_promotion_that_finds_the_guild_locked_steps_aside(pg: Repository, postgres_url: str) -> None:
    """While another transaction holds the guild's lock (a charge, a promotion), `wait=False`
    returns None at once and changes nothing; afterwards it promotes."""
    await enqueue(pg, new_task(1), limits())
    other = await Repository.connect(postgres_url, pool_size=1, statement_cache_size=0)
    try:
        async with other._transaction() as tx:
            await other._lock_guilds(tx, [1])
            assert await pg.promote_queued(1, limits(), new_secret, 1000.0, wait=False) is None
    finally:
        await other.close()
    promoted = await pg.promote_queued(1, limits(), new_secret, 1000.0, wait=False)
    assert promoted is not None and [task.state for task, _ in promoted] == ["reserved"]
