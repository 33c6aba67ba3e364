"""Shared fixtures: the fake Producer API, a real SQLite file or PostgreSQL database, settings pointing at the fakes.

Backends: `repo` runs every repository test on both SQLite and PostgreSQL. The bot-level fixtures
(`make_settings`, `world`) use the `backend` fixture: SQLite unless a test asks for both with
`@both_backends` (tests/postgres.py), or `TEST_BACKEND=postgres` runs everything on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.settings import Settings, settings_from_mapping
from bot.storage import Repository
from tests.chaos.figures import from_reports, table, write_report
from tests.fakes.fake_producer import FakeProducer
from tests.harness import World, close_world, make_world, route_base_patch
from tests.postgres import BACKENDS, PostgresServer
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL for the whole session (or TEST_POSTGRES_URL's), started on first use."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL for fault tests (tests/chaos, the identify outage), which they stop, restart and
    cut off, leaving the session's server untouched for every other test."""
    server = PostgresServer.start_private(f"bot_fault_{os.getpid()}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test alone. (Synchronous, so fixtures that pick
    a backend at run time can ask for it with `request.getfixturevalue`.)"""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgres": the parameter when a test is parametrized over backends, else
    TEST_BACKEND (default sqlite)."""
    chosen = getattr(request, "param", None) or os.environ.get("TEST_BACKEND", "").strip() or "sqlite"
    assert chosen in BACKENDS, f"unknown backend {chosen!r}"
    return str(chosen)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """DATABASE_URL for the bot under test: a fresh PostgreSQL database, or None for SQLite."""
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return None


@pytest.fixture(params=BACKENDS)
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repository]:
    """The repository on each backend in turn: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "postgres":
        repository = await Repository.connect(request.getfixturevalue("postgres_url"))
    else:
        repository = await Repository.open(tmp_path / "bot.db")
    try:
        yield repository
    finally:
        await repository.close()


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str | None) -> Callable[..., Settings]:
    """Settings as a server owner would write them in .env, pointed at the local fakes (and at
    PostgreSQL when the test's backend is postgres)."""

    def build(**overrides: str) -> Settings:
        env = {
            "DISCORD_TOKEN": DISCORD_TOKEN,
            "PRODUCER_API_TOKEN": PRODUCER_TOKEN,
            "DATABASE_PATH": str(tmp_path / "bot.db"),
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": "0",
            "ALLOW_PRIVATE_MEDIA_HOSTS": "true",  # the fakes serve media from 127.0.0.1
        }
        if database_url:
            env["DATABASE_URL"] = database_url
        env.update(overrides)
        return settings_from_mapping(env)

    return build


@pytest.fixture
async def world(make_settings: Callable[..., Settings], request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """Both fakes running, one guild with a #jams channel and a member; start the bot in the test
    (on the test's `backend`, or another with `start_bot(backend=...)`)."""
    built = await make_world(make_settings, lambda: str(request.getfixturevalue("postgres_url")))
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


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The chaos suite's figures table, one line per scenario; and $CHAOS_REPORT as JSON lines.

    Here rather than in tests/chaos/conftest.py: with pytest-xdist only this conftest is loaded by
    the controller, which writes the summary; the figures come from the workers on the reports."""
    outcomes: dict[str, str] = {}
    teardowns = []
    for outcome, reports in terminalreporter.stats.items():
        for report in reports:
            if getattr(report, "when", None) == "call" or outcome in {"xfailed", "skipped", "error"}:
                outcomes.setdefault(getattr(report, "nodeid", ""), outcome)
            if getattr(report, "when", None) == "teardown":
                teardowns.append(report)
    figures = from_reports(teardowns)
    if not figures:
        return
    terminalreporter.write_sep("=", "chaos figures (target: all once, 0 lost, 0 doubled)")
    for line in table(figures, outcomes):
        terminalreporter.write_line(line)
    if os.environ.get("CHAOS_REPORT"):
        write_report(os.environ["CHAOS_REPORT"], figures, outcomes)
