"""Daily quotas: what an action costs, a guild's limits, and charging or refunding credits.

A guild has a daily allowance of credits, optionally a cap per member (or per role: the highest of
the member's roles' caps, `/limits`), a monthly budget, and limits on songs running and waiting;
days are UTC days (`utc_day`) and credits come back at UTC midnight (`next_reset`). Who pays
decides which limits apply: a server with its own API key is limited only by its own settings (the
owner's allowance is for the owner's key), and with `REQUIRE_SERVER_KEYS` a server without one
cannot spend at all (`spending_limits`).
Songs are charged atomically when they join the guild's line (`SongService.enqueue`); what is not
a song (lyrics) is charged here (`Quota.charge_credits`) against the same allowance and cap.
`SongService` answers for this class (`bot.songs.limits`, `charge_credits`, `check_quota`...).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.core.errors import InvalidInput, Phrase, QueueFull, QuotaExceeded
from bot.core.settings import DEFAULT_COSTS, Settings
from bot.i18n import N_
from bot.songs.requests import Clock
from bot.storage.billing import GuildBilling
from bot.storage.models import CreditLimits
from bot.storage.repository import Limits, Repository


def utc_day(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).date().isoformat()


NO_LIMIT = 2**31 - 1
"""The daily allowance of a server that pays with its own key (the owner's allowance is not its)."""

NEEDS_KEY = N_(
    "This bot makes songs only with a server's own Producer API key, and this server has none yet. "
    "Members: ask a server manager. Managers: get a key at https://platform.acedata.cloud (Credentials), "
    "then run `/settings api_key:True` and paste it."
)
PAUSED = N_(
    "Songs are paused in this server: the music service refused its own API key. Its managers have been "
    "told; nothing was charged."
)


def next_month(timestamp: float) -> int:
    """Unix time of the first of next month (UTC), when a monthly budget starts again."""
    day = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).date()
    first = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return int(dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC).timestamp())


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
    action: str = "lyrics"
    own_key: bool = False
    """Paid with the server's own key (its refund gives back that share of the month too)."""


class Quota:
    """A guild's limits and a member's use of them, read from the repository and the settings."""

    def __init__(self, settings: Settings, repo: Repository, *, clock: Clock) -> None:
        self._settings = settings
        self._repo = repo
        self._clock = clock

    async def limits(self, guild_id: int, role_ids: tuple[int, ...] = ()) -> Limits:
        """A guild's limits: its own settings where set, the bot's defaults elsewhere; with the
        member's roles, their cap is the highest of their roles' caps (else the server's)."""
        return (await self._limits(guild_id, role_ids))[0]

    async def _limits(self, guild_id: int, role_ids: tuple[int, ...]) -> tuple[Limits, GuildBilling]:
        own = await self._repo.guild_settings(guild_id)
        billing, caps = await self._repo.billing_and_caps(guild_id)  # one cached read
        defaults = self._settings
        role_caps = [caps[role] for role in role_ids if role in caps]
        allowance = own.daily_allowance if own.daily_allowance is not None else defaults.guild_daily_quota
        return Limits(
            daily_allowance=NO_LIMIT if billing.has_key else allowance,
            member_daily_cap=max(role_caps) if role_caps else own.member_daily_cap,
            max_running=own.max_running or defaults.max_running,
            max_running_per_member=own.max_running_per_member or defaults.max_running_per_member,
            max_queued=own.max_queued if own.max_queued is not None else defaults.max_queued,
            monthly_budget=billing.monthly_budget or None,
            own_key=billing.has_key,
        ), billing

    async def spending_limits(self, guild_id: int, role_ids: tuple[int, ...] = ()) -> Limits:
        """`limits` for a charge, after the checks of who pays: a paused server key, or
        `REQUIRE_SERVER_KEYS` and no key, refuse before anything is charged."""
        limits, billing = await self._limits(guild_id, role_ids)
        if billing.paused:
            raise QuotaExceeded(PAUSED)
        if not limits.own_key and self._settings.require_server_keys:
            raise InvalidInput(NEEDS_KEY)
        return limits

    def cost_of(self, action: str) -> int:
        """Credits an action costs; `upload_cover` costs what `cover` does, lyrics are free by default."""
        action = action.removeprefix("upload_")
        return self._settings.action_costs.get(action, DEFAULT_COSTS.get(action, 1))

    async def charge_credits(self, guild_id: int, user_id: int, action: str) -> Charge:
        """Charge for something that is not a song (lyrics): the same allowance and member cap, no
        queue. Raises `QuotaExceeded` (nothing charged); give it back with `refund_credits`."""
        now = self._clock()
        limits = await self.spending_limits(guild_id)
        charge = Charge(guild_id, user_id, utc_day(now), self.cost_of(action), action, limits.own_key)
        if charge.cost:
            refused = await self._repo.charge_credits(
                guild_id,
                user_id,
                charge.day,
                charge.cost,
                CreditLimits(limits.daily_allowance, limits.member_daily_cap, limits.monthly_budget, limits.own_key),
                action=charge.action,
            )
            if refused is not None:
                raise self.refusal(refused, limits, now)
        return charge

    async def refund_credits(self, charge: Charge) -> None:
        await self._repo.refund_credits(
            charge.guild_id, charge.user_id, charge.day, charge.cost, action=charge.action, own_key=charge.own_key
        )

    async def check_quota(self, guild_id: int, user_id: int, role_ids: tuple[int, ...] = ()) -> None:
        """A read-only early check, for work worth skipping when the charge would fail anyway.

        The charge itself (`enqueue`) stays the atomic, authoritative check.
        """
        now = self._clock()
        limits = await self.spending_limits(guild_id, role_ids)
        day = utc_day(now)
        if await self._repo.quota_used(guild_id, day) + 1 > limits.daily_allowance:
            raise self.refusal("guild", limits, now)
        member_used = await self._repo.member_used(guild_id, user_id, day)
        if limits.member_daily_cap is not None and member_used + 1 > limits.member_daily_cap:
            raise self.refusal("member", limits, now)

    def refusal(self, reason: str, limits: Limits, now: float) -> QuotaExceeded:
        back = f"<t:{next_reset(now)}:R>"
        if reason == "member":
            cap = limits.member_daily_cap or 0
            return QuotaExceeded(
                Phrase.counted(
                    "You have used your {count} song for today in this server. Yours come back {when}.",
                    "You have used your {count} songs for today in this server. Yours come back {when}.",
                    cap,
                    when=back,
                )
            )
        if reason == "budget":
            return QuotaExceeded(
                "This server has spent its monthly budget of {budget} credits. It starts again on {when}.",
                budget=limits.monthly_budget,
                when=f"<t:{next_month(now)}:D>",
            )
        if reason == "queue":
            return QueueFull(
                Phrase.counted(
                    "The queue is full ({count} song waiting). Nothing was charged; try again when it has finished.",
                    "The queue is full ({count} songs waiting). Nothing was charged; "
                    "try again when some have finished.",
                    limits.max_queued,
                )
            )
        return QuotaExceeded(
            Phrase.counted(
                "This server has used its {count} song for today. Credits come back {when}.",
                "This server has used all {count} songs for today. Credits come back {when}.",
                limits.daily_allowance,
                when=back,
            )
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
