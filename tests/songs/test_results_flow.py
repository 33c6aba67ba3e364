"""Getting results: polling cadence, lost callbacks, deadlines, restarts, quotas."""

from __future__ import annotations

import itertools

from bot.producer.client import PROBE_TASK_ID
from tests.fakes.fake_discord import FakeUpload
from tests.harness import World, embed_field, generate, today
from tests.postgres import both_backends


async def test_polling_asks_for_all_pending_in_one_batch_under_one_per_second(world: World) -> None:
    """Polling mode: one retrieve_batch covers every pending task, and requests stay ≥ 1 s apart."""
    await world.start_bot(POLL_INTERVAL="1", MAX_RUNNING_PER_MEMBER="3")
    for n in range(3):
        world.producer.script(outcome="never")
        await generate(world, f"song {n}")
    await world.producer.wait_for_task_count(3)
    await world.producer.wait_for(lambda: len(world.producer.task_requests) >= 3, timeout=15)
    for task_id in list(world.producer.tasks):
        await world.producer.complete(task_id)
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 3, timeout=15)

    # Every poll (all but the token check at start) is one batch.
    polls = [(at, body) for at, body in world.producer.task_requests if body.get("id") != PROBE_TASK_ID]
    bodies = [body for _, body in polls]
    assert all(body["action"] == "retrieve_batch" for body in bodies)
    assert sorted(bodies[-1]["ids"]) == sorted(world.producer.tasks)
    times = [at for at, _ in polls]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps and min(gaps) >= 1.0


async def test_status_line_shows_task_id_while_generating(world: World) -> None:
    await world.start_bot()
    world.producer.script(outcome="never")
    interaction = await generate(world, "slow song")
    (task_id,) = [task.task_id for task in await world.producer.wait_for_task_count(1)]
    await world.discord.wait_for(lambda: interaction.original and task_id in interaction.original.content)
    assert "Generating **slow song**" in interaction.original.content
    assert not interaction.original.ephemeral


@both_backends
async def test_lost_callback_is_recovered_by_polling(world: World) -> None:
    """Callback mode: a task whose callback never comes is polled after the grace period."""
    await world.start_bot(callbacks=True, CALLBACK_GRACE="0", POLL_INTERVAL="1")
    world.producer.script(drop_callback=True)
    await generate(world)
    await world.wait_for_song(timeout=15)
    assert world.producer.callbacks_sent == []
    assert world.producer.task_requests


@both_backends
async def test_deadline_fails_with_message_and_refund(world: World) -> None:
    await world.start_bot(TASK_TIMEOUT="60", POLL_INTERVAL="1")
    world.producer.script(outcome="never")
    interaction = await generate(world, "never ends")
    await world.producer.wait_for_task_count(1)
    await world.discord.wait_for(lambda: interaction.original and "Generating" in interaction.original.content)
    assert await world.repo.quota_used(world.guild_id, today(world)) == 1
    world.clock.advance(61)
    world.bot.poller.wake()  # type: ignore[union-attr]
    notice = await world.discord.wait_for_message(
        world.channel_id, lambda m: "no result" in m.content and m.id != interaction.original.id
    )
    assert f"<@{world.member_id}>" in notice.content and "refunded" in notice.content
    assert await world.repo.quota_used(world.guild_id, today(world)) == 0
    await world.discord.wait_for(lambda: "❌" in interaction.original.content)


@both_backends
async def test_result_that_arrived_while_down_is_delivered_at_start(world: World) -> None:
    """The callback is lost while the bot is down; at start the bot checks pending tasks at once."""
    await world.start_bot(callbacks=True, POLL_INTERVAL="600", CALLBACK_GRACE="600")
    world.producer.script(outcome="never")
    interaction = await generate(world, "while you were out")
    (task,) = await world.producer.wait_for_task_count(1)
    await world.discord.wait_for(lambda: interaction.original and "Generating" in interaction.original.content)
    await world.stop_bot()
    await world.producer.complete(task.task_id)
    assert world.producer.callbacks_sent[-1][1] == 0  # nobody was listening
    await world.restart_bot()
    song_message = await world.wait_for_song()
    assert embed_field(song_message, "Song id") == f"`{task.songs[0]['id']}`"
    assert len(world.songs_in_channel()) == 1


