"""Listening parties start and end cleanly: the song is read only by the bot's checked download, Stop ends
ffmpeg at any moment, a starting song holds no shared thread, and a failed stage step-up frees its slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp import web

from bot.producer import media
from tests.fakes.fake_voice import MUTE_MEMBERS
from tests.harness import World, local_server, private_reply
from tests.voice_helpers import (
    about,
    ffmpeg_children,
    make_song,
    party_messages,
    party_text,
    party_workers,
    play,
    sine_mp3,
)


async def stop(world: World) -> str:
    """The member presses /stop; returns what the bot privately answered."""
    interaction = await world.discord.invoke_slash("stop", {}, user_id=world.member_id, channel_id=world.channel_id)
    return await private_reply(world, interaction)


async def nothing_left_behind(world: World) -> None:
    """No ffmpeg process (reaped or not), read-ahead thread or download task of a song is left."""
    await world.discord.wait_for(lambda: not ffmpeg_children() and not party_workers(), timeout=5)


async def trickling_song(world: World, title: str) -> str:
    """A song whose audio arrives at 512 bytes a second: ffmpeg starts, and half a second of it is far off."""
    song = await make_song(world, title, 4)
    world.producer.set_media(f"{song}.mp3", sine_mp3(4), drip_delay=2.0)
    return song


@pytest.fixture
async def private_host() -> AsyncIterator[tuple[str, list[str]]]:
    """A file server on 127.0.0.2, the private network for these tests: its base URL and what it was asked for."""
    asked: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(body=sine_mp3(2), content_type="audio/mpeg")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.2", 0).start()
    try:
        yield f"http://127.0.0.2:{runner.addresses[0][1]}", asked
    finally:
        await runner.cleanup()


async def test_playback_reads_the_song_through_the_bots_checks_only(
    world: World, lounge: int, private_host: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that answers one request for a song and redirects the next into the private network: the party
    reads the song once, itself, so the song is heard whole and nothing reaches the private host (ffmpeg
    fetching the address on its own, after the bot's check, followed the redirect)."""
    private_base, asked = private_host
    monkeypatch.setattr(media, "_is_public", lambda address: address == "127.0.0.1")  # 127.0.0.1 plays a CDN
    audio = sine_mp3(2)
    reads_since_play: list[str] = []

    async def cdn(request: web.Request) -> web.StreamResponse:
        if request.path.endswith(".mp3") and world.discord.voice.bot_channel(world.guild_id) is not None:
            reads_since_play.append(request.path)
            if len(reads_since_play) > 1:
                raise web.HTTPFound(f"{private_base}{request.path}")
        return web.Response(body=audio, content_type="audio/mpeg")

    app = web.Application()
    app.router.add_get("/{tail:.*}", cdn)
    await world.start_bot(callbacks=True, ALLOW_PRIVATE_MEDIA_HOSTS="false")
    async with local_server(app) as cdn_base:
        api_base, world.producer.base_url = world.producer.base_url, cdn_base  # the song's audio URL is on the CDN
        try:
            song = await make_song(world, "Checked", 2)
        finally:
            world.producer.base_url = api_base
        await world.discord.voice.join(world.member_id, lounge)
        assert "Playing **Checked**" in await play(world, song)
        [length] = await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    assert about(length, 2), length
    assert asked == [] and len(reads_since_play) == 1


async def test_stop_while_a_song_is_starting_ends_ffmpeg_at_once(world: World, lounge: int) -> None:
    """/stop while a song's audio trickles in (ffmpeg running, nothing playing yet): the bot answers and leaves
    at once, and no ffmpeg process, read-ahead thread or download is left behind."""
    await world.start_bot(callbacks=True)
    song = await trickling_song(world, "Trickle")
    await world.discord.voice.join(world.member_id, lounge)
    assert "Playing **Trickle**" in await play(world, song)
    await world.discord.wait_for(ffmpeg_children)
    started = time.monotonic()
    assert "Stopped" in await stop(world)
    assert time.monotonic() - started < 5
    await world.discord.wait_for(lambda: world.discord.voice.bot_channel(world.guild_id) is None, timeout=3)
    await nothing_left_behind(world)
    [message] = party_messages(world)
    await world.discord.wait_for(lambda: "has ended: stopped by" in party_text(message))


async def test_songs_that_end_or_are_stopped_leave_nothing_behind(world: World, lounge: int) -> None:
    """A song played to its end and a song stopped mid-way: their ffmpeg processes, threads and downloads end."""
    await world.start_bot(callbacks=True)
    short = await make_song(world, "Short", 1)
    long = await make_song(world, "Long", 8)
    await world.discord.voice.join(world.member_id, lounge)
    await play(world, short)
    await play(world, long)
    await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    await world.discord.wait_for(lambda: len(world.discord.voice.tracks(world.guild_id)) == 2)
    assert len(ffmpeg_children()) == 1  # the first song's ffmpeg is gone; the second's plays
    assert "Stopped" in await stop(world)
    await nothing_left_behind(world)


async def test_a_starting_song_does_not_hold_up_name_lookups(world: World, lounge: int) -> None:
    """While a song's first half second trickles in, the bot still resolves host names at once: waiting for
    it takes none of the default thread pool's workers, which name lookups (DNS) run on."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))  # the smallest pool: one waiting song fills it
    await world.start_bot(callbacks=True)
    song = await trickling_song(world, "Slow start")
    await world.discord.voice.join(world.member_id, lounge)
    await play(world, song)
    await world.discord.wait_for(ffmpeg_children)
    await asyncio.wait_for(loop.getaddrinfo("localhost", 80), timeout=3)
    assert "Stopped" in await stop(world)
    await nothing_left_behind(world)


async def test_a_stage_step_up_that_fails_frees_the_party_slot(world: World, lounge: int) -> None:
    """Discord never answers the bot's step-up on a stage: the member is told, the bot leaves the stage, and the
    party's slot is free again (with one party per process, the member's next /play in a voice channel plays)."""
    bot = await world.start_bot(callbacks=True)
    bot.parties.max_parties = 1
    bot.parties.step_up_timeout = 1.0
    stage = world.discord.voice.add_stage_channel(world.guild_id, "Town hall")
    world.discord.allow_bot(stage, MUTE_MEMBERS)
    song = await make_song(world, "Keynote", 1)
    unanswered = world.discord.hold("PATCH", r"/voice-states/@me")
    await world.discord.voice.join(world.member_id, stage)

    told = await play(world, song)
    assert "did not let me step up to speak" in told and f"<#{stage}>" in told
    await world.discord.wait_for(lambda: world.discord.voice.bot_channel(world.guild_id) is None)
    unanswered.set()
    await world.discord.voice.join(world.member_id, lounge)
    assert "Playing **Keynote**" in await play(world, song)
    [length] = await world.discord.voice.wait_for_tracks(world.guild_id, 1)
    assert about(length, 1), length
