"""The world of one chaos test: the fakes, real `python -m bot` processes, and the database.

`Chaos` holds a fresh fake Discord (two guilds, `guilds[n]` on shard n of 2, each with a song
channel, a feed channel and a member), a fresh fake Producer API (results 0.2 s after a request)
and a fresh database on the suite's own PostgreSQL (`server`, which the faults stop, restart and
cut off; the session's server is never touched). It starts processes (`process`, `cluster`), acts
as members (`generate`), injects faults at Discord (`hold_posts`) and in PostgreSQL (`pg_ctl`),
reads what happened (`messages_for`, `posts_to`, `sql`) and, at the end, classifies every request
(`tally`, see `tests.chaos.figures`). `close` kills every process it started, paused or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bot.storage import Preferences, Repository
from tests.chaos.figures import Figures, Outcome, classify
from tests.cluster_helpers import Cluster
from tests.conftest import PRODUCER_TOKEN
from tests.crash_helpers import BotProcess
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.fake_producer import FakeProducer
from tests.harness import free_port
from tests.postgres import PostgresServer

LEASE = 3.0
"""LEASE_SECONDS of every process here: a stalled process's work is due for takeover within seconds."""


@dataclass
class Guild:
    id: int
    channel: int
    """Where the member asks for songs and where they are posted."""
    feed: int
    """A channel for the song feed (only used where a test turns the feed on)."""
    member: int


@dataclass
class Request:
    """One /generate a member ran, identified by its unique prompt."""

    prompt: str
    guild: Guild
    interaction: FakeInteraction


