"""Two bot processes on one PostgreSQL (shards 0 and 1 of 2): each phase changes once, announced once.

Both processes run in this test process, so they share the test's clock: time moves for both at
once, and both look for due contests at the same moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from bot.app.bot import MusicBot
from bot.storage import open_repository
from tests.contests.kit import add_manager, contest_cmd, make_song, start_contest, titled, vote
from tests.harness import World, free_port


@asynccontextmanager
async def second_process(world: World, **env: str) -> AsyncIterator[MusicBot]:
    """Another MusicBot on the world's database and clock, with its own listener port."""
    settings = world.make_settings(**{**world._overrides, "WEBHOOK_PORT": str(free_port()), **env})
    session = aiohttp.ClientSession()
    repo = await open_repository(settings)
    bot = MusicBot(settings=settings, repo=repo, session=session, clock=world.clock, guild_ready_timeout=0.05)
    runner = asyncio.create_task(bot.start(settings.discord_token))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=10)
        yield bot
    finally:
        await bot.close()
        await runner
        await repo.close()
        await session.close()


async def both_look(first: MusicBot, second: MusicBot) -> int:
    """Both processes' timers look for due contests at the same moment; how many phases changed."""
    changed = await asyncio.gather(first.contests.tick(), second.contests.tick())
    await asyncio.gather(first.songs.follow_ups.settle(), second.songs.follow_ups.settle())
    return sum(changed)


async def test_two_processes_change_and_announce_each_phase_once(world: World) -> None:
    """The vote, the results, the winner's repost and the event's completion happen exactly once."""
    world.guild_id = world.discord.add_guild("Cluster", shard=(0, 2))  # commands reach process 0 only
    world.channel_id = world.discord.add_channel(world.guild_id, "contests")
    first = await world.start_bot(callbacks=True, backend="postgres", SHARD_COUNT="2", SHARD_IDS="0")
    alice, bob = world.member_id, world.discord.add_user("bob")
    manager = add_manager(world)
    await start_contest(world, manager, submit_for="1h", vote_for="1h")
    songs = {alice: await make_song(world, "rain", alice, title="Rain"), bob: await make_song(world, "sun", bob)}
    for member, song in songs.items():
        assert "is entered" in await contest_cmd(world, "submit", member, song=song)

    async with second_process(world, SHARD_IDS="1") as second:
        # Each process's loop calls `tick`; here the test calls both at the same moment instead, so
        # no pass of a loop slips in between and the count of changes is exact.
        await asyncio.gather(first.contests.stop(), second.contests.stop())
        world.clock.advance(3600 + 1)
        assert await both_look(first, second) == 1
        assert await both_look(first, second) == 0
        (ballot,) = titled(world, "🗳️ Vote")
        assert "is in for" in await vote(world, ballot, bob, songs[alice])

        world.clock.advance(3600 + 1)
        assert await both_look(first, second) == 1
        await asyncio.gather(first.contests.tick(), second.contests.tick(), world.settle())
        (results,) = titled(world, "🏆 Results")
        assert "1 vote" in results.embeds[0]["description"]
        assert len([m for m in world.songs_in_channel() if m.content.startswith("🥇 The winning song")]) == 1
        (event,) = world.discord.events.in_guild(world.guild_id)
        assert world.discord.events.status_changes == [(int(event["id"]), 1, 2), (int(event["id"]), 2, 3)]
        assert len(titled(world, "🗳️ Vote")) == 1
