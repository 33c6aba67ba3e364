"""The repository's preferences, lyrics drafts, song copies and lyrics charges (on every backend `repo` runs)."""

from __future__ import annotations

import asyncio

from bot.storage import CreditLimits, Preferences, Repository, SongRow
from tests.rows import song_row

DAY = "2026-12-02"


def song(song_id: str = "song-1") -> SongRow:
    return song_row(song_id, kind="upload", audio_url="https://example.invalid/a.mp3", action="upload", created_at=1.0)


async def test_preferences_round_trip_and_reset(repo: Repository) -> None:
    assert (await repo.preferences(7)).is_default
    await repo.save_preferences(Preferences(7, auto_dm=True, model="FUZZ-1.0", style_suffix=", lo-fi"), 1.0)
    assert await repo.preferences(7) == Preferences(7, auto_dm=True, model="FUZZ-1.0", style_suffix=", lo-fi")
    await repo.save_preferences(Preferences(7, auto_dm=False, model=None, style_suffix=", lo-fi"), 2.0)
    assert await repo.preferences(7) == Preferences(7, style_suffix=", lo-fi")
    await repo.save_preferences(Preferences(7), 3.0)
    assert (await repo.preferences(7)).is_default
    assert await repo._fetchone("SELECT COUNT(*) FROM member_preferences") == (0,)


async def test_a_suggestion_is_used_once(repo: Repository) -> None:
    draft = await repo.add_lyrics_draft(
        guild_id=1, channel_id=10, user_id=100, jam_id=5, prompt="p", title="t", lyrics="a\nb", at=1.0
    )
    assert await repo.lyrics_draft(draft.id) == draft
    assert draft.jam_id == 5 and draft.used_by is None
    results = await asyncio.gather(*(repo.use_lyrics_draft(draft.id, user) for user in (200, 201, 202)))
    assert sorted(results) == [False, False, True]
    winner = [200, 201, 202][results.index(True)]
    assert (await repo.lyrics_draft(draft.id)).used_by == winner  # type: ignore[union-attr]
    await repo.release_lyrics_draft(draft.id)
    assert await repo.use_lyrics_draft(draft.id, 300)
    assert await repo.lyrics_draft(999_999) is None


async def test_song_copies_keep_the_first_url_and_a_dm_is_claimed_once(repo: Repository) -> None:
    await repo.add_song(song())
    first = await repo.save_song_copy("song-1", "wav", "https://example.invalid/1.wav", 1.0)
    again = await repo.save_song_copy("song-1", "wav", "https://example.invalid/2.wav", 2.0)
    assert first.url == again.url == "https://example.invalid/1.wav"
    await repo.save_song_copy("song-1", "video", "https://example.invalid/1.mp4", 1.0)
    await repo.set_song_copy_message("song-1", "video", 10, 12345678901234567)
    video = await repo.song_copy("song-1", "video")
    assert video is not None and (video.channel_id, video.message_id) == (10, 12345678901234567)
    claims = await asyncio.gather(*(repo.claim_song_copy("song-1", "dm", 1.0) for _ in range(3)))
    assert sorted(claims) == [False, False, True]
    assert await repo.song_copy("song-2", "wav") is None


async def test_credit_charges_respect_the_allowance_and_the_member_cap(repo: Repository) -> None:
    limits = CreditLimits(daily_allowance=3, member_daily_cap=2)
    outcomes = await asyncio.gather(*(repo.charge_credits(1, 100, DAY, 1, limits) for _ in range(4)))
    assert sorted(outcomes, key=str) == [None, None, "member", "member"]
    assert await repo.quota_used(1, DAY) == 2 and await repo.member_used(1, 100, DAY) == 2
    assert await repo.charge_credits(1, 101, DAY, 1, limits) is None
    assert await repo.charge_credits(1, 102, DAY, 1, limits) == "guild"
    assert await repo.quota_used(1, DAY) == 3 and await repo.member_used(1, 102, DAY) == 0  # refusal took nothing
    await repo.refund_credits(1, 100, DAY, 1)
    assert await repo.quota_used(1, DAY) == 2 and await repo.member_used(1, 100, DAY) == 1
    await repo.refund_credits(1, 100, DAY, 5)  # never below zero
    assert await repo.quota_used(1, DAY) == 0 and await repo.member_used(1, 100, DAY) == 0
    assert await repo.charge_credits(1, 100, DAY, 0, limits) is None  # free: nothing written
    assert await repo.charge_credits(1, 100, DAY, 4, CreditLimits(3, None)) == "guild"
