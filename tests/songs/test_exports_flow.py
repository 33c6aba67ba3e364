"""The WAV and Video buttons on every song, end to end: what the API got, what the member saw, what was kept."""

from __future__ import annotations

from tests.fakes.fake_discord import FakeInteraction, FakeMessage
from tests.harness import World, embed_field, generate
from tests.postgres import both_backends

MIB = 1024 * 1024


async def a_song(world: World, prompt: str = "a song for Christmas") -> tuple[FakeMessage, str]:
    await generate(world, prompt)
    message = await world.wait_for_song()
    return message, embed_field(message, "Song id").strip("`")


async def private_answer(world: World, click: FakeInteraction) -> FakeMessage:
    await world.discord.wait_for(
        lambda: click.followups and (click.followups[-1].content or click.followups[-1].attachments)
    )
    answer = click.followups[-1]
    assert answer.ephemeral
    return answer


async def test_every_song_has_wav_and_video_buttons(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, song_id = await a_song(world)
    ids = [c.get("custom_id") for row in message.components for c in row.get("components", [])]
    assert f"song:wav:{song_id}" in ids and f"song:video:{song_id}" in ids
    labels = [c.get("label") for row in message.components for c in row.get("components", [])]
    assert "WAV" in labels and "Video" in labels


@both_backends
async def test_wav_is_sent_privately_attached_and_a_second_press_does_not_ask_the_api_again(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, song_id = await a_song(world)
    channel_messages = len(world.discord.messages[world.channel_id])

    first = await world.discord.click_button(message, f"song:wav:{song_id}", user_id=world.member_id)
    answer = await private_answer(world, first)
    assert world.producer.wav_requests == [{"audio_id": song_id}]
    assert len(answer.attachments) == 1 and answer.attachments[0].filename.endswith(".wav")
    assert answer.attachments[0].data == world.producer.media_bytes(f"{song_id}.wav")
    stored = await world.repo.song_copy(song_id, "wav")
    assert stored is not None and stored.url == world.producer.media_url(f"{song_id}.wav")

    other = world.discord.add_user("bob")
    second = await world.discord.click_button(message, f"song:wav:{song_id}", user_id=other)
    again = await private_answer(world, second)
    assert world.producer.wav_requests == [{"audio_id": song_id}]  # remembered: no second API call
    assert again.attachments[0].data == answer.attachments[0].data
    # Nothing new in the channel: both answers were private.
    assert len([m for m in world.discord.messages[world.channel_id] if not m.ephemeral]) == len(
        [m for m in world.discord.messages[world.channel_id][:channel_messages] if not m.ephemeral]
    )


async def test_wav_over_the_upload_limit_is_a_link(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, song_id = await a_song(world)
    world.producer.wav_size = 11 * MIB  # over the 10 MiB of an unboosted server
    click = await world.discord.click_button(message, f"song:wav:{song_id}", user_id=world.member_id)
    answer = await private_answer(world, click)
    assert answer.attachments == []
    assert world.producer.media_url(f"{song_id}.wav") in answer.content
    assert "upload limit" in answer.content


async def test_wav_refused_by_the_api_is_a_clear_private_message(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, song_id = await a_song(world)
    world.producer.fail_next("/producer/wav", status=500, code="api_error", message="fetch failed")
    click = await world.discord.click_button(message, f"song:wav:{song_id}", user_id=world.member_id)
    answer = await private_answer(world, click)
    assert "Could not get the WAV" in answer.content and "Traceback" not in answer.content
    assert await world.repo.song_copy(song_id, "wav") is None  # not remembered: the next press asks again


@both_backends
async def test_video_is_posted_as_a_reply_to_the_song_once(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, song_id = await a_song(world)
    click = await world.discord.click_button(message, f"song:video:{song_id}", user_id=world.member_id)
    pointer = await private_answer(world, click)
    assert world.producer.video_requests == [{"audio_id": song_id}]
    posted = await world.discord.wait_for_message(
        world.channel_id, lambda m: bool(m.attachments) and m.id != message.id
    )
    assert posted.message_reference is not None and int(posted.message_reference["message_id"]) == message.id
    assert posted.attachments[0].filename.endswith(".mp4")
    assert posted.attachments[0].data == world.producer.media_bytes(f"{song_id}.mp4")
    assert posted.jump_url in pointer.content
    stored = await world.repo.song_copy(song_id, "video")
    assert stored is not None and stored.message_id == posted.id and stored.channel_id == world.channel_id

    second = await world.discord.click_button(message, f"song:video:{song_id}", user_id=world.member_id)
    again = await private_answer(world, second)
    assert "already here" in again.content and posted.jump_url in again.content
    assert world.producer.video_requests == [{"audio_id": song_id}]
    videos = [
        m for m in world.discord.messages[world.channel_id] if any(a.filename.endswith(".mp4") for a in m.attachments)
    ]
    assert videos == [posted]


async def test_video_over_the_upload_limit_is_linked(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, song_id = await a_song(world)
    world.producer.video_size = 11 * MIB
    click = await world.discord.click_button(message, f"song:video:{song_id}", user_id=world.member_id)
    await private_answer(world, click)
    posted = await world.discord.wait_for_message(
        world.channel_id, lambda m: m.id != message.id and not m.ephemeral and "the video" in m.content
    )
    assert posted.attachments == []
    assert world.producer.media_url(f"{song_id}.mp4") in posted.content
    assert int(posted.message_reference["message_id"]) == message.id  # type: ignore[index]
