"""A process that stalls past its lease (SIGSTOP: a GC pause, a VM migration, `docker pause`) or is
stopping while another process is due to take its work over.

Where a test needs both processes to be able to post to the song feed, they run the same shard
(`SHARD_IDS=0`, `SHARD_COUNT=1`: a cluster that shares leases, as during the rolling restart of one
shard's process): a process posts to the feed only for guilds it has from the gateway. The member's
command reaches the first process alone (the second starts after it), so nothing is answered twice.
"""

from __future__ import annotations

import asyncio
import time

from tests.chaos.figures import assert_exactly_once, require, require_exactly_once
from tests.chaos.kit import LEASE, Chaos, wait_until
from tests.crash_helpers import BotProcess


async def pair_on_one_shard(chaos: Chaos) -> tuple[BotProcess, BotProcess]:
    """Two processes of one cluster, both on shard 0 of 1; only the first is started."""
    first = chaos.process(shard_ids="0", shard_count=1)
    second = chaos.process(shard_ids="0", shard_count=1)
    await first.start()
    return first, second


async def test_paused_past_its_lease_while_posting_the_other_process_delivers_once(chaos: Chaos) -> None:
    """The first process is stopped (SIGSTOP) while its song message is on its way to Discord; the
    message lands while it is stopped. The other process takes the delivery over when the lease
    runs out, finds the message and finishes the delivery (feed post included). Then the first
    process is continued (SIGCONT): it must find out it lost the lease and change nothing. One
    song message, one feed post, no third attempt. Issue 18, defect 2: unfenced, the resumed
    process recorded the delivery again and posted the song to the feed a second time."""
    guild = chaos.guilds[0]
    await chaos.turn_on(guild, feed=True)
    first, second = await pair_on_one_shard(chaos)
    gate = chaos.hold_posts(guild)
    request = await chaos.generate(guild, "paused while posting")
    await chaos.discord.wait_for(lambda: chaos.posts_to(guild.channel) >= 1, timeout=20)
    await second.start()

    first.pause()
    paused_at = time.monotonic()
    gate.set()  # Discord takes the message the stopped process sent
    taken = await chaos.within(lambda: len(chaos.song_messages(guild.feed)) >= 1, 4 * LEASE + 4)
    chaos.note(takeover_s=round(time.monotonic() - paused_at, 1) if taken else None)
    first.resume()
    chaos.fault_over()
    await chaos.settle(timeout=10)
    await chaos.within(lambda: len(chaos.song_messages(guild.feed)) >= 2 or chaos.posts_to(guild.channel) >= 2, 5)

    feed_posts = len(chaos.song_messages(guild.feed))
    chaos.note(feed_posts=feed_posts, post_attempts=chaos.posts_to(guild.channel))
    figures = await chaos.tally("SIGSTOP past lease while posting, 2 processes")
    require(first.running and second.running, "a process died")
    require(taken, "the other process never took the stalled delivery over")
    require_exactly_once(figures)
    assert feed_posts == 1, f"{feed_posts} posts of the song in the feed"
    assert chaos.posts_to(guild.channel) == 1, "a third delivery attempt posted the song again"
    assert figures.bad_status == 0, request.interaction.original.content if request.interaction.original else None


