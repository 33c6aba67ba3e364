"""What follows a delivered song (its song-feed post, its jam's message, its auto-DM), done exactly once.

The steps are queued in the database's outbox in the same transaction that marks the song
delivered (`Repository.mark_delivered`), so a process that stops right after delivering loses
none of them: whichever process runs `FollowUps` next claims them (a lease and an epoch, like
tasks), does each, and finishes it under its claim. A step that fails on a fault that may pass
(Discord 5xx, the network) is tried again with a growing backoff by any process, and given up
after `MAX_ATTEMPTS` with a warning. Posts carry a nonce derived from the song and the channel,
so a step repeated after a crash between posting and finishing returns Discord's first message
instead of making a second.

Handlers are registered by kind: the song feed and the auto-DM here, the jam message by the jam
cog (`register`), which owns how a jam message looks, and the favourites post by `Favourites`
(the bot registers it). A feed copy judges its channel from the gateway's cache, so in a cluster
it is claimed only by a process running the guild's shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from bot.cluster.leases import Leases
from bot.core.loops import Outage, stop_task
from bot.songs.delivery import Delivery, NotReadyHere
from bot.storage.models import DatabaseUnavailable
from bot.storage.outbox import OutboxItem, OutboxStep
from bot.storage.repository import Repository, Task

log = logging.getLogger(__name__)

Handler = Callable[[OutboxItem], Awaitable[None]]

MAX_ATTEMPTS = 8
"""Tries of one step before it is given up (about 40 minutes of backoff in all)."""
RETRY_BASE = 10.0
RETRY_CAP = 600.0
OUTBOX_LEASE_FACTOR = 2
"""A claimed step is this process's for twice the task lease: one upload of a large song fits."""
SWEEP_INTERVAL = 15.0
NOT_READY_RETRY = 1.0
"""A step waiting for its guild to reach this process's cache (just after start) is tried again this
soon, and the sweep comes back as soon: the gateway sends guilds within seconds of READY, and a
feed post should not wait a whole sweep (or ten seconds) behind it."""
"""How often steps queued by other processes (or left by a stopped one) are looked for."""


async def steps_after_delivery(
    repo: Repository, task: Task, *, auto_dm: Callable[[int], Awaitable[bool]]
) -> tuple[list[OutboxStep], str | None]:
    """What must follow the delivery, queued with it: the song feed's copies, the auto-DMs (not for
    songs that went by DM already), and the jam's next song and message. Most songs need none of
    them, and then nothing is read but two cached settings."""
    feed = (await repo.guild_settings(task.guild_id)).feed_channel_id
    feed = feed if feed and feed != task.channel_id else None
    dm = await auto_dm(task.requester_id)
    if feed is None and not dm and task.jam_id is None:
        return [], None
    songs = [song for song in await repo.songs_for_task(task.id) if song.kind == "song"]
    if not songs:
        return [], None
    steps: list[OutboxStep] = []
    if feed is not None:
        steps += [OutboxStep(f"feed:{song.id}", "feed", task.guild_id, task.id, song.id, feed) for song in songs]
    if dm:
        steps += [
            OutboxStep(f"dm:{song.id}", "dm", task.guild_id, task.id, song.id)
            for song in songs
            if song.channel_id == task.channel_id  # the channel refused it: it went by DM already
        ]
    if task.jam_id is None:
        return steps, None
    steps.append(OutboxStep(f"jam:{task.id}", "jam", task.guild_id, task.id))
    return steps, songs[-1].id


