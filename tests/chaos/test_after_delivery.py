"""The work after a delivery (the song feed, the member's auto-DM, the status line) survives a crash
at the moment the delivery is recorded."""

from __future__ import annotations

from tests.chaos.figures import require, require_exactly_once
from tests.chaos.kit import Chaos


async def test_killed_right_after_the_delivery_is_recorded_loses_no_follow_up(chaos: Chaos) -> None:
    """SIGKILL the moment the task is marked delivered (crash point `delivered_marked`), with the
    song feed on and the member's auto-DM on. After the restart the feed has the song once and
    the member's DMs have it once; the status line points at the song."""
    guild = chaos.guilds[0]
    await chaos.turn_on(guild, feed=True, auto_dm=True)
    bot = chaos.process()
    await bot.start(crash_at="delivered_marked")
    request = await chaos.generate(guild, "killed after delivery")
    await bot.wait_crashed("delivered_marked")
    require(len(chaos.messages_for(request)) == 1, "the song was not posted before the crash point")

    await bot.start()
    chaos.fault_over()
    dms = chaos.discord.dm_channel_id(guild.member)
    await chaos.within(
        lambda: len(chaos.song_messages(guild.feed)) >= 1 and len(chaos.song_messages(dms)) >= 1, 2 * 3.0 + 4
    )
    await chaos.settle(timeout=3)
    feed_posts, dm_copies = len(chaos.song_messages(guild.feed)), len(chaos.song_messages(dms))
    chaos.note(feed_posts=feed_posts, dm_copies=dm_copies)
    figures = await chaos.tally("SIGKILL right after mark_delivered, 1 process")
    require_exactly_once(figures)
    assert (feed_posts, dm_copies) == (1, 1), "the feed post and the auto-DM, once each"
    assert figures.bad_status == 0, request.interaction.original.content if request.interaction.original else None


async def test_song_delivered_by_the_process_without_the_guild_still_reaches_the_feed(chaos: Chaos) -> None:
    """Callbacks reach any process of the cluster, so half the songs of a guild are delivered by a
    process that does not run the guild's shard. The song feed must get each of them once anyway."""
    guild = chaos.guilds[0]  # shard 0
    await chaos.turn_on(guild, feed=True)
    cluster = chaos.cluster()
    await cluster.start()
    request = await chaos.generate(guild, "delivered by the other shard's process", drop_callback=True)
    await chaos.producer.wait_for(lambda: chaos.producer.tasks and chaos.api_task(request).finished)
    task = chaos.api_task(request)
    assert task.callback_url is not None
    secret = task.callback_url.rsplit("/", 1)[1]
    status = await chaos.producer.send_callback(task.task_id, url=f"{cluster.listener(1)}/callbacks/{secret}")
    chaos.fault_over()
    await chaos.settle(timeout=15)
    await chaos.within(lambda: len(chaos.song_messages(guild.feed)) >= 1, 5)
    feed_posts = len(chaos.song_messages(guild.feed))
    chaos.note(feed_posts=feed_posts)
    figures = await chaos.tally("delivered by the process without the guild")
    require(status == 200, f"callback answered {status}")
    require_exactly_once(figures)
    require(figures.bad_status == 0, request.interaction.original.content if request.interaction.original else None)
    assert feed_posts == 1, f"{feed_posts} posts of the song in the feed"
