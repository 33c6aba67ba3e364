"""/generate and /compose end to end: a member's command to a song posted in the channel.

The bot is the real MusicBot, talking over sockets to the fake Discord and the fake Producer API.
"""

from __future__ import annotations

import io

import aiohttp
import pytest

from tests.harness import World, embed_field, today
from tests.postgres import both_backends


@both_backends
@pytest.mark.parametrize("callbacks", [True, False], ids=["callback-mode", "polling-mode"])
async def test_generate_posts_one_song_with_audio(world: World, callbacks: bool) -> None:
    """/generate → exactly one message in the channel with the embed and the served audio attached."""
    await world.start_bot(callbacks=callbacks, POLL_INTERVAL="1")
    interaction = await world.discord.invoke_slash(
        "generate",
        {"prompt": "a rainy lofi song", "title": "Rain"},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    song_message = await world.wait_for_song()
    await world.settle()

    (request,) = world.producer.audio_requests
    assert request["action"] == "generate" and request["custom"] is False
    assert request["model"] == "FUZZ-2.0 Pro" and request["prompt"] == "a rainy lofi song"
    if callbacks:
        assert request["callback_url"].startswith(f"{world.webhook_base}/callbacks/")
        assert len(request["callback_url"].rsplit("/", 1)[1]) >= 22  # ≥ 128 bits of randomness
        assert "async" not in request
    else:
        assert request["async"] is True and "callback_url" not in request

    (task,) = world.producer.tasks.values()
    (song,) = task.songs
    assert world.songs_in_channel() == [song_message]
    (attachment,) = song_message.attachments
    assert attachment.data == world.producer.media_bytes(f"{song['id']}.mp3")
    embed = song_message.embeds[0]
    assert embed["title"] == "Rain"
    assert embed_field(song_message, "Song id") == f"`{song['id']}`"
    assert embed_field(song_message, "Model") == "FUZZ-2.0 Pro"
    assert embed_field(song_message, "Duration") == "2:15"
    assert embed_field(song_message, "Requested by") == f"<@{world.member_id}>"
    assert embed["thumbnail"]["url"] == song["image_url"]
    # Only the requester is pinged; nothing a member wrote can mention anyone.
    assert song_message.allowed_mentions["parse"] == []
    assert [int(user) for user in song_message.allowed_mentions["users"]] == [world.member_id]

    # The status line, made by the command's "thinking" defer, now points at the song.
    await world.discord.wait_for(lambda: "✅" in interaction.original.content)
    assert song_message.jump_url in interaction.original.content
    assert await world.repo.quota_used(world.guild_id, today()) == 1
    stored = await world.repo.song(song["id"])
    assert stored is not None and stored.message_id == song_message.id and stored.action == "generate"


async def test_compose_modal_keeps_line_breaks(world: World) -> None:
    """/compose opens a form; its lyrics reach the API with their line breaks, custom: true."""
    await world.start_bot(callbacks=True)
    command = await world.discord.invoke_slash(
        "compose",
        {"model": "FUZZ-1.1", "lyrics_strength": 0.8, "sound_strength": 0.3},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    await world.discord.wait_for(lambda: command.modal)
    lyrics = "[Verse]\nWoke up with the sun\nNo clouds above\n\n[Chorus]\nHappy days"
    await world.discord.submit_modal(
        command, {"compose:title": "Happy Days", "compose:style": "sunny pop", "compose:lyrics": lyrics}
    )
    song_message = await world.wait_for_song()
    (request,) = world.producer.audio_requests
    assert request["custom"] is True and request["lyric"] == lyrics
    assert request["title"] == "Happy Days" and request["prompt"] == "sunny pop"
    assert (request["model"], request["lyrics_strength"], request["sound_strength"]) == ("FUZZ-1.1", 0.8, 0.3)
    assert "weirdness" not in request  # unset options are left to the API
    assert "Woke up with the sun" in embed_field(song_message, "Lyrics")


async def test_over_limit_file_is_linked_not_uploaded(world: World) -> None:
    """An 11 MiB song in a 10 MiB guild is linked in the embed; no file is uploaded."""
    await world.start_bot(callbacks=True)
    world.producer.script(audio_size=11 * 1024 * 1024)
    await world.discord.invoke_slash(
        "generate", {"prompt": "a very long song"}, user_id=world.member_id, channel_id=world.channel_id
    )
    song_message = await world.wait_for_song()
    (song,) = next(iter(world.producer.tasks.values())).songs
    assert song_message.attachments == []
    note = embed_field(song_message, "Audio")
    assert "upload limit" in note and song["audio_url"] in note


@pytest.mark.parametrize(
    ("status", "code", "api_message", "member_sees"),
    [
        (401, "invalid_token", "", "refused the bot's API key; the bot's owner has been told"),
        (403, "used_up", "", "credits are used up"),
        (429, "too_many_requests", "", "busy right now, try again in a minute"),
        (403, "forbidden", "Prompt contained an artist name", "content filter rejected this request: Prompt contained"),
        (400, "bad_request", "model is invalid.", "refused the request: model is invalid."),
    ],
)
async def test_api_errors_reach_the_member_and_cost_nothing(
    world: World, status: int, code: str, api_message: str, member_sees: str
) -> None:
    """Each API refusal → its plain message, privately, and the guild's quota is unchanged.

    (A 5xx is not a refusal: the request may have been taken, so the song waits for its deadline;
    see tests/producer/test_reliability_api.py.)"""
    await world.start_bot()
    world.bot.api._backoff = 0.01  # type: ignore[union-attr]  # keep the 429 retries quick
    world.producer.fail_next("/producer/audios", status=status, code=code, message=api_message, times=5)
    interaction = await world.discord.invoke_slash(
        "generate", {"prompt": "a song"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: interaction.followups and interaction.followups[-1].content)
    reply = interaction.followups[-1]
    assert member_sees.lower() in reply.content.lower()
    assert reply.ephemeral
    assert "Traceback" not in reply.content and world.settings.producer_api_token not in reply.content  # type: ignore[union-attr]
    assert await world.repo.quota_used(world.guild_id, today()) == 0
    assert world.songs_in_channel() == []
    assert len(world.producer.audio_requests) == (5 if code == "too_many_requests" else 1)


async def test_forged_callback_is_404_and_posts_nothing(world: World) -> None:
    await world.start_bot(callbacks=True)
    async with aiohttp.ClientSession() as http:
        forged = {"success": True, "task_id": "x", "data": [{"id": "s", "audio_url": "http://127.0.0.1:1/evil.mp3"}]}
        async with http.post(f"{world.webhook_base}/callbacks/not-a-real-secret", json=forged) as response:
            assert response.status == 404
            assert await response.json() == {"error": "unknown callback"}
        async with http.post(f"{world.webhook_base}/callbacks/x", data=b"{not json") as response:
            assert response.status == 400
        async with http.post(
            f"{world.webhook_base}/callbacks/x", data=io.BytesIO(b"[" + b"1," * 600_000 + b"1]")
        ) as response:
            assert response.status == 413
        async with http.get(f"{world.webhook_base}/healthz") as response:
            assert response.status == 200
            health = await response.json()
    assert (health["status"], health["shards"], health["mode"]) == ("ok", {"0": "connected"}, "callback")
    assert world.songs_in_channel() == []
    assert all(method == "GET" or "/messages" not in path for method, path in world.discord.requests[-3:])


@both_backends
async def test_duplicated_callbacks_post_one_message(world: World) -> None:
    await world.start_bot(callbacks=True)
    world.producer.script(duplicate_callbacks=3)
    await world.discord.invoke_slash(
        "generate", {"prompt": "echo"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.wait_for_song()
    await world.producer.wait_for_callbacks(3)
    (task,) = world.producer.tasks.values()
    status = await world.producer.send_callback(task.task_id)  # and a late fourth one
    await world.settle()
    assert status == 200
    assert [code for _, code, _ in world.producer.callbacks_sent] == [200, 200, 200, 200]
    assert len(world.songs_in_channel()) == 1


async def test_callback_before_submit_returns_is_delivered_once(world: World) -> None:
    await world.start_bot(callbacks=True)
    world.producer.script(callback_before_response=True)
    interaction = await world.discord.invoke_slash(
        "generate", {"prompt": "fast"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.wait_for_song()
    await world.settle()
    await world.discord.wait_for(lambda: "✅" in interaction.original.content)
    assert len(world.songs_in_channel()) == 1
    (task,) = await world.repo.tasks_in_states("delivered")
    assert task.api_task_id == next(iter(world.producer.tasks))


@both_backends
async def test_failed_task_tells_requester_and_refunds(world: World) -> None:
    await world.start_bot(callbacks=True)
    world.producer.script(outcome="failure", error_message="the model could not sing this")
    interaction = await world.discord.invoke_slash(
        "generate", {"prompt": "impossible"}, user_id=world.member_id, channel_id=world.channel_id
    )
    notice = await world.discord.wait_for_message(
        world.channel_id, lambda m: "could not be made" in m.content and m.id != interaction.original.id
    )
    assert f"<@{world.member_id}>" in notice.content and "could not sing this" in notice.content
    assert "refunded" in notice.content
    await world.discord.wait_for(lambda: "❌" in interaction.original.content)
    assert await world.repo.quota_used(world.guild_id, today()) == 0
    assert world.songs_in_channel() == []