async def test_paused_past_its_lease_while_submitting_is_sent_at_most_once(chaos: Chaos) -> None:
    """The process that claimed a member's song stops itself (SIGSTOP) right after charging and
    claiming it (pause point `stalled_after_claim`: before any check it makes before sending), and
    stays stopped past its lease. The other process takes the
    submission over (here: looks it up, finds nothing, refunds it). Then the first is continued.
    The API may receive the request at most once, the member is charged at most once, and a song
    that was refunded must never have been sent. Issue 18, defect 2: unfenced, the resumed process
    sent the refunded request (billed), and the song was delivered on top of the refund."""
    cluster = chaos.cluster()
    await cluster.start(only=[])  # the proxy
    submitter, other = cluster.processes
    await asyncio.gather(submitter.start(pause_at="stalled_after_claim"), other.start())
    guild = chaos.guilds[0]  # shard 0: the submitter's
    request = await chaos.generate(guild, "paused while submitting")
    await submitter.wait_paused("stalled_after_claim")

    async def taken_over() -> bool:
        return await chaos.sql("SELECT state FROM tasks ORDER BY id LIMIT 1") != "reserved"

    paused_at = time.monotonic()
    decided = await wait_until(taken_over, 4 * LEASE + 6)
    chaos.note(takeover_s=round(time.monotonic() - paused_at, 1) if decided else None)
    submitter.resume()
    chaos.fault_over()
    await chaos.within(lambda: chaos.producer.audio_requests, 5)  # does the resumed process send it?
    await chaos.settle(timeout=15)
    await chaos.within(lambda: len(chaos.messages_for(request)) >= 1, 3)

    charged = await chaos.sql("SELECT COALESCE(SUM(used), 0) FROM quota_usage WHERE guild_id = $1", guild.id)
    refunded = bool(await chaos.sql("SELECT refunded FROM tasks ORDER BY id LIMIT 1"))
    sent = len(chaos.producer.audio_requests)
    chaos.note(api_requests=sent, charged=charged, refunded=refunded)
    figures = await chaos.tally("SIGSTOP past lease while submitting, 2 processes")
    require(submitter.running and other.running, "a process died")
    require(sent <= 1, f"the API received the request {sent} times")
    require(charged <= 1, f"charged {charged} times")
    if refunded:
        assert sent == 0, "refunded, yet sent to the API (billed, and delivered on top of the refund)"
        assert charged == 0
    else:
        assert charged == 1
    assert_exactly_once(figures)
    assert figures.bad_status == 0, request.interaction.original.content if request.interaction.original else None


async def test_sigterm_while_posting_with_a_short_lease_is_not_taken_over(chaos: Chaos) -> None:
    """The first process gets SIGTERM (`docker stop`) while its song message is held at Discord;
    LEASE_SECONDS (3) is shorter than its shutdown grace. Until it has finished or handed the
    delivery back, the other process must not take it over: one post attempt, one message, one
    feed post. Issue 18, defect 7: shutdown stopped the heartbeat first, so the other process
    took the delivery over after 3 s and posted it again (the nonce saved the message)."""
    guild = chaos.guilds[0]
    await chaos.turn_on(guild, feed=True)
    first, second = await pair_on_one_shard(chaos)
    gate = chaos.hold_posts(guild)
    request = await chaos.generate(guild, "stopping while posting")
    await chaos.discord.wait_for(lambda: chaos.posts_to(guild.channel) >= 1, timeout=20)
    await second.start()

    stopping = asyncio.create_task(first.stop())
    taken = await chaos.within(lambda: chaos.posts_to(guild.channel) >= 2, 2 * LEASE + 2)
    gate.set()
    await stopping
    chaos.fault_over()
    await chaos.settle(timeout=15)
    await chaos.within(lambda: len(chaos.song_messages(guild.feed)) >= 2, 3)

    feed_posts = len(chaos.song_messages(guild.feed))
    chaos.note(taken_over_while_stopping=taken, feed_posts=feed_posts, post_attempts=chaos.posts_to(guild.channel))
    figures = await chaos.tally("SIGTERM mid-post, lease 3 s < grace, 2 processes")
    require(first.process is not None and first.process.returncode == 0, f"exit {first.process}")
    require(figures.doubled == 0 and figures.lost == 0, f"songs doubled or lost: {figures}")
    assert not taken, "the other process took the delivery over while the stopping process was finishing it"
    assert_exactly_once(figures)
    assert feed_posts == 1, f"{feed_posts} posts of the song in the feed"
    assert figures.bad_status == 0, request.interaction.original.content if request.interaction.original else None
