"""Posting results to Discord with the bot token, and keeping the requester's status line true.

Interaction tokens die after 15 minutes and songs can take longer, so songs are posted with the
bot token to the channel id stored with the task. The status line is edited through the
interaction while its token is fresh (that works even where the bot cannot read the channel),
and through the bot token after that or after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import discord

from bot import media, render
from bot.producer.models import Song
from bot.storage.repository import Repository, SongRow, Task

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
INTERACTION_TOKEN_LIFETIME = 14 * 60  # Discord allows 15 minutes; keep a margin.


def jump_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


class Delivery:
    """Turns stored results into Discord messages."""

    def __init__(
        self,
        client: discord.Client,
        repo: Repository,
        session: aiohttp.ClientSession,
        *,
        download_timeout: float = 120.0,
    ) -> None:
        self._client = client
        self._repo = repo
        self._session = session
        self._download_timeout = download_timeout
        self._interactions: dict[int, tuple[discord.Interaction, float]] = {}
        self.song_view: Callable[[SongRow], discord.ui.View | None] | None = None
        """Builds the follow-up buttons for a song message; set by the follow-ups cog when it loads."""
        self._status_locks: dict[int, asyncio.Lock] = {}

    def remember_interaction(self, task_id: int, interaction: discord.Interaction) -> None:
        """Keep the command's interaction so the status line can be edited through its token."""
        now = time.monotonic()
        for key, (_, seen) in list(self._interactions.items()):
            if now - seen > INTERACTION_TOKEN_LIFETIME:
                del self._interactions[key]
        self._interactions[task_id] = (interaction, now)

    # -- songs -------------------------------------------------------------------------------

    async def post_songs(self, task: Task, songs: Sequence[Song]) -> None:
        """Record and post each song once; a song that already has a message is skipped."""
        for index, song in enumerate(songs):
            key = song.id or f"{task.api_task_id or task.id}:{'stems' if song.stems_url else index}"
            row = await self._repo.add_song(
                SongRow(
                    id=key,
                    task_id=task.id,
                    kind="song" if song.id else "stems",
                    guild_id=task.guild_id,
                    channel_id=task.channel_id,
                    requester_id=task.requester_id,
                    title=song.title if song.title != "Untitled" else str(task.request.get("title") or "Untitled"),
                    prompt=song.prompt or str(task.request.get("prompt") or ""),
                    lyric=song.lyric,
                    duration=song.duration,
                    audio_url=song.audio_url,
                    image_url=song.image_url,
                    stems_url=song.stems_url,
                    model=song.model or task.request.get("model"),
                    seed=song.seed,
                    parent_song_id=task.parent_song_id,
                    action=task.action,
                    message_id=None,
                    created_at=time.time(),
                )
            )
            if row.message_id is not None:
                continue
            message = await self._post_song(task, row)
            if message is not None:
                await self._repo.set_song_message(row.id, message.channel.id, message.id)

    async def _post_song(self, task: Task, song: SongRow) -> discord.Message | None:
        reference = (
            discord.MessageReference(
                message_id=task.status_message_id, channel_id=task.channel_id, fail_if_not_exists=False
            )
            if task.status_message_id
            else None
        )
        try:
            return await self.send_song(
                task.channel_id,
                task.guild_id,
                song,
                content=f"<@{task.requester_id}>, your song is ready.",
                mentions=discord.AllowedMentions(
                    users=[discord.Object(task.requester_id)], everyone=False, roles=False
                ),
                reference=reference,
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            log.warning("Cannot post task %d to channel %d (%s); trying a DM", task.id, task.channel_id, exc.code)
            return await self._post_by_dm(task, song, song.audio_url or song.stems_url or "")

    async def send_song(
        self,
        channel_id: int,
        guild_id: int | None,
        song: SongRow,
        *,
        content: str | None = None,
        mentions: discord.AllowedMentions = render.NO_MENTIONS,
        reference: discord.MessageReference | None = None,
    ) -> discord.Message:
        """Post a song: embed, follow-up buttons, and the audio attached if it fits, else linked."""
        url = song.audio_url or song.stems_url
        assert url is not None
        guild = self._client.get_guild(guild_id) if guild_id else None
        limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
        filename = media.safe_filename(song.title, media.extension_from_url(url, "zip" if song.stems_url else "mp3"))
        fetched = await media.download(
            self._session, url, filename=filename, max_bytes=limit, total_seconds=self._download_timeout
        )
        channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        extra: dict[str, Any] = {"reference": reference} if reference is not None else {}
        view = self.song_view(song) if self.song_view is not None else None
        if view is not None:
            extra["view"] = view
        if isinstance(fetched, media.Download):
            try:
                return await channel.send(
                    content,
                    embed=render.song_embed(song),
                    file=discord.File(fetched.file, filename=fetched.filename),
                    allowed_mentions=mentions,
                    **extra,
                )
            except discord.HTTPException as exc:
                if exc.status != 413 and exc.code != 40005:
                    raise
                reason = "Discord refused the file as too large"
            finally:
                fetched.close()
        else:
            reason = fetched.reason
        note = f"Not attached: {reason}. [Download the {'stems' if song.stems_url else 'audio'}]({url})"
        return await channel.send(
            content, embed=render.song_embed(song, link_note=note), allowed_mentions=mentions, **extra
        )

    async def _post_by_dm(self, task: Task, song: SongRow, url: str) -> discord.Message | None:
        note = f"I could not post in <#{task.channel_id}>. [Download the audio]({url})"
        try:
            dm = await self._client.create_dm(discord.Object(task.requester_id))  # type: ignore[arg-type]
            return await dm.send(embed=render.song_embed(song, link_note=note), allowed_mentions=render.NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning(
                "Task %d: DM to the requester failed too (%s); the song stays in the library",
                task.id,
                exc.code,
            )
            return None

    # -- status ------------------------------------------------------------------------------

    async def update_status(self, task_id: int) -> None:
        """Rewrite the requester's status line from the task's current state. Never raises."""
        lock = self._status_locks.setdefault(task_id, asyncio.Lock())
        async with lock:
            task = await self._repo.task(task_id)
            if task is None or task.status_message_id is None:
                return
            link = None
            for song in await self._repo.songs_for_task(task_id):
                if song.message_id is not None:
                    link = jump_url(task.guild_id, song.channel_id, song.message_id)
                    break
            await self._edit_status(task, render.status_text(task, jump_url=link))
            if task.state in {"delivered", "failed"}:
                self._status_locks.pop(task_id, None)
                self._interactions.pop(task_id, None)

    async def _edit_status(self, task: Task, text: str) -> None:
        remembered = self._interactions.get(task.id)
        try:
            if remembered and time.monotonic() - remembered[1] < INTERACTION_TOKEN_LIFETIME:
                await remembered[0].edit_original_response(content=text, allowed_mentions=render.NO_MENTIONS)
                return
            assert task.status_message_id is not None
            channel = self._client.get_partial_messageable(task.channel_id, guild_id=task.guild_id)
            await channel.get_partial_message(task.status_message_id).edit(
                content=text, allowed_mentions=render.NO_MENTIONS
            )
        except discord.HTTPException as exc:
            log.warning("Could not update the status of task %d (%s %s)", task.id, exc.status, exc.code)

    async def notify_failure(self, task: Task) -> None:
        """Tell the requester, with a ping, that their task failed and the credit came back."""
        await self.update_status(task.id)
        channel = self._client.get_partial_messageable(task.channel_id, guild_id=task.guild_id)
        reference = (
            discord.MessageReference(
                message_id=task.status_message_id, channel_id=task.channel_id, fail_if_not_exists=False
            )
            if task.status_message_id
            else None
        )
        try:
            await channel.send(
                f"<@{task.requester_id}> {render.status_text(task)}",
                reference=reference,  # type: ignore[arg-type]
                allowed_mentions=discord.AllowedMentions(
                    users=[discord.Object(task.requester_id)], everyone=False, roles=False
                ),
            )
        except discord.HTTPException as exc:
            log.warning("Could not tell the requester of task %d about its failure (%s)", task.id, exc.code)
