"""Hostile input from members, and secrets that must never show: end to end with the real bot.

* Mentions written by members (in prompts, titles, lyrics, jam themes and lines) never ping
  anyone: every message the bot sends is checked against Discord's `allowed_mentions` rules.
* Markdown in titles cannot break an embed; odd Unicode, out-of-range numbers and malformed times
  get a clear private message and cost nothing.
* After a run through every error path, neither token nor any callback secret appears in a log
  record, a traceback, a message a member can see, or the database file.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
import pytest

from tests.conftest import DISCORD_TOKEN, PRODUCER_TOKEN
from tests.fakes.fake_discord import FakeInteraction, FakeMessage
from tests.harness import World, embed_field, free_port, today

HOSTILE = "@everyone @here <@&{role}> <@{user}> **bold** __u__ ~~s~~ `code` [link](https://evil.example) # Head"
USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")


def pings(message: FakeMessage) -> set[str]:
    """Who Discord would notify for this message's content, given its `allowed_mentions`."""
    content = message.content
    allowed = message.allowed_mentions
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
    users = set() if allowed is None else {str(user) for user in allowed.get("users") or []}
    roles = set() if allowed is None else {str(role) for role in allowed.get("roles") or []}
    found = {f"user:{u}" for u in USER_MENTION.findall(content) if "users" in parse or u in users}
    found |= {f"role:{r}" for r in ROLE_MENTION.findall(content) if "roles" in parse or r in roles}
    if ("@everyone" in content or "@here" in content) and "everyone" in parse:
        found.add("everyone")
    return found


def everything_sent(world: World) -> list[FakeMessage]:
    messages = [m for channel in world.discord.messages.values() for m in channel if m.author_id != world.member_id]
    return [m for m in messages if m.author_id == world.discord.bot_user_id]


def assert_only_requester_pinged(world: World) -> None:
    for message in everything_sent(world):
        assert pings(message) <= {f"user:{world.member_id}"}, (message.content, message.allowed_mentions)


async def test_mentions_and_markdown_from_members_never_ping_or_break_embeds(world: World) -> None:
    await world.start_bot(callbacks=True)
    other = world.discord.add_user("bob")
    hostile = HOSTILE.format(role=world.guild_id + 1, user=other)
    command = await world.discord.invoke_slash("compose", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: command.modal)
    await world.discord.submit_modal(
        command,
        {
            "compose:title": f"**{hostile[:80]}",
            "compose:style": hostile[:150],
            "compose:lyrics": f"[Verse]\n{hostile}\n@everyone sing along <@{other}>",
        },
    )
    song = await world.wait_for_song()
    await world.settle()
    assert_only_requester_pinged(world)
    embed = song.embeds[0]
    # Markdown from the title is shown, not interpreted: every marker is escaped.
    assert embed["title"].startswith("\\*\\*@everyone") and "\\*\\*bold\\*\\* \\_\\_u\\_\\_" in embed["title"]
    assert "\\*\\*bold\\*\\*" in embed["description"]
    assert "\\_\\_u\\_\\_" in embed_field(song, "Lyrics")
    # The status line shows the title escaped too, and can ping nobody.
    status = [m for m in everything_sent(world) if m.content.startswith("✅")]
    assert status and all(pings(m) == set() for m in status)


