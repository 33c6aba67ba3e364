"""Two real `python -m bot` processes on shards 0 and 1 of 2, one PostgreSQL, one load balancer.

The fake Discord has a guild on each shard (its events reach only the process running that
shard), the fake Producer API makes the songs, and `PUBLIC_URL` is a round-robin proxy in front
of both listeners, so callbacks land on either process. What each test checks is what members and
the API would notice: one message per song, the quota rows, the refusals, the rate of polls.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.storage import Repository
from tests.cluster_helpers import Cluster
from tests.conftest import PRODUCER_TOKEN
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.fake_producer import FakeProducer
from tests.harness import embed_field, today

LEASE = "4"
"""LEASE_SECONDS for these processes: a dead process's work is taken over within seconds."""


@dataclass
class Guild:
    id: int
    channel: int
    member: int


@dataclass
class Setup:
    discord: FakeDiscord
    producer: FakeProducer
    guilds: list[Guild]  # guilds[n] lives on shard n
    database_url: str
    tmp_path: Path

    def cluster(self, *, callbacks: bool = True, **env: str) -> Cluster:
        base = {
            "DISCORD_TOKEN": self.discord.token,
            "PRODUCER_API_TOKEN": PRODUCER_TOKEN,
            "PRODUCER_API_BASE": self.producer.base_url,
            "DATABASE_URL": self.database_url,
            "POLL_INTERVAL": "1",
            "LEASE_SECONDS": LEASE,
            "ALLOW_PRIVATE_MEDIA_HOSTS": "true",  # the fake API serves media from 127.0.0.1
            # As behind PgBouncer in transaction mode: no prepared-statement cache, small pools.
            "DATABASE_STATEMENT_CACHE_SIZE": "0",
            "DATABASE_POOL_SIZE": "4",
            **env,
        }
        return Cluster(
            discord_api=self.discord.api_base,
            gateway=self.discord.gateway_url,
            base_env=base,
            shard_ids=["0", "1"],
            cwd=self.tmp_path,
            callbacks=callbacks,
        )

    async def generate(self, guild: Guild, prompt: str) -> FakeInteraction:
        return await self.discord.invoke_slash(
            "generate", {"prompt": prompt}, user_id=guild.member, channel_id=guild.channel
        )

    def songs(self, guild: Guild) -> list[FakeMessage]:
        return [
            message
            for message in self.discord.messages.get(guild.channel, [])
            if not message.deleted and any(f.get("name") == "Song id" for e in message.embeds for f in e["fields"])
        ]

    async def with_repo(self, use: Callable[[Repository], Awaitable[object]]) -> object:
        repo = await Repository.connect(self.database_url)
        try:
            return await use(repo)
        finally:
            await repo.close()


@pytest.fixture
async def setup(postgres_url: str, tmp_path: Path) -> AsyncIterator[Setup]:
    discord = FakeDiscord()
    producer = FakeProducer(token=PRODUCER_TOKEN, latency=0.2)
    await discord.start()
    await producer.start()
    discord.max_concurrency = 2  # shards 0 and 1 may identify together (the identify test sets 1)
    guilds = []
    for shard in (0, 1):
        guild_id = discord.add_guild(f"Shard {shard} guild", shard=(shard, 2))
        guilds.append(Guild(guild_id, discord.add_channel(guild_id, "music"), discord.add_user(f"member{shard}")))
    try:
        yield Setup(discord, producer, guilds, postgres_url, tmp_path)
    finally:
        await producer.close()
        await discord.close()


@pytest.fixture
async def running(setup: Setup) -> AsyncIterator[list[Cluster]]:
    """Clusters a test started, closed (SIGTERM, then the proxy) when it ends."""
    started: list[Cluster] = []
    try:
        yield started
    finally:
        for cluster in started:
            await cluster.close()


async def wait_until(setup: Setup, sql: str, expected: object, timeout: float = 10) -> None:
    """Wait until a one-value query answers `expected` (state another process writes)."""

    async def check(repo: Repository) -> None:
        async with asyncio.timeout(timeout):
            while (await repo._fetchone(sql))[0] != expected:  # type: ignore[index]  # noqa: ASYNC110 - another process writes it
                await asyncio.sleep(0.05)

    await setup.with_repo(check)


def song_ids(messages: list[FakeMessage]) -> list[str]:
    return [embed_field(message, "Song id") for message in messages]


async def test_songs_in_both_guilds_are_posted_once_whichever_process_gets_the_callback(
    setup: Setup, running: list[Cluster]
) -> None:
    """Each guild's commands reach only its shard's process; the proxy alternates callbacks, so
    each guild's second song's callback lands on the process that does not own the guild. Every
    song is posted once. Shards started together identify 5 s apart (max_concurrency 1)."""
    setup.discord.max_concurrency = 1
    cluster = setup.cluster()
    running.append(cluster)
    await cluster.start()
    first, second = setup.discord.identifies[-2:]
    assert {first.shard, second.shard} == {(0, 2), (1, 2)}
    assert second.at - first.at >= 4.9, "two shards identified inside one 5-second window"

    for round_ in range(2):
        for index, guild in enumerate(setup.guilds):
            await setup.generate(guild, f"song {round_} for guild {index}")
            await setup.discord.wait_for(lambda g=guild, n=round_ + 1: len(setup.songs(g)) == n, timeout=20)

    callbacks = [index for index, path in cluster.proxy.taken if path.startswith("/callbacks/")]
    assert callbacks == [0, 1, 0, 1]  # guild 0's second song went to process 1, guild 1's first to process 0
    for guild in setup.guilds:
        posted = song_ids(setup.songs(guild))
        assert len(posted) == 2 and len(set(posted)) == 2
    assert len(setup.producer.audio_requests) == 4


