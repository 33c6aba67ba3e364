"""Listening parties: what members hear in voice (Opus frames at the fake's receiver) and see in the channel."""

from __future__ import annotations

import asyncio
import logging
import os
import re

import discord
import pytest

from bot.app.bot import INVITE_PERMISSIONS
from tests.fakes.fake_discord import FakeMessage
from tests.fakes.fake_voice import CONNECT, MOVE_MEMBERS, MUTE_MEMBERS
from tests.harness import World, embed_field, private_reply, start_jam
from tests.voice_helpers import (
    about,
    give_audio,
    make_song,
    now_playing,
    party_messages,
    party_text,
    play,
    sine_mp3,
)


async def test_play_streams_the_song_through_the_voice_connection(
    world: World, lounge: int, caplog: pytest.LogCaptureFixture
) -> None:
    """/play joins the member's channel; the listener hears about 50 Opus frames per second of the song."""
    caplog.set_level(logging.INFO)
    await world.start_bot(callbacks=True)
    song_id = await make_song(world, "Sunrise", 3)
    await world.discord.voice.join(world.member_id, lounge)

    assert "Playing **Sunrise**" in await play(world, song_id)
    [length] = await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    assert about(length, 3), length

    voice = world.discord.voice
    assert voice.bot_channel(world.guild_id) == lounge
    [stream] = voice.streams_in(world.guild_id)
    assert stream.mode == "aead_xchacha20_poly1305_rtpsize" and stream.rejected_packets == 0
    assert [flags for _, flags in stream.speaking][:2] == [0, 1]  # not speaking, then speaking when the song starts
    [message] = party_messages(world)
    await world.discord.wait_for(lambda: "queue is empty" in party_text(message))

    stop = await world.discord.invoke_slash("stop", {}, user_id=world.member_id, channel_id=world.channel_id)
    assert "Stopped" in await private_reply(world, stop)
    await world.discord.wait_for(lambda: voice.bot_channel(world.guild_id) is None)
    assert "has ended: stopped by" in party_text(message)
    assert not message.components  # no buttons on an ended party
    assert "voice will NOT be supported" not in caplog.text


async def test_songs_play_in_queue_order_under_one_party_message(world: World, lounge: int) -> None:
    """Two /play calls: the second queues after the first; one party message is edited as the queue moves."""
    await world.start_bot(callbacks=True)
    first = await make_song(world, "First", 1)
    second = await make_song(world, "Second", 2)
    await world.discord.voice.join(world.member_id, lounge)

    assert "Playing **First**" in await play(world, first)
    queued = await play(world, second)
    assert "Queued **Second**" in queued
    assert "#1 in line" in queued

    [message] = await world.discord.wait_for(lambda: party_messages(world))
    await world.discord.wait_for(lambda: "Second" in party_text(message) and "Up next" in party_text(message))
    queue = await world.discord.invoke_slash("queue", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: queue.responses)
    shown = queue.responses[0]["data"]["embeds"][0]
    assert queue.responses[0]["data"]["flags"] & 64  # private
    assert re.search(r"\*\*First\*\* · 0:0\d / 0:01", shown["description"]), shown  # elapsed / length
    assert "Second" in shown["fields"][0]["value"]
    ids = [c["custom_id"] for row in queue.responses[0]["data"]["components"] for c in row["components"]]
    assert ids == ["party:skip", "party:pause", "party:stop", "party:lyrics"]
    lengths = await world.discord.voice.wait_for_tracks(world.guild_id, 2)
    assert about(lengths[0], 1) and about(lengths[1], 2), lengths
    await world.discord.wait_for(lambda: "queue is empty" in party_text(message))
    assert len(party_messages(world)) == 1 and message.edits >= 2


