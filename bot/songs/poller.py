"""Asks `/producer/tasks` about unfinished tasks, under one request per second in total.

In polling mode (no PUBLIC_URL) this is how results arrive, and the same records carry each song's
progress for its status line. In callback mode it is the safety net: callbacks are not retried by
the API, so a task that has waited `callback_grace` seconds without one is polled too; and every
PROGRESS_READ_INTERVAL the songs someone is watching join that same batched request, for progress.
Each sweep also fails overdue tasks (with a refund) and retries deliveries that were interrupted.
The first sweep after start checks every pending task at once.

The API's limit is per token, so in a cluster (SHARD_IDS set) only one process polls: the holder
of the `poller` lease, renewed every sweep; when it dies another process takes the lease once it
runs out. A process alone on its database is always the poller. Every process, poller or not,
also runs the service's housekeeping each sweep (failover, overdue tasks, delivery retries, the
queue) and renews its task leases on a heartbeat of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import TYPE_CHECKING

from bot.core.loops import Outage, stop_task
from bot.core.settings import Settings
from bot.producer.client import BATCH_LIMIT, ProducerClient, ProducerError
from bot.songs.requests import Clock
from bot.songs.service import SongService
from bot.storage.models import DatabaseUnavailable

if TYPE_CHECKING:
    from bot.storage import Repository, Task

log = logging.getLogger(__name__)

MIN_REQUEST_SPACING = 1.05
"""Seconds between two `/producer/tasks` requests: the docs ask to stay under 1 request/second."""

FIRST_POLL_DELAY = 3.0
"""Polling mode: a task is not asked about in its first seconds; it cannot be done yet."""

PROGRESS_READ_INTERVAL = 10.0
"""Callback mode: how often songs someone is watching (they have a status line) are asked about, for
their progress. They join the sweep's batched request, so this adds at most one request per round."""


POLLER_LEASE = "poller"
REQUEST_SLOT = "producer-tasks-request"
"""Taken for MIN_REQUEST_SPACING before each /producer/tasks request in a cluster."""


