"""Producer API faults, end to end: surprising results, unclear submissions, failed media downloads.

Each fault is injected in the fake Producer API with the real bot running; each test checks what the
member sees (one song, or one failure with a refund) and that nothing was asked of the API twice.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import aiohttp
import pytest

from bot.producer import media
from bot.producer.client import ProducerError
from tests.fakes.fake_producer import FakeProducer
from tests.harness import World, embed_field, generate, today


def _looked_up(world: World) -> bool:
    """The bot has listed the API's recent tasks (the look-up after an unclear submit answer)."""
    return any(body.get("action") == "retrieve_batch" and "ids" not in body for _, body in world.producer.task_requests)


async def failure_notice(world: World, interaction: Any) -> str:
    notice = await world.discord.wait_for_message(
        world.channel_id, lambda m: "refunded" in m.content and m.id != interaction.original.id
    )
    return notice.content


# -- surprising results -------------------------------------------------------------------------


async def test_partial_data_with_success_false_is_delivered(world: World) -> None:
    await world.start_bot(callbacks=True)
    world.producer.script(outcome="partial", error_message="one clip failed")
    await generate(world, "half done")
    song = await world.wait_for_song()
    await world.settle()
    assert len(world.songs_in_channel()) == 1 and song.attachments
    assert await world.repo.quota_used(world.guild_id, today()) == 1


async def test_error_as_a_plain_string_fails_with_its_words_and_a_refund(world: World) -> None:
    await world.start_bot(callbacks=True)
    world.producer.script(outcome="failure_string_error")
    interaction = await generate(world, "doomed")
    text = await failure_notice(world, interaction)
    assert "provider timeout" in text and f"<@{world.member_id}>" in text
    assert await world.repo.quota_used(world.guild_id, today()) == 0
    assert world.songs_in_channel() == []


@pytest.mark.parametrize(
    ("body", "member_sees"),
    [
        ({"success": True, "data": []}, "reported a failure"),
        ({"success": True, "data": [{"id": "no-audio", "title": "x"}]}, "reported a failure"),
        ({"success": True, "data": "not a list"}, "reported a failure"),
        ({"success": False, "error": {"code": "api_error", "message": ["not", "text"]}}, "reported a failure"),
        ({"success": False, "error": {"message": "x" * 5000}}, "could not be made"),
    ],
    ids=["empty-data", "no-audio-url", "data-is-a-string", "error-message-is-a-number", "huge-error"],
)
async def test_results_without_a_song_fail_with_a_refund(world: World, body: dict[str, Any], member_sees: str) -> None:
    await world.start_bot(callbacks=True)
    world.producer.script(outcome="never")
    interaction = await generate(world, "odd result")
    (task,) = await world.producer.wait_for_task_count(1)
    await world.discord.wait_for(lambda: "Generating" in interaction.original.content)
    assert await world.producer.send_callback(task.task_id, body={"task_id": task.task_id, **body}) == 200
    text = await failure_notice(world, interaction)
    assert member_sees in text and len(text) <= 2000
    await world.discord.wait_for(lambda: interaction.original.content.startswith("❌"))
    assert await world.repo.quota_used(world.guild_id, today()) == 0
    assert world.songs_in_channel() == []


async def test_surprising_field_types_still_make_a_sane_song_message(world: World) -> None:
    """`data` as an object, `success` missing, duration not a number, no title/image, extra fields."""
    await world.start_bot(callbacks=True)
    world.producer.script(outcome="never")
    interaction = await generate(world, "loose types", title="Loose")
    (task,) = await world.producer.wait_for_task_count(1)
    await world.discord.wait_for(lambda: "Generating" in interaction.original.content)
    world.producer.set_media("odd.mp3", b"ID3" + b"\x00" * 2048)
    body = {
        "task_id": task.task_id,
        "data": {
            "id": 12345,
            "audio_url": world.producer.media_url("odd.mp3"),
            "duration": "about three minutes",
            "seed": None,
            "lyric": ["not", "text"],
            "model": {"name": "FUZZ"},
            "image_url": "javascript:alert(1)",
            "surprise": {"nested": True},
        },
    }
    assert await world.producer.send_callback(task.task_id, body=body) == 200
    song = await world.wait_for_song()
    embed = song.embeds[0]
    assert embed["title"] == "Loose" and embed_field(song, "Song id") == "`12345`"
    assert embed_field(song, "Duration") == "?" and embed_field(song, "Model") == "FUZZ-2.0 Pro"
    assert "thumbnail" not in embed
    assert song.attachments[0].data == b"ID3" + b"\x00" * 2048


async def test_polling_survives_task_endpoint_errors(world: World) -> None:
    """The callback is lost and the first poll fails: the next poll brings the song."""
    await world.start_bot(callbacks=True, CALLBACK_GRACE="0", POLL_INTERVAL="1")
    world.producer.script(drop_callback=True)
    world.producer.fail_next("/producer/tasks", status=500, code="api_error", times=1)
    await generate(world, "patience")
    await world.wait_for_song(timeout=15)
    await world.settle()
    assert len(world.songs_in_channel()) == 1 and len(world.producer.audio_requests) == 1
    assert len(world.producer.task_requests) >= 2


# -- submissions whose answer is unclear --------------------------------------------------------