async def test_skip_by_vote_and_by_the_requester(world: World, lounge: int) -> None:
    """Listeners vote (half of them, rounded up, bots excluded); the requester skips at once; others may not stop."""
    await world.start_bot(callbacks=True)
    long_one = await make_song(world, "Long one", 8)
    long_two = await make_song(world, "Long two", 8)
    short = await make_song(world, "Short", 1)
    bob, carol, dave, erin = (world.discord.add_user(name) for name in ("bob", "carol", "dave", "erin"))
    for member in (world.member_id, bob, carol, erin):  # 4 listeners (+ the bot, not counted): 2 votes skip
        await world.discord.voice.join(member, lounge)
    for song in (long_one, long_two, short):
        await play(world, song)
    [message] = await world.discord.wait_for(lambda: party_messages(world))
    await world.discord.wait_for(lambda: "Long one" in now_playing(message))
    await world.discord.wait_for(lambda: world.discord.voice.tracks(world.guild_id))  # heard, not just announced

    outsider = await world.discord.click_button(message, "party:skip", user_id=dave)
    assert "Only listeners" in await private_reply(world, outsider)
    vote = await world.discord.click_button(message, "party:skip", user_id=bob)
    assert "1 of 2 needed" in await private_reply(world, vote)
    refused = await world.discord.click_button(message, "party:stop", user_id=bob)
    assert "Move Members" in await private_reply(world, refused)
    second_vote = await world.discord.click_button(message, "party:skip", user_id=carol)
    assert "Skipped **Long one** by vote" in await private_reply(world, second_vote)

    await world.discord.wait_for(lambda: "Long two" in now_playing(message))
    await world.discord.wait_for(lambda: len(world.discord.voice.tracks(world.guild_id)) == 2)
    mine = await world.discord.click_button(message, "party:skip", user_id=world.member_id)
    assert "Skipped **Long two**" in await private_reply(world, mine)

    lengths = await world.discord.voice.wait_for_tracks(world.guild_id, 3)
    assert lengths[0] < 8 * 50 * 0.9 and lengths[1] < 8 * 50 * 0.9 and about(lengths[2], 1), lengths
    assert "skipped by vote" in party_text(message)


async def test_move_members_may_skip_and_stop_anyones_song(world: World, lounge: int) -> None:
    """A moderator with Move Members stops a party someone else started."""
    await world.start_bot(callbacks=True)
    song = await make_song(world, "Endless", 8)
    moderator = world.discord.add_user("mod")
    world.discord.grant(moderator, MOVE_MEMBERS)
    await world.discord.voice.join(world.member_id, lounge)
    await play(world, song)
    await world.discord.wait_for(lambda: world.discord.voice.streams_in(world.guild_id))
    stop = await world.discord.invoke_slash("stop", {}, user_id=moderator, channel_id=world.channel_id)
    assert "Stopped" in await private_reply(world, stop)
    await world.discord.wait_for(lambda: world.discord.voice.bot_channel(world.guild_id) is None)


async def test_leaves_when_idle_and_when_everyone_left(world: World, lounge: int) -> None:
    """An empty queue for the idle timeout (shortened here) leaves; so does the last listener leaving."""
    bot = await world.start_bot(callbacks=True)
    bot.parties.idle_timeout = 0.5
    song = await make_song(world, "Brief", 1)
    await world.discord.voice.join(world.member_id, lounge)
    await play(world, song)
    await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    await world.discord.wait_for(lambda: world.discord.voice.bot_channel(world.guild_id) is None)
    [message] = party_messages(world)
    await world.discord.wait_for(lambda: "nothing was queued" in party_text(message))

    bot.parties.idle_timeout = 60
    long_song = await make_song(world, "Long", 8)
    await play(world, long_song)
    await world.discord.wait_for(lambda: world.discord.voice.bot_channel(world.guild_id) == lounge)
    await world.discord.voice.leave(world.member_id, world.guild_id)
    await world.discord.wait_for(lambda: world.discord.voice.bot_channel(world.guild_id) is None)
    second = await world.discord.wait_for(lambda: party_messages(world)[1:])
    await world.discord.wait_for(lambda: "everyone left" in party_text(second[0]))


async def test_missing_permissions_and_no_voice_channel_get_clear_messages(world: World, lounge: int) -> None:
    """Without Connect in the channel the bot says so and never tries; the ▶️ Play button needs a voice channel."""
    await world.start_bot(callbacks=True)
    song = await make_song(world, "Quiet", 1)
    song_message = world.songs_in_channel()[-1]
    pressed = await world.discord.click_button(song_message, f"song:play:{song}", user_id=world.member_id)
    assert "Join a voice channel first" in await private_reply(world, pressed)

    world.discord.deny_bot(lounge, CONNECT)
    await world.discord.voice.join(world.member_id, lounge)
    await world.discord.wait_for(
        lambda: (
            world.bot
            and not world.bot.get_channel(lounge)
            .permissions_for(  # type: ignore[union-attr]
                world.bot.get_guild(world.guild_id).me  # type: ignore[union-attr]
            )
            .connect
        )
    )
    text = await play(world, song)
    assert "Connect" in text and "permission" in text
    assert world.discord.voice.voice_state_requests == []
    assert INVITE_PERMISSIONS.connect and INVITE_PERMISSIONS.speak
    assert discord.Intents.default().voice_states


