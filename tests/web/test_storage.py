"""The web gallery's rows on both backends: the gallery switch, share links, and a song's family."""

from __future__ import annotations

from bot.storage.repository import Repository
from bot.web.family import family_svg, gather_family
from tests.rows import song_row


async def test_the_gallery_is_on_until_a_manager_turns_it_off(repo: Repository) -> None:
    """No settings row means on; the switch keeps the server's other settings."""
    assert await repo.web_gallery(1)
    await repo.update_guild_settings(1, max_queued=7)
    await repo.set_web_gallery(1, False)
    assert not await repo.web_gallery(1)
    assert (await repo.guild_settings(1)).max_queued == 7
    await repo.set_web_gallery(1, True)
    assert await repo.web_gallery(1)


async def test_one_link_per_song_until_revoked(repo: Repository) -> None:
    """Sharing twice gives the same token; revoking ends it; sharing again makes a new one."""
    song = await repo.add_song(song_row("song-1", title="Rain"))
    first = await repo.share_song(song, 100, 5.0)
    assert await repo.share_song(song, 200, 6.0) == first
    assert (await repo.shared_song(first)) == song
    assert await repo.revoke_share("song-1")
    assert not await repo.revoke_share("song-1")
    assert await repo.shared_song(first) is None
    second = await repo.share_song(song, 100, 7.0)
    assert second != first and len(second) >= 32


async def test_the_family_tree_walks_parents_and_children(repo: Repository) -> None:
    """Ancestors up to the root, children and grandchildren below; the picture escapes titles and
    draws a song the viewer cannot see without its title."""
    await repo.add_song(song_row("root", title="Root <script>", created_at=1.0))
    await repo.add_song(song_row("mid", title="Mid", parent_song_id="root", action="extend", created_at=2.0))
    await repo.add_song(song_row("kid", title="Kid", parent_song_id="mid", action="cover", created_at=3.0))
    await repo.add_song(song_row("secret", title="Secret", parent_song_id="mid", channel_id=99, created_at=4.0))
    await repo.add_song(song_row("grand", title="Grand", parent_song_id="kid", action="variation", created_at=5.0))
    await repo.add_song(song_row("other", title="Other guild", parent_song_id="mid", guild_id=2, created_at=6.0))
    mid = await repo.song("mid")
    assert mid is not None
    family = await gather_family(repo, mid)
    assert [song.id for song in family.ancestors] == ["root"]
    assert [song.id for song in family.descendants] == ["kid", "secret", "grand"]
    svg = str(
        family_svg(
            family,
            visible=lambda song: song.channel_id != 99,
            names={100: "alice"},
            href=lambda song: f"/songs/{song.id}",
        )
    )
    assert "Root &lt;script&gt;" in svg and "<script>" not in svg
    assert "Secret" not in svg and "A song you cannot see" in svg
    assert 'href="/songs/kid"' in svg and 'href="/songs/mid"' not in svg  # the song itself is not a link
    assert "Other guild" not in svg
