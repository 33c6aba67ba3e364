"""Quotas and the fair queue, the first half of a task's life: charge → queue → reserve.

A request is charged to its guild and member and queued in one transaction, then promoted into a
free slot (with its callback secret) when the guild's running limit allows; `bot.storage.tasks`
takes it from there. Every decision here (a charge, a promotion) is one transaction under the
guild's lock, so concurrent callers never both win: exact quotas rest on these methods.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.storage.billing import BillingRepository
from bot.storage.database import Transaction
from bot.storage.group_commit import GroupCommit
from bot.storage.models import (
    TASK_COLUMNS,
    Limits,
    NewTask,
    Refusal,
    Task,
    queued_task,
    task_from_row,
)


class QueueRepository(BillingRepository):
    """Quota counters, charges and the per-guild queue, from which tasks are promoted into free slots."""

    _charges: GroupCommit[tuple[NewTask, Limits], Task | Refusal]

    def _init_queue(self) -> None:
        self._charges = GroupCommit(self._charge_batch, "charge-batches")

    async def _counters(
        self, tx: Transaction, select_where: str, types: tuple[str, ...], keys: list[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], int]:
        """Usage counters for many keys at once: `select_where` ends with the key columns (of SQL
        `types`), the last column selected is `used`."""
        found: dict[tuple[Any, ...], int] = {}
        for start in range(0, len(keys), 300):
            chunk = keys[start : start + 300]
            rows = await tx.fetchall(
                f"{select_where} IN (VALUES {self._values(types, len(chunk))})", [v for key in chunk for v in key]
            )
            found.update({tuple(row[:-1]): int(row[-1]) for row in rows})
        return found

    # -- quota -------------------------------------------------------------------------------

    async def quota_used(self, guild_id: int, day: str) -> int:
        row = await self._fetchone("SELECT used FROM quota_usage WHERE guild_id = ? AND day = ?", (guild_id, day))
        return int(row[0]) if row else 0

    async def member_used(self, guild_id: int, user_id: int, day: str) -> int:
        row = await self._fetchone(
            "SELECT used FROM member_usage WHERE guild_id = ? AND user_id = ? AND day = ?", (guild_id, user_id, day)
        )
        return int(row[0]) if row else 0

    async def enqueue_task(self, new: NewTask, limits: Limits) -> Task | Refusal:
        """Charge the guild and the member and queue the task, in one transaction.

        Concurrent charges are group-committed: those that arrive while a batch is being written go
        into the next transaction together. Each batch reads the counters once under a write lock
        (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock per guild, taken in sorted order,
        which other processes' charges and promotions take too), decides every request in arrival
        order exactly as one-at-a-time charging would (guild allowance, then member cap, then queue
        room), and writes the new counters and tasks with a few statements, so a burst costs a few
        round trips in all, not ten per charge. A refusal charges nothing.
        """
        return await self._charges.submit((new, limits))

    async def _charge_batch(self, batch: list[tuple[NewTask, Limits]]) -> list[Task | Refusal]:
        if not batch:
            return []
        async with self._transaction() as tx:
            guild_days = sorted({(new.guild_id, new.quota_day) for new, _ in batch})
            member_days = sorted({(new.guild_id, new.requester_id, new.quota_day) for new, _ in batch})
            guilds = sorted({new.guild_id for new, _ in batch})
            await self._lock_guilds(tx, guilds)
            used = await self._counters(
                tx, "SELECT guild_id, day, used FROM quota_usage WHERE (guild_id, day)", ("bigint", "text"), guild_days
            )
            member = await self._counters(
                tx,
                "SELECT guild_id, user_id, day, used FROM member_usage WHERE (guild_id, user_id, day)",
                ("bigint", "bigint", "text"),
                member_days,
            )
            months = await self._read_months(tx, guild_days)
            queued: dict[int, int] = {}
            running: dict[int, int] = {}
            mine: dict[tuple[int, int], int] = {}
            rows = await tx.fetchall(
                "SELECT guild_id, requester_id, SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN state IN ('reserved', 'pending') THEN 1 ELSE 0 END) "
                f"FROM tasks WHERE guild_id IN ({', '.join('?' for _ in guilds)}) "
                "AND state IN ('queued', 'reserved', 'pending') GROUP BY guild_id, requester_id",
                guilds,
            )
            for guild_id, user_id, waiting, busy in rows:
                queued[guild_id] = queued.get(guild_id, 0) + int(waiting)
                running[guild_id] = running.get(guild_id, 0) + int(busy)
                mine[(guild_id, user_id)] = int(busy)
            outcomes: list[Refusal | None] = []
            accepted: list[NewTask] = []
            own_key: list[bool] = []
            guild_changed: dict[tuple[Any, ...], int] = {}
            member_changed: dict[tuple[Any, ...], int] = {}
            for new, limits in batch:
                guild_key = (new.guild_id, new.quota_day)
                member_key = (new.guild_id, new.requester_id, new.quota_day)
                # Every task starts out `queued`, even one about to take a free slot. The line is
                # only what will not get a slot now: queued tasks beyond the free slots.
                ahead = queued.get(new.guild_id, 0)
                slots = max(0, limits.max_running - running.get(new.guild_id, 0))
                waiting = max(0, ahead - slots)
                member_busy = mine.get((new.guild_id, new.requester_id), 0) >= limits.max_running_per_member
                must_wait = ahead >= slots or member_busy
                if used.get(guild_key, 0) + new.cost > limits.daily_allowance:
                    outcomes.append(Refusal("guild"))
                elif (cap := limits.member_daily_cap) is not None and member.get(member_key, 0) + new.cost > cap:
                    outcomes.append(Refusal("member"))
                elif months.refuses(new.guild_id, new.quota_day, new.cost, limits):
                    outcomes.append(Refusal("budget"))
                elif must_wait and waiting >= limits.max_queued:
                    outcomes.append(Refusal("queue"))
                else:
                    used[guild_key] = used.get(guild_key, 0) + new.cost
                    member[member_key] = member.get(member_key, 0) + new.cost
                    guild_changed[guild_key] = guild_changed.get(guild_key, 0) + new.cost
                    member_changed[member_key] = member_changed.get(member_key, 0) + new.cost
                    months.take(new.guild_id, new.quota_day, new.cost, limits)
                    queued[new.guild_id] = ahead + 1
                    if not must_wait:
                        mine[(new.guild_id, new.requester_id)] = mine.get((new.guild_id, new.requester_id), 0) + 1
                    outcomes.append(None)
                    accepted.append(new)
                    own_key.append(limits.own_key)
            # Counters grow by what this batch charged (not set to what it read plus that), so a refund
            # committed meanwhile by another process is kept; the guild lock keeps other charges out.
            if guild_changed:
                await tx.executemany(
                    "INSERT INTO quota_usage (guild_id, day, used) VALUES (?, ?, ?) "
                    "ON CONFLICT (guild_id, day) DO UPDATE SET used = quota_usage.used + excluded.used",
                    [(*key, value) for key, value in guild_changed.items()],
                )
            if member_changed:
                await tx.executemany(
                    "INSERT INTO member_usage (guild_id, user_id, day, used) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET used = member_usage.used + excluded.used",
                    [(*key, value) for key, value in member_changed.items()],
                )
            created: list[Task] = []
            for start in range(0, len(accepted), 500):
                chunk = accepted[start : start + 500]
                rows = await tx.fetchall(
                    "INSERT INTO tasks (guild_id, channel_id, requester_id, action, request, parent_song_id, state, "
                    "quota_day, cost, created_at, deadline_at, jam_id, credits) VALUES "
                    + ", ".join("(?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)" for _ in chunk)
                    + " RETURNING id",
                    [
                        value
                        for new in chunk
                        for value in (
                            new.guild_id,
                            new.channel_id,
                            new.requester_id,
                            new.action,
                            json.dumps(new.request),
                            new.parent_song_id,
                            new.quota_day,
                            new.cost,
                            new.created_at,
                            new.deadline_at,
                            new.jam_id,
                            json.dumps(new.credits) if new.credits is not None else None,
                        )
                    ],
                )
                # Row ids are handed out in VALUES order, so sorting them restores the request order;
                # the rest of each row is what was just written, so it is not read back.
                ids = sorted(int(row[0]) for row in rows)
                created.extend(queued_task(task_id, new) for task_id, new in zip(ids, chunk, strict=True))
            await self._write_months(tx, months, [task.id for task, own in zip(created, own_key, strict=True) if own])
        made = iter(created)
        return [outcome if outcome is not None else next(made) for outcome in outcomes]

    # -- the queue -------------------------------------------------------------------------

    async def promote_queued(
        self,
        guild_id: int,
        limits: Limits,
        make_secret: Callable[[], tuple[str, str]],
        at: float,
        *,
        owner: str | None = None,
        ttl: float | None = None,
        wait: bool = True,
    ) -> list[tuple[Task, str]] | None:
        """Move queued tasks, oldest first, into free slots; each gets its callback secret now.

        Returns the promoted tasks (state `reserved`) with their secrets, to be submitted. A member
        at their own running limit is skipped over, so they cannot hold up everybody else. With an
        `owner`, each promoted task is leased to it for `ttl` seconds by the database's clock (and its
        epoch, the fencing token, goes up by one), so another
        process finishes the submission if this one dies (see `claim_expired_tasks`). On PostgreSQL
        the guild's lock (the one charges take) makes the slot count exact across processes; with
        `wait=False` the lock is only tried, and None (nothing done) means another transaction holds
        it: a promotion or charge of that guild is under way in some process.
        """
        promoted: list[tuple[Task, str]] = []
        leased = owner is not None and ttl is not None
        lease = f"{self._db_now} + ?" if leased else "NULL"
        async with self._transaction() as tx:
            if wait:
                await self._lock_guilds(tx, [guild_id])
            elif not await self._try_lock_guild(tx, guild_id):
                return None
            rows = await tx.fetchall(
                "SELECT requester_id, COUNT(*) FROM tasks WHERE guild_id = ? AND state IN ('reserved', 'pending') "
                "GROUP BY requester_id",
                (guild_id,),
            )
            running_by_member = {int(user): int(count) for user, count in rows}
            running = sum(running_by_member.values())
            rows = await tx.fetchall(
                "SELECT id, requester_id FROM tasks WHERE guild_id = ? AND state = 'queued' ORDER BY id", (guild_id,)
            )
            waiting = [(int(task_id), int(user)) for task_id, user in rows]
            for task_id, user in waiting:
                if running >= limits.max_running:
                    break
                if running_by_member.get(user, 0) >= limits.max_running_per_member:
                    continue
                secret, secret_hash = make_secret()
                row = await tx.fetchone(
                    # The deadline runs from submission: time spent waiting in line does not count.
                    "UPDATE tasks SET state = 'reserved', secret_hash = ?, "
                    f"deadline_at = ? + (deadline_at - created_at), lease_owner = ?, lease_until = {lease}, "
                    f"lease_epoch = lease_epoch + 1 WHERE id = ? AND state = 'queued' RETURNING {TASK_COLUMNS}",
                    (secret_hash, at, owner, *((ttl,) if leased else ()), task_id),
                )
                if row is None:
                    continue
                promoted.append((task_from_row(row), secret))
                running += 1
                running_by_member[user] = running_by_member.get(user, 0) + 1
        return promoted

    async def has_queued(self, guild_id: int) -> bool:
        """Whether any task waits in this guild's line (one indexed lookup, no write transaction)."""
        row = await self._fetchone("SELECT 1 FROM tasks WHERE guild_id = ? AND state = 'queued' LIMIT 1", (guild_id,))
        return row is not None

    async def guilds_with_queue(self) -> list[int]:
        rows = await self._fetchall("SELECT DISTINCT guild_id FROM tasks WHERE state = 'queued'")
        return [int(row[0]) for row in rows]

    async def queue_positions(self, guild_id: int) -> dict[int, int]:
        """Task id → place in the guild's line (1 is next)."""
        rows = await self._fetchall(
            "SELECT id FROM tasks WHERE guild_id = ? AND state = 'queued' ORDER BY id", (guild_id,)
        )
        return {int(row[0]): place for place, row in enumerate(rows, start=1)}

    async def member_open_tasks(self, guild_id: int, user_id: int) -> list[Task]:
        rows = await self._fetchall(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE guild_id = ? AND requester_id = ? "
            "AND state IN ('queued', 'reserved', 'pending', 'received', 'delivering') ORDER BY id",
            (guild_id, user_id),
        )
        return [task_from_row(row) for row in rows]
