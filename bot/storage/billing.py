"""Paying for songs: a server's own API key (stored encrypted), its monthly budget and alerts
channel, role caps, and the monthly credit counters that song and lyrics charges move.

The month counters are part of the charge: `QueueRepository._charge_batch` and
`FeatureRepository.charge_credits` read them (`_read_months`) and write them back (`_write_months`)
inside the transaction that takes the daily quota, under the same guild lock, and every refund
gives them back in its own transaction (`_refund_month`). So a budget is exact across processes,
and each budget alert (50, 75, 90, 100 %) is queued in the outbox exactly once per month.

What is stored of a key is a Fernet token (`bot.core.secrets.SecretBox`, done by `bot.billing`)
and its last four characters; this module never sees the key itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.storage.database import Transaction
from bot.storage.models import Limits, Task
from bot.storage.outbox import OutboxRepository, OutboxStep

BUDGET_THRESHOLDS = (50, 75, 90, 100)
"""Per cent of a monthly budget at which a server's managers are alerted, once each per month."""
BILLING_TTL_POSTGRES = 5.0
"""Seconds billing settings and role caps are cached on PostgreSQL (as guild settings are)."""


@dataclass(frozen=True, slots=True)
class GuildBilling:
    """Who pays for a server's songs and how far it may go. `api_key` is the encrypted token."""

    guild_id: int
    api_key: str | None = field(default=None, repr=False)
    api_key_hint: str | None = None
    monthly_budget: int | None = None
    alerts_channel_id: int | None = None
    key_refused_at: float | None = None
    key_refused_code: str | None = None

    @property
    def has_key(self) -> bool:
        return self.api_key is not None

    @property
    def paused(self) -> bool:
        """The API refused the server's key: its songs wait until a manager saves a key again."""
        return self.api_key is not None and self.key_refused_at is not None


