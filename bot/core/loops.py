"""What every background loop shares: riding out a database outage, and stopping cleanly.

A loop (the poller, the lease heartbeat, follow-ups, the pruner, a shard's identify slot) that
meets an outage must neither die nor fill the operator's terminal with a traceback per try: it
says so once, waits a little longer each time, and says once more when the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)


class Outage:
    """A background loop's view of the database going away: one warning when it starts, one line
    when it ends, and a growing pause between tries meanwhile (never a traceback per try)."""

    def __init__(self, what: str, *, first: float = 1.0, cap: float = 30.0) -> None:
        self._what = what
        self._first = first
        self._cap = cap
        self._pause: float | None = None

    def seen(self, error: Exception) -> float:
        """Note a failed try; seconds to wait before the next."""
        if self._pause is None:
            log.warning("%s waits for the database (%s); retrying", self._what, error)
            self._pause = self._first
        else:
            self._pause = min(self._pause * 2, self._cap)
        return self._pause

    def over(self) -> None:
        if self._pause is not None:
            log.info("%s reached the database again", self._what)
            self._pause = None


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background loop and wait until it has stopped (nothing if it never started)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
