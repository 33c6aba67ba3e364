"""Processes the benchmarks start: the real bot, a bare discord.py bot, and the webhook listeners.

    python -m bench.child bot                  # the real entry point (`python -m bot`), on the fakes
    python -m bench.child bare                 # a discord.py bot whose /generate only defers
    python -m bench.child webhook bot|bare|listen N DIR   # BENCH_DATABASE_URL: on PostgreSQL
    python -m bench.child charges bot|bare DATABASE_URL N

discord.py is pointed at the fake Discord through BENCH_DISCORD_API and BENCH_DISCORD_GATEWAY (the
same two patches tests.harness applies in-process); everything else is the bot's own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket


def die_with_parent() -> None:
    """Have the kernel send SIGTERM when the benchmark process dies, so no child outlives a killed run."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux); elsewhere this does nothing


def point_discord_at_fake() -> None:
    discord.http.Route.BASE = os.environ["BENCH_DISCORD_API"]
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["BENCH_DISCORD_GATEWAY"])
    if os.environ.get("BENCH_VOICE_CA"):  # the fake voice server's certificate (bench/voice.py)
        from tests.fakes.fake_voice import trust_fake_voice_tls

        trust_fake_voice_tls(os.environ["BENCH_VOICE_CA"])


class BareBot(discord.Client):
    """The acknowledgement baseline: same library, same intents, same command shape, nothing else."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default())
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="generate", description="Make a song from a short description.")
        @app_commands.guild_only()
        async def generate(
            interaction: discord.Interaction,
            prompt: app_commands.Range[str, 1, 200],
            model: str | None = None,
            instrumental: bool = False,
            title: app_commands.Range[str, 1, 80] | None = None,
            weirdness: app_commands.Range[float, 0.0, 1.0] | None = None,
        ) -> None:
            await interaction.response.defer(thinking=True)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_ready(self) -> None:
        print("BARE READY", flush=True)


async def run_bare() -> None:
    client = BareBot()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(client.close()))
    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])


def main(argv: list[str]) -> int:
    die_with_parent()
    mode = argv[0] if argv else ""
    if mode == "bot":
        point_discord_at_fake()
        from bot.__main__ import main as bot_main

        return bot_main([])
    if mode == "bare":
        point_discord_at_fake()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_bare())
        return 0
    if mode == "webhook":
        from bench.webhook import serve

        asyncio.run(serve(argv[1], int(argv[2]), argv[3]))
        return 0
    if mode == "charges":
        from bench.cluster import charge_child

        asyncio.run(charge_child(argv[1], argv[2], int(argv[3])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
