"""/prefer: style_suffix on prompts and styles, the member's model under the server's default, auto_dm."""

from __future__ import annotations

from tests.fakes.fake_discord import FakeInteraction
from tests.harness import World, embed_field, generate, reply_text, today
from tests.postgres import both_backends


async def prefer(world: World, user_id: int | None = None, **options: object) -> FakeInteraction:
    interaction = await world.discord.invoke_slash(
        "prefer", dict(options), user_id=user_id or world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: interaction.responses)
    return interaction


def shown(interaction: FakeInteraction) -> dict[str, str]:
    response = interaction.responses[0]
    assert response["type"] == 4 and response["data"]["flags"] & 64  # private
    return {field["name"]: field["value"] for field in response["data"]["embeds"][0]["fields"]}


@both_backends
async def test_prefer_shows_saves_and_resets_across_servers(world: World) -> None:
    await world.start_bot()
    assert shown(await prefer(world))["auto_dm"] == "off"
    saved = shown(await prefer(world, auto_dm=True, model="FUZZ-1.0", style_suffix=", lo-fi"))
    assert saved["auto_dm"].startswith("on") and saved["model"] == "FUZZ-1.0" and ", lo-fi" in saved["style_suffix"]
    stored = await world.repo.preferences(world.member_id)
    assert (stored.auto_dm, stored.model, stored.style_suffix) == (True, "FUZZ-1.0", ", lo-fi")

    # The same member in another server sees the same preferences.
    other_guild = world.discord.add_guild("Elsewhere")
    other_channel = world.discord.add_channel(other_guild, "music")
    await world.discord.wait_for(lambda: world.bot is not None and world.bot.get_guild(other_guild))
    elsewhere = await world.discord.invoke_slash("prefer", {}, user_id=world.member_id, channel_id=other_channel)
    await world.discord.wait_for(lambda: elsewhere.responses)
    assert shown(elsewhere)["model"] == "FUZZ-1.0"

    # Changing one keeps the others; reset clears them all.
    assert shown(await prefer(world, auto_dm=False))["model"] == "FUZZ-1.0"
    cleared = shown(await prefer(world, reset=True))
    assert (
        cleared["auto_dm"] == "off" and "not chosen" in cleared["model"] and cleared["style_suffix"].startswith("none")
    )
    assert (await world.repo.preferences(world.member_id)).is_default


async def test_style_suffix_is_added_to_generate_prompts_and_compose_styles(world: World) -> None:
    await world.start_bot(callbacks=True)
    await prefer(world, style_suffix="in the style of 80s synthwave")
    await generate(world, "a song about rain")
    await world.wait_for_song()
    assert world.producer.audio_requests[-1]["prompt"] == "a song about rain in the style of 80s synthwave"

    compose = await world.discord.invoke_slash("compose", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: compose.modal)
    await world.discord.submit_modal(
        compose, {"compose:title": "Neon", "compose:style": "dreamy pop", "compose:lyrics": "[Verse]\nNeon lights"}
    )
    await world.discord.wait_for(lambda: len(world.producer.audio_requests) == 2)
    assert world.producer.audio_requests[-1]["prompt"] == "dreamy pop in the style of 80s synthwave"

    # Another member's requests are untouched.
    bob = world.discord.add_user("bob")
    await generate(world, "plain song", user_id=bob)
    await world.discord.wait_for(lambda: len(world.producer.audio_requests) == 3)
    assert world.producer.audio_requests[-1]["prompt"] == "plain song"


async def test_style_suffix_that_makes_a_prompt_too_long_is_refused_and_costs_nothing(world: World) -> None:
    await world.start_bot()
    await prefer(world, style_suffix="x" * 100)
    refused = await generate(world, "y" * 150)
    text = await reply_text(world, refused)
    assert "style_suffix" in text and "limit is 200" in text
    assert world.producer.audio_requests == []
    assert await world.repo.quota_used(world.guild_id, today(world)) == 0