@pytest.mark.parametrize("callbacks", [True, False], ids=["callback-mode", "polling-mode"])
async def test_submit_answered_5xx_but_accepted_is_found_not_resent(world: World, callbacks: bool) -> None:
    await world.start_bot(callbacks=callbacks, POLL_INTERVAL="1")
    world.producer.accept_then_fail_next(status=502, code="api_error", message="bad gateway")
    interaction = await generate(world, "accepted anyway")
    await world.wait_for_song(timeout=15)
    await world.settle()
    await world.discord.wait_for(lambda: interaction.original.content.startswith("✅"))
    assert len(world.producer.audio_requests) == 1 and len(world.producer.tasks) == 1
    assert len(world.songs_in_channel()) == 1
    (task,) = await world.repo.tasks_in_states("delivered")
    assert task.api_task_id == next(iter(world.producer.tasks))
    assert await world.repo.quota_used(world.guild_id, today()) == 1
    assert not [reply for reply in interaction.followups if reply.ephemeral]


async def test_submit_that_timed_out_but_was_accepted_is_found_not_resent(world: World) -> None:
    await world.start_bot(callbacks=True)
    assert world.bot is not None
    world.bot.api._timeout = aiohttp.ClientTimeout(total=0.3)
    world.producer.accept_then_fail_next(status=504, code="timeout", delay=1.0)
    await generate(world, "slow gateway")
    await world.wait_for_song(timeout=15)
    await world.settle()
    assert len(world.producer.audio_requests) == 1 and len(world.songs_in_channel()) == 1


async def test_submit_5xx_not_accepted_waits_then_is_refunded_at_the_deadline(world: World) -> None:
    """5xx and nothing found: not sent again, kept waiting (it may have been billed), refunded at its deadline."""
    await world.start_bot(TASK_TIMEOUT="60")
    assert world.bot is not None
    world.producer.fail_next("/producer/audios", status=502, code="api_error")
    interaction = await generate(world, "really failed")
    await world.discord.wait_for(lambda: _looked_up(world))
    await world.settle()
    (waiting,) = await world.repo.tasks_in_states("pending")
    assert waiting.api_task_id is None and await world.repo.quota_used(world.guild_id, today(world)) == 1
    world.clock.advance(120)
    world.bot.poller.wake()
    await world.discord.wait_for(
        lambda: interaction.original and "no result from the music service" in interaction.original.content
    )
    assert len(world.producer.audio_requests) == 1 and world.producer.tasks == {}
    assert await world.repo.quota_used(world.guild_id, today(world)) == 0


async def test_late_callback_after_an_unconfirmed_submit_is_delivered(world: World) -> None:
    """5xx, and the lookup fails too: the task waits. The API made the song after all; its callback delivers it."""
    await world.start_bot(callbacks=True)
    world.producer.script(outcome="never")
    world.producer.accept_then_fail_next(status=500, code="api_error")
    world.producer.fail_next("/producer/tasks", status=500, code="api_error", times=1)
    await generate(world, "too late")
    await world.discord.wait_for(lambda: world.producer.tasks and _looked_up(world))
    await world.settle()
    assert await world.repo.quota_used(world.guild_id, today()) == 1
    (api_task,) = world.producer.tasks.values()
    await world.producer.complete(api_task.task_id)  # the callback arrives after the unclear answer
    assert world.producer.callbacks_sent[-1][1] == 200
    await world.wait_for_song()
    await world.settle()
    (task,) = await world.repo.tasks_in_states("delivered")
    assert not task.refunded and await world.repo.quota_used(world.guild_id, today()) == 1


def test_a_nonsense_200_answer_counts_as_unclear() -> None:
    assert ProducerError(200, "bad_response").ambiguous
    assert ProducerError(0, "timeout").ambiguous and ProducerError(503, "api_error").ambiguous
    assert not ProducerError(400, "bad_request").ambiguous and not ProducerError(429, "too_many_requests").ambiguous


# -- media --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ({"media_status": 404}, "answered HTTP 404"),
        ({"media_status": 503}, "answered HTTP 503"),
        ({"content_type": "text/html"}, "sent text/html, not audio"),
        ({"audio_size": 11 * 1024 * 1024}, "larger than this server's upload limit"),
        ({"media_drip_delay": 0.05}, "took too long"),
    ],
    ids=["404", "503", "html", "over-cap", "slow-drip"],
)
async def test_audio_that_cannot_be_attached_is_linked(world: World, script: dict[str, Any], reason: str) -> None:
    await world.start_bot(callbacks=True)
    assert world.bot is not None
    world.bot.delivery._download_timeout = 0.5
    world.producer.script(**script)
    await generate(world, "hard to fetch")
    song = await world.wait_for_song()
    (task,) = world.producer.tasks.values()
    note = embed_field(song, "Audio")
    assert song.attachments == [] and reason in note and task.songs[0]["audio_url"] in note


async def test_download_memory_stays_bounded(producer: FakeProducer) -> None:
    """An 8 MiB file is spooled to disk in chunks: Python never holds more than a fraction of it."""
    size = 8 * 1024 * 1024
    producer.set_media("big.mp3", bytes(size))
    async with aiohttp.ClientSession() as session:
        tracemalloc.start()
        try:
            fetched = await media.download(
                session,
                producer.media_url("big.mp3"),
                filename="big.mp3",
                max_bytes=10 * 1024 * 1024,
                allow_private=True,  # the fake serves it from 127.0.0.1
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert isinstance(fetched, media.Download) and fetched.size == size
    try:
        assert fetched.file._rolled  # type: ignore[attr-defined]  # on disk, not in memory
        assert peak < 2 * 1024 * 1024, peak
    finally:
        fetched.close()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.mp3", "javascript:alert(1)", "http://[::1"])
async def test_download_refuses_what_is_not_a_web_link(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        fetched = await media.download(session, url, filename="x.mp3", max_bytes=1024)
    assert isinstance(fetched, media.Skipped)