async def test_play_button_and_unavailable_audio(world: World, lounge: int) -> None:
    """▶️ Play on a song plays it for the member who pressed it; a song whose audio is gone is skipped with a note."""
    await world.start_bot(callbacks=True)
    gone = await make_song(world, "Vanished", 1)
    world.producer.set_media(f"{gone}.mp3", b"", status=404)
    fine = await make_song(world, "Still here", 1)
    await world.discord.voice.join(world.member_id, lounge)
    await play(world, gone)
    pressed = await world.discord.click_button(
        world.songs_in_channel()[-1], f"song:play:{fine}", user_id=world.member_id
    )
    assert "Still here" in await private_reply(world, pressed)
    [length] = await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    assert about(length, 1)
    [message] = party_messages(world)
    await world.discord.wait_for(lambda: "Skipped **Vanished**: its audio is unavailable" in party_text(message))


async def test_audio_on_a_private_address_is_not_played(world: World, lounge: int) -> None:
    """The party follows the download rules: by default a song whose audio lives on a private address
    (here the fake API on 127.0.0.1) is skipped with a note, and nothing fetches it."""
    await world.start_bot(callbacks=True, ALLOW_PRIVATE_MEDIA_HOSTS="false")
    song = await make_song(world, "Internal", 1)
    await world.discord.voice.join(world.member_id, lounge)
    await play(world, song)
    [message] = await world.discord.wait_for(lambda: party_messages(world))
    await world.discord.wait_for(lambda: "Skipped **Internal**: its audio is unavailable" in party_text(message))
    assert not any(song in path for path in world.producer.media_requests)
    assert world.discord.voice.tracks(world.guild_id) == []


async def play_on_stage(world: World, title: str, *, moderator: bool = False) -> str:
    """A member on a stage (where the bot has Mute Members if `moderator`) /plays a new 2 s song;
    returns what the bot privately answered."""
    await world.start_bot(callbacks=True)
    stage = world.discord.voice.add_stage_channel(world.guild_id, "Town hall")
    if moderator:
        world.discord.allow_bot(stage, MUTE_MEMBERS)
    song = await make_song(world, title, 2)
    await world.discord.voice.join(world.member_id, stage)
    return await play(world, song)


async def asked_to_speak(world: World) -> FakeMessage:
    """The party message, once it says the bot asked to speak on the stage."""
    [message] = await world.discord.wait_for(lambda: party_messages(world))
    await world.discord.wait_for(lambda: "asked to speak" in party_text(message))
    return message


async def test_on_a_stage_a_moderator_bot_steps_up_to_speak(world: World) -> None:
    """On a stage the bot arrives in the audience; with Mute Members there it makes itself a speaker and is heard."""
    assert "Playing **Keynote**" in await play_on_stage(world, "Keynote", moderator=True)
    [length] = await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    assert about(length, 2), length
    [stream] = world.discord.voice.streams_in(world.guild_id)
    assert stream.unheard_packets == 0  # it spoke only once it was a speaker
    assert world.discord.voice.bot_state(world.guild_id)["suppress"] is False  # type: ignore[index]


async def test_on_a_stage_the_bot_asks_to_speak_and_waits_for_a_moderator(world: World) -> None:
    """Without Mute Members the bot asks to speak and says so; nothing plays into the void until a moderator
    accepts, then the song is heard whole."""
    await play_on_stage(world, "Encore")
    message = await asked_to_speak(world)
    assert "Encore" in party_text(message)  # waiting in line, not skipped
    voice = world.discord.voice
    state = voice.bot_state(world.guild_id)
    assert state is not None and state["suppress"] and state["request_to_speak_timestamp"]
    await asyncio.sleep(0.5)
    assert all(stream.unheard_packets == 0 and not stream.frames for stream in voice.streams_in(world.guild_id))

    await voice.invite_to_speak(world.guild_id)
    [length] = await voice.wait_for_tracks(world.guild_id, 1)
    assert about(length, 2), length
    await world.discord.wait_for(lambda: "a speaker on" in party_text(message))


