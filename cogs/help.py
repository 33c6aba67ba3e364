"""/help: the commands a member can use here, what each costs, and what is left today.

Built from the command tree itself, so a new command appears without editing this file. A command
costs credits when its name is something `ACTION_COSTS` prices (`/extend`, "Extend song",
`/lyrics`); managers (Manage Server) also see the commands Discord hides from members (those with
default permissions).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.settings import ACTIONS, PRICED
from bot.i18n import Locale, number, t, tc, tn
from bot.i18n.commands import MENU_NAME, SLASH_NAME
from bot.songs.render import EMBED_COLOUR, NO_MENTIONS

if TYPE_CHECKING:
    from bot.app.bot import MusicBot

FIELD_LIMIT = 1024
"""Discord's limit for one embed field's value."""
ALIASES = {"compose": "generate"}
"""Song commands whose name is not their action."""

Command = app_commands.Command | app_commands.ContextMenu


def action_of(command: Command) -> str | None:
    """What a command is priced as, from its name: `replace-section` → `replace_section`."""
    name = command.name.lower()
    if name in ALIASES:
        return ALIASES[name]
    words = name.replace("-", "_").replace(" ", "_")
    return next((action for action in sorted(PRICED, key=len, reverse=True) if action in words), None)


def walk(commands: Iterable[app_commands.Command | app_commands.Group | app_commands.ContextMenu]) -> list[Command]:
    """Every runnable command, subcommands of groups included."""
    found: list[Command] = []
    for command in commands:
        if isinstance(command, app_commands.Group):
            found.extend(walk(command.commands))
        else:
            found.append(command)
    return found


def is_admin(command: Command) -> bool:
    """Hidden from members by default: Discord shows it only to those with its permissions."""
    root = command.root_parent if isinstance(command, app_commands.Command) else None
    permissions = (root or command).default_permissions
    return permissions is not None and permissions.value != 0


def credits(cost: int, locale: Locale) -> str:
    return t(locale, "free") if cost == 0 else tn(locale, "{count} credit", "{count} credits", cost)


def fields(embed: discord.Embed, name: str, lines: list[str], locale: Locale) -> None:
    """Add `lines` under `name`, split over as many fields as Discord's size limit needs."""
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > FIELD_LIMIT:
            embed.add_field(name=name, value="\n".join(chunk), inline=False)
            name, chunk = t(locale, "{section} (more)", section=name), []
        chunk.append(line[:FIELD_LIMIT])
    if chunk:
        embed.add_field(name=name, value="\n".join(chunk), inline=False)


def slash_name(command: app_commands.Command, locale: Locale) -> str:
    """The command's full name as Discord shows it to this member (localized where a catalog names it)."""
    parts: list[str] = []
    node: app_commands.Command | app_commands.Group | None = command
    while node is not None:
        parts.append(tc(locale, SLASH_NAME, node.name) or node.name)
        node = node.parent
    return " ".join(reversed(parts))


def menu_name(command: app_commands.ContextMenu, locale: Locale) -> str:
    return tc(locale, MENU_NAME, command.name) or command.name


class Help(commands.Cog):
    """The /help command."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What this bot can do here, what it costs, and what is left today.")
    async def help(self, interaction: discord.Interaction) -> None:
        songs = self.bot.songs
        locale = interaction.locale
        manager = bool(interaction.guild_id and interaction.permissions.manage_guild)
        embed = discord.Embed(title=t(locale, "Music bot: commands"), colour=EMBED_COLOUR)
        if interaction.guild_id is not None:
            limits = await songs.limits(interaction.guild_id)
            used, mine, reset = await songs.usage(interaction.guild_id, interaction.user.id)
            left = max(0, limits.daily_allowance - used)
            server = t(
                locale,
                "This server has **{left} of {allowance}** credits left today; they come back {when}.",
                left=number(locale, left),
                allowance=number(locale, limits.daily_allowance),
                when=f"<t:{reset}:R>",
            )
            if limits.member_daily_cap is not None:
                you = t(
                    locale,
                    "You have used {used} (you may make {cap} a day).",
                    used=number(locale, mine),
                    cap=number(locale, limits.member_daily_cap),
                )
            else:
                you = t(locale, "You have used {used}.", used=number(locale, mine))
            embed.description = f"{server} {you} {t(locale, 'Failed songs are refunded.')}"
        notice = self.bot.alerts.member_notice
        if notice:
            notice = t(locale, notice)
            embed.description = f"⚠️ {notice}\n\n{embed.description or ''}".strip()
        make: list[str] = []
        other: list[str] = []
        menus: list[str] = []
        admin: list[str] = []
        for command in sorted(walk(self.bot.tree.get_commands()), key=lambda c: getattr(c, "qualified_name", c.name)):
            action = action_of(command)
            cost = f" · {credits(songs.cost_of(action), locale)}" if action else ""
            if isinstance(command, app_commands.ContextMenu):
                menus.append(f"**{menu_name(command, locale)}**{cost}")
                continue
            line = f"`/{slash_name(command, locale)}` {t(locale, command.description)}{cost}"
            if is_admin(command):
                admin.append(line)
            elif action in ACTIONS:
                make.append(line)
            else:
                other.append(line)
        fields(embed, t(locale, "Make songs"), make, locale)
        fields(embed, t(locale, "On a song message (right-click or long-press → Apps)"), menus, locale)
        fields(embed, t(locale, "More"), other, locale)
        if manager:
            fields(embed, t(locale, "For managers"), admin, locale)
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: MusicBot) -> None:
    """Load /help."""
    await bot.add_cog(Help(bot))
