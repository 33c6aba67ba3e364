"""The WAV and Video buttons under the same limits as the other ways of posting a song: only where the member
may post, one press per member per cooldown, and downloads within the delivery's media slots."""

from __future__ import annotations

import asyncio

import pytest

from bot.songs.delivery import MEDIA_SLOTS
from tests.fakes.fake_discord import FakeMessage
from tests.harness import World, private_reply
from tests.songs.test_exports_flow import a_song, private_answer
from tests.songs.test_favourites_flow import make

SEND_MESSAGES = 1 << 11


def videos(world: World) -> list[FakeMessage]:
    return [
        m for m in world.discord.messages[world.channel_id] if any(a.filename.endswith(".mp4") for a in m.attachments)
    ]


async def test_wav_and_video_are_refused_where_the_member_cannot_post(world: World) -> None:
    """In a channel where the member may not send messages, both buttons answer privately and nothing is made."""
    await world.start_bot(callbacks=True)
    message, song_id = await a_song(world)
    world.discord.set_overwrite(world.channel_id, world.guild_id, deny=SEND_MESSAGES)
    for kind in ("wav", "video"):
        click = await world.discord.click_button(message, f"song:{kind}:{song_id}", user_id=world.member_id)
        assert "You cannot send messages in this channel" in await private_reply(world, click), kind
    assert world.producer.wav_requests == [] and world.producer.video_requests == []
    assert videos(world) == []


async def test_wav_and_video_have_a_per_member_cooldown(world: World) -> None:
    """A second WAV, or a second video posted, by the same member right away is refused privately;
    another member may press; a pointer to a video already posted is never refused."""
    await world.start_bot(callbacks=True)
    first, first_id = await make(world, "first song")
    second, second_id = await make(world, "second song")
    assert first_id != second_id

    wav = await world.discord.click_button(first, f"song:wav:{first_id}", user_id=world.member_id)
    assert (await private_answer(world, wav)).attachments
    again = await world.discord.click_button(second, f"song:wav:{second_id}", user_id=world.member_id)
    assert "Not so fast: you can do that again <t:" in await private_reply(world, again)
    assert world.producer.wav_requests == [{"audio_id": first_id}]
    bob = world.discord.add_user("bob")
    theirs = await world.discord.click_button(second, f"song:wav:{second_id}", user_id=bob)
    assert (await private_answer(world, theirs)).attachments

    video = await world.discord.click_button(first, f"song:video:{first_id}", user_id=world.member_id)
    assert "Posted the video" in (await private_answer(world, video)).content
    refused = await world.discord.click_button(second, f"song:video:{second_id}", user_id=world.member_id)
    assert "Not so fast: you can do that again <t:" in await private_reply(world, refused)
    pointer = await world.discord.click_button(first, f"song:video:{first_id}", user_id=world.member_id)
    assert "already here" in (await private_answer(world, pointer)).content
    assert len(videos(world)) == 1 and world.producer.video_requests == [{"audio_id": first_id}]


async def test_wav_downloads_share_the_deliveries_media_slots(world: World) -> None:
    """MEDIA_SLOTS + 1 members press WAV while Discord is slow to take the files: only MEDIA_SLOTS files are
    fetched and held at once; the last member's WAV comes once a slot frees, and everyone gets theirs."""
    await world.start_bot(callbacks=True)
    message, song_id = await a_song(world)
    wav_path = f"/media/{song_id}.wav"
    uploads = world.discord.hold("POST", r"^/webhooks/\d+/[^/]+$")  # the private follow-ups with the files

    def held() -> int:
        return sum(1 for method, path in world.discord.requests if method == "POST" and path.startswith("/webhooks/"))

    members = [world.discord.add_user(f"fan{n}") for n in range(MEDIA_SLOTS + 1)]
    clicks = await asyncio.gather(
        *(world.discord.click_button(message, f"song:wav:{song_id}", user_id=member) for member in members)
    )
    await world.discord.wait_for(lambda: held() == MEDIA_SLOTS)
    with pytest.raises(TimeoutError):  # nothing more is fetched while the slots are taken
        await world.discord.wait_for(
            lambda: held() > MEDIA_SLOTS or world.producer.media_requests.count(wav_path) > MEDIA_SLOTS, timeout=1.5
        )
    assert world.producer.media_requests.count(wav_path) == MEDIA_SLOTS

    uploads.set()
    for click in clicks:
        answer = await private_answer(world, click)
        assert answer.attachments[0].data == world.producer.media_bytes(f"{song_id}.wav")
    assert world.producer.media_requests.count(wav_path) == MEDIA_SLOTS + 1
