"""Who may start a listening party where: the member's own access to the voice channel and to the song,
and the server's Integrations settings for `/play` on the ▶️ Play button."""

from __future__ import annotations

import discord

from tests.fakes.fake_voice import CONNECT
from tests.harness import VIEW_CHANNEL, World, embed_field, generate, private_channel, private_reply, start_jam
from tests.voice_helpers import give_audio, make_song


async def bot_knows_overwrite(world: World, channel_id: int, target_id: int) -> None:
    """Wait until the bot's cache holds the channel with this overwrite (CHANNEL_CREATE/UPDATE arrive
    on the gateway; a command typed right after could otherwise name a channel the bot has not heard of)."""

    def known() -> bool:
        channel = world.bot.get_channel(channel_id) if world.bot else None
        return (
            isinstance(channel, discord.abc.GuildChannel)
            and not channel.overwrites_for(discord.Object(target_id)).is_empty()
        )

    await world.discord.wait_for(known)


async def test_play_channel_refuses_a_channel_the_member_cannot_join(world: World, lounge: int) -> None:
    """`/play channel:` a voice channel where the member lacks Connect, or a stage they cannot view: a private
    refusal, and the bot goes nowhere. A channel they can join still works."""
    await world.start_bot(callbacks=True)
    song = await make_song(world, "Closed doors", 1)
    staff = world.discord.voice.add_voice_channel(world.guild_id, "Staff room")
    world.discord.set_overwrite(staff, world.member_id, deny=CONNECT, member=True)
    stage = world.discord.voice.add_stage_channel(world.guild_id, "Board meeting")
    world.discord.set_overwrite(stage, world.member_id, deny=VIEW_CHANNEL, member=True)
    for channel in (staff, stage):
        await bot_knows_overwrite(world, channel, world.member_id)

    for channel in (staff, stage):
        refused = await world.discord.invoke_slash(
            "play", {"song": song, "channel": channel}, user_id=world.member_id, channel_id=world.channel_id
        )
        text = await private_reply(world, refused)
        assert f"You cannot join <#{channel}> yourself, so I will not play there" in text, text
    assert world.discord.voice.voice_state_requests == []
    assert world.discord.voice.bot_channel(world.guild_id) is None

    allowed = await world.discord.invoke_slash(
        "play", {"song": song, "channel": lounge}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "Playing **Closed doors**" in await private_reply(world, allowed)
    await world.discord.wait_for(lambda: world.discord.voice.bot_channel(world.guild_id) == lounge)


async def test_jam_play_channel_refuses_a_channel_the_member_cannot_join(world: World) -> None:
    """`/jam play channel:` follows the same rule as `/play`."""
    await world.start_bot(callbacks=True)
    thread = await start_jam(world, "Locked out")
    await world.discord.invoke_slash("jam add", {"line": "Knock knock"}, user_id=world.member_id, channel_id=thread)
    world.producer.script(title="Locked out", duration="1")
    await world.discord.invoke_slash("jam finish", {}, user_id=world.member_id, channel_id=thread)
    song = await world.wait_for_song(thread)
    jam_message = world.discord.messages[thread][0]
    await world.discord.wait_for(lambda: song.jump_url in str(jam_message.embeds[0]))  # the jam's song now
    give_audio(world, embed_field(song, "Song id").strip("`"), 1)
    staff = world.discord.voice.add_voice_channel(world.guild_id, "Staff room")
    world.discord.set_overwrite(staff, world.member_id, deny=CONNECT, member=True)
    await bot_knows_overwrite(world, staff, world.member_id)

    refused = await world.discord.invoke_slash(
        "jam play", {"channel": staff}, user_id=world.member_id, channel_id=thread
    )
    assert f"You cannot join <#{staff}> yourself" in await private_reply(world, refused)
    assert world.discord.voice.voice_state_requests == []


async def test_play_cannot_reach_a_song_from_a_channel_the_member_cannot_see(world: World, lounge: int) -> None:
    """A song made in a channel hidden from the member cannot be played by id; the insider may play it."""
    await world.start_bot(callbacks=True)
    secret, insiders = private_channel(world)
    insider = world.discord.add_user("insider")
    world.discord.give_role(world.guild_id, insider, insiders)
    world.producer.script(title="Whispers", duration="1")
    await generate(world, "a secret song", insider, secret)
    hidden_id = embed_field(await world.wait_for_song(secret), "Song id").strip("`")
    give_audio(world, hidden_id, 1)
    await world.discord.voice.join(world.member_id, lounge)

    refused = await world.discord.invoke_slash(
        "play", {"song": hidden_id}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "That song was made in a channel you cannot see." in await private_reply(world, refused)
    assert world.discord.voice.voice_state_requests == []

    await world.discord.voice.join(insider, lounge)
    theirs = await world.discord.invoke_slash("play", {"song": hidden_id}, user_id=insider, channel_id=secret)
    assert "Playing **Whispers**" in await private_reply(world, theirs)


async def test_play_button_follows_the_servers_play_setting(world: World, lounge: int) -> None:
    """With `/play` turned off for @everyone (Integrations), ▶️ Play on a song is refused privately and the bot
    stays out of voice; the song's other buttons are untouched."""
    await world.start_bot(callbacks=True)
    song = await make_song(world, "Muted", 1)
    message = world.songs_in_channel()[-1]
    await world.discord.voice.join(world.member_id, lounge)
    world.discord.set_command_permissions(world.guild_id, "play", [(world.guild_id, 1, False)])

    pressed = await world.discord.click_button(message, f"song:play:{song}", user_id=world.member_id)
    assert "This server has turned `/play` off for you here" in await private_reply(world, pressed)
    assert world.discord.voice.voice_state_requests == []
    cover = await world.discord.click_button(message, f"song:cover:{song}", user_id=world.member_id)
    await world.discord.wait_for(lambda: cover.modal)
