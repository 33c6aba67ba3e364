"""The requester's status line: one message per task, rewritten as the task moves on.

It shows the place in line, the progress while the song is made, and where the song was posted
or why it failed. The status line is edited through the interaction while its token is fresh
(that works even where the bot cannot read the channel, and does not count against Discord's
global REST limit), and through the bot token after that, after a restart, or when the token
stopped working. In a cluster only the process that took the command holds its token: it claims
the line in the database, the others leave the line to it (`left_to_holder`), and it applies
their changes (`bot.songs.status_sync`). `Delivery` posts the songs and inherits this
class, so one object answers for both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable

import aiohttp
import discord

from bot.i18n import Locale
from bot.songs import render
from bot.songs.language import ServerLanguages
from bot.storage.repository import Repository, Task

log = logging.getLogger(__name__)

INTERACTION_TOKEN_LIFETIME = 14 * 60  # Discord allows 15 minutes; keep a margin.
PROGRESS_EDIT_INTERVAL = 10.0
"""Seconds between two progress edits of one status line: fresh enough to watch, light on Discord."""


def jump_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def status_reference(task: Task) -> discord.MessageReference | None:
    """A reply to the task's status line; it still posts if the line was deleted."""
    if not task.status_message_id:
        return None
    return discord.MessageReference(
        message_id=task.status_message_id, channel_id=task.channel_id, fail_if_not_exists=False
    )


