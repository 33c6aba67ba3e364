"""Ending a delivered task in one round trip on PostgreSQL: the callback path's last statement.

A callback costs the cluster its round trips to a database shared by every process, so the common
case of the end of a delivery (no song feed, no jam) is one statement there: the task becomes
`delivered` under its claim's epoch, the requester's auto-DMs go into the outbox (their
`/prefer auto_dm`, read in the same statement), and the answer says whether the guild has songs
waiting in line, so a guild with none takes no promotion transaction and no guild lock at all.
PostgreSQL runs data-modifying CTEs atomically (one snapshot, one commit); SQLite cannot put an
`UPDATE` inside `WITH`, and its statements are calls into a local thread anyway, so there the
delivery ends with `TaskRepository.mark_delivered` and `QueueRepository.has_queued` as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.base import RepositoryBase


@dataclass(frozen=True, slots=True)
class Finished:
    """What ending a delivery in one statement found."""

    direct_messages: int
    """Auto-DM steps queued in the outbox (the requester turned `/prefer auto_dm` on)."""
    queued: bool
    """The guild has songs waiting in line: a slot just freed, so promote."""


class FinishRepository(RepositoryBase):
    """The one-statement end of a delivery (PostgreSQL)."""

    @property
    def finishes_in_one(self) -> bool:
        """Whether `finish_delivery` is available (PostgreSQL)."""
        return self.dialect == "postgres"

    async def finish_delivery(self, task_id: int, epoch: int) -> Finished | None:
        """End a delivered task under the claim made at `epoch`, queue its auto-DMs, and say whether
        its guild has a line, in one statement. None when the claim was lost (nothing written).

        For tasks without a song feed or jam step to queue (the caller checks); those go through
        `mark_delivered`, whose steps are decided in Python.
        """
        row = await self._fetchone(
            "WITH done AS (UPDATE tasks SET state = 'delivered', lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND state = 'delivering' AND lease_epoch = ? "
            "RETURNING id, guild_id, channel_id, requester_id), "
            "dms AS (INSERT INTO outbox (key, kind, guild_id, task_id, song_id, created_at) "
            f"SELECT 'dm:' || s.id, 'dm', done.guild_id, done.id, s.id, {self._db_now} FROM done "
            "JOIN songs s ON s.task_id = done.id AND s.kind = 'song' AND s.channel_id = done.channel_id "
            "WHERE EXISTS (SELECT 1 FROM member_preferences p WHERE p.user_id = done.requester_id AND p.auto_dm = 1) "
            "ON CONFLICT (key) DO NOTHING RETURNING 1) "
            "SELECT (SELECT COUNT(*) FROM dms), "
            "EXISTS (SELECT 1 FROM tasks q WHERE q.guild_id = done.guild_id AND q.state = 'queued') FROM done",
            (task_id, epoch),
        )
        return None if row is None else Finished(direct_messages=int(row[0]), queued=bool(row[1]))
