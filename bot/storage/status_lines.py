"""Who edits a task's status line in a cluster, and the progress that line shows.

A status line is best edited through its command's interaction token: those requests do not count
against Discord's global limit of 50 REST requests per second per bot token, edits with the bot
token do. Only the process that took the command holds the token (in memory), so it claims the
line in the database (`status_holder`, `status_until`, renewed while it lives), other processes
leave the line to it, and it applies what they changed (a new state, a place in line, the progress
the poller read) from `status_marks`, one statement per round for all its lines. When the holder
dies its claim runs out and any process edits the line with the bot token again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.storage.base import RepositoryBase


@dataclass(frozen=True, slots=True)
class StatusMark:
    """What a status line shows that other processes may change: compared round to round."""

    state: str
    progress: int | None
    position: int | None
    submitted_at: float | None
    created_at: float


class StatusRepository(RepositoryBase):
    """Status-line claims and generation progress."""

    async def claim_status_line(self, task_id: int, message_id: int, holder: str, until: float) -> None:
        """Record the task's status message, edited through `holder`'s interaction token until `until`."""
        await self._write(
            "UPDATE tasks SET status_message_id = ?, status_holder = ?, status_until = ? WHERE id = ?",
            (message_id, holder, until, task_id),
        )

    async def renew_status_lines(self, holder: str, task_ids: Sequence[int], until: float) -> None:
        """Extend `holder`'s claims on these tasks' status lines to `until` (its token is still fresh)."""
        if not task_ids:
            return
        marks = ", ".join("?" for _ in task_ids)
        await self._write(
            f"UPDATE tasks SET status_until = ? WHERE status_holder = ? AND id IN ({marks})",
            (until, holder, *task_ids),
        )

    async def release_status_lines(self, holder: str, task_ids: Sequence[int] | None = None) -> int:
        """Give up `holder`'s claims: on these tasks (their lines show their end already), or all of
        them (it is stopping), so other processes edit those lines at once."""
        if task_ids is not None and not task_ids:
            return 0
        only = "" if task_ids is None else f" AND id IN ({', '.join('?' for _ in task_ids)})"
        return await self._write(
            f"UPDATE tasks SET status_holder = NULL, status_until = NULL WHERE status_holder = ?{only}",
            (holder, *(task_ids or ())),
        )

    async def take_over_status_lines(self, now: float, *, limit: int = 50) -> list[int]:
        """Clear claims that ran out (their holder died, or its token grew old before the task
        ended) and return those tasks: the caller rewrites their lines with the bot token, since
        changes made while the claim stood were left to a holder that may never have applied them.
        One process wins each (PostgreSQL: `FOR UPDATE SKIP LOCKED`, the condition re-checked)."""
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgres" else ""
        rows = await self._fetchall(
            "UPDATE tasks SET status_holder = NULL, status_until = NULL WHERE id IN (SELECT id FROM tasks "
            f"WHERE status_holder IS NOT NULL AND status_until < ? ORDER BY id LIMIT ?{skip_locked}) "
            "AND status_holder IS NOT NULL AND status_until < ? RETURNING id",
            (now, limit, now),
        )
        return sorted(int(row[0]) for row in rows)

    async def record_progress(self, items: Sequence[tuple[int, int, float]]) -> None:
        """Store (task id, percent, when read) for generating tasks, all in one statement."""
        if not items:
            return
        types = ("bigint", "integer", "double precision")
        await self._write(
            "WITH incoming (id, progress, progress_at) AS (VALUES "
            + self._values(types, len(items))
            + ") UPDATE tasks SET progress = incoming.progress, progress_at = incoming.progress_at "
            "FROM incoming WHERE tasks.id = incoming.id AND tasks.state = 'pending'",
            [value for item in items for value in item],
        )

    async def status_marks(self, task_ids: Sequence[int]) -> dict[int, StatusMark]:
        """The state, progress and place in line of these tasks, in one statement."""
        if not task_ids:
            return {}
        marks = ", ".join("?" for _ in task_ids)
        rows = await self._fetchall(
            "SELECT t.id, t.state, t.progress, t.submitted_at, t.created_at, CASE WHEN t.state = 'queued' THEN "
            "(SELECT COUNT(*) FROM tasks q WHERE q.guild_id = t.guild_id AND q.state = 'queued' AND q.id <= t.id) "
            f"END FROM tasks t WHERE t.id IN ({marks})",
            list(task_ids),
        )
        return {
            int(row[0]): StatusMark(
                state=str(row[1]),
                progress=None if row[2] is None else int(row[2]),
                position=None if row[5] is None else int(row[5]),
                submitted_at=row[3],
                created_at=float(row[4]),
            )
            for row in rows
        }