class StatusLines:
    """Keeps each task's status line true; all its state is its own (`Delivery` adds the songs)."""

    def __init__(self, client: discord.Client, repo: Repository) -> None:
        self._client = client
        self._repo = repo
        self._interactions: dict[int, tuple[discord.Interaction, float]] = {}
        self.status_view: Callable[[Task, str], discord.ui.View | None] | None = None
        """Builds the Cancel button for a status line; set by the quota cog when it loads."""
        self._status_locks: dict[int, asyncio.Lock] = {}
        self.shared = False
        """Other processes move tasks on too (a cluster): check the status line once more after editing it."""
        self.owner: str | None = None
        """This process's name in `tasks.status_holder` (the bot sets it to its lease owner)."""
        self.finished_lines: set[int] = set()
        """Lines this process held that now show their task's end: their claims can be given up."""
        self._shown_status: dict[int, str] = {}
        self._progress: dict[int, render.Progress] = {}
        self._progress_shown_at: dict[int, float] = {}
        self.languages = ServerLanguages(repo, client)
        """The server's language for status lines and song posts; the bot hands in its own."""

    def remember_interaction(self, task_id: int, interaction: discord.Interaction) -> None:
        """Keep the command's interaction so the status line can be edited through its token."""
        now = time.monotonic()
        for key, (_, seen) in list(self._interactions.items()):
            if now - seen > INTERACTION_TOKEN_LIFETIME:
                del self._interactions[key]
        self._interactions[task_id] = (interaction, now)

    def held_tasks(self) -> dict[int, float]:
        """Task id → seconds its interaction token has been alive, for tokens still fresh."""
        now = time.monotonic()
        return {
            task_id: now - seen
            for task_id, (_, seen) in self._interactions.items()
            if now - seen < INTERACTION_TOKEN_LIFETIME
        }

    def left_to_holder(self, task: Task) -> bool:
        """Whether another live process holds this task's interaction token: it edits the status
        line (through the exempt interaction endpoint) and this process leaves the line alone."""
        return (
            self.shared
            and task.status_holder is not None
            and task.status_holder != self.owner
            and task.id not in self._interactions
            and (task.status_until or 0.0) > time.time()
        )

    def remembered_tasks(self) -> set[int]:
        """The tasks this process keeps status-line state for (progress, the text it last showed)."""
        return set(self._progress) | set(self._progress_shown_at) | set(self._shown_status)

    def forget_ended(self, open_ids: set[int]) -> None:
        """Drop the state of tasks that ended anywhere. The poller shows the progress of songs other
        processes finish, and only the process that ends a task forgets it on the way, so without
        this a poller's per-task entries would grow for as long as it runs."""
        for task_id in self.remembered_tasks() - open_ids:
            self._progress.pop(task_id, None)
            self._progress_shown_at.pop(task_id, None)
            self._shown_status.pop(task_id, None)
            lock = self._status_locks.get(task_id)
            if lock is not None and not lock.locked():
                del self._status_locks[task_id]

    def member_locale(self, task: Task) -> Locale:
        """The requester's own language while their command's token lives (for private notes)."""
        remembered = self._interactions.get(task.id)
        return remembered[0].locale if remembered else None

    async def _tell_privately(self, task: Task, text: str) -> None:
        """An ephemeral note to the requester, while the command's token is alive. Best effort."""
        remembered = self._interactions.get(task.id)
        if not remembered or time.monotonic() - remembered[1] >= INTERACTION_TOKEN_LIFETIME:
            return
        try:
            await remembered[0].followup.send(
                render.clip(text, render.MESSAGE_CONTENT), ephemeral=True, allowed_mentions=render.NO_MENTIONS
            )
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            log.info("Task %d: could not tell the requester privately (%s)", task.id, type(exc).__name__)

    # -- status ------------------------------------------------------------------------------

    async def show_progress(self, task_id: int, progress: render.Progress, *, now: float) -> None:
        """Put a generating task's progress on its status line, at most every PROGRESS_EDIT_INTERVAL."""
        shown_at = self._progress_shown_at.get(task_id)
        if shown_at is not None and 0 <= now - shown_at < PROGRESS_EDIT_INTERVAL:
            return
        self._progress_shown_at[task_id] = now
        self._progress[task_id] = progress
        await self.update_status(task_id)

    async def update_status(self, task_id: int, *, as_delivered: bool = False) -> None:
        """Rewrite the requester's status line from the task's current state. Never raises.

        In a cluster another process may move the task on (and edit the line) while this edit is
        on its way, and the older text could land last; so the state is read again after each edit
        and the line rewritten until what it shows is current."""
        lock = self._status_locks.setdefault(task_id, asyncio.Lock())
        async with lock:
            for _ in range(3 if self.shared else 1):
                if not await self._update_status_once(task_id, as_delivered=as_delivered):
                    break

    async def _update_status_once(self, task_id: int, *, as_delivered: bool = False) -> bool:
        """One read and, if the text changed, one edit; True when an edit was made. `as_delivered`
        draws the line as the delivery about to be recorded will leave it (its songs are posted)."""
        task = await self._repo.task(task_id)
        if task is None or task.status_message_id is None:
            return False
        if self.left_to_holder(task):
            if task.state in {"delivered", "failed", "cancelled"}:
                self._forget(task_id)
            return False
        if as_delivered and task.state == "delivering":
            task = dataclasses.replace(task, state="delivered")
        link = dm_link = None
        songs = await self._repo.songs_for_task(task_id)
        for song in songs:
            if song.message_id is None:
                continue
            if song.channel_id == task.channel_id:
                link = jump_url(task.guild_id, song.channel_id, song.message_id)
                break
            dm_link = dm_link or jump_url(None, song.channel_id, song.message_id)
        position = (await self._repo.queue_positions(task.guild_id)).get(task.id) if task.state == "queued" else None
        progress = self._progress.get(task_id) if task.state == "pending" else None
        locale = await self.languages.of(task.guild_id)
        text = render.status_text(task, jump_url=link, position=position, progress=progress, locale=locale)
        if task.state == "delivered" and link is None and songs:
            text = render.status_delivered_elsewhere(task, songs, dm_url=dm_link, locale=locale)
        edited = self._shown_status.get(task_id) != text  # the line moves often; edit only on change
        if edited:
            await self._edit_status(task, text, locale)
            self._shown_status[task_id] = text
        if task.state in {"delivered", "failed", "cancelled"}:
            self._forget(task_id)
            return False
        return edited

    def _forget(self, task_id: int) -> None:
        self._shown_status.pop(task_id, None)
        self._progress.pop(task_id, None)
        self._progress_shown_at.pop(task_id, None)
        self._status_locks.pop(task_id, None)
        if self._interactions.pop(task_id, None) is not None and self.shared:  # `StatusSync` releases them
            self.finished_lines.add(task_id)

    async def _edit_status(self, task: Task, text: str, locale: str) -> None:
        remembered = self._interactions.get(task.id)
        # The Cancel button while the task can still be cancelled; None removes it afterwards.
        view = self.status_view(task, locale) if self.status_view is not None else None
        text = render.clip(text, render.MESSAGE_CONTENT)
        if remembered and time.monotonic() - remembered[1] < INTERACTION_TOKEN_LIFETIME:
            try:
                await remembered[0].edit_original_response(content=text, allowed_mentions=render.NO_MENTIONS, view=view)
                return
            except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
                # Expired or revoked token (10062, 10015, 50027...): the bot token still works.
                log.info("Task %d: interaction edit failed (%s); using the bot token", task.id, type(exc).__name__)
                self._interactions.pop(task.id, None)
        try:
            assert task.status_message_id is not None
            channel = self._client.get_partial_messageable(task.channel_id, guild_id=task.guild_id)
            await channel.get_partial_message(task.status_message_id).edit(
                content=text, allowed_mentions=render.NO_MENTIONS, view=view
            )
        except discord.HTTPException as exc:
            log.warning("Could not update the status of task %d (%s %s)", task.id, exc.status, exc.code)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Could not update the status of task %d (%s)", task.id, type(exc).__name__)

    async def notify_failure(self, task: Task) -> None:
        """Tell the requester, with a ping, that their task failed and the credit came back."""
        await self.update_status(task.id)
        channel = self._client.get_partial_messageable(task.channel_id, guild_id=task.guild_id)
        reference = status_reference(task)
        text = render.status_text(task, locale=await self.languages.of(task.guild_id))
        try:
            await channel.send(
                render.clip(f"<@{task.requester_id}> {text}", render.MESSAGE_CONTENT),
                reference=reference,  # type: ignore[arg-type]
                allowed_mentions=discord.AllowedMentions(
                    users=[discord.Object(task.requester_id)], everyone=False, roles=False
                ),
            )
        except discord.HTTPException as exc:
            log.warning("Could not tell the requester of task %d about its failure (%s)", task.id, exc.code)
            await self._tell_privately(task, render.status_text(task, locale=self.member_locale(task)))
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Could not tell the requester of task %d about its failure (%s)", task.id, type(exc).__name__)
