"""/lyrics with Sing it and Again, and /jam suggest with Add these, end to end through the fakes."""

from __future__ import annotations

import pytest

from tests.fakes.fake_discord import FakeInteraction, FakeMessage
from tests.harness import World, private_reply, reply_text, today
from tests.postgres import both_backends


def custom_ids(message: FakeMessage) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row.get("components", []) if "custom_id" in c]


async def lyrics_message(world: World, interaction: FakeInteraction) -> FakeMessage:
    """The private message carrying the lyrics (the follow-up that replaced "thinking…")."""
    await world.discord.wait_for(lambda: interaction.followups and interaction.followups[-1].embeds)
    message = interaction.followups[-1]
    assert message.ephemeral
    return message


@pytest.mark.parametrize("shape", ["lyrics", "text"])
async def test_lyrics_are_shown_privately_with_sing_it_and_again(world: World, shape: str) -> None:
    """Both documented answer shapes (`data.lyrics`, `data.text`) show the same lyrics; free by default."""
    world.producer.lyrics_shape = shape  # type: ignore[assignment]
    await world.start_bot()
    command = await world.discord.invoke_slash(
        "lyrics", {"prompt": "a song about rain"}, user_id=world.member_id, channel_id=world.channel_id
    )
    message = await lyrics_message(world, command)
    assert world.producer.lyrics_requests == [{"prompt": "a song about rain"}]
    embed = message.embeds[0]
    assert embed["title"] == "A Song About Rain"
    assert "a song about rain" in embed["description"] and "written by the fake producer" in embed["description"]
    draft_id = int(custom_ids(message)[0].rsplit(":", 1)[1])
    assert custom_ids(message) == [f"lyrics:sing:{draft_id}", f"lyrics:again:{draft_id}"]
    stored = await world.repo.lyrics_draft(draft_id)
    assert stored is not None and stored.user_id == world.member_id and stored.prompt == "a song about rain"
    assert "written by the fake producer" in stored.lyrics
    assert await world.repo.quota_used(world.guild_id, today(world)) == 0
    assert not world.songs_in_channel()


async def test_sing_it_opens_compose_prefilled_and_makes_the_song(world: World) -> None:
    """Sing it: the /compose form with the title and lyrics, editable; submitting generates from them."""
    await world.start_bot(callbacks=True)
    command = await world.discord.invoke_slash(
        "lyrics", {"prompt": "night drive"}, user_id=world.member_id, channel_id=world.channel_id
    )
    message = await lyrics_message(world, command)
    sing = await world.discord.click_button(message, custom_ids(message)[0], user_id=world.member_id)
    await world.discord.wait_for(lambda: sing.modal)
    values = {c["custom_id"]: c.get("value") for row in sing.modal["components"] for c in row["components"]}
    draft = await world.repo.lyrics_draft(int(custom_ids(message)[0].rsplit(":", 1)[1]))
    assert draft is not None
    assert values["compose:title"] == "Night Drive"
    assert values["compose:lyrics"] == draft.lyrics
    edited = draft.lyrics + "\n[Outro]\nmy own last line"
    await world.discord.submit_modal(sing, {"compose:lyrics": edited, "compose:style": "synthwave"})
    await world.wait_for_song()
    body = world.producer.audio_requests[-1]
    assert body["action"] == "generate" and body["custom"] is True
    assert body["title"] == "Night Drive" and body["lyric"] == edited and body["prompt"] == "synthwave"


async def test_again_writes_new_lyrics_for_the_same_prompt(world: World) -> None:
    await world.start_bot()
    command = await world.discord.invoke_slash(
        "lyrics", {"prompt": "autumn leaves"}, user_id=world.member_id, channel_id=world.channel_id
    )
    first = await lyrics_message(world, command)
    again = await world.discord.click_button(first, custom_ids(first)[1], user_id=world.member_id)
    second = await lyrics_message(world, again)
    assert world.producer.lyrics_requests == [{"prompt": "autumn leaves"}, {"prompt": "autumn leaves"}]
    assert custom_ids(second) != custom_ids(first)
    assert "lyrics:again:" in custom_ids(second)[1]


