"""A fake AceData Cloud Producer API served by aiohttp on 127.0.0.1.

The bot's real HTTP client talks to this server over real sockets, so tests exercise
serialisation, auth headers, timeouts, polling cadence and callback handling exactly as
production does. Behaviour follows /work/shared/producer-api.md and the vendor guide:

* ``POST /producer/audios`` in its three documented modes: ``callback_url`` (answer
  ``{"success": true, "task_id"}`` at once, POST the final body later), ``async: true``
  (answer ``{"task_id"}`` at once, no callback) and synchronous (hold the request open
  until the song is finished).
* ``POST /producer/tasks`` returning ``ProducerTaskRecord`` objects, where ``response``,
  ``finished_at`` and ``elapsed`` only appear once the task is finished. While pending, a
  misleading top-level preview ``data`` entry is included, because the vendor docs warn
  that streaming previews show up before completion and clients must not trust them. A
  pending record reports ``progress`` ("0%", "45%", …) where :attr:`FakeProducer.progress_shape`
  says (where the real API puts it is undocumented), set by :meth:`FakeProducer.set_progress`
  or by a :attr:`FakeProducer.progress_timeline`.
* ``/producer/upload``, ``/producer/lyrics``, ``/producer/wav`` and ``/producer/videos``
  answering inline.
* ``GET /media/{name}`` serving deterministic bytes for everything the fake produced, so a
  client can download songs without touching the internet.

Tests steer it with :meth:`FakeProducer.script` (per-task outcomes, FIFO),
:meth:`FakeProducer.fail_next` (gateway errors) and :meth:`FakeProducer.set_media`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import random
import re
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

JSON = dict[str, Any]

MODELS = (
    "FUZZ-2.0 Pro",
    "FUZZ-2.0",
    "FUZZ-2.0 Raw",
    "FUZZ-1.1 Pro",
    "FUZZ-1.0 Pro",
    "FUZZ-1.0",
    "FUZZ-1.1",
    "FUZZ-0.8",
)
# The spec and the vendor MCP name FUZZ-2.0 as the default when `model` is omitted; the
# guide's own stems example omits `model`, so a missing model must be accepted.
DEFAULT_MODEL = "FUZZ-2.0"

UPLOAD_ACTIONS = ("upload_cover", "upload_extend", "upload_replace_section")
ACTIONS = (
    "generate",
    "cover",
    "extend",
    "variation",
    "swap_vocals",
    "swap_instrumentals",
    "replace_section",
    "stems",
    *UPLOAD_ACTIONS,
)
ProgressShape = Literal["data", "top", "response"]
OUTCOMES = ("success", "failure", "failure_string_error", "partial", "never")
Outcome = Literal["success", "failure", "failure_string_error", "partial", "never"]

PROMPT_LIMIT = 200
# (minimum, maximum) as documented in the guide; cover_strength exists only there.
STRENGTH_RANGES: dict[str, tuple[float, float]] = {
    "lyrics_strength": (0.0, 1.0),
    "sound_strength": (0.2, 1.0),
    "cover_strength": (0.2, 1.0),
    "weirdness": (0.0, 1.0),
}
PREVIEW_SIZE = 4 * 1024
IMAGE_SIZE = 2 * 1024

_LYRIC_LINE_SPLIT = re.compile(r"\n|\\n")
_SECTION_TAG = re.compile(r"^\s*\[[^\]]*\]\s*")


@dataclass(frozen=True)
class ProducerScript:
    """How the fake should treat one submitted task; see :meth:`FakeProducer.script`."""

    outcome: Outcome = "success"
    error_code: str = "api_error"
    error_message: str = "provider failed"
    audio_size: int = 64 * 1024
    duration: str = "135.2330158730159"
    duplicate_callbacks: int = 1
    drop_callback: bool = False
    callback_before_response: bool = False
    title: str | None = None
    content_type: str = "audio/mpeg"
    media_drip_delay: float = 0
    media_status: int = 200


@dataclass
class FakeTask:
    """One `/producer/audios` task as the fake tracks it.

    ``response`` stays ``None`` until the task finishes; it is then exactly the body that
    was (or would have been) sent to the callback, mirroring the real task record.
    """

    task_id: str
    trace_id: str
    record_id: str
    request: JSON
    mode: Literal["sync", "async", "callback"]
    script: ProducerScript
    created_at: float
    started_at: float
    callback_url: str | None = None
    finished_at: float | None = None
    response: JSON | None = None
    songs: list[JSON] = field(default_factory=list)
    progress: str | None = None  # set by set_progress(); else from the timeline, else "0%"
    token: str = ""  # the token that submitted it: only that token can look it up or list it
    # Set when the task finishes, and also on close() so held-open requests can return.
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def finished(self) -> bool:
        """Whether the task has its final ``response``."""
        return self.response is not None


@dataclass
class _Media:
    """A file served under /media; ``data=None`` means generate ``size`` bytes on demand."""

    content_type: str
    size: int = 0
    data: bytes | None = None
    drip_delay: float = 0
    status: int = 200
    drop_after: int = 0  # bytes sent per connection before the fake drops it (0: never)

    def body(self, name: str) -> bytes:
        """Return the bytes to serve, generating them lazily so huge sizes stay cheap until used."""
        if self.data is not None:
            return self.data
        if name.endswith(".zip"):
            return _stems_zip(name)
        return deterministic_bytes(name, self.size)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """First and last byte of a ``Range: bytes=N-`` or ``bytes=N-M`` request, if it is one this fake serves."""
    if not header or not header.startswith("bytes="):
        return None
    first, _, last = header[len("bytes=") :].split(",")[0].strip().partition("-")
    if not first.isdigit() or int(first) >= size:
        return None
    end = min(int(last), size - 1) if last.isdigit() else size - 1
    return (int(first), end) if end >= int(first) else None


@dataclass
class _Failure:
    status: int
    code: str
    message: str
    remaining: int
    delay: float


def deterministic_bytes(name: str, size: int) -> bytes:
    """Bytes that depend only on ``name`` and ``size``, so tests can compare downloads exactly.

    A plausible magic prefix is added for audio and images, because a client (or Discord)
    may sniff the file type.
    """
    if name.endswith(".mp3"):
        prefix = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    elif name.endswith(".jpg"):
        prefix = b"\xff\xd8\xff\xe0"
    elif name.endswith(".wav"):
        prefix = b"RIFF\x00\x00\x00\x00WAVE"
    else:
        prefix = b""
    block = hashlib.sha256(name.encode()).digest()
    repeats = size // len(block) + 1
    return (prefix + block * repeats)[:size]


def _stems_zip(name: str) -> bytes:
    """A real zip (vocals + instrumental), with fixed timestamps so it is byte-stable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in ("vocals.mp3", "instrumental.mp3"):
            info = zipfile.ZipInfo(part, date_time=(2025, 12, 30, 0, 0, 0))
            archive.writestr(info, deterministic_bytes(f"{name}/{part}", 1024))
    return buffer.getvalue()


