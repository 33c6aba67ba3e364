"""GroupCommit under failure: a failed batch fails only its own requests, and those that arrived
meanwhile are still written (issue 18, defect 3: they used to wait with no runner)."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage.group_commit import GroupCommit


async def test_requests_arriving_during_a_failed_batch_are_still_run() -> None:
    first_started = asyncio.Event()
    release_first = asyncio.Event()
    batches: list[list[str]] = []

    async def run_batch(items: list[str]) -> list[str]:
        batches.append(items)
        if items == ["first"]:
            first_started.set()
            await release_first.wait()
            raise ConnectionError("the database went away")
        return [f"{item} written" for item in items]

    group: GroupCommit[str, str] = GroupCommit(run_batch, "test-group")
    first = asyncio.create_task(group.submit("first"))
    await first_started.wait()
    second = asyncio.create_task(group.submit("second"))
    third = asyncio.create_task(group.submit("third"))
    await asyncio.sleep(0)
    release_first.set()

    with pytest.raises(ConnectionError):
        await first
    # The member behind "second" is not left at "thinking…" until unrelated traffic comes along.
    assert await asyncio.wait_for(second, 2) == "second written"
    assert await asyncio.wait_for(third, 2) == "third written"
    assert batches == [["first"], ["second", "third"]]


async def test_a_failed_batch_leaves_the_group_usable() -> None:
    calls = 0

    async def run_batch(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("connection reset")
        return [item * 2 for item in items]

    group: GroupCommit[int, int] = GroupCommit(run_batch, "test-group")
    with pytest.raises(OSError):
        await group.submit(1)
    assert await asyncio.wait_for(group.submit(2), 2) == 4


async def test_cancelling_the_runner_fails_every_waiting_request() -> None:
    started = asyncio.Event()

    async def run_batch(items: list[int]) -> list[int]:
        started.set()
        await asyncio.sleep(3600)
        return items

    group: GroupCommit[int, int] = GroupCommit(run_batch, "test-group")
    first = asyncio.create_task(group.submit(1))
    await started.wait()
    second = asyncio.create_task(group.submit(2))
    await asyncio.sleep(0)
    assert group._runner is not None
    group._runner.cancel()
    for waiter in (first, second):
        with pytest.raises(RuntimeError, match="interrupted"):
            await asyncio.wait_for(waiter, 2)
