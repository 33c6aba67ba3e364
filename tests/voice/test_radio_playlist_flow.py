"""Playing playlists and the radio in voice, and a server that keeps the bot in its channel."""

from __future__ import annotations

import asyncio

from tests.fakes.fake_discord import FakeDiscord
from tests.harness import World, private_channel, private_reply
from tests.postgres import both_backends
from tests.voice_helpers import about, make_song, party_messages, party_text


async def run(world: World, name: str, options: dict[str, object], user_id: int | None = None) -> str:
    interaction = await world.discord.invoke_slash(
        name, options, user_id=user_id or world.member_id, channel_id=world.channel_id
    )
    return await private_reply(world, interaction)


async def playlist_of(world: World, name: str, songs: list[str]) -> None:
    await run(world, "playlist create", {"name": name})
    for song in songs:
        await run(world, "playlist add", {"playlist": name, "song": song})


@both_backends
async def test_play_playlist_queues_it_in_order(world: World, lounge: int) -> None:
    """/play playlist: the songs play in the playlist's order (told apart by their lengths)."""
    await world.start_bot(callbacks=True)
    songs = [await make_song(world, title, seconds) for title, seconds in (("Three", 3), ("One", 1), ("Two", 2))]
    await playlist_of(world, "Evening", songs)
    await world.discord.voice.join(world.member_id, lounge)

    answer = await run(world, "play", {"playlist": "Evening"})
    assert "Playing **Three** and 2 more" in answer
    lengths = await world.discord.voice.wait_for_tracks(world.guild_id, 3)
    assert [about(n, s) for n, s in zip(lengths, (3, 1, 2), strict=True)] == [True] * 3, lengths


async def test_play_playlist_shuffled_plays_every_song_once(world: World, lounge: int) -> None:
    """shuffle:True plays the same songs, each once; a song and a playlist at once is refused."""
    await world.start_bot(callbacks=True)
    songs = [await make_song(world, title, seconds) for title, seconds in (("A", 1), ("B", 2), ("C", 3))]
    await playlist_of(world, "Mixtape", songs)
    await world.discord.voice.join(world.member_id, lounge)
    assert "one of them" in await run(world, "play", {"playlist": "Mixtape", "song": songs[0]})

    await run(world, "play", {"playlist": "Mixtape", "shuffle": True})
    lengths = await world.discord.voice.wait_for_tracks(world.guild_id, 3)
    assert sorted(round(n / 50) for n in lengths) == [1, 2, 3], lengths
    [message] = party_messages(world)
    await world.discord.wait_for(lambda: "queue is empty" in party_text(message))


@both_backends
async def test_radio_keeps_playing_the_source_when_the_queue_ends(world: World, lounge: int) -> None:
    """After the queued song, the radio plays the server's other songs (never a private channel's, never
    one of the last 20 again), then says it has nothing new; /stop turns it off for good."""
    bot = await world.start_bot(callbacks=True)
    bot.parties.idle_timeout = 60
    queued = await make_song(world, "Queued", 1)
    await make_song(world, "Radio two", 2)
    await make_song(world, "Radio three", 3)
    secret, insiders = private_channel(world)
    world.discord.give_role(world.guild_id, world.member_id, insiders)
    await make_song(world, "Backstage", 4, channel_id=secret)
    await world.discord.voice.join(world.member_id, lounge)

    await run(world, "play", {"song": queued})
    assert "Radio on" in await run(world, "radio", {"source": "new"})
    [message] = party_messages(world)
    await world.discord.wait_for(lambda: "Radio: the server's newest songs" in party_text(message))
    await world.discord.wait_for(lambda: "no song of the server's newest songs left" in party_text(message))
    lengths = await world.discord.voice.wait_for_tracks(world.guild_id, 3)
    assert about(lengths[0], 1) and sorted(round(n / 50) for n in lengths[1:]) == [2, 3], lengths
    assert len(lengths) == 3  # nothing repeated, the 4 s private song never played
    assert (await world.repo.party_modes(world.guild_id)).radio_source == "new"

    assert "Stopped" in await run(world, "stop", {})
    assert (await world.repo.party_modes(world.guild_id)).radio_source is None


