"""The real `python -m bot` stops when asked and says what is wrong before Discord answers (issue 20,
items 1, 2 and 3): Ctrl-C and `docker stop` while the gateway refuses, `/healthz` while starting, a
port that cannot be bound found at once, and `check` trying the listener's port."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.cli_helpers import Child, run_cli
from tests.conftest import PRODUCER_TOKEN
from tests.crash_helpers import BotProcess
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_producer import FakeProducer
from tests.harness import World, free_port
from tests.ops.test_cli import DISCORD_TOKEN, clean, configured

GRACE = 5.0
"""SHUTDOWN_GRACE in these tests: the process must be gone this long after the signal."""


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token=DISCORD_TOKEN)
    await fake.start()
    fake.add_guild("Home")
    try:
        yield fake
    finally:
        await fake.close()


async def get_json(url: str, *, method: str = "GET", body: object = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(method, url, json=body) as response:
        return response.status, await response.json(content_type=None)


async def stop_with(bot: Child, signum: signal.Signals) -> tuple[int, float]:
    """Send `signum`; the exit status and the seconds it took to exit."""
    assert bot.process is not None
    sent = time.monotonic()
    bot.process.send_signal(signum)
    code = await bot.wait_exit(timeout=GRACE + 30)
    return code, time.monotonic() - sent


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "docker-stop"])
async def test_stop_while_the_gateway_refuses_ends_within_the_grace(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path, signum: signal.Signals
) -> None:
    """Item 1: logged in over REST, the gateway answering 503: one WARNING per attempt with back-off,
    `/healthz` 503 `starting` (item 2), and the signal ends the process within SHUTDOWN_GRACE with `Stopped`."""
    discord_fake.gateway_refused = True
    env = configured(producer, tmp_path, SHUTDOWN_GRACE=str(GRACE))
    bot = Child(cwd=tmp_path, env=env, discord_api=discord_fake.api_base, gateway=discord_fake.gateway_url)
    await bot.start()
    try:
        first = await bot.wait_for("Cannot connect shard 0 to Discord's gateway")
        assert first.rstrip().endswith("Cannot connect shard 0 to Discord's gateway (HTTP 503); retrying in 2 s")
        assert " WARNING " in first
        second = await bot.wait_for("retrying in 4 s", timeout=15)
        assert "Cannot connect shard 0" in second
        status, body = await get_json(f"http://127.0.0.1:{env['WEBHOOK_PORT']}/healthz")
        assert (status, body["status"], body["shards"]) == (503, "starting", {"0": "connecting"})
        assert body["reason"] == "connecting to Discord's gateway"
    except BaseException:
        await bot.kill()
        raise
    code, seconds = await stop_with(bot, signum)
    assert code == 0, bot.output
    assert seconds < GRACE, f"took {seconds:.1f} s\n{bot.output}"
    assert bot.lines[-1].rstrip().endswith("Stopped"), bot.output
    assert "Failed to connect for shard_id" not in bot.output
    clean(bot.output)
    assert discord_fake.identify_count == 0


async def test_healthz_answers_starting_while_discord_cannot_be_reached(producer: FakeProducer, tmp_path: Path) -> None:
    """Item 2: the listener is open before Discord answers: 503 `starting`; a callback then is 503 too,
    and nothing is stored. A stop then abandons the start at once."""
    nowhere = f"http://127.0.0.1:{free_port()}/api/v10"
    env = configured(producer, tmp_path, SHUTDOWN_GRACE=str(GRACE))
    bot = Child(cwd=tmp_path, env=env, discord_api=nowhere, gateway="ws://127.0.0.1:9/")
    await bot.start()
    try:
        await bot.wait_for("Cannot reach Discord (cannot connect")
        base = f"http://127.0.0.1:{env['WEBHOOK_PORT']}"
        status, body = await get_json(f"{base}/healthz")
        assert (status, body["status"], body["reason"]) == (503, "starting", "waiting for Discord")
        assert body["bot"] == "producer-discord-bot"
        status, body = await get_json(f"{base}/callbacks/{'a' * 43}", method="POST", body={"task_id": "t"})
        assert (status, body) == (503, {"error": "starting"})
    except BaseException:
        await bot.kill()
        raise
    code, seconds = await stop_with(bot, signal.SIGTERM)
    assert code == 0 and seconds < GRACE, bot.output
    assert bot.lines[-1].rstrip().endswith("Stopped")
    clean(bot.output)


async def test_a_port_in_use_is_found_before_discord_answers(producer: FakeProducer, tmp_path: Path) -> None:
    """Item 3: Discord unreachable (it would be retried for ever), yet a taken port ends the start at once."""
    nowhere = f"http://127.0.0.1:{free_port()}/api/v10"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = configured(producer, tmp_path, WEBHOOK_PORT=str(port))
        result = await run_cli(cwd=tmp_path, env=env, discord_api=nowhere, timeout=30)
    assert result.returncode == 1, result.output
    assert f"Port {port} is already in use (WEBHOOK_PORT={port})" in result.stderr
    assert "Cannot reach Discord" not in result.stderr
    assert result.stderr.rstrip().endswith("Stopped")
    clean(result.output)


async def test_check_tries_the_listener_port_in_polling_mode(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    """Item 3: `check` binds WEBHOOK_PORT as the bot would: a taken port, and a WEBHOOK_HOST that is not
    this machine's, each FAIL with what to do."""
    free = await run_cli("check", cwd=tmp_path, env=configured(producer, tmp_path), discord_api=discord_fake.api_base)
    assert free.returncode == 0, free.output
    assert "ok    The listener can open 127.0.0.1:" in free.stdout

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = configured(producer, tmp_path, WEBHOOK_PORT=str(port))
        busy = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert busy.returncode == 1
    assert f"FAIL  Port {port} is already in use (WEBHOOK_PORT={port})" in busy.stdout, busy.output

    env = configured(producer, tmp_path, WEBHOOK_HOST="192.0.2.1")  # TEST-NET-1: no machine has it
    foreign = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    assert foreign.returncode == 1
    assert "WEBHOOK_HOST=192.0.2.1 is not one of this machine's addresses" in foreign.stdout, foreign.output
    clean(free.output + busy.output + foreign.output)


