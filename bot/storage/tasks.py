"""The task lifecycle after promotion: submit → receive → deliver, or end (failed, cancelled) with a refund.

Quotas, charges and the queue a task waits in come before this, in `bot.storage.queue`. Every
transition that decides something (a result stored, a delivery claim, an end) is one atomic
statement or one transaction, so concurrent callers never both win: exactly-once delivery and
exact refunds rest on these methods.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from bot.storage.billing import BillingRepository
from bot.storage.group_commit import GroupCommit
from bot.storage.models import (
    CANCELLABLE_STATES,
    OPEN_STATES,
    TASK_COLUMNS,
    Task,
    qualified,
    task_from_row,
)
from bot.storage.outbox import OutboxStep


class TaskRepository(BillingRepository):
    """Task states, submissions, callbacks, delivery claims and ends (failed, cancelled, refunded)."""

    _callbacks: GroupCommit[tuple[str, str, float, str | None, str | None, float | None], Task | None]

    def _init_tasks(self) -> None:
        self._callbacks = GroupCommit(self._store_callbacks, "callback-batches")

    # -- tasks -------------------------------------------------------------------------------

    async def task(self, task_id: int) -> Task | None:
        row = await self._fetchone(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return task_from_row(row) if row else None

    async def task_by_secret_hash(self, secret_hash: str) -> Task | None:
        row = await self._fetchone(f"SELECT {TASK_COLUMNS} FROM tasks WHERE secret_hash = ?", (secret_hash,))
        return task_from_row(row) if row else None

    async def task_by_api_id(self, api_task_id: str) -> Task | None:
        row = await self._fetchone(f"SELECT {TASK_COLUMNS} FROM tasks WHERE api_task_id = ?", (api_task_id,))
        return task_from_row(row) if row else None

    async def tasks_in_states(self, *states: str) -> list[Task]:
        marks = ", ".join("?" for _ in states)
        rows = await self._fetchall(f"SELECT {TASK_COLUMNS} FROM tasks WHERE state IN ({marks}) ORDER BY id", states)
        return [task_from_row(row) for row in rows]

    async def tasks_past_deadline(self, now: float, states: tuple[str, ...]) -> list[Task]:
        """Tasks in `states` whose deadline has passed (the sweep's; selected by an index, so a
        sweep costs what is overdue, not what is pending)."""
        marks = ", ".join("?" for _ in states)
        rows = await self._fetchall(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE state IN ({marks}) AND deadline_at <= ? ORDER BY id",
            (*states, now),
        )
        return [task_from_row(row) for row in rows]

    async def pending_to_poll(self, *, submitted_before: float | None, with_status_line: bool) -> list[Task]:
        """Pending tasks with an API id that the poller asks about: those submitted before
        `submitted_before` (all of them when None), and with `with_status_line` also every one
        someone watches (it has a status line), for its progress."""
        if submitted_before is None:
            due, params = "", ()
        elif with_status_line:
            due, params = " AND (submitted_at <= ? OR status_message_id IS NOT NULL)", (submitted_before,)
        else:
            due, params = " AND submitted_at <= ?", (submitted_before,)
        rows = await self._fetchall(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE state = 'pending' AND api_task_id IS NOT NULL{due} ORDER BY id",
            params,
        )
        return [task_from_row(row) for row in rows]

    async def pending_unconfirmed(self) -> list[Task]:
        """Pending tasks whose submission was never confirmed (no API task id yet)."""
        rows = await self._fetchall(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE state = 'pending' AND api_task_id IS NULL ORDER BY id"
        )
        return [task_from_row(row) for row in rows]

    async def open_task_ids(self) -> list[int]:
        """The ids of every task that has not ended (an index lookup; no request or result JSON)."""
        marks = ", ".join("?" for _ in OPEN_STATES)
        rows = await self._fetchall(f"SELECT id FROM tasks WHERE state IN ({marks})", OPEN_STATES)
        return [int(row[0]) for row in rows]

    async def count_tasks(self, *states: str) -> dict[str, int]:
        """How many tasks are in each of `states` (for /healthz and /metrics: counts, not rows)."""
        marks = ", ".join("?" for _ in states)
        rows = await self._fetchall(
            f"SELECT state, COUNT(*) FROM tasks WHERE state IN ({marks}) GROUP BY state", states
        )
        counts = dict.fromkeys(states, 0)
        counts.update({str(state): int(count) for state, count in rows})
        return counts

    async def set_status_message(self, task_id: int, message_id: int) -> None:
        await self._write("UPDATE tasks SET status_message_id = ? WHERE id = ?", (message_id, task_id))

    async def mark_submitted(self, task_id: int, api_task_id: str | None, at: float) -> None:
        """Record the API's task id. A callback may already have moved the task on; keep its state."""
        await self._write(
            "UPDATE tasks SET api_task_id = COALESCE(?, api_task_id), submitted_at = ?, "
            "state = CASE state WHEN 'reserved' THEN 'pending' ELSE state END WHERE id = ?",
            (api_task_id, at, task_id),
        )

    async def store_result(self, task_id: int, result: dict[str, Any], at: float) -> bool:
        """Persist a finished result once. False when one was already stored or the task ended."""
        changed = await self._write(
            "UPDATE tasks SET result = ?, state = 'received', finished_at = ? "
            "WHERE id = ? AND state IN ('reserved', 'pending')",
            (json.dumps(result), at, task_id),
        )
        return changed == 1

    async def store_callback(
        self,
        secret_hash: str,
        result: dict[str, Any],
        at: float,
        claimed_api_id: str | None,
        *,
        owner: str | None = None,
        ttl: float | None = None,
    ) -> Task | None:
        """Store a callback's result and claim its task for delivery.

        None when no waiting task has this secret, or the body names another API task id; the
        caller then looks the task up to tell those cases (and repeats) apart. Callbacks arriving
        together are stored by one statement (see `_store_callbacks`). With an `owner` and `ttl`
        the delivery is leased to it for `ttl` seconds by the database's clock and the task's epoch goes
        up (a new claim); whoever held the task before (its submitter) loses it, since it has moved on.
        """
        leased = owner is not None and ttl is not None
        return await self._callbacks.submit(
            (secret_hash, json.dumps(result), at, claimed_api_id, owner if leased else None, ttl if leased else None)
        )

    async def _store_callbacks(
        self, batch: list[tuple[str, str, float, str | None, str | None, float | None]]
    ) -> list[Task | None]:
        """One `UPDATE … FROM (VALUES …) RETURNING` for a batch: atomic by itself, one round trip.

        A secret that appears twice in a batch (a duplicated callback) updates its task once; the
        first occurrence gets the task, the repeat gets None, exactly as if they came one by one.
        Across processes the `state IN ('reserved', 'pending')` condition is re-checked on the
        newest row (PostgreSQL re-evaluates it after waiting for a concurrent writer), so the same
        callback stored by two processes at once is claimed by one of them.
        A task failed for want of a result (its deadline passed) still takes a late one: the
        secret proves it is genuine, and the member gets the song the API made (the refund stands).
        """
        stored: dict[str, Task] = {}
        types = ("text", "text", "double precision", "text", "text", "double precision")
        for start in range(0, len(batch), 500):
            chunk = batch[start : start + 500]
            rows = await self._fetchall(
                "WITH incoming (secret_hash, result, finished_at, claimed, lease_owner, ttl) AS (VALUES "
                + self._values(types, len(chunk))
                + ") UPDATE tasks SET result = incoming.result, state = 'delivering', "
                "finished_at = incoming.finished_at, lease_owner = incoming.lease_owner, "
                f"lease_until = {self._db_now} + incoming.ttl, lease_epoch = tasks.lease_epoch + 1 FROM incoming "
                "WHERE tasks.secret_hash = incoming.secret_hash AND (tasks.state IN ('reserved', 'pending') "
                "OR (tasks.state = 'failed' AND tasks.result IS NULL)) "
                "AND (incoming.claimed IS NULL OR tasks.api_task_id IS NULL OR tasks.api_task_id = incoming.claimed) "
                f"RETURNING {qualified(TASK_COLUMNS, 'tasks')}, tasks.secret_hash",
                [value for item in chunk for value in item],
            )
            stored.update({row[-1]: task_from_row(row[:-1]) for row in rows})
        return [stored.pop(secret_hash, None) for secret_hash, *_ in batch]

    async def prune(self, finished_before: float, day_before: str) -> tuple[int, int]:
        """Forget what only served delivery: the request and result JSON of tasks that ended before
        `finished_before`, and daily usage counters of days before `day_before`.

        Songs, their lineage and who asked stay (`songs`, the tasks' ids, parents and requesters);
        so do tasks still in progress. Returns (tasks cleared, usage rows deleted).
        """
        async with self._transaction() as tx:
            cleared = await tx.execute(
                "UPDATE tasks SET request = '{}', result = NULL "
                "WHERE state IN ('delivered', 'failed', 'cancelled') AND finished_at < ? "
                "AND (request <> '{}' OR result IS NOT NULL)",
                (finished_before,),
            )
            usage = await tx.execute("DELETE FROM quota_usage WHERE day < ?", (day_before,))
            usage += await tx.execute("DELETE FROM member_usage WHERE day < ?", (day_before,))
        return cleared, usage

    async def claim_delivery(
        self, task_id: int, *, owner: str | None = None, now: float | None = None, ttl: float | None = None
    ) -> Task | None:
        """Move a received task to `delivering`; only one caller can win, so one delivery happens.

        Each claim raises the task's epoch (its fencing token): the writes that finish the delivery
        name it (`mark_delivered`, `release_delivery`), so a claim lost meanwhile writes nothing.
        With `owner` and `ttl` the delivery is leased to `owner` for `ttl` seconds (by the database's
        clock, or `now` when a test names one), and a task already `delivering` whose lease ran out
        (its process died or stalled) is taken over as well. Without, a `received` task is claimed
        with no lease (nothing but its own process's restart finishes it).
        """
        if owner is None or ttl is None:
            row = await self._fetchone(
                "UPDATE tasks SET state = 'delivering', lease_epoch = lease_epoch + 1 "
                f"WHERE id = ? AND state = 'received' RETURNING {TASK_COLUMNS}",
                (task_id,),
            )
        else:
            clock, at = self._now(now)
            row = await self._fetchone(
                f"UPDATE tasks SET state = 'delivering', lease_owner = ?, lease_until = {clock} + ?, "
                "lease_epoch = lease_epoch + 1 WHERE id = ? "
                f"AND (state = 'received' OR (state = 'delivering' AND lease_until < {clock})) "
                f"RETURNING {TASK_COLUMNS}",
                (owner, *at, ttl, task_id, *at),
            )
        return task_from_row(row) if row else None

    async def confirm_claim(self, task_id: int, epoch: int, ttl: float, states: tuple[str, ...]) -> bool:
        """Whether the claim made at `epoch` still stands (and renew it for `ttl` seconds).

        Asked right before a step that cannot be taken back (a post to Discord, a request to the
        API): a process that stalled past its lease and lost the task to another stops there.
        """
        marks = ", ".join("?" for _ in states)
        changed = await self._write(
            f"UPDATE tasks SET lease_until = {self._db_now} + ? WHERE id = ? AND lease_epoch = ? "
            f"AND state IN ({marks})",
            (ttl, task_id, epoch, *states),
        )
        return changed == 1

    async def release_delivery(
        self,
        task_id: int,
        *,
        epoch: int | None = None,
        retry_in: float | None = None,
        retry_at: float | None = None,
    ) -> bool:
        """Put a task whose delivery was interrupted back in line for another attempt (its lease dropped).

        A failed attempt is marked with `retry_in` seconds (by the database's clock; or `retry_at`, a
        time a test names): kept in `lease_until` with no owner, so whichever process retries waits
        until then (see `deliveries_due`), and the failure is counted with the task, so that process's
        backoff continues from it. Without either (stopping) the task is simply handed back. With
        `epoch`, only the claim made under it is handed back: a process that lost the task to
        another meanwhile cannot take the other's live delivery away. False when nothing changed.
        """
        if retry_in is not None:
            retry, params = f"{self._db_now} + ?", (retry_in,)
        else:
            retry, params = "?", (retry_at,)
        failed = 0 if retry_in is None and retry_at is None else 1
        fence, fenced = (" AND lease_epoch = ?", (epoch,)) if epoch is not None else ("", ())
        changed = await self._write(
            f"UPDATE tasks SET state = 'received', lease_owner = NULL, lease_until = {retry}, "
            f"delivery_failures = delivery_failures + ? WHERE id = ? AND state = 'delivering'{fence}",
            (*params, failed, task_id, *fenced),
        )
        return changed == 1

    async def deliveries_due(self, now: float | None = None) -> list[Task]:
        """Received tasks nobody is delivering whose backoff, if any, is over."""
        clock, at = self._now(now)
        rows = await self._fetchall(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE state = 'received' "
            f"AND (lease_until IS NULL OR lease_until <= {clock}) ORDER BY id",
            at,
        )
        return [task_from_row(row) for row in rows]

    async def mark_delivered(
        self,
        task_id: int,
        epoch: int | None = None,
        *,
        follow_ups: Sequence[OutboxStep] = (),
        jam_song: str | None = None,
    ) -> bool:
        """The task's songs are posted: end it, and queue what must follow, in one transaction.

        `follow_ups` (song feed posts, the jam message, auto-DMs) go into the outbox with the state
        change, so they happen exactly once even if this process stops right after; `jam_song`
        becomes its jam's latest song in the same transaction. With `epoch`, only under that claim:
        False (and nothing written) when the process lost the task to another meanwhile.
        """
        fence, fenced = (" AND lease_epoch = ?", (epoch,)) if epoch is not None else ("", ())
        end = (
            "UPDATE tasks SET state = 'delivered', lease_owner = NULL, lease_until = NULL "
            f"WHERE id = ? AND state = 'delivering'{fence} RETURNING jam_id"
        )
        if not follow_ups and jam_song is None:  # most songs: one statement, no transaction
            return await self._fetchone(end, (task_id, *fenced)) is not None
        async with self._transaction() as tx:
            row = await tx.fetchone(end, (task_id, *fenced))
            if row is None:
                return False
            if jam_song is not None and row[0] is not None:
                await tx.execute("UPDATE jams SET latest_song_id = ? WHERE id = ?", (jam_song, row[0]))
            await self._queue_steps(tx, follow_ups)
        return True

    async def cancel_task(self, task_id: int, at: float) -> Task | None:
        """Cancel a waiting or running task and give its credits back. None if it had moved on."""
        return await self._end_task(
            task_id, "cancelled", "Cancelled. Your credit was refunded.", at, CANCELLABLE_STATES
        )

    async def fail_task(
        self, task_id: int, error: str, at: float, *, refund: bool = True, epoch: int | None = None
    ) -> Task | None:
        """End a task as failed and give its credits back, together. None if it had already ended
        (or, with `epoch`, if the claim made under it was lost to another process)."""
        return await self._end_task(task_id, "failed", error, at, OPEN_STATES, refund=refund, epoch=epoch)

    async def fail_waiting(
        self, task_id: int, error: str, at: float, states: tuple[str, ...] = ("reserved", "pending")
    ) -> Task | None:
        """Fail with a refund only while the task still waits for the API (one of `states`).

        Unlike `fail_task`, a task whose result came in meanwhile (`received`, `delivering`) is
        left alone, so a late decision (a deadline, a failed lookup) never takes back a song.
        """
        return await self._end_task(task_id, "failed", error, at, states)

    async def has_api_task(self, api_task_id: str) -> bool:
        """Whether some task already owns this API task id."""
        return await self._fetchone("SELECT 1 FROM tasks WHERE api_task_id = ?", (api_task_id,)) is not None

    async def secret_hashes(self, task_ids: Iterable[int]) -> dict[int, str]:
        """The stored callback-secret digests of these tasks (those that have one)."""
        ids = list(task_ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = await self._fetchall(
            f"SELECT id, secret_hash FROM tasks WHERE id IN ({marks}) AND secret_hash IS NOT NULL", ids
        )
        return {int(row[0]): str(row[1]) for row in rows}

    async def _end_task(
        self,
        task_id: int,
        state: str,
        error: str,
        at: float,
        from_states: tuple[str, ...],
        *,
        refund: bool = True,
        epoch: int | None = None,
    ) -> Task | None:
        marks = ", ".join("?" for _ in from_states)
        fence, fenced = (" AND lease_epoch = ?", (epoch,)) if epoch is not None else ("", ())
        async with self._transaction() as tx:
            before = await tx.fetchone("SELECT refunded, guild_id FROM tasks WHERE id = ?", (task_id,))
            if before is None:
                return None
            refunded_before = bool(before[0])
            # A refund changes the counters a charge reads and rewrites: without the guild's lock, a
            # charge in another process could write back a count that predates this refund.
            await self._lock_guilds(tx, [int(before[1])])
            row = await tx.fetchone(
                "UPDATE tasks SET state = ?, error = ?, finished_at = COALESCE(finished_at, ?), "
                "refunded = CASE WHEN ? = 1 THEN 1 ELSE refunded END, lease_owner = NULL, lease_until = NULL "
                f"WHERE id = ? AND state IN ({marks}){fence} RETURNING {TASK_COLUMNS}",
                (state, error, at, 1 if refund else 0, task_id, *from_states, *fenced),
            )
            if row is None:
                return None
            task = task_from_row(row)
            if refund and task.cost and not refunded_before:  # a late result that failed: refunded once
                await tx.execute(
                    "UPDATE quota_usage SET used = CASE WHEN used > ? THEN used - ? ELSE 0 END "
                    "WHERE guild_id = ? AND day = ?",
                    (task.cost, task.cost, task.guild_id, task.quota_day),
                )
                await tx.execute(
                    "UPDATE member_usage SET used = CASE WHEN used > ? THEN used - ? ELSE 0 END "
                    "WHERE guild_id = ? AND user_id = ? AND day = ?",
                    (task.cost, task.cost, task.guild_id, task.requester_id, task.quota_day),
                )
                await self._refund_month(tx, task)
            if task.jam_id is not None:
                # A jam whose first song never came is open again, so its members can finish it anew.
                await tx.execute(
                    "UPDATE jams SET state = 'open' WHERE id = ? AND latest_song_id IS NULL", (task.jam_id,)
                )
        return task
