"""/quota, and the Cancel button on status lines of waiting and running songs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.commands import report_error
from bot.i18n import N_, number, t
from bot.songs.render import EMBED_COLOUR, NO_MENTIONS, request_label
from bot.storage.repository import CANCELLABLE_STATES, Task

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

JOB_STATES = {
    "queued": N_("queued"),
    "reserved": N_("starting"),
    "pending": N_("generating"),
    "received": N_("posting"),
    "delivering": N_("posting"),
}


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"task:cancel:(?P<task_id>\d{1,18})"):
    """Cancel a waiting or running song; the custom id carries the task, so it survives restarts."""

    def __init__(self, task_id: int, locale: str | None = None) -> None:
        label = t(locale, "Cancel")
        super().__init__(
            discord.ui.Button(label=label, style=discord.ButtonStyle.danger, custom_id=f"task:cancel:{task_id}")
        )
        self.task_id = task_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(int(match["task_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MusicBot = interaction.client  # type: ignore[assignment]
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            manager = interaction.permissions.manage_guild
            await bot.songs.cancel(self.task_id, user_id=interaction.user.id, is_manager=manager)
            await interaction.followup.send(
                t(interaction.locale, "Cancelled. Your credit was refunded."), ephemeral=True
            )
        except Exception as exc:  # buttons do not pass through the command tree's handler
            await report_error(interaction, exc)


def status_view(task: Task, locale: str | None = None) -> discord.ui.View | None:
    """A Cancel button while the song waits or runs (labelled in the status line's language)."""
    if task.state not in CANCELLABLE_STATES:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(task.id, locale))
    return view


class Quota(commands.Cog):
    """How much a server and a member have used today, and their songs in progress."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(CancelButton)
        self.bot.delivery.status_view = status_view

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(CancelButton)
        self.bot.delivery.status_view = None

    @app_commands.command(name="quota", description="Songs left today for this server and for you.")
    @app_commands.guild_only()
    async def quota(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        songs = self.bot.songs
        locale = interaction.locale
        limits = await songs.limits(interaction.guild_id)
        guild_used, member_used, reset = await songs.usage(interaction.guild_id, interaction.user.id)
        notice = self.bot.alerts.member_notice
        notice = t(locale, notice) if notice else None
        embed = discord.Embed(title=t(locale, "Songs today"), colour=EMBED_COLOUR, description=notice)
        server = t(
            locale,
            "{used} of {allowance} used",
            used=number(locale, guild_used),
            allowance=number(locale, limits.daily_allowance),
        )
        embed.add_field(name=t(locale, "This server"), value=server, inline=True)
        if limits.member_daily_cap is not None:
            you = t(
                locale,
                "{used} used (your cap: {cap})",
                used=number(locale, member_used),
                cap=number(locale, limits.member_daily_cap),
            )
        else:
            you = t(locale, "{used} used (no personal cap)", used=number(locale, member_used))
        embed.add_field(name=t(locale, "You"), value=you, inline=True)
        embed.add_field(name=t(locale, "Resets"), value=f"<t:{reset}:R>", inline=True)
        jobs = await songs.member_jobs(interaction.guild_id, interaction.user.id)
        positions = await self.bot.repo.queue_positions(interaction.guild_id)
        lines = []
        for job in jobs:
            state = t(locale, JOB_STATES.get(job.state, job.state))
            if job.id in positions:
                state = t(locale, "queued, #{place}", place=positions[job.id])
            lines.append(f"**{request_label(job)}** · {job.action} · {state}")
        value = "\n".join(lines)[:1024] or t(locale, "None.")
        embed.add_field(name=t(locale, "Your songs in progress"), value=value, inline=False)
        embed.set_footer(
            text=t(
                locale,
                "At most {running} songs run at once here ({per_member} per member); up to {queued} wait in line.",
                running=limits.max_running,
                per_member=limits.max_running_per_member,
                queued=limits.max_queued,
            )
        )
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: MusicBot) -> None:
    """Load /quota and the Cancel button."""
    await bot.add_cog(Quota(bot))
