"""`python -m bot` as a server owner runs it: a real process, a .env with only the two tokens."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_producer import FakeProducer

ROOT = Path(__file__).resolve().parents[2]

# The process is the real entry point; only discord.py's two Discord addresses are pointed at the fake.
LAUNCH = """
import runpy, sys, yarl, discord.http, discord.gateway
discord.http.Route.BASE = sys.argv[1]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2])
sys.argv = ["bot"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


async def test_python_m_bot_starts_in_polling_mode_and_logs_in(tmp_path: Path) -> None:
    discord_fake = FakeDiscord(token="only-discord-token")
    producer = FakeProducer(token="only-producer-token")
    await discord_fake.start()
    await producer.start()
    discord_fake.add_guild("Home")
    try:
        (tmp_path / ".env").write_text("DISCORD_TOKEN=only-discord-token\nPRODUCER_API_TOKEN=only-producer-token\n")
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "PRODUCER_"))}
        env.update(PYTHONPATH=str(ROOT), PRODUCER_API_BASE=producer.base_url, WEBHOOK_PORT="0")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            LAUNCH,
            discord_fake.api_base,
            discord_fake.gateway_url,
            cwd=tmp_path,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        lines: list[str] = []
        async with asyncio.timeout(30):
            while not any("Logged in as" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, "the bot exited early:\n" + "".join(lines)
                lines.append(line)
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        output = "".join(lines) + (rest or b"").decode()
        assert process.returncode == 0, output
        assert "polling mode (no PUBLIC_URL)" in output
        assert "Synced" in output and "global commands" in output
        assert "only-discord-token" not in output and "only-producer-token" not in output
        assert (tmp_path / "data" / "bot.db").exists()
        assert discord_fake.identify_count == 1
        names = {command["name"] for command in discord_fake.commands}
        assert {"generate", "compose", "extend", "cover", "stems", "Extend song", "Get stems"} <= names
    finally:
        await producer.close()
        await discord_fake.close()
