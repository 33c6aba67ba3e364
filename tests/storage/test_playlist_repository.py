"""Playlists, the radio's candidates and party modes in the repository (on every backend)."""

from __future__ import annotations

import asyncio

from bot.storage.repository import Repository, SongRow
from tests.rows import song_row

GUILD = 1
PUBLIC, PRIVATE = 100, 200


def song(song_id: str, *, channel_id: int = PUBLIC, created_at: float = 1000.0, **fields: object) -> SongRow:
    values: dict[str, object] = {
        "guild_id": GUILD,
        "channel_id": channel_id,
        "title": f"Song {song_id}",
        "duration": 60.0,
        "audio_url": f"https://cdn.example/{song_id}.mp3",
        "model": "FUZZ-2.0 Pro",
        "created_at": created_at,
    }
    return song_row(song_id, **{**values, **fields})


def ids(songs: list[SongRow]) -> list[str]:
    return [item.id for item in songs]


async def test_playlist_names_are_unique_per_server_whatever_their_case(repo: Repository) -> None:
    """A second "chill" in the same server is refused; another server may have one; rename keeps the rule."""
    first = await repo.create_playlist(GUILD, 7, "Chill", shared=False, at=1.0)
    assert first is not None and not first.shared
    assert await repo.create_playlist(GUILD, 8, "chill", shared=True, at=2.0) is None
    assert await repo.create_playlist(2, 8, "chill", shared=True, at=2.0) is not None
    other = await repo.create_playlist(GUILD, 8, "Party", shared=True, at=3.0)
    assert other is not None and other.shared
    assert not await repo.rename_playlist(other.id, "CHILL")
    assert await repo.rename_playlist(other.id, "Party hard")
    assert (await repo.playlist_named(GUILD, " party HARD ")) == await repo.playlist(other.id)
    assert [p.name for p in await repo.guild_playlists(GUILD, text="ar")] == ["Party hard"]
    assert [p.name for p in await repo.guild_playlists(GUILD, text="")] == ["Chill", "Party hard"]


async def test_songs_keep_their_order_once_each_and_move_to_a_place(repo: Repository) -> None:
    """Added in order, a song once; remove closes the gap; move puts a song at 1 = first (or last)."""
    for name in "abcd":
        await repo.add_song(song(name))
    playlist = await repo.create_playlist(GUILD, 7, "Mix", shared=False, at=1.0)
    assert playlist is not None
    for name in "abcd":
        assert await repo.add_playlist_song(playlist.id, name, 7, 1.0, max_songs=10) == "added"
    assert await repo.add_playlist_song(playlist.id, "b", 7, 1.0, max_songs=10) == "duplicate"
    assert ids(await repo.playlist_songs(playlist.id)) == ["a", "b", "c", "d"]
    assert await repo.move_playlist_song(playlist.id, "d", 1) == 1
    assert ids(await repo.playlist_songs(playlist.id)) == ["d", "a", "b", "c"]
    assert await repo.move_playlist_song(playlist.id, "d", 99) == 4
    assert await repo.remove_playlist_song(playlist.id, "a")
    assert not await repo.remove_playlist_song(playlist.id, "a")
    assert ids(await repo.playlist_songs(playlist.id)) == ["b", "c", "d"]
    assert await repo.move_playlist_song(playlist.id, "d", 2) == 2
    assert ids(await repo.playlist_songs(playlist.id)) == ["b", "d", "c"]
    assert await repo.move_playlist_song(playlist.id, "a", 1) is None
    assert await repo.add_playlist_song(playlist.id, "a", 7, 1.0, max_songs=3) == "full"
    await repo.delete_playlist(playlist.id)
    assert await repo.playlist(playlist.id) is None
    assert await repo.playlist_songs(playlist.id) == []


