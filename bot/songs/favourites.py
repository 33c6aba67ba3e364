"""Favourites: members star songs, and a song that reaches its server's threshold is posted, once, to
the server's favourites channel.

Only songs made in channels `@everyone` can view are posted there, as for the song feed and `/show`:
a private channel's songs stay with those who can see it, however many stars they get.

The post happens once per song whatever happens around it: the first star to reach the threshold
claims it in the database (a primary key) and queues the post in the outbox in the same
transaction, so three members pressing ☆ at the same moment, a member unstarring and starring
again, or the process stopping mid-post, never make a second post nor lose it. A post Discord
refuses (channel gone, missing permissions) gives its claim back, so the next star tries again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot.i18n import tn
from bot.songs import render
from bot.songs.delivery import is_transient
from bot.songs.requests import Clock
from bot.storage import Repository, SongRow
from bot.storage.models import DEFAULT_FAVOURITES_THRESHOLD
from bot.storage.outbox import OutboxItem

if TYPE_CHECKING:
    from bot.songs.delivery import Delivery
    from bot.songs.follow_ups import FollowUps

log = logging.getLogger(__name__)

TOP_PERIOD = 7 * 24 * 3600
"""`/songs sort:top` counts the stars of the last seven days, unless all time is asked for."""


class Favourites:
    """Stars and the favourites channel."""

    def __init__(self, repo: Repository, delivery: Delivery, *, clock: Clock) -> None:
        self._repo = repo
        self._delivery = delivery
        self._clock = clock
        self._posting: set[asyncio.Task[bool]] = set()
        self.follow_ups: FollowUps | None = None
        """Where the post itself is done (set by the bot; it registers `post_queued` there)."""

    async def toggle(self, song: SongRow, user_id: int) -> tuple[bool, int]:
        """Star `song` for the member, or take their star back; (starred now, the song's stars)."""
        return await self._repo.toggle_star(song.id, song.guild_id, user_id, self._clock())

    async def stars(self, song_id: str) -> int:
        return await self._repo.star_count(song_id)

    def top_since(self, all_time: bool) -> float | None:
        """Where `/songs sort:top` starts counting stars: seven days ago, or None for all time."""
        return None if all_time else self._clock() - TOP_PERIOD

    def post_soon(self, song: SongRow, stars: int) -> None:
        """`post_if_due` in the background: it uploads the song again, which the star need not wait for."""
        job = asyncio.create_task(self.post_if_due(song, stars), name=f"favourite-{song.id}")
        self._posting.add(job)
        job.add_done_callback(self._posting.discard)

    async def drain(self) -> None:
        """Wait for favourites posts under way (shutdown, tests)."""
        while self._posting:
            await asyncio.gather(*list(self._posting), return_exceptions=True)

    async def post_if_due(self, song: SongRow, stars: int) -> bool:
        """Queue `song`'s favourites post if it just has enough stars and never was; True if queued.

        The claim and the outbox step are one transaction, so the post happens once even if this
        process stops right after (`post_queued` does it, in whichever process claims the step).
        """
        settings = await self._repo.guild_settings(song.guild_id)
        channel_id = settings.favourites_channel_id
        threshold = settings.favourites_threshold or DEFAULT_FAVOURITES_THRESHOLD
        if channel_id is None or stars < threshold or not (song.audio_url or song.stems_url):
            return False
        visibility = self._delivery.visibility
        if visibility is not None and not await visibility.is_public(song.guild_id, song.channel_id):
            log.info("Song %s was made in a channel not everyone can view; not posted to the favourites", song.id)
            return False
        if not await self._repo.queue_favourite_post(song.id, song.guild_id, channel_id, self._clock()):
            return False  # posted already (or queued by another press right now)
        if self.follow_ups is not None:
            self.follow_ups.wake()
        return True

    async def post_queued(self, step: OutboxItem) -> None:
        """The outbox step: post the song to the favourites channel (a repeat returns Discord's first
        message, by the post's nonce). A refusal (channel gone, permissions) gives the claim back, so
        the next star tries again; a fault that may pass is raised, so the step is tried again."""
        assert step.song_id is not None and step.channel_id is not None
        song = await self._repo.song(step.song_id)
        if song is None:
            return
        stars = await self._repo.star_count(song.id)
        content = tn(
            await self._delivery.languages.of(song.guild_id),
            "⭐ **{song}** by {member} reached {count} star",
            "⭐ **{song}** by {member} reached {count} stars",
            stars,
            song=discord.utils.escape_markdown(render.display_title(song, 200)),
            member=f"<@{song.requester_id}>",
        )
        try:
            message = await self._delivery.repost(
                step.channel_id,
                song.guild_id,
                song,
                content=content,
                stars=stars,
                nonce=render.message_nonce(song.id, step.channel_id),
            )
        except discord.HTTPException as exc:
            if is_transient(exc):
                raise
            log.warning("Could not post song %s to the favourites channel %d (%s)", song.id, step.channel_id, exc)
            await self._repo.release_favourite_post(song.id)
            return
        await self._repo.set_favourite_message(song.id, message.id)
        await self._repo.add_song_message(song.id, message.channel.id, message.id)  # its buttons work there too
        log.info("Song %s posted to the favourites channel %d with %d stars", song.id, step.channel_id, stars)