async def test_quota_refusal_is_private_and_sends_nothing(world: World) -> None:
    await world.start_bot(callbacks=True, GUILD_DAILY_QUOTA="1")
    await generate(world, "first")
    await world.wait_for_song()
    second = await generate(world, "second")
    await world.discord.wait_for(lambda: second.followups and second.followups[-1].content)
    reply = second.followups[-1]
    assert reply.ephemeral and "has used its 1 song for today" in reply.content and "<t:" in reply.content
    assert len(world.producer.audio_requests) == 1
    assert await world.repo.quota_used(world.guild_id, today(world)) == 1
    world.clock.advance(24 * 3600)  # the next UTC day
    await generate(world, "tomorrow")
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)


async def test_compose_from_lyrics_file(world: World) -> None:
    await world.start_bot(callbacks=True)
    lyrics = "[Verse]\r\nLine one\r\nLine two\r\n\r\n[Chorus]\r\nLa la la\r\n"
    command = await world.discord.invoke_slash(
        "compose",
        {},
        attachments={"lyrics_file": FakeUpload("song.txt", lyrics.encode(), "text/plain")},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    await world.discord.wait_for(lambda: command.modal)
    await world.discord.submit_modal(command, {"compose:title": "From a file"})
    await world.wait_for_song()
    (request,) = world.producer.audio_requests
    assert request["lyric"] == "[Verse]\nLine one\nLine two\n\n[Chorus]\nLa la la"
    assert request["title"] == "From a file" and request["custom"] is True


async def test_invalid_input_is_refused_before_any_charge(world: World) -> None:
    """Out-of-range numbers, over-long text and non-text lyrics files: a private message, no API call."""
    await world.start_bot()
    attempts = [
        ("generate", {"prompt": "x", "weirdness": 1.5}, None, "`weirdness` must be between 0 and 1; got 1.5."),
        ("generate", {"prompt": "y" * 201}, None, "`prompt` is 201 characters long; the limit is 200."),
        ("generate", {"prompt": "   "}, None, "`prompt` cannot be empty."),
        ("compose", {"sound_strength": 0.1}, None, "`sound_strength` must be between 0.2 and 1; got 0.1."),
        ("compose", {}, {"lyrics_file": FakeUpload("song.mp3", b"ID3", "audio/mpeg")}, "must be a `.txt` file"),
    ]
    for name, options, attachments, expected in attempts:
        interaction = await world.discord.invoke_slash(
            name, options, attachments=attachments, user_id=world.member_id, channel_id=world.channel_id
        )
        await world.discord.wait_for(lambda i=interaction: i.responses)
        (response,) = interaction.responses
        assert response["type"] == 4 and response["data"]["flags"] & 64, (name, options, response)
        assert expected in response["data"]["content"]
    assert world.producer.audio_requests == []
    assert await world.repo.quota_used(world.guild_id, today(world)) == 0


async def test_stopping_lets_a_request_in_flight_finish(world: World, caplog) -> None:
    """SIGTERM-style close while a command waits on the API: it finishes cleanly. The API answered 5xx, so
    the song may have been taken: it stays charged and waiting for its deadline, across the restart."""
    await world.start_bot()
    world.producer.fail_next("/producer/audios", status=500, code="api_error", delay=0.5)
    interaction = await generate(world, "caught mid-flight")
    await world.producer.wait_for(lambda: world.producer.audio_requests)
    await world.stop_bot()
    assert "closed database" not in caplog.text
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    assert interaction.original is not None and "not confirmed it yet" in interaction.original.content
    await world.restart_bot()
    (waiting,) = await world.repo.tasks_in_states("queued", "reserved", "pending")
    assert waiting.state == "pending" and waiting.api_task_id is None
    assert await world.repo.quota_used(world.guild_id, today(world)) == 1
