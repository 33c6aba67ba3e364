"""Server Settings → Integrations, applied to what Discord itself does not check.

Discord hides a slash command or context menu from members and channels an owner disabled it for,
but a song's buttons, reply-to-extend and jam mentions reach the bot without any command, so the
bot applies the same overrides itself: a Cover button is refused wherever `/cover` is, an Extend
reply wherever `/extend` is, a jam line wherever `/jam` is.

The overrides come from `GET /applications/{app}/guilds/{guild}/commands/permissions`, cached per
guild for `CACHE_SECONDS` and dropped at once when Discord announces a change
(APPLICATION_COMMAND_PERMISSIONS_UPDATE). They are evaluated as Discord does: a command's own
overrides replace the app-wide ones for members and for channels separately; for members the
member's own entry wins, else any of their roles (allowed if one allows), else @everyone, and
administrators always pass; for channels the channel's entry (a thread's parent) wins, else
"all channels". Anything without an override is allowed.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import discord

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
"""How long a guild's overrides are trusted without an update event (a missed event heals by then)."""

ROLE, USER, CHANNEL = 1, 2, 3

Overrides = dict[int, list[dict[str, Any]]]


def _find(entries: list[dict[str, Any]], wanted: int, kind: int) -> bool | None:
    return next(
        (bool(entry["permission"]) for entry in entries if int(entry["id"]) == wanted and entry["type"] == kind), None
    )


class CommandDirectory(Protocol):
    """What command permissions need from Discord (`MusicBot` implements it)."""

    @property
    def application_id(self) -> int | None: ...

    async def fetch_command_ids(self) -> dict[str, set[int]]:
        """Every registered command's name → its ids (global, and the development guild's copies)."""
        ...

    async def fetch_command_permissions(self, guild_id: int) -> list[dict[str, Any]]:
        """The guild's command permission overrides, as Discord returns them."""
        ...


class CommandAccess:
    """Whether a member may use a command's feature in a channel, by the server's overrides."""

    def __init__(self, directory: CommandDirectory) -> None:
        self._directory = directory
        self._overrides: dict[int, tuple[float, Overrides]] = {}
        self._command_ids: tuple[float, dict[str, set[int]]] | None = None

    def forget(self, guild_id: int) -> None:
        """An owner changed the overrides: read them again next time."""
        self._overrides.pop(guild_id, None)

    def forget_commands(self) -> None:
        """Commands were synced: their ids may have changed."""
        self._command_ids = None

    async def _ids(self) -> dict[str, set[int]]:
        now = time.monotonic()
        if self._command_ids is not None and now - self._command_ids[0] < CACHE_SECONDS:
            return self._command_ids[1]
        ids = await self._directory.fetch_command_ids()
        self._command_ids = (now, ids)
        return ids

    async def _guild_overrides(self, guild_id: int) -> Overrides:
        now = time.monotonic()
        cached = self._overrides.get(guild_id)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        rows = await self._directory.fetch_command_permissions(guild_id)
        overrides: Overrides = {int(row["id"]): list(row.get("permissions", [])) for row in rows}
        self._overrides[guild_id] = (now, overrides)
        return overrides

    async def allowed(self, command: str, member: discord.Member, channel: Any) -> bool:
        """Whether `member` may use `/command` (a top-level name) in `channel`.

        If Discord cannot be asked, the last known overrides are used, or none (the slash commands
        themselves stay protected by Discord either way).
        """
        guild = member.guild
        try:
            overrides = await self._guild_overrides(guild.id)
            ids = (await self._ids()).get(command, set())
        except discord.HTTPException as exc:
            log.warning("Could not read the command permissions of guild %d (%s)", guild.id, exc.code)
            cached = self._overrides.get(guild.id)
            if cached is None:
                return True
            overrides, ids = cached[1], set()
        own = [entry for command_id in ids for entry in overrides.get(command_id, [])]
        app = overrides.get(self._directory.application_id or 0, [])
        people = own if any(entry["type"] in (ROLE, USER) for entry in own) else app
        places = own if any(entry["type"] == CHANNEL for entry in own) else app
        by_member = True if member.guild_permissions.administrator else _find(people, member.id, USER)
        if by_member is None:
            roles = {role.id for role in member.roles if role.id != guild.id}
            hits = [bool(e["permission"]) for e in people if e["type"] == ROLE and int(e["id"]) in roles]
            by_member = any(hits) if hits else _find(people, guild.id, ROLE)
        where = getattr(channel, "parent_id", None) if isinstance(channel, discord.Thread) else channel.id
        by_channel = _find(places, where or channel.id, CHANNEL)
        if by_channel is None:
            by_channel = _find(places, guild.id - 1, CHANNEL)
        return by_member is not False and by_channel is not False


def role_ids(member: discord.abc.User) -> tuple[int, ...]:
    """A member's roles (for role caps, `/limits`); none for a user outside a server."""
    return tuple(role.id for role in member.roles) if isinstance(member, discord.Member) else ()
