"""Helpers for listening-party tests: real audio files, songs that carry them, the party message."""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import threading
from pathlib import Path

from bot.voice.audio import ffmpeg_executable
from tests.fakes.fake_discord import FakeMessage
from tests.harness import World, embed_field, generate, private_reply

FRAMES_PER_SECOND = 50


@functools.cache
def sine_mp3(seconds: float, frequency: int = 440) -> bytes:
    """A short mp3 of a sine tone, made by the same ffmpeg the bot uses (its lavfi source)."""
    return subprocess.run(
        [
            ffmpeg_executable(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={frequency}:duration={seconds}",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            "-f",
            "mp3",
            "pipe:1",
        ],
        check=True,
        capture_output=True,
    ).stdout


def give_audio(world: World, song_id: str, seconds: float, frequency: int = 440) -> None:
    """Serve a real `seconds`-long mp3 as the song's audio at the fake API's media URL."""
    world.producer.set_media(f"{song_id}.mp3", sine_mp3(seconds, frequency))


async def make_song(
    world: World, title: str, seconds: float, *, channel_id: int | None = None, user_id: int | None = None
) -> str:
    """A member makes a song (the real /generate flow) whose audio lasts `seconds`; returns its id."""
    channel = channel_id or world.channel_id
    before = len(world.songs_in_channel(channel))
    world.producer.script(title=title, duration=str(seconds))
    await generate(world, f"a song called {title}", user_id=user_id, channel_id=channel)
    await world.discord.wait_for(lambda: len(world.songs_in_channel(channel)) > before)
    song_id = embed_field(world.songs_in_channel(channel)[-1], "Song id").strip("`")
    give_audio(world, song_id, seconds, 300 + 100 * before)
    return song_id


async def play(world: World, song_id: str) -> str:
    """The member /plays a song from the world's channel; returns what the bot privately answered."""
    interaction = await world.discord.invoke_slash(
        "play", {"song": song_id}, user_id=world.member_id, channel_id=world.channel_id
    )
    return await private_reply(world, interaction)


def party_messages(world: World, channel_id: int | None = None) -> list[FakeMessage]:
    """The listening-party messages the bot posted in the channel."""
    channel = channel_id or world.channel_id
    return [
        m
        for m in world.discord.messages.get(channel, [])
        if not m.deleted
        and not m.ephemeral  # /queue answers privately with the same embed
        and any("Listening party" in (e.get("title") or "") for e in m.embeds)
    ]


def party_text(message: FakeMessage) -> str:
    """Everything the party message says (description and fields)."""
    embed = message.embeds[0]
    return "\n".join([embed.get("description") or "", *(f"{f['name']}: {f['value']}" for f in embed.get("fields", []))])


def about(frames: int, seconds: float, tolerance: float = 0.1) -> bool:
    """Whether `frames` Opus frames are `seconds` of audio at 50 per second, within `tolerance`."""
    expected = seconds * FRAMES_PER_SECOND
    return abs(frames - expected) <= expected * tolerance + 2


def now_playing(message: FakeMessage) -> str:
    """The party message's "Now playing" line, or "" when nothing plays."""
    lines = (message.embeds[0].get("description") or "").splitlines()
    return next((line for line in lines if "Now playing" in line or "Paused" in line), "")


def ffmpeg_children() -> list[int]:
    """ffmpeg processes this test process started that still exist (an unreaped one counts: nobody waited for it)."""
    name = Path(ffmpeg_executable()).name[:15]  # the kernel keeps 15 characters of a command's name
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        command, after = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if command == name and int(after[1]) == os.getpid():
            found.append(int(entry.name))
    return found


def party_workers() -> list[str]:
    """Songs' read-ahead threads and download tasks still alive (a party that ended leaves none)."""
    threads = [thread.name for thread in threading.enumerate() if thread.name.startswith("party-audio-")]
    tasks = [task.get_name() for task in asyncio.all_tasks() if task.get_name().startswith("party-feed-")]
    return threads + tasks
