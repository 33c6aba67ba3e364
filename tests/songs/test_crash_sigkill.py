"""SIGKILL at every stage of a song, then a restart: one message, or one clear failure with a refund.

The bot is the real entry point (`python -m bot`) in a child process, on a real SQLite file (or a
PostgreSQL database, for the tests marked with both backends), talking
to the fake Discord and the fake Producer API over sockets. It is killed with SIGKILL: by the test,
at a moment the test can see from outside, or by itself at a crash point (see `crash_helpers`).
After the restart each test checks what a member would notice: the messages in the channel, the
status line, the quota, and that the API was asked for the song once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.settings import Settings
from bot.storage import Repository, Task, open_repository
from tests.conftest import PRODUCER_TOKEN
from tests.crash_helpers import BotProcess
from tests.fakes.fake_discord import FakeInteraction, FakeMessage
from tests.harness import World, embed_field, free_port, today
from tests.postgres import both_backends


class Crashable:
    """The fakes from `world`, and the bot as a child process on `tmp_path/bot.db` (or PostgreSQL)."""

    def __init__(self, world: World, tmp_path: Path) -> None:
        self.world = world
        self.settings: Settings = world.make_settings()
        self.db = self.settings.database_path
        self.tmp_path = tmp_path
        self.bot: BotProcess | None = None

    def configure(self, *, callbacks: bool, **extra: str) -> BotProcess:
        port = free_port()
        env = {
            "DISCORD_TOKEN": self.world.discord.token,
            "PRODUCER_API_TOKEN": PRODUCER_TOKEN,
            "PRODUCER_API_BASE": self.world.producer.base_url,
            "DATABASE_PATH": str(self.db),
            "DATABASE_URL": str(self.settings.database_url or ""),
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": str(port),
            "POLL_INTERVAL": "1",
            # On PostgreSQL a restarted process cannot tell its earlier life's claims from a live
            # process's: it takes them over when their lease runs out, so keep that short here.
            "LEASE_SECONDS": "3",
            "ALLOW_PRIVATE_MEDIA_HOSTS": "true",  # the fake API serves media from 127.0.0.1
            **extra,
        }
        if callbacks:
            env["PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        self.bot = BotProcess(
            discord_api=self.world.discord.api_base, gateway=self.world.discord.gateway_url, env=env, cwd=self.tmp_path
        )
        return self.bot

    async def generate(self, prompt: str) -> FakeInteraction:
        return await self.world.discord.invoke_slash(
            "generate", {"prompt": prompt}, user_id=self.world.member_id, channel_id=self.world.channel_id
        )

    async def _open(self) -> Repository:
        return await open_repository(self.settings)

    async def tasks(self) -> list[Task]:
        repo = await self._open()
        try:
            return await repo.tasks_in_states(
                "queued", "reserved", "pending", "received", "delivering", "delivered", "failed", "cancelled"
            )
        finally:
            await repo.close()

    async def quota_used(self) -> int:
        repo = await self._open()
        try:
            return await repo.quota_used(self.world.guild_id, today())
        finally:
            await repo.close()


@pytest.fixture
async def crash(world: World, tmp_path: Path) -> AsyncIterator[Crashable]:
    harness = Crashable(world, tmp_path)
    try:
        yield harness
    finally:
        if harness.bot is not None:
            await harness.bot.stop()
            # Neither token nor any callback secret in the real process's log, crashes included.
            secrets = [world.discord.token, PRODUCER_TOKEN]
            secrets += [
                str(r["callback_url"]).rsplit("/", 1)[1] for r in world.producer.audio_requests if "callback_url" in r
            ]
            assert not [secret[:6] for secret in secrets if secret in harness.bot.output]


async def finish_and_check_one_song(crash: Crashable, interaction: FakeInteraction) -> None:
    """Exactly one song message, the status line pointing at it, one charge kept, nothing pending."""
    world = crash.world
    song = await world.wait_for_song(timeout=20)
    await world.discord.wait_for(lambda: "✅" in interaction.original.content, timeout=20)
    assert crash.bot is not None
    await crash.bot.stop()
    assert world.songs_in_channel() == [song]
    assert song.jump_url in interaction.original.content
    (api_task,) = world.producer.tasks.values()
    assert embed_field(song, "Song id") == f"`{api_task.songs[0]['id']}`"
    (attachment,) = song.attachments
    assert attachment.data == world.producer.media_bytes(f"{api_task.songs[0]['id']}.mp3")
    (task,) = await crash.tasks()
    assert task.state == "delivered" and not task.refunded and task.api_task_id == api_task.task_id
    assert await crash.quota_used() == 1
    assert len(world.producer.audio_requests) == 1, "the song was asked for twice"


async def test_killed_after_charging_before_submitting_fails_once_with_refund(crash: Crashable) -> None:
    world = crash.world
    bot = crash.configure(callbacks=True)
    await bot.start(crash_at="before_submit")
    interaction = await crash.generate("never sent")
    await bot.wait_crashed("before_submit")
    assert world.producer.audio_requests == []
    assert await crash.quota_used() == 1  # charged, and the process died right there

    await bot.start()
    notice = await world.discord.wait_for_message(
        world.channel_id, lambda m: "refunded" in m.content and m.id != interaction.original.id, timeout=20
    )
    await world.discord.wait_for(lambda: "❌" in interaction.original.content, timeout=20)
    await bot.stop()
    assert f"<@{world.member_id}>" in notice.content and "no record of it" in notice.content
    assert "refunded" in interaction.original.content
    (task,) = await crash.tasks()
    assert task.state == "failed" and task.refunded
    assert await crash.quota_used() == 0
    assert world.producer.audio_requests == [], "a request the bot could not confirm was sent again"
    assert world.songs_in_channel() == []
    # The restart asked the API for its recent tasks (no ids), rather than guessing.
    assert any("ids" not in body for _, body in world.producer.task_requests)


@pytest.mark.parametrize("callbacks", [True, False], ids=["callback-mode", "polling-mode"])
async def test_killed_after_the_api_accepted_before_recording_finds_the_task(crash: Crashable, callbacks: bool) -> None:
    """The API took (and billed) the request, the bot died before recording its task id: found, not resent."""
    world = crash.world
    bot = crash.configure(callbacks=callbacks)
    await bot.start(crash_at="submitted_unrecorded")
    interaction = await crash.generate("accepted then lost")
    await bot.wait_crashed("submitted_unrecorded")
    (api_task,) = await world.producer.wait_for_task_count(1)
    await world.producer.wait_for(lambda: api_task.finished)
    if callbacks:
        await world.producer.wait_for(lambda: world.producer.callbacks_sent)
        assert world.producer.callbacks_sent[0][1] == 0  # nobody was listening: that callback is lost

    await bot.start()
    await finish_and_check_one_song(crash, interaction)


@both_backends
async def test_killed_while_generating_callback_lost_while_down(crash: Crashable) -> None:
    """Killed after submitting, before the callback; the callback comes while the bot is down."""
    world = crash.world
    world.producer.script(outcome="never")
    bot = crash.configure(callbacks=True)
    await bot.start()
    interaction = await crash.generate("while you were out")
    (api_task,) = await world.producer.wait_for_task_count(1)
    await world.discord.wait_for(lambda: "Generating" in interaction.original.content, timeout=20)
    await bot.kill()
    await world.producer.complete(api_task.task_id)
    assert world.producer.callbacks_sent[-1][1] == 0

    await bot.start()  # the first sweep asks /producer/tasks about every pending task at once
    await finish_and_check_one_song(crash, interaction)
    assert any(body.get("ids") == [api_task.task_id] for _, body in world.producer.task_requests)


async def test_killed_while_generating_callback_arrives_after_restart(crash: Crashable) -> None:
    world = crash.world
    world.producer.script(outcome="never")
    bot = crash.configure(callbacks=True, CALLBACK_GRACE="600")
    await bot.start()
    interaction = await crash.generate("after the restart")
    (api_task,) = await world.producer.wait_for_task_count(1)
    await world.discord.wait_for(lambda: "Generating" in interaction.original.content, timeout=20)
    await bot.kill()

    await bot.start()
    await world.producer.wait_for(lambda: world.producer.task_requests)  # the start-up sweep: still pending
    await world.producer.complete(api_task.task_id)
    assert world.producer.callbacks_sent[-1][1] == 200
    await finish_and_check_one_song(crash, interaction)


@both_backends
async def test_killed_after_the_result_was_stored_before_delivery(crash: Crashable) -> None:
    world = crash.world
    bot = crash.configure(callbacks=True)
    await bot.start(crash_at="result_stored")
    interaction = await crash.generate("stored not posted")
    await bot.wait_crashed("result_stored")
    assert world.songs_in_channel() == []
    (task,) = await crash.tasks()
    assert task.state in {"received", "delivering"}

    await bot.start()
    await finish_and_check_one_song(crash, interaction)


@pytest.mark.parametrize("history", ["readable", "unreadable"])
async def test_killed_after_posting_before_recording_posts_no_duplicate(crash: Crashable, history: str) -> None:
    """The message is in the channel but the database never learned its id.

    On restart the bot finds it in the channel's history; when the history cannot be read, the
    message nonce makes Discord answer the repeat with the first message instead of a second one.
    """
    world = crash.world
    bot = crash.configure(callbacks=True)
    await bot.start(crash_at="message_posted")
    interaction = await crash.generate("posted not recorded")
    await bot.wait_crashed("message_posted")
    assert len(world.songs_in_channel()) == 1
    (task,) = await crash.tasks()
    assert task.state == "delivering"
    if history == "unreadable":
        world.discord.fail_next("GET", r"/channels/\d+/messages$", status=403, code=50001, times=10)

    await bot.start()
    await finish_and_check_one_song(crash, interaction)
    assert world.discord.nonce_replays == (1 if history == "unreadable" else 0)


async def test_killed_in_the_middle_of_a_download(crash: Crashable) -> None:
    """Killed from outside while the audio is half downloaded: the restart posts it once, whole."""
    world = crash.world
    world.producer.script(media_drip_delay=0.05)  # 64 chunks of 1 KiB: about three seconds
    bot = crash.configure(callbacks=True)
    await bot.start()
    interaction = await crash.generate("slow file")
    (api_task,) = await world.producer.wait_for_task_count(1)
    await world.producer.wait_for(lambda: api_task.songs and any(".mp3" in p for p in world.producer.media_requests))
    await bot.kill()
    song_id = api_task.songs[0]["id"]
    world.producer.set_media(f"{song_id}.mp3", world.producer.media_bytes(f"{song_id}.mp3") or b"")
    (task,) = await crash.tasks()
    assert task.state == "delivering" and world.songs_in_channel() == []

    await bot.start()
    await finish_and_check_one_song(crash, interaction)


@both_backends
async def test_compounding_crashes_every_request_ends_exactly_once(crash: Crashable) -> None:
    """Six lives of the bot, five ended by SIGKILL, one of them while recovering from the previous.

    A: stored, then the restart dies posting it (after the post, before recording it); B: accepted
    by the API, then the bot dies before recording it; C: charged, then the bot dies before sending
    it; D: stored, then the bot dies; E: a normal song. In the end every request has exactly one
    outcome a member can see, the quota matches what was delivered, and the API made each song once.
    """
    world = crash.world
    bot = crash.configure(callbacks=True)

    async def outcome(interaction: FakeInteraction, mark: str) -> None:
        await world.discord.wait_for(
            lambda: interaction.original is not None and interaction.original.content.startswith(mark), timeout=20
        )

    await bot.start(crash_at="result_stored")
    song_a = await crash.generate("song A")
    await bot.wait_crashed("result_stored")

    await bot.start(crash_at="message_posted", until_crash=True)  # dies recovering A

    await bot.start(crash_at="submitted_unrecorded")
    await outcome(song_a, "✅")
    song_b = await crash.generate("song B")
    await bot.wait_crashed("submitted_unrecorded")

    await bot.start(crash_at="before_submit")
    await outcome(song_b, "✅")
    song_c = await crash.generate("song C")
    await bot.wait_crashed("before_submit")

    await bot.start(crash_at="result_stored")
    await outcome(song_c, "❌")
    song_d = await crash.generate("song D")
    await bot.wait_crashed("result_stored")

    await bot.start()
    await outcome(song_d, "✅")
    song_e = await crash.generate("song E")
    await outcome(song_e, "✅")
    await bot.stop()

    requests = [song_a, song_b, song_c, song_d, song_e]
    tasks = await crash.tasks()
    assert [task.state for task in tasks] == ["delivered", "delivered", "failed", "delivered", "delivered"]
    assert [task.refunded for task in tasks] == [False, False, True, False, False]
    songs = world.songs_in_channel()
    song_ids = [embed_field(message, "Song id") for message in songs]
    assert len(songs) == 4 and len(set(song_ids)) == 4, "a duplicate song message"
    for interaction, message in zip([song_a, song_b, song_d, song_e], songs, strict=True):
        assert message.jump_url in interaction.original.content
    assert "refunded" in song_c.original.content
    assert await crash.quota_used() == 4
    api_ids = [task.api_task_id for task in tasks if task.api_task_id]
    assert len(api_ids) == len(set(api_ids)) == len(world.producer.tasks) == len(world.producer.audio_requests) == 4
    assert len(requests) == len(tasks)


async def test_killed_after_posting_stems_before_recording_posts_no_duplicate(crash: Crashable) -> None:
    """Stems have no "Song id" field: the restart still recognises the posted zip (title + source song)."""
    world = crash.world
    bot = crash.configure(callbacks=True)
    await bot.start()
    first = await crash.generate("the source")
    source = await world.wait_for_song(timeout=20)
    await world.discord.wait_for(lambda: first.original.content.startswith("✅"), timeout=20)
    await bot.stop()

    await bot.start(crash_at="message_posted")
    stems = await world.discord.invoke_slash(
        "stems",
        {"song": embed_field(source, "Song id").strip("`")},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    await bot.wait_crashed("message_posted")

    def zips() -> list[FakeMessage]:
        return [
            m for m in world.discord.messages[world.channel_id] if m.embeds and m.embeds[0]["title"].startswith("Stems")
        ]

    assert len(zips()) == 1
    await bot.start()
    await world.discord.wait_for(
        lambda: stems.original is not None and stems.original.content.startswith("✅"), timeout=20
    )
    await bot.stop()
    (posted,) = zips()
    assert posted.jump_url in stems.original.content
    assert world.discord.nonce_replays == 0  # found in the history, not saved by the nonce
    assert [task.state for task in await crash.tasks()] == ["delivered", "delivered"]
