"""Start-up: how long a restart (deploy, crash, reboot) leaves members without a bot, and its idle size.

Process start to ready is measured from spawning `python -m bot` (through `bench.child`, which only
points discord.py at the fake) to the bot's "Logged in as" log line, written from `on_ready`. It
includes imports, the database and its migrations, the webhook listener, command sync, the gateway
login and discord.py's own wait for guild data (`guild_ready_timeout`, 2 s by default, in both the
bot and the baseline). Idle RSS is read from /proc/<pid>/status a second after ready. Baseline: a
bare discord.py bot with one command, same fake, same measurement.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import BARE_READY, BOT_READY, Child, Row, Section, bot_env, mb, start_fakes, stop_fakes

SETTLE = 1.0


async def measure(mode: str) -> tuple[float, int, float]:
    """(seconds to ready, idle RSS in bytes, seconds to the webhook listener or nan) for one fresh start."""
    fake, producer, _ = await start_fakes()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
            child = await Child.spawn(["-m", "bench.child", mode], bot_env(fake, producer, Path(tmp)), cwd=Path(tmp))
            try:
                ready_at, _ = await child.wait_for(BOT_READY if mode == "bot" else BARE_READY, within=60)
                listening = float("nan")
                if mode == "bot":
                    listening = (await child.wait_for(r"Webhook listener on", within=5))[0] - child.started
                await asyncio.sleep(SETTLE)
                rss = child.status().get("VmRSS", 0)
            finally:
                await child.stop()
    finally:
        await stop_fakes(fake, producer)
    return ready_at - child.started, rss, listening


async def run(quick: bool) -> Section:
    started = time.monotonic()
    runs = 1 if quick else 3
    bare = [await measure("bare") for _ in range(runs)]
    bot = [await measure("bot") for _ in range(runs)]
    b_ready, v_ready = statistics.median(r[0] for r in bare), statistics.median(r[0] for r in bot)
    b_rss, v_rss = statistics.median(r[1] for r in bare), statistics.median(r[1] for r in bot)
    listening = statistics.median(r[2] for r in bot)
    section = Section("Start-up")
    section.rows = [
        Row("start-up: process start → ready", f"{v_ready:.2f} s", f"{b_ready:.2f} s", v_ready / b_ready),
        Row("idle RSS after ready", mb(v_rss), mb(b_rss), v_rss / b_rss),
    ]
    section.notes.append(
        f"Start-up: median of {runs} fresh start(s) each (new database: migrations and command sync run); the "
        f"bot's webhook listener was up {listening:.2f} s after process start; both include discord.py's 2 s "
        f"guild_ready_timeout."
    )
    section.seconds = time.monotonic() - started
    return section
