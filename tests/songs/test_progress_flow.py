"""Progress on the status line: the API's `progress` of a generating song, read within the polling budget."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.producer.client import PROBE_TASK_ID
from tests.harness import World, generate


def _status(interaction: object) -> str:
    original = getattr(interaction, "original", None)
    return original.content if original is not None else ""


def _tasks_requests_fit_the_budget(world: World) -> None:
    """Besides the one token check at start, every /producer/tasks request is one batch for all
    songs, and they stay ≥ 1 s apart."""
    requests = world.producer.task_requests
    probes = [body for _, body in requests if body.get("id") == PROBE_TASK_ID]
    assert len(probes) == 1
    polls = [(at, body) for at, body in requests if body.get("id") != PROBE_TASK_ID]
    assert polls and all(body["action"] == "retrieve_batch" for _, body in polls)
    times = [at for at, _ in polls]
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))


@pytest.mark.parametrize("shape", ["data", "top", "response"])
async def test_progress_0_45_100_shows_on_the_status_line_then_the_song(world: World, shape: str) -> None:
    """Polling mode: 0% → 45% → 100% appear as a bar and a percentage; a pending 100% is not the song."""
    world.producer.progress_shape = shape  # type: ignore[assignment]
    await world.start_bot(POLL_INTERVAL="1")
    world.producer.script(outcome="never")
    interaction = await generate(world, "slow christmas song")
    (task,) = await world.producer.wait_for_task_count(1)

    await world.discord.wait_for(lambda: "0% ·" in _status(interaction), timeout=15)
    assert "`░░░░░░░░░░` 0%" in _status(interaction) and "elapsed" in _status(interaction)
    assert task.task_id in _status(interaction)

    world.producer.set_progress(task.task_id, "45%")
    world.clock.advance(10)  # at most one progress edit per 10 s: move the bot's clock past it
    await world.discord.wait_for(lambda: "45%" in _status(interaction), timeout=15)
    assert "`████░░░░░░` 45% · 0:1" in _status(interaction)  # elapsed is the time since it was sent

    world.producer.set_progress(task.task_id, "100%")
    world.clock.advance(10)
    await world.discord.wait_for(lambda: "100%" in _status(interaction), timeout=15)
    assert "`██████████` 100%" in _status(interaction)
    assert world.songs_in_channel() == []  # still pending: a "100%" preview is not the finished song

    await world.producer.complete(task.task_id)
    song = await world.wait_for_song(timeout=15)
    await world.discord.wait_for(lambda: "✅" in _status(interaction), timeout=15)
    assert song.jump_url in _status(interaction) and "%" not in _status(interaction)
    _tasks_requests_fit_the_budget(world)


async def test_progress_edits_at_most_every_10_seconds(world: World) -> None:
    """A progress change read within 10 s of the last progress edit waits for the next one."""
    await world.start_bot(POLL_INTERVAL="1")
    world.producer.script(outcome="never")
    interaction = await generate(world, "patient song")
    (task,) = await world.producer.wait_for_task_count(1)
    await world.discord.wait_for(lambda: "0% ·" in _status(interaction), timeout=15)
    polled = len(world.producer.task_requests)

    world.producer.set_progress(task.task_id, "45%")
    # Two more polls see 45%, but the bot's clock has not moved 10 s: the line stays at 0%.
    await world.producer.wait_for(lambda: len(world.producer.task_requests) >= polled + 2, timeout=15)
    await world.settle()
    assert "0% ·" in _status(interaction) and "45%" not in _status(interaction)

    world.clock.advance(10)
    await world.discord.wait_for(lambda: "45%" in _status(interaction), timeout=15)


async def test_callback_mode_reads_progress_for_watched_songs_in_one_batch(world: World) -> None:
    """Callback mode: songs with a status line are asked about for progress, all in one request per round."""
    await world.start_bot(callbacks=True, POLL_INTERVAL="1", MAX_RUNNING_PER_MEMBER="3")
    interactions = []
    for n in range(3):
        world.producer.script(outcome="never")
        interactions.append(await generate(world, f"song {n}"))
    tasks = await world.producer.wait_for_task_count(3)
    for task in tasks:
        world.producer.set_progress(task.task_id, "45%")
    world.clock.advance(10)  # the next progress round
    for interaction in interactions:
        await world.discord.wait_for(lambda interaction=interaction: "45%" in _status(interaction), timeout=15)
    assert any(
        sorted(body.get("ids", [])) == sorted(task.task_id for task in tasks)
        for _, body in world.producer.task_requests
    )

    for task in tasks:
        await world.producer.complete(task.task_id)  # the callbacks bring the songs
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 3, timeout=15)
    _tasks_requests_fit_the_budget(world)


async def test_the_poller_forgets_songs_another_process_finished(world: World) -> None:
    """Issue 18, defect 9: the poller keeps each song's progress for its status line; a song another
    process ends (here: cancelled straight in the shared database) is forgotten at the next sweep,
    so a long-running poller's memory does not grow with every song the cluster makes."""
    await world.start_bot(POLL_INTERVAL="1")
    world.producer.script(outcome="never")
    interaction = await generate(world, "a song finished elsewhere")
    await world.producer.wait_for_task_count(1)
    await world.discord.wait_for(lambda: "0% ·" in _status(interaction), timeout=15)
    [task] = await world.repo.tasks_in_states("pending")
    assert task.id in world.bot.delivery.remembered_tasks()

    assert await world.repo.cancel_task(task.id, world.clock()) is not None  # another process's doing
    for _ in range(100):
        if task.id not in world.bot.delivery.remembered_tasks():
            break
        world.bot.poller.wake()
        await asyncio.sleep(0.1)
    assert task.id not in world.bot.delivery.remembered_tasks()
