"""Discord faults at delivery: each one injected in the fake Discord, with the real bot running.

Transient faults (5xx, 429) are retried and end in one message; permanent ones (channel deleted,
missing permissions, a refused embed) fall back to a DM or to plain text; with DMs closed too the
song stays in the library and the requester is told how to find it. Interactions that expired or
were already answered never crash a flow.
"""

from __future__ import annotations

import logging

import pytest

from tests.fakes.fake_discord import FakeInteraction, FakeMessage
from tests.harness import World, embed_field

CHANNEL_POSTS = r"/channels/{}/messages$"


async def generate_pending(world: World, prompt: str = "a song") -> tuple[FakeInteraction, str]:
    """A /generate whose song is held back (so a fault can be set up before delivery)."""
    world.producer.script(outcome="never")
    interaction = await world.discord.invoke_slash(
        "generate", {"prompt": prompt}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: interaction.original and "Generating" in interaction.original.content)
    (task,) = [task for task in world.producer.tasks.values() if task.request.get("prompt") == prompt]
    return interaction, task.task_id


def dm_songs(world: World) -> list[FakeMessage]:
    return world.songs_in_channel(world.discord.dm_channel_id(world.member_id))


def posts_to(world: World, channel_id: int) -> int:
    return sum(
        1 for method, path in world.discord.requests if method == "POST" and path == f"/channels/{channel_id}/messages"
    )


async def test_deleted_channel_song_goes_to_the_requester_by_dm(world: World) -> None:
    await world.start_bot(callbacks=True)
    interaction, api_task = await generate_pending(world, "lost channel")
    world.discord.delete_channel(world.channel_id)
    await world.producer.complete(api_task)
    await world.discord.wait_for(lambda: dm_songs(world))
    await world.settle()
    (dm,) = dm_songs(world)
    song_id = world.producer.tasks[api_task].songs[0]["id"]
    assert embed_field(dm, "Song id") == f"`{song_id}`"
    assert f"could not post in <#{world.channel_id}>" in embed_field(dm, "Audio")
    assert world.producer.tasks[api_task].songs[0]["audio_url"] in embed_field(dm, "Audio")
    assert len(await world.repo.tasks_in_states("delivered")) == 1
    stored = await world.repo.song(song_id)
    assert stored is not None and stored.message_id == dm.id
    await world.discord.wait_for(lambda: "by DM" in interaction.original.content)
    assert dm.jump_url in interaction.original.content


async def test_missing_permissions_song_goes_to_the_requester_by_dm(world: World) -> None:
    await world.start_bot(callbacks=True)
    interaction, api_task = await generate_pending(world, "no permission")
    world.discord.fail_next("POST", CHANNEL_POSTS.format(world.channel_id), status=403, code=50013, times=1)
    await world.producer.complete(api_task)
    await world.discord.wait_for(lambda: dm_songs(world))
    await world.settle()
    assert world.songs_in_channel() == [] and len(dm_songs(world)) == 1
    await world.discord.wait_for(lambda: "by DM" in interaction.original.content)


async def test_dms_closed_too_song_stays_in_the_library_and_the_requester_learns_where(world: World) -> None:
    await world.start_bot(callbacks=True)
    interaction, api_task = await generate_pending(world, "nowhere to go")
    world.discord.fail_next("POST", CHANNEL_POSTS.format(world.channel_id), status=403, code=50013, times=1)
    world.discord.close_dms(world.member_id)
    await world.producer.complete(api_task)
    await world.discord.wait_for(lambda: interaction.original.content.startswith("✅"))
    await world.settle()
    song_id = world.producer.tasks[api_task].songs[0]["id"]
    assert world.songs_in_channel() == [] and dm_songs(world) == []
    # Never silent: privately at once, and in the status line.
    (note,) = [message for message in interaction.followups if message.ephemeral]
    assert f"/show song:{song_id}" in note.content and "library" in note.content
    assert f"/show song:{song_id}" in interaction.original.content
    stored = await world.repo.song(song_id)
    assert stored is not None and stored.message_id is None
    (task,) = await world.repo.tasks_in_states("delivered")
    assert not task.refunded

    shown = await world.discord.invoke_slash(
        "show", {"song": song_id}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: world.songs_in_channel())
    assert embed_field(world.songs_in_channel()[0], "Song id") == f"`{song_id}`"
    assert shown.responses


