"""The song library: lineage, browsing, re-posting, and the song autocomplete."""

from __future__ import annotations

from types import SimpleNamespace

from cogs._common import song_autocomplete
from tests.harness import World, embed_field, private_reply
from tests.postgres import both_backends
from tests.songs.test_actions_flow import make_song

pytestmark = both_backends  # quotas, the queue, jams, the library and exactly-once hold on both databases


async def test_song_info_shows_the_lineage(world: World) -> None:
    await world.start_bot(callbacks=True)
    root_message, root = await make_song(world, title="Root")
    await world.discord.invoke_slash(
        "swap-instrumentals",
        {"song": root["id"], "prompt": "banjo"},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    child_id = embed_field(world.songs_in_channel()[-1], "Song id").strip("`")
    info = await world.discord.invoke_slash(
        "song info", {"song": child_id}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: info.responses)
    data = info.responses[0]["data"]
    assert data["flags"] & 64
    description = data["embeds"][0]["description"]
    lines = description.splitlines()
    assert root["id"][:8] in lines[0] and "**Root**" in lines[0] and root_message.jump_url in lines[0]
    assert child_id[:8] in lines[1] and "swap_instrumentals" in lines[1] and "← this song" in lines[1]

    parent_info = await world.discord.invoke_slash(
        "song info", {"song": root["id"]}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: parent_info.responses)
    (children,) = parent_info.responses[0]["data"]["embeds"][0]["fields"]
    assert children["name"] == "Made from this (1)" and child_id[:8] in children["value"]


async def test_songs_pages_through_the_library(world: World) -> None:
    await world.start_bot(callbacks=True)
    for n in range(12):
        await world.discord.invoke_slash(
            "generate",
            {"prompt": f"tune {n}", "title": f"Tune {n:02d}"},
            user_id=world.member_id,
            channel_id=world.channel_id,
        )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 12, timeout=20)
    listing = await world.discord.invoke_slash("songs", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: listing.original)
    page = listing.original
    assert page.ephemeral and "Page 1 of 2 · 12 songs" in page.embeds[0]["footer"]["text"]
    # Newest first. The twelve are delivered concurrently, so the newest is whichever was stored last.
    newest = max(await world.repo.search_songs(world.guild_id, limit=50), key=lambda song: song.created_at)
    assert page.embeds[0]["description"].splitlines()[0].count(newest.title) == 1
    (next_button,) = [c for row in page.components for c in row["components"] if c["label"] == "Next"]
    await world.discord.click_button(page, next_button["custom_id"], user_id=world.member_id)
    await world.discord.wait_for(lambda: "Page 2 of 2" in page.embeds[0]["footer"]["text"])
    assert len(page.embeds[0]["description"].splitlines()) == 2

    filtered = await world.discord.invoke_slash(
        "songs", {"text": "Tune 03"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: filtered.original)
    assert "· 1 song" in filtered.original.embeds[0]["footer"]["text"]
    other = world.discord.add_user("carol")
    by_member = await world.discord.invoke_slash(
        "songs", {"member": other}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: by_member.original)
    assert by_member.original.embeds[0]["description"] == "No songs match."


async def test_show_reposts_with_buttons_that_work(world: World) -> None:
    await world.start_bot(callbacks=True)
    _, song = await make_song(world)
    show = await world.discord.invoke_slash(
        "show", {"song": song["id"]}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    repost = world.songs_in_channel()[-1]
    assert repost.attachments[0].data == world.producer.media_bytes(f"{song['id']}.mp3")
    assert "Posted:" in await private_reply(world, show)
    await world.discord.click_button(repost, f"song:variation:{song['id']}", user_id=world.member_id)
    await world.discord.wait_for(lambda: world.producer.audio_requests[-1]["action"] == "variation")
    reply = await world.discord.post_user_message(
        world.channel_id, "More", user_id=world.member_id, reply_to=repost, mentions_bot=True
    )
    await world.discord.wait_for(lambda: "🎶" in reply.reactions)


async def test_autocomplete_lists_this_guilds_songs_newest_first(world: World) -> None:
    await world.start_bot(callbacks=True)
    await make_song(world, title="Older")
    _, newer = await make_song(world, title="Newer")
    interaction = SimpleNamespace(client=world.bot, guild_id=world.guild_id, user=None)
    choices = await song_autocomplete(interaction, "")  # type: ignore[arg-type]
    assert [choice.name for choice in choices] == [f"Newer · 2:15 · {newer['id'][:8]}", choices[1].name]
    assert choices[0].value == newer["id"] and choices[1].name.startswith("Older · 2:15 · ")
    assert [c.name.split(" ·")[0] for c in await song_autocomplete(interaction, "old")] == ["Older"]  # type: ignore[arg-type]
    assert await song_autocomplete(SimpleNamespace(client=world.bot, guild_id=12345, user=None), "") == []  # type: ignore[arg-type]
