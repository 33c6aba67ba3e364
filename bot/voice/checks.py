"""Whether the bot can play in a voice or stage channel, said in plain words before it tries."""

from __future__ import annotations

import discord

from bot.core.errors import InvalidInput, Phrase


def check_channel(channel: discord.VoiceChannel | discord.StageChannel) -> None:
    """Refuse, in plain words, a channel the bot cannot join or speak in."""
    perms = channel.permissions_for(channel.guild.me)
    missing = [name for name, ok in (("Connect", perms.connect), ("Speak", perms.speak)) if not ok]
    if not perms.view_channel:
        missing.insert(0, "View Channel")  # Discord's own names, as the server's settings show them
    if missing:
        raise InvalidInput(
            Phrase.counted(
                "I can't play in {channel}: I need the {permissions} permission there. A server manager can "
                "allow it in the channel's settings (Permissions), or re-invite me with the link from the README.",
                "I can't play in {channel}: I need the {permissions} permissions there. A server manager can "
                "allow them in the channel's settings (Permissions), or re-invite me with the link from the README.",
                len(missing),
                channel=channel.mention,
                permissions=" + ".join(f"**{name}**" for name in missing),
            )
        )
    if channel.user_limit and len(channel.members) >= channel.user_limit and not perms.move_members:
        raise InvalidInput("{channel} is full, so I can't join it.", channel=channel.mention)