class TaskPoller:
    def __init__(
        self, settings: Settings, api: ProducerClient, service: SongService, repo: Repository, *, clock: Clock
    ) -> None:
        self._settings = settings
        self._api = api
        self._service = service
        self._repo = repo
        self._clock = clock
        self._last_request = -float("inf")
        self._last_progress_round = -float("inf")
        self._sweeper: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._polled = False
        self.is_poller = False
        """Whether this process held the poller lease at its last sweep."""

    @property
    def lease_seconds(self) -> float:
        """How long the poller lease lasts: a few sweeps, so one slow sweep does not lose it."""
        return max(3 * self._settings.poll_interval, self._service.leases.ttl / 2)

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._run(), name="task-poller")
            self._heart = asyncio.create_task(self._beat(), name="lease-heartbeat")

    async def stop_sweeping(self) -> None:
        """Take on no more work (the first step of stopping); the heartbeat goes on, so deliveries
        still finishing keep their leases until they are done or handed back."""
        await stop_task(self._sweeper)
        self._sweeper = None
        if self.is_poller and self._service.leases.shared:  # hand the role over now, not when the lease runs out
            with contextlib.suppress(Exception):
                await self._repo.release_lease(POLLER_LEASE, self._service.leases.owner)
            self.is_poller = False

    async def stop(self) -> None:
        """Stop sweeping and then the heartbeat (the last step: nothing of this process's is held)."""
        await self.stop_sweeping()
        await stop_task(self._heart)
        self._heart = None

    async def _beat(self) -> None:
        """Renew the leases of this process's work three times per lease lifetime."""
        outage = Outage("Renewing task leases")
        while True:
            await asyncio.sleep(self._service.leases.ttl / 3)
            try:
                await self._service.heartbeat()
                outage.over()
            except DatabaseUnavailable as exc:
                outage.seen(exc)
            except Exception:
                log.exception("Renewing task leases failed; trying again at the next beat")

    def wake(self) -> None:
        """Run a sweep now instead of waiting out the interval."""
        self._wake.set()

    async def _run(self) -> None:
        outage = Outage("The task poller")
        while True:
            interval = self._settings.poll_interval
            try:
                await self.sweep()
                outage.over()
            except DatabaseUnavailable as exc:
                interval = outage.seen(exc)
            except Exception:
                log.exception("Task poller sweep failed; trying again next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()

    async def sweep(self, *, everything: bool = False) -> None:
        """Poll due tasks if this process is the poller (all pending ones on its first poll, or with
        `everything`); then the housekeeping every process does."""
        leases = self._service.leases
        # Alone on the database this process is the poller, whatever an earlier life of it held.
        self.is_poller = not leases.shared or await self._repo.try_lease(POLLER_LEASE, leases.owner, self.lease_seconds)
        if self.is_poller:
            await self.poll(everything=everything or not self._polled)
            self._polled = True
        else:
            self._polled = False  # should the role come back, its first poll checks everything
        await self._service.housekeeping(poller=self.is_poller)

    async def poll(self, *, everything: bool = False) -> None:
        """Ask about due pending tasks (all of them with `everything`), take in finished ones, show progress."""
        now = self._clock()
        progress_round = self._settings.callback_mode and now - self._last_progress_round >= PROGRESS_READ_INTERVAL
        wait = self._settings.callback_grace if self._settings.callback_mode else FIRST_POLL_DELAY
        # Due: waited long enough (polling: its first seconds; callbacks: the grace), or watched in
        # a progress round. Selected in SQL, not by reading every pending task with its JSON.
        pending = await self._repo.pending_to_poll(
            submitted_before=None if everything else now - wait, with_status_line=progress_round
        )
        if progress_round and pending:
            self._last_progress_round = now
        by_api_id = {task.api_task_id: task for task in pending}
        # A task is asked about with the key it was made with: one batch per key (servers with
        # their own key, and everybody else on the bot's).
        by_key: dict[int | None, list[str]] = {}
        for api_id, task in by_api_id.items():
            by_key.setdefault(await self._api.key_holder(task.guild_id), []).append(api_id)
        batches = [
            (holder, ids[start : start + BATCH_LIMIT])
            for holder, ids in by_key.items()
            for start in range(0, len(ids), BATCH_LIMIT)
        ]
        for holder, batch in batches:
            await self._space_requests()
            try:
                records = await self._api.retrieve_tasks(batch, guild_id=holder)
            except ProducerError as exc:
                log.warning("Polling %d tasks failed: %s", len(batch), exc)
                if exc.server_guild is not None:
                    continue  # one server's key: the others are still asked
                break
            progress: list[tuple[Task, int]] = []
            for record in records:
                task = by_api_id.get(record.task_id)
                if task is not None and record.response is not None:
                    await self._service.accept_result(task.id, record.response)
                elif task is not None and record.progress is not None:
                    progress.append((task, record.progress))
            await self._service.note_progress_many(progress)
        try:
            await self._service.confirm_unconfirmed()
        except ProducerError as exc:
            log.warning("Looking up unconfirmed submissions failed: %s", exc)

    async def _space_requests(self) -> None:
        """Wait for this request's turn: MIN_REQUEST_SPACING after the previous one, cluster-wide.

        The poller lease makes one process the poller, but the role can move (a holder too slow to
        renew it); so in a cluster each request also takes a slot in the database that lasts the
        spacing, under a name used once, as identify slots do. Alone, memory is enough."""
        wait = self._last_request + MIN_REQUEST_SPACING - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if self._service.leases.shared:
            once = f"{self._service.leases.owner}:{secrets.token_hex(4)}"
            while not await self._repo.try_lease(REQUEST_SLOT, once, MIN_REQUEST_SPACING):  # noqa: ASYNC110 - another process holds it
                await asyncio.sleep(0.1)
        self._last_request = time.monotonic()
