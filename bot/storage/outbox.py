"""The outbox: work that must follow a committed change, queued in the same transaction, done once.

A delivered song is followed by its song-feed post, its jam's message and its auto-DM; a song that
reaches its server's star threshold by its favourites post. Done as background tasks they were
lost when the process stopped at the wrong moment, and done twice when a process that had lost its
claim carried on. Here each step is a row written together with the change it follows (see
`TaskRepository.mark_delivered`), named by a unique `key` so it is never queued twice, then claimed
by any process with a lease and an epoch exactly as tasks are, and finished under that epoch: a
process that stalled past the lease finds its claim gone and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.base import RepositoryBase
from bot.storage.database import Transaction

OUTBOX_COLUMNS = "id, key, kind, guild_id, task_id, song_id, channel_id, attempts, lease_epoch"
GUILD_STEPS = ("feed",)
"""Steps that judge the guild from the gateway's cache (who may view the song's channel): in a
cluster only a process running the guild's shard claims them (see `claim_outbox`)."""


@dataclass(frozen=True, slots=True)
class OutboxStep:
    """One step to queue. `key` identifies it for good (e.g. `feed:<task>:<song>`)."""

    key: str
    kind: str
    guild_id: int
    task_id: int | None = None
    song_id: str | None = None
    channel_id: int | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed step: what to do, and the epoch its claim was made under (the fencing token)."""

    id: int
    key: str
    kind: str
    guild_id: int
    task_id: int | None
    song_id: str | None
    channel_id: int | None
    attempts: int
    epoch: int


class OutboxRepository(RepositoryBase):
    """Queue, claim and finish outbox steps."""

    async def _queue_steps(self, tx: Transaction, steps: tuple[OutboxStep, ...] | list[OutboxStep]) -> None:
        for step in steps:
            await tx.execute(
                "INSERT INTO outbox (key, kind, guild_id, task_id, song_id, channel_id, created_at) "
                f"VALUES (?, ?, ?, ?, ?, ?, {self._db_now}) ON CONFLICT (key) DO NOTHING",
                (step.key, step.kind, step.guild_id, step.task_id, step.song_id, step.channel_id),
            )

    async def queue_steps(self, steps: list[OutboxStep]) -> None:
        """Queue steps on their own (when what they follow was committed by its own statement)."""
        async with self._transaction() as tx:
            await self._queue_steps(tx, steps)

    async def claim_outbox(
        self,
        owner: str,
        ttl: float,
        *,
        limit: int = 20,
        now: float | None = None,
        shards: tuple[int, tuple[int, ...]] | None = None,
    ) -> list[OutboxItem]:
        """Claim up to `limit` due steps for `owner` for `ttl` seconds, oldest first.

        Due: never claimed, or its claim (or its retry backoff) has run out by the database's
        clock. With `shards` (shard count, this process's shard ids), steps of `GUILD_STEPS` are
        claimed only for guilds on those shards (Discord's `(guild_id >> 22) % count`). On
        PostgreSQL the candidates are taken with `FOR UPDATE SKIP LOCKED`, so processes claiming at
        once split the work; the conditions are checked again on the locked rows.
        """
        clock, at = self._now(now)
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgres" else ""
        local, local_params = "", ()
        if shards is not None:
            # Steps that need the guild in the gateway cache (`GUILD_STEPS`) only where its shard runs.
            count, ids = shards
            kinds = ", ".join("?" for _ in GUILD_STEPS)
            marks = ", ".join("?" for _ in ids) or "NULL"
            local = f" AND (kind NOT IN ({kinds}) OR ((guild_id >> 22) % ?) IN ({marks}))"
            local_params = (*GUILD_STEPS, count, *ids)
        rows = await self._fetchall(
            f"UPDATE outbox SET lease_owner = ?, lease_until = {clock} + ?, lease_epoch = lease_epoch + 1 "
            "WHERE id IN (SELECT id FROM outbox WHERE state = 'ready' "
            f"AND (lease_until IS NULL OR lease_until <= {clock}){local} ORDER BY id LIMIT ?{skip_locked}) "
            f"AND state = 'ready' AND (lease_until IS NULL OR lease_until <= {clock}) RETURNING {OUTBOX_COLUMNS}",
            (owner, *at, ttl, *at, *local_params, limit, *at),
        )
        items = [OutboxItem(*row) for row in rows]
        return sorted(items, key=lambda item: item.id)

    async def finish_outbox(self, item: OutboxItem, *, state: str = "done") -> bool:
        """The step is done (or given up: `state='dropped'`). False when the claim was lost."""
        changed = await self._write(
            f"UPDATE outbox SET state = ?, done_at = {self._db_now}, lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_epoch = ? AND state = 'ready'",
            (state, item.id, item.epoch),
        )
        return changed == 1

    async def retry_outbox(self, item: OutboxItem, retry_in: float) -> bool:
        """The step failed on a fault that may pass: try again in `retry_in` seconds (any process)."""
        changed = await self._write(
            f"UPDATE outbox SET lease_owner = NULL, lease_until = {self._db_now} + ?, attempts = attempts + 1 "
            "WHERE id = ? AND lease_epoch = ? AND state = 'ready'",
            (retry_in, item.id, item.epoch),
        )
        return changed == 1

    async def release_outbox_claims(self) -> int:
        """Hand every claimed step back at once: a process alone on its database at start, whose
        earlier life held them (stopped mid-step), need not wait for their leases to run out."""
        return await self._write(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE state = 'ready' AND lease_owner IS NOT NULL"
        )
