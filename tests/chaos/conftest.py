"""Fixtures of the chaos suite (issue 18) and the figures table at the end of the run.

`chaos` gives each test a `tests.chaos.kit.Chaos` on `private_postgres`, a PostgreSQL of the suite's
own. When a test ends, passed or not, its figures (`tests.chaos.figures`) ride on its teardown
report (so they reach the summary from pytest-xdist workers too); after the run
`pytest_terminal_summary` (in tests/conftest.py, which pytest-xdist's controller loads; this one
only the workers load) prints them as a table, and appends them as JSON lines to the file
`$CHAOS_REPORT` names, if set.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.chaos.figures import USER_PROPERTY
from tests.chaos.kit import Chaos
from tests.conftest import PRODUCER_TOKEN
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_producer import FakeProducer
from tests.postgres import PostgresServer


@pytest.fixture
async def chaos(
    private_postgres: PostgresServer, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Chaos]:
    discord = FakeDiscord()
    producer = FakeProducer(token=PRODUCER_TOKEN, latency=0.2)
    await discord.start()
    await producer.start()
    discord.max_concurrency = 2  # two shards may identify at once
    url = await asyncio.to_thread(private_postgres.create_database)
    harness = Chaos(discord, producer, private_postgres, url, tmp_path)
    try:
        yield harness
    finally:
        try:
            await harness.close()
            figures = harness.figures or await harness.tally()
            figures.scenario = figures.scenario or request.node.name
            figures.nodeid = request.node.nodeid
            request.node.user_properties.append((USER_PROPERTY, asdict(figures)))
        finally:
            await producer.close()
            await discord.close()
            private_postgres.drop_database(url)
