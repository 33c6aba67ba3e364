"""What several processes of the bot agree on through the database: who may IDENTIFY, and when.

Discord lets a bot token start `max_concurrency` gateway sessions per 5 seconds, bucketed by
`shard_id % max_concurrency`; a session started early is refused and costs one of the 1,000
session starts a day. discord.py only spaces the shards of one process, so a cluster asks the
database instead: a slot named `identify:<bucket>` is a lease that lasts exactly the 5-second
window and is never released early. Whoever takes it may IDENTIFY; everyone else in the bucket
waits until it expires. Leases expire on their own, so a process that dies holding one blocks
nobody for longer than the window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.core.loops import Outage
from bot.storage.models import DatabaseUnavailable

log = logging.getLogger(__name__)

IDENTIFY_WINDOW = 5.0
"""Seconds per IDENTIFY per bucket (Discord's gateway docs)."""
IDENTIFY_RETRY = 0.25
"""Seconds between two looks at a taken identify slot."""
OUTAGE_BACKOFF_MAX = 5.0
"""Longest wait between two attempts while the database cannot be reached."""

TakeSlot = Callable[[str, float], Awaitable[bool]]
"""Take the named slot for that many seconds if nobody holds it; True when taken."""


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives a guild's gateway events (Discord's formula)."""
    return (guild_id >> 22) % shard_count


class LocalSlots:
    """Slots held in this process's memory: what one process without a shared database needs."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def take(self, name: str, seconds: float) -> bool:
        now = time.monotonic()
        if self._until.get(name, 0.0) > now:
            return False
        self._until[name] = now + seconds
        return True


class IdentifyGate:
    """Waits until this process may IDENTIFY a shard, cluster-wide.

    `max_concurrency` is read once from `GET /gateway/bot` (1 for ordinary bots) when the first
    shard identifies; should that fail, 1 is assumed, which is never wrong, only slower.
    """

    def __init__(self, take_slot: TakeSlot, max_concurrency: Callable[[], Awaitable[int]]) -> None:
        self._take_slot = take_slot
        self._read_max_concurrency = max_concurrency
        self._max_concurrency: int | None = None

    async def concurrency(self) -> int:
        if self._max_concurrency is None:
            try:
                self._max_concurrency = max(1, await self._read_max_concurrency())
            except Exception as exc:  # any failure here only costs speed
                log.warning("Could not read max_concurrency from /gateway/bot (%s); assuming 1", type(exc).__name__)
                self._max_concurrency = 1
        return self._max_concurrency

    async def wait(self, shard_id: int) -> None:
        bucket = shard_id % await self.concurrency()
        waited = time.monotonic()
        while not await self._try_take(f"identify:{bucket}", shard_id):  # noqa: ASYNC110 - another process frees it
            await asyncio.sleep(IDENTIFY_RETRY)
        waited = time.monotonic() - waited
        if waited >= IDENTIFY_RETRY:
            log.info("Shard %d waited %.1f s for its identify slot (bucket %d)", shard_id, waited, bucket)

    async def _try_take(self, name: str, shard_id: int) -> bool:
        """Take the slot, riding out a database that cannot be reached: discord.py treats any error
        raised before IDENTIFY as fatal and would end the process, so an outage only delays the
        shard (one warning, then retries with back-off up to `OUTAGE_BACKOFF_MAX`)."""
        outage = Outage(f"Shard {shard_id}'s identify slot", first=IDENTIFY_RETRY, cap=OUTAGE_BACKOFF_MAX)
        while True:
            try:
                taken = await self._take_slot(name, IDENTIFY_WINDOW)
            except DatabaseUnavailable as exc:
                await asyncio.sleep(outage.seen(exc))
                continue
            outage.over()
            return taken
