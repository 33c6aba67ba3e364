"""Rows for repository tests: a song with plain defaults, so each test names only what it is about."""

from __future__ import annotations

from typing import Any

from bot.storage.repository import SongRow


def song_row(song_id: str = "song-1", **fields: Any) -> SongRow:
    """A `songs` row (a finished song of guild 1, channel 10, member 100) with `fields` changed."""
    values: dict[str, Any] = {
        "id": song_id,
        "task_id": None,
        "kind": "song",
        "guild_id": 1,
        "channel_id": 10,
        "requester_id": 100,
        "title": "Song",
        "prompt": "",
        "lyric": "",
        "duration": None,
        "audio_url": "https://cdn.example/a.mp3",
        "image_url": None,
        "stems_url": None,
        "model": None,
        "seed": None,
        "parent_song_id": None,
        "action": "generate",
        "message_id": None,
        "created_at": 0.0,
    }
    values.update(fields)
    return SongRow(**values)
