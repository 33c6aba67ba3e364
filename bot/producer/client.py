"""The one HTTP client for the Producer API.

Rules it keeps, because each one protects money or secrets:
- Only HTTP 429 is retried. A submission that failed with a 5xx or a timeout may already have
  been accepted and billed, so it is never re-sent blindly; the caller decides.
- The API token lives only in the request header. Errors carry status, code, message and
  trace id, never the request (aiohttp's own exceptions hold the headers, so they are replaced).
- Every request names the server it is for (`guild_id`), and the client alone decides which token
  it carries: the server's own key when it has one (`keys`, a `ServerKeys` the bot gives it), else
  the bot's. Callers never hold a token, so no request for a server can go out with the wrong one.
  Answers to a server's own key are told to `server_key_listeners`, never to `account_listeners`
  (the bot's account is not in trouble when a server's key is refused).
- Requests to `/producer/tasks` from this client are at least `TASKS_SPACING` seconds apart,
  whoever makes them (the poller, the start-up lookup of unconfirmed submissions), because the
  platform asks pollers to stay under one request per second.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from bot.core.metrics import Metrics
from bot.producer.models import (
    Lyrics,
    Submission,
    TaskRecord,
    Upload,
    WavFile,
    parse_error_body,
    parse_task_record,
)

log = logging.getLogger(__name__)

BATCH_LIMIT = 50
"""Ids per `retrieve_batch` request; the vendor's own tooling recommends at most about 50."""
TASKS_SPACING = 1.05
"""Seconds between two `/producer/tasks` requests ("stay under 1 req/s")."""
PROBE_TASK_ID = "token-check"
"""A task id no task has: looking it up costs nothing and answers 200 `{}` only to a valid token."""

AccountListener = Callable[[str, "ProducerError | None"], None]
"""Told of every answer: the path, and the error (None on success). `bot.ops.alerts` watches for the
account's own trouble (credits used up, key refused) through it."""


ServerKeyListener = Callable[[int, "ProducerError"], None]
"""Told of every error answered to a server's own key: the server, and the error (`bot.billing`
pauses that server when the key itself is refused)."""


@dataclass(frozen=True, slots=True)
class ServerKey:
    """A server's own API token, decrypted, for the requests made for that server."""

    guild_id: int
    token: str = field(repr=False)
    stored: str = field(default="", repr=False)
    """The encrypted form it was read from (so a refusal pauses only this key, not a newer one)."""


class ServerKeys(Protocol):
    """Where the client finds a server's own key (`bot.billing.keys.KeyStore` implements it)."""

    async def key_for(self, guild_id: int) -> ServerKey | None:
        """The server's own key, or None when the bot's token pays for it."""
        ...


