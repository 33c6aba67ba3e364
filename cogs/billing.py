"""Paying for songs: `/limits` (role caps) and `/usage` (what was spent), plus the parts of
`/settings` that are about money (`api_key`, `clear_api_key`, `monthly_budget`, `alerts_channel`),
which `cogs/admin.py` hands over to the functions here."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.billing import wording
from bot.billing.keys import hint
from bot.billing.usage import summary_text
from bot.core.errors import InvalidInput, Phrase
from bot.i18n import N_, Locale, t
from bot.songs.render import EMBED_COLOUR, NO_MENTIONS
from bot.storage.billing import GuildBilling
from cogs._common import Field, InputModal

if TYPE_CHECKING:
    from bot.app.bot import MusicBot


def is_manager(interaction: discord.Interaction) -> bool:
    return bool(interaction.permissions.manage_guild)


async def open_api_key_form(bot: MusicBot, interaction: discord.Interaction) -> None:
    """`/settings api_key:True`: a form with one field; the key is checked, then kept encrypted."""
    assert interaction.guild_id is not None
    if not bot.billing.keys.available:
        raise InvalidInput(wording.CANNOT_STORE)
    guild_id = interaction.guild_id

    async def submitted(modal_interaction: discord.Interaction, values: dict[str, str]) -> None:
        await modal_interaction.response.defer(ephemeral=True, thinking=True)
        saved = await bot.billing.keys.save(guild_id, values.get("secret", ""))
        text = t(modal_interaction.locale, wording.KEY_SAVED, hint=hint(saved.api_key_hint))
        await modal_interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        await bot.songs.pump(guild_id)  # songs waiting in line may go now

    # "secret": the form's input is blanked from debug logs of the interaction (bot.core.logs).
    placeholder = N_("From platform.acedata.cloud")
    field = Field("secret", N_("Producer API token"), max_length=200, required=True, placeholder=placeholder)
    title = t(interaction.locale, "This server's Producer API key")
    await interaction.response.send_modal(
        InputModal(
            title, [field], submitted, form="form:api-key", member_id=interaction.user.id, locale=interaction.locale
        )
    )


async def apply_money_settings(
    bot: MusicBot,
    guild_id: int,
    *,
    clear_api_key: bool,
    monthly_budget: int | None,
    alerts_channel: discord.TextChannel | None,
) -> list[Phrase]:
    """The money options of `/settings`; returns sentences worth saying about what changed."""
    said: list[Phrase] = []
    if clear_api_key:
        who = wording.KEY_CLEARED_REQUIRED if bot.settings.require_server_keys else wording.KEY_CLEARED_OWNER_PAYS
        await bot.billing.keys.clear(guild_id)
        said.append(Phrase(wording.KEY_CLEARED, who=Phrase(who)))
    await bot.billing.set_budget(
        guild_id, budget=monthly_budget, alerts_channel_id=alerts_channel.id if alerts_channel else None
    )
    return said


def add_money_fields(embed: discord.Embed, billing: GuildBilling, *, require_keys: bool, locale: Locale = None) -> None:
    """Who pays, the budget and the alerts channel, on the `/settings` embed (in the manager's language)."""
    if billing.has_key and billing.paused:
        payer = t(
            locale,
            "this server's own key ({hint}), refused by the API: songs are paused until a manager saves a key again",
            hint=hint(billing.api_key_hint),
        )
    elif billing.has_key:
        payer = t(locale, "this server's own key ({hint})", hint=hint(billing.api_key_hint))
    else:
        payer = (
            t(locale, "nobody: add a key with /settings api_key:True") if require_keys else t(locale, "the bot's owner")
        )
    embed.add_field(name=t(locale, "Songs paid by"), value=payer, inline=False)
    if billing.monthly_budget:
        budget = t(locale, "{credits} credits per month", credits=billing.monthly_budget)
    else:
        budget = t(locale, "none")
    embed.add_field(name=t(locale, "Monthly budget"), value=budget, inline=True)
    channel = f"<#{billing.alerts_channel_id}>" if billing.alerts_channel_id else t(locale, "the server owner's DMs")
    embed.add_field(name=t(locale, "Spending alerts"), value=channel, inline=True)


class Billing(commands.Cog):
    """`/limits` and `/usage`."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    @app_commands.command(name="limits", description="Show or set songs per day for members with a role.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        role="The role to set a daily cap for",
        songs_per_day="Songs per day for members with this role (0 = no songs)",
        clear="Remove this role's cap",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        role: discord.Role | None = None,
        songs_per_day: app_commands.Range[int, 0, 1000] | None = None,
        clear: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        changing = role is not None and (songs_per_day is not None or clear)
        if changing and not is_manager(interaction):
            raise InvalidInput("You need the Manage Server permission to change role limits.")
        if (songs_per_day is not None or clear) and role is None:
            raise InvalidInput("Name the `role` to set or clear a cap for.")
        locale = interaction.locale
        said = ""
        if changing:
            assert role is not None
            await self.bot.billing.set_role_cap(interaction.guild_id, role.id, None if clear else songs_per_day)
            if clear:
                said = t(locale, "Cleared the cap of {role}.", role=role.mention)
            else:
                said = t(locale, "{role}: {count} songs per day.", role=role.mention, count=songs_per_day)
        caps = await self.bot.billing.role_caps(interaction.guild_id)
        limits = await self.bot.songs.limits(interaction.guild_id)
        lines = [
            t(locale, "{role}: {count} songs per day", role=f"<@&{role_id}>", count=cap)
            for role_id, cap in sorted(caps.items(), key=lambda c: -c[1])
        ]
        default = str(limits.member_daily_cap) if limits.member_daily_cap is not None else t(locale, "no cap")
        embed = discord.Embed(title=t(locale, "Songs per day by role"), colour=EMBED_COLOUR)
        embed.description = "\n".join(lines) or t(locale, "No role caps.")
        embed.add_field(name=t(locale, "Everyone else (member_cap)"), value=default, inline=False)
        embed.set_footer(text=t(locale, "A member's cap is the highest of their roles' caps."))
        await interaction.response.send_message(said or None, embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="usage", description="Credits this server spent, as a chart.")
    @app_commands.guild_only()
    @app_commands.describe(period="7 days, 30 days or this month (default 30d)", member="Only this member's use")
    async def usage(
        self,
        interaction: discord.Interaction,
        period: Literal["7d", "30d", "month"] = "30d",
        member: discord.Member | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        if not is_manager(interaction):
            if member is not None and member.id != interaction.user.id:
                raise InvalidInput("You can see your own usage; a member's needs the Manage Server permission.")
            member = interaction.user if isinstance(interaction.user, discord.Member) else None
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild

        def names(ids: list[int]) -> dict[int, str]:
            found = {user: guild.get_member(user) for user in ids} if guild is not None else {}
            return {user: person.display_name for user, person in found.items() if person is not None}

        report, png = await self.bot.billing.usage(
            interaction.guild_id, period, member_id=member.id if member else None, names=names
        )
        summary = summary_text(report, interaction.locale)
        await interaction.followup.send(
            summary,
            file=discord.File(io.BytesIO(png), filename="usage.png", description=summary[:1000]),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: MusicBot) -> None:
    """Load /limits and /usage."""
    await bot.add_cog(Billing(bot))
