"""Posting results to Discord with the bot token; the status line beside them is `bot.songs.status`.

Interaction tokens die after 15 minutes and songs can take longer, so songs are posted with the
bot token to the channel id stored with the task. `Delivery` keeps the requester's status line
true as well: it is a `StatusLines`, whose edits go through the interaction while its token lives.

Exactly one message per song, whatever fails:
* A song row is written before its message is posted, and the message id right after. A song
  that has a row but no message id was being posted when something stopped the bot, so before
  posting again the channel's recent history is searched for it (by its "Song id" field).
* Every post of a song carries a nonce derived from the song and the channel, with Discord's
  `enforce_nonce`: should the history be unreadable, a repeat within Discord's window returns the
  first message instead of making a second.

What Discord faults do:
* 403 / 404 (missing permissions, channel deleted) and any other refusal that the plain-text
  fallback does not cure: the song goes to the requester by DM. When DMs are closed too (50007),
  the song stays in the library, and the requester is told so (privately while the command's
  token lives, and in the status line) with the `/show` command that finds it. Never silent.
* 429 is waited out by discord.py; 5xx, network errors and timeouts raise, so the task goes back
  in line and is tried again with exponential backoff (`retry_base` doubling up to `retry_cap`, per
  failure counted with the task in the database, so the backoff holds across processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord.utils import escape_markdown

from bot.cluster.leases import ClaimLost
from bot.i18n import Locale, t, t_english
from bot.producer import media
from bot.producer.models import Song
from bot.songs import render
from bot.songs.status import StatusLines, jump_url, status_reference
from bot.storage.repository import Repository, SongRow, Task

if TYPE_CHECKING:
    from bot.access.visibility import Visibility

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
MEDIA_SLOTS = 8
"""Songs downloaded and uploaded at the same time; see `Delivery._post_song`."""
TRANSIENT_STATUSES = {401, 408, 429}
"""Besides 5xx: the bot's own token failing (fixed by the owner, not by giving up on the song),
a timeout, and a rate limit discord.py did not wait out. These are retried, never "delivered"."""


def download_label(song: SongRow, locale: Locale) -> str:
    """The link text of a song's file: its audio, or its stems."""
    return t(locale, "Download the stems") if song.stems_url else t(locale, "Download the audio")


def is_too_large(exc: discord.HTTPException) -> bool:
    """Discord refused an upload for its size (413, or 40005 "request entity too large")."""
    return exc.status == 413 or exc.code == 40005


def is_transient(exc: discord.HTTPException) -> bool:
    """A refusal that may pass (5xx or `TRANSIENT_STATUSES`): retry, never settle for a fallback."""
    return exc.status >= 500 or exc.status in TRANSIENT_STATUSES


class NotReadyHere(Exception):
    """This process cannot do the step yet (the gateway has not sent the guild); try again soon."""


def _field_pairs(embed: discord.Embed) -> set[tuple[str | None, str | None]]:
    return {(field.name, field.value) for field in embed.fields}


