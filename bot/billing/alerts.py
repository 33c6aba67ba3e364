"""Telling a server's managers about its spending: budget thresholds and a refused own key.

Both are outbox steps, queued in the transaction that crossed the threshold or opened the pause
(`bot.storage.billing`), so each is sent once whichever process does it, and a process that stops
first leaves it for the next. They go to the server's `alerts_channel`, else to the server's owner
by DM. The bot's owner is not paged for a server's own key: it is not their account.
"""

from __future__ import annotations

import logging

import discord

from bot.i18n import resolve, t
from bot.storage.outbox import OutboxItem
from bot.storage.repository import Repository

from . import wording
from .keys import hint
from .usage import month_reset

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


class BillingAlerts:
    """The outbox handlers `budget_alert` and `key_refused` (registered by the bot)."""

    def __init__(self, client: discord.Client, repo: Repository) -> None:
        self._client = client
        self._repo = repo

    async def budget_alert(self, item: OutboxItem) -> None:
        """`budget:<guild>:<YYYY-MM>:<per cent>`: the month's use against its budget as it is now."""
        _, _, month, per_cent = item.key.split(":")
        usage = await self._repo.month_usage(item.guild_id, month)
        budget = (await self._repo.guild_billing(item.guild_id)).monthly_budget
        if not budget:
            return  # the budget was removed meanwhile: nothing to warn about
        locale = await self._language(item.guild_id)
        text = t(locale, wording.BUDGET_ALERT, per_cent=per_cent, used=usage.used, budget=budget, month=month)
        if int(per_cent) >= 100:
            text += " " + t(locale, wording.BUDGET_SPENT, reset=month_reset(month))
        await self._tell_managers(item, text, locale)

    async def key_refused(self, item: OutboxItem) -> None:
        billing = await self._repo.guild_billing(item.guild_id)
        if not billing.paused:
            return  # a manager saved a key again before this was sent
        locale = await self._language(item.guild_id)
        text = t(locale, wording.KEY_REFUSED_ALERT, hint=hint(billing.api_key_hint), code=billing.key_refused_code)
        await self._tell_managers(item, text, locale)

    async def _language(self, guild_id: int) -> str:
        """The server's language (`/settings language:`, else its preferred locale when the bot speaks it)."""
        chosen = (await self._repo.guild_settings(guild_id)).language
        guild = self._client.get_guild(guild_id)
        return resolve(chosen or (guild.preferred_locale if guild is not None else None))

    async def _tell_managers(self, item: OutboxItem, text: str, locale: str) -> None:
        """The alerts channel, else the server owner's DMs. Raises `discord.HTTPException` for a fault
        worth retrying (the outbox retries with backoff)."""
        channel_id = (await self._repo.guild_billing(item.guild_id)).alerts_channel_id or item.channel_id
        if channel_id:
            channel = self._client.get_partial_messageable(channel_id, guild_id=item.guild_id)
            try:
                await channel.send(text, allowed_mentions=NO_MENTIONS)
                return
            except (discord.Forbidden, discord.NotFound) as exc:
                log.warning(
                    "Server %d: cannot post to its alerts channel (%s); DMing its owner", item.guild_id, exc.code
                )
        guild = self._client.get_guild(item.guild_id) or await self._client.fetch_guild(item.guild_id)
        if guild.owner_id is None:
            log.warning("Server %d: its owner is unknown, so the alert is dropped", item.guild_id)
            return
        owner = await self._client.fetch_user(guild.owner_id)
        try:
            await owner.send(
                f"{text}\n{t(locale, wording.ALERT_FOOTER, guild=discord.utils.escape_markdown(guild.name))}",
                allowed_mentions=NO_MENTIONS,
            )
        except discord.Forbidden:
            log.warning("Server %d: its owner does not take DMs; set /settings alerts_channel", item.guild_id)
