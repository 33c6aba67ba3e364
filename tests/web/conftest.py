"""Fixtures of the web gallery's tests: the fake Discord sign-in beside the `world`'s fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.fake_oauth import FakeOAuth
from tests.harness import World
from tests.web.helpers import CLIENT_SECRET


@pytest.fixture
async def oauth(world: World) -> AsyncIterator[FakeOAuth]:
    """Discord's OAuth2 pages and API for the world's fake Discord (`DISCORD_OAUTH_BASE`)."""
    async with FakeOAuth(world.discord, client_secret=CLIENT_SECRET) as fake:
        yield fake
