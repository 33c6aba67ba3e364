"""The radio's picks over a long evening: never one of the last 20, only from public channels (both backends)."""

from __future__ import annotations

import random
from collections import deque

from bot.playlists.radio import RadioPicker
from bot.storage.repository import Repository
from tests.rows import song_row

GUILD, PUBLIC, PRIVATE = 1, 100, 200


class PublicChannels:
    """Visibility as the radio asks it: only channel PUBLIC is open to @everyone."""

    async def is_public(self, guild_id: int, channel_id: int) -> bool:
        return channel_id == PUBLIC


async def test_sixty_picks_never_repeat_one_of_the_last_20(repo: Repository) -> None:
    """25 public songs and a private one: 60 picks in a row, none among the 20 before it, none private."""
    for n in range(25):
        await repo.add_song(song_row(f"s{n:02}", guild_id=GUILD, channel_id=PUBLIC, created_at=float(n)))
    await repo.add_song(song_row("secret", guild_id=GUILD, channel_id=PRIVATE, created_at=99.0))
    picker = RadioPicker(repo, PublicChannels(), rng=random.Random(7))  # type: ignore[arg-type]
    recent: deque[str] = deque(maxlen=20)
    picked = []
    for _ in range(60):
        song = await picker.pick(GUILD, "new", owner_id=5, member_id=None, recent=list(recent))
        assert song is not None and song.id not in recent and song.channel_id == PUBLIC
        recent.append(song.id)
        picked.append(song.id)
    assert len(set(picked)) == 25  # the whole library comes round


async def test_nothing_left_when_the_library_is_smaller_than_the_memory(repo: Repository) -> None:
    """Three songs, all played lately: the radio has nothing to pick (and says so on the party message)."""
    for n in range(3):
        await repo.add_song(song_row(f"s{n}", guild_id=GUILD, channel_id=PUBLIC))
    picker = RadioPicker(repo, PublicChannels())  # type: ignore[arg-type]
    assert await picker.pick(GUILD, "new", owner_id=5, member_id=None, recent=["s0", "s1", "s2"]) is None