async def test_quota_and_queue_stay_exact_across_processes(setup: Setup, running: list[Cluster]) -> None:
    """Six concurrent commands per guild against a quota of three and one running slot: three are
    charged, three refused with nothing charged; queued songs start when a slot frees, whichever
    process freed it (the callback, and so the delivery, lands on either)."""
    cluster = setup.cluster(GUILD_DAILY_QUOTA="3", MAX_RUNNING_PER_GUILD="1")
    running.append(cluster)
    await cluster.start()
    commands = [setup.generate(guild, f"burst {n}") for guild in setup.guilds for n in range(6)]
    interactions = await asyncio.gather(*commands)
    for guild in setup.guilds:
        await setup.discord.wait_for(lambda g=guild: len(setup.songs(g)) == 3, timeout=30)
    await setup.discord.wait_for(lambda: _count_refusals(interactions) == 6, timeout=10)
    used = await setup.with_repo(
        lambda repo: asyncio.gather(*(repo.quota_used(guild.id, today()) for guild in setup.guilds))
    )
    assert used == [3, 3]
    assert len(setup.producer.audio_requests) == 6
    for guild in setup.guilds:
        assert len(set(song_ids(setup.songs(guild)))) == 3


def _count_refusals(interactions: list[FakeInteraction]) -> int:
    return sum(
        1
        for i in interactions
        for m in [*i.followups, *([i.original] if i.original else [])]
        if "used all 3 songs" in (m.content or "")
    )


async def test_polling_cluster_asks_the_api_about_once_a_second_in_total(setup: Setup, running: list[Cluster]) -> None:
    """Without PUBLIC_URL, two processes with POLL_INTERVAL=1 still poll /producer/tasks as one:
    consecutive polls are at least a second apart, and every song arrives."""
    setup.producer.latency = 6.0  # pending for a few polls
    cluster = setup.cluster(callbacks=False)
    running.append(cluster)
    await cluster.start()
    for index, guild in enumerate(setup.guilds):
        await setup.generate(guild, f"polled {index}")
    for guild in setup.guilds:
        await setup.discord.wait_for(lambda g=guild: len(setup.songs(g)) == 1, timeout=30)
    # Polls are batched lookups; each process's start-up token check (one `retrieve`) is not one.
    times = [at for at, body in setup.producer.task_requests if body.get("action") == "retrieve_batch"]
    assert len(times) >= 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.95, f"two polls {min(gaps):.2f} s apart"


async def test_sigkill_mid_delivery_is_finished_once_by_the_other_process_and_restarts_keep_state(
    setup: Setup, running: list[Cluster]
) -> None:
    """The process posting a song (stuck on a slow download) is killed with SIGKILL, while another
    song it owns waits for its callback. The surviving process takes over the delivery when the
    lease runs out, and the callback the proxy now sends it: both songs are posted once. Then both
    processes restart: the quota, the songs and the library are as they were, and a new song works."""
    cluster = setup.cluster()
    running.append(cluster)
    await cluster.start()
    guild = setup.guilds[0]
    setup.producer.script(media_drip_delay=0.1)  # about 6 s of download
    await setup.generate(guild, "slow one")
    (slow,) = await setup.producer.wait_for_task_count(1)
    await setup.producer.wait_for(
        lambda: slow.songs and any(slow.songs[0]["id"] in p for p in setup.producer.media_requests)
    )

    async def delivering_owner(repo: Repository) -> str:
        row = await repo._fetchone("SELECT lease_owner FROM tasks WHERE state = 'delivering'")
        assert row is not None
        return str(row[0])

    owner = str(await setup.with_repo(delivering_owner))
    pid = int(re.split(r":", owner)[-2])
    victim = cluster.process_with_pid(pid)
    survivor = next(p for p in cluster.processes if p is not victim)
    setup.producer.auto_complete = False
    await setup.generate(guild, "waiting one")
    await setup.producer.wait_for_task_count(2)
    await wait_until(setup, "SELECT COUNT(*) FROM tasks WHERE state = 'pending'", 1)
    await victim.kill()
    song_id = slow.songs[0]["id"]
    setup.producer.set_media(f"{song_id}.mp3", setup.producer.media_bytes(f"{song_id}.mp3") or b"")
    waiting = list(setup.producer.tasks)[1]
    await setup.producer.complete(waiting)  # its callback reaches the survivor through the proxy

    await setup.discord.wait_for(lambda: len(setup.songs(guild)) == 2, timeout=40)
    await survivor.wait_for_log(lambda line: "delivering it here" in line, timeout=5)
    assert len(set(song_ids(setup.songs(guild)))) == 2

    await cluster.stop()
    await cluster.start()
    assert len(setup.songs(guild)) == 2  # nothing re-posted at start
    assert await setup.with_repo(lambda repo: repo.quota_used(guild.id, today())) == 2
    setup.producer.auto_complete = True
    await setup.generate(guild, "after the restart")
    await setup.discord.wait_for(lambda: len(setup.songs(guild)) == 3, timeout=20)
    assert len(set(song_ids(setup.songs(guild)))) == 3
