"""Daily quotas: what an action costs, a guild's limits, and charging or refunding credits.

A guild has a daily allowance of credits, optionally a cap per member, and limits on songs running
and waiting; days are UTC days (`utc_day`) and credits come back at UTC midnight (`next_reset`).
Songs are charged atomically when they join the guild's line (`SongService.enqueue`); what is not
a song (lyrics) is charged here (`Quota.charge_credits`) against the same allowance and cap.
`SongService` answers for this class (`bot.songs.limits`, `charge_credits`, `check_quota`...).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.core.errors import QueueFull, QuotaExceeded
from bot.core.settings import DEFAULT_COSTS, Settings
from bot.songs.requests import Clock
from bot.storage.models import CreditLimits
from bot.storage.repository import Limits, Repository


def utc_day(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).date().isoformat()


def next_reset(timestamp: float) -> int:
    """Unix time of the next UTC midnight, when daily quotas start again."""
    today = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).date()
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return int(midnight.timestamp())


@dataclass(frozen=True, slots=True)
class Charge:
    """Credits taken for something that is not a song, so they can be given back to the same day."""

    guild_id: int
    user_id: int
    day: str
    cost: int


class Quota:
    """A guild's limits and a member's use of them, read from the repository and the settings."""

    def __init__(self, settings: Settings, repo: Repository, *, clock: Clock) -> None:
        self._settings = settings
        self._repo = repo
        self._clock = clock

    async def limits(self, guild_id: int) -> Limits:
        """A guild's limits: its own settings where set, the bot's defaults elsewhere."""
        own = await self._repo.guild_settings(guild_id)
        defaults = self._settings
        return Limits(
            daily_allowance=own.daily_allowance if own.daily_allowance is not None else defaults.guild_daily_quota,
            member_daily_cap=own.member_daily_cap,
            max_running=own.max_running or defaults.max_running,
            max_running_per_member=own.max_running_per_member or defaults.max_running_per_member,
            max_queued=own.max_queued if own.max_queued is not None else defaults.max_queued,
        )

    def cost_of(self, action: str) -> int:
        """Credits an action costs; `upload_cover` costs what `cover` does, lyrics are free by default."""
        action = action.removeprefix("upload_")
        return self._settings.action_costs.get(action, DEFAULT_COSTS.get(action, 1))

    async def charge_credits(self, guild_id: int, user_id: int, action: str) -> Charge:
        """Charge for something that is not a song (lyrics): the same allowance and member cap, no
        queue. Raises `QuotaExceeded` (nothing charged); give it back with `refund_credits`."""
        now = self._clock()
        charge = Charge(guild_id, user_id, utc_day(now), self.cost_of(action))
        if charge.cost:
            limits = await self.limits(guild_id)
            refused = await self._repo.charge_credits(
                guild_id,
                user_id,
                charge.day,
                charge.cost,
                CreditLimits(limits.daily_allowance, limits.member_daily_cap),
            )
            if refused is not None:
                raise self.refusal(refused, limits, now)
        return charge

    async def refund_credits(self, charge: Charge) -> None:
        await self._repo.refund_credits(charge.guild_id, charge.user_id, charge.day, charge.cost)

    async def check_quota(self, guild_id: int, user_id: int) -> None:
        """A read-only early check, for work worth skipping when the charge would fail anyway.

        The charge itself (`enqueue`) stays the atomic, authoritative check.
        """
        now = self._clock()
        limits = await self.limits(guild_id)
        day = utc_day(now)
        if await self._repo.quota_used(guild_id, day) + 1 > limits.daily_allowance:
            raise self.refusal("guild", limits, now)
        member_used = await self._repo.member_used(guild_id, user_id, day)
        if limits.member_daily_cap is not None and member_used + 1 > limits.member_daily_cap:
            raise self.refusal("member", limits, now)

    def refusal(self, reason: str, limits: Limits, now: float) -> QuotaExceeded:
        back = f"<t:{next_reset(now)}:R>"
        if reason == "member":
            return QuotaExceeded(
                f"You have used your {limits.member_daily_cap} songs for today in this server. Yours come back {back}."
            )
        if reason == "queue":
            return QueueFull(
                f"The queue is full ({limits.max_queued} songs waiting). Nothing was charged; "
                "try again when some have finished."
            )
        return QuotaExceeded(
            f"This server has used all {limits.daily_allowance} songs for today. Credits come back {back}."
        )

    async def usage(self, guild_id: int, user_id: int) -> tuple[int, int, int]:
        """Today's use for the guild and the member, and when it resets (unix time)."""
        now = self._clock()
        day = utc_day(now)
        return (
            await self._repo.quota_used(guild_id, day),
            await self._repo.member_used(guild_id, user_id, day),
            next_reset(now),
        )
