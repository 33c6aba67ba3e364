"""Exactly one message per song, however often and from however many places its result arrives."""

from __future__ import annotations

import asyncio

from tests.harness import World
from tests.postgres import both_backends

pytestmark = both_backends  # quotas, the queue, jams, the library and exactly-once hold on both databases


async def pending(world: World, prompt: str) -> str:
    """A submitted song whose result is held back; its callback will not be sent by itself."""
    world.producer.script(outcome="never", drop_callback=True)
    interaction = await world.discord.invoke_slash(
        "generate", {"prompt": prompt}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: interaction.original and "Generating" in interaction.original.content)
    (task,) = [task for task in world.producer.tasks.values() if task.request.get("prompt") == prompt]
    return task.task_id


async def test_callbacks_racing_polls_post_one_message(world: World) -> None:
    await world.start_bot(callbacks=True, CALLBACK_GRACE="0", POLL_INTERVAL="600")
    assert world.bot is not None
    api_task = await pending(world, "race")
    await world.producer.complete(api_task)  # finished; nothing sent yet
    statuses = await asyncio.gather(
        world.producer.send_callback(api_task),
        world.bot.poller.sweep(everything=True),
        world.producer.send_callback(api_task),
        world.bot.poller.sweep(everything=True),
        world.producer.send_callback(api_task),
    )
    await world.settle()
    assert [statuses[0], statuses[2], statuses[4]] == [200, 200, 200]
    assert len(world.songs_in_channel()) == 1
    (task,) = await world.repo.tasks_in_states("delivered")
    assert not task.refunded


async def test_concurrent_deliveries_of_one_task_post_one_message(world: World) -> None:
    await world.start_bot(callbacks=True)
    assert world.bot is not None
    api_task = await pending(world, "many hands")
    world.discord.fail_next("POST", rf"/channels/{world.channel_id}/messages$", status=503, times=1)
    await world.producer.complete(api_task)
    await world.producer.send_callback(api_task)
    await world.settle()  # the first attempt failed on the 503: back in line
    (task,) = await world.repo.tasks_in_states("received")
    songs = world.bot.songs
    await asyncio.gather(*(songs.deliver(task.id) for _ in range(5)), songs.retry_undelivered())
    await world.settle()
    await world.producer.send_callback(api_task)  # and a late duplicate on top
    await world.settle()
    assert len(world.songs_in_channel()) == 1


async def test_duplicate_callback_after_a_restart_posts_nothing_more(world: World) -> None:
    await world.start_bot(callbacks=True)
    api_task = await pending(world, "twice")
    await world.producer.complete(api_task)
    await world.producer.send_callback(api_task)
    await world.wait_for_song()
    await world.settle()
    await world.restart_bot()
    assert await world.producer.send_callback(api_task) == 200
    await world.settle()
    assert len(world.songs_in_channel()) == 1
