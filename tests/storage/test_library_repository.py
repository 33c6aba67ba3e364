"""The library in the repository: stars, the one favourites post, and search by words (on every backend)."""

from __future__ import annotations

import asyncio

from bot.storage.repository import Repository, SongRow
from tests.rows import song_row

GUILD = 1


def song(song_id: str, *, title: str = "Untitled", prompt: str = "", lyric: str = "", **fields: object) -> SongRow:
    values: dict[str, object] = {
        "guild_id": GUILD,
        "title": title,
        "prompt": prompt,
        "lyric": lyric,
        "duration": 181.3,
        "audio_url": f"https://cdn.example/{song_id}.mp3",
        "model": "FUZZ-2.0 Pro",
        "created_at": 1000.0,
    }
    return song_row(song_id, **{**values, **fields})


async def library(repo: Repository) -> None:
    await repo.add_song(song("6c947f13-xmas", prompt="A song for Christmas", created_at=1000.0))
    await repo.add_song(
        song(
            "a5460000-harbour",
            title="Harbour Lights",
            prompt="sea shanty",
            lyric="[Verse]\nWe sailed out past Christchurch\nThe lighthouse blinking",
            created_at=1001.0,
        )
    )
    await repo.add_song(
        song("b0000000-rain", title="Rain", prompt="lofi", lyric="drops on the window", created_at=1002)
    )
    await repo.add_song(song("c0000000-other", title="Christmas Elsewhere", guild_id=2, created_at=1003.0))
    await repo.add_song(song("d0000000-stems", title="Christmas stems", kind="stems", created_at=1004.0))


def ids(songs: list[SongRow]) -> list[str]:
    return [item.id for item in songs]


async def test_words_match_title_prompt_and_lyrics_as_prefixes_ranked(repo: Repository) -> None:
    """ "Christ" finds the untitled Christmas song (by its prompt) before the one whose lyrics mention it."""
    await library(repo)
    found = await repo.search_songs(GUILD, text="Christ")
    assert ids(found) == ["6c947f13-xmas", "a5460000-harbour"]  # this guild's, no stems, prompt over lyrics
    assert await repo.count_songs(GUILD, text="Christ") == 2
    assert ids(await repo.search_songs(GUILD, text="lighthouse")) == ["a5460000-harbour"]  # lyrics only
    assert ids(await repo.search_songs(GUILD, text="window drops")) == ["b0000000-rain"]  # every word, any order
    assert ids(await repo.search_songs(GUILD, text="rain christmas")) == []
    assert ids(await repo.search_songs(GUILD, text="b000")) == ["b0000000-rain"]  # a pasted id prefix
    assert await repo.search_songs(GUILD, text="untitled") == []  # the API's placeholder is not a word of the song
    assert ids(await repo.search_songs(GUILD, text='"; DROP TABLE songs; --')) == []
    assert ids(await repo.search_songs(GUILD, text="%")) == []
    assert ids(await repo.search_songs(GUILD)) == ["b0000000-rain", "a5460000-harbour", "6c947f13-xmas"]


async def test_search_by_member_and_in_pages(repo: Repository) -> None:
    await library(repo)
    await repo.add_song(song("e0000000-mine", title="Christmas Morning", requester_id=7, created_at=1005.0))
    assert ids(await repo.search_songs(GUILD, text="christmas", requester_id=7)) == ["e0000000-mine"]
    assert ids(await repo.search_songs(GUILD, text="hristmas mor")) == ["e0000000-mine"]  # part of a title
    first = await repo.search_songs(GUILD, text="christ", limit=1)
    second = await repo.search_songs(GUILD, text="christ", limit=1, offset=1)
    assert ids(first) == ["e0000000-mine"]  # a title match ranks first
    assert len(second) == 1 and second[0].id != "e0000000-mine"


