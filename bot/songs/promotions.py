"""Starting the songs waiting in a guild's line when a slot frees: promote, then submit.

Mixed into `SongService` (the half of it between a slot freeing and the promoted songs being
sent to the API). Promotions are one transaction under the guild's lock, so the slot count stays
exact across processes; the ones that follow deliveries do not queue for that lock (see `_promote`),
so a burst of callbacks for one guild costs one promotion at a time, not a line of transactions.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.cluster.leases import Leases
from bot.core.errors import ApiRejected
from bot.songs.requests import Clock, new_secret
from bot.storage.models import DatabaseUnavailable
from bot.storage.repository import Limits, Repository, Task

if TYPE_CHECKING:
    from bot.songs.delivery import Delivery

log = logging.getLogger(__name__)

PUMP_CONCURRENCY = 4
"""Guild queues started at once after a restart (each submits its own songs one by one)."""
PROMOTION_RETRY = 0.05
"""Seconds before trying again to promote a guild's line that another process is promoting."""
PROMOTION_TRIES = 40


class Promotions:
    """Mixed into `SongService`; not used alone. Relies on the service's `_repo`, `_delivery`,
    `_clock` and `leases`, and on its `limits` and `submit`."""

    _repo: Repository
    _delivery: Delivery
    _clock: Clock
    leases: Leases
    _promoting: set[int]
    _promote_again: set[int]

    if TYPE_CHECKING:

        async def limits(self, guild_id: int) -> Limits: ...

        async def submit(self, task: Task, secret: str) -> Task: ...

    async def pump(
        self,
        guild_id: int | None = None,
        *,
        raise_for: int | None = None,
        refresh: bool = True,
        queued: bool | None = None,
    ) -> None:
        """Move waiting tasks into free slots, submit them, and refresh the places in line (with
        `refresh=False`, only when a task left the line: the periodic sweep's form).

        Without a guild (at start), every guild's line is pumped, `PUMP_CONCURRENCY` at a time:
        one slow submission does not hold up the other servers, and the API is not flooded.
        `queued` is whether the guild's line has songs, when the caller already knows.
        """
        if guild_id is None:
            gate = asyncio.Semaphore(PUMP_CONCURRENCY)

            async def pump_one(guild: int) -> None:
                async with gate:
                    try:
                        await self.pump(guild, refresh=refresh)
                    except Exception:
                        log.exception("Starting the queue of guild %d failed; it moves on with the next song", guild)

            await asyncio.gather(*(pump_one(guild) for guild in await self._repo.guilds_with_queue()))
            return
        await self._pump_guild(guild_id, raise_for=raise_for, refresh=refresh, queued=queued)

    async def _pump_guild(
        self, guild: int, *, raise_for: int | None, refresh: bool = True, queued: bool | None = None
    ) -> None:
        if queued is None:
            queued = await self._repo.has_queued(guild)
        if not queued:
            return  # nothing waits: no promotion transaction, no guild lock, no places in line to refresh
        promoted = await self._promote(guild, wait=raise_for is not None)
        if promoted is None:
            return  # another coroutine of this process is promoting this guild and goes round again
        refused: ApiRejected | None = None
        for task, secret in promoted:
            try:
                await self.submit(task, secret)
            except ApiRejected as exc:
                if task.id == raise_for:
                    refused = exc  # the rest of the batch is still sent; the caller hears after
                    continue
                failed = await self._repo.task(task.id)
                if failed is not None:
                    await self._delivery.notify_failure(failed)
            except DatabaseUnavailable as exc:
                # Its claim runs out and the poller's sweep looks it up at the API: never sent twice.
                log.warning("Task %d: submission interrupted (%s); the next sweep finishes it", task.id, exc)
            except Exception:
                # A bug must not abandon the rest of the batch (they would wait for their deadline).
                log.exception("Task %d: submission failed; the next sweep finishes it", task.id)
        if not refresh and not promoted:
            return
        for waiting in await self._repo.queue_positions(guild):
            if waiting != raise_for:
                await self._delivery.update_status(waiting)
        if refused is not None:
            raise refused

    async def _promote(self, guild: int, *, wait: bool) -> list[tuple[Task, str]] | None:
        """Promote the guild's waiting songs into its free slots, one promotion per guild at a time.

        A member's own command (`wait`) takes the guild's lock in turn. The promotions that follow
        deliveries do not queue for it: in this process, a delivery finding a promotion of its guild
        under way asks it to go round once more (and returns None); across processes, the lock is
        only tried, and a process that finds it taken tries again a moment later, after the holder
        committed, rather than every callback's transaction waiting on one guild's lock.
        """
        if not wait:
            if guild in self._promoting:
                self._promote_again.add(guild)
                return None
            self._promoting.add(guild)
        promoted: list[tuple[Task, str]] = []
        try:
            tries = 0
            while True:
                self._promote_again.discard(guild)
                batch = await self._repo.promote_queued(
                    guild,
                    await self.limits(guild),
                    new_secret,
                    self._clock(),
                    owner=self.leases.owner,
                    ttl=self.leases.ttl,
                    wait=wait,
                )
                if batch is None:  # another process is promoting (or charging) this guild right now
                    tries += 1
                    if tries >= PROMOTION_TRIES:
                        break  # the periodic sweep (`housekeeping`) starts what is left
                    await asyncio.sleep(PROMOTION_RETRY)
                    continue
                promoted += batch
                if guild not in self._promote_again:
                    break
        finally:
            if not wait:
                self._promoting.discard(guild)
        return promoted