class Delivery(StatusLines):
    """Turns stored results into Discord messages."""

    def __init__(
        self,
        client: discord.Client,
        repo: Repository,
        session: aiohttp.ClientSession,
        *,
        download_timeout: float = 120.0,
        allow_private_media: bool = False,
    ) -> None:
        super().__init__(client, repo)
        self._allow_private_media = allow_private_media
        self._session = session
        self._download_timeout = download_timeout
        self.visibility: Visibility | None = None
        """Which channels `@everyone` can view (the song feed takes only their songs); set by the bot."""
        self.song_view: Callable[[SongRow, int, str], discord.ui.View | None] | None = None
        """Builds the follow-up buttons for a song message, given its star count; set by the
        follow-ups cog when it loads."""
        self.retry_base = 5.0
        """Seconds before the first retry of a delivery that failed on a transient fault."""
        self.retry_cap = 600.0
        self.media_slots = asyncio.Semaphore(MEDIA_SLOTS)
        """At most MEDIA_SLOTS song files in flight at once, shared with the WAV and Video buttons."""
        self._channel_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)  # one per channel

    # -- retries -----------------------------------------------------------------------------

    def retry_delay(self, task: Task) -> float:
        """Seconds before the next attempt of a task whose delivery just failed.

        Doubles with each failure the task has on record (`Task.delivery_failures`, kept in the
        database), so the backoff keeps growing whichever process makes the next attempt.
        """
        return min(self.retry_base * 2**task.delivery_failures, self.retry_cap)

    @staticmethod
    def describe_fault(exc: BaseException) -> str | None:
        """One line for a fault expected now and then (Discord 5xx, the network, a timeout), or
        None for anything else: a bug, whose traceback the log should keep."""
        if isinstance(exc, discord.HTTPException):
            return f"Discord answered HTTP {exc.status}"
        if isinstance(exc, aiohttp.ClientError | TimeoutError | ConnectionError):
            return f"network: {type(exc).__name__}"
        return None

    # -- songs -------------------------------------------------------------------------------

    async def post_songs(
        self, task: Task, songs: Sequence[Song], *, still_mine: Callable[[], Awaitable[bool]] | None = None
    ) -> None:
        """Record and post each song once; a song that already has a message is skipped.

        Raises on a transient fault; the caller puts the task back in line with a backoff
        (`retry_delay`). `still_mine` is asked right before each post, which cannot be taken back:
        when the claim the delivery runs under was lost (this process stalled past its lease and
        another took the task over), `ClaimLost` is raised and nothing more is posted.
        """
        await self._post_songs(task, songs, still_mine)

    async def _post_songs(
        self, task: Task, songs: Sequence[Song], still_mine: Callable[[], Awaitable[bool]] | None
    ) -> None:
        for index, song in enumerate(songs):
            key = song.id or f"{task.api_task_id or task.id}:{'stems' if song.stems_url else index}"
            earlier = await self._repo.song(key)
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
                    credits=task.credits,
                )
            )
            if row.message_id is not None:
                continue
            # A row without a message: an earlier attempt was stopped while posting it. Look first.
            message = await self._find_posted(task, row) if earlier is not None else None
            if message is None:
                if still_mine is not None and not await still_mine():
                    raise ClaimLost(f"task {task.id}")
                message = await self._post_song(task, row)
            if message is not None:
                await self._repo.set_song_message(row.id, message.channel.id, message.id)
            else:
                text = render.status_delivered_elsewhere(task, [row], dm_url=None, locale=self.member_locale(task))
                await self._tell_privately(task, text)

    async def _find_posted(self, task: Task, song: SongRow) -> discord.Message | None:
        """The bot's message showing `song` in the task's channel (or the requester's DMs), if any.

        Searches messages after the status line (or after the task was made), oldest first.
        """
        me = self._client.user
        if me is None:
            return None
        wanted = render.song_id_value(song.id)
        locale = await self.languages.of(task.guild_id)
        shown = render.song_embed(song, locale=locale)  # how its embed looks (stems have no "Song id" field)
        ids = {t(locale, "Song id"), t(locale, "From song")}
        marks = {(field.name, field.value) for field in shown.fields if field.name in ids}
        made = dt.datetime.fromtimestamp(task.created_at - 60, dt.UTC)
        after = discord.Object(task.status_message_id or discord.utils.time_snowflake(made))
        places: list[discord.abc.Messageable] = [
            self._client.get_partial_messageable(task.channel_id, guild_id=task.guild_id)
        ]
        with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, TimeoutError):
            places.append(await self._client.create_dm(discord.Object(task.requester_id)))  # type: ignore[arg-type]
        for place in places:
            try:
                async for message in place.history(limit=100, after=after, oldest_first=True):
                    if message.author.id == me.id and (
                        any(embed.title == shown.title and marks <= _field_pairs(embed) for embed in message.embeds)
                        or f"Song id: {wanted}" in message.content  # the plain-text form
                    ):
                        log.info("Task %d: song %s was already posted (message %d)", task.id, song.id, message.id)
                        return message
            except discord.HTTPException as exc:
                log.info("Task %d: cannot read the history of %s (%s)", task.id, getattr(place, "id", "?"), exc.code)
        return None

    async def _post_song(self, task: Task, song: SongRow) -> discord.Message | None:
        """One song at a time per channel (Discord paces a channel's posts anyway), and at most
        MEDIA_SLOTS transfers at once overall: each one in flight holds aiohttp's 256 KiB read chunks
        and socket buffers, so without a bound a burst costs memory in proportion to its size. The
        channel comes first, so a channel waiting out a rate limit holds at most one slot."""
        async with self._channel_locks[task.channel_id], self.media_slots:
            return await self._post_song_now(task, song)

    async def _post_song_now(self, task: Task, song: SongRow) -> discord.Message | None:
        reference = status_reference(task)
        try:
            return await self.send_song(
                task.channel_id,
                task.guild_id,
                song,
                content=t(
                    await self.languages.of(task.guild_id),
                    "{member}, your song is ready.",
                    member=f"<@{task.requester_id}>",
                ),
                mentions=discord.AllowedMentions(
                    users=[discord.Object(task.requester_id)], everyone=False, roles=False
                ),
                reference=reference,
                nonce=render.message_nonce(song.id, task.channel_id),
            )
        except discord.HTTPException as exc:
            if is_transient(exc):
                raise  # transient: the task is retried with backoff
            log.warning(
                "Cannot post task %d to channel %d (%s %s); trying a DM", task.id, task.channel_id, exc.status, exc.code
            )
            return await self._post_by_dm(task, song)

    async def send_song(
        self,
        channel_id: int,
        guild_id: int | None,
        song: SongRow,
        *,
        content: str | None = None,
        mentions: discord.AllowedMentions = render.NO_MENTIONS,
        reference: discord.MessageReference | None = None,
        nonce: str | None = None,
        buttons: bool = True,
        stars: int = 0,
    ) -> discord.Message:
        """Post a song: embed, follow-up buttons, and the audio attached if it fits, else linked.

        When Discord refuses the message itself (400: a limit, a component), it is posted again as
        plain text with the link, so a surprising song never blocks its delivery.
        """
        url = song.audio_url or song.stems_url
        assert url is not None
        locale = await self.languages.of(guild_id)
        guild = self._client.get_guild(guild_id) if guild_id else None
        limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
        filename = media.safe_filename(song.title, media.extension_from_url(url, "zip" if song.stems_url else "mp3"))
        fetched = await media.download(
            self._session,
            url,
            filename=filename,
            max_bytes=limit,
            total_seconds=self._download_timeout,
            allow_private=self._allow_private_media,
        )
        channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        extra: dict[str, Any] = {"reference": reference} if reference is not None else {}
        if nonce is not None:
            extra["nonce"] = nonce
        view = self.song_view(song, stars, locale) if self.song_view is not None and buttons else None
        if view is not None:
            extra["view"] = view
        if isinstance(fetched, media.Download):
            try:
                return await channel.send(
                    content,
                    embed=render.song_embed(song, locale=locale),
                    file=discord.File(fetched.file, filename=fetched.filename),
                    allowed_mentions=mentions,
                    **extra,
                )
            except discord.HTTPException as exc:
                if not is_too_large(exc) and exc.status != 400:
                    raise
                reason = t(locale, "Discord refused the file as too large") if is_too_large(exc) else None
            finally:
                fetched.close()
        else:
            reason = t_english(locale, fetched.reason)
        link = render.markdown_link(download_label(song, locale), url, locale)
        note = (
            t(locale, "Not attached: {reason}. {link}", reason=escape_markdown(reason), link=link) if reason else link
        )
        try:
            return await channel.send(
                content,
                embed=render.song_embed(song, link_note=note, locale=locale),
                allowed_mentions=mentions,
                **extra,
            )
        except discord.HTTPException as exc:
            if exc.status != 400:
                raise
            log.warning("Discord refused the message for song %s (%s); posting it as plain text", song.id, exc.code)
        extra.pop("view", None)
        return await channel.send(render.plain_song_text(song, content, locale), allowed_mentions=mentions, **extra)

    async def _post_by_dm(self, task: Task, song: SongRow) -> discord.Message | None:
        """The song, linked, in a DM to the requester; None when that is refused too (DMs closed)."""
        url = song.audio_url or song.stems_url
        locale = await self.languages.of(task.guild_id)
        link = render.markdown_link(download_label(song, locale), url, locale)
        note = t(
            locale, "I could not post in {channel}, so here it is. {link}", channel=f"<#{task.channel_id}>", link=link
        )
        try:
            dm = await self._client.create_dm(discord.Object(task.requester_id))  # type: ignore[arg-type]
            return await dm.send(
                embed=render.song_embed(song, link_note=note, locale=locale),
                allowed_mentions=render.NO_MENTIONS,
                nonce=render.message_nonce(song.id, dm.id),
            )
        except discord.HTTPException as exc:
            if is_transient(exc):
                raise
            log.warning(
                "Task %d: DM to the requester failed too (%s); the song stays in the library",
                task.id,
                exc.code,
            )
            return None

    # -- other copies of a song ---------------------------------------------------------------

    async def repost(
        self, channel_id: int, guild_id: int, song: SongRow, *, content: str, stars: int = 0, nonce: str | None = None
    ) -> discord.Message:
        """Post an existing song again (`/show`, the favourites) under the same throttles as a delivery:
        one post at a time per channel and at most MEDIA_SLOTS transfers at once."""
        async with self._channel_locks[channel_id], self.media_slots:
            return await self.send_song(channel_id, guild_id, song, content=content, stars=stars, nonce=nonce)

    async def cross_post(self, channel_id: int, task: Task, song: SongRow) -> None:
        """Also post a finished song in the guild's song feed (an outbox step: see `FollowUps`).

        Only songs from channels `@everyone` can view: a private channel's songs stay in it. A
        refusal (the feed deleted, permissions taken away) is logged and the step is done; a fault
        that may pass (Discord 5xx, the network) is raised, so the step is tried again. The post's
        nonce makes a repeat within Discord's window return the first message.
        """
        guild = self._client.get_guild(task.guild_id)
        if guild is None:  # not yet in the cache (just started); the step is claimed where the guild's shard runs
            raise NotReadyHere(f"guild {task.guild_id} is not in this process's cache yet")
        if self.visibility is not None and not await self.visibility.everyone_can_view(guild, task.channel_id):
            log.info("Task %d: made in a channel not everyone can view; not cross-posted", task.id)
            return
        async with self._channel_locks[channel_id], self.media_slots:
            try:
                message = await self.send_song(
                    channel_id,
                    task.guild_id,
                    song,
                    content=t(
                        await self.languages.of(task.guild_id),
                        "🎵 New song by {member} in {channel}",
                        member=f"<@{task.requester_id}>",
                        channel=f"<#{task.channel_id}>",
                    ),
                    nonce=render.message_nonce(song.id, channel_id),
                )
            except discord.HTTPException as exc:
                if is_transient(exc):
                    raise
                log.warning(
                    "Could not cross-post task %d to the song feed %d (%s %s)",
                    task.id,
                    channel_id,
                    exc.status,
                    exc.code,
                )
                return
        # Follow-ups (menus, replies) work from the feed's copy too.
        await self._repo.add_song_message(song.id, message.channel.id, message.id)

    async def dm_copy(self, task: Task, song: SongRow) -> discord.Message | None:
        """The member's own copy of a finished song by DM (`/prefer auto_dm`): the embed and the audio,
        without buttons (they act in a server). None when their DMs are closed."""
        link = jump_url(task.guild_id, song.channel_id, song.message_id) if song.message_id else None
        locale = await self.languages.of(task.guild_id)  # the member's own language is not known here
        channel = f"<#{task.channel_id}>"
        if link:
            note = t(locale, "🎵 Your song is ready in {channel}: {link}", channel=channel, link=link)
        else:
            note = t(locale, "🎵 Your song is ready in {channel}.", channel=channel)
        try:
            dm = await self._client.create_dm(discord.Object(task.requester_id))  # type: ignore[arg-type]
            return await self.send_song(
                dm.id, None, song, content=note, nonce=render.message_nonce(song.id, dm.id), buttons=False
            )
        except discord.HTTPException as exc:
            if is_transient(exc):
                raise
            log.info("Could not DM song %s to its requester (%s %s)", song.id, exc.status, exc.code)
            return None
