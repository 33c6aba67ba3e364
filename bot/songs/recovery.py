"""Finishing what a stopped process left half done, and the sweep every process runs.

Every state change goes through the repository first, so a crash at any point leaves a row that
can be finished: at the next start by the same process (`release_interrupted`, `recover`), or in a
cluster by whichever process sweeps once the dead one's lease has run out (`housekeeping`). The
sweep also fails overdue tasks with a refund and retries deliveries whose backoff is over.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from bot.cluster.leases import Claims, Leases
from bot.core.errors import Phrase
from bot.core.settings import Settings
from bot.producer.client import ProducerClient, ProducerError
from bot.producer.lookup import Unconfirmed, find_submissions
from bot.producer.models import TaskRecord
from bot.songs.requests import Clock
from bot.storage.repository import Repository, Task

if TYPE_CHECKING:
    from bot.songs.delivery import Delivery

log = logging.getLogger(__name__)


class Recovery:
    """The restart and housekeeping half of `SongService`, which inherits it; not used alone.

    Relies on the service's state: `_settings`, `_repo`, `_api`, `_delivery`, `_clock` and `leases`;
    and on its transitions `_fail`, `_spawn`, `deliver`, `_deliver_claimed`, `accept_result` and
    `pump` (declared here for readers and type checkers, defined by `SongService`).
    """

    _settings: Settings
    _repo: Repository
    _api: ProducerClient
    _delivery: Delivery
    _clock: Clock
    leases: Leases
    claims: Claims

    if TYPE_CHECKING:

        async def _fail(
            self,
            task: Task,
            reason: str | Phrase,
            *,
            waiting_in: tuple[str, ...] | None = None,
            epoch: int | None = None,
        ) -> bool: ...

        def _spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None: ...

        async def deliver(self, task_id: int) -> None: ...

        async def _deliver_claimed(self, task: Task) -> None: ...

        async def accept_result(self, task_id: int, response: dict[str, Any]) -> bool: ...

        async def pump(
            self, guild_id: int | None = None, *, raise_for: int | None = None, refresh: bool = True
        ) -> None: ...

    async def expire_overdue(self) -> int:
        """Fail, with a refund, every task that has had no result by its deadline."""
        expired = 0
        for task in await self._repo.tasks_past_deadline(self._clock(), ("reserved", "pending")):
            minutes = round(self._settings.task_timeout / 60)
            message = Phrase(
                "no result from the music service after {minutes} minutes. Your credit was refunded.", minutes=minutes
            )
            # Only if still waiting: a result that came in meanwhile is delivered, not refunded.
            expired += await self._fail(task, message, waiting_in=("reserved", "pending"))
        return expired

    async def release_interrupted(self) -> None:
        """At start, before callbacks can arrive: deliveries a previous run was in the middle of go
        back in line (a database update only, so it never waits on the API or Discord).

        Only alone on the database: then everything half done was this process's own before it
        stopped. In a cluster, work another process holds is left to its lease: `housekeeping` takes
        it over when the lease runs out, whichever process's life it was."""
        if self.leases.shared:
            return
        for task in await self._repo.tasks_in_states("delivering"):
            await self._repo.release_delivery(task.id)
        await self._repo.release_outbox_claims()  # follow-up steps it was doing

    async def recover(self) -> None:
        """After start, in the background: finish what a previous run left half done.

        Runs while the bot is already online and the listener open (see `MusicBot.setup_hook`),
        so a slow API delays only these tasks, never the bot. In a cluster unconfirmed submissions
        are left to their leases (see `release_interrupted`).
        """
        if not self.leases.shared:
            await self.resolve_unconfirmed(await self._repo.tasks_in_states("reserved"))
        await self.retry_undelivered()
        await self.pump()  # the line survives restarts: start whatever now fits

    async def housekeeping(self, *, poller: bool) -> None:
        """What every process does each sweep, so the cluster needs no process in particular.

        Deliveries whose process died (lease run out) are taken over and finished; overdue tasks
        fail with a refund; failed deliveries are retried once their backoff is over; and guilds'
        lines move into slots freed anywhere. Only the poller (one process at a time) takes over
        unconfirmed submissions, since finding them asks `/producer/tasks`, whose limit is per token.
        Every step is a conditional update, so processes sweeping at once never do a thing twice.
        """
        for task in await self._repo.claim_expired_tasks(self.leases.owner, self.leases.ttl, None, ("delivering",)):
            log.warning("Task %d: its delivery's process stopped renewing it; delivering it here", task.id)
            self._spawn(self._deliver_claimed(task), name=f"deliver-{task.id}")
        if poller:
            orphans = await self._repo.claim_expired_tasks(self.leases.owner, self.leases.ttl, None, ("reserved",))
            if orphans:
                log.warning("Taking over %d submission(s) whose process stopped", len(orphans))
                await self.resolve_unconfirmed(orphans)
        await self.expire_overdue()
        await self.retry_undelivered()
        await self.pump(refresh=False)
        if self._delivery.remembered_tasks():
            self._delivery.forget_ended(set(await self._repo.open_task_ids()))

    async def heartbeat(self) -> int:
        """Renew the leases of the work this process is doing right now; how many it holds.

        Only those (`claims`): a task whose delivery or hand-back failed, or whose submission was
        abandoned, is not renewed, so its lease runs out and the next sweep (here or anywhere)
        finishes it. A claim found lost here was taken over while this process stalled; the work
        under it stops at its next check (`confirm_claim`) and its final write is refused anyway.
        """
        held = self.claims.held()
        renewed = await self._repo.renew_task_leases(self.leases.owner, self.leases.ttl, task_ids=list(held))
        for task_id, epoch in held.items():
            if renewed.get(task_id) != epoch:
                log.warning("Task %d: this process's claim on it ran out and was taken over elsewhere", task_id)
                self.claims.drop(task_id, epoch)  # said once; the work stops at its next check
        return len(renewed)

    async def resolve_unconfirmed(self, reserved: list[Task]) -> None:
        """Charged, maybe sent, but the API's answer was never recorded (the process stopped).

        Look them up among the API's recent tasks (see `bot.producer.lookup`), never send them
        again: one found is linked and carries on (its result is taken in at once if finished); one
        the API does not have is failed with a refund, as is every one when the lookup itself
        fails. A callback for a task failed here comes too late: it is acknowledged and ignored.
        """
        if not reserved:
            return
        for task in reserved:
            self.claims.hold(task.id, task.lease_epoch)
        try:
            await self._resolve_held(reserved)
        finally:
            for task in reserved:
                self.claims.drop(task.id, task.lease_epoch)

    async def _look_up(self, tasks: list[Task]) -> dict[int, TaskRecord]:
        """`find_submissions` once per key that served these tasks' servers (the API lists only the
        asking token's tasks); raises `ProducerError` when a list cannot be read."""
        by_key: dict[int | None, list[Task]] = {}
        for task in tasks:
            by_key.setdefault(await self._api.key_holder(task.guild_id), []).append(task)
        hashes = await self._repo.secret_hashes(task.id for task in tasks)
        found: dict[int, TaskRecord] = {}
        for holder, group in by_key.items():
            wanted = [Unconfirmed(task.id, task.request, hashes.get(task.id), task.created_at) for task in group]
            found.update(await find_submissions(self._api, wanted, is_taken=self._repo.has_api_task, guild_id=holder))
        return found

    async def _resolve_held(self, reserved: list[Task]) -> None:
        found: dict[int, TaskRecord] | None
        try:
            found = await self._look_up(reserved)
        except ProducerError as exc:
            log.warning("Cannot look up %d unconfirmed submission(s) (%s); refunding them", len(reserved), exc.code)
            found = None
        for task in reserved:
            record = (found or {}).get(task.id)
            if record is None:
                message = (
                    Phrase(
                        "the bot restarted while sending your request, and the music service has no record of it. "
                        "Your credit was refunded."
                    )
                    if found is not None
                    else Phrase(
                        "the bot restarted while sending your request and could not confirm it arrived. "
                        "Your credit was refunded."
                    )
                )
                await self._fail(task, message, waiting_in=("reserved",))
                continue
            log.warning("Task %d: found among the API's tasks after a restart, as %s", task.id, record.task_id)
            await self._repo.mark_submitted(task.id, record.task_id, self._clock())
            if record.response is not None:
                await self.accept_result(task.id, record.response)
            await self._repo.release_task_lease(task.id, self.leases.owner, task.lease_epoch)
            await self._delivery.update_status(task.id)

    async def retry_undelivered(self) -> None:
        """Deliver received tasks again, each once its backoff after a failed attempt is over."""
        for task in await self._repo.deliveries_due():
            self._spawn(self.deliver(task.id), name=f"deliver-{task.id}")

    async def confirm_unconfirmed(self) -> None:
        """Look up waiting tasks whose submission was never confirmed (no API task id): one found
        gets its id, so it is polled like the rest (and its result taken in if finished)."""
        waiting = await self._repo.pending_unconfirmed()
        if not waiting:
            return
        found = await self._look_up(waiting)
        for task in waiting:
            record = found.get(task.id)
            if record is None:
                continue
            log.warning("Task %d: found among the API's tasks, as %s", task.id, record.task_id)
            await self._repo.mark_submitted(task.id, record.task_id, task.submitted_at or self._clock())
            if record.response is not None:
                await self.accept_result(task.id, record.response)