async def test_discord_5xx_is_retried_with_backoff_and_posts_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """503 twice (discord.py does not retry 503 itself): the delivery goes back in line and is retried."""
    await world.start_bot(callbacks=True, POLL_INTERVAL="1")
    assert world.bot is not None
    world.bot.delivery.retry_base = 0.2
    interaction, api_task = await generate_pending(world, "flaky discord")
    world.discord.fail_next("POST", CHANNEL_POSTS.format(world.channel_id), status=503, times=2)
    await world.producer.complete(api_task)
    await world.wait_for_song(timeout=15)
    await world.settle()
    assert len(world.songs_in_channel()) == 1
    assert posts_to(world, world.channel_id) == 3
    retries = [r for r in caplog.records if "will be retried" in r.getMessage()]
    assert [r.getMessage().rsplit(" in ", 1)[1] for r in retries] == ["0.2 s", "0.4 s"]  # the backoff doubles
    assert all("HTTP 503" in r.getMessage() and r.exc_info is None for r in retries)  # one line, no traceback
    [task] = await world.bot.repo.tasks_in_states("delivered")
    assert task.delivery_failures == 2  # kept with the task: another process would continue the backoff
    await world.discord.wait_for(lambda: interaction.original.content.startswith("✅"))


async def test_discord_500_is_retried_by_the_client_and_posts_once(world: World) -> None:
    await world.start_bot(callbacks=True)
    _, api_task = await generate_pending(world, "one hiccup")
    world.discord.fail_next("POST", CHANNEL_POSTS.format(world.channel_id), status=500, times=1)
    await world.producer.complete(api_task)
    await world.wait_for_song(timeout=15)
    await world.settle()
    assert len(world.songs_in_channel()) == 1 and posts_to(world, world.channel_id) == 2


async def test_rate_limited_delivery_waits_retry_after_and_posts_once(world: World) -> None:
    await world.start_bot(callbacks=True)
    _, api_task = await generate_pending(world, "slow down")
    world.discord.fail_next("POST", CHANNEL_POSTS.format(world.channel_id), status=429, retry_after=0.2, times=2)
    await world.producer.complete(api_task)
    await world.wait_for_song(timeout=15)
    await world.settle()
    assert len(world.songs_in_channel()) == 1 and posts_to(world, world.channel_id) == 3


async def test_refused_message_is_posted_as_plain_text(world: World) -> None:
    """400 Invalid Form Body for the embed (twice: with the file, then linked): plain text with the link."""
    await world.start_bot(callbacks=True)
    _, api_task = await generate_pending(world, "refused embed")
    world.discord.fail_next("POST", CHANNEL_POSTS.format(world.channel_id), status=400, code=50035, times=2)
    await world.producer.complete(api_task)
    song = world.producer.tasks[api_task]
    await world.discord.wait_for(
        lambda: any("Song id" in message.content for message in world.discord.messages[world.channel_id])
    )
    await world.settle()
    (plain,) = [message for message in world.discord.messages[world.channel_id] if "Song id" in message.content]
    assert song.songs[0]["id"] in plain.content and song.songs[0]["audio_url"] in plain.content
    assert plain.embeds == [] and f"<@{world.member_id}>" in plain.content
    assert len(await world.repo.tasks_in_states("delivered")) == 1


@pytest.mark.parametrize(("status", "code"), [(404, 10062), (400, 40060)], ids=["expired", "already-acknowledged"])
async def test_unanswerable_interaction_never_crashes_and_charges_nothing(
    world: World, caplog: pytest.LogCaptureFixture, status: int, code: int
) -> None:
    caplog.set_level(logging.INFO)
    await world.start_bot(callbacks=True)
    world.discord.fail_next("POST", r"/interactions/\d+/[^/]+/callback", status=status, code=code, times=1)
    lost = await world.discord.invoke_slash(
        "generate", {"prompt": "too late"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(
        lambda: any("could not be answered" in record.getMessage() for record in caplog.records)
    )
    assert lost.responses == [] and lost.followups == []
    assert world.producer.audio_requests == []
    assert await world.repo.tasks_in_states("queued", "reserved", "pending") == []
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    # The bot carries on as if nothing happened.
    await world.discord.invoke_slash(
        "generate", {"prompt": "on time"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.wait_for_song()


async def test_expired_interaction_token_status_is_edited_with_the_bot_token(world: World) -> None:
    await world.start_bot(callbacks=True)
    interaction, api_task = await generate_pending(world, "long song")
    world.discord.fail_next("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", status=401, code=50027, times=50)
    await world.producer.complete(api_task)
    song = await world.wait_for_song()
    await world.discord.wait_for(lambda: interaction.original.content.startswith("✅"))
    assert song.jump_url in interaction.original.content
    channel_edits = [
        path for method, path in world.discord.requests if method == "PATCH" and path.startswith("/channels/")
    ]
    assert channel_edits
