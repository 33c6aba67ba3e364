"""Issue 10: uploads as songs, privacy, permissions, paid results kept, a start that never blocks."""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.core.logs import RedactSecrets
from bot.producer import media
from tests.fakes.fake_discord import FakeMessage, FakeUpload
from tests.harness import (
    World,
    embed_field,
    generate,
    local_server,
    private_channel,
    private_reply,
    reply_text,
    set_song_feed,
    today,
)
from tests.postgres import both_backends


def _looked_up(world: World) -> bool:
    """The bot has listed the API's recent tasks (the look-up after an unclear submit answer)."""
    return any(body.get("action") == "retrieve_batch" and "ids" not in body for _, body in world.producer.task_requests)


async def test_jam_style_and_theme_are_shown_escaped(world: World) -> None:
    """Markdown a member wrote in a jam's theme and style shows as typed, not as formatting."""
    await world.start_bot(callbacks=True)
    start = await world.discord.invoke_slash(
        "jam start",
        {"theme": "Night *owls*", "style": "**loud** _lofi_ ~~x~~"},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    assert "started a jam" in await reply_text(world, start)
    thread = next(c.id for c in world.discord.channels.values() if c.name == "Night *owls*")
    jam_message = await world.discord.wait_for_message(thread, lambda m: bool(m.embeds))
    embed = jam_message.embeds[0]
    assert embed["title"] == "🎤 Jam: Night \\*owls\\*"
    style = next(f["value"] for f in embed["fields"] if f["name"] == "Style")
    assert style == "\\*\\*loud\\*\\* \\_lofi\\_ \\~\\~x\\~\\~"


async def test_a_failing_callback_never_logs_its_secret(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """The listener's error line names the route, not `/callbacks/<secret>`; the filter blanks any that slip in."""
    await world.start_bot(callbacks=True)
    secret = secrets.token_urlsafe(32)
    assert world.bot is not None

    async def broken(secret: str, body: dict[str, Any]) -> str:
        raise RuntimeError("database is locked")

    world.bot.songs.accept_callback = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="bot.app.webhook"):
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{world.webhook_base}/callbacks/{secret}", json={"code": 200}) as response,
        ):
            assert response.status == 500
    assert "Webhook handler failed on POST /callbacks/{secret}" in caplog.text
    assert secret not in caplog.text


def test_the_log_filter_blanks_callback_urls() -> None:
    """A callback URL in a message, an argument or a traceback loses its secret (tokens already did)."""
    secret = secrets.token_urlsafe(32)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["tok-123456"]))
    logger = logging.getLogger("test.redact.callbacks")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("posting to %s", f"https://bot.example/callbacks/{secret}")
        try:
            raise RuntimeError(f"Cannot connect to https://bot.example/callbacks/{secret}?x=1")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert secret not in text
    assert "https://bot.example/callbacks/********" in text and "callbacks/********?x=1" in text


async def _compose(world: World, lyrics: str = "[Verse]\nRain on the window") -> tuple[FakeMessage, str]:
    """A song made with /compose (lyrics known); its message and id."""
    before = len(world.songs_in_channel())
    command = await world.discord.invoke_slash("compose", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: command.modal)
    submitted = await world.discord.submit_modal(
        command, {"compose:title": "Rain", "compose:style": "rainy", "compose:lyrics": lyrics}
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) > before)
    await world.discord.wait_for(lambda: submitted.original and "✅" in submitted.original.content)
    message = world.songs_in_channel()[-1]
    return message, embed_field(message, "Song id").strip("`")