class Chaos:
    """The world of one chaos test; see the module docstring."""

    def __init__(
        self, discord: FakeDiscord, producer: FakeProducer, server: PostgresServer, url: str, tmp_path: Path
    ) -> None:
        self.discord = discord
        self.producer = producer
        self.server = server
        self.database_url = url
        self.tmp_path = tmp_path
        self.guilds: list[Guild] = []
        for shard in (0, 1):
            guild_id = discord.add_guild(f"Shard {shard} guild", shard=(shard, 2))
            self.guilds.append(
                Guild(
                    guild_id,
                    discord.add_channel(guild_id, "music"),
                    discord.add_channel(guild_id, "song-feed"),
                    discord.add_user(f"member{shard}"),
                )
            )
        self.requests: list[Request] = []
        self.fault_over_at: float | None = None
        self.notes: dict[str, object] = {}
        self.processes: list[BotProcess] = []
        self.clusters: list[Cluster] = []
        self.gates: list[asyncio.Event] = []
        self.figures: Figures | None = None

    # -- processes ---------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """A deployment's settings: small lease and poll interval, limits out of the way."""
        return {
            "DISCORD_TOKEN": self.discord.token,
            "PRODUCER_API_TOKEN": PRODUCER_TOKEN,
            "PRODUCER_API_BASE": self.producer.base_url,
            "DATABASE_URL": self.database_url,
            "POLL_INTERVAL": "1",
            "LEASE_SECONDS": str(LEASE),
            # Several leases long, as in production: a stop lets a delivery held at Discord finish.
            "SHUTDOWN_GRACE": "20",
            "CALLBACK_GRACE": "2",  # a callback lost to a fault is polled for soon
            "ALLOW_PRIVATE_MEDIA_HOSTS": "true",  # the fake API serves media from 127.0.0.1
            "MAX_RUNNING_PER_GUILD": "10",
            "MAX_RUNNING_PER_MEMBER": "10",
            "GUILD_DAILY_QUOTA": "50",
            **extra,
        }

    def process(self, *, shard_ids: str | None = None, shard_count: int = 1, **extra: str) -> BotProcess:
        """One process with its own listener as PUBLIC_URL; unsharded unless `shard_ids` is given."""
        port = free_port()
        env = self.env(WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}", **extra)
        if shard_ids is not None:
            env.update(SHARD_IDS=shard_ids, SHARD_COUNT=str(shard_count))
        bot = BotProcess(
            discord_api=self.discord.api_base, gateway=self.discord.gateway_url, env=env, cwd=self.tmp_path
        )
        self.processes.append(bot)
        return bot

    def cluster(self, shard_ids: Sequence[str | None] = ("0", "1"), **extra: str) -> Cluster:
        """Processes behind one round-robin proxy (PUBLIC_URL), by default shards 0 and 1 of 2."""
        cluster = Cluster(
            discord_api=self.discord.api_base,
            gateway=self.discord.gateway_url,
            base_env=self.env(**extra),
            shard_ids=shard_ids,
            cwd=self.tmp_path,
            callbacks=True,
        )
        self.clusters.append(cluster)
        self.processes.extend(cluster.processes)
        return cluster

    @staticmethod
    def listener(bot: BotProcess) -> str:
        return f"http://127.0.0.1:{bot.env['WEBHOOK_PORT']}"

    async def healthz(self, bot: BotProcess) -> int:
        """The status `/healthz` answers (0: no answer at all)."""
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.get(self.listener(bot) + "/healthz") as reply,
            ):
                await reply.read()
                return reply.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    async def wait_health(self, bot: BotProcess, status: int, timeout: float = 15) -> bool:
        """Whether `/healthz` answers `status` within `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while await self.healthz(bot) != status:  # noqa: ASYNC110 - another process answers
                    await asyncio.sleep(0.2)
                return True
        return False

    # -- PostgreSQL --------------------------------------------------------------------------

    async def pg_ctl(self, *args: str) -> None:
        """`pg_ctl` on the suite's server, in a thread: the fakes keep serving meanwhile."""
        await asyncio.to_thread(self.server.pg_ctl, *args)

    async def sql(self, query: str, *args: Any) -> Any:
        """One value from the test's database (state another process wrote)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    async def wait_sql(self, query: str, expected: object, timeout: float = 15) -> bool:
        """Whether a one-value query answers `expected` within `timeout` seconds."""

        async def check() -> bool:
            return bool(await self.sql(query) == expected)

        return await wait_until(check, timeout)

    async def turn_on(self, guild: Guild, *, feed: bool = False, auto_dm: bool = False) -> None:
        """Before the processes start (they cache settings): the guild's song feed in `guild.feed`,
        and the member's `/prefer auto_dm`, as /settings and /prefer store them."""
        repo = await Repository.connect(self.database_url)
        try:
            if feed:
                await repo.update_guild_settings(guild.id, feed_channel_id=guild.feed)
            if auto_dm:
                await repo.save_preferences(Preferences(user_id=guild.member, auto_dm=True), time.time())
        finally:
            await repo.close()

    # -- members and the fakes ---------------------------------------------------------------

    async def generate(self, guild: Guild, prompt: str, **script: Any) -> Request:
        """The guild's member runs /generate; `script` shapes the API task it makes (FakeProducer.script)."""
        if script:
            self.producer.script(**script)
        interaction = await self.discord.invoke_slash(
            "generate", {"prompt": prompt}, user_id=guild.member, channel_id=guild.channel
        )
        request = Request(prompt, guild, interaction)
        self.requests.append(request)
        return request

    async def wait_status(self, request: Request, text: str, timeout: float = 20) -> None:
        """Wait until the request's status line contains `text`."""
        await self.discord.wait_for(
            lambda: request.interaction.original is not None and text in request.interaction.original.content,
            timeout=timeout,
        )

    def api_task(self, request: Request) -> Any:
        """The (first) API task made for this request."""
        return next(t for t in self.producer.tasks.values() if t.request.get("prompt") == request.prompt)

    def hold_posts(self, guild: Guild) -> asyncio.Event:
        """Messages posted to the guild's song channel wait at the fake Discord until the event is set."""
        gate = self.discord.hold("POST", rf"/channels/{guild.channel}/messages$")
        self.gates.append(gate)
        return gate

    def posts_to(self, channel: int) -> int:
        """How many message POSTs reached the fake for `channel` (held ones included)."""
        return sum(
            1 for method, path in self.discord.requests if method == "POST" and path == f"/channels/{channel}/messages"
        )

    def song_messages(self, channel: int) -> list[FakeMessage]:
        return [
            message
            for message in self.discord.messages.get(channel, [])
            if not message.deleted and song_id_of(message) is not None
        ]

    def messages_for(self, request: Request, channel: int | None = None) -> list[FakeMessage]:
        """The song messages showing this request's songs in its channel (or `channel`)."""
        ids = {
            song["id"]
            for t in self.producer.tasks.values()
            if t.request.get("prompt") == request.prompt
            for song in t.songs
        }
        return [m for m in self.song_messages(channel or request.guild.channel) if song_id_of(m) in ids]

    async def settle(self, timeout: float = 30) -> bool:
        """Wait until every request's status line is final (✅ or ❌); whether that happened."""

        def final() -> bool:
            return all(
                r.interaction.original is not None and r.interaction.original.content.startswith(("✅", "❌"))
                for r in self.requests
            )

        with contextlib.suppress(TimeoutError):
            await self.discord.wait_for(final, timeout=timeout)
            return True
        return False

    async def within(self, condition: Callable[[], object], seconds: float) -> bool:
        """Whether `condition` (on the fakes) comes true within `seconds`; also to give something
        that must not happen (a second post) the time to happen."""
        with contextlib.suppress(TimeoutError):
            await self.discord.wait_for(condition, timeout=seconds)
            return True
        return False

    # -- figures -----------------------------------------------------------------------------

    def fault_over(self) -> None:
        """The fault has ended (database back, process resumed or restarted): recovery starts now."""
        self.fault_over_at = time.time()

    def note(self, **notes: object) -> None:
        self.notes.update(notes)

    async def tally(self, scenario: str = "") -> Figures:
        """Classify every request from what a member sees (see `tests.chaos.figures.classify`)."""
        tasks: dict[str, tuple[str, bool]] = {}
        with contextlib.suppress(Exception):  # a database left down by a failed test: no refund data
            conn = await asyncpg.connect(self.database_url, timeout=5)
            try:
                for row in await conn.fetch("SELECT request, state, refunded FROM tasks ORDER BY id"):
                    body = row["request"]
                    body = json.loads(body) if isinstance(body, str) else body
                    tasks.setdefault(str(body.get("prompt")), (row["state"], bool(row["refunded"])))
            finally:
                await conn.close()
        outcomes = [
            Outcome(
                posted=self.messages_for(request),
                state=tasks.get(request.prompt, ("?", False))[0],
                refunded=tasks.get(request.prompt, ("?", False))[1],
                sent=any(t.request.get("prompt") == request.prompt for t in self.producer.tasks.values()),
                status_line=request.interaction.original,
            )
            for request in self.requests
        ]
        if len(self.producer.audio_requests) != len(self.requests):
            self.notes.setdefault("api_requests", len(self.producer.audio_requests))
        name = scenario or (self.figures.scenario if self.figures else "")
        self.figures = classify(name, outcomes, self.fault_over_at, self.notes)
        return self.figures

    # -- the end -----------------------------------------------------------------------------

    def dump(self) -> None:
        """Every process's log, printed (pytest shows it with a failure)."""
        for index, bot in enumerate(self.processes):
            print(f"----- process {index} (pid {bot.process.pid if bot.process else '-'}) -----")
            print(bot.output[-20000:])

    async def close(self) -> None:
        self.dump()
        for gate in self.gates:
            gate.set()
        for bot in self.processes:
            if bot.running:
                with contextlib.suppress(ProcessLookupError):
                    bot.resume()
                with contextlib.suppress(Exception):
                    await bot.kill()
        for cluster in self.clusters:
            await cluster.proxy.close()
        await asyncio.to_thread(ensure_running, self.server)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    """Whether `check` (state in another process or the database) comes true within `timeout` s."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while not await check():  # noqa: ASYNC110 - another process (or the database) changes it
                await asyncio.sleep(0.1)
            return True
    return False


def song_id_of(message: FakeMessage) -> str | None:
    """The song id a message shows (its embed's "Song id" field, or the plain-text form)."""
    for embed in message.embeds:
        for item in embed.get("fields", []):
            if item.get("name") == "Song id":
                return str(item.get("value", "")).strip("`")
    marker = "Song id: "
    if marker in (message.content or ""):
        return message.content.split(marker, 1)[1].split()[0].strip("`")
    return None


def ensure_running(server: PostgresServer) -> None:
    """Start the suite's server if a test left it stopped (it failed in the middle of an outage)."""
    try:
        server.pg_ctl("status")
    except subprocess.CalledProcessError:
        server.pg_ctl("start")
