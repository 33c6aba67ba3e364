"""Memory while streaming: a hundred big songs delivered at the same time.

A small VPS has little memory; if each delivery held its audio in memory, a burst of finished songs
would multiply the file size by the number of songs. `bot.producer.media.download` spools to disk past
512 KiB and discord.py streams the file into its upload, so the peak should stay near the idle
footprint.

The real bot (`python -m bot`) runs in a child process. 100 members run /generate in 100 channels
(one bucket each, so nothing serialises the uploads), every task finishes at once with an 8 MiB
file, and the bot downloads each from the fake API and uploads it to the fake Discord. Peak RSS is
the child's VmHWM from /proc/<pid>/status (reset to the idle RSS just before the burst where the
kernel allows, so it is the burst's peak); the baseline is the same process's idle RSS right before.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BOT_READY,
    MIB,
    Blob,
    Child,
    Row,
    Section,
    bot_env,
    dispatch_commands,
    mb,
    quiesce,
    start_fakes,
    stop_fakes,
)
from bench.delivery import song_messages

SONGS = 100
SIZE = 8 * MIB
TARGET = 150 * MIB


async def _sample(child: Child, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], child.status().get("VmRSS", 0))
        await asyncio.sleep(0.01)


async def measure() -> dict[str, Any]:
    fake, producer, ids = await start_fakes(channels=SONGS)
    audio = (hashlib.sha256(b"bench").digest() * (SIZE // 32 + 1))[:SIZE]
    producer.shared_audio = audio
    try:
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
            child = await Child.spawn(["-m", "bench.child", "bot"], bot_env(fake, producer, Path(tmp)), cwd=Path(tmp))
            try:
                await child.wait_for(BOT_READY, within=60)
                interactions = await dispatch_commands(fake, ids, SONGS, interval=0.005, channels=ids.channel_ids)
                await producer.wait_for(lambda: len(producer.tasks) >= SONGS, timeout=60)
                await fake.wait_for(lambda: all(i.original and i.original.edits for i in interactions), timeout=60)
                await asyncio.sleep(0.5)
                idle = child.status()
                reset = child.reset_peak()
                sampled = [0]
                sampler = asyncio.create_task(_sample(child, sampled))
                started = time.monotonic()
                await asyncio.gather(*(producer.complete(task_id) for task_id in list(producer.tasks)))

                def delivered() -> int:
                    return sum(len(song_messages(fake, channel)) for channel in ids.channel_ids)

                await fake.wait_for(lambda: delivered() >= SONGS, timeout=120)
                await fake.wait_for(lambda: all("channels/" in (i.original.content or "") for i in interactions), 60)
                elapsed = time.monotonic() - started
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                after = child.status()
                await quiesce(fake, producer, quiet=0.3)
            finally:
                await child.stop()
        digest = hashlib.sha256(audio).hexdigest()
        attachments = [
            attachment
            for channel in ids.channel_ids
            for message in song_messages(fake, channel)
            for attachment in message.attachments
        ]
        intact = sum(1 for a in attachments if isinstance(a.data, Blob) and a.data.digest == digest and a.size == SIZE)
    finally:
        await stop_fakes(fake, producer)
    return {
        "idle": idle.get("VmRSS", 0),
        "idle_hwm": idle.get("VmHWM", 0),
        "peak": after.get("VmHWM", 0),
        "sampled": sampled[0],
        "reset": reset,
        "intact": intact,
        "seconds": elapsed,
    }


async def run(quick: bool) -> Section:
    started = time.monotonic()
    result = await measure()
    section = Section("Memory while streaming")
    section.rows = [
        Row(
            f"peak RSS, {SONGS} × {SIZE // MIB} MiB deliveries at once",
            mb(result["peak"]),
            f"{mb(result['idle'])} idle",
            result["peak"] / result["idle"] if result["idle"] else None,
            f"≤ {TARGET // MIB} MB",
            result["peak"] <= TARGET and result["intact"] == SONGS,
        )
    ]
    section.notes.append(
        f"Memory: {result['intact']}/{SONGS} files arrived intact (size and sha256) in {result['seconds']:.1f} s; "
        f"VmHWM {'was reset to the idle RSS before the burst' if result['reset'] else 'could not be reset'} "
        f"(start-up high-water mark {mb(result['idle_hwm'])}); highest VmRSS sampled every 10 ms "
        f"{mb(result['sampled'])}."
    )
    section.seconds = time.monotonic() - started
    return section
