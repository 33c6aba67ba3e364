"""A running bot between the two fakes: the real MusicBot, a real SQLite file, real sockets.

`World` starts the fake Discord and the fake Producer API, points discord.py at the former, and
can start, stop and restart the bot on the same database, in callback or polling mode, on SQLite or
PostgreSQL (the `backend` fixture picks the default; `start_bot(backend=...)` picks per start).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import discord
from aiohttp import web

from bot.app.bot import MusicBot
from bot.core.settings import Settings
from bot.i18n import languages, t
from bot.storage import Repository, open_repository
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.fake_producer import FakeProducer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeClock:
    """Wall-clock time plus an offset a test can move forward (deadlines, the next UTC day)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class World:
    discord: FakeDiscord
    producer: FakeProducer
    make_settings: Callable[..., Settings]
    guild_id: int = 0
    channel_id: int = 0
    member_id: int = 0
    bot: MusicBot | None = None
    settings: Settings | None = None
    _session: aiohttp.ClientSession | None = None
    _repo: Repository | None = None
    _runner: asyncio.Task[None] | None = None
    clock: FakeClock = field(default_factory=FakeClock)
    _overrides: dict[str, str] = field(default_factory=dict)
    new_postgres_url: Callable[[], str] | None = None
    """Makes a fresh PostgreSQL database (the test session's server) for `start_bot(backend="postgres")`."""

    async def start_bot(self, *, callbacks: bool = False, backend: str | None = None, **overrides: str) -> MusicBot:
        """Start the bot as `python -m bot` would, with `.env` values given as overrides.

        `backend` ("sqlite" or "postgres") overrides the test's backend for this world: "postgres"
        gives the bot a fresh PostgreSQL database (kept across restarts), "sqlite" the SQLite file.
        """
        env = {"PRODUCER_API_BASE": self.producer.base_url, "DISCORD_TOKEN": self.discord.token, **overrides}
        if backend == "postgres" and "DATABASE_URL" not in env:
            assert self.new_postgres_url is not None, "this world has no PostgreSQL server"
            env["DATABASE_URL"] = self.new_postgres_url()
        elif backend == "sqlite":
            env["DATABASE_URL"] = ""
        if callbacks:
            port = free_port()
            env.update(PUBLIC_URL=f"http://127.0.0.1:{port}", WEBHOOK_PORT=str(port))
        self._overrides = env
        return await self._launch()

    async def _launch(self) -> MusicBot:
        self.settings = self.make_settings(**self._overrides)
        self._session = aiohttp.ClientSession()
        self._repo = await open_repository(self.settings)
        self.bot = MusicBot(
            settings=self.settings, repo=self._repo, session=self._session, clock=self.clock, guild_ready_timeout=0.05
        )
        self._runner = asyncio.create_task(self.bot.start(self.settings.discord_token))
        await asyncio.wait_for(self.bot.wait_until_ready(), timeout=10)
        return self.bot

    async def stop_bot(self) -> None:
        """Stop the bot, then close the database and the session even if stopping failed: a
        database left open keeps its worker thread alive and the test process from exiting."""
        try:
            if self.bot is not None:
                await self.bot.close()
            if self._runner is not None:
                await self._runner
        finally:
            try:
                if self._repo is not None:
                    await self._repo.close()
            finally:
                if self._session is not None:
                    await self._session.close()
                self.bot = self._runner = self._repo = self._session = None

    async def restart_bot(self) -> MusicBot:
        """Stop and start again on the same database and settings."""
        await self.stop_bot()
        return await self._launch()

    @property
    def backend(self) -> str:
        """Which database the running (or last) bot uses: "sqlite" or "postgres"."""
        assert self.settings is not None
        return "postgres" if self.settings.database_url else "sqlite"

    @property
    def repo(self) -> Repository:
        assert self._repo is not None
        return self._repo

    @property
    def webhook_base(self) -> str:
        assert self.bot is not None and self.bot.webhook_port
        return f"http://127.0.0.1:{self.bot.webhook_port}"

    def songs_in_channel(self, channel_id: int | None = None) -> list[FakeMessage]:
        """Messages the bot posted with a song embed (a "Song id" field, in any of the bot's languages)."""
        channel = channel_id or self.channel_id
        names = {t(language, "Song id") for language in languages()}
        return [
            message
            for message in self.discord.messages.get(channel, [])
            if not message.deleted
            and any(field.get("name") in names for embed in message.embeds for field in embed.get("fields", []))
        ]

    async def wait_for_song(self, channel_id: int | None = None, timeout: float = 10) -> FakeMessage:
        await self.discord.wait_for(lambda: self.songs_in_channel(channel_id), timeout=timeout)
        return self.songs_in_channel(channel_id)[0]

    async def settle(self) -> None:
        """Let background deliveries (and favourites posts) finish."""
        assert self.bot is not None
        await self.bot.songs.drain()
        await self.bot.favourites.drain()
        await self.bot.songs.follow_ups.settle()  # the outbox: song feed, jam message, auto-DM, favourites