class FollowUps:
    """Claims and does outbox steps; `wake()` after queueing some, a sweep picks up the rest."""

    def __init__(self, repo: Repository, delivery: Delivery, leases: Leases, *, clock: Callable[[], float]) -> None:
        self.shards: Callable[[], tuple[int, tuple[int, ...]] | None] = lambda: None
        """This process's (shard count, shard ids) when it runs only some shards; set by the bot."""
        self._repo = repo
        self._delivery = delivery
        self._leases = leases
        self._clock = clock
        self._handlers: dict[str, Handler] = {"feed": self._feed, "dm": self._dm}
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._doing = 0
        self._waiting_for_guilds = False

    def register(self, kind: str, handler: Handler) -> None:
        """Do steps of `kind` with `handler`; it raises on a fault worth retrying."""
        self._handlers[kind] = handler

    def unregister(self, kind: str) -> None:
        self._handlers.pop(kind, None)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="follow-ups")

    async def stop(self) -> None:
        await stop_task(self._runner)
        self._runner = None

    async def settle(self) -> None:
        """Do every step due now, and wait for those under way here (tests use it)."""
        while await self.run_once() or self._doing:  # noqa: ASYNC110 - the steps are claimed in the database
            await asyncio.sleep(0.01)

    async def run_once(self) -> int:
        """Claim the due steps and do them; how many were claimed."""
        ttl = OUTBOX_LEASE_FACTOR * self._leases.ttl
        items = await self._repo.claim_outbox(self._leases.owner, ttl, shards=self.shards())
        for item in items:
            await self._do(item)
        return len(items)

    async def _run(self) -> None:
        outage = Outage("Follow-ups")
        while True:
            try:
                self._waiting_for_guilds = False
                await self.settle()
                outage.over()
                interval = min(SWEEP_INTERVAL, self._leases.ttl)  # a stopped process's steps, soon after they run out
                if self._waiting_for_guilds:
                    interval = NOT_READY_RETRY
            except DatabaseUnavailable as exc:
                interval = outage.seen(exc)
            except Exception:
                log.exception("Follow-ups sweep failed; trying again shortly")
                interval = SWEEP_INTERVAL
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()

    async def _do(self, item: OutboxItem) -> None:
        self._doing += 1
        try:
            await self._do_now(item)
        finally:
            self._doing -= 1

    async def _do_now(self, item: OutboxItem) -> None:
        handler = self._handlers.get(item.kind)
        if handler is None:
            log.warning(
                "Outbox step %s has no handler here (kind %s); leaving it for a process that has", item.key, item.kind
            )
            await self._repo.retry_outbox(item, SWEEP_INTERVAL)
            return
        try:
            await handler(item)
        except DatabaseUnavailable:
            raise  # the claim runs out; the step is done once the database is back
        except NotReadyHere as exc:
            # The gateway has not sent this guild yet (a process just started): soon, not a fault.
            log.info("Outbox step %s waits: %s", item.key, exc)
            self._waiting_for_guilds = True
            await self._repo.retry_outbox(item, NOT_READY_RETRY)
            return
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            if item.attempts + 1 >= MAX_ATTEMPTS:
                log.warning("Giving up on outbox step %s after %d attempts (%s)", item.key, MAX_ATTEMPTS, exc)
                await self._repo.finish_outbox(item, state="dropped")
                return
            delay = min(RETRY_BASE * 2**item.attempts, RETRY_CAP)
            log.warning("Outbox step %s failed (%s); trying again in %g s", item.key, type(exc).__name__, delay)
            await self._repo.retry_outbox(item, delay)
            return
        except Exception:
            log.exception("Outbox step %s failed; it is not tried again", item.key)
            await self._repo.finish_outbox(item, state="dropped")
            return
        if not await self._repo.finish_outbox(item):
            log.info("Outbox step %s was taken over by another process meanwhile", item.key)

    # -- the song's own steps ----------------------------------------------------------------

    async def _feed(self, item: OutboxItem) -> None:
        """The song feed's copy of a delivered song (only from channels everyone can view)."""
        assert item.task_id is not None and item.song_id is not None and item.channel_id is not None
        task = await self._repo.task(item.task_id)
        song = await self._repo.song(item.song_id)
        if task is None or song is None:
            return  # pruned meanwhile: nothing left to post
        await self._delivery.cross_post(item.channel_id, task, song)

    async def _dm(self, item: OutboxItem) -> None:
        """`/prefer auto_dm`: the requester's own copy by DM, once."""
        assert item.task_id is not None and item.song_id is not None
        task = await self._repo.task(item.task_id)
        song = await self._repo.song(item.song_id)
        if task is None or song is None:
            return
        copy = await self._repo.song_copy(song.id, "dm")
        if copy is not None and copy.message_id is not None:
            return  # sent already (a step repeated after a stop)
        await self._repo.claim_song_copy(song.id, "dm", self._clock())
        message = await self._delivery.dm_copy(task, song)
        if message is not None:
            await self._repo.set_song_copy_message(song.id, "dm", message.channel.id, message.id)
