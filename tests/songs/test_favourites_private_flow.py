"""The favourites channel takes only songs everyone could see where they were made, like the song feed."""

from __future__ import annotations

from tests.harness import World, embed_field, generate, private_channel
from tests.postgres import both_backends
from tests.songs.test_favourites_flow import make, set_favourites, star_button


@both_backends
async def test_a_private_channels_song_never_reaches_the_favourites_channel(world: World) -> None:
    """Starred past the threshold in a channel hidden from @everyone: nothing in the favourites channel.
    A public song starred the same way is posted there."""
    await world.start_bot(callbacks=True)
    favourites = world.discord.add_channel(world.guild_id, "favourites")
    await set_favourites(world, favourites_channel=favourites, favourites_threshold=2)
    secret, insiders = private_channel(world)
    fans = [world.discord.add_user(name) for name in ("insider", "roadie")]
    for fan in fans:
        world.discord.give_role(world.guild_id, fan, insiders)

    await generate(world, "a backstage secret", fans[0], secret, title="Hidden")
    hidden = await world.wait_for_song(secret)
    hidden_id = embed_field(hidden, "Song id").strip("`")
    for fan in fans:
        await world.discord.click_button(hidden, f"star:{hidden_id}", user_id=fan)
    await world.discord.wait_for(lambda: star_button(hidden, hidden_id)["label"] == "Star · 2")

    public, public_id = await make(world, "a song for everyone", title="Open")
    for fan in fans:
        await world.discord.click_button(public, f"star:{public_id}", user_id=fan)
    posted = await world.wait_for_song(favourites)
    await world.settle()
    assert "**Open**" in posted.content and "reached 2 stars" in posted.content
    assert world.songs_in_channel(favourites) == [posted]
    assert not any("Hidden" in message.content for message in world.discord.messages[favourites])
    assert await world.repo.star_count(hidden_id) == 2  # the stars count; only the post is withheld