@dataclass(frozen=True, slots=True)
class MonthUsage:
    guild_id: int
    month: str
    used: int
    own_key_used: int
    alerted: int


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Credits one member spent on one action on one UTC day (refunds already taken off)."""

    day: str
    user_id: int
    action: str
    credits: int


def month_of(day: str) -> str:
    """`2026-12-06` → `2026-12`."""
    return day[:7]


class MonthBook:
    """The month counters one charge transaction read, decides against and writes back."""

    def __init__(self, used: dict[tuple[int, str], int], alerted: dict[tuple[int, str], int]) -> None:
        self.used = used
        self.alerted = alerted
        self.changed: dict[tuple[int, str], int] = {}
        self.own: dict[tuple[int, str], int] = {}
        self.budgets: dict[tuple[int, str], int] = {}

    def refuses(self, guild_id: int, day: str, cost: int, limits: Limits) -> bool:
        """Would this charge take the server past its monthly budget?"""
        budget = limits.monthly_budget
        return budget is not None and self.used.get((guild_id, month_of(day)), 0) + cost > budget

    def take(self, guild_id: int, day: str, cost: int, limits: Limits) -> None:
        key = (guild_id, month_of(day))
        self.used[key] = self.used.get(key, 0) + cost
        self.changed[key] = self.changed.get(key, 0) + cost
        if limits.own_key:
            self.own[key] = self.own.get(key, 0) + cost
        if limits.monthly_budget is not None:
            self.budgets[key] = limits.monthly_budget

    def alerts(self) -> list[tuple[int, str, int]]:
        """(guild, month, per cent) for each threshold this charge crossed and nobody alerted yet."""
        due = []
        for key, budget in self.budgets.items():
            if budget <= 0 or key not in self.changed:
                continue
            reached = [p for p in BUDGET_THRESHOLDS if self.used[key] * 100 >= p * budget]
            if reached and reached[-1] > self.alerted.get(key, 0):
                due += [(key[0], key[1], p) for p in reached if p > self.alerted.get(key, 0)]
                self.alerted[key] = reached[-1]
        return due


def _billing_from_row(row: Any) -> GuildBilling:
    return GuildBilling(*row)


_BILLING_COLUMNS = (
    "guild_id, api_key, api_key_hint, monthly_budget, alerts_channel_id, key_refused_at, key_refused_code"
)
_BILLING_FIELDS = ("monthly_budget", "alerts_channel_id")


class BillingRepository(OutboxRepository):
    """Server keys, budgets, role caps and the month counters."""

    _billing_cache: dict[int, tuple[GuildBilling, dict[int, int], float]]

    def _billing_ttl(self) -> float:
        # SQLite: this process is the only writer, so a cached read stays true until it writes.
        return BILLING_TTL_POSTGRES if self.dialect == "postgres" else float("inf")

    def _cached_billing(self) -> dict[int, tuple[GuildBilling, dict[int, int], float]]:
        try:
            return self._billing_cache
        except AttributeError:
            self._billing_cache = {}
            return self._billing_cache

    async def billing_and_caps(self, guild_id: int) -> tuple[GuildBilling, dict[int, int]]:
        """A server's billing settings and role caps (role → songs per day), read on every charge
        and written rarely, so cached like guild settings. The dict is shared: do not change it."""
        cache = self._cached_billing()
        hit = cache.get(guild_id)
        if hit is not None and hit[2] > time.monotonic():
            return hit[0], hit[1]
        # The first caller reads; callers arriving meanwhile share its read (a burst of charges for
        # one server would otherwise send two reads per charge before the first came back).
        reads = self._billing_reads()
        reading = reads.get(guild_id)
        if reading is None:
            reading = reads[guild_id] = asyncio.ensure_future(self._read_billing(guild_id))
            reading.add_done_callback(lambda _: reads.pop(guild_id, None))
        return await asyncio.shield(reading)

    def _billing_reads(self) -> dict[int, asyncio.Future[tuple[GuildBilling, dict[int, int]]]]:
        try:
            return self._billing_in_flight
        except AttributeError:
            self._billing_in_flight: dict[int, asyncio.Future[tuple[GuildBilling, dict[int, int]]]] = {}
            return self._billing_in_flight

    async def _read_billing(self, guild_id: int) -> tuple[GuildBilling, dict[int, int]]:
        now = time.monotonic()
        row = await self._fetchone(f"SELECT {_BILLING_COLUMNS} FROM guild_billing WHERE guild_id = ?", (guild_id,))
        billing = _billing_from_row(row) if row else GuildBilling(guild_id)
        rows = await self._fetchall("SELECT role_id, songs_per_day FROM role_caps WHERE guild_id = ?", (guild_id,))
        caps = {int(role): int(cap) for role, cap in rows}
        self._cached_billing()[guild_id] = (billing, caps, now + self._billing_ttl())
        return billing, caps

    def forget_billing(self, guild_id: int | None = None) -> None:
        cache = self._cached_billing()
        if guild_id is None:
            cache.clear()
        else:
            cache.pop(guild_id, None)

    async def guild_billing(self, guild_id: int) -> GuildBilling:
        return (await self.billing_and_caps(guild_id))[0]

    async def role_caps(self, guild_id: int) -> dict[int, int]:
        """Role id → songs per day for members with that role."""
        return dict((await self.billing_and_caps(guild_id))[1])

    async def guilds_with_keys(self) -> list[GuildBilling]:
        rows = await self._fetchall(f"SELECT {_BILLING_COLUMNS} FROM guild_billing WHERE api_key IS NOT NULL")
        return [_billing_from_row(row) for row in rows]

    async def set_api_key(self, guild_id: int, encrypted: str | None, hint: str | None) -> GuildBilling:
        """Store (or with None remove) a server's encrypted key; a new key ends a refusal episode."""
        await self._write(
            "INSERT INTO guild_billing (guild_id, api_key, api_key_hint) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET api_key = excluded.api_key, api_key_hint = excluded.api_key_hint, "
            "key_refused_at = NULL, key_refused_code = NULL",
            (guild_id, encrypted, hint),
        )
        self.forget_billing(guild_id)
        return await self.guild_billing(guild_id)

    async def replace_encrypted_key(self, guild_id: int, old: str, new: str) -> bool:
        """Re-encrypt a stored key under the first SECRET_KEY (rotation), unless it changed meanwhile."""
        changed = await self._write(
            "UPDATE guild_billing SET api_key = ? WHERE guild_id = ? AND api_key = ?", (new, guild_id, old)
        )
        self.forget_billing(guild_id)
        return changed == 1

    async def update_billing(self, guild_id: int, **changes: Any) -> GuildBilling:
        """Set `monthly_budget` and/or `alerts_channel_id` (None: none)."""
        unknown = set(changes) - set(_BILLING_FIELDS)
        if unknown:
            raise ValueError(f"unknown billing settings {sorted(unknown)}")
        if changes:
            names = list(changes)
            await self._write(
                f"INSERT INTO guild_billing (guild_id, {', '.join(names)}) VALUES (?, {', '.join('?' for _ in names)}) "
                "ON CONFLICT (guild_id) DO UPDATE SET " + ", ".join(f"{name} = excluded.{name}" for name in names),
                (guild_id, *changes.values()),
            )
        self.forget_billing(guild_id)
        return await self.guild_billing(guild_id)

    async def key_refused(self, guild_id: int, encrypted: str, code: str, at: float) -> bool:
        """The API refused the server's key: open a pause episode and queue its managers' alert, in
        one transaction. True only for the call that opened it (once per episode, any process);
        nothing happens if the key was replaced meanwhile."""
        async with self._transaction() as tx:
            row = await tx.fetchone(
                "UPDATE guild_billing SET key_refused_at = ?, key_refused_code = ? "
                "WHERE guild_id = ? AND api_key = ? AND key_refused_at IS NULL RETURNING alerts_channel_id",
                (at, code, guild_id, encrypted),
            )
            if row is not None:
                step = OutboxStep(f"key-refused:{guild_id}:{at!r}", "key_refused", guild_id, channel_id=row[0])
                await self._queue_steps(tx, [step])
        self.forget_billing(guild_id)
        return row is not None

    async def set_role_cap(self, guild_id: int, role_id: int, songs_per_day: int | None) -> None:
        """A daily cap for members with the role; None removes it."""
        if songs_per_day is None:
            await self._write("DELETE FROM role_caps WHERE guild_id = ? AND role_id = ?", (guild_id, role_id))
        else:
            await self._write(
                "INSERT INTO role_caps (guild_id, role_id, songs_per_day) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, role_id) DO UPDATE SET songs_per_day = excluded.songs_per_day",
                (guild_id, role_id, songs_per_day),
            )
        self.forget_billing(guild_id)

    # -- usage -------------------------------------------------------------------------------

    async def month_usage(self, guild_id: int, month: str) -> MonthUsage:
        row = await self._fetchone(
            "SELECT guild_id, month, used, own_key_used, alerted FROM monthly_usage WHERE guild_id = ? AND month = ?",
            (guild_id, month),
        )
        return MonthUsage(*row) if row else MonthUsage(guild_id, month, 0, 0, 0)

    async def months_usage(self, month: str | None = None) -> list[MonthUsage]:
        """Every server's month counters (one month's, or all), by month then server."""
        where, params = ("WHERE month = ?", (month,)) if month else ("", ())
        rows = await self._fetchall(
            f"SELECT guild_id, month, used, own_key_used, alerted FROM monthly_usage {where} ORDER BY month, guild_id",
            params,
        )
        return [MonthUsage(*row) for row in rows]

    async def usage_rows(
        self, guild_id: int, first_day: str, last_day: str, *, user_id: int | None = None
    ) -> list[UsageRow]:
        """Credits by day, member and action: songs from their tasks (refunded ones left out), the
        rest (lyrics) from `credit_usage`."""
        member, member_params = (" AND requester_id = ?", (user_id,)) if user_id is not None else ("", ())
        rows = await self._fetchall(
            "SELECT quota_day, requester_id, action, SUM(cost) FROM tasks WHERE guild_id = ? "
            f"AND quota_day >= ? AND quota_day <= ? AND refunded = 0 AND cost > 0{member} "
            "GROUP BY quota_day, requester_id, action",
            (guild_id, first_day, last_day, *member_params),
        )
        member = member.replace("requester_id", "user_id")
        rows += await self._fetchall(
            "SELECT day, user_id, action, used FROM credit_usage WHERE guild_id = ? "
            f"AND day >= ? AND day <= ? AND used > 0{member}",
            (guild_id, first_day, last_day, *member_params),
        )
        usage = [UsageRow(str(day), int(user), str(action), int(credits)) for day, user, action, credits in rows]
        return sorted(usage, key=lambda row: (row.day, row.action, row.user_id))

    # -- the charge path (called inside the quota's transactions) ----------------------------

    async def _read_months(self, tx: Transaction, keys: Iterable[tuple[int, str]]) -> MonthBook:
        """The month counters of these (guild, day) keys; the caller holds the guilds' locks."""
        months = sorted({(guild, month_of(day)) for guild, day in keys})
        used: dict[tuple[int, str], int] = {}
        alerted: dict[tuple[int, str], int] = {}
        if months:
            rows = await tx.fetchall(
                "SELECT guild_id, month, used, alerted FROM monthly_usage WHERE (guild_id, month) "
                f"IN (VALUES {self._values(('bigint', 'text'), len(months))})",
                [value for key in months for value in key],
            )
            for guild, month, count, alert in rows:
                used[(int(guild), str(month))] = int(count)
                alerted[(int(guild), str(month))] = int(alert)
        return MonthBook(used, alerted)

    async def _write_months(self, tx: Transaction, book: MonthBook, own_key_tasks: Iterable[int] = ()) -> None:
        """Add what the batch charged to the month counters (never set them: a refund committed
        meanwhile stays), mark own-key tasks, and queue the budget alerts it crossed."""
        if not book.changed:
            return
        alerts = book.alerts()
        await tx.executemany(
            "INSERT INTO monthly_usage (guild_id, month, used, own_key_used, alerted) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, month) DO UPDATE SET used = monthly_usage.used + excluded.used, "
            "own_key_used = monthly_usage.own_key_used + excluded.own_key_used, "
            "alerted = CASE WHEN excluded.alerted > monthly_usage.alerted THEN excluded.alerted "
            "ELSE monthly_usage.alerted END",
            [(*key, value, book.own.get(key, 0), book.alerted.get(key, 0)) for key, value in book.changed.items()],
        )
        tasks = list(own_key_tasks)
        if tasks:
            await tx.executemany("INSERT INTO own_key_tasks (task_id) VALUES (?)", [(task_id,) for task_id in tasks])
        if alerts:
            channels = await self._alert_channels(tx, {guild for guild, _, _ in alerts})
            steps = [
                OutboxStep(f"budget:{guild}:{month}:{per_cent}", "budget_alert", guild, channel_id=channels.get(guild))
                for guild, month, per_cent in alerts
            ]
            await self._queue_steps(tx, steps)

    async def _alert_channels(self, tx: Transaction, guilds: set[int]) -> dict[int, int]:
        marks = ", ".join("?" for _ in guilds)
        rows = await tx.fetchall(
            f"SELECT guild_id, alerts_channel_id FROM guild_billing WHERE guild_id IN ({marks}) "
            "AND alerts_channel_id IS NOT NULL",
            sorted(guilds),
        )
        return {int(guild): int(channel) for guild, channel in rows}

    async def _refund_month(self, tx: Transaction, task: Task) -> None:
        """Give a refunded task's credits back to its month (and to its own-key share)."""
        own = await tx.execute("DELETE FROM own_key_tasks WHERE task_id = ?", (task.id,))
        own_cost = task.cost if own else 0
        await tx.execute(
            "UPDATE monthly_usage SET used = CASE WHEN used > ? THEN used - ? ELSE 0 END, "
            "own_key_used = CASE WHEN own_key_used > ? THEN own_key_used - ? ELSE 0 END "
            "WHERE guild_id = ? AND month = ?",
            (task.cost, task.cost, own_cost, own_cost, task.guild_id, month_of(task.quota_day)),
        )

    async def _move_credit_usage(
        self, tx: Transaction, guild_id: int, user_id: int, day: str, action: str, delta: int, *, own_key: bool = False
    ) -> None:
        """Credits for what is not a song (lyrics), for /usage: +cost on a charge, -cost on a refund.
        A refund also gives the month its credits back (a charge's month moves in `_write_months`)."""
        if delta > 0:
            await tx.execute(
                "INSERT INTO credit_usage (guild_id, user_id, day, action, used) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id, user_id, day, action) DO UPDATE SET used = credit_usage.used + excluded.used",
                (guild_id, user_id, day, action, delta),
            )
            return
        cost = -delta
        await tx.execute(
            "UPDATE credit_usage SET used = CASE WHEN used > ? THEN used - ? ELSE 0 END "
            "WHERE guild_id = ? AND user_id = ? AND day = ? AND action = ?",
            (cost, cost, guild_id, user_id, day, action),
        )
        own = cost if own_key else 0
        await tx.execute(
            "UPDATE monthly_usage SET used = CASE WHEN used > ? THEN used - ? ELSE 0 END, "
            "own_key_used = CASE WHEN own_key_used > ? THEN own_key_used - ? ELSE 0 END "
            "WHERE guild_id = ? AND month = ?",
            (cost, cost, own, own, guild_id, month_of(day)),
        )
