"""Group commit: concurrent requests written together, so a burst costs a few round trips, not one each.

Backend-neutral (it only batches calls to a coroutine); the repository uses it for charges and
callbacks, whose batches are each one transaction or one statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class GroupCommit(Generic[In, Out]):
    """Runs concurrent requests together: those arriving while a batch is written form the next.

    Under a burst this turns N round trips to the database into a handful, while a lone request
    still goes straight through. `run_batch` returns one outcome per request, in order.
    """

    def __init__(self, run_batch: Callable[[list[In]], Awaitable[list[Out]]], name: str) -> None:
        self._run_batch = run_batch
        self._name = name
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        waiter: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, waiter))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=self._name)
        return await waiter

    async def _run(self) -> None:
        """Write batches until nobody waits. A failed batch fails only its own requests: those that
        arrived meanwhile form the next batch, so no request is left waiting with no runner."""
        try:
            while self._waiting:
                batch = [entry for entry in self._waiting if not entry[1].done()]  # callers gone: skip
                self._waiting = []
                if not batch:
                    continue
                try:
                    outcomes = await self._run_batch([item for item, _ in batch])
                    if len(outcomes) != len(batch):
                        raise RuntimeError(f"{self._name} returned {len(outcomes)} outcomes for {len(batch)} requests")
                except Exception as exc:
                    for _, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                except BaseException:
                    # Cancelled (the loop is stopping): nothing here will run any of them any more.
                    error = RuntimeError(f"{self._name} was interrupted")
                    for _, waiter in [*batch, *self._waiting]:
                        if not waiter.done():
                            waiter.set_exception(error)
                    self._waiting = []
                    raise
                for (_, waiter), outcome in zip(batch, outcomes, strict=True):
                    if not waiter.done():
                        waiter.set_result(outcome)
        finally:
            self._runner = None
