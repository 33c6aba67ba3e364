"""/quota, and the Cancel button on status lines of waiting and running songs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.commands import report_error
from bot.songs.render import EMBED_COLOUR, NO_MENTIONS, request_label
from bot.storage.repository import CANCELLABLE_STATES, Task

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

JOB_STATES = {
    "queued": "queued",
    "reserved": "starting",
    "pending": "generating",
    "received": "posting",
    "delivering": "posting",
}


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"task:cancel:(?P<task_id>\d{1,18})"):
    """Cancel a waiting or running song; the custom id carries the task, so it survives restarts."""

    def __init__(self, task_id: int) -> None:
        super().__init__(
            discord.ui.Button(label="Cancel", style=discord.ButtonStyle.danger, custom_id=f"task:cancel:{task_id}")
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
            await interaction.followup.send("Cancelled. Your credit was refunded.", ephemeral=True)
        except Exception as exc:  # buttons do not pass through the command tree's handler
            await report_error(interaction, exc)


def status_view(task: Task) -> discord.ui.View | None:
    """A Cancel button while the song waits or runs; nothing once it is done."""
    if task.state not in CANCELLABLE_STATES:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(task.id))
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
        limits = await songs.limits(interaction.guild_id)
        guild_used, member_used, reset = await songs.usage(interaction.guild_id, interaction.user.id)
        embed = discord.Embed(title="Songs today", colour=EMBED_COLOUR, description=self.bot.alerts.member_notice)
        embed.add_field(name="This server", value=f"{guild_used} of {limits.daily_allowance} used", inline=True)
        cap = f"{limits.member_daily_cap}" if limits.member_daily_cap is not None else "no personal cap"
        embed.add_field(name="You", value=f"{member_used} used ({cap})", inline=True)
        embed.add_field(name="Resets", value=f"<t:{reset}:R>", inline=True)
        jobs = await songs.member_jobs(interaction.guild_id, interaction.user.id)
        positions = await self.bot.repo.queue_positions(interaction.guild_id)
        lines = []
        for job in jobs:
            state = JOB_STATES.get(job.state, job.state)
            if job.id in positions:
                state = f"queued, #{positions[job.id]}"
            lines.append(f"**{request_label(job)}** · {job.action} · {state}")
        embed.add_field(name="Your songs in progress", value="\n".join(lines)[:1024] or "None.", inline=False)
        embed.set_footer(
            text=f"At most {limits.max_running} songs run at once here ({limits.max_running_per_member} per member); "
            f"up to {limits.max_queued} wait in line."
        )
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: MusicBot) -> None:
    """Load /quota and the Cancel button."""
    await bot.add_cog(Quota(bot))