def _token(request: web.Request) -> str:
    return (request.headers.get("authorization") or "").removeprefix("Bearer ")


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but `true` is not a valid time or strength.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _title_from_lyric(lyric: str) -> str | None:
    """First sung line, skipping section tags; the guide's custom-mode titles come from it."""
    for raw_line in _LYRIC_LINE_SPLIT.split(lyric):
        line = _SECTION_TAG.sub("", raw_line).strip()
        if line:
            return line[:80]
    return None


class FakeProducer:
    """An in-process Producer API; start it, point the client at ``base_url``, then close it."""

    def __init__(
        self,
        *,
        token: str = "fake-producer-token",
        latency: float = 0.05,
        auto_complete: bool = True,
    ) -> None:
        self.token = token
        self.latency = latency
        self.auto_complete = auto_complete
        self.base_url = ""
        self.progress_shape: ProgressShape = "data"
        """Where a pending record carries `progress`: in its top-level `data[]` items, at its top
        level, or in `response.data[]` of a `response` without `success` (a report, not a result)."""
        self.progress_timeline: tuple[tuple[float, str], ...] = ()
        """(seconds since the task was created, progress) steps, for tasks without set_progress()."""

        self.server_tokens: set[str] = set()
        """Further accepted tokens (servers' own keys); `refuse_token` makes one fail."""
        self.refused_tokens: dict[str, tuple[int, str]] = {}
        self.token_log: list[tuple[str, str | None]] = []
        """(path, the bearer token) of every /producer/ request, in order, rejected ones included."""
        self.audio_requests: list[JSON] = []
        self.task_requests: list[tuple[float, JSON]] = []
        self.upload_requests: list[JSON] = []
        self.lyrics_requests: list[JSON] = []
        self.wav_requests: list[JSON] = []
        self.video_requests: list[JSON] = []
        self.tasks: dict[str, FakeTask] = {}
        self.songs: dict[str, JSON] = {}
        self.uploaded_audio: dict[str, str] = {}
        self.callbacks_sent: list[tuple[str, int, JSON]] = []
        self.upload_fetches: list[tuple[str, int, int]] = []
        self.media_requests: list[str] = []
        self.media_ranges: list[str | None] = []  # each media request's Range header
        self.background_errors: list[BaseException] = []
        # The docs disagree on the lyrics answer: the guide shows `data.lyrics`, the spec and the
        # vendor MCP `data.text` (with `data.status: "complete"`). Tests pick one per fake.
        self.lyrics_shape: Literal["lyrics", "text"] = "lyrics"
        self.wav_size: int | None = None  # None: as large as the song's mp3
        self.video_size = 16 * 1024

        # Constant per fake, like one credential of one application in the real platform.
        self.api_id = str(uuid.uuid4())
        self.application_id = str(uuid.uuid4())
        self.credential_id = str(uuid.uuid4())
        self.user_id = str(uuid.uuid4())

        self._scripts: list[ProducerScript] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._accept_then_fail: list[_Failure] = []
        self._holds: dict[str, asyncio.Event] = {}
        self._media: dict[str, _Media] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self._rng = random.Random(0x5EED)  # Stable seeds across runs; uuids stay random.
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind to an ephemeral port on 127.0.0.1 and open the session used for callbacks."""
        app = web.Application(middlewares=[self._gateway_middleware])
        app.router.add_post("/producer/audios", self._handle_audios)
        app.router.add_post("/producer/tasks", self._handle_tasks)
        app.router.add_post("/producer/upload", self._handle_upload)
        app.router.add_post("/producer/lyrics", self._handle_lyrics)
        app.router.add_post("/producer/wav", self._handle_wav)
        app.router.add_post("/producer/videos", self._handle_videos)
        app.router.add_get("/media/{name}", self._handle_media)
        # A short shutdown timeout: held-open and dripping handlers must not stall close().
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        """Stop timers and callback deliveries, release held requests, then shut the server."""
        if self._closed:
            return
        self._closed = True
        for task in self.tasks.values():
            task.done.set()
        background = list(self._background)
        for job in background:
            job.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> FakeProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ scripting

    def script(
        self,
        *,
        outcome: Outcome = "success",
        error_code: str = "api_error",
        error_message: str = "provider failed",
        audio_size: int = 64 * 1024,
        duration: str = "135.2330158730159",
        duplicate_callbacks: int = 1,
        drop_callback: bool = False,
        callback_before_response: bool = False,
        title: str | None = None,
        content_type: str = "audio/mpeg",
        media_drip_delay: float = 0,
        media_status: int = 200,
    ) -> None:
        """Queue how the next accepted task behaves (FIFO; rejected submissions consume nothing).

        Outcomes: ``success``; ``failure`` (``success: false`` with ``error`` and empty
        ``data``); ``failure_string_error`` (``{"success": false, "error": "provider
        timeout"}``, the plain-string shape Nexior has seen); ``partial`` (``success: false``
        but one playable song); ``never`` (stays pending until :meth:`complete`).
        ``media_drip_delay`` and ``media_status`` shape how the song's audio file is served
        (see :meth:`set_media`).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}")
        if duplicate_callbacks < 0 or audio_size < 0:
            raise ValueError("duplicate_callbacks and audio_size must not be negative")
        self._scripts.append(
            ProducerScript(
                outcome=outcome,
                error_code=error_code,
                error_message=error_message,
                audio_size=audio_size,
                duration=duration,
                duplicate_callbacks=duplicate_callbacks,
                drop_callback=drop_callback,
                callback_before_response=callback_before_response,
                title=title,
                content_type=content_type,
                media_drip_delay=media_drip_delay,
                media_status=media_status,
            )
        )

    def fail_next(
        self, path: str, *, status: int, code: str, message: str = "", times: int = 1, delay: float = 0
    ) -> None:
        """Make the next ``times`` requests to ``path`` fail like the gateway would.

        The body is still recorded first. ``delay`` sleeps before answering, to drive client
        timeouts. Works for any path, including ``/media/...``.
        """
        failure = _Failure(status, code, message or code.replace("_", " "), times, delay)
        self._failures.setdefault(path, []).append(failure)

    def accept_token(self, token: str) -> None:
        """Accept `token` too (a server's own key), as another account of the same platform."""
        self.server_tokens.add(token)
        self.refused_tokens.pop(token, None)

    def refuse_token(self, token: str, *, status: int = 403, code: str = "used_up") -> None:
        """Requests with `token` fail from now on (out of credit by default; 401 invalid_token too)."""
        self.refused_tokens[token] = (status, code)

    def tokens_for(self, path: str) -> list[str | None]:
        """The tokens requests to `path` carried, in order."""
        return [token for logged, token in self.token_log if logged == path]

    def hold(self, path: str) -> asyncio.Event:
        """Requests to ``path`` wait (an API that is up but not answering) until the event is set."""
        gate = self._holds[path] = asyncio.Event()
        return gate

    def accept_then_fail_next(
        self, *, status: int, code: str, message: str = "", times: int = 1, delay: float = 0
    ) -> None:
        """The next ``times`` submissions are *accepted* (the task exists, runs and is billed) but the
        answer is an error, sent after ``delay`` seconds: the gateway 5xx or the client timeout that
        leaves a client unsure whether its request was taken.
        """
        self._accept_then_fail.append(_Failure(status, code, message or code.replace("_", " "), times, delay))

    async def complete(self, task_id: str) -> None:
        """Finish a pending task now (for ``auto_complete=False`` or ``outcome="never"``).

        Awaits callback delivery, so the test can assert on ``callbacks_sent`` right after.
        A ``never`` task completes as a success.
        """
        task = self.tasks[task_id]
        timer = self._timers.pop(task_id, None)
        if timer is not None:
            # Only still-sleeping timers are in _timers; a finishing one removed itself.
            timer.cancel()
        await self._finish(task)

    def set_progress(self, task_id: str, progress: str) -> None:
        """What the task's record reports as its `progress` (e.g. "45%") while it is pending."""
        self.tasks[task_id].progress = progress
        self._notify()

    def progress_of(self, task: FakeTask) -> str:
        """The progress a pending task reports now: set by hand, else by the timeline, else "0%"."""
        if task.progress is not None:
            return task.progress
        running = time.time() - task.created_at
        reached = [value for after, value in self.progress_timeline if running >= after]
        return reached[-1] if reached else "0%"

    async def send_callback(self, task_id: str, body: JSON | None = None, url: str | None = None) -> int:
        """(Re)send a callback by hand, e.g. a late duplicate; returns the receiver's status."""
        task = self.tasks[task_id]
        target = url or task.callback_url
        payload = body if body is not None else task.response
        if target is None:
            raise ValueError(f"task {task_id} has no callback_url; pass url=")
        if payload is None:
            raise ValueError(f"task {task_id} is not finished; pass body=")
        return await self._post_callback(target, payload)

    # A timeout argument (not asyncio.timeout at call sites) keeps test waits one-liners.
    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        """Wait until ``predicate()`` is truthy, re-checking on every state change; return it.

        State changes are: a request recorded, a task created or finished, a callback sent,
        an upload fetch, a media request. No polling sleeps, so tests stay fast.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    result = predicate()
                    if result:
                        return result
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout}s") from None

    async def wait_for_task_count(self, count: int, timeout: float = 10) -> list[FakeTask]:
        """Wait until at least ``count`` audio tasks exist; return them in creation order."""
        await self.wait_for(lambda: len(self.tasks) >= count, timeout)
        return list(self.tasks.values())

    async def wait_for_callbacks(
        self,
        count: int,
        timeout: float = 10,
    ) -> list[tuple[str, int, JSON]]:
        """Wait until at least ``count`` callbacks were delivered (or attempted)."""
        await self.wait_for(lambda: len(self.callbacks_sent) >= count, timeout)
        return list(self.callbacks_sent)

    def media_url(self, name: str) -> str:
        """Absolute URL of a file this fake serves under /media."""
        return f"{self.base_url}/media/{name}"

    def set_media(
        self,
        name: str,
        data: bytes,
        content_type: str = "audio/mpeg",
        *,
        drip_delay: float = 0,
        status: int = 200,
        drop_after: int = 0,
    ) -> None:
        """Serve ``data`` at /media/``name``, replacing any generated file of that name.

        ``drip_delay`` sends the body in 1 KiB chunks with that sleep between them (a slow
        CDN); a non-200 ``status`` sends ``data`` as the error body. ``drop_after`` closes each
        connection after that many bytes of the body, as a host does with a reader that stalled
        (a listening party paused for minutes); a ``Range`` request resumes where it stopped.
        """
        self._media[name] = _Media(content_type, len(data), data, drip_delay, status, drop_after)

    def media_bytes(self, name: str) -> bytes | None:
        """The exact bytes /media/``name`` would serve, or ``None`` if it would 404."""
        media = self._media.get(name)
        return None if media is None else media.body(name)

    def task_record(self, task_id: str) -> JSON:
        """The ``ProducerTaskRecord`` that ``retrieve`` returns for this task."""
        task = self.tasks[task_id]
        record: JSON = {
            "_id": task.record_id,
            "id": task.task_id,
            "type": "audios",
            "trace_id": task.trace_id,
            "api_id": self.api_id,
            "application_id": self.application_id,
            "credential_id": self.credential_id,
            "user_id": self.user_id,
            "created_at": task.created_at,
            "started_at": task.started_at,
            "request": task.request,
        }
        if task.finished and task.finished_at is not None:
            record["response"] = task.response
            record["finished_at"] = task.finished_at
            record["elapsed"] = round(task.finished_at - task.created_at, 3)
        else:
            # Deliberately misleading: a playable-looking URL (even "100%") before the task is done.
            preview: JSON = {"audio_url": self.media_url(f"preview-{task.task_id}.mp3"), "state": "running"}
            progress = self.progress_of(task)
            record["data"] = [{**preview, "progress": progress} if self.progress_shape == "data" else preview]
            if self.progress_shape == "top":
                record["progress"] = progress
            elif self.progress_shape == "response":
                record["response"] = {"task_id": task.task_id, "data": [{**preview, "progress": progress}]}
        return record

    # ------------------------------------------------------------------ internals

    def _notify(self) -> None:
        """Wake every wait_for() so it re-evaluates its predicate."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run background work that close() can cancel; errors are kept, never lost."""
        job = asyncio.ensure_future(coro)
        self._background.add(job)
        job.add_done_callback(self._forget)
        return job

    def _forget(self, job: asyncio.Task[Any]) -> None:
        self._background.discard(job)
        error = None if job.cancelled() else job.exception()
        if error is not None:
            self.background_errors.append(error)

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        # The guide's example error carries "success": false; the concepts doc omits it.
        body = {"success": False, "error": {"code": code, "message": message}, "trace_id": str(uuid.uuid4())}
        return web.json_response(body, status=status)

    @web.middleware
    async def _gateway_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Record, then apply scripted failures, routing errors and auth, like the gateway."""
        path = request.path
        if request.match_info.http_exception is not None:
            return self._error(404, "no_api", f"no api found for {request.method} {path}")
        if request.method == "POST":
            await self._record_body(request)
        gate = self._holds.get(path)
        if gate is not None:
            await gate.wait()
        failures = self._failures.get(path)
        if failures:
            failure = failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                failures.pop(0)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            return self._error(failure.status, failure.code, failure.message)
        if path.startswith("/producer/"):
            auth = request.headers.get("authorization")
            if not auth or auth == "Bearer ":
                return self._error(400, "no_token", "token is required")
            token = auth.removeprefix("Bearer ")
            if token in self.refused_tokens:
                status, code = self.refused_tokens[token]
                return self._error(status, code, code.replace("_", " "))
            if token != self.token and token not in self.server_tokens:
                return self._error(401, "invalid_token", "token is invalid")
            if not isinstance(await self._body(request), dict):
                return self._error(400, "bad_request", "request body must be a JSON object.")
        return await handler(request)

    @staticmethod
    async def _body(request: web.Request) -> Any:
        """The parsed JSON body, or ``None``; aiohttp caches the raw bytes, so re-reading is cheap.

        Re-parsing avoids request storage, whose key type differs across aiohttp 3.x versions.
        """
        try:
            return json.loads(await request.text())
        except ValueError:
            return None

    async def _record_body(self, request: web.Request) -> None:
        """Keep every body, even ones about to be rejected, so tests can see what was sent."""
        body = await self._body(request)
        recorded = body if isinstance(body, dict) else {"__raw__": await request.text()}
        logs: dict[str, list[JSON]] = {
            "/producer/audios": self.audio_requests,
            "/producer/upload": self.upload_requests,
            "/producer/lyrics": self.lyrics_requests,
            "/producer/wav": self.wav_requests,
            "/producer/videos": self.video_requests,
        }
        if request.path.startswith("/producer/"):
            auth = request.headers.get("authorization")
            self.token_log.append((request.path, auth.removeprefix("Bearer ") if auth else None))
        if request.path == "/producer/tasks":
            self.task_requests.append((asyncio.get_running_loop().time(), recorded))
        elif request.path in logs:
            logs[request.path].append(recorded)
        self._notify()

    # ------------------------------------------------------------------ /producer/audios

    def _validate_audio(self, body: JSON) -> str | None:
        """Return the API's bad_request message for an invalid submission, else ``None``."""
        action = body.get("action")
        if action is None:
            return "action is required."
        if action not in ACTIONS:
            return "action is invalid."
        if "model" in body and body["model"] not in MODELS:
            return "model is invalid."
        for name in ("prompt", "lyric", "title", "callback_url"):
            if name in body and not isinstance(body[name], str):
                return f"{name} must be a string."
        prompt = body.get("prompt") or ""
        if len(prompt) > PROMPT_LIMIT:
            return f"prompt must be less than or equal {PROMPT_LIMIT} characters."
        if action == "generate" and not prompt and not body.get("lyric"):
            return "prompt or lyric is required."
        if action != "generate":
            audio_id = body.get("audio_id")
            if not audio_id or not isinstance(audio_id, str):
                return "audio_id is required."
            known = self.uploaded_audio if action in UPLOAD_ACTIONS else self.songs
            if audio_id not in known:
                return "audio_id is invalid."
        if action in ("extend", "upload_extend"):
            continue_at = body.get("continue_at")
            if not _is_number(continue_at) or continue_at < 0:
                return "continue_at is required when extend audio."
        if action in ("replace_section", "upload_replace_section"):
            start, end = body.get("replace_section_start"), body.get("replace_section_end")
            if not (_is_number(start) and _is_number(end)):
                return "replace_section_start and replace_section_end are required."
            if not 0 <= start < end:
                return "replace_section_start must be less than replace_section_end."
        for name, (low, high) in STRENGTH_RANGES.items():
            if name in body and not (_is_number(body[name]) and low <= body[name] <= high):
                return f"{name} must be between {low:g} and {high:g}."
        return None

    async def _handle_audios(self, request: web.Request) -> web.StreamResponse:
        """Accept a submission and answer in the mode the body asks for."""
        body: JSON = await self._body(request)
        problem = self._validate_audio(body)
        if problem is not None:
            return self._error(400, "bad_request", problem)

        script = self._scripts.pop(0) if self._scripts else ProducerScript()
        callback_url = body.get("callback_url") or None
        mode: Literal["sync", "async", "callback"]
        mode = "callback" if callback_url else "async" if body.get("async") is True else "sync"
        now = time.time()
        task = FakeTask(
            task_id=str(uuid.uuid4()),
            trace_id=str(uuid.uuid4()),
            record_id=uuid.uuid4().hex[:24],
            request=body,
            mode=mode,
            script=script,
            created_at=round(now, 3),
            started_at=round(now + 0.001, 3),
            callback_url=callback_url,
            token=_token(request),
        )
        self.tasks[task.task_id] = task
        self._media[f"preview-{task.task_id}.mp3"] = _Media("audio/mpeg", PREVIEW_SIZE)
        self._notify()
        will_finish = script.outcome != "never"

        if self._accept_then_fail:
            failure = self._accept_then_fail[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._accept_then_fail.pop(0)
            if will_finish and self.auto_complete:
                self._schedule_completion(task)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            return self._error(failure.status, failure.code, failure.message)

        if mode == "sync":
            if will_finish and self.auto_complete:
                self._schedule_completion(task)
            await task.done.wait()
            if task.response is None:
                return self._error(503, "api_error", "fake producer is shutting down")
            return web.json_response(task.response)

        early: JSON = {"success": True, "task_id": task.task_id} if mode == "callback" else {"task_id": task.task_id}
        if mode == "callback" and script.callback_before_response and will_finish:
            # The callback is delivered and answered before the submit response goes out,
            # which is the race a client must survive (a result for a task it has not stored).
            await asyncio.sleep(self.latency)
            await self._finish(task)
            return web.json_response(early)

        response = web.json_response(early)
        # Send the response fully before any timer can fire, so with a normal script the
        # callback never overtakes the submit response.
        await response.prepare(request)
        await response.write_eof()
        if will_finish and self.auto_complete:
            self._schedule_completion(task)
        return response

    def _schedule_completion(self, task: FakeTask) -> None:
        async def finish_later() -> None:
            await asyncio.sleep(self.latency)
            self._timers.pop(task.task_id, None)
            await self._finish(task)

        self._timers[task.task_id] = self._spawn(finish_later())

    async def _finish(self, task: FakeTask) -> None:
        """Give the task its final body, then deliver callbacks as scripted."""
        if task.finished or self._closed:
            return
        task.response = self._final_body(task)
        task.finished_at = round(time.time(), 3)
        task.done.set()
        self._notify()
        script = task.script
        if task.callback_url and not script.drop_callback:
            for _ in range(script.duplicate_callbacks):
                await self._post_callback(task.callback_url, task.response)

    def _final_body(self, task: FakeTask) -> JSON:
        """Build the body shared by the sync answer, the callback and the task record."""
        script = task.script
        if script.outcome == "failure_string_error":
            return {"success": False, "error": "provider timeout"}
        if script.outcome == "failure":
            return {
                "success": False,
                "task_id": task.task_id,
                "trace_id": task.trace_id,
                "error": {"code": script.error_code, "message": script.error_message},
                "data": [],
            }
        item = self._stems_item(task) if task.request["action"] == "stems" else self._song_item(task)
        task.songs = [item]
        body: JSON = {"success": True, "task_id": task.task_id, "trace_id": task.trace_id, "data": [item]}
        if script.outcome == "partial":
            body["success"] = False
            body["error"] = {"code": script.error_code, "message": script.error_message}
        return body

    def _song_item(self, task: FakeTask) -> JSON:
        """A song item shaped exactly like the guide's, with URLs served by this fake."""
        request, script = task.request, task.script
        song_id = str(uuid.uuid4())
        prompt = request.get("prompt") or ""
        lyric = request.get("lyric") or ""
        if request.get("instrumental") is True:
            lyric = "[Instrumental]"
        elif not lyric:
            lyric = f"[Verse 1]\n{prompt or 'A song'}\nsung by the fake producer\n[Chorus]\nla la la"
        source = self.songs.get(request.get("audio_id") or "")
        title = (
            script.title
            or request.get("title")
            or _title_from_lyric(request.get("lyric") or "")
            or (source["title"] if source else None)
            or "Untitled"
        )
        self._media[f"{song_id}.mp3"] = _Media(
            script.content_type, script.audio_size, drip_delay=script.media_drip_delay, status=script.media_status
        )
        self._media[f"{song_id}.jpg"] = _Media("image/jpeg", IMAGE_SIZE)
        item: JSON = {
            "id": song_id,
            "title": title,
            "image_url": self.media_url(f"{song_id}.jpg"),
            "lyric": lyric,
            "audio_url": self.media_url(f"{song_id}.mp3"),
            "video_url": None,
            "image_id": song_id,
            "topic": None,
            "seed": str(self._rng.randrange(2**32)),
            "sound": prompt,
            "created_at": _iso_now(),
            "model": request.get("model", DEFAULT_MODEL),
            "progress": "100%",
            "state": "succeeded",
            "duration": script.duration,
        }
        self.songs[song_id] = item
        return item

    def _stems_item(self, task: FakeTask) -> JSON:
        """The stems item has no ``id`` and an empty ``model``, as in the guide."""
        source = self.songs[task.request["audio_id"]]
        zip_name = f"{task.task_id}.zip"
        self._media[zip_name] = _Media("application/zip")
        return {
            "title": task.script.title or source["title"],
            "lyric": "",
            "stems_url": self.media_url(zip_name),
            "model": "",
            "progress": "100%",
            "state": "succeeded",
        }

    async def _post_callback(self, url: str, body: JSON) -> int:
        """POST one callback; a connection failure is recorded as status 0."""
        assert self._session is not None, "start() first"
        try:
            async with self._session.post(url, json=body) as reply:
                await reply.read()
                status = reply.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            status = 0
        self.callbacks_sent.append((url, status, body))
        self._notify()
        return status

    # ------------------------------------------------------------------ /producer/tasks

    async def _handle_tasks(self, request: web.Request) -> web.Response:
        """``retrieve`` one record (unknown → 200 ``{}``) or ``retrieve_batch`` several."""
        body: JSON = await self._body(request)
        action = body.get("action", "retrieve")
        token = _token(request)
        mine = {key: task for key, task in self.tasks.items() if task.token in ("", token)}
        if action == "retrieve":
            task_id = body.get("id")
            if not isinstance(task_id, str) or not task_id:
                return self._error(400, "bad_request", "id is required.")
            if task_id not in mine:
                return web.json_response({})
            return web.json_response(self.task_record(task_id))
        if action == "retrieve_batch":
            ids = body.get("ids")
            if ids is None:
                # Undocumented for Producer (the WebExtrator docs describe it): page through
                # this token's own tasks, newest first.
                ordered = sorted(mine, key=lambda key: self.tasks[key].created_at, reverse=True)
                offset, limit = body.get("offset", 0), body.get("limit", 12)
                if not (isinstance(offset, int) and isinstance(limit, int)):
                    return self._error(400, "bad_request", "offset and limit must be integers.")
                ids = ordered[offset : offset + limit]
            elif not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
                return self._error(400, "bad_request", "ids must be a list of task ids.")
            items = [self.task_record(task_id) for task_id in ids if task_id in mine]
            return web.json_response({"items": items, "count": len(items)})
        return self._error(400, "bad_request", "action is invalid.")

    # ------------------------------------------------------------------ other endpoints

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """Register reference audio; only 127.0.0.1 URLs are actually fetched (no internet)."""
        audio_url = (await self._body(request)).get("audio_url")
        if not isinstance(audio_url, str) or not audio_url:
            return self._error(400, "bad_request", "audio_url is required.")
        is_local = urlsplit(audio_url).hostname in ("127.0.0.1", "localhost")
        if is_local and await self._fetch_local(audio_url) != 200:
            # "fetch failed" is the only upstream-fetch error message the docs show.
            return self._error(500, "api_error", "fetch failed")
        audio_id = str(uuid.uuid4())
        self.uploaded_audio[audio_id] = audio_url
        self._notify()
        data = {
            "audio_id": audio_id,
            "lyric": "[Verse 1]\ntranscribed by the fake producer\n[Chorus]\nla la la",
            "audio_url": audio_url,
        }
        return web.json_response({"success": True, "task_id": str(uuid.uuid4()), "data": data})

    async def _fetch_local(self, url: str) -> int:
        """GET a 127.0.0.1 URL like the real service would download it; return the status."""
        assert self._session is not None, "start() first"
        try:
            async with self._session.get(url) as reply:
                status, length = reply.status, len(await reply.read())
        except (aiohttp.ClientError, TimeoutError, OSError):
            status, length = 0, 0
        self.upload_fetches.append((url, status, length))
        self._notify()
        return status

    async def _handle_lyrics(self, request: web.Request) -> web.Response:
        """Lyrics from a prompt, in the guide's ``data.lyrics`` shape (not the spec's ``text``)."""
        prompt = (await self._body(request)).get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return self._error(400, "bad_request", "prompt is required.")
        title = prompt.strip()[:40].title()
        lyrics = f"[Verse 1]\n{prompt.strip()}\nwritten by the fake producer\n[Chorus]\n{title}, oh {title}"
        data: JSON = {"title": title, "lyrics": lyrics}
        if self.lyrics_shape == "text":
            data = {"title": title, "text": lyrics, "status": "complete"}
        return web.json_response({"success": True, "task_id": str(uuid.uuid4()), "data": data})

    async def _known_song(self, request: web.Request) -> JSON | web.Response:
        audio_id = (await self._body(request)).get("audio_id")
        if not audio_id or not isinstance(audio_id, str):
            return self._error(400, "bad_request", "audio_id is required.")
        if audio_id not in self.songs:
            return self._error(400, "bad_request", "audio_id is invalid.")
        return self.songs[audio_id]

    async def _handle_wav(self, request: web.Request) -> web.Response:
        """Lossless copy of a produced song, answered inline with a ``data`` list."""
        song = await self._known_song(request)
        if isinstance(song, web.Response):
            return song
        name = f"{song['id']}.wav"
        source = self._media.get(f"{song['id']}.mp3")
        size = self.wav_size if self.wav_size is not None else source.size if source else IMAGE_SIZE
        self._media[name] = _Media("audio/wav", size)
        data = [{"title": song["title"], "file_url": self.media_url(name)}]
        body = {"success": True, "task_id": str(uuid.uuid4()), "trace_id": str(uuid.uuid4()), "data": data}
        return web.json_response(body)

    async def _handle_videos(self, request: web.Request) -> web.Response:
        """MP4 with cover art for a produced song, answered inline."""
        song = await self._known_song(request)
        if isinstance(song, web.Response):
            return song
        name = f"{song['id']}.mp4"
        self._media[name] = _Media("video/mp4", self.video_size)
        data = {"video_url": self.media_url(name)}
        body = {"success": True, "task_id": str(uuid.uuid4()), "trace_id": str(uuid.uuid4()), "data": data}
        return web.json_response(body)

    async def _handle_media(self, request: web.Request) -> web.StreamResponse:
        """Serve a file with Content-Type and Content-Length (ranges too, as CDNs do), optionally dripping slowly."""
        name = request.match_info["name"]
        self.media_requests.append(request.path)
        self.media_ranges.append(request.headers.get("Range"))
        self._notify()
        media = self._media.get(name)
        if media is None:
            return web.Response(status=404, text="Not Found")
        data = media.body(name)
        wanted = _byte_range(request.headers.get("Range"), len(data)) if media.status == 200 else None
        response = web.StreamResponse(status=media.status if wanted is None else 206)
        response.content_type = media.content_type
        response.headers["Accept-Ranges"] = "bytes"
        if wanted is not None:
            response.headers["Content-Range"] = f"bytes {wanted[0]}-{wanted[1]}/{len(data)}"
            data = data[wanted[0] : wanted[1] + 1]
        response.content_length = len(data)
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        if media.drop_after:
            data = data[: media.drop_after]
        chunk = 1024 if media.drip_delay else 64 * 1024
        # A client that gives up mid-download is a normal test scenario, not a fake error.
        with contextlib.suppress(ConnectionResetError):
            for start in range(0, len(data), chunk):
                await response.write(data[start : start + chunk])
                if media.drip_delay:
                    await asyncio.sleep(media.drip_delay)
            if media.drop_after and request.transport is not None:
                request.transport.close()  # mid-body: the client sees the stream end early
                return response
            await response.write_eof()
        return response
