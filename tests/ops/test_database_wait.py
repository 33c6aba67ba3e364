"""PostgreSQL that is not up yet is waited for, like Discord, and a password that needs encoding is
said so before anything connects (issue 20, item 4)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.core.settings import SettingsError, settings_from_mapping
from tests.cli_helpers import Child
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_producer import FakeProducer
from tests.harness import free_port
from tests.ops.test_cli import DISCORD_TOKEN, clean, configured


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token=DISCORD_TOKEN)
    await fake.start()
    fake.add_guild("Home")
    try:
        yield fake
    finally:
        await fake.close()


async def forward(port: int, target: tuple[str, int]) -> asyncio.Server:
    """A TCP relay on `port` to `target`: the database "comes up" when this starts listening."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    return await asyncio.start_server(relay, "127.0.0.1", port)


async def test_an_unreachable_postgresql_is_waited_for_and_named_by_host_and_port(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path, postgres_url: str
) -> None:
    """Nothing listens yet: one WARNING naming host:port per attempt (never the password), then the
    server appears and the bot logs in without a restart."""
    real = urlsplit(postgres_url)
    port = free_port()
    late_url = urlunsplit(real._replace(netloc=f"{real.username}:hunter2-password@127.0.0.1:{port}"))
    if real.password:
        late_url = urlunsplit(real._replace(netloc=f"{real.username}:{real.password}@127.0.0.1:{port}"))
    env = configured(producer, tmp_path, DATABASE_URL=late_url)
    bot = Child(cwd=tmp_path, env=env, discord_api=discord_fake.api_base, gateway=discord_fake.gateway_url)
    await bot.start()
    relay: asyncio.Server | None = None
    try:
        line = await bot.wait_for("Cannot connect to PostgreSQL")
        assert f"WARNING bot.ops.startup: Cannot connect to PostgreSQL at 127.0.0.1:{port} (DATABASE_URL): " in line
        assert line.rstrip().endswith("retrying in 2 s")
        relay = await forward(port, (real.hostname or "127.0.0.1", real.port or 5432))
        await bot.wait_for("The database answers again", timeout=30)
        await bot.wait_for("Logged in as", timeout=30)
    finally:
        code = await bot.stop()
        if relay is not None:
            relay.close()
    assert code == 0, bot.output
    assert bot.lines[-1].rstrip().endswith("Stopped")
    clean(bot.output, "hunter2-password", *([real.password] if real.password else []))


@pytest.mark.parametrize("password", ["p@ss", "a/b", "x:y#z"])
def test_a_password_that_needs_percent_encoding_is_a_configuration_error(password: str) -> None:
    """Not "Name or service not known" at start: the configuration check explains the encoding."""
    with pytest.raises(SettingsError) as raised:
        settings_from_mapping(
            {
                "DISCORD_TOKEN": "d",
                "PRODUCER_API_TOKEN": "p",
                "DATABASE_URL": f"postgresql://bot:{password}@db:5432/bot",
            }
        )
    (problem,) = raised.value.problems
    assert "percent-encode it (@ → %40, : → %3A, / → %2F, # → %23)" in problem
    assert password not in problem


def test_an_encoded_password_is_accepted() -> None:
    settings = settings_from_mapping(
        {"DISCORD_TOKEN": "d", "PRODUCER_API_TOKEN": "p", "DATABASE_URL": "postgresql://bot:p%40ss%2Fw@db:5432/bot"}
    )
    assert settings.database_url == "postgresql://bot:p%40ss%2Fw@db:5432/bot"
