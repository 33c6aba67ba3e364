"""Search by words end to end: autocomplete and /songs text: over titles, prompts and lyrics, and
inspiration-mode ("Untitled") songs listed and shown by their prompt."""

from __future__ import annotations

from types import SimpleNamespace

from cogs._common import song_autocomplete
from tests.harness import World, embed_field, generate
from tests.postgres import both_backends

CHRISTMAS_DURATION = "181.3014058956916"  # the guide's "A song for Christmas": 3:01

pytestmark = both_backends  # SQLite FTS5 and PostgreSQL full-text search answer alike


async def library(world: World) -> dict[str, str]:
    """Three songs: an untitled one from a prompt, one whose lyrics mention Christchurch, and another."""
    world.producer.script(duration=CHRISTMAS_DURATION)
    await generate(world, "a song for Christmas")
    await world.wait_for_song()
    command = await world.discord.invoke_slash("compose", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: command.modal)
    lyrics = "[Verse]\nWe sailed out past Christchurch\nThe lighthouse blinking\n[Chorus]\nHome again"
    await world.discord.submit_modal(
        command, {"compose:title": "Harbour Lights", "compose:style": "sea shanty", "compose:lyrics": lyrics}
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    await generate(world, "a lullaby for the moon")
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 3)
    await world.settle()
    songs = {}
    for message, name in zip(world.songs_in_channel(), ("christmas", "harbour", "lullaby"), strict=True):
        songs[name] = embed_field(message, "Song id").strip("`")
    return songs


async def test_autocomplete_finds_an_untitled_song_by_its_prompt_and_a_song_by_its_lyrics(world: World) -> None:
    """Typing "Christ" offers the untitled Christmas song (by its prompt) and the one whose lyrics say Christchurch."""
    await world.start_bot(callbacks=True)
    songs = await library(world)
    assert world.producer.songs[songs["christmas"]]["title"] == "Untitled"  # what the API called it
    interaction = SimpleNamespace(client=world.bot, guild_id=world.guild_id, user=None)

    choices = await song_autocomplete(interaction, "Christ")  # type: ignore[arg-type]
    assert [choice.value for choice in choices] == [songs["christmas"], songs["harbour"]]  # prompt outranks lyrics
    assert choices[0].name == f"“a song for Christmas” · 3:01 · {songs['christmas'][:8]}"
    assert choices[1].name.startswith("Harbour Lights · 2:15 · ")
    lighthouse = await song_autocomplete(interaction, "lighthouse")  # type: ignore[arg-type]
    assert [choice.value for choice in lighthouse] == [songs["harbour"]]
    moon = await song_autocomplete(interaction, "moon lull")  # type: ignore[arg-type]
    assert [choice.name.split(" · ")[0] for choice in moon] == ["“a lullaby for the moon”"]
    everything = await song_autocomplete(interaction, "")  # type: ignore[arg-type]
    assert not any(choice.name.startswith("Untitled") for choice in everything) and len(everything) == 3


async def test_songs_text_and_show_use_the_prompt_for_untitled_songs(world: World) -> None:
    """/songs text: ranks word matches; no row says "Untitled"; the song itself is titled by its prompt."""
    await world.start_bot(callbacks=True)
    songs = await library(world)
    christmas_message = world.songs_in_channel()[0]
    assert christmas_message.embeds[0]["title"] == "“a song for Christmas”"

    found = await world.discord.invoke_slash(
        "songs", {"text": "christ"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: found.original)
    lines = found.original.embeds[0]["description"].splitlines()  # type: ignore[union-attr]
    assert "2 songs" in found.original.embeds[0]["footer"]["text"]  # type: ignore[union-attr]
    assert "**“a song for Christmas”**" in lines[0] and "3:01" in lines[0] and "**Harbour Lights**" in lines[1]

    newest = await world.discord.invoke_slash(
        "songs", {"text": "christ", "sort": "newest"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: newest.original)
    lines = newest.original.embeds[0]["description"].splitlines()  # type: ignore[union-attr]
    assert "**Harbour Lights**" in lines[0] and "**“a song for Christmas”**" in lines[1]

    listing = await world.discord.invoke_slash("songs", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: listing.original)
    description = listing.original.embeds[0]["description"]  # type: ignore[union-attr]
    assert "Untitled" not in description and "“a lullaby for the moon”" in description

    await world.discord.invoke_slash(
        "show", {"song": songs["christmas"]}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 4)
    assert world.songs_in_channel()[-1].embeds[0]["title"] == "“a song for Christmas”"