async def test_one_star_per_member_toggles_and_counts(repo: Repository) -> None:
    await library(repo)
    assert await repo.toggle_star("b0000000-rain", GUILD, 7, 10.0) == (True, 1)
    assert await repo.toggle_star("b0000000-rain", GUILD, 8, 11.0) == (True, 2)
    assert await repo.toggle_star("b0000000-rain", GUILD, 7, 12.0) == (False, 1)  # pressed again: unstarred
    assert await repo.star_count("b0000000-rain") == 1
    results = await asyncio.gather(*(repo.toggle_star("6c947f13-xmas", GUILD, user, 20.0) for user in range(10)))
    assert sorted(count for _, count in results) == list(range(1, 11))
    assert await repo.star_counts(["6c947f13-xmas", "b0000000-rain", "a5460000-harbour"]) == {
        "6c947f13-xmas": 10,
        "b0000000-rain": 1,
    }
    assert await repo.star_counts(["6c947f13-xmas", "b0000000-rain"], since=15.0) == {"6c947f13-xmas": 10}


async def test_top_orders_by_stars_in_the_period(repo: Repository) -> None:
    await library(repo)
    for user in (1, 2):
        await repo.toggle_star("a5460000-harbour", GUILD, user, 100.0)
    await repo.toggle_star("b0000000-rain", GUILD, 1, 100.0)
    for user in (1, 2, 3):
        await repo.toggle_star("6c947f13-xmas", GUILD, user, 10.0)  # long ago
    await repo.toggle_star("c0000000-other", 2, 1, 100.0)  # another guild's
    top = await repo.search_songs(GUILD, order="top")
    assert ids(top) == ["6c947f13-xmas", "a5460000-harbour", "b0000000-rain"]
    assert ids(await repo.search_songs(GUILD, order="top", starred_since=50.0)) == ["a5460000-harbour", "b0000000-rain"]
    assert await repo.count_songs(GUILD, order="top", starred_since=50.0) == 2
    assert ids(await repo.search_songs(GUILD, order="top", text="rain")) == ["b0000000-rain"]


async def test_favourite_post_is_claimed_once(repo: Repository) -> None:
    await library(repo)
    claims = await asyncio.gather(*(repo.queue_favourite_post("b0000000-rain", GUILD, 55, 1.0) for _ in range(5)))
    assert claims.count(True) == 1
    [step] = await repo.claim_outbox("A", 60)  # one post queued, with the claim
    assert (step.kind, step.song_id, step.channel_id) == ("favourite", "b0000000-rain", 55)
    await repo.release_favourite_post("b0000000-rain")  # the post was refused: the next star may try again
    assert await repo.finish_outbox(step)
    assert await repo.queue_favourite_post("b0000000-rain", GUILD, 55, 2.0)
    assert not await repo.queue_favourite_post("b0000000-rain", GUILD, 55, 500.0)
    # A claim long unposted is taken again only once its post is no longer queued.
    assert not await repo.queue_favourite_post("b0000000-rain", GUILD, 56, 700.0)
    [queued] = await repo.claim_outbox("A", 60)
    assert await repo.finish_outbox(queued, state="dropped")
    assert await repo.queue_favourite_post("b0000000-rain", GUILD, 56, 700.0)  # a post given up long ago
    await repo.set_favourite_message("b0000000-rain", 999)
    await repo.release_favourite_post("b0000000-rain")  # posted: releasing does nothing any more
    assert not await repo.queue_favourite_post("b0000000-rain", GUILD, 55, 5000.0)


async def test_favourites_settings_round_trip(repo: Repository) -> None:
    settings = await repo.update_guild_settings(GUILD, favourites_channel_id=55, favourites_threshold=5)
    assert (settings.favourites_channel_id, settings.favourites_threshold) == (55, 5)
    cleared = await repo.update_guild_settings(GUILD, favourites_channel_id=None)
    assert (cleared.favourites_channel_id, cleared.favourites_threshold) == (None, 5)
