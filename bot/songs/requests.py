"""What a request to the song service is made of, before anything is charged.

A member's `SongRequest`; the callback secret each submission carries (the bot keeps only its
hash); and the injected `Clock` every songs module reads the time from, so tests can move it on.
Small value types and pure helpers: importing them pulls in none of the service's machinery.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]


def hash_secret(secret: str) -> str:
    """Only the hash of a callback secret is stored, so a leaked database cannot forge callbacks."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> tuple[str, str]:
    """A callback secret (256 random bits) and the hash stored in its place."""
    secret = secrets.token_urlsafe(32)
    return secret, hash_secret(secret)


@dataclass(frozen=True, slots=True)
class SongRequest:
    """One API request a member asked for, before it is charged."""

    action: str
    body: dict[str, Any]
    guild_id: int
    channel_id: int
    requester_id: int
    parent_song_id: str | None = None
    jam_id: int | None = None
    credits: list[int] | None = None
    role_ids: tuple[int, ...] = ()
    """The requester's roles, for role caps (`/limits`); filled in by the bot from the member."""