@both_backends
async def test_lyrics_cost_is_charged_and_refunded_when_the_api_fails(world: World) -> None:
    """`ACTION_COSTS=lyrics=1`: one credit per answer; an API failure gives it back, with a clear message."""
    await world.start_bot(ACTION_COSTS="lyrics=1", GUILD_DAILY_QUOTA="2")

    async def ask(prompt: str) -> FakeInteraction:
        return await world.discord.invoke_slash(
            "lyrics", {"prompt": prompt}, user_id=world.member_id, channel_id=world.channel_id
        )

    await lyrics_message(world, await ask("paid words"))
    assert await world.repo.quota_used(world.guild_id, today(world)) == 1
    assert await world.repo.member_used(world.guild_id, world.member_id, today(world)) == 1

    world.producer.fail_next("/producer/lyrics", status=500, code="api_error", message="fetch failed")
    text = await private_reply(world, await ask("broken words"))
    assert "No credit was used" in text and "Traceback" not in text
    assert await world.repo.quota_used(world.guild_id, today(world)) == 1

    await lyrics_message(world, await ask("more paid words"))
    assert await world.repo.quota_used(world.guild_id, today(world)) == 2
    requests = len(world.producer.lyrics_requests)
    assert "used all 2 songs for today" in await private_reply(world, await ask("one too many"))
    assert len(world.producer.lyrics_requests) == requests  # refused before the API was asked
    assert await world.repo.quota_used(world.guild_id, today(world)) == 2


async def test_lyrics_prompt_over_the_limit_is_refused_privately(world: World) -> None:
    await world.start_bot()
    # Discord enforces the declared 200; a client that sends more is refused by the bot's own check.
    command = await world.discord.invoke_slash(
        "lyrics", {"prompt": "   "}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "`prompt` cannot be empty" in await private_reply(world, command)
    assert world.producer.lyrics_requests == []


async def start_jam(world: World, theme: str) -> int:
    started = await world.discord.invoke_slash(
        "jam start", {"theme": theme}, user_id=world.member_id, channel_id=world.channel_id
    )
    await reply_text(world, started)  # the jam is recorded before the starter is told (the thread comes first)
    await world.discord.wait_for(lambda: any(c.name == theme for c in world.discord.channels.values()))
    thread = next(c.id for c in world.discord.channels.values() if c.name == theme)
    await world.discord.wait_for_message(thread, lambda m: bool(m.embeds))  # the jam exists once its message does
    return thread


@both_backends
async def test_jam_suggest_offers_next_lines_and_add_these_credits_the_presser(world: World) -> None:
    """The prompt carries the theme and the lines so far; Add these adds them once, as the presser's lines."""
    await world.start_bot()
    bob = world.discord.add_user("bob")
    thread = await start_jam(world, "Summer nights")
    await reply_text(
        world,
        await world.discord.invoke_slash(
            "jam add", {"line": "Warm wind on the porch"}, user_id=world.member_id, channel_id=thread
        ),
    )
    suggest = await world.discord.invoke_slash("jam suggest", {}, user_id=world.member_id, channel_id=thread)
    await world.discord.wait_for(lambda: suggest.followups and suggest.followups[-1].embeds)
    message = suggest.followups[-1]
    assert not message.ephemeral  # the jam sees it, so anyone in it may add the lines
    prompt = world.producer.lyrics_requests[-1]["prompt"]
    assert "Summer nights" in prompt and "Warm wind on the porch" in prompt and len(prompt) <= 200
    draft_id = int(custom_ids(message)[0].rsplit(":", 1)[1])
    draft = await world.repo.lyrics_draft(draft_id)
    assert draft is not None and draft.jam_id is not None
    suggested = draft.lyrics.splitlines()
    assert 1 <= len(suggested) <= 4 and not any(line.startswith("[") for line in suggested)
    assert suggested[0] in message.embeds[0]["description"]

    press = await world.discord.click_button(message, f"jam:add:{draft_id}", user_id=bob)
    await world.discord.wait_for(lambda: press.followups)
    assert "Added" in press.followups[-1].content and press.followups[-1].ephemeral
    lines = await world.repo.jam_lines(draft.jam_id)
    assert [line.line for line in lines] == ["Warm wind on the porch", *suggested]
    assert [line.author_id for line in lines[1:]] == [bob] * len(suggested)
    assert message.components == []  # the button is gone: it adds once
    assert f"<@{bob}>" in str(message.embeds[0]["fields"])
    used = await world.repo.lyrics_draft(draft_id)
    assert used is not None and used.used_by == bob
    jam_message = next(m for m in world.discord.messages[thread] if m.embeds and "Jam:" in m.embeds[0]["title"])
    await world.discord.wait_for(lambda: suggested[-1] in jam_message.embeds[0]["description"])


async def test_jam_suggest_outside_a_jam_is_refused(world: World) -> None:
    await world.start_bot()
    command = await world.discord.invoke_slash("jam suggest", {}, user_id=world.member_id, channel_id=world.channel_id)
    assert "no jam here" in await private_reply(world, command)
    assert world.producer.lyrics_requests == []