async def _upload_a_song(world: World) -> str:
    """A member covers their own file; the file becomes a song (kind upload) in the library."""
    interaction = await world.discord.invoke_slash(
        "cover",
        {"style": "punk"},
        attachments={"audio": FakeUpload("demo.mp3", b"ID3" + b"\1" * 5000, "audio/mpeg")},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    await world.discord.wait_for(lambda: interaction.modal)
    await world.discord.submit_modal(interaction, {"input:lyrics": "My own words"})
    await world.wait_for_song()
    (audio_id,) = world.producer.uploaded_audio
    return audio_id


async def test_an_upload_used_as_song_gets_the_upload_actions(world: World) -> None:
    """/extend, /cover and /replace-section on an uploaded song send upload_*; the API accepts the id."""
    await world.start_bot(callbacks=True)
    upload_id = await _upload_a_song(world)
    cases = [
        ("extend", {"song": upload_id, "at": "0:10"}, "upload_extend"),
        ("cover", {"song": upload_id, "style": "swing"}, "upload_cover"),
        ("replace-section", {"song": upload_id, "start": "0:02", "end": "0:08"}, "upload_replace_section"),
    ]
    for count, (command, options, expected) in enumerate(cases, start=2):
        interaction = await world.discord.invoke_slash(
            command, options, user_id=world.member_id, channel_id=world.channel_id
        )
        await world.discord.wait_for(lambda interaction=interaction: interaction.modal)
        await world.discord.submit_modal(interaction, {"input:lyrics": "More words"})
        await world.discord.wait_for(lambda count=count: len(world.songs_in_channel()) == count)
        body = world.producer.audio_requests[-1]
        assert (body["action"], body["audio_id"]) == (expected, upload_id)


async def test_actions_without_an_upload_form_refuse_an_upload(world: World) -> None:
    """Variation, swap vocals/instrumentals and stems on an upload: a private message, nothing charged."""
    await world.start_bot(callbacks=True)
    upload_id = await _upload_a_song(world)
    used = await world.repo.quota_used(world.guild_id, today(world))
    sent = len(world.producer.audio_requests)
    for command, options in [
        ("variation", {}),
        ("swap-vocals", {}),
        ("swap-instrumentals", {"prompt": "banjo"}),
        ("stems", {}),
    ]:
        interaction = await world.discord.invoke_slash(
            command, {"song": upload_id, **options}, user_id=world.member_id, channel_id=world.channel_id
        )
        assert "only on songs the bot made" in await private_reply(world, interaction), command
    assert len(world.producer.audio_requests) == sent
    assert await world.repo.quota_used(world.guild_id, today(world)) == used


async def test_an_uploads_message_offers_only_upload_actions(world: World) -> None:
    """/show of an upload: Extend and Cover buttons only; they, reply-to-extend and menus use upload_*."""
    await world.start_bot(callbacks=True)
    upload_id = await _upload_a_song(world)
    show = await world.discord.invoke_slash(
        "show", {"song": upload_id}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "Posted" in await private_reply(world, show)
    shown = world.songs_in_channel()[-1]
    labels = [c["label"] for row in shown.components for c in row["components"]]
    assert labels == ["Extend", "Cover"]

    click = await world.discord.click_button(shown, f"song:extend:{upload_id}", user_id=world.member_id)
    await world.discord.wait_for(lambda: click.modal)
    await world.discord.submit_modal(click, {"input:at": "0:05", "input:lyrics": "Button words"})
    await world.discord.wait_for(lambda: world.producer.audio_requests[-1]["lyric"] == "Button words")
    assert world.producer.audio_requests[-1]["action"] == "upload_extend"

    await world.discord.post_user_message(
        world.channel_id, "at 0:07\nReply words", user_id=world.member_id, reply_to=shown, mentions_bot=True
    )
    await world.discord.wait_for(lambda: world.producer.audio_requests[-1]["lyric"] == "Reply words")
    body = world.producer.audio_requests[-1]
    assert (body["action"], body["audio_id"], body["continue_at"]) == ("upload_extend", upload_id, 7.0)

    menu = await world.discord.invoke_message_command(
        "Get stems", target=shown, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "only on songs the bot made" in await private_reply(world, menu)
    assert not [t for t in world.producer.audio_requests if not t["action"].startswith("upload_")]


def _open_forms(world: World) -> dict[str, Any]:
    """The modals the bot is still waiting on (discord.py's store; peeked at by the test only)."""
    assert world.bot is not None
    return dict(world.bot._connection._view_store._modals)


async def test_reopened_forms_replace_each_other_and_time_out(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forms carry `<form>:<member>` ids; a dismissed one is replaced on reopening and expires after its timeout."""
    await world.start_bot(callbacks=True)
    message, parent = await _compose(world)
    for _ in range(3):  # opened and dismissed, three times
        click = await world.discord.click_button(message, f"song:extend:{parent}", user_id=world.member_id)
        await world.discord.wait_for(lambda click=click: click.modal)
        assert click.modal["custom_id"] == f"form:extend:{world.member_id}"
    opened = _open_forms(world)
    assert list(opened) == [f"form:extend:{world.member_id}"]
    assert opened[f"form:extend:{world.member_id}"].timeout == 15 * 60
    await world.discord.submit_modal(click, {"input:lyrics": "The last one counts"})
    await world.discord.wait_for(lambda: world.producer.audio_requests[-1]["lyric"] == "The last one counts")
    await world.discord.wait_for(lambda: not _open_forms(world))  # a submitted form is done with

    monkeypatch.setattr("cogs._common.FORM_TIMEOUT", 0.2)
    dismissed = await world.discord.invoke_slash("compose", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: dismissed.modal)
    assert dismissed.modal["custom_id"] == f"compose:{world.member_id}"
    await world.discord.wait_for(lambda: not _open_forms(world))


async def test_command_sync_follows_the_application(world: World) -> None:
    """The same database on a new Discord application syncs there; an unchanged set is not synced again."""
    await world.start_bot()
    assert world.discord.sync_calls == [("global", None)]
    await world.restart_bot()
    assert world.discord.sync_calls == [("global", None)]  # unchanged: not synced again
    world.discord.new_application()
    await world.restart_bot()
    assert world.discord.sync_calls == [("global", None), ("global", None)]
    names = {command["name"] for command in world.discord.commands}
    assert {"generate", "extend", "Extend song"} <= names


async def test_leaving_dev_mode_clears_the_dev_guilds_copies(world: World) -> None:
    """After DEV_GUILD_ID is removed, the test server shows each command once (its guild copies are gone)."""
    await world.start_bot(DEV_GUILD_ID=str(world.guild_id))
    assert {c["name"] for c in world.discord.guild_commands[world.guild_id]} >= {"generate"}
    await world.stop_bot()
    await world.start_bot()
    assert world.discord.guild_commands[world.guild_id] == []
    assert ("guild", world.guild_id) == world.discord.sync_calls[-2] and world.discord.sync_calls[-1] == (
        "global",
        None,
    )
    listed = [c["name"] for c in world.discord.commands].count("generate")
    assert listed == 1


async def test_start_up_does_not_wait_for_a_slow_api(world: World) -> None:
    """With the API not answering, the restarted bot is online and healthy at once; the queue moves later."""
    await world.start_bot(callbacks=True, MAX_RUNNING_PER_GUILD="1")
    world.producer.script(outcome="never")
    first = await generate(world, "running")
    await world.discord.wait_for(lambda: first.original and "task" in first.original.content)
    second = await generate(world, "waiting")
    await world.discord.wait_for(lambda: second.original and "queued" in second.original.content)
    await world.stop_bot()

    submissions = world.producer.hold("/producer/audios")
    listings = world.producer.hold("/producer/tasks")
    await world.start_bot(callbacks=True, MAX_RUNNING_PER_GUILD="2")  # ready although nothing answers
    async with aiohttp.ClientSession() as session, session.get(f"{world.webhook_base}/healthz") as response:
        assert response.status == 200  # healthy: connected, database answering
    command = await generate(world, "while the API is slow")
    await world.discord.wait_for(lambda: command.responses)  # commands are acknowledged meanwhile
    submissions.set()
    listings.set()
    await world.discord.wait_for(lambda: len(world.producer.tasks) >= 2)
    await world.discord.wait_for(lambda: "waiting" in {t.request.get("prompt") for t in world.producer.tasks.values()})


async def test_expiring_songs_does_not_wait_for_discord(world: World) -> None:
    """Overdue songs are failed and refunded in one sweep while Discord is slow; the notices follow."""
    await world.start_bot(TASK_TIMEOUT="60", MAX_RUNNING_PER_MEMBER="4")
    assert world.bot is not None
    for n in range(3):
        world.producer.script(outcome="never")
        interaction = await generate(world, f"never done {n}")
        await world.discord.wait_for(lambda i=interaction: i.original and "task" in i.original.content)
    await world.bot.poller.stop()
    posts = world.discord.hold("POST", r"^/channels/\\d+/messages$")
    edits = world.discord.hold("PATCH", r"^/(channels|webhooks)/")
    world.clock.advance(120)
    await asyncio.wait_for(world.bot.poller.sweep(), timeout=10)  # returns although no notice could be posted
    failed = await world.repo.tasks_in_states("failed")
    assert len(failed) == 3 and all(task.refunded for task in failed)
    assert await world.repo.quota_used(world.guild_id, today(world)) == 0
    posts.set()
    edits.set()
    await world.discord.wait_for(
        lambda: (
            sum(
                m.content.startswith(f"<@{world.member_id}>") and "no result from the music service" in m.content
                for m in world.discord.messages[world.channel_id]
            )
            == 3
        )
    )


async def test_result_files_on_private_addresses_are_not_fetched(world: World) -> None:
    """By default a result URL on loopback is never fetched: the song is posted with a link instead."""
    await world.start_bot(callbacks=True, ALLOW_PRIVATE_MEDIA_HOSTS="false")
    await generate(world, "from a private host")
    song = await world.wait_for_song()
    assert song.attachments == []
    assert "not a public one" in embed_field(song, "Audio")
    assert world.producer.media_requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.mp3",
        "http://localhost/a.mp3",
        "http://[::1]/a.mp3",
        "http://10.1.2.3/a.mp3",
        "http://192.168.0.10/a.mp3",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/a.mp3",
        "http://0.0.0.0/a.mp3",
        "ftp://8.8.8.8/a.mp3",
        "file:///etc/passwd",
    ],
)
async def test_private_and_non_web_addresses_are_refused(url: str) -> None:
    """Loopback, private, link-local and unspecified addresses (also IPv4-mapped), and non-http(s) schemes."""
    assert await media.refusal(url) is not None
    assert await media.refusal("http://8.8.8.8/a.mp3") is None


@pytest.fixture
async def redirecting_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A file server on 127.0.0.1: /loop redirects to itself, /away redirects to another loopback address."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path == "/away":
            raise web.HTTPFound(f"http://127.0.0.2:{request.url.port}/a.mp3")
        if request.path.startswith("/loop"):
            raise web.HTTPFound(f"/loop{len(seen)}")
        return web.Response(body=b"ID3", content_type="audio/mpeg")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    async with local_server(app) as base:
        yield base, seen


async def test_each_redirect_is_checked_and_redirects_are_capped(
    redirecting_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redirect to a private address is refused before it is followed; a redirect loop stops after 5."""
    base, seen = redirecting_server
    monkeypatch.setattr(media, "_is_public", lambda address: address == "127.0.0.1")  # stands in for a CDN
    async with aiohttp.ClientSession() as session:
        fetched = await media.download(session, f"{base}/a.mp3", filename="a.mp3", max_bytes=1024)
        assert isinstance(fetched, media.Download) and fetched.file.read() == b"ID3"
        fetched.close()
        away = await media.download(session, f"{base}/away", filename="a.mp3", max_bytes=1024)
        assert isinstance(away, media.Skipped) and "not a public one" in away.reason
        seen.clear()
        looping = await media.download(session, f"{base}/loop", filename="a.mp3", max_bytes=1024)
    assert isinstance(looping, media.Skipped) and "redirected too many times" in looping.reason
    assert len(seen) == media.MAX_REDIRECTS + 1


async def test_a_host_that_turns_private_at_connection_time_is_not_fetched(
    redirecting_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the check saw a public address, the connection would get 127.0.0.1. The media
    session's resolver keeps only public addresses, so nothing reaches the private server."""
    base, seen = redirecting_server
    port = base.rsplit(":", 1)[1]

    async def first_answer_was_public(url: str, *, allow_private: bool = False) -> str | None:
        return None

    monkeypatch.setattr(media, "refusal", first_answer_was_public)
    url = f"http://localhost:{port}/a.mp3"
    async with media.media_session() as session:
        fetched = await media.download(session, url, filename="a.mp3", max_bytes=1024)
        assert isinstance(fetched, media.Skipped) and "public address" in fetched.reason
    assert seen == []
    async with media.media_session(allow_private=True) as session:  # the same fetch where private is allowed
        fetched = await media.download(session, url, filename="a.mp3", max_bytes=1024)
    assert isinstance(fetched, media.Download) and seen == ["/a.mp3"]
    fetched.close()


@both_backends
async def test_a_result_after_the_refund_is_still_delivered(world: World) -> None:
    """An unconfirmed submission waits until its deadline and is refunded; the genuine late callback is
    still posted, and the refund stands (refunded once)."""
    await world.start_bot(callbacks=True, TASK_TIMEOUT="60")
    assert world.bot is not None
    world.producer.script(outcome="never")
    world.producer.accept_then_fail_next(status=502, code="api_error")
    world.producer.fail_next("/producer/tasks", status=500, code="api_error", times=1)
    interaction = await generate(world, "worth the wait")
    await world.discord.wait_for(lambda: world.producer.tasks and _looked_up(world))
    await world.settle()
    world.clock.advance(120)
    await world.bot.poller.sweep()
    await world.discord.wait_for(
        lambda: interaction.original and "no result from the music service" in interaction.original.content
    )
    assert await world.repo.quota_used(world.guild_id, today(world)) == 0
    (api_task,) = world.producer.tasks.values()
    await world.producer.complete(api_task.task_id)
    song = await world.wait_for_song()
    assert song.attachments
    await world.settle()
    (task,) = await world.repo.tasks_in_states("delivered")
    assert task.refunded and await world.repo.quota_used(world.guild_id, today(world)) == 0


async def test_polling_mode_finds_an_unconfirmed_submission_later(world: World) -> None:
    """Polling mode: the submit answer was lost and the first lookup failed; a later sweep finds the task
    by its lookup and the song is delivered without sending the request again."""
    await world.start_bot(POLL_INTERVAL="1")
    world.producer.accept_then_fail_next(status=504, code="timeout")
    world.producer.fail_next("/producer/tasks", status=500, code="api_error", times=1)
    await generate(world, "found later")
    await world.wait_for_song(timeout=20)
    assert len(world.producer.audio_requests) == 1
    await world.settle()
    (task,) = await world.repo.tasks_in_states("delivered")
    assert task.api_task_id == next(iter(world.producer.tasks)) and not task.refunded


@both_backends
async def test_a_burst_of_thirty_fills_four_slots_and_twenty_places(world: World) -> None:
    """30 members at once, 4 slots and a 20-place queue: 24 accepted, 6 told the queue is full, nothing charged."""
    await world.start_bot(callbacks=True, MAX_RUNNING_PER_GUILD="4", MAX_QUEUED_PER_GUILD="20", GUILD_DAILY_QUOTA="100")
    world.producer.auto_complete = False
    members = [world.discord.add_user(f"member{n}") for n in range(30)]
    commands = await asyncio.gather(*(generate(world, f"song {n}", member) for n, member in enumerate(members)))
    texts = [await reply_text(world, command) for command in commands]
    assert sum("queue is full" in text for text in texts) == 6
    assert await world.repo.quota_used(world.guild_id, today(world)) == 24
    await world.discord.wait_for(lambda: len(world.producer.tasks) == 4)
    assert len(await world.repo.tasks_in_states("queued")) == 20


async def _jam_in_the_channel(world: World, theme: str) -> str:
    start = await world.discord.invoke_slash(
        "jam start", {"theme": theme}, user_id=world.member_id, channel_id=world.channel_id
    )
    return await reply_text(world, start)


@both_backends
async def test_a_channel_without_threads_hosts_one_jam_after_another(world: World) -> None:
    """Where threads cannot be made, a finished jam's channel takes the next jam; a failed jam message
    leaves no orphan jam holding the channel."""
    await world.start_bot(callbacks=True)
    world.discord.fail_next("POST", r"/threads$", status=403, code=50013, times=100)
    world.discord.fail_next("POST", rf"^/channels/{world.channel_id}/messages$", status=403, code=50013)
    assert "could not post the jam message" in await _jam_in_the_channel(world, "Lost")
    assert "started a jam here" in await _jam_in_the_channel(world, "First")
    assert "has a jam going on" in await _jam_in_the_channel(world, "Too soon")
    await reply_text(
        world,
        await world.discord.invoke_slash(
            "jam add", {"line": "One line"}, user_id=world.member_id, channel_id=world.channel_id
        ),
    )
    await world.discord.invoke_slash("jam finish", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.wait_for_song()
    assert "started a jam here" in await _jam_in_the_channel(world, "Second")
    status = await world.discord.invoke_slash("jam status", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: status.responses)
    assert "Second" in str(status.responses[0]["data"])


@both_backends
async def test_retention_prunes_delivery_data_but_keeps_the_song(world: World) -> None:
    """After RETENTION_DAYS the task's request/result and old usage rows are gone; the song, its lineage
    and its buttons stay (Re-roll says why it cannot repeat)."""
    await world.start_bot(callbacks=True, RETENTION_DAYS="30")
    assert world.bot is not None
    message, song_id = await _compose(world)
    await world.settle()
    day = today(world)
    world.clock.advance(31 * 86400)
    cleared, usage = await world.bot.pruner.run_once()
    assert cleared == 1 and usage >= 1
    (task,) = await world.repo.tasks_in_states("delivered")
    assert task.request == {} and task.result is None
    assert await world.repo.quota_used(world.guild_id, day) == 0
    song = await world.repo.song(song_id)
    assert song is not None and song.audio_url
    info = await world.discord.invoke_slash(
        "song info", {"song": song_id}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: info.responses)
    reroll = await world.discord.click_button(message, f"song:reroll:{song_id}", user_id=world.member_id)
    assert "too old to re-roll" in await private_reply(world, reroll)


SEND_MESSAGES = 1 << 11


async def test_buttons_menus_and_replies_follow_the_servers_command_permissions(world: World) -> None:
    """With /extend turned off for @everyone (Integrations), its button, the Extend menu and reply-to-extend
    are refused too; /cover's button still works; nothing is charged for the refusals."""
    await world.start_bot(callbacks=True)
    message, song_id = await _compose(world)
    world.discord.set_command_permissions(world.guild_id, "extend", [(world.guild_id, 1, False)])
    used = await world.repo.quota_used(world.guild_id, today(world))
    sent = len(world.producer.audio_requests)

    click = await world.discord.click_button(message, f"song:extend:{song_id}", user_id=world.member_id)
    assert "turned `/extend` off for you here" in await private_reply(world, click)
    menu = await world.discord.invoke_message_command(
        "Extend song", target=message, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "turned `/extend` off" in await private_reply(world, menu)
    reply = await world.discord.post_user_message(
        world.channel_id, "More words", user_id=world.member_id, reply_to=message, mentions_bot=True
    )
    refusal = await world.discord.wait_for_message(
        world.channel_id, lambda m: bool(m.message_reference) and m.message_reference.get("message_id") == str(reply.id)
    )
    assert "turned `/extend` off" in refusal.content and reply.reactions == []
    assert len(world.producer.audio_requests) == sent
    assert await world.repo.quota_used(world.guild_id, today(world)) == used

    cover = await world.discord.click_button(message, f"song:cover:{song_id}", user_id=world.member_id)
    await world.discord.wait_for(lambda: cover.modal)  # other commands' buttons are untouched


async def test_app_wide_and_channel_overrides_cover_roles_and_jam_mentions(world: World) -> None:
    """The whole app off for a role: its members' buttons are refused, others' work; /jam off in a channel:
    jam lines by mention in its threads are refused."""
    await world.start_bot(callbacks=True)
    message, song_id = await _compose(world)
    muted_role = world.discord.add_role(world.guild_id, "muted")
    muted = world.discord.add_user("muted member")
    world.discord.give_role(world.guild_id, muted, muted_role)
    world.discord.set_command_permissions(world.guild_id, None, [(muted_role, 1, False)])
    refused = await world.discord.click_button(message, f"song:variation:{song_id}", user_id=muted)
    assert "turned `/variation` off" in await private_reply(world, refused)
    allowed = await world.discord.click_button(message, f"song:variation:{song_id}", user_id=world.member_id)
    await world.discord.wait_for(lambda: allowed.responses)
    await world.discord.wait_for(lambda: world.producer.audio_requests[-1]["action"] == "variation")

    start = await world.discord.invoke_slash(
        "jam start", {"theme": "Quiet"}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "started a jam" in await reply_text(world, start)
    thread = next(c.id for c in world.discord.channels.values() if c.name == "Quiet")
    world.discord.set_command_permissions(world.guild_id, "jam", [(world.channel_id, 3, False)])
    line = await world.discord.post_user_message(thread, "A whispered line", user_id=world.member_id, mentions_bot=True)
    answer = await world.discord.wait_for_message(
        thread, lambda m: bool(m.message_reference) and m.message_reference.get("message_id") == str(line.id)
    )
    assert "turned `/jam` off" in answer.content and line.reactions == []
    assert await world.repo.jam_lines((await world.repo.jam_in_channel(thread)).id) == []  # type: ignore[union-attr]


async def test_no_song_is_posted_where_the_member_cannot_send_messages(world: World) -> None:
    """A read-only channel: pressing a song button there is refused privately and charges nothing."""
    await world.start_bot(callbacks=True)
    message, song_id = await _compose(world)
    world.discord.set_overwrite(world.channel_id, world.guild_id, deny=SEND_MESSAGES)
    used = await world.repo.quota_used(world.guild_id, today(world))
    click = await world.discord.click_button(message, f"song:stems:{song_id}", user_id=world.member_id)
    assert "cannot send messages in this channel" in await private_reply(world, click)
    reroll = await world.discord.click_button(message, f"song:reroll:{song_id}", user_id=world.member_id)
    assert "cannot send messages in this channel" in await private_reply(world, reroll)
    assert await world.repo.quota_used(world.guild_id, today(world)) == used


async def test_show_has_a_per_member_cooldown(world: World) -> None:
    """A second /show by the same member right away is refused privately (no upload); another member may show."""
    await world.start_bot(callbacks=True)
    _, song_id = await _compose(world)
    first = await world.discord.invoke_slash(
        "show", {"song": song_id}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "Posted" in await private_reply(world, first)
    posts = len(world.songs_in_channel())
    again = await world.discord.invoke_slash(
        "show", {"song": song_id}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "Not so fast: you can do that again <t:" in await private_reply(world, again)
    assert len(world.songs_in_channel()) == posts
    other = world.discord.add_user("bob")
    theirs = await world.discord.invoke_slash("show", {"song": song_id}, user_id=other, channel_id=world.channel_id)
    assert "Posted" in await private_reply(world, theirs)
    assert len(world.songs_in_channel()) == posts + 1


async def _choices(world: World, user_id: int) -> list[str]:
    typed = await world.discord.invoke_autocomplete(
        "show", {"song": ""}, "song", user_id=user_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: typed.responses)
    return [choice["name"].split(" ·")[0] for choice in typed.responses[0]["data"]["choices"]]


@both_backends
async def test_songs_from_a_private_channel_stay_with_those_who_can_see_it(world: World) -> None:
    """A song made in a channel hidden from @everyone (open to a role): members without the role are not
    offered it, cannot show or build on it, /songs does not count it, and the song feed does not take it."""
    await world.start_bot(callbacks=True)
    secret, insiders = private_channel(world)
    insider = world.discord.add_user("insider")
    world.discord.give_role(world.guild_id, insider, insiders)
    feed = await set_song_feed(world)

    await generate(world, "public song", title="Open")
    await world.wait_for_song()
    await world.wait_for_song(feed)
    await generate(world, "secret song", insider, secret, title="Hidden")
    hidden_message = await world.wait_for_song(secret)
    hidden_id = embed_field(hidden_message, "Song id").strip("`")
    await world.settle()
    assert len(world.songs_in_channel(feed)) == 1  # only the public song was cross-posted

    assert await _choices(world, world.member_id) == ["Open"]
    assert await _choices(world, insider) == ["Hidden", "Open"]
    for command, options in [("show", {}), ("variation", {}), ("stems", {})]:
        refused = await world.discord.invoke_slash(
            command, {"song": hidden_id, **options}, user_id=world.member_id, channel_id=world.channel_id
        )
        assert "made in a channel you cannot see" in await private_reply(world, refused), command
    browse = await world.discord.invoke_slash("songs", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: browse.responses)
    assert "· 1 song" in browse.responses[0]["data"]["embeds"][0]["footer"]["text"]
    elsewhere = await world.discord.invoke_slash(
        "show", {"song": hidden_id}, user_id=insider, channel_id=world.channel_id
    )
    assert "can only be shown there" in await private_reply(world, elsewhere)

    open_id = embed_field(world.songs_in_channel()[0], "Song id").strip("`")
    cover = await world.discord.invoke_slash(
        "cover", {"song": open_id}, user_id=insider, channel_id=secret
    )  # an insider builds on the public song, in the private channel
    await world.discord.wait_for(lambda: cover.modal)
    await world.discord.submit_modal(cover, {"input:lyrics": "Backstage words"})
    await world.discord.wait_for(lambda: len(world.songs_in_channel(secret)) == 2)
    info = await world.discord.invoke_slash(
        "song info", {"song": open_id}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: info.responses)
    made_from = info.responses[0]["data"]["embeds"][0]["fields"][0]
    assert made_from["name"] == "Made from this (0)"  # the private cover is not listed to outsiders
