"""/playlist as members use it: personal and shared playlists, who may change them, pages, export, the ➕ button."""

from __future__ import annotations

from tests.fakes.fake_discord import FakeDiscord
from tests.harness import World, embed_field, generate, private_channel, private_reply
from tests.postgres import both_backends


async def run(world: World, name: str, options: dict[str, object], user_id: int | None = None) -> str:
    interaction = await world.discord.invoke_slash(
        name, options, user_id=user_id or world.member_id, channel_id=world.channel_id
    )
    return await private_reply(world, interaction)


async def make(world: World, title: str, *, channel_id: int | None = None, user_id: int | None = None) -> str:
    channel = channel_id or world.channel_id
    before = len(world.songs_in_channel(channel))
    world.producer.script(title=title, duration="61")
    await generate(world, f"a song called {title}", user_id=user_id, channel_id=channel)
    await world.discord.wait_for(lambda: len(world.songs_in_channel(channel)) > before)
    return embed_field(world.songs_in_channel(channel)[-1], "Song id").strip("`")


async def shown(world: World, playlist: str, user_id: int | None = None) -> dict:
    interaction = await world.discord.invoke_slash(
        "playlist show", {"playlist": playlist}, user_id=user_id or world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: interaction.responses)
    data = interaction.responses[0]["data"]
    assert data["flags"] & 64
    return data["embeds"][0]


@both_backends
async def test_personal_and_shared_playlists_follow_their_rules(world: World) -> None:
    """Only the owner edits a personal playlist; anyone edits a shared one; the owner or a manager deletes."""
    await world.start_bot(callbacks=True)
    first = await make(world, "First light")
    second = await make(world, "Second wind")
    bob, manager = world.discord.add_user("bob"), world.discord.add_user("manager")
    world.discord.grant(manager, FakeDiscord.MANAGE_GUILD)

    assert "Made the playlist (only you can edit it) **Mine**" in await run(world, "playlist create", {"name": "Mine"})
    assert "Made the shared playlist" in await run(world, "playlist create", {"name": "Ours", "shared": True})
    assert "already has a playlist of that name" in await run(world, "playlist create", {"name": "mine"}, bob)

    assert "Added **First light** to **Mine**" in await run(world, "playlist add", {"playlist": "Mine", "song": first})
    assert "already in **Mine**" in await run(world, "playlist add", {"playlist": "Mine", "song": first})
    refused = await run(world, "playlist add", {"playlist": "Mine", "song": second}, bob)
    assert "personal playlist: only they can change it" in refused
    assert "Added **Second wind** to **Ours**" in await run(
        world, "playlist add", {"playlist": "Ours", "song": second}, bob
    )
    assert "personal playlist" in await run(world, "playlist rename", {"playlist": "Mine", "name": "Bobs"}, bob)
    assert "Renamed **Ours** to **Everyone**" in await run(
        world, "playlist rename", {"playlist": "Ours", "name": "Everyone"}, bob
    )
    assert "Removed **Second wind**" in await run(
        world, "playlist remove", {"playlist": "Everyone", "song": second}, bob
    )

    assert "Only <@" in await run(world, "playlist delete", {"playlist": "Everyone"}, bob)
    assert "Deleted the playlist **Everyone**" in await run(world, "playlist delete", {"playlist": "Everyone"}, manager)
    assert "Deleted the playlist **Mine**" in await run(world, "playlist delete", {"playlist": "Mine"})
    assert await world.repo.guild_playlists(world.guild_id) == []
    assert "no playlist of that name" in await run(world, "playlist show", {"playlist": "Mine"})


