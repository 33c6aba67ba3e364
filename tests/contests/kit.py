"""What the contest tests share: members making songs, a manager running a contest, moving time."""

from __future__ import annotations

import datetime as dt

from tests.fakes.fake_discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.harness import World, embed_field, generate, private_reply, reply_text

DAY = 86400.0


async def make_song(world: World, prompt: str, user_id: int, channel_id: int | None = None, **options: object) -> str:
    """The member makes a song (the real /generate flow); its id."""
    channel = channel_id or world.channel_id
    before = len(world.songs_in_channel(channel))
    await generate(world, prompt, user_id=user_id, channel_id=channel, **options)
    await world.discord.wait_for(lambda: len(world.songs_in_channel(channel)) > before, timeout=15)
    await world.settle()
    return embed_field(world.songs_in_channel(channel)[-1], "Song id").strip("`")


def add_manager(world: World) -> int:
    manager = world.discord.add_user("manager")
    world.discord.grant(manager, FakeDiscord.MANAGE_GUILD)
    return manager


async def start_contest(world: World, manager: int, **options: object) -> str:
    """The manager runs /contest start; the private answer."""
    values = {"theme": "Rainy days", "submit_for": "2d", "vote_for": "1d", **options}
    started = await world.discord.invoke_slash("contest start", values, user_id=manager, channel_id=world.channel_id)
    return await private_reply(world, started)


async def contest_cmd(world: World, name: str, user_id: int, **options: object) -> str:
    """A member runs `/contest <name>`; what they saw."""
    interaction = await world.discord.invoke_slash(
        f"contest {name}", options, user_id=user_id, channel_id=world.channel_id
    )
    return await reply_text(world, interaction)


def titled(world: World, prefix: str, channel_id: int | None = None) -> list[FakeMessage]:
    """The bot's messages whose first embed title starts with `prefix`."""
    return [
        message
        for message in world.discord.messages.get(channel_id or world.channel_id, [])
        if not message.deleted
        and message.via_interaction is None  # not a command's answer (/contest status shows the embed too)
        and message.embeds
        and str(message.embeds[0].get("title", "")).startswith(prefix)
    ]


def contest_message(world: World) -> FakeMessage:
    (message,) = titled(world, "🏆 Song contest")
    return message


def field(message: FakeMessage, name: str) -> str:
    return next(
        str(entry["value"]) for entry in message.embeds[0].get("fields", []) if str(entry["name"]).startswith(name)
    )


async def move_time(world: World, seconds: float) -> None:
    """Time passes (the bot's clock); the contest timers look at once instead of at their next pass."""
    assert world.bot is not None
    world.clock.advance(seconds)
    world.bot.contests.wake()


async def wait_for_vote(world: World) -> FakeMessage:
    await world.discord.wait_for(lambda: titled(world, "🗳️ Vote"), timeout=15)
    await world.settle()
    (message,) = titled(world, "🗳️ Vote")
    return message


async def wait_for_results(world: World) -> FakeMessage:
    await world.discord.wait_for(lambda: titled(world, "🏆 Results"), timeout=15)
    await world.settle()
    (message,) = titled(world, "🏆 Results")
    return message


def vote_menu(message: FakeMessage) -> str:
    """The custom id of the message's Vote menu."""
    return next(
        component["custom_id"]
        for row in message.components
        for component in row["components"]
        if str(component.get("custom_id", "")).startswith("contest:vote:")
    )


async def vote(world: World, message: FakeMessage, user_id: int, song_id: str) -> str:
    picked: FakeInteraction = await world.discord.choose_select(message, vote_menu(message), [song_id], user_id=user_id)
    return await private_reply(world, picked)


def joined_now(world: World, user_id: int) -> None:
    """The member joins the server now (by the bot's clock)."""
    world.discord.member_joined[(world.guild_id, user_id)] = dt.datetime.fromtimestamp(world.clock(), dt.UTC)
