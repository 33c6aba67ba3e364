"""Every Producer action on a song, by command, button, context menu and reply, end to end."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.fake_discord import FakeMessage, FakeUpload
from tests.harness import World, embed_field, private_reply, today

SONG_LYRICS_LINE = "Rain on the window"


async def make_song(world: World, prompt: str = "a rainy song", title: str = "Rain") -> tuple[FakeMessage, dict]:
    """A first song in the channel, made with /compose so its lyrics are known."""
    before = len(world.songs_in_channel())
    command = await world.discord.invoke_slash("compose", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: command.modal)
    submitted = await world.discord.submit_modal(
        command,
        {"compose:title": title, "compose:style": prompt, "compose:lyrics": f"[Verse]\n{SONG_LYRICS_LINE}\nAll night"},
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) > before)
    # The status line turns to "ready" only once the song's message is recorded: then it can be replied to.
    await world.discord.wait_for(lambda: submitted.original and "✅" in submitted.original.content)
    message = world.songs_in_channel()[-1]
    song_id = embed_field(message, "Song id").strip("`")
    return message, world.producer.songs[song_id]


ACTION_CASES = [
    pytest.param(
        "cover",
        {"style": "jazz ballad", "cover_strength": 0.6, "title": "Rain (jazz)"},
        {"input:lyrics": "[Verse]\nJazz rain\nfalls"},
        {
            "action": "cover",
            "prompt": "jazz ballad",
            "cover_strength": 0.6,
            "title": "Rain (jazz)",
            "custom": True,
            "lyric": "[Verse]\nJazz rain\nfalls",
        },
        id="cover",
    ),
    pytest.param(
        "extend",
        {"at": "1:00", "lyrics_strength": 0.9, "sound_strength": 0.4, "weirdness": 0.2},
        {"input:lyrics": "[Bridge]\nMore rain"},
        {
            "action": "extend",
            "continue_at": 60.0,
            "lyrics_strength": 0.9,
            "sound_strength": 0.4,
            "weirdness": 0.2,
            "custom": True,
            "lyric": "[Bridge]\nMore rain",
        },
        id="extend",
    ),
    pytest.param(
        "extend",
        {},
        {},
        {"action": "extend", "continue_at": 135.233, "lyric": f"[Verse]\n{SONG_LYRICS_LINE}\nAll night"},
        id="extend-from-end-prefilled-lyrics",
    ),
    pytest.param(
        "replace-section",
        {"start": "0:30", "end": "70"},
        {"input:lyrics": "[Verse]\nNew middle"},
        {
            "action": "replace_section",
            "replace_section_start": 30.0,
            "replace_section_end": 70.0,
            "lyric": "[Verse]\nNew middle",
            "custom": True,
        },
        id="replace-section",
    ),
    pytest.param(
        "swap-vocals",
        {"weirdness": 0.7, "lyrics_strength": 0.5},
        {"input:lyrics": "Other words"},
        {"action": "swap_vocals", "weirdness": 0.7, "lyrics_strength": 0.5, "lyric": "Other words", "custom": True},
        id="swap-vocals",
    ),
    pytest.param(
        "swap-instrumentals",
        {"prompt": "heavy metal", "weirdness": 0.3},
        None,
        {"action": "swap_instrumentals", "prompt": "heavy metal", "weirdness": 0.3, "lyric": ""},
        id="swap-instrumentals",
    ),
    pytest.param(
        "variation",
        {"model": "FUZZ-1.0"},
        {"input:lyrics": "Varied words"},
        {"action": "variation", "model": "FUZZ-1.0", "lyric": "Varied words", "custom": True},
        id="variation",
    ),
]


@pytest.mark.parametrize(("command", "options", "form", "expected"), ACTION_CASES)
async def test_action_sends_its_body_and_records_the_parent(
    world: World, command: str, options: dict[str, Any], form: dict[str, str] | None, expected: dict[str, Any]
) -> None:
    await world.start_bot(callbacks=True)
    _, parent = await make_song(world)
    interaction = await world.discord.invoke_slash(
        command, {"song": parent["id"], **options}, user_id=world.member_id, channel_id=world.channel_id
    )
    if form is not None:
        await world.discord.wait_for(lambda: interaction.modal)
        await world.discord.submit_modal(interaction, form)
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    body = world.producer.audio_requests[-1]
    assert body["audio_id"] == parent["id"]
    assert body["model"] == expected.get("model", "FUZZ-2.0 Pro")
    for key, value in expected.items():
        assert body[key] == value, key
    child_message = world.songs_in_channel()[-1]
    child = await world.repo.song(embed_field(child_message, "Song id").strip("`"))
    assert child is not None and child.parent_song_id == parent["id"] and child.action == expected["action"]


async def test_stems_arrive_as_a_zip(world: World) -> None:
    await world.start_bot(callbacks=True)
    _, parent = await make_song(world)
    await world.discord.invoke_slash(
        "stems", {"song": parent["id"]}, user_id=world.member_id, channel_id=world.channel_id
    )
    message = await world.discord.wait_for_message(
        world.channel_id, lambda m: bool(m.embeds) and m.embeds[0]["title"].startswith("Stems")
    )
    body = dict(world.producer.audio_requests[-1])
    assert body.pop("callback_url").startswith(world.webhook_base)
    assert body == {"action": "stems", "audio_id": parent["id"]}
    (attachment,) = message.attachments
    (task,) = [task for task in world.producer.tasks.values() if task.request["action"] == "stems"]
    zip_name = task.songs[0]["stems_url"].rsplit("/", 1)[1]
    assert attachment.filename.endswith(".zip") and attachment.data == world.producer.media_bytes(zip_name)
    assert embed_field(message, "From song") == f"`{parent['id']}`"


async def test_song_can_be_named_by_message_link(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, parent = await make_song(world)
    await world.discord.invoke_slash(
        "swap-instrumentals",
        {"song": message.jump_url, "prompt": "banjo"},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    assert world.producer.audio_requests[-1]["audio_id"] == parent["id"]


async def test_upload_then_upload_action(world: World) -> None:
    """The attachment's URL reaches /producer/upload, then upload_cover carries the returned audio id."""
    await world.start_bot(callbacks=True)
    interaction = await world.discord.invoke_slash(
        "cover",
        {"style": "punk"},
        attachments={"audio": FakeUpload("my demo.mp3", b"ID3" + b"\1" * 5000, "audio/mpeg")},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    await world.discord.wait_for(lambda: interaction.modal)
    await world.discord.submit_modal(interaction, {"input:lyrics": "My own words"})
    await world.wait_for_song()
    (upload,) = world.producer.upload_requests
    (attachment,) = interaction.data["resolved"]["attachments"].values()
    assert upload["audio_url"] == attachment["url"]  # the signed CDN URL, query string and all
    assert world.producer.upload_fetches[0][1:] == (200, 5003)  # the API could fetch the member's file
    (audio_id,) = world.producer.uploaded_audio
    body = world.producer.audio_requests[-1]
    assert (body["action"], body["audio_id"], body["prompt"], body["lyric"]) == (
        "upload_cover",
        audio_id,
        "punk",
        "My own words",
    )
    uploaded = await world.repo.song(audio_id)
    assert uploaded is not None and uploaded.kind == "upload" and uploaded.requester_id == world.member_id
    child = await world.repo.song(embed_field(world.songs_in_channel()[-1], "Song id").strip("`"))
    assert child is not None and child.parent_song_id == audio_id


async def test_upload_extend_needs_a_point_and_uses_it(world: World) -> None:
    await world.start_bot(callbacks=True)
    no_at = await world.discord.invoke_slash(
        "extend",
        {},
        attachments={"audio": FakeUpload("a.wav", b"RIFF" * 10, "audio/wav")},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    assert "give `at`" in await private_reply(world, no_at)
    with_at = await world.discord.invoke_slash(
        "extend",
        {"at": "0:20"},
        attachments={"audio": FakeUpload("a.wav", b"RIFF" * 10, "audio/wav")},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    await world.discord.wait_for(lambda: with_at.modal)
    await world.discord.submit_modal(with_at, {"input:lyrics": "Part two"})
    await world.wait_for_song()
    body = world.producer.audio_requests[-1]
    assert (body["action"], body["continue_at"]) == ("upload_extend", 20.0)


async def test_invalid_inputs_cost_nothing(world: World) -> None:
    """Bad times, unknown songs, non-audio files, both or neither source: a private message, no API call."""
    await world.start_bot(callbacks=True)
    _, parent = await make_song(world)
    requests_before = len(world.producer.audio_requests)
    cases = [
        (
            "extend",
            {"song": parent["id"], "at": "3:00"},
            None,
            "`at` must be between 0:00 and 2:15 (the song is 2:15 long)",
        ),
        ("extend", {"song": parent["id"], "at": "soon"}, None, "`at` must be seconds"),
        ("replace-section", {"song": parent["id"], "start": "1:10", "end": "0:30"}, None, "must be before `end`"),
        (
            "replace-section",
            {"song": parent["id"], "start": "10", "end": "200"},
            None,
            "`end` must be between 0:00 and 2:15",
        ),
        ("cover", {"song": "no-such-song"}, None, "I don't know that song in this server"),
        ("cover", {"song": parent["id"], "cover_strength": 0.1}, None, "`cover_strength` must be between 0.2 and 1"),
        ("cover", {}, None, "Give exactly one of `song`"),
        ("cover", {"song": parent["id"]}, {"audio": FakeUpload("x.mp3", b"ID3", "audio/mpeg")}, "Give exactly one of"),
        ("cover", {}, {"audio": FakeUpload("notes.pdf", b"%PDF", "application/pdf")}, "`audio` must be an audio file"),
        ("cover", {}, {"audio": FakeUpload("song.mp3", b"<html>", "text/html")}, "`audio` must be an audio file"),
    ]
    for name, options, attachments, expected in cases:
        interaction = await world.discord.invoke_slash(
            name, options, attachments=attachments, user_id=world.member_id, channel_id=world.channel_id
        )
        assert expected in await private_reply(world, interaction), (name, options)
    assert len(world.producer.audio_requests) == requests_before
    assert world.producer.upload_requests == []
    assert await world.repo.quota_used(world.guild_id, today(world)) == 1


async def test_buttons_work_and_survive_a_restart(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, parent = await make_song(world)
    labels = [c["label"] for row in message.components for c in row["components"]]
    assert {"Play", "Extend", "Cover", "Variation", "Swap vocals", "Stems", "Re-roll", "WAV", "Video"} <= set(labels)

    click = await world.discord.click_button(message, f"song:extend:{parent['id']}", user_id=world.member_id)
    await world.discord.wait_for(lambda: click.modal)
    prefilled = {
        c["custom_id"]: c.get("value")
        for row in click.modal["components"]
        for c in row.get("components", [row.get("component", {})])
    }
    assert prefilled["input:at"] == "2:15" and SONG_LYRICS_LINE in prefilled["input:lyrics"]
    await world.discord.submit_modal(click, {})
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    assert world.producer.audio_requests[-1]["continue_at"] == 135.0

    await world.restart_bot()
    other = world.discord.add_user("bob")
    click = await world.discord.click_button(message, f"song:stems:{parent['id']}", user_id=other)
    await world.discord.wait_for(lambda: world.producer.audio_requests[-1]["action"] == "stems")
    assert world.producer.audio_requests[-1]["audio_id"] == parent["id"]
    await world.discord.wait_for_message(
        world.channel_id, lambda m: bool(m.embeds) and m.embeds[0]["title"].startswith("Stems")
    )


async def test_reroll_repeats_the_request(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, parent = await make_song(world)
    original = dict(world.producer.audio_requests[-1])
    await world.discord.click_button(message, f"song:reroll:{parent['id']}", user_id=world.member_id)
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    again = dict(world.producer.audio_requests[-1])
    original.pop("callback_url"), again.pop("callback_url")
    assert again == original


async def test_context_menus(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, parent = await make_song(world)
    await world.discord.invoke_message_command(
        "Make variation", target=message, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    assert world.producer.audio_requests[-1]["action"] == "variation"
    assert world.producer.audio_requests[-1]["audio_id"] == parent["id"]

    cover = await world.discord.invoke_message_command(
        "Cover song", target=message, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: cover.modal)

    plain = await world.discord.post_user_message(world.channel_id, "just chatting", user_id=world.member_id)
    menu = await world.discord.invoke_message_command(
        "Extend song", target=plain, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "not a song from this bot" in await private_reply(world, menu)


async def test_reply_with_lyrics_extends_the_song(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, parent = await make_song(world)
    reply = await world.discord.post_user_message(
        world.channel_id,
        "at 1:30\nA new verse\nand another line",
        user_id=world.member_id,
        reply_to=message,
        mentions_bot=True,
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    body = world.producer.audio_requests[-1]
    assert (body["action"], body["audio_id"], body["continue_at"]) == ("extend", parent["id"], 90.0)
    assert body["lyric"] == "A new verse\nand another line"
    assert "🎶" in reply.reactions
    status = next(
        m
        for m in world.discord.messages[world.channel_id]
        if m.message_reference and m.message_reference.get("message_id") == str(reply.id)
    )
    assert status.allowed_mentions is not None and status.allowed_mentions.get("parse") == []
    child = await world.repo.song(embed_field(world.songs_in_channel()[-1], "Song id").strip("`"))
    assert child is not None and child.requester_id == world.member_id and child.parent_song_id == parent["id"]


async def test_replies_that_are_not_requests_are_ignored(world: World) -> None:
    await world.start_bot(callbacks=True)
    message, _ = await make_song(world)
    plain = await world.discord.post_user_message(world.channel_id, "hello", user_id=world.member_id)
    await world.discord.post_user_message(
        world.channel_id, "nice", user_id=world.member_id, reply_to=plain, mentions_bot=True
    )
    empty = await world.discord.post_user_message(
        world.channel_id, "", user_id=world.member_id, reply_to=message, mentions_bot=True
    )
    no_mention = await world.discord.post_user_message(
        world.channel_id, "more words", user_id=world.member_id, reply_to=message
    )
    requests_before = len(world.producer.audio_requests)
    await world.discord.post_user_message(
        world.channel_id, "<@0> sync", user_id=world.member_id
    )  # a later event as a fence
    await world.settle()
    assert len(world.producer.audio_requests) == requests_before
    assert empty.reactions == [] and no_mention.reactions == []


async def test_extend_form_as_prefilled_works_when_the_length_rounds_up(world: World) -> None:
    """A 2:15.7 song shows 2:16; submitting the Extend form unchanged continues from the end."""
    await world.start_bot(callbacks=True)
    world.producer.script(duration="135.7")
    message, parent = await make_song(world)
    click = await world.discord.click_button(message, f"song:extend:{parent['id']}", user_id=world.member_id)
    await world.discord.wait_for(lambda: click.modal)
    await world.discord.submit_modal(click, {})
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    assert world.producer.audio_requests[-1]["continue_at"] == 135.7
