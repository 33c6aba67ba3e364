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
Clocks: expiry is judged by the database's own clock (`RepositoryBase._db_now`), so processes
whose clocks disagree still agree on whose lease has run out; `now`, where a method takes one, is
for the repository tests to step past a lease. A task claim also raises the task's epoch, the
fencing token its holder's final writes name (see `bot.storage.tasks`).
"""

from __future__ import annotations

from bot.storage.base import RepositoryBase
from bot.storage.models import OPEN_STATES, TASK_COLUMNS, Task, task_from_row


class ClusterRepository(RepositoryBase):
    """Named leases and task leases."""

    # -- named leases ------------------------------------------------------------------------

    async def try_lease(self, name: str, owner: str, ttl: float, now: float | None = None) -> bool:
        """Take or renew the lease `name` for `owner` for `ttl` seconds.

        True when `owner` holds it afterwards: it was free, had expired, or was already `owner`'s
        (then it is renewed). False while another owner's lease is still running.
        """
        clock, at = self._now(now)
        row = await self._fetchone(
            f"INSERT INTO leases (name, owner, until) VALUES (?, ?, {clock} + ?) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
            f"WHERE leases.owner = excluded.owner OR leases.until < {clock} RETURNING owner",
            (name, owner, *at, ttl, *at),
        )
        return row is not None

    async def release_lease(self, name: str, owner: str) -> bool:
        """Give up `name` at once (e.g. on a clean shutdown) so another process need not wait for
        it to expire. False when `owner` did not hold it (nothing is changed then)."""
        return await self._write("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner)) == 1

    async def lease_holder(self, name: str, now: float | None = None) -> str | None:
        """Who holds `name` right now (None when nobody does or the lease has expired)."""
        clock, at = self._now(now)
        row = await self._fetchone(f"SELECT owner FROM leases WHERE name = ? AND until >= {clock}", (name, *at))
        return str(row[0]) if row else None

    # -- task leases -------------------------------------------------------------------------

    async def lease_task(self, task_id: int, owner: str, ttl: float, now: float | None = None) -> bool:
        """Take or renew the lease on one task for `owner` for `ttl` seconds, whatever its state.

        True when `owner` holds it afterwards: it was never leased, had expired, or was `owner`'s.
        The task's state is not changed; state transitions stay guarded by their own conditions.
        """
        clock, at = self._now(now)
        changed = await self._write(
            f"UPDATE tasks SET lease_owner = ?, lease_until = {clock} + ?, "
            "lease_epoch = lease_epoch + CASE WHEN lease_owner = ? THEN 0 ELSE 1 END WHERE id = ? "
            f"AND (lease_owner IS NULL OR lease_owner = ? OR lease_until IS NULL OR lease_until < {clock})",
            (owner, *at, ttl, owner, task_id, owner, *at),
        )
        return changed == 1

    async def renew_task_leases(
        self, owner: str, ttl: float, now: float | None = None, *, task_ids: list[int] | None = None
    ) -> dict[int, int]:
        """Extend `owner`'s leases on unfinished tasks by `ttl` seconds (a process's heartbeat).

        Only the tasks in `task_ids` when given: the work the process is really doing, so a task it
        gave up on (its hand-back failed in a database outage) runs out and is taken over by the next
        sweep instead of being renewed for as long as the process lives. Returns task id → epoch of
        the leases renewed. A lease that already expired is renewed too if nobody took it meanwhile;
        one another process took over is no longer `owner`'s and is left alone.
        """
        if task_ids is not None and not task_ids:
            return {}
        clock, at = self._now(now)
        marks = ", ".join("?" for _ in OPEN_STATES)
        only, ids = ("", ()) if task_ids is None else (f" AND id IN ({', '.join('?' for _ in task_ids)})", task_ids)
        rows = await self._fetchall(
            f"UPDATE tasks SET lease_until = {clock} + ? WHERE lease_owner = ? AND state IN ({marks}){only} "
            "RETURNING id, lease_epoch",
            (*at, ttl, owner, *OPEN_STATES, *ids),
        )
        return {int(row[0]): int(row[1]) for row in rows}

    async def release_task_lease(self, task_id: int, owner: str, epoch: int | None = None) -> bool:
        """Drop `owner`'s lease on a task (done with it, or handing it back). False if not held
        (or, with `epoch`, not under that claim any more)."""
        fence, fenced = (" AND lease_epoch = ?", (epoch,)) if epoch is not None else ("", ())
        changed = await self._write(
            f"UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?{fence}",
            (task_id, owner, *fenced),
        )
        return changed == 1

    async def claim_expired_tasks(
        self,
        owner: str,
        ttl: float,
        now: float | None = None,
        states: tuple[str, ...] = OPEN_STATES,
        *,
        limit: int = 50,
    ) -> list[Task]:
        """Take over tasks in `states` whose lease expired: their process died or stalled.

        Each returned task is now leased to `owner` for `ttl` seconds under a new epoch, oldest
        first, at most `limit`; the caller resumes it from its state (submit a `reserved` one, poll a
        `pending` one, deliver a `delivering` one). Tasks never leased are not taken: they belong to
        a process running without leases, whose own start-up recovery handles them. On PostgreSQL
        the candidates are picked with `FOR UPDATE SKIP LOCKED`, so processes scanning at once split
        the work instead of queueing on the same rows; the outer conditions are re-checked on the
        locked rows.
        """
        if not states:
            return []
        clock, at = self._now(now)
        marks = ", ".join("?" for _ in states)
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgres" else ""
        rows = await self._fetchall(
            f"UPDATE tasks SET lease_owner = ?, lease_until = {clock} + ?, lease_epoch = lease_epoch + 1 "
            f"WHERE id IN (SELECT id FROM tasks WHERE state IN ({marks}) AND lease_until < {clock} "
            f"ORDER BY id LIMIT ?{skip_locked}) AND state IN ({marks}) AND lease_until < {clock} "
            f"RETURNING {TASK_COLUMNS}",
            (owner, *at, ttl, *states, *at, limit, *states, *at),
        )
        return sorted((task_from_row(row) for row in rows), key=lambda task: task.id)
