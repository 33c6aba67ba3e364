"""The song lifecycle: charge, submit, take in the result, deliver or fail with a refund.

Cogs call `reserve` and `submit`; the webhook and the poller call `accept_result`. Every state
change goes through the repository first, so a crash at any point leaves a row the next start
can finish (see `recover`).

    reserved ──submit──▶ pending ──result──▶ received ──claim──▶ delivering ──▶ delivered
        └──────────── API error / failed task / deadline ─────────────▶ failed (+ refund)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.actions import parse_song_ref
from bot.errors import ApiRejected, InvalidInput, QuotaExceeded, describe_api_error
from bot.producer.client import ProducerClient, ProducerError
from bot.producer.models import MalformedResult, parse_result
from bot.settings import Settings
from bot.storage.repository import NewTask, Repository, SongRow, Task

if TYPE_CHECKING:
    from bot.delivery import Delivery

log = logging.getLogger(__name__)

Clock = Callable[[], float]


def hash_secret(secret: str) -> str:
    """Only the hash of a callback secret is stored, so a leaked database cannot forge callbacks."""
    return hashlib.sha256(secret.encode()).hexdigest()


def utc_day(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).date().isoformat()


def next_reset(timestamp: float) -> int:
    """Unix time of the next UTC midnight, when daily quotas start again."""
    today = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).date()
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return int(midnight.timestamp())


@dataclass(frozen=True, slots=True)
class SongRequest:
    """One API request a member asked for, before it is charged."""

    action: str
    body: dict[str, Any]
    guild_id: int
    channel_id: int
    requester_id: int
    parent_song_id: str | None = None
    cost: int = 1


@dataclass(frozen=True, slots=True)
class Ticket:
    """A charged, recorded task and the callback secret that belongs to it (kept in memory only)."""

    task: Task
    secret: str


class SongService:
    """Owns every transition of a task; see the module docstring for the states."""

    def __init__(
        self,
        settings: Settings,
        repo: Repository,
        api: ProducerClient,
        delivery: Delivery,
        *,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._repo = repo
        self._api = api
        self._delivery = delivery
        self._clock = clock
        self._background: set[asyncio.Task[None]] = set()

    # -- commands ----------------------------------------------------------------------------

    async def reserve(self, request: SongRequest) -> Ticket:
        """Charge the guild and record the task, with its callback secret, before anything is sent."""
        now = self._clock()
        secret = secrets.token_urlsafe(32)
        task = await self._repo.reserve_task(
            NewTask(
                secret_hash=hash_secret(secret),
                guild_id=request.guild_id,
                channel_id=request.channel_id,
                requester_id=request.requester_id,
                action=request.action,
                request=request.body,
                quota_day=utc_day(now),
                cost=request.cost,
                created_at=now,
                deadline_at=now + self._settings.task_timeout,
                parent_song_id=request.parent_song_id,
            ),
            daily_limit=self._settings.guild_daily_quota,
        )
        if task is None:
            raise self._quota_exceeded(now)
        return Ticket(task=task, secret=secret)

    async def check_quota(self, guild_id: int, cost: int = 1) -> None:
        """A read-only early check, for work worth skipping when the charge would fail anyway.

        The charge itself (`reserve`) stays the atomic, authoritative check.
        """
        now = self._clock()
        if await self._repo.quota_used(guild_id, utc_day(now)) + cost > self._settings.guild_daily_quota:
            raise self._quota_exceeded(now)

    def _quota_exceeded(self, now: float) -> QuotaExceeded:
        return QuotaExceeded(
            f"This server has used all {self._settings.guild_daily_quota} songs for today. "
            f"Credits come back <t:{next_reset(now)}:R>."
        )

    # -- songs -------------------------------------------------------------------------------

    async def find_song(self, guild_id: int, reference: str) -> SongRow:
        """The song a member named by id or message link, in this guild; a clear error otherwise."""
        ref = parse_song_ref(reference)
        if ref.message_id is not None:
            song = await self._repo.song_by_message(ref.message_id)
        else:
            assert ref.song_id is not None
            song = await self._repo.song(ref.song_id)
        if song is None or song.guild_id != guild_id or song.kind == "stems":
            raise InvalidInput(
                "I don't know that song in this server. Pick one from the list, or paste a song id "
                "or a link to a song message."
            )
        return song

    async def song_for_message(self, guild_id: int | None, message_id: int) -> SongRow | None:
        song = await self._repo.song_by_message(message_id)
        if song is None or song.guild_id != guild_id or song.kind == "stems":
            return None
        return song

    async def register_upload(
        self, *, guild_id: int, channel_id: int, uploader_id: int, url: str, filename: str
    ) -> SongRow:
        """Register a member's audio with `/producer/upload` and record it as a song (origin: upload)."""
        try:
            upload = await self._api.upload(url)
        except ProducerError as exc:
            raise ApiRejected(describe_api_error(exc)) from None
        stem = filename.rsplit(".", 1)[0] or "Uploaded audio"
        return await self._repo.add_song(
            SongRow(
                id=upload.audio_id,
                task_id=None,
                kind="upload",
                guild_id=guild_id,
                channel_id=channel_id,
                requester_id=uploader_id,
                title=stem[:100],
                prompt="",
                lyric=upload.lyric,
                duration=None,
                audio_url=upload.audio_url or url,
                image_url=None,
                stems_url=None,
                model=None,
                seed=None,
                parent_song_id=None,
                action="upload",
                message_id=None,
                created_at=self._clock(),
            )
        )

    async def submit(self, ticket: Ticket, *, status_message_id: int | None) -> Task:
        """Send the charged request to the API. On refusal, refund and raise `ApiRejected`."""
        task = ticket.task
        if status_message_id is not None:
            await self._repo.set_status_message(task.id, status_message_id)
        body = dict(task.request)
        if self._settings.public_url:
            body["callback_url"] = f"{self._settings.public_url}/callbacks/{ticket.secret}"
        else:
            body["async"] = True
        try:
            submission = await self._api.submit_audio(body)
        except ProducerError as exc:
            if exc.auth_failed:
                log.error("The Producer API rejected the bot's token (%s). Check PRODUCER_API_TOKEN.", exc.code)
            message = describe_api_error(exc)
            if await self._repo.fail_task(task.id, message, self._clock()) is not None:
                raise ApiRejected(message) from None
            # A callback beat the error here: the API took the request after all.
            log.warning("Task %d: submit failed (%s) but its result already arrived", task.id, exc.code)
        else:
            await self._repo.mark_submitted(task.id, submission.task_id, self._clock())
            log.info("Task %d submitted as %s (%s)", task.id, submission.task_id, task.action)
            if submission.response is not None:
                await self.accept_result(task.id, submission.response)
        await self._delivery.update_status(task.id)
        current = await self._repo.task(task.id)
        assert current is not None
        return current

    # -- results -----------------------------------------------------------------------------

    async def task_for_secret(self, secret: str) -> Task | None:
        return await self._repo.task_by_secret_hash(hash_secret(secret))

    async def accept_result(self, task_id: int, response: dict[str, Any]) -> bool:
        """Persist a finished result once and deliver it in the background. False for a repeat."""
        stored = await self._repo.store_result(task_id, response, self._clock())
        if stored:
            self._spawn(self.deliver(task_id), name=f"deliver-{task_id}")
        return stored

    async def deliver(self, task_id: int) -> None:
        """Post a received task's songs, or fail it with a refund when it produced nothing."""
        task = await self._repo.claim_delivery(task_id)
        if task is None:
            return  # someone else is delivering it, or it is done
        try:
            result = parse_result(task.result)
        except MalformedResult:
            result = None
        if result is None or not result.deliverable:
            reason = (result.error_message if result else None) or "the music service reported a failure"
            await self._fail(task, f"the song could not be made ({reason}). Your credit was refunded.")
            return
        try:
            await self._delivery.post_songs(task, result.deliverable)
        except Exception:
            log.exception("Delivery of task %d failed; it will be retried", task.id)
            await self._repo.release_delivery(task.id)
            return
        await self._repo.mark_delivered(task.id)
        await self._delivery.update_status(task.id)

    async def _fail(self, task: Task, message: str) -> None:
        failed = await self._repo.fail_task(task.id, message, self._clock())
        if failed is not None:
            log.info("Task %d failed: %s", task.id, message)
            await self._delivery.notify_failure(failed)

    # -- housekeeping ------------------------------------------------------------------------

    async def expire_overdue(self) -> int:
        """Fail, with a refund, every task that has had no result by its deadline."""
        now = self._clock()
        expired = 0
        for task in await self._repo.tasks_in_states("reserved", "pending"):
            if task.deadline_at <= now:
                minutes = round(self._settings.task_timeout / 60)
                await self._fail(
                    task,
                    f"no result from the music service after {minutes} minutes. Your credit was refunded.",
                )
                expired += 1
        return expired

    async def recover(self) -> None:
        """At start: finish what a previous run left half done."""
        for task in await self._repo.tasks_in_states("delivering"):
            await self._repo.release_delivery(task.id)
        for task in await self._repo.tasks_in_states("reserved"):
            # Charged but never confirmed as sent: the previous run stopped in between.
            await self._fail(task, "the bot restarted before your request was sent. Your credit was refunded.")
        await self.retry_undelivered()

    async def retry_undelivered(self) -> None:
        for task in await self._repo.tasks_in_states("received"):
            self._spawn(self.deliver(task.id), name=f"deliver-{task.id}")

    async def pending_tasks(self) -> list[Task]:
        return await self._repo.tasks_in_states("pending")

    def _spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run in the background, keeping a reference and logging any failure."""
        job = asyncio.create_task(coro, name=name)
        self._background.add(job)
        job.add_done_callback(self._finished)

    def _finished(self, job: asyncio.Task[None]) -> None:
        self._background.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("Background job %s failed", job.get_name(), exc_info=job.exception())

    async def drain(self) -> None:
        """Wait for background deliveries; used on shutdown and by tests."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self, grace: float = 10.0) -> None:
        """Give running deliveries `grace` seconds, then cancel; `recover` finishes them next start."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=grace)
        for job in list(self._background):
            job.cancel()
        await self.drain()
