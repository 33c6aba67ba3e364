"""Delivering a task under its claim: post its songs, record the delivery, queue what follows.

The half of `SongService` between a result being claimed for delivery (a callback, a poll, a
takeover) and the task being `delivered`. Every write that ends the claimed work names the epoch it
was claimed under, and each post is preceded by a check that the claim still stands, so a process
that stalled past its lease while another took the task over posts and writes nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from bot.cluster.leases import ClaimLost, Claims, Leases
from bot.core.errors import Phrase
from bot.core.metrics import Metrics
from bot.producer.models import MalformedResult, parse_result
from bot.songs.follow_ups import FollowUps, steps_after_delivery
from bot.songs.requests import Clock
from bot.storage.models import DatabaseUnavailable
from bot.storage.repository import Repository, Task

if TYPE_CHECKING:
    from bot.songs.delivery import Delivery

log = logging.getLogger(__name__)


class Delivering:
    """Mixed into `SongService`; not used alone. Relies on the service's `_repo`, `_delivery`,
    `_metrics`, `_clock`, `leases`, `claims`, `follow_ups` and `auto_dm`, and on its `_fail`,
    `_spawn` and `pump` (declared here for readers and type checkers)."""

    _repo: Repository
    _delivery: Delivery
    _metrics: Metrics
    _clock: Clock
    leases: Leases
    claims: Claims
    follow_ups: FollowUps
    auto_dm: Callable[[int], Awaitable[bool]]

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

        async def pump(
            self,
            guild_id: int | None = None,
            *,
            raise_for: int | None = None,
            refresh: bool = True,
            queued: bool | None = None,
        ) -> None: ...

    async def _deliver_claimed(self, task: Task) -> None:
        """Deliver a task claimed under `task.lease_epoch`; every write that ends it names that epoch."""
        self.claims.hold(task.id, task.lease_epoch)
        try:
            await self._deliver_held(task)
        except DatabaseUnavailable as exc:
            # Nothing half-written: the claim runs out and the next sweep finishes the delivery
            # (a song already posted is found in the channel, so it is not posted twice).
            log.warning(
                "Delivery of task %d was interrupted (%s); it is finished once the database is back", task.id, exc
            )
        finally:
            self.claims.drop(task.id, task.lease_epoch)

    async def _deliver_held(self, task: Task) -> None:
        try:
            result = parse_result(task.result)
        except MalformedResult:
            result = None
        if result is None or not result.deliverable:
            reason = (result.error_message if result else None) or Phrase("the music service reported a failure")
            failure = Phrase("the song could not be made ({reason}). Your credit was refunded.", reason=reason)
            await self._fail(task, failure, epoch=task.lease_epoch)
            return
        try:
            await self._delivery.post_songs(task, result.deliverable, still_mine=lambda: self._still_mine(task))
        except ClaimLost:
            log.warning("Task %d: another process took its delivery over; leaving it to that process", task.id)
            return
        except asyncio.CancelledError:
            # Stopping: hand it back at once rather than when the lease runs out. A song already
            # posted is found in the channel by whoever delivers it next, so it is not posted twice.
            with contextlib.suppress(Exception):
                await self._repo.release_delivery(task.id, epoch=task.lease_epoch)
            raise
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            # Transient (Discord 5xx, network): permanent refusals are handled inside post_songs.
            # The next attempt's time is stored with the task, so whichever process retries waits it out.
            delay = self._delivery.retry_delay(task)
            fault = self._delivery.describe_fault(exc)
            if fault is not None:  # expected now and then: one line, no traceback
                log.warning("Delivery of task %d failed (%s); it will be retried in %g s", task.id, fault, delay)
            else:
                log.exception("Delivery of task %d failed; it will be retried in %g s", task.id, delay)
            await self._repo.release_delivery(task.id, epoch=task.lease_epoch, retry_in=delay)
            return
        # The status line first: should the process stop right after the delivery is recorded, the
        # line is true already (and should it stop before, the next delivery finds the songs posted).
        await self._delivery.update_status(task.id, as_delivered=True)
        recorded = await self._record_delivery(task)
        if recorded is None:
            log.warning("Task %d: another process took its delivery over; leaving the rest to it", task.id)
            return
        follow_ups, queued = recorded
        self._metrics.labelled(self._metrics.songs_delivered, task.action).inc()
        if task.finished_at is not None:
            self._metrics.delivery_latency.observe(max(0.0, self._clock() - task.finished_at))
        if follow_ups:
            self.follow_ups.wake()
        if queued is not False:  # a slot freed: start the next song in line, if one waits
            self._spawn(self.pump(task.guild_id, queued=queued), name=f"pump-{task.guild_id}")

    async def _record_delivery(self, task: Task) -> tuple[bool, bool | None] | None:
        """End the delivery under its claim and queue what follows it: (follow-up steps queued,
        whether the guild has songs in line, None when not asked), or None when the claim was lost.

        On PostgreSQL a delivery with no song feed or jam step to queue ends in one statement that
        also queues the auto-DMs and asks about the line (`Repository.finish_delivery`): the
        callback path's round trips are what a cluster's shared database spends most on.
        """
        if self._repo.finishes_in_one and task.jam_id is None:
            feed = (await self._repo.guild_settings(task.guild_id)).feed_channel_id  # cached
            if not feed or feed == task.channel_id:
                finished = await self._repo.finish_delivery(task.id, task.lease_epoch)
                return None if finished is None else (finished.direct_messages > 0, finished.queued)
        steps, jam_song = await steps_after_delivery(self._repo, task, auto_dm=self.auto_dm)
        if not await self._repo.mark_delivered(task.id, task.lease_epoch, follow_ups=steps, jam_song=jam_song):
            return None
        return bool(steps), None

    async def _auto_dm(self, user_id: int) -> bool:
        return (await self._repo.preferences(user_id)).auto_dm

    async def _still_mine(self, task: Task) -> bool:
        """Whether this process still holds the delivery it claimed (renewing it as it asks)."""
        return await self._repo.confirm_claim(task.id, task.lease_epoch, self.leases.ttl, ("delivering",))
