"""Pruning: what only served delivering a song is forgotten after `RETENTION_DAYS`.

Songs and their lineage are kept for good (the library, `/song info`, buttons on old songs). What
goes: the request and result JSON of tasks that ended more than `RETENTION_DAYS` ago (a finished
result is kilobytes of URLs and lyrics already copied into the song rows), and the daily usage
counters of days that long past (quotas only ever read today's). It runs in the background, once
shortly after start and then every `PRUNE_INTERVAL` seconds.
"""

from __future__ import annotations

import asyncio
import logging

from bot.core.loops import Outage, stop_task
from bot.songs.quota import utc_day
from bot.songs.requests import Clock
from bot.storage import DatabaseUnavailable, Repository

log = logging.getLogger(__name__)

PRUNE_INTERVAL = 6 * 3600.0
"""Seconds between two prunings; retention is counted in days, so a few times a day is plenty."""
FIRST_PRUNE_DELAY = 60.0
"""Seconds after start before the first pruning, so start-up work goes first."""


class Pruner:
    def __init__(self, repo: Repository, retention_days: int, *, clock: Clock) -> None:
        self._repo = repo
        self._retention_days = retention_days
        self._clock = clock
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._runner is None and self._retention_days > 0:
            self._runner = asyncio.create_task(self._run(), name="prune")

    async def stop(self) -> None:
        await stop_task(self._runner)
        self._runner = None

    async def run_once(self) -> tuple[int, int]:
        """Prune now: (tasks whose request/result were cleared, usage rows deleted)."""
        cutoff = self._clock() - self._retention_days * 86400
        day = utc_day(cutoff)
        cleared, usage = await self._repo.prune(cutoff, day)
        if cleared or usage:
            log.info(
                "Pruned the request and result of %d finished task(s) and %d daily usage row(s) from before %s",
                cleared,
                usage,
                day,
            )
        return cleared, usage

    async def _run(self) -> None:
        await asyncio.sleep(FIRST_PRUNE_DELAY)
        outage = Outage("Pruning", first=FIRST_PRUNE_DELAY, cap=PRUNE_INTERVAL)
        while True:
            pause = PRUNE_INTERVAL
            try:
                await self.run_once()
                outage.over()
            except DatabaseUnavailable as exc:  # soon, not in six hours
                pause = outage.seen(exc)
            except Exception:
                log.exception("Pruning failed; trying again later")
            await asyncio.sleep(pause)
