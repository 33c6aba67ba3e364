"""The fake Discord shards like Discord: each session gets only its shard's guilds and events.

Two real discord.py `AutoShardedClient`s, shards 0 and 1 of 2, as two processes would run them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import pytest

from tests.fakes.fake_discord import FakeDiscord
from tests.harness import route_base_patch


class ShardClient(discord.AutoShardedClient):
    """Records the guilds it was sent and the messages it saw."""

    def __init__(self, shard_id: int) -> None:
        super().__init__(
            intents=discord.Intents.default(), shard_ids=[shard_id], shard_count=2, guild_ready_timeout=0.05
        )
        self.seen: list[discord.Message] = []

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    original = route_base_patch(server.api_base)
    try:
        yield server
    finally:
        route_base_patch(original)
        await server.close()


async def test_guild_events_and_dms_reach_the_owning_shard_only(fake: FakeDiscord) -> None:
    """Guilds split by (id >> 22) % 2; a guild's messages go to its shard, DMs to shard 0."""
    on_zero = fake.add_guild("Zero", shard=(0, 2))
    on_one = fake.add_guild("One", shard=(1, 2))
    assert (fake.shard_of(on_zero, 2), fake.shard_of(on_one, 2)) == (0, 1)
    zero_channel, one_channel = fake.add_channel(on_zero), fake.add_channel(on_one)
    user = fake.add_user("alice")
    clients = [ShardClient(0), ShardClient(1)]
    runners = [asyncio.create_task(client.start(fake.token)) for client in clients]
    try:
        await asyncio.wait_for(asyncio.gather(*(client.wait_until_ready() for client in clients)), 10)
        assert [[g.id for g in client.guilds] for client in clients] == [[on_zero], [on_one]]
        assert [(i.shard) for i in fake.identifies] in ([(0, 2), (1, 2)], [(1, 2), (0, 2)])

        await fake.post_user_message(zero_channel, "to zero", user_id=user, mentions_bot=True)
        await fake.post_user_message(one_channel, "to one", user_id=user, mentions_bot=True)
        await fake.post_user_message(fake.dm_channel_id(user), "a DM", user_id=user)
        await fake.wait_for(lambda: len(clients[0].seen) == 2 and len(clients[1].seen) == 1)
        assert [m.content.split()[-2:] for m in clients[0].seen] == [["to", "zero"], ["a", "DM"]]
        assert [m.guild.id if m.guild else None for m in clients[1].seen] == [on_one]
    finally:
        for client in clients:
            await client.close()
        await asyncio.gather(*runners, return_exceptions=True)


async def test_gateway_bot_reports_shards_and_concurrency(fake: FakeDiscord) -> None:
    """GET /gateway/bot gives the recommended shards and session_start_limit.max_concurrency."""
    fake.recommended_shards, fake.max_concurrency = 4, 16
    client = discord.Client(intents=discord.Intents.none())
    await client.login(fake.token)
    try:
        shards, url, limits = await client.http.get_bot_gateway()
    finally:
        await client.close()
    assert (shards, url, limits["max_concurrency"]) == (4, fake.gateway_url, 16)


async def test_too_many_guilds_on_one_session_is_refused(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the per-shard guild limit Discord closes the session with 4011 (sharding required)."""
    monkeypatch.setattr("tests.fakes.fake_discord.MAX_GUILDS_PER_SHARD", 1)
    fake.add_guild("A")
    fake.add_guild("B")
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.ConnectionClosed) as closed:
        await asyncio.wait_for(client.start(fake.token), 10)
    await client.close()
    assert closed.value.code == 4011
