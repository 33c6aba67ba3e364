"""Lines an owner can act on when a service cannot be reached, and `check` asking Discord the way the
bot will (issue 20, item 11)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.producer.client import ProducerClient, ProducerError
from tests.cli_helpers import run_cli
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_producer import FakeProducer
from tests.harness import World, free_port
from tests.ops.test_cli import DISCORD_TOKEN, clean, configured


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token=DISCORD_TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


class NoDns(AbstractResolver):
    """A resolver that knows no name, as on a machine whose DNS is down."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        return None


async def test_a_dns_failure_names_the_host_not_the_exception_class() -> None:
    """Not `ClientConnectorDNSError on /producer/tasks`, but which name did not resolve."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=NoDns())) as session:
        api = ProducerClient(session, "https://api.example.invalid", "token-123456", max_rate_limit_retries=1)
        with pytest.raises(ProducerError) as raised:
            await api.check_token()
    assert raised.value.message == "the name api.example.invalid does not resolve (DNS)"
    assert "ClientConnector" not in str(raised.value)


async def test_check_says_what_to_do_when_the_producer_api_cannot_be_reached(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    port = free_port()
    env = configured(producer, tmp_path, PRODUCER_API_BASE=f"http://127.0.0.1:{port}")
    result = await run_cli("check", cwd=tmp_path, env=env, discord_api=discord_fake.api_base)
    (line,) = [line for line in result.stdout.splitlines() if "Producer API" in line]
    assert line == (
        f"FAIL  Cannot reach the Producer API at http://127.0.0.1:{port} (cannot connect to 127.0.0.1:{port}: "
        "Connection refused): check PRODUCER_API_BASE and this machine's network and DNS"
    )
    clean(result.output)


async def test_start_up_says_what_to_do_when_the_producer_api_cannot_be_reached(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Not `Could not check PRODUCER_API_TOKEN at start (0 network)`."""
    port = free_port()
    await world.start_bot(PRODUCER_API_BASE=f"http://127.0.0.1:{port}")
    await world.discord.wait_for(lambda: "Cannot reach the Producer API" in caplog.text, timeout=15)
    assert (
        f"Cannot reach the Producer API at http://127.0.0.1:{port} to check PRODUCER_API_TOKEN (cannot connect to "
        f"127.0.0.1:{port}: Connection refused): songs wait until it answers" in caplog.text
    )
    assert "0 network" not in caplog.text


async def test_check_goes_through_the_rest_proxy_as_run_does(
    discord_fake: FakeDiscord, producer: FakeProducer, tmp_path: Path
) -> None:
    """DISCORD_REST_PROXY set: `check` asks Discord through it (here the only way to reach the fake)."""
    proxy = discord_fake.api_base.removesuffix("/api/v10")
    env = configured(producer, tmp_path, DISCORD_REST_PROXY=proxy)
    nowhere = f"http://127.0.0.1:{free_port()}/api/v10"
    result = await run_cli("check", cwd=tmp_path, env=env, discord_api=nowhere)
    assert "ok    Discord accepts DISCORD_TOKEN through DISCORD_REST_PROXY (bot user" in result.stdout, result.output
    assert result.returncode == 0, result.output
    clean(result.output, DISCORD_TOKEN)