class ProducerError(Exception):
    """Any failure talking to the Producer API, in one type.

    `status` is the HTTP status (0 when no response arrived: network failure or timeout);
    `code` is the API's `error.code` (or `timeout` / `network` / `bad_response` of our own).
    """

    def __init__(self, status: int, code: str, message: str = "", trace_id: str | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.trace_id = trace_id
        self.server_guild: int | None = None
        """Set when the request carried that server's own key (so the key is the server's problem)."""
        super().__init__(f"Producer API error {status} {code}: {message or '-'} (trace_id={trace_id or '-'})")

    @property
    def ambiguous(self) -> bool:
        """True when the request may have been accepted anyway: 5xx, timeout, dropped connection,
        or a 200 whose body made no sense (it was answered, so it was probably taken)."""
        return self.status == 0 or self.status >= 500 or self.code == "bad_response"

    @property
    def auth_failed(self) -> bool:
        return self.code in {"invalid_token", "token_expired", "token_mismatched", "no_token", "disabled"}


def network_reason(error: aiohttp.ClientError) -> str:
    """Why no answer came, in words an owner can act on (never the request, which holds the token)."""
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return f"the name {error.host} does not resolve (DNS)"
    if isinstance(error, aiohttp.ClientConnectorError):
        code = error.os_error.errno
        reason = os.strerror(code) if code else type(error.os_error).__name__
        return f"cannot connect to {error.host}:{error.port}: {reason}"
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "the connection was closed before the answer arrived"
    return f"network error ({type(error).__name__})"


class ProducerClient:
    """Posts to the six Producer endpoints and returns typed results."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        *,
        timeout: float = 60.0,
        max_rate_limit_retries: int = 4,
        backoff_base: float = 1.0,
        tasks_spacing: float = TASKS_SPACING,
        metrics: Metrics | None = None,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = _headers(token)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_retries = max_rate_limit_retries
        self._backoff = backoff_base
        self._tasks_spacing = tasks_spacing
        self._tasks_lock = asyncio.Lock()
        self._last_tasks_request = -float("inf")
        self._metrics = metrics or Metrics()
        self.account_listeners: list[AccountListener] = []
        self.server_key_listeners: list[ServerKeyListener] = []
        self.keys: ServerKeys | None = None
        """Servers' own keys; None (no SECRET_KEY, or tools like `check`) sends every request with the bot's."""

    async def key_holder(self, guild_id: int | None) -> int | None:
        """The server whose own key serves requests for `guild_id`, or None for the bot's key: what
        callers group batched requests by (polls, look-ups), so each batch carries one token."""
        key = await self._key(guild_id)
        return key.guild_id if key is not None else None

    async def _key(self, guild_id: int | None) -> ServerKey | None:
        if guild_id is None or self.keys is None:
            return None
        return await self.keys.key_for(guild_id)

    async def check_token(self) -> None:
        """Prove the token with the cheapest call there is: look up a task that does not exist.

        `/producer/tasks` is free (it only reads), and the gateway checks the token before anything
        else, so a 200 means the token is accepted and `ProducerError.auth_failed` that it is not.
        One request at start is not polling, so it does not hold up the poller's spacing (a
        look-up right after start would otherwise wait a second behind it).
        """
        await self._post("/producer/tasks", {"action": "retrieve", "id": PROBE_TASK_ID}, spaced=False)

    async def check_server_key(self, token: str) -> None:
        """The same free check for a key a manager is about to save: raises `ProducerError` (with
        `auth_failed` for a refused key). No listener hears it: a typo is not an account problem."""
        await self._request("/producer/tasks", {"action": "retrieve", "id": PROBE_TASK_ID}, _headers(token))

    async def submit_audio(self, body: dict[str, Any], *, guild_id: int | None = None) -> Submission:
        """POST /producer/audios. With `callback_url` or `async: true` the API answers at once."""
        data = await self._post("/producer/audios", body, guild_id=guild_id)
        task_id = data.get("task_id") if isinstance(data.get("task_id"), str) else None
        # Without async/callback the API holds the request and answers with the final body.
        inline = data if "data" in data or "error" in data else None
        if task_id is None and inline is None:
            raise ProducerError(200, "bad_response", "the API accepted the request but returned no task id")
        return Submission(task_id=task_id, response=inline)

    async def retrieve_task(self, task_id: str, *, guild_id: int | None = None) -> TaskRecord | None:
        """POST /producer/tasks `retrieve`; `None` for a task the API does not know."""
        data = await self._post("/producer/tasks", {"action": "retrieve", "id": task_id}, guild_id=guild_id)
        return parse_task_record(data)

    async def retrieve_tasks(self, task_ids: Sequence[str], *, guild_id: int | None = None) -> list[TaskRecord]:
        """POST /producer/tasks `retrieve_batch`, at most `BATCH_LIMIT` ids per call, all of them
        tasks made with the key that serves `guild_id` (see `key_holder`)."""
        if len(task_ids) > BATCH_LIMIT:
            raise ValueError(f"at most {BATCH_LIMIT} ids per batch")
        body = {"action": "retrieve_batch", "ids": list(task_ids)}
        data = await self._post("/producer/tasks", body, guild_id=guild_id)
        items = data.get("items")
        records = (parse_task_record(item) for item in items) if isinstance(items, list) else ()
        return [record for record in records if record is not None]

    async def list_tasks(
        self, *, limit: int = BATCH_LIMIT, offset: int = 0, guild_id: int | None = None
    ) -> list[TaskRecord]:
        """POST /producer/tasks `retrieve_batch` without ids: a page of this token's recent tasks.

        Undocumented for Producer (the platform documents it for other services, and the vendor's
        web app uses it), so a caller must treat an error or an empty page as "cannot tell".
        """
        body = {"action": "retrieve_batch", "limit": limit, "offset": offset}
        data = await self._post("/producer/tasks", body, guild_id=guild_id)
        items = data.get("items")
        records = (parse_task_record(item) for item in items) if isinstance(items, list) else ()
        return [record for record in records if record is not None]

    async def upload(self, audio_url: str, *, guild_id: int | None = None) -> Upload:
        """POST /producer/upload: register a member's audio by URL and get an `audio_id`."""
        data = await self._post("/producer/upload", {"audio_url": audio_url}, guild_id=guild_id)
        inner = _data_object(data)
        audio_id = inner.get("audio_id")
        if not isinstance(audio_id, str) or not audio_id:
            raise ProducerError(200, "bad_response", "upload returned no audio_id", _trace(data))
        lyric = inner.get("lyric")
        url = inner.get("audio_url")
        return Upload(
            audio_id=audio_id,
            lyric=lyric if isinstance(lyric, str) else "",
            audio_url=url if isinstance(url, str) else None,
        )

    async def lyrics(self, prompt: str, *, guild_id: int | None = None) -> Lyrics:
        """POST /producer/lyrics. The docs disagree on `lyrics` versus `text`; both are read."""
        data = await self._post("/producer/lyrics", {"prompt": prompt}, guild_id=guild_id)
        inner = _data_object(data)
        text = inner.get("lyrics") or inner.get("text")
        if not isinstance(text, str):
            raise ProducerError(200, "bad_response", "lyrics response had no text", _trace(data))
        title = inner.get("title")
        return Lyrics(title=title if isinstance(title, str) else "", lyrics=text)

    async def wav(self, audio_id: str, *, guild_id: int | None = None) -> WavFile:
        """POST /producer/wav. `data` is documented as a list but shown as an object; accept both."""
        data = await self._post("/producer/wav", {"audio_id": audio_id}, guild_id=guild_id)
        inner = data.get("data")
        item = inner[0] if isinstance(inner, list) and inner else inner
        if isinstance(item, dict):
            url = item.get("file_url") or item.get("audio_url")
            if isinstance(url, str) and url:
                title = item.get("title")
                return WavFile(title=title if isinstance(title, str) else "", file_url=url)
        raise ProducerError(200, "bad_response", "wav response had no file_url", _trace(data))

    async def video(self, audio_id: str, *, guild_id: int | None = None) -> str:
        """POST /producer/videos: the MP4 URL for a song."""
        data = await self._post("/producer/videos", {"audio_id": audio_id}, guild_id=guild_id)
        inner = _data_object(data)
        url = inner.get("video_url")
        if not isinstance(url, str) or not url:
            raise ProducerError(200, "bad_response", "videos response had no video_url", _trace(data))
        return url

    async def _post(
        self, path: str, body: dict[str, Any], *, spaced: bool = True, guild_id: int | None = None
    ) -> dict[str, Any]:
        """POST JSON with the token that serves `guild_id`; retry only 429, with backoff and jitter."""
        key = await self._key(guild_id)
        attempt = 0
        while True:
            try:
                if path == "/producer/tasks" and spaced:
                    return await self._post_spaced(path, body, key)
                return await self._post_once(path, body, key)
            except ProducerError as exc:
                if exc.status != 429 or attempt >= self._max_retries:
                    raise
                delay = self._backoff * (2**attempt) * (1 + random.random() / 4)  # noqa: S311 - jitter, not crypto
                attempt += 1
                log.warning("Producer API rate limited on %s; retry %d in %.1fs", path, attempt, delay)
                await asyncio.sleep(delay)

    async def _post_spaced(self, path: str, body: dict[str, Any], key: ServerKey | None) -> dict[str, Any]:
        async with self._tasks_lock:
            wait = self._last_tasks_request + self._tasks_spacing - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_tasks_request = time.monotonic()
        self._metrics.polls.inc()
        return await self._post_once(path, body, key)

    async def _post_once(self, path: str, body: dict[str, Any], key: ServerKey | None) -> dict[str, Any]:
        """One request, with its outcome counted and told to the listeners of the key it carried."""
        headers = self._headers if key is None else _headers(key.token)
        try:
            payload = await self._request(path, body, headers)
        except ProducerError as exc:
            self._metrics.api_errors.labels(exc.code).inc()
            if key is None:
                self._tell(path, exc)
            else:
                exc.server_guild = key.guild_id
                self._tell_server(key.guild_id, exc)
            raise
        if key is None:
            self._tell(path, None)
        return payload

    def _tell_server(self, guild_id: int, error: ProducerError) -> None:
        for listener in self.server_key_listeners:
            try:
                listener(guild_id, error)
            except Exception:
                log.exception("A server key listener failed")

    def _tell(self, path: str, error: ProducerError | None) -> None:
        for listener in self.account_listeners:
            try:
                listener(path, error)
            except Exception:
                log.exception("An API account listener failed")

    async def _request(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        url = self._base + path
        try:
            async with self._session.post(url, json=body, headers=headers, timeout=self._timeout) as response:
                try:
                    payload = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    payload = None
                status = response.status
        except TimeoutError:
            raise ProducerError(0, "timeout", "no answer in time") from None
        except aiohttp.ClientError as exc:
            # aiohttp's exception carries the request headers, token included: keep only what fits the owner.
            raise ProducerError(0, "network", network_reason(exc)) from None
        if status >= 400:
            error = parse_error_body(payload)
            log.warning(
                "Producer API %s answered %d %s: %s (trace_id=%s)",
                path,
                status,
                error.code,
                error.message,
                error.trace_id,
            )
            raise ProducerError(status, error.code, error.message, error.trace_id)
        if not isinstance(payload, dict):
            raise ProducerError(status, "bad_response", f"{path} answered with something other than a JSON object")
        return payload


def _headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "accept": "application/json", "content-type": "application/json"}


def _data_object(data: dict[str, Any]) -> dict[str, Any]:
    """The `data` object of an inline answer, or {} when it is missing or of another shape."""
    inner = data.get("data")
    return inner if isinstance(inner, dict) else {}


def _trace(data: dict[str, Any]) -> str | None:
    trace = data.get("trace_id")
    return trace if isinstance(trace, str) else None
