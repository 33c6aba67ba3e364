"""The song lifecycle: charge, submit, take in the result, deliver or fail with a refund.

Cogs call `enqueue` and `admit` (through `MusicBot.start_song`); the webhook calls
`accept_callback` and the poller `accept_result`. Every state
change goes through the repository first, so a crash at any point leaves a row the next start
can finish (see `recover`).

    reserved ──submit──▶ pending ──result──▶ received ──claim──▶ delivering ──▶ delivered
        └──────────── API error / failed task / deadline ─────────────▶ failed (+ refund)

Several processes may share the database (a cluster), so work a process is in the middle of
(submitting a `reserved` task, delivering a `delivering` one) carries a lease: the process's name
and an expiry it renews while alive (`heartbeat`). When a process dies its leases run out, and the
`housekeeping` every process runs takes the work over, so nothing waits for a dead process and
nothing is done twice (every takeover is one conditional UPDATE only one process can win).

The service is the one object cogs ask, but not all of it lives here: credits and limits are
`bot.songs.quota`, finishing work after a restart and the periodic sweep are `bot.songs.recovery`,
delivering a claimed task is `bot.songs.delivering`, starting the songs in line is
`bot.songs.promotions`, and finding the songs members name is
`bot.songs.library`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from bot.cluster.leases import Claims, Leases
from bot.core.errors import ApiRejected, InvalidInput, Phrase
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.producer.client import ProducerClient, ProducerError
from bot.producer.lookup import Unconfirmed, find_submissions
from bot.producer.wording import describe_api_error
from bot.songs.actions import action_for
from bot.songs.delivering import Delivering
from bot.songs.follow_ups import FollowUps
from bot.songs.library import Library
from bot.songs.promotions import Promotions
from bot.songs.quota import Charge, Quota, utc_day
from bot.songs.recovery import Recovery
from bot.songs.render import Progress
from bot.songs.requests import Clock, SongRequest, hash_secret
from bot.storage.repository import Limits, NewTask, Refusal, Repository, SongRow, Task

if TYPE_CHECKING:
    from bot.songs.delivery import Delivery

log = logging.getLogger(__name__)


class SongService(Recovery, Delivering, Promotions):
    """Owns every transition of a task; see the module docstring for the states."""

    def __init__(
        self,
        settings: Settings,
        repo: Repository,
        api: ProducerClient,
        delivery: Delivery,
        *,
        clock: Clock,
        metrics: Metrics | None = None,
        leases: Leases | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics or Metrics()
        self.leases = leases or Leases(owner=f"process-{id(self):x}")
        self._repo = repo
        self._api = api
        self._delivery = delivery
        self._clock = clock
        self._quota = Quota(settings, repo, clock=clock)
        self._library = Library(repo, api, clock=clock)
        self._background: set[asyncio.Task[None]] = set()
        self._promoting: set[int] = set()
        self._promote_again: set[int] = set()
        self.claims = Claims()
        """The task claims this process is working on: what the heartbeat renews."""
        self.follow_ups = FollowUps(repo, delivery, self.leases, clock=clock)
        """The outbox's steps after a delivery (song feed, jam message, auto-DM)."""
        self.auto_dm: Callable[[int], Awaitable[bool]] = self._auto_dm
        """Whether a member wants their songs by DM (the bot points it at its preferences cache)."""

    # -- commands ----------------------------------------------------------------------------

    def now(self) -> float:
        """The service's clock (injected, so tests can move to the next UTC day)."""
        return self._clock()

    async def default_model(self, guild_id: int) -> str:
        """The server's default model (a member's own comes first: `PreferenceService.model_for`)."""
        own = await self._repo.guild_settings(guild_id)
        return own.default_model or self._settings.default_model

    async def enqueue(self, request: SongRequest, *, status_message_id: int | None = None) -> Task:
        """Charge the guild and the member, and put the task in the guild's line.

        Raises `QuotaExceeded` (nothing charged) with the exact reason and when credits return.
        """
        request = await self._with_api_action(request)
        now = self._clock()
        limits = await self._quota.spending_limits(request.guild_id, request.role_ids)
        outcome = await self._repo.enqueue_task(
            NewTask(
                guild_id=request.guild_id,
                channel_id=request.channel_id,
                requester_id=request.requester_id,
                action=request.action,
                request=request.body,
                quota_day=utc_day(now),
                cost=self.cost_of(request.action),
                created_at=now,
                deadline_at=now + self._settings.task_timeout,
                parent_song_id=request.parent_song_id,
                jam_id=request.jam_id,
                credits=request.credits,
            ),
            limits,
        )
        if isinstance(outcome, Refusal):
            raise self._quota.refusal(outcome.reason, limits, now)
        self._metrics.labelled(self._metrics.songs_requested, request.action).inc()
        if status_message_id is not None:
            # The command's interaction stays in this process: its line is edited from here, through
            # the token (exempt from Discord's global limit), while this process lives.
            until = time.time() + self.leases.ttl
            await self._repo.claim_status_line(outcome.id, status_message_id, self.leases.owner, until)
        return outcome

    async def _with_api_action(self, request: SongRequest) -> SongRequest:
        """Every way of asking (command, button, menu, reply, re-roll) ends here, so the action the
        API gets is chosen once from what the parent song is (`upload_*` for a member's upload)."""
        if request.parent_song_id is None:
            return request
        parent = await self._repo.song(request.parent_song_id)
        if parent is None:
            return request
        action = action_for(request.action, parent.kind)
        if action == request.action:
            return request
        return dataclasses.replace(request, action=action, body={**request.body, "action": action})

    async def admit(self, task: Task) -> None:
        """Submit `task` now if its guild has a free slot (else it waits its turn in line).

        Errors submitting *this* task are raised as `ApiRejected` so the member sees them at once.
        """
        await self.pump(task.guild_id, raise_for=task.id)
        await self._delivery.update_status(task.id)

    async def cancel(self, task_id: int, *, user_id: int, is_manager: bool) -> Task:
        """Cancel a waiting or running task for its requester (or a manager); credits come back."""
        task = await self._repo.task(task_id)
        if task is None:
            raise InvalidInput("That job no longer exists.")
        if task.requester_id != user_id and not is_manager:
            raise InvalidInput("Only the member who asked for this song can cancel it.")
        cancelled = await self._repo.cancel_task(task_id, self._clock())
        if cancelled is None:
            raise InvalidInput("This job has already finished; there is nothing to cancel.")
        log.info("Task %d cancelled by %d", task_id, user_id)
        self._metrics.refunds.inc()
        await self._delivery.update_status(task_id)
        self._spawn(self.pump(task.guild_id), name=f"pump-{task.guild_id}")
        return cancelled

    async def member_jobs(self, guild_id: int, user_id: int) -> list[Task]:
        return await self._repo.member_open_tasks(guild_id, user_id)

    # -- quota (see `bot.songs.quota`) -------------------------------------------------------

    async def limits(self, guild_id: int) -> Limits:
        """A guild's limits: its own settings where set, the bot's defaults elsewhere."""
        return await self._quota.limits(guild_id)

    def cost_of(self, action: str) -> int:
        """Credits an action costs (`Quota.cost_of`)."""
        return self._quota.cost_of(action)

    async def charge_credits(self, guild_id: int, user_id: int, action: str) -> Charge:
        """Charge for something that is not a song (`Quota.charge_credits`)."""
        return await self._quota.charge_credits(guild_id, user_id, action)

    async def refund_credits(self, charge: Charge) -> None:
        await self._quota.refund_credits(charge)

    async def check_quota(self, guild_id: int, user_id: int, role_ids: tuple[int, ...] = ()) -> None:
        """A read-only early check (`Quota.check_quota`); `enqueue` stays the authoritative one."""
        await self._quota.check_quota(guild_id, user_id, role_ids)

    async def usage(self, guild_id: int, user_id: int) -> tuple[int, int, int]:
        """Today's use for the guild and the member, and when it resets (unix time)."""
        return await self._quota.usage(guild_id, user_id)

    # -- songs (see `bot.songs.library`) -----------------------------------------------------

    async def find_song(self, guild_id: int, reference: str) -> SongRow:
        """The song a member named by id or message link, in this guild; a clear error otherwise."""
        return await self._library.find_song(guild_id, reference)

    async def song_for_message(self, guild_id: int | None, message_id: int) -> SongRow | None:
        return await self._library.song_for_message(guild_id, message_id)

    async def register_upload(
        self, *, guild_id: int, channel_id: int, uploader_id: int, url: str, filename: str
    ) -> SongRow:
        """Register a member's audio with `/producer/upload` and record it as a song (origin: upload)."""
        return await self._library.register_upload(
            guild_id=guild_id, channel_id=channel_id, uploader_id=uploader_id, url=url, filename=filename
        )

    async def submit(self, task: Task, secret: str) -> Task:
        """Send a promoted task to the API. On refusal, refund and raise `ApiRejected`.

        The task was claimed by its promotion (`task.lease_epoch`). Right before the request, which
        cannot be taken back, the claim is confirmed: a process that stalled past its lease while
        another took the submission over (looked it up, refunded it) sends nothing.
        """
        self.claims.hold(task.id, task.lease_epoch)
        try:
            return await self._submit_held(task, secret)
        finally:
            self.claims.drop(task.id, task.lease_epoch)

    async def _submit_held(self, task: Task, secret: str) -> Task:
        if not await self._repo.confirm_claim(task.id, task.lease_epoch, self.leases.ttl, ("reserved",)):
            log.warning("Task %d: another process took its submission over; not sending it from here", task.id)
            current = await self._repo.task(task.id)
            return current or task
        body = dict(task.request)
        if self._settings.public_url:
            body["callback_url"] = f"{self._settings.public_url}/callbacks/{secret}"
        else:
            body["async"] = True
        try:
            submission = await self._api.submit_audio(body, guild_id=task.guild_id)
        except ProducerError as exc:
            taken = None
            if exc.ambiguous:
                # A 5xx, a timeout or a nonsense answer: the API may have taken (and billed) it.
                # Never send it again; look for it among the API's recent tasks instead.
                log.warning("Task %d: unclear submit answer (%s %s); looking it up", task.id, exc.status, exc.code)
                wanted = Unconfirmed(task.id, task.request, hash_secret(secret), task.created_at)
                try:
                    found = await find_submissions(
                        self._api, [wanted], is_taken=self._repo.has_api_task, guild_id=task.guild_id
                    )
                    taken = found.get(task.id)
                except ProducerError as lookup_error:
                    log.warning("Task %d: the lookup failed too (%s)", task.id, lookup_error.code)
            if taken is not None:
                log.warning("Task %d: the API had taken it after all, as %s", task.id, taken.task_id)
                await self._repo.mark_submitted(task.id, taken.task_id, self._clock())
                if taken.response is not None:
                    await self.accept_result(task.id, taken.response)
            elif exc.ambiguous:
                # Perhaps taken (and billed) without a record we can find yet. Its secret still
                # authenticates a late callback, and the poller keeps looking it up, so it waits
                # for its deadline like any song; only then is it refunded.
                log.warning("Task %d: not confirmed; waiting for its result until the deadline", task.id)
                await self._repo.mark_submitted(task.id, None, self._clock())
            else:
                message = describe_api_error(exc)
                # Only while still unsent: a callback may have beaten the error here.
                failed = await self._repo.fail_waiting(task.id, str(message), self._clock(), ("reserved",))
                if failed is not None:
                    self._count_failure(failed)
                    self._spawn(self.pump(task.guild_id), name=f"pump-{task.guild_id}")
                    raise ApiRejected(message) from None
                log.warning("Task %d: submit failed (%s) but its result already arrived", task.id, exc.code)
        else:
            await self._repo.mark_submitted(task.id, submission.task_id, self._clock())
            # Submitted: a pending task needs no owner (callbacks reach any process; one polls).
            await self._repo.release_task_lease(task.id, self.leases.owner, task.lease_epoch)
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

    async def note_progress(self, task: Task, percent: int) -> None:
        """Show a generating task's progress (from a pending task record) on its status line."""
        await self.note_progress_many([(task, percent)])

    async def note_progress_many(self, items: list[tuple[Task, int]]) -> None:
        """Show generating tasks' progress (one poll's records) on their status lines.

        In a cluster the progress is also stored (one statement for the lot), and a line whose
        interaction token another process holds is left to that process, which reads the progress
        and edits the line through its token (`bot.songs.status_sync`): the poller's edits would
        otherwise go over the bot token and its global limit.
        """
        if not items:
            return
        now = self._clock()
        if self.leases.shared:
            await self._repo.record_progress([(task.id, percent, now) for task, percent in items])
        for task, percent in items:
            if self._delivery.left_to_holder(task):
                continue
            elapsed = max(0.0, now - (task.submitted_at or task.created_at))
            # In the background: a sweep reads many tasks at once and must not wait on Discord edits.
            self._spawn(
                self._delivery.show_progress(task.id, Progress(percent, elapsed), now=now), name=f"progress-{task.id}"
            )

    async def accept_callback(self, secret: str, body: dict[str, Any]) -> str:
        """A callback: `stored`, `duplicate`, `unknown` (no such secret) or `mismatch` (another task id)."""
        claimed = body.get("task_id")
        claimed = claimed if isinstance(claimed, str) else None
        task = await self._repo.store_callback(
            hash_secret(secret), body, self._clock(), claimed, owner=self.leases.owner, ttl=self.leases.ttl
        )
        if task is not None:
            if task.refunded:
                log.warning(
                    "Task %d: its result came after it was refunded; delivering it anyway (the refund stands)", task.id
                )
            self._spawn(self._deliver_claimed(task), name=f"deliver-{task.id}")
            return "stored"
        existing = await self.task_for_secret(secret)
        if existing is None:
            return "unknown"
        if existing.api_task_id and claimed is not None and claimed != existing.api_task_id:
            return "mismatch"
        return "duplicate"

    async def deliver(self, task_id: int) -> None:
        """Post a received task's songs, or fail it with a refund when it produced nothing."""
        task = await self._repo.claim_delivery(task_id, owner=self.leases.owner, now=self._clock(), ttl=self.leases.ttl)
        if task is None:
            return  # someone else is delivering it, or it is done
        await self._deliver_claimed(task)

    async def _fail(
        self, task: Task, reason: str | Phrase, *, waiting_in: tuple[str, ...] | None = None, epoch: int | None = None
    ) -> bool:
        """Fail with a refund, tell the requester, free the slot. With `waiting_in`, only while the
        task is still in one of those states (a result that came in meanwhile is delivered instead);
        with `epoch`, only under that claim."""
        now = self._clock()
        message = str(reason)  # stored in English; status lines translate it back (`bot.i18n.t_english`)
        if waiting_in is None:
            failed = await self._repo.fail_task(task.id, message, now, epoch=epoch)
        else:
            failed = await self._repo.fail_waiting(task.id, message, now, waiting_in)
        if failed is None:
            return False
        log.info("Task %d failed: %s", task.id, message)
        self._count_failure(failed)
        # In the background: the poller expires many songs at once and must not wait on Discord.
        self._spawn(self._delivery.notify_failure(failed), name=f"notify-{task.id}")
        self._spawn(self.pump(task.guild_id), name=f"pump-{task.guild_id}")
        return True

    def _count_failure(self, task: Task) -> None:
        self._metrics.labelled(self._metrics.songs_failed, task.action).inc()
        if task.refunded:
            self._metrics.refunds.inc()

    # -- background jobs ---------------------------------------------------------------------

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
