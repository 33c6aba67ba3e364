"""Fixtures of the listening-party tests."""

from __future__ import annotations

import pytest

from tests.harness import World


@pytest.fixture
async def lounge(world: World) -> int:
    """A voice channel in the world's guild, open to everyone."""
    return world.discord.voice.add_voice_channel(world.guild_id, "Lounge")
