"""`Billing`: the one object the bot builds for paying for songs, and what cogs ask of it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.core.errors import InvalidInput
from bot.core.secrets import SecretBox
from bot.core.settings import Settings
from bot.producer.client import ProducerClient
from bot.storage.billing import GuildBilling
from bot.storage.outbox import OutboxItem
from bot.storage.repository import Repository

from .alerts import BillingAlerts
from .chart import render_png
from .keys import KeyStore
from .usage import PERIODS, UsageReport, build_report

log = logging.getLogger(__name__)

Register = Callable[[str, Callable[[OutboxItem], Awaitable[None]]], None]

MAX_ROLE_CAP = 1000


class Billing:
    """Server keys (`keys`), managers' alerts, budgets, role caps and usage reports."""

    def __init__(
        self,
        settings: Settings,
        repo: Repository,
        api: ProducerClient,
        client: discord.Client,
        *,
        clock: Callable[[], float],
    ) -> None:
        box = SecretBox(str(settings.secret_key)) if settings.secret_key else None
        self.settings = settings
        self.keys = KeyStore(repo, box, api, clock=clock)
        self.alerts = BillingAlerts(client, repo)
        self._repo = repo
        self._clock = clock
        api.keys = self.keys
        api.server_key_listeners.append(self.keys.observe)

    def register(self, register: Register, wake: Callable[[], None]) -> None:
        """Hand the outbox its two alert steps; a refused key wakes it so managers hear at once."""
        register("budget_alert", self.alerts.budget_alert)
        register("key_refused", self.alerts.key_refused)
        self.keys.refused = lambda guild_id: wake()

    async def start(self) -> None:
        """After a SECRET_KEY rotation, re-encrypt stored keys with the new first key."""
        try:
            rotated = await self.keys.rotate_all()
        except Exception:
            log.exception("Re-encrypting servers' API keys failed; they still work with the old key")
            return
        if rotated:
            log.info("Re-encrypted %d server API key(s) with the first SECRET_KEY", rotated)

    async def billing(self, guild_id: int) -> GuildBilling:
        return await self._repo.guild_billing(guild_id)

    async def set_budget(
        self, guild_id: int, *, budget: int | None = None, alerts_channel_id: int | None = None
    ) -> None:
        changes: dict[str, int | None] = {}
        if budget is not None:
            if not 0 <= budget <= 10_000_000:
                raise InvalidInput("`monthly_budget` must be between 0 (no budget) and 10000000 credits.")
            changes["monthly_budget"] = budget or None
        if alerts_channel_id is not None:
            changes["alerts_channel_id"] = alerts_channel_id
        if changes:
            await self._repo.update_billing(guild_id, **changes)

    async def clear_alerts_channel(self, guild_id: int) -> None:
        await self._repo.update_billing(guild_id, alerts_channel_id=None)

    async def set_role_cap(self, guild_id: int, role_id: int, songs_per_day: int | None) -> None:
        if songs_per_day is not None and not 0 <= songs_per_day <= MAX_ROLE_CAP:
            raise InvalidInput("`songs_per_day` must be between 0 and {most}.", most=MAX_ROLE_CAP)
        await self._repo.set_role_cap(guild_id, role_id, songs_per_day)

    async def role_caps(self, guild_id: int) -> dict[int, int]:
        return await self._repo.role_caps(guild_id)

    async def usage(
        self, guild_id: int, period: str, *, member_id: int | None, names: Callable[[list[int]], dict[int, str]]
    ) -> tuple[UsageReport, bytes]:
        """The report and its picture (drawn in a thread: matplotlib is CPU work)."""
        if period not in PERIODS:
            raise InvalidInput("`period` must be one of {periods}.", periods=", ".join(PERIODS))
        report = await build_report(self._repo, guild_id, period, self._clock(), member_id=member_id)
        member_names = names([user for user, _ in report.by_member])
        png = await asyncio.to_thread(render_png, report, member_names)
        return report, png

    async def close(self) -> None:
        await self.keys.close()