async def test_radio_starts_a_party_and_picks_only_a_members_songs(world: World, lounge: int) -> None:
    """/radio source:member member:@bob with nothing queued: the party starts with bob's song only."""
    await world.start_bot(callbacks=True)
    bob = world.discord.add_user("bob")
    await make_song(world, "Mine", 1)
    await make_song(world, "Bobs", 2, user_id=bob)
    assert "Join a voice channel first" in await run(world, "radio", {"source": "member", "member": bob})
    assert (await world.repo.party_modes(world.guild_id)).radio_source is None  # not left on for later
    await world.discord.voice.join(world.member_id, lounge)

    assert "Radio on in" in await run(world, "radio", {"source": "member", "member": bob})
    [length] = await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    assert about(length, 2), length
    [message] = party_messages(world)
    await world.discord.wait_for(lambda: f"Radio: <@{bob}>'s songs" in party_text(message))
    await world.discord.wait_for(lambda: "left that was not played lately" in party_text(message))


async def test_stay_in_voice_holds_the_channel(world: World, lounge: int) -> None:
    """With /settings stay_in_voice:True the bot stays through silence and an empty channel: the next
    /play plays on the same voice connection and party message."""
    bot = await world.start_bot(callbacks=True)
    bot.parties.idle_timeout = 0.2
    manager = world.discord.add_user("manager")
    world.discord.grant(manager, FakeDiscord.MANAGE_GUILD)
    settings = await world.discord.invoke_slash(
        "settings", {"stay_in_voice": True}, user_id=manager, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: settings.responses)
    shown = settings.responses[0]["data"]["embeds"][0]["fields"]
    assert {"name": "Stay in voice", "value": "yes", "inline": True} in shown
    first = await make_song(world, "Before", 1)
    second = await make_song(world, "After", 1)
    await world.discord.voice.join(world.member_id, lounge)

    await run(world, "play", {"song": first})
    await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    [message] = party_messages(world)
    await world.discord.wait_for(lambda: "I'll stay in the channel" in party_text(message))
    await world.discord.voice.leave(world.member_id, world.guild_id)
    await asyncio.sleep(1.0)  # five idle timeouts with nobody listening
    assert world.discord.voice.bot_channel(world.guild_id) == lounge

    await world.discord.voice.join(world.member_id, lounge)
    await run(world, "play", {"song": second})
    await world.discord.voice.wait_for_tracks(world.guild_id, 2)
    assert len(world.discord.voice.streams_in(world.guild_id)) == 1  # one connection throughout
    assert party_messages(world) == [message] and "has ended" not in party_text(message)


@both_backends
async def test_a_restart_ends_the_party_but_keeps_playlists_loop_and_radio(world: World, lounge: int) -> None:
    """After a restart nothing plays in voice; the playlist, /loop queue and the radio are still there
    and the next party plays with them."""
    await world.start_bot(callbacks=True)
    song = await make_song(world, "Keeper", 8)
    await playlist_of(world, "Kept", [song])
    await world.discord.voice.join(world.member_id, lounge)
    await run(world, "play", {"song": song})
    await run(world, "loop", {"mode": "queue"})
    await run(world, "radio", {"source": "new"})
    [before] = party_messages(world)

    await world.restart_bot()
    await world.discord.wait_for(lambda: "has ended: the bot is restarting" in party_text(before))
    await world.discord.wait_for(lambda: world.discord.voice.bot_channel(world.guild_id) is None)

    assert "Playing **Keeper**" in await run(world, "play", {"playlist": "Kept"})
    after = await world.discord.wait_for(lambda: [m for m in party_messages(world) if m is not before])
    text = await world.discord.wait_for(
        lambda: party_text(after[0]) if "Loop: the queue" in party_text(after[0]) else ""
    )
    assert "Radio: the server's newest songs" in text
    assert "Stopped" in await run(world, "stop", {})
