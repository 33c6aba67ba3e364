"""Asks `/producer/tasks` about unfinished tasks, under one request per second in total.

In polling mode (no PUBLIC_URL) this is how results arrive, and the same records carry each song's
progress for its status line. In callback mode it is the safety net: callbacks are not retried by
the API, so a task that has waited `callback_grace` seconds without one is polled too; and every
PROGRESS_READ_INTERVAL the songs someone is watching join that same batched request, for progress.
Each sweep also fails overdue tasks (with a refund) and retries deliveries that were interrupted.
The first sweep after start checks every pending task at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from bot.producer.client import BATCH_LIMIT, ProducerClient, ProducerError
from bot.service import Clock, SongService
from bot.settings import Settings

log = logging.getLogger(__name__)

MIN_REQUEST_SPACING = 1.05
"""Seconds between two `/producer/tasks` requests: the docs ask to stay under 1 request/second."""

FIRST_POLL_DELAY = 3.0
"""Polling mode: a task is not asked about in its first seconds; it cannot be done yet."""

PROGRESS_READ_INTERVAL = 10.0
"""Callback mode: how often songs someone is watching (they have a status line) are asked about, for
their progress. They join the sweep's batched request, so this adds at most one request per round."""


class TaskPoller:
    def __init__(self, settings: Settings, api: ProducerClient, service: SongService, *, clock: Clock) -> None:
        self._settings = settings
        self._api = api
        self._service = service
        self._clock = clock
        self._last_request = -float("inf")
        self._last_progress_round = -float("inf")
        self._runner: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="task-poller")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None

    def wake(self) -> None:
        """Run a sweep now instead of waiting out the interval."""
        self._wake.set()

    async def _run(self) -> None:
        first = True
        while True:
            try:
                await self.sweep(everything=first)
                first = False
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Task poller sweep failed; trying again next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.poll_interval)
            self._wake.clear()

    def _due(self, submitted_at: float | None, now: float, *, watched: bool = False) -> bool:
        if submitted_at is None:
            return False
        waited = now - submitted_at
        if self._settings.callback_mode:
            return waited >= self._settings.callback_grace or watched
        return waited >= FIRST_POLL_DELAY

    async def sweep(self, *, everything: bool = False) -> None:
        """Poll due tasks, take in finished ones, show progress, expire overdue ones, retry deliveries."""
        now = self._clock()
        progress_round = self._settings.callback_mode and now - self._last_progress_round >= PROGRESS_READ_INTERVAL
        pending = [
            task
            for task in await self._service.pending_tasks()
            if task.api_task_id
            and (
                everything
                or self._due(task.submitted_at, now, watched=progress_round and task.status_message_id is not None)
            )
        ]
        if progress_round and pending:
            self._last_progress_round = now
        by_api_id = {task.api_task_id: task for task in pending}
        ids = list(by_api_id)
        for start in range(0, len(ids), BATCH_LIMIT):
            batch = ids[start : start + BATCH_LIMIT]
            await self._space_requests()
            try:
                records = await self._api.retrieve_tasks(batch)
            except ProducerError as exc:
                log.warning("Polling %d tasks failed: %s", len(batch), exc)
                break
            for record in records:
                task = by_api_id.get(record.task_id)
                if task is not None and record.response is not None:
                    await self._service.accept_result(task.id, record.response)
                elif task is not None and record.progress is not None:
                    await self._service.note_progress(task, record.progress)
        try:
            await self._service.confirm_unconfirmed()
        except ProducerError as exc:
            log.warning("Looking up unconfirmed submissions failed: %s", exc)
        await self._service.expire_overdue()
        await self._service.retry_undelivered()

    async def _space_requests(self) -> None:
        wait = self._last_request + MIN_REQUEST_SPACING - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_request = time.monotonic()