async def test_stop_ends_a_party_still_waiting_to_speak_on_a_stage(world: World) -> None:
    """/stop while the bot waits for a stage moderator: it leaves at once, not after the idle timeout."""
    await play_on_stage(world, "Never aired")
    await asked_to_speak(world)
    stop = await world.discord.invoke_slash("stop", {}, user_id=world.member_id, channel_id=world.channel_id)
    assert "Stopped" in await private_reply(world, stop)  # within 10 s; without the fix it took 15
    await world.discord.wait_for(lambda: world.discord.voice.bot_channel(world.guild_id) is None, timeout=5)


async def another_server(world: World) -> tuple[int, int, int, int]:
    """A second server the bot is in: its id, a text channel, a voice channel and a member (bob)."""
    other_guild = world.discord.add_guild("Other")
    other_text = world.discord.add_channel(other_guild, "music")
    other_voice = world.discord.voice.add_voice_channel(other_guild, "Hall")
    bob = world.discord.add_user("bob")
    await world.discord.wait_for(lambda: world.bot and world.bot.get_channel(other_voice))
    return other_guild, other_text, other_voice, bob


async def test_guilds_play_independently(world: World, lounge: int) -> None:
    """Two servers play at once; stopping one leaves the other's song playing to the end."""
    await world.start_bot(callbacks=True)
    other_guild, other_text, other_voice, bob = await another_server(world)
    mine = await make_song(world, "Ours", 8)
    theirs = await make_song(world, "Theirs", 2, channel_id=other_text, user_id=bob)
    await world.discord.voice.join(world.member_id, lounge)
    await world.discord.voice.join(bob, other_voice)
    a = await world.discord.invoke_slash("play", {"song": mine}, user_id=world.member_id, channel_id=world.channel_id)
    b = await world.discord.invoke_slash("play", {"song": theirs}, user_id=bob, channel_id=other_text)
    await private_reply(world, a)
    await private_reply(world, b)
    await world.discord.wait_for(lambda: world.discord.voice.streams_in(world.guild_id))
    stop = await world.discord.invoke_slash("stop", {}, user_id=world.member_id, channel_id=world.channel_id)
    await private_reply(world, stop)
    [length] = await world.discord.voice.wait_for_tracks(other_guild, 1)
    assert about(length, 2)
    assert world.discord.voice.bot_channel(world.guild_id) is None
    assert world.discord.voice.bot_channel(other_guild) == other_voice


async def test_jam_play_plays_the_chain_in_order_with_announcements(world: World, lounge: int) -> None:
    """/jam play queues the first song and every extension, announcing each in the jam thread with its credits."""
    await world.start_bot(callbacks=True)
    bob = world.discord.add_user("bob")
    thread = await start_jam(world, "Night drive")
    await world.discord.invoke_slash("jam add", {"line": "Headlights on"}, user_id=bob, channel_id=thread)
    world.producer.script(title="Night drive", duration="1")
    await world.discord.invoke_slash("jam finish", {}, user_id=world.member_id, channel_id=thread)
    first = await world.wait_for_song(thread)
    jam_message = world.discord.messages[thread][0]
    await world.discord.wait_for(lambda: first.jump_url in str(jam_message.embeds[0]))  # recorded as the jam's song
    world.producer.script(title="Night drive, part two", duration="2")
    await world.discord.post_user_message(thread, "Radio low", user_id=bob, reply_to=first, mentions_bot=True)
    await world.discord.wait_for(lambda: len(world.songs_in_channel(thread)) == 2)
    second = world.songs_in_channel(thread)[-1]
    await world.discord.wait_for(lambda: second.jump_url in str(jam_message.embeds[0]))  # the chain's newest song
    ids = [embed_field(m, "Song id").strip("`") for m in world.songs_in_channel(thread)]
    give_audio(world, ids[0], 1)
    give_audio(world, ids[1], 2)
    await world.discord.voice.join(world.member_id, lounge)

    play = await world.discord.invoke_slash("jam play", {}, user_id=world.member_id, channel_id=thread)
    assert "Playing **Night drive** and 1 more" in await private_reply(world, play)
    lengths = await world.discord.voice.wait_for_tracks(world.guild_id, 2)
    assert about(lengths[0], 1) and about(lengths[1], 2), lengths
    announcements = [m.content for m in world.discord.messages[thread] if m.content.startswith("▶️ Now playing")]
    assert len(announcements) == 2
    assert "(1 of 2 in the jam): **Night drive**" in announcements[0] and f"<@{bob}>" in announcements[0]
    assert "(2 of 2 in the jam): **Night drive, part two**" in announcements[1]
    assert f"by <@{bob}>" in announcements[1]  # the extension is credited to whoever extended it
    assert party_messages(world, thread)  # the party message is where /jam play was used


