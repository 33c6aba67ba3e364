"""Leases: how processes sharing one database divide work without trusting each other to be alive.

A lease is an owner name (one per process, e.g. "host:pid:random") and an expiry in unix seconds.
Its holder renews it well before it runs out; if the holder dies, the lease simply expires and any
other process may take it. Two kinds:

- named leases (`leases` table): one holder cluster-wide for a role, e.g. "poller" (the one
  process that polls the API) — `try_lease`, `release_lease`, `lease_holder`;
- task leases (`tasks.lease_owner`, `tasks.lease_until`): the process submitting, polling or
  delivering a task — `lease_task`, `renew_task_leases`, `release_task_lease`,
  `claim_expired_tasks`, and the `owner=` forms of `promote_queued` (in `bot.storage.queue`),
  `store_callback` and `claim_delivery` (in `bot.storage.tasks`).

Every take is one conditional statement, so of several processes racing for the same lease exactly
one wins (PostgreSQL re-checks the condition on the newest row; SQLite has one writer at a time).
Clocks: `now` comes from the caller, so a cluster's processes should run NTP-synchronised clocks;
a TTL of tens of seconds makes ordinary skew harmless.
"""

from __future__ import annotations

from bot.storage.base import RepositoryBase
from bot.storage.models import OPEN_STATES, TASK_COLUMNS, Task, task_from_row


class ClusterRepository(RepositoryBase):
    """Named leases and task leases."""

    # -- named leases ------------------------------------------------------------------------

    async def try_lease(self, name: str, owner: str, ttl: float, now: float) -> bool:
        """Take or renew the lease `name` for `owner` until `now + ttl`.

        True when `owner` holds it afterwards: it was free, had expired, or was already `owner`'s
        (then it is renewed). False while another owner's lease is still running.
        """
        row = await self._fetchone(
            "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
            "WHERE leases.owner = excluded.owner OR leases.until < ? RETURNING owner",
            (name, owner, now + ttl, now),
        )
        return row is not None

    async def release_lease(self, name: str, owner: str) -> bool:
        """Give up `name` at once (e.g. on a clean shutdown) so another process need not wait for
        it to expire. False when `owner` did not hold it (nothing is changed then)."""
        return await self._write("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner)) == 1

    async def lease_holder(self, name: str, now: float) -> str | None:
        """Who holds `name` right now (None when nobody does or the lease has expired)."""
        row = await self._fetchone("SELECT owner FROM leases WHERE name = ? AND until >= ?", (name, now))
        return str(row[0]) if row else None

    # -- task leases -------------------------------------------------------------------------

    async def lease_task(self, task_id: int, owner: str, ttl: float, now: float) -> bool:
        """Take or renew the lease on one task for `owner` until `now + ttl`, whatever its state.

        True when `owner` holds it afterwards: it was never leased, had expired, or was `owner`'s.
        The task's state is not changed; state transitions stay guarded by their own conditions.
        """
        changed = await self._write(
            "UPDATE tasks SET lease_owner = ?, lease_until = ? WHERE id = ? "
            "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until IS NULL OR lease_until < ?)",
            (owner, now + ttl, task_id, owner, now),
        )
        return changed == 1

    async def renew_task_leases(self, owner: str, ttl: float, now: float) -> int:
        """Extend every unfinished task `owner` holds to `now + ttl` (a process's heartbeat).

        Returns how many were renewed. A lease that already expired is renewed too if nobody took
        it meanwhile; one another process took over is no longer `owner`'s and is left alone.
        """
        marks = ", ".join("?" for _ in OPEN_STATES)
        return await self._write(
            f"UPDATE tasks SET lease_until = ? WHERE lease_owner = ? AND state IN ({marks})",
            (now + ttl, owner, *OPEN_STATES),
        )

    async def release_task_lease(self, task_id: int, owner: str) -> bool:
        """Drop `owner`'s lease on a task (done with it, or handing it back). False if not held."""
        changed = await self._write(
            "UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
            (task_id, owner),
        )
        return changed == 1

    async def claim_expired_tasks(
        self, owner: str, ttl: float, now: float, states: tuple[str, ...] = OPEN_STATES, *, limit: int = 50
    ) -> list[Task]:
        """Take over tasks in `states` whose lease expired before `now`: their process died or stalled.

        Each returned task is now leased to `owner` until `now + ttl`, oldest first, at most `limit`;
        the caller resumes it from its state (submit a `reserved` one, poll a `pending` one, deliver
        a `delivering` one). Tasks never leased are not taken: they belong to a process running
        without leases, whose own start-up recovery handles them. On PostgreSQL the candidates are
        picked with `FOR UPDATE SKIP LOCKED`, so processes scanning at once split the work instead
        of queueing on the same rows; the outer conditions are re-checked on the locked rows.
        """
        if not states:
            return []
        marks = ", ".join("?" for _ in states)
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgres" else ""
        rows = await self._fetchall(
            "UPDATE tasks SET lease_owner = ?, lease_until = ? WHERE id IN ("
            f"SELECT id FROM tasks WHERE state IN ({marks}) AND lease_until < ? ORDER BY id LIMIT ?{skip_locked}"
            f") AND state IN ({marks}) AND lease_until < ? RETURNING {TASK_COLUMNS}",
            (owner, now + ttl, *states, now, limit, *states, now),
        )
        return sorted((task_from_row(row) for row in rows), key=lambda task: task.id)
