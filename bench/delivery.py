"""Delivery under Discord's rate limits: a burst of finished songs into one channel.

Discord lets a bot post about 5 messages per 5 s in a channel and answers 429 with `retry_after`
past that. When many songs finish together the bot must post every one exactly once, and should
finish close to the floor the limit sets, (ceil(N / limit) - 1) × window, neither hammering
Discord with retries nor dropping songs.

The real bot (`python -m bot`, callback mode) runs in a child process; N members run /generate in
one channel, the fake API holds the tasks, the channel gets a shrunken limit (the same shape,
a shorter window), then all N tasks finish at once and their callbacks arrive together. The
clock runs from the moment the API starts finishing them to the last song message accepted by the
fake. By default the fake Discord sends X-RateLimit-* headers on every message post, as Discord
does, so discord.py's bucket logic paces the bot as in production; the "429 only" variant runs
against the unmodified fake, which sends those headers only with its 429s.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    BOT_READY,
    BenchDiscord,
    Child,
    Ids,
    Row,
    Section,
    bot_env,
    dispatch_commands,
    quiesce,
    start_fakes,
    stop_fakes,
)

WINDOW = 0.25
LIMIT = 5


def song_messages(fake: BenchDiscord, channel_id: int) -> list[Any]:
    """Messages in the channel carrying a song embed (one with a "Song id" field)."""
    return [
        message
        for message in fake.messages.get(channel_id, [])
        if not message.deleted
        and any(f.get("name") == "Song id" for embed in message.embeds for f in embed.get("fields", []))
    ]


def floor_seconds(songs: int, limit: int = LIMIT, window: float = WINDOW) -> float:
    """The earliest the last of `songs` posts can be accepted when the first goes out at 0."""
    return (math.ceil(songs / limit) - 1) * window


async def measure(songs: int, *, discord_headers: bool) -> dict[str, Any]:
    fake, producer, ids = await start_fakes(discord_headers=discord_headers)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
            child = await Child.spawn(["-m", "bench.child", "bot"], bot_env(fake, producer, Path(tmp)), cwd=Path(tmp))
            try:
                await child.wait_for(BOT_READY, within=60)
                return await _burst(fake, producer, ids, child, songs)
            finally:
                await child.stop()
    finally:
        await stop_fakes(fake, producer)


async def _burst(fake: BenchDiscord, producer: Any, ids: Ids, child: Child, songs: int) -> dict[str, Any]:
    interactions = await dispatch_commands(fake, ids, songs, interval=0.005)
    await producer.wait_for(lambda: len(producer.tasks) >= songs, timeout=60)
    await fake.wait_for(lambda: all(i.original and i.original.edits for i in interactions), timeout=60)
    fake.set_channel_rate_limit(ids.channel_id, limit=LIMIT, window=WINDOW)
    posts_before = len(fake.posted_at.get(ids.channel_id, []))
    started = time.monotonic()
    await asyncio.gather(*(producer.complete(task_id) for task_id in list(producer.tasks)))
    callbacks_done = time.monotonic()
    await fake.wait_for(lambda: len(song_messages(fake, ids.channel_id)) >= songs, timeout=60 + 2 * songs)
    posted = fake.posted_at[ids.channel_id][posts_before:]
    # Every status line now points at its song: the bot has finished, so any duplicate would be here.
    await fake.wait_for(lambda: all("channels/" in (i.original.content or "") for i in interactions), timeout=30)
    await quiesce(fake, producer, quiet=0.3)
    messages = song_messages(fake, ids.channel_id)
    ids_posted = Counter(
        next(f["value"] for embed in m.embeds for f in embed.get("fields", []) if f.get("name") == "Song id")
        for m in messages
    )
    expected = {f"`{song['id']}`" for task in producer.tasks.values() for song in task.songs}
    return {
        "total": posted[-1] - started,
        "first": posted[0] - started,
        "callbacks": callbacks_done - started,
        "messages": len(messages),
        "distinct_ok": set(ids_posted) == expected and all(n == 1 for n in ids_posted.values()),
        "rate_limited": fake.rate_limited_count[ids.channel_id],
        "warnings": child.count(r"rate limited"),
        "errors": child.count(r"ERROR"),
    }


async def run(quick: bool) -> Section:
    started = time.monotonic()
    songs = 100 if quick else 200
    floor = floor_seconds(songs)
    section = Section("Delivery under rate limits")
    variants = [True] if quick else [True, False]
    for headers in variants:
        result = await measure(songs, discord_headers=headers)
        name = "Discord headers" if headers else "unmodified fake, headers only on 429"
        once = result["messages"] == songs and result["distinct_ok"]
        section.rows.append(
            Row(
                f"delivery: {songs} songs, {LIMIT}/{WINDOW:g}s, all once ({name})",
                f"{result['messages']} posted" + ("" if once else " (duplicates or missing)"),
                f"{songs}",
                None,
                f"all {songs} once",
                once,
            )
        )
        section.rows.append(
            Row(
                f"delivery: burst to last post ({name})",
                f"{result['total']:.2f} s",
                f"{floor:.2f} s floor",
                result["total"] / floor,
                "≤ 1.1× floor",
                result["total"] <= 1.1 * floor,
            )
        )
        section.notes.append(
            f"Delivery ({name}): first post {result['first']:.2f} s after the burst began, all callbacks answered "
            f"after {result['callbacks']:.2f} s; 429s from the fake: {result['rate_limited']}; the bot logged "
            f"{result['warnings']} rate-limit warnings and {result['errors']} errors."
        )
    section.seconds = time.monotonic() - started
    return section
