"""Shared fixtures: the fake Producer API, a real SQLite file, settings pointing at the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.settings import Settings, settings_from_mapping
from bot.storage import Repository
from tests.fakes.fake_producer import FakeProducer
from tests.harness import World, close_world, make_world, route_base_patch
from tests.reliability_helpers import Canary

PRODUCER_TOKEN = "producer-secret-token-0123456789"
DISCORD_TOKEN = "discord-secret-token-9876543210"


@pytest.fixture
async def producer() -> AsyncIterator[FakeProducer]:
    fake = FakeProducer(token=PRODUCER_TOKEN, latency=0.05)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
    assert not fake.background_errors, fake.background_errors


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    repository = await Repository.open(tmp_path / "bot.db")
    try:
        yield repository
    finally:
        await repository.close()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings as a server owner would write them in .env, pointed at the local fakes."""

    def build(**overrides: str) -> Settings:
        env = {
            "DISCORD_TOKEN": DISCORD_TOKEN,
            "PRODUCER_API_TOKEN": PRODUCER_TOKEN,
            "DATABASE_PATH": str(tmp_path / "bot.db"),
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": "0",
        }
        env.update(overrides)
        return settings_from_mapping(env)

    return build


@pytest.fixture
async def world(make_settings: Callable[..., Settings]) -> AsyncIterator[World]:
    """Both fakes running, one guild with a #jams channel and a member; start the bot in the test."""
    built = await make_world(make_settings)
    original_base = route_base_patch(built.discord.api_base)
    try:
        yield built
    finally:
        try:
            await close_world(built)
        finally:
            route_base_patch(original_base)
    assert not built.producer.background_errors, built.producer.background_errors


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    """A server standing in for every URL a forged callback names: it must never be fetched."""
    server = Canary()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
