"""The status holder's side of a cluster: apply to its own status lines what other processes changed.

The process that took a command holds the command's interaction token, and edits through it do
not count against Discord's global REST limit (50 requests a second for the whole bot). So other
processes do not edit that status line with the bot token (`StatusLines.left_to_holder`); they
only write what changed to the database: a task's state, its place in line, and (the poller) the
generating song's progress (`SongService.note_progress_many`). Every `SYNC_INTERVAL` this loop
reads the marks of all the lines this process holds in one statement and rewrites the lines whose
marks moved, through their tokens. It also renews the process's claim on those lines (for
`leases.ttl` seconds) and gives up the claims of lines that show their task's end; and it takes
over lines whose claim ran out (their holder died, or its token grew old first), rewriting them
with the bot token, since what changed meanwhile was left to a holder that never showed it.

Alone on its database (no cluster) a process is the only editor and this loop is not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from bot.cluster.leases import Leases
from bot.core.loops import Outage, stop_task
from bot.songs.render import Progress
from bot.storage.models import DatabaseUnavailable
from bot.storage.status_lines import StatusMark

if TYPE_CHECKING:
    from bot.songs.status import StatusLines
    from bot.storage.repository import Repository

log = logging.getLogger(__name__)

SYNC_INTERVAL = 2.0
"""Seconds between two reads of the held lines' marks: how late a change made elsewhere shows."""


class StatusSync:
    """Applies other processes' changes to the status lines whose tokens this process holds."""

    def __init__(self, lines: StatusLines, repo: Repository, leases: Leases) -> None:
        self._lines = lines
        self._repo = repo
        self._leases = leases
        self._marks: dict[int, StatusMark] = {}
        self._renewed_at = -float("inf")
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._loop is None and self._leases.shared:
            self._loop = asyncio.create_task(self._run(), name="status-sync")

    async def stop(self) -> None:
        """Stop, and give the lines back so other processes edit them at once (not after a lease)."""
        await stop_task(self._loop)
        self._loop = None
        if self._leases.shared:
            with contextlib.suppress(Exception):
                await self._repo.release_status_lines(self._leases.owner)

    async def _run(self) -> None:
        outage = Outage("Status-line sync")
        while True:
            pause = SYNC_INTERVAL
            try:
                await self.sync()
                outage.over()
            except DatabaseUnavailable as exc:
                pause = outage.seen(exc)
            except Exception:
                log.exception("Status-line sync failed; trying again next round")
            await asyncio.sleep(pause)

    async def sync(self) -> int:
        """One round: give up the claims of lines that show their end, renew the others and take
        over lines whose holder stopped renewing (every `leases.ttl / 3`), read the marks, rewrite
        what moved. Returns how many lines were rewritten."""
        owner = self._leases.owner
        if self._lines.finished_lines:
            finished = sorted(self._lines.finished_lines)
            self._lines.finished_lines.clear()
            await self._repo.release_status_lines(owner, finished)
        held = self._lines.held_tasks()
        for gone in set(self._marks) - set(held):
            del self._marks[gone]
        if time.monotonic() - self._renewed_at >= self._leases.ttl / 3:
            self._renewed_at = time.monotonic()
            await self._repo.renew_status_lines(owner, sorted(held), time.time() + self._leases.ttl)
            # A holder that died left its lines as they were when it died: rewrite them from here.
            for orphan in await self._repo.take_over_status_lines(time.time()):
                await self._lines.update_status(orphan)
        if not held:
            return 0
        rewritten = 0
        for task_id, mark in (await self._repo.status_marks(sorted(held))).items():
            if self._marks.get(task_id) == mark:
                continue
            self._marks[task_id] = mark
            rewritten += 1
            if mark.state == "pending" and mark.progress is not None:
                now = time.time()
                elapsed = max(0.0, now - (mark.submitted_at or mark.created_at))
                await self._lines.show_progress(task_id, Progress(mark.progress, elapsed), now=now)
            else:
                await self._lines.update_status(task_id)
        return rewritten