async def test_show_keeps_order_with_total_length_and_move(world: World) -> None:
    """Songs listed in the order added, numbered, with the total length; /playlist move reorders."""
    await world.start_bot(callbacks=True)
    songs = [await make(world, title) for title in ("Alpha", "Beta", "Gamma")]
    await run(world, "playlist create", {"name": "Road trip"})
    for song in songs:
        await run(world, "playlist add", {"playlist": "Road trip", "song": song})
    embed = await shown(world, "road TRIP")
    assert "3 songs · total length 3:03" in embed["description"]
    assert embed["description"].index("1. **Alpha**") < embed["description"].index("3. **Gamma**")

    assert "is now #1" in await run(world, "playlist move", {"playlist": "Road trip", "song": songs[2], "position": 1})
    embed = await shown(world, "Road trip")
    assert "1. **Gamma**" in embed["description"] and "2. **Alpha**" in embed["description"]

    typed = await world.discord.invoke_autocomplete(
        "play", {"playlist": "road"}, "playlist", user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: typed.responses)
    choices = typed.responses[0]["data"]["choices"]
    assert [choice["name"] for choice in choices] == ["Road trip · yours"]


async def test_private_channel_songs_are_never_shown_through_a_playlist(world: World) -> None:
    """An insider's playlist with a backstage song: an outsider sees only the public one (show, export)."""
    await world.start_bot(callbacks=True)
    secret, insiders = private_channel(world)
    insider = world.discord.add_user("insider")
    world.discord.give_role(world.guild_id, insider, insiders)
    hidden = await make(world, "Backstage", channel_id=secret, user_id=insider)
    public = await make(world, "Front row")
    await run(world, "playlist create", {"name": "Mixed", "shared": True}, insider)
    await run(world, "playlist add", {"playlist": "Mixed", "song": hidden}, insider)
    await run(world, "playlist add", {"playlist": "Mixed", "song": public}, insider)

    assert "Backstage" in (await shown(world, "Mixed", insider))["description"]
    outsider_view = await shown(world, "Mixed")
    assert "Backstage" not in outsider_view["description"] and "Front row" in outsider_view["description"]
    assert "1 more song from channels you cannot see" in outsider_view["footer"]["text"]

    export = await world.discord.invoke_slash(
        "playlist export", {"playlist": "Mixed"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: export.original and export.original.attachments)
    [attachment] = export.original.attachments
    assert attachment.filename == "Mixed.m3u8"
    text = attachment.data.decode()
    assert text.startswith("#EXTM3U") and "#EXTINF:61,Front row" in text and f"{public}.mp3" in text
    assert "Backstage" not in text and hidden not in text
    assert "cannot see" in await run(world, "playlist add", {"playlist": "Mixed", "song": hidden})


async def test_add_to_playlist_button_offers_the_members_playlists(world: World) -> None:
    """➕ Add to playlist on a song message: a private select of the member's playlists; picking one adds it."""
    await world.start_bot(callbacks=True)
    song = await make(world, "Button song")
    message = world.songs_in_channel()[-1]
    ids = [c["custom_id"] for row in message.components for c in row["components"]]
    assert f"song:playlist:{song}" in ids and f"song:play:{song}" in ids

    click = await world.discord.click_button(message, f"song:playlist:{song}", user_id=world.member_id)
    assert "no playlist here yet" in await private_reply(world, click)
    await run(world, "playlist create", {"name": "Faves"})
    mine = await world.repo.playlist_named(world.guild_id, "Faves")
    assert mine is not None
    click = await world.discord.click_button(message, f"song:playlist:{song}", user_id=world.member_id)
    assert "to which playlist" in await private_reply(world, click)
    [option] = [o for row in click.original.components for c in row["components"] for o in c.get("options", [])]
    assert option["label"] == "Faves · yours"
    chosen = await world.discord.choose_select(
        click.original, f"playlist:add:{song}", [option["value"]], user_id=world.member_id
    )
    await world.discord.wait_for(lambda: chosen.responses)
    assert "Added **Button song** to **Faves**" in chosen.responses[0]["data"]["content"]
    assert [s.id for s in await world.repo.playlist_songs(mine.id)] == [song]
