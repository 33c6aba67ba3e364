"""The slash commands as a whole: which cogs make them, the one error handler, and syncing to Discord."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from typing import Any

import aiohttp
import discord
from discord import app_commands

from bot.core.errors import UserError
from bot.i18n import N_, CommandTranslator, t
from bot.songs import render
from bot.storage.repository import Repository

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "cogs.generate",
    "cogs.actions",
    "cogs.followups",
    "cogs.library",
    "cogs.quota",
    "cogs.admin",
    "cogs.jam",
    "cogs.contest",
    "cogs.lyrics",
    "cogs.prefer",
    "cogs.favourites",
    "cogs.listen",
    "cogs.playlists",
    "cogs.help",
    "cogs.share",  # after cogs.followups: it adds 🔗 Share and the song page's link to its buttons
    "cogs.billing",
)
"""Every cog the bot loads. Add a new command area here."""
COMMAND_OFF = N_("This server has turned `/{command}` off for you here, so its buttons and replies are off too.")
"""What a member is told when a server's Integrations settings turn a command off for them."""


class MusicTree(app_commands.CommandTree[Any]):
    """The one error handler for slash commands, modals and buttons."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await report_error(interaction, error)


async def report_error(interaction: discord.Interaction, error: Exception) -> None:
    """Tell the member what went wrong, privately. Unknown errors are logged, never shown.

    Never raises. An interaction that expired (10062) or was already answered (40060) cannot carry
    a reply, so it is only logged; any other failure to reply is logged too.
    """
    original = getattr(error, "original", error)
    if isinstance(original, discord.HTTPException) and original.code in GONE_INTERACTION_CODES:
        log.info("Interaction in %s could not be answered (%s %s)", _where(interaction), original.status, original.code)
        return
    locale = interaction.locale
    if isinstance(original, UserError):
        text = t(locale, original.phrase)
    elif isinstance(error, app_commands.CommandOnCooldown):
        when = f"<t:{int(time.time() + error.retry_after) + 1}:R>"
        text = t(locale, "Not so fast: you can do that again {when}.", when=when)
    elif isinstance(error, app_commands.NoPrivateMessage):
        text = t(locale, "This command works only in a server.")
    elif isinstance(error, app_commands.MissingPermissions | app_commands.BotMissingPermissions):
        text = t(locale, "You do not have the permissions this command needs here.")
    elif isinstance(error, app_commands.CheckFailure):
        text = t(locale, "You cannot use this command here.")
    elif isinstance(error, app_commands.TransformerError):
        text = t(locale, "That value is not valid for `{value}`.", value=error.value)
    else:
        log.error("Unhandled error in %s", _where(interaction), exc_info=original)
        text = t(locale, "Something went wrong on our side; please try again.")
    text = render.clip(text, render.MESSAGE_CONTENT)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
            return
        # After a public "thinking…" defer, swap the placeholder for a private message.
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException as exc:
        log.warning("Could not report an error to the member (%s %s)", exc.status, exc.code)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("Could not report an error to the member (%s)", type(exc).__name__)


GONE_INTERACTION_CODES = {10062, 40060}
"""Unknown interaction (expired: not answered within 3 s) and interaction already acknowledged."""


def _where(interaction: discord.Interaction) -> str:
    command = interaction.command
    return f"/{command.qualified_name}" if command else f"interaction {interaction.type.name}"


async def command_payload(tree: app_commands.CommandTree[Any]) -> list[dict[str, Any]]:
    """What a global sync sends, localizations included: a changed translation is a changed command set."""
    translator = tree.translator
    commands = tree.get_commands()
    if translator is None:
        return [command.to_dict(tree) for command in commands]
    return [await command.get_translated_payload(tree, translator) for command in commands]


async def sync_commands(
    tree: app_commands.CommandTree[Any], repo: Repository, *, application_id: int | None, dev_guild_id: int | None
) -> None:
    """Guild sync at once for development; global sync only when the command set changed.

    What was synced is remembered per application and scope (`commands:<app id>:global`), so
    the same database pointed at another Discord application syncs there too. A guild that
    stops being the development guild has its copies cleared; otherwise every command would
    show twice in it (the guild copy and the global one).
    """
    if tree.translator is None:
        await tree.set_translator(CommandTranslator())  # localized names and descriptions, for every sync
    app_id = application_id
    dev_key = f"dev_guild:{app_id}"
    previous_dev = await repo.get_meta(dev_key)
    if previous_dev and int(previous_dev) != dev_guild_id:
        try:
            await tree.sync(guild=discord.Object(int(previous_dev)))  # none for it in the tree: cleared
            log.info("Cleared the development copies of the commands in guild %s", previous_dev)
        except discord.HTTPException as exc:  # the bot left that guild: nothing shows there any more
            log.warning("Could not clear the commands of former development guild %s (%s)", previous_dev, exc.code)
        await repo.set_meta(dev_key, "")
    if dev_guild_id:
        guild = discord.Object(dev_guild_id)
        tree.copy_global_to(guild=guild)
        synced = await tree.sync(guild=guild)
        await repo.set_meta(dev_key, str(dev_guild_id))
        log.info("Synced %d commands to development guild %d", len(synced), dev_guild_id)
        return
    payload = await command_payload(tree)
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    hash_key = f"command_hash:{app_id}:global"
    if await repo.get_meta(hash_key) == digest:
        log.info("Slash commands unchanged; not syncing")
        return
    synced = await tree.sync()
    await repo.set_meta(hash_key, digest)
    log.info("Synced %d global commands (they can take up to an hour to appear everywhere)", len(synced))