async def test_concurrent_adds_get_distinct_places(repo: Repository) -> None:
    """Ten members adding at the same moment: ten songs at places 1..10, none lost."""
    names = [f"s{n}" for n in range(10)]
    for name in names:
        await repo.add_song(song(name))
    playlist = await repo.create_playlist(GUILD, 7, "Crowd", shared=True, at=1.0)
    assert playlist is not None
    results = await asyncio.gather(*(repo.add_playlist_song(playlist.id, n, 7, 1.0, max_songs=50) for n in names))
    assert results == ["added"] * 10
    assert sorted(ids(await repo.playlist_songs(playlist.id))) == sorted(names)
    assert await repo.move_playlist_song(playlist.id, "s9", 1) == 1  # positions are 1..10 without gaps


async def test_playlist_songs_only_from_the_channels_given(repo: Repository) -> None:
    """With channel_ids a private channel's song is left out (and with none visible, everything is)."""
    await repo.add_song(song("open"))
    await repo.add_song(song("secret", channel_id=PRIVATE))
    playlist = await repo.create_playlist(GUILD, 7, "Both", shared=False, at=1.0)
    assert playlist is not None
    for name in ("secret", "open"):
        await repo.add_playlist_song(playlist.id, name, 7, 1.0, max_songs=10)
    assert ids(await repo.playlist_songs(playlist.id, channel_ids=[PUBLIC])) == ["open"]
    assert await repo.playlist_songs(playlist.id, channel_ids=[]) == []


async def test_radio_candidates_by_source_without_recent_or_private_songs(repo: Repository) -> None:
    """top: most starred first; new: newest first; starred: a member's stars; member: theirs. Never
    an excluded (recently played) song, a private channel's, a stem or a song without audio."""
    await repo.add_song(song("old", created_at=1.0, requester_id=5))
    await repo.add_song(song("mid", created_at=2.0, requester_id=6))
    await repo.add_song(song("new", created_at=3.0, requester_id=5))
    await repo.add_song(song("hidden", created_at=4.0, channel_id=PRIVATE, requester_id=5))
    await repo.add_song(song("silent", created_at=5.0, audio_url=None))
    await repo.add_song(song("stems", created_at=6.0, kind="stems"))
    for user in (1, 2, 3):
        await repo.toggle_star("mid", GUILD, user, 10.0)
    await repo.toggle_star("old", GUILD, 1, 11.0)
    await repo.toggle_star("hidden", GUILD, 1, 12.0)

    async def pick(source: str, **options: object) -> list[str]:
        return ids(await repo.radio_candidates(GUILD, source, channel_ids=[PUBLIC], **options))  # type: ignore[arg-type]

    assert await pick("top") == ["mid", "old"]
    assert await pick("new") == ["new", "mid", "old"]
    assert await pick("new", exclude=["new", "old"]) == ["mid"]
    assert await pick("starred", member_id=1) == ["old", "mid"]
    assert await pick("member", member_id=5) == ["new", "old"]
    assert await pick("jam") == []
    assert await repo.radio_candidates(GUILD, "new", channel_ids=[]) == []


async def test_party_modes_and_stay_in_voice_are_kept(repo: Repository) -> None:
    """Loop mode and radio survive as rows; turning the radio off forgets who started it."""
    modes = await repo.party_modes(GUILD)
    assert (modes.loop_mode, modes.radio_source) == ("off", None)
    await repo.set_loop_mode(GUILD, "queue")
    await repo.set_radio(GUILD, "member", owner_id=7, member_id=9)
    modes = await repo.party_modes(GUILD)
    assert (modes.loop_mode, modes.radio_source, modes.radio_owner_id, modes.radio_member_id) == (
        "queue",
        "member",
        7,
        9,
    )
    await repo.set_radio(GUILD, None)
    modes = await repo.party_modes(GUILD)
    assert (modes.loop_mode, modes.radio_source, modes.radio_owner_id) == ("queue", None, None)
    assert not (await repo.guild_settings(GUILD)).stay_in_voice
    assert (await repo.update_guild_settings(GUILD, stay_in_voice=True)).stay_in_voice
