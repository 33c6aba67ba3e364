"""Whole-cluster faults: callbacks duplicated to every process, every process killed at once, and
a rolling deploy that starts a second unsharded copy beside the first."""

from __future__ import annotations

import asyncio

from tests.chaos.figures import assert_exactly_once, require
from tests.chaos.kit import Chaos, wait_until


async def test_callbacks_duplicated_to_both_processes_post_one_message_per_song(chaos: Chaos) -> None:
    """The API's callback for each song reaches both processes' listeners at the same moment (a
    retrying proxy, a replayed queue): each song is posted once, whichever process wins."""
    cluster = chaos.cluster(CALLBACK_GRACE="600")  # no polling safety net: the callbacks alone decide
    await cluster.start()
    requests = [
        await chaos.generate(chaos.guilds[n % 2], f"duplicated callback {n}", drop_callback=True) for n in range(4)
    ]
    await chaos.producer.wait_for(
        lambda: len(chaos.producer.tasks) == 4 and all(task.finished for task in chaos.producer.tasks.values())
    )
    sends = []
    for task in chaos.producer.tasks.values():
        assert task.callback_url is not None
        secret = task.callback_url.rsplit("/", 1)[1]
        for index in (0, 1):
            url = f"{cluster.listener(index)}/callbacks/{secret}"
            sends.append(chaos.producer.send_callback(task.task_id, url=url))
    statuses = await asyncio.gather(*sends)
    chaos.fault_over()

    await chaos.settle(timeout=20)
    await chaos.within(lambda: any(len(chaos.messages_for(r)) > 1 for r in requests), 3)
    figures = await chaos.tally("callbacks duplicated to both processes")
    assert statuses == [200] * 8
    assert_exactly_once(figures)
    assert figures.bad_status == 0, figures


async def test_both_processes_killed_mid_work_and_restarted_deliver_every_song_once(chaos: Chaos) -> None:
    """SIGKILL to both processes while two songs wait at the API and two are being posted (their
    messages held at Discord); one result comes while nobody runs. After the restart each song is
    posted once: the deliveries are taken over when their leases run out (finding a message that
    did reach Discord), the lost callback is made up for by polling."""
    cluster = chaos.cluster()
    await cluster.start()
    waiting = [
        await chaos.generate(guild, f"killed while waiting {n}", outcome="never")
        for n, guild in enumerate(chaos.guilds)
    ]
    for request in waiting:
        await chaos.wait_status(request, "Generating")
    gates = [chaos.hold_posts(guild) for guild in chaos.guilds]
    posting = [await chaos.generate(guild, f"killed while posting {n}") for n, guild in enumerate(chaos.guilds)]
    await chaos.discord.wait_for(lambda: all(chaos.posts_to(guild.channel) >= 1 for guild in chaos.guilds), timeout=20)

    await asyncio.gather(*(bot.kill() for bot in cluster.processes))
    for gate in gates:
        gate.set()  # what Discord does with a request whose sender died is up to it
    await chaos.producer.complete(chaos.api_task(waiting[0]).task_id)  # its callback finds nobody
    chaos.fault_over()  # recovery is timed from the restart
    await cluster.start()
    await chaos.producer.complete(chaos.api_task(waiting[1]).task_id)

    await chaos.settle(timeout=40)
    await chaos.within(lambda: any(len(chaos.messages_for(r)) > 1 for r in [*waiting, *posting]), 3)
    figures = await chaos.tally("both processes SIGKILLed mid-work, restarted")
    assert_exactly_once(figures)
    assert figures.once == 4
    assert figures.bad_status == 0, figures


async def test_rolling_deploy_second_unsharded_process_takes_nothing_from_the_first(chaos: Chaos) -> None:
    """A rolling deploy: the old process (no SHARD_IDS) is posting a song (its message held at
    Discord), sending another to the API (the request held there) and waiting for a third, when
    the new copy starts on the same database. Nothing may be handed back or failed by the
    newcomer: every song is posted once, no song that is delivered is refunded, and nobody posts
    the first song a second time. Issue 18, defect 5: the newcomer believed it was alone, handed
    the delivery back (and posted it again) and refunded the submission, which was then sent and
    delivered on top of the refund."""
    cluster = chaos.cluster(shard_ids=(None, None))
    old, new = cluster.processes
    await cluster.start(only=[0])
    guild = chaos.guilds[0]
    waiting = await chaos.generate(guild, "deploy: waiting at the API", outcome="never")
    await chaos.wait_status(waiting, "Generating")
    gate = chaos.hold_posts(guild)
    posting = await chaos.generate(guild, "deploy: being posted")
    await chaos.discord.wait_for(lambda: chaos.posts_to(guild.channel) >= 1, timeout=20)
    submit_gate = chaos.producer.hold("/producer/audios")
    sending = await chaos.generate(guild, "deploy: being sent")
    await chaos.producer.wait_for(lambda: any(r.get("prompt") == sending.prompt for r in chaos.producer.audio_requests))

    await cluster.start(only=[1])  # the new copy, while the old one is mid-way through all three

    async def meddled() -> bool:  # what a newcomer that thinks it is alone does: post again, refund
        sql = "SELECT state FROM tasks WHERE request LIKE '%being sent%'"
        return chaos.posts_to(guild.channel) >= 2 and await chaos.sql(sql) == "failed"

    await wait_until(meddled, 6)  # without meddling, the old process finishes once released
    chaos.note(second_post_attempts=chaos.posts_to(guild.channel) - 1)
    gate.set()
    submit_gate.set()
    chaos.fault_over()
    await chaos.producer.complete(chaos.api_task(waiting).task_id)

    await chaos.settle(timeout=30)
    await chaos.producer.wait_for(lambda: len(chaos.producer.tasks) == 3)  # the held submission went through
    await chaos.within(lambda: any(len(chaos.messages_for(r)) > 1 for r in [waiting, posting, sending]), 3)
    charged = await chaos.sql("SELECT SUM(used) FROM quota_usage WHERE guild_id = $1", guild.id)
    chaos.note(charged=charged)
    figures = await chaos.tally("rolling deploy: 2 unsharded processes")
    require(old.running and new.running, "a process died")
    require(figures.doubled == 0 and figures.lost == 0, f"songs doubled or lost: {figures}")
    assert figures.wrong_refunds == 0, f"the newcomer refunded a song that was sent and delivered: {figures}"
    assert charged == 3, f"three songs delivered, {charged} charged"
    assert chaos.discord.nonce_replays == 0, (
        "the new process posted the old one's song again (Discord's nonce saved it)"
    )
    assert_exactly_once(figures)
    assert figures.bad_status == 0, figures