async def test_check_accepts_the_port_of_the_running_bot(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    """`check` run beside the bot (`docker exec … check`): the port is the bot's own, which is fine."""
    env = configured(producer, tmp_path)
    bot = Child(cwd=tmp_path, env=env, discord_api=discord_fake.api_base, gateway=discord_fake.gateway_url)
    await bot.start()
    try:
        await bot.wait_for("Logged in as")
        result = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    finally:
        assert await bot.stop() == 0
    assert f"ok    Port {env['WEBHOOK_PORT']} (WEBHOOK_PORT) is in use by this bot, which is running" in result.stdout
    assert result.returncode == 0, result.output


async def test_a_stop_while_a_song_is_held_at_discord_hands_it_back_within_the_grace(
    world: World, tmp_path: Path
) -> None:
    """Item 1, the other state a stop can meet: the song's post hangs at Discord. The process still ends
    within SHUTDOWN_GRACE with `Stopped`, handing the delivery back; the next start posts the song once."""
    env = {
        "DISCORD_TOKEN": world.discord.token,
        "PRODUCER_API_TOKEN": PRODUCER_TOKEN,
        "PRODUCER_API_BASE": world.producer.base_url,
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(free_port()),
        "POLL_INTERVAL": "1",
        "ALLOW_PRIVATE_MEDIA_HOSTS": "true",  # the fake API serves media from 127.0.0.1
        "SHUTDOWN_GRACE": str(GRACE),
    }
    bot = BotProcess(discord_api=world.discord.api_base, gateway=world.discord.gateway_url, env=env, cwd=tmp_path)
    await bot.start()
    gate = world.discord.hold("POST", rf"/channels/{world.channel_id}/messages$")
    try:
        await world.discord.invoke_slash(
            "generate", {"prompt": "held at discord"}, user_id=world.member_id, channel_id=world.channel_id
        )
        await world.discord.wait_for(lambda: bool(world.discord.held), timeout=30)
        assert bot.process is not None
        sent = time.monotonic()
        await bot.stop()
        seconds = time.monotonic() - sent
    finally:
        world.discord.stop_holding(gate)
        if bot.running:
            await bot.kill()
    assert bot.process.returncode == 0, bot.output
    assert seconds < GRACE, f"took {seconds:.1f} s\n{bot.output}"
    assert bot.lines[-1].rstrip().endswith("Stopped") and "Still busy" not in bot.output, bot.output
    clean(bot.output, world.discord.token)

    gate.set()  # Discord answers the abandoned request now; the next life must not post a second copy
    await bot.start()
    try:
        await world.discord.wait_for(lambda: len(world.songs_in_channel()) >= 1, timeout=30)
    finally:
        await bot.stop()  # after the delivery has ended: a second copy would be posted by then
    assert len(world.songs_in_channel()) == 1, [message.content for message in world.songs_in_channel()]