async def test_a_jam_of_hostile_lines_pings_nobody(world: World) -> None:
    await world.start_bot(callbacks=True)
    other = world.discord.add_user("bob")
    hostile = HOSTILE.format(role=world.guild_id + 1, user=other)[:100]
    start = await world.discord.invoke_slash(
        "jam start", {"theme": "@everyone <@&1> party"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: start.followups)
    (thread,) = [cid for cid, channel in world.discord.channels.items() if channel.type in (11, 12)]
    added = await world.discord.invoke_slash("jam add", {"line": hostile}, user_id=other, channel_id=thread)
    await world.discord.wait_for(lambda: added.responses)
    finish = await world.discord.invoke_slash("jam finish", {}, user_id=world.member_id, channel_id=thread)
    await world.wait_for_song(thread, timeout=15)
    await world.settle()
    assert finish.responses
    assert_only_requester_pinged(world)  # the theme and the lines reach Discord, but ping nobody
    assert any(
        "@everyone" in message.content or "@everyone" in json.dumps(message.embeds)
        for message in everything_sent(world)
    )


@pytest.mark.parametrize(
    ("command", "options", "expected"),
    [
        ("generate", {"prompt": "🎵" * 201}, "`prompt` is 201 characters long; the limit is 200."),
        ("generate", {"prompt": "\u200b\u202e\u2066\x00 \t"}, "`prompt` cannot be empty."),
        ("generate", {"prompt": "ok", "title": "x" * 101}, "`title` is 101 characters long; the limit is 100."),
        ("generate", {"prompt": "ok", "weirdness": 1e308}, "`weirdness` must be between 0 and 1"),
        ("generate", {"prompt": "ok", "weirdness": -1e-9}, "`weirdness` must be between 0 and 1"),
        ("compose", {"sound_strength": 2}, "`sound_strength` must be between 0.2 and 1"),
    ],
    ids=["long-emoji", "only-invisible", "long-title", "huge-number", "tiny-negative", "out-of-range"],
)
async def test_odd_input_gets_a_clear_private_message_and_costs_nothing(
    world: World, command: str, options: dict[str, Any], expected: str
) -> None:
    await world.start_bot()
    interaction = await world.discord.invoke_slash(
        command, options, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: interaction.responses)
    (response,) = interaction.responses
    assert response["type"] == 4 and response["data"]["flags"] & 64
    assert expected in response["data"]["content"]
    assert world.producer.audio_requests == [] and await world.repo.quota_used(world.guild_id, today()) == 0


async def test_malformed_times_get_clear_messages(world: World) -> None:
    await world.start_bot(callbacks=True)
    await world.discord.invoke_slash(
        "generate", {"prompt": "base"}, user_id=world.member_id, channel_id=world.channel_id
    )
    song = await world.wait_for_song()
    song_id = embed_field(song, "Song id").strip("`")
    cases = [
        ({"at": "1:99"}, "seconds must be below 60"),
        ({"at": "-5"}, "must be seconds"),
        ({"at": "1e3"}, "must be seconds"),
        ({"at": "١:٠٠:٠٠"}, "must be between 0:00 and 2:15"),  # Arabic-Indic digits: an hour, too far
        ({"at": "9" * 12}, "must be between 0:00 and 2:15"),
        ({"at": "0x10"}, "must be seconds"),
    ]
    for options, expected in cases:
        interaction = await world.discord.invoke_slash(
            "extend", {"song": song_id, **options}, user_id=world.member_id, channel_id=world.channel_id
        )
        text = await private_text(world, interaction)
        assert expected in text, (options, text)
    assert len(world.producer.audio_requests) == 1
    assert await world.repo.quota_used(world.guild_id, today()) == 1


async def private_text(world: World, interaction: FakeInteraction) -> str:
    await world.discord.wait_for(
        lambda: (
            (interaction.responses and interaction.responses[0]["type"] == 4)
            or (interaction.followups and interaction.followups[-1].ephemeral)
        )
    )
    if interaction.responses[0]["type"] == 4:
        return str(interaction.responses[0]["data"]["content"])
    return interaction.followups[-1].content


async def test_no_token_or_callback_secret_leaks_on_any_error_path(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Drive every error path once, capturing all logs at DEBUG, then look for secrets everywhere."""
    caplog.set_level(logging.DEBUG)
    # Two songs below stay waiting (unconfirmed); room for the rest to run meanwhile.
    await world.start_bot(callbacks=True, POLL_INTERVAL="1", MAX_RUNNING_PER_MEMBER="4")
    bot = world.bot
    assert bot is not None
    bot.api._backoff = 0.01
    bot.delivery.retry_base = 0.1
    bot.delivery._download_timeout = 0.5
    paths = 0

    async def generate(prompt: str) -> FakeInteraction:
        return await world.discord.invoke_slash(
            "generate", {"prompt": prompt}, user_id=world.member_id, channel_id=world.channel_id
        )

    async def settled(interaction: FakeInteraction) -> None:
        await world.discord.wait_for(
            lambda: (
                (interaction.followups and interaction.followups[-1].ephemeral)
                or (interaction.original is not None and interaction.original.content[:1] in {"✅", "❌"})
            ),
            timeout=15,
        )
        await world.settle()

    # The API refuses the token; answers 5xx without taking it (and the lookup fails too); takes it
    # but answers 502; rate-limits past the retries; cannot be reached at all.
    for status, code, times in [(401, "invalid_token", 1), (429, "too_many_requests", 5)]:
        world.producer.fail_next("/producer/audios", status=status, code=code, times=times)
        await settled(await generate(f"api {code}"))
        paths += 1

    async def unconfirmed(interaction: FakeInteraction) -> None:
        """A 5xx or no answer: the song waits, unconfirmed, for its deadline (it may have been taken)."""
        await world.discord.wait_for(
            lambda: interaction.original is not None and "not confirmed it yet" in interaction.original.content,
            timeout=15,
        )
        await world.settle()

    world.producer.fail_next("/producer/audios", status=500, code="api_error")
    world.producer.fail_next("/producer/tasks", status=500, code="api_error")
    await unconfirmed(await generate("api 500"))
    world.producer.accept_then_fail_next(status=502, code="api_error")
    await settled(await generate("api 502 taken"))
    real_base = bot.api._base
    bot.api._base = f"http://127.0.0.1:{free_port()}"
    await unconfirmed(await generate("api unreachable"))
    bot.api._base = real_base
    paths += 3
    # A failed task, an error as a plain string, a file that cannot be fetched.
    for script in ({"outcome": "failure"}, {"outcome": "failure_string_error"}, {"media_status": 404}):
        world.producer.script(**script)  # type: ignore[arg-type]
        await settled(await generate(f"script {script}"))
        paths += 1
    # Discord: 503 at delivery, missing permissions, and DMs closed as well.
    world.discord.fail_next("POST", rf"/channels/{world.channel_id}/messages$", status=503, times=1)
    await settled(await generate("discord 503"))
    world.discord.fail_next("POST", rf"/channels/{world.channel_id}/messages$", status=403, code=50013, times=1)
    await settled(await generate("discord 403"))
    world.discord.close_dms(world.member_id)
    world.discord.fail_next("POST", rf"/channels/{world.channel_id}/messages$", status=403, code=50013, times=1)
    await settled(await generate("dms closed"))
    world.discord.fail_next("POST", r"/interactions/\d+/[^/]+/callback", status=404, code=10062, times=1)
    await generate("expired")
    paths += 4
    # Forged and malformed callbacks.
    async with aiohttp.ClientSession() as http:
        for path, body in [("/callbacks/" + "A" * 43, b"{}"), ("/callbacks/x", b"{"), ("/callbacks/x", b"[]")]:
            async with http.post(world.webhook_base + path, data=body) as response:
                assert response.status in {400, 404}
        paths += 1
    await world.settle()

    secrets = [DISCORD_TOKEN, PRODUCER_TOKEN]
    for request in world.producer.audio_requests:
        url = request.get("callback_url")
        if isinstance(url, str):
            secrets.append(url.rsplit("/", 1)[1])
    assert len(secrets) > 5  # the callback secrets of every submitted request

    texts: list[str] = []
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
    for channel in world.discord.messages.values():
        texts.extend(json.dumps([m.content, m.embeds]) for m in channel)
    for interaction in world.discord.interactions.values():
        texts.append(json.dumps(interaction.responses))
    assert world.settings is not None
    database = b"".join(
        path.read_bytes() for path in world.settings.database_path.parent.glob(world.settings.database_path.name + "*")
    )
    for secret in secrets:
        assert not any(secret in text for text in texts), f"a secret leaked: {secret[:6]}…"
        assert secret.encode() not in database
    assert not any("Bearer" in text for text in texts)
    assert any(record.levelno >= logging.WARNING for record in caplog.records)  # the paths were really taken
    assert paths == 13