def embed_field(message: FakeMessage, name: str) -> str:
    for embed in message.embeds:
        for entry in embed.get("fields", []):
            if entry.get("name") == name:
                return str(entry.get("value"))
    raise KeyError(name)


def route_base_patch(base: str) -> Any:
    """Point discord.py's REST calls (bot and interaction webhooks alike) at the fake."""
    original = discord.http.Route.BASE
    discord.http.Route.BASE = base
    return original


async def make_world(
    make_settings: Callable[..., Settings], new_postgres_url: Callable[[], str] | None = None
) -> World:
    fake_discord = FakeDiscord()
    await fake_discord.start()
    producer = FakeProducer(token=make_settings().producer_api_token, latency=0.05)
    await producer.start()
    world = World(
        discord=fake_discord, producer=producer, make_settings=make_settings, new_postgres_url=new_postgres_url
    )
    world.guild_id = fake_discord.add_guild("Music Lovers")
    world.channel_id = fake_discord.add_channel(world.guild_id, "jams")
    world.member_id = fake_discord.add_user("alice")
    return world


async def close_world(world: World) -> None:
    await world.stop_bot()
    await world.producer.close()
    await world.discord.close()


def db_path(world: World) -> Path:
    assert world.settings is not None
    return world.settings.database_path


def today(world: World | None = None) -> str:
    """The UTC day quotas are counted on: the world's (movable) clock, or now."""
    return dt.datetime.fromtimestamp(world.clock() if world else time.time(), dt.UTC).date().isoformat()


async def generate(
    world: World, prompt: str = "a song", user_id: int | None = None, channel_id: int | None = None, **options: Any
) -> FakeInteraction:
    """A member runs /generate (by default the world's member, in #jams)."""
    return await world.discord.invoke_slash(
        "generate",
        {"prompt": prompt, **options},
        user_id=user_id or world.member_id,
        channel_id=channel_id or world.channel_id,
    )


@contextlib.asynccontextmanager
async def local_server(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) for the block; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def set_song_feed(world: World) -> int:
    """A server manager sets a new "song-feed" channel as the song feed (/settings); returns its id."""
    feed = world.discord.add_channel(world.guild_id, "song-feed")
    manager = world.discord.add_user("manager")
    world.discord.grant(manager, FakeDiscord.MANAGE_GUILD)
    await reply_text(
        world,
        await world.discord.invoke_slash("settings", {"song_feed": feed}, user_id=manager, channel_id=world.channel_id),
    )
    return feed


async def reply_text(world: World, interaction: FakeInteraction) -> str:
    """What the member saw: an immediate reply, a follow-up after a defer, or the edited response."""
    await world.discord.wait_for(
        lambda: (
            (interaction.responses and interaction.responses[0]["type"] == 4)
            or (interaction.followups and interaction.followups[-1].content)
            or (interaction.original and interaction.original.content)
        )
    )
    if interaction.responses[0]["type"] == 4:
        return interaction.responses[0]["data"].get("content") or ""
    if interaction.followups:
        return interaction.followups[-1].content
    return interaction.original.content  # type: ignore[union-attr]


async def private_reply(world: World, interaction: FakeInteraction) -> str:
    """The text a member got privately (ephemeral): an immediate reply, or the follow-up after a defer."""
    await world.discord.wait_for(
        lambda: (
            (interaction.responses and interaction.responses[0]["type"] == 4)
            or (interaction.followups and interaction.followups[-1].content)
        )
    )
    if interaction.responses[0]["type"] == 4:
        assert interaction.responses[0]["data"]["flags"] & 64
        return interaction.responses[0]["data"]["content"]
    assert interaction.followups[-1].ephemeral
    return interaction.followups[-1].content


VIEW_CHANNEL = 1 << 10
"""Discord's View Channel permission bit."""


def private_channel(world: World, name: str = "backstage") -> tuple[int, int]:
    """A text channel hidden from @everyone and open to a role, `insiders`: (channel id, role id).
    Give members the role with `world.discord.give_role(world.guild_id, member, role)`."""
    channel = world.discord.add_channel(world.guild_id, name)
    insiders = world.discord.add_role(world.guild_id, "insiders")
    world.discord.set_overwrite(channel, world.guild_id, deny=VIEW_CHANNEL)
    world.discord.set_overwrite(channel, insiders, allow=VIEW_CHANNEL)
    return channel, insiders


async def start_jam(world: World, theme: str) -> int:
    """A member runs `/jam start`; the jam's thread."""
    start = await world.discord.invoke_slash(
        "jam start", {"theme": theme}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: start.followups)
    return next(c.id for c in world.discord.channels.values() if c.type in (11, 12))
