"""SHARD_COUNT, SHARD_IDS and DISCORD_REST_PROXY: parsed exactly, refused in one clear line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.settings import SettingsError, settings_from_mapping
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_producer import FakeProducer

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {"DISCORD_TOKEN": "d", "PRODUCER_API_TOKEN": "p"}


def test_neither_set_means_one_unsharded_process() -> None:
    settings = settings_from_mapping(TOKENS)
    assert (settings.shard_count, settings.shard_ids, settings.discord_rest_proxy) == (None, None, None)
    assert settings.lease_seconds == 30


def test_lease_seconds() -> None:
    assert settings_from_mapping({**TOKENS, "LEASE_SECONDS": "12.5"}).lease_seconds == 12.5
    with pytest.raises(SettingsError, match="LEASE_SECONDS must be at least 2"):
        settings_from_mapping({**TOKENS, "LEASE_SECONDS": "1"})


def test_database_pool_size_and_statement_cache() -> None:
    """Defaults: a pool of 10 and asyncpg's cache of 100 statements; 0 turns the cache off (PgBouncer
    in transaction mode); a pool of 0 is refused in one clear line."""
    settings = settings_from_mapping(TOKENS)
    assert (settings.database_pool_size, settings.database_statement_cache_size) == (10, 100)
    chosen = settings_from_mapping({**TOKENS, "DATABASE_POOL_SIZE": "3", "DATABASE_STATEMENT_CACHE_SIZE": "0"})
    assert (chosen.database_pool_size, chosen.database_statement_cache_size) == (3, 0)
    with pytest.raises(SettingsError, match="DATABASE_POOL_SIZE must be at least 1"):
        settings_from_mapping({**TOKENS, "DATABASE_POOL_SIZE": "0"})


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [("4", "", None), ("4", "0,2", (0, 2)), ("4", "0-3", (0, 1, 2, 3)), ("8", "0-1, 5", (0, 1, 5)), ("2", "1", (1,))],
)
def test_shard_ids_as_list_or_range(count: str, ids: str, expected: tuple[int, ...] | None) -> None:
    settings = settings_from_mapping({**TOKENS, "SHARD_COUNT": count, "SHARD_IDS": ids})
    assert (settings.shard_count, settings.shard_ids) == (int(count), expected)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be at least 1"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT must be a whole number"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "SHARD_IDS must be below SHARD_COUNT=2"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3-1"}, "runs backwards"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0,x"}, "SHARD_IDS must look like '0,2' or '0-3'"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0-2,1"}, "names a shard twice"),
        ({"DISCORD_REST_PROXY": "nirn:8080"}, "DISCORD_REST_PROXY must start with http"),
    ],
)
def test_bad_cluster_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from_mapping({**TOKENS, **env})


def test_python_m_bot_with_bad_shard_ids_prints_one_line(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "SHARD_"))}
    env.update(PYTHONPATH=str(ROOT), DISCORD_TOKEN="d", PRODUCER_API_TOKEN="p", SHARD_COUNT="2", SHARD_IDS="0-2")
    result = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error: SHARD_IDS must be below SHARD_COUNT=2 (shards are numbered from 0), got '0-2'"
    ]


# Only the gateway address is patched: REST reaches the fake through DISCORD_REST_PROXY alone.
GATEWAY_ONLY = """
import runpy, sys, yarl, discord.gateway
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[1])
sys.argv = ["bot"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


async def test_rest_proxy_carries_every_rest_call_and_shards_identify(tmp_path: Path) -> None:
    """With DISCORD_REST_PROXY the bot's REST calls go to the proxy's base; SHARD_COUNT=2 without
    SHARD_IDS runs both shards in the one process, each identifying with its [id, count]."""
    fake = FakeDiscord(token="proxy-discord-token")
    producer = FakeProducer(token="proxy-producer-token")
    await fake.start()
    await producer.start()
    fake.max_concurrency = 2  # both shards may identify at once
    fake.add_guild("Zero", shard=(0, 2))
    fake.add_guild("One", shard=(1, 2))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "PRODUCER_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        DISCORD_TOKEN=fake.token,
        PRODUCER_API_TOKEN=producer.token,
        PRODUCER_API_BASE=producer.base_url,
        DISCORD_REST_PROXY=fake.base_url,
        SHARD_COUNT="2",
        WEBHOOK_PORT="0",
        DATABASE_PATH=str(tmp_path / "bot.db"),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", GATEWAY_ONLY, fake.gateway_url, cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not any("Logged in as" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, "the bot exited early:\n" + "".join(lines)
                lines.append(line)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)
        await producer.close()
        await fake.close()
    assert "in 2 servers" in "".join(lines)
    assert ("GET", "/gateway/bot") in fake.requests and ("GET", "/users/@me") in fake.requests
    assert any(method == "PUT" and path.endswith("/commands") for method, path in fake.requests)
    assert sorted(i.shard for i in fake.identifies if i.shard) == [(0, 2), (1, 2)]
