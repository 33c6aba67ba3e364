"""The radio: the next song for a party whose queue ran out, from the server's library by source.

Only songs from channels `@everyone` can view are played: a party is heard by whoever joins the
voice channel, so a song from a private channel would reach members who may not see it. The last
`RADIO_MEMORY` songs the party played are never picked again; among the best `SHORTLIST`
candidates of the source (most starred, newest, ...) one is picked at random, so the radio does not
play the same order every time.
"""

from __future__ import annotations

import random

from bot.access.visibility import Visibility
from bot.storage import Repository, SongRow

SHORTLIST = 5
"""Candidates, best first by the source's order, the radio picks among."""


class RadioPicker:
    """Picks the radio's next song (see the module docstring)."""

    def __init__(self, repo: Repository, visibility: Visibility, *, rng: random.Random | None = None) -> None:
        self.repo = repo
        self.visibility = visibility
        self.rng = rng or random.Random()  # noqa: S311 - variety, not secrecy

    async def public_channels(self, guild_id: int) -> list[int]:
        """The server's channels with songs in them that `@everyone` can view."""
        channels = await self.repo.song_channels(guild_id)
        return [channel for channel in channels if await self.visibility.is_public(guild_id, channel)]

    async def pick(
        self, guild_id: int, source: str, *, owner_id: int, member_id: int | None, recent: list[str]
    ) -> SongRow | None:
        """A song of `source` not among `recent`, or None when there is none left."""
        candidates = await self.repo.radio_candidates(
            guild_id,
            source,
            channel_ids=await self.public_channels(guild_id),
            member_id=member_id or owner_id,
            exclude=recent,
            limit=SHORTLIST,
        )
        return self.rng.choice(candidates) if candidates else None


__all__ = ["SHORTLIST", "RadioPicker"]