async def test_my_model_wins_over_the_servers_default_only_when_i_chose_one(world: World) -> None:
    await world.start_bot(callbacks=True)
    manager = world.discord.add_user("manager")
    world.discord.grant(manager, world.discord.MANAGE_GUILD)
    settings = await world.discord.invoke_slash(
        "settings", {"default_model": "FUZZ-2.0 Raw"}, user_id=manager, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: settings.responses)

    await generate(world, "not chosen yet")
    await world.wait_for_song()
    assert world.producer.audio_requests[-1]["model"] == "FUZZ-2.0 Raw"  # the server's default

    await prefer(world, model="FUZZ-1.1")
    await generate(world, "chosen now")
    await world.discord.wait_for(lambda: len(world.producer.audio_requests) == 2)
    assert world.producer.audio_requests[-1]["model"] == "FUZZ-1.1"  # mine

    await generate(world, "named here", model="FUZZ-0.8")
    await world.discord.wait_for(lambda: len(world.producer.audio_requests) == 3)
    assert world.producer.audio_requests[-1]["model"] == "FUZZ-0.8"  # the command's option beats both


@both_backends
async def test_auto_dm_sends_one_dm_per_finished_song_of_mine(world: World) -> None:
    await world.start_bot(callbacks=True)
    await prefer(world, auto_dm=True)
    dm = world.discord.dm_channel_id(world.member_id)

    await generate(world, "first", title="First")
    song = await world.wait_for_song()
    first_dm = await world.discord.wait_for_message(dm, lambda m: bool(m.embeds))
    song_id = embed_field(song, "Song id").strip("`")
    assert embed_field(first_dm, "Song id") == f"`{song_id}`"
    assert first_dm.attachments and first_dm.attachments[0].data == world.producer.media_bytes(f"{song_id}.mp3")
    assert song.jump_url in first_dm.content
    assert first_dm.components == []  # buttons act in a server, so the DM copy has none
    await world.settle()
    copy = await world.repo.song_copy(song_id, "dm")
    assert copy is not None and copy.message_id == first_dm.id

    bob = world.discord.add_user("bob")  # bob did not ask for DMs
    await generate(world, "bob's", user_id=bob)
    await generate(world, "second", title="Second")
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 3)
    await world.settle()
    await world.discord.wait_for(lambda: len([m for m in world.discord.messages[dm] if m.embeds]) == 2)
    await world.settle()
    titles = [m.embeds[0]["title"] for m in world.discord.messages[dm] if m.embeds]
    assert sorted(titles) == ["First", "Second"]
    assert world.discord.messages.get(world.discord.dm_channel_id(bob), []) == []


async def test_style_suffix_reaches_the_cover_form_once(world: World) -> None:
    """The Cover form is pre-filled with the song's style, which already ends with the suffix: not added twice."""
    await world.start_bot(callbacks=True)
    await prefer(world, style_suffix=", lo-fi")
    await generate(world, "rainy day")
    message = await world.wait_for_song()
    assert world.producer.audio_requests[-1]["prompt"] == "rainy day, lo-fi"
    song_id = embed_field(message, "Song id").strip("`")
    click = await world.discord.click_button(message, f"song:cover:{song_id}", user_id=world.member_id)
    await world.discord.wait_for(lambda: click.modal)
    await world.discord.submit_modal(click, {})
    await world.discord.wait_for(lambda: len(world.producer.audio_requests) == 2)
    assert world.producer.audio_requests[-1]["prompt"] == "rainy day, lo-fi"
    click = await world.discord.click_button(message, f"song:cover:{song_id}", user_id=world.member_id)
    await world.discord.wait_for(lambda: click.modal)
    await world.discord.submit_modal(click, {"input:style": "jazz"})
    await world.discord.wait_for(lambda: len(world.producer.audio_requests) == 3)
    assert world.producer.audio_requests[-1]["prompt"] == "jazz, lo-fi"