async def test_jam_play_without_a_song_says_so(world: World) -> None:
    """A jam that has not been sung yet has nothing to play."""
    await world.start_bot(callbacks=True)
    thread = await start_jam(world, "Unsung")
    play = await world.discord.invoke_slash("jam play", {}, user_id=world.member_id, channel_id=thread)
    assert "no song yet" in await private_reply(world, play)


async def test_pause_and_resume(world: World, lounge: int) -> None:
    """The requester pauses (the listener hears silence, the button reads Resume) and resumes; the song plays whole."""
    bot = await world.start_bot(callbacks=True)
    song = await make_song(world, "Patient", 8)  # long enough that the pause lands mid-song on a slow machine
    await world.discord.voice.join(world.member_id, lounge)
    await play(world, song)
    [message] = await world.discord.wait_for(lambda: party_messages(world))
    await world.discord.wait_for(lambda: world.discord.voice.streams_in(world.guild_id))
    stream = world.discord.voice.streams_in(world.guild_id)[0]
    await world.discord.wait_for(lambda: stream.audio_frames() >= 25)  # half a second heard
    pause = await world.discord.click_button(message, "party:pause", user_id=world.member_id)
    assert "Paused **Patient**" in await private_reply(world, pause)
    await world.discord.wait_for(lambda: "Paused" in now_playing(message))
    labels = [c["label"] for row in message.components for c in row["components"]]
    assert "Resume" in labels
    # The listener hears the pause: the player sends silence, then nothing until Resume.
    await world.discord.wait_for(lambda: stream.frames[-1].silence)
    heard = stream.audio_frames()
    party = bot.parties.get(world.guild_id)
    assert party is not None and party.audio is not None
    ffmpeg = party.audio.pid  # works ahead of the player, so it runs at a lower CPU priority
    assert os.getpriority(os.PRIO_PROCESS, ffmpeg) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    await asyncio.sleep(0.5)
    assert stream.audio_frames() == heard < 400
    resume = await world.discord.click_button(message, "party:pause", user_id=world.member_id)
    assert "Resumed **Patient**" in await private_reply(world, resume)
    lengths = await world.discord.voice.wait_for_tracks(world.guild_id, 2)  # before and after the pause
    assert lengths[0] == heard and about(sum(lengths), 8), lengths


async def test_a_song_is_heard_whole_when_its_host_drops_the_connection(world: World, lounge: int) -> None:
    """Hosts close connections that stall (a party paused for minutes stops reading): ffmpeg resumes where it was."""
    await world.start_bot(callbacks=True)
    song = await make_song(world, "Resilient", 4)
    audio = sine_mp3(4, 700)
    world.producer.set_media(f"{song}.mp3", audio, drop_after=len(audio) // 3)  # three connections for the song
    await world.discord.voice.join(world.member_id, lounge)
    await play(world, song)
    [length] = await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    assert about(length, 4), length
    resumed = [r for p, r in zip(world.producer.media_requests, world.producer.media_ranges, strict=True) if song in p]
    assert any(r and not r.startswith("bytes=0-") for r in resumed), resumed  # picked up mid-file, not restarted


async def test_parties_per_process_are_bounded(world: World, lounge: int) -> None:
    """Past the process's bound, another server is told to try again later; nothing joins."""
    bot = await world.start_bot(callbacks=True)
    bot.parties.max_parties = 1
    other_guild, other_text, other_voice, bob = await another_server(world)
    mine = await make_song(world, "Ours", 8)
    theirs = await make_song(world, "Theirs", 1, channel_id=other_text, user_id=bob)
    await world.discord.voice.join(world.member_id, lounge)
    await world.discord.voice.join(bob, other_voice)
    a = await world.discord.invoke_slash("play", {"song": mine}, user_id=world.member_id, channel_id=world.channel_id)
    await private_reply(world, a)
    b = await world.discord.invoke_slash("play", {"song": theirs}, user_id=bob, channel_id=other_text)
    assert "as many servers as this bot runs at once" in await private_reply(world, b)
    assert world.discord.voice.bot_channel(other_guild) is None
