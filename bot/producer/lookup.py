"""Finding a submission whose answer never arrived, instead of sending it again.

Two things leave the bot unsure whether the API took (and billed) a request: a crash between
sending `/producer/audios` and recording the task id it answered, and an answer that was a 5xx,
a timeout or nonsense. Sending the request again could make (and bill) the song twice, so the
bot looks for it in the API's list of this token's recent tasks (`/producer/tasks`
`retrieve_batch` without ids, newest first), and:

* **Callback mode: by the callback secret.** A task record carries its original request,
  `callback_url` included, and that URL ends in the task's 256-bit secret. The bot stores only
  sha256(secret), so it hashes the secret found in each record's `callback_url` and compares the
  digests: an exact match that nobody can forge and that needs nothing extra in the request.
* **Polling mode (`async: true`): by the request itself.** There is no secret in such a request,
  so a record matches when its request, without `async` and `callback_url`, equals the stored
  body, it was created after the task could have been sent, and no other task owns it already.
  Identical requests are paired oldest first. That can only swap two requests with the very same
  body and price, so nobody gets a song they did not ask for and nobody pays twice.

A client-side correlation field in the request was considered and rejected: the API documents no
free-form field, and an unknown one might be refused, or passed on to the model.

The listing is undocumented for Producer. When it fails, the caller cannot know and fails the
task with a refund; when it succeeds without the task, the request never arrived.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.producer.client import BATCH_LIMIT, ProducerClient
from bot.producer.models import TaskRecord

log = logging.getLogger(__name__)

MAX_PAGES = 6
"""At most this many pages of `BATCH_LIMIT` records are read (at one request per second)."""
CLOCK_SKEW = 600.0
"""Seconds of disagreement allowed between the bot's clock and the API's `created_at`."""
TRANSPORT_FIELDS = ("callback_url", "async")
"""Added to the stored body at submission; not part of what the member asked for."""


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A local task that may or may not have reached the API."""

    task_id: int
    body: dict[str, Any]
    """The request as stored, without `callback_url` / `async`."""
    secret_hash: str | None
    not_before: float
    """The earliest time (bot clock) the request could have been sent."""


def secret_hash_of(callback_url: Any) -> str | None:
    """sha256 of the secret at the end of a callback URL (`…/callbacks/<secret>`), if any."""
    if not isinstance(callback_url, str):
        return None
    path = urlsplit(callback_url).path.rstrip("/")
    head, _, secret = path.rpartition("/")
    if not secret or not head.endswith("/callbacks"):
        return None
    return hashlib.sha256(secret.encode()).hexdigest()


def _plain(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in TRANSPORT_FIELDS}


def match_records(
    wanted: Sequence[Unconfirmed], records: Sequence[TaskRecord], taken: set[str]
) -> dict[int, TaskRecord]:
    """Pair records with unconfirmed tasks: by secret digest, else by identical body (oldest first)."""
    found: dict[int, TaskRecord] = {}
    by_hash = {item.secret_hash: item for item in wanted if item.secret_hash}
    used: set[str] = set(taken)
    for record in records:
        if record.request is None or record.task_id in used:
            continue
        digest = secret_hash_of(record.request.get("callback_url"))
        if digest is None:
            continue
        for candidate, item in by_hash.items():
            if hmac.compare_digest(candidate, digest) and item.task_id not in found:
                found[item.task_id] = record
                used.add(record.task_id)
                break
    # Requests sent without a callback URL: by body, oldest record to oldest task.
    plain_records = sorted(
        (
            record
            for record in records
            if record.request is not None
            and record.task_id not in used
            and not record.request.get("callback_url")
            and record.created_at is not None
        ),
        key=lambda record: record.created_at or 0.0,
    )
    open_items = sorted((item for item in wanted if item.task_id not in found), key=lambda item: item.not_before)
    for record in plain_records:
        assert record.request is not None and record.created_at is not None
        body = _plain(record.request)
        for item in open_items:
            if item.task_id in found or record.created_at < item.not_before - CLOCK_SKEW:
                continue
            if body == _plain(item.body):
                found[item.task_id] = record
                used.add(record.task_id)
                break
    return found


async def find_submissions(
    api: ProducerClient,
    wanted: Sequence[Unconfirmed],
    *,
    is_taken: Callable[[str], Awaitable[bool]],
    max_pages: int = MAX_PAGES,
    guild_id: int | None = None,
) -> dict[int, TaskRecord]:
    """Page through recent API tasks until every unconfirmed task is found or the pages are older.

    The API lists the tasks of the token asked with, so `wanted` must all be for servers served by
    the same key as `guild_id` (`ProducerClient.key_holder`).

    Raises `ProducerError` when the list cannot be read; the caller then cannot know.
    """
    if not wanted:
        return {}
    cutoff = min(item.not_before for item in wanted) - CLOCK_SKEW
    records: list[TaskRecord] = []
    taken: set[str] = set()
    found: dict[int, TaskRecord] = {}
    for page in range(max_pages):
        batch = await api.list_tasks(limit=BATCH_LIMIT, offset=page * BATCH_LIMIT, guild_id=guild_id)
        for record in batch:
            if await is_taken(record.task_id):
                taken.add(record.task_id)
        records.extend(batch)
        found = match_records(wanted, records, taken)
        if len(found) == len(wanted) or len(batch) < BATCH_LIMIT:
            break
        times = [record.created_at for record in batch if record.created_at is not None]
        newest_first = times == sorted(times, reverse=True)
        if times and newest_first and times[-1] < cutoff:
            break
    log.info(
        "Looked up %d unconfirmed submission(s) in %d recent API tasks: %d found", len(wanted), len(records), len(found)
    )
    return found
