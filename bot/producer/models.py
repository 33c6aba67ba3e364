"""Typed views of the Producer API's JSON, parsed without I/O.

The callback body and a finished task record's `response` have the same shape, so one parser
(`parse_result`) serves both the webhook and the poller. The API is loose with types (`duration`
and `seed` are strings, `error` may be a string or an object), so every reader here is defensive:
a surprising field becomes `None`, never an exception in the middle of a delivery.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


class MalformedResult(ValueError):
    """The body is not a JSON object at all; nothing in it can be trusted."""


MAX_SONGS_PER_RESULT = 10
"""Producer makes one song per request; a result listing more is cut here, so a broken or hostile
answer can never make the bot post a flood of messages."""


def _str(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


MESSAGE_LIMIT = 300
"""An API error message is shown to members; anything longer is cut, so the rest of the sentence
("Your credit was refunded.") always fits in a Discord message."""


def _message(value: Any) -> str | None:
    text = _str(value)
    if text is None or len(text) <= MESSAGE_LIMIT:
        return text
    return text[: MESSAGE_LIMIT - 1].rstrip() + "…"


def _duration(value: Any) -> float | None:
    """Seconds as a float; the API sends a string such as "135.2330158730159"."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


@dataclass(frozen=True, slots=True)
class Song:
    """One item of a result's `data` array: a song, or a stems bundle (which has no id)."""

    id: str | None
    title: str
    audio_url: str | None
    image_url: str | None
    lyric: str
    duration: float | None
    model: str | None
    seed: str | None
    prompt: str
    stems_url: str | None = None

    @property
    def playable(self) -> bool:
        """Something a member can download: audio, or the stems zip."""
        return bool(self.audio_url or self.stems_url)


def parse_song(item: Any) -> Song | None:
    """Read one `data` item; anything that is not an object is skipped."""
    if not isinstance(item, dict):
        return None
    return Song(
        id=_str(item.get("id")),
        title=_str(item.get("title")) or "Untitled",
        audio_url=_str(item.get("audio_url")),
        image_url=_str(item.get("image_url")),
        lyric=item.get("lyric") if isinstance(item.get("lyric"), str) else "",
        duration=_duration(item.get("duration")),
        model=_str(item.get("model")),
        seed=_str(item.get("seed")),
        prompt=item.get("sound") if isinstance(item.get("sound"), str) else "",
        stems_url=_str(item.get("stems_url")),
    )


@dataclass(frozen=True, slots=True)
class TaskResult:
    """The final outcome of a task, from a callback or from a task record's `response`."""

    task_id: str | None
    success: bool
    songs: tuple[Song, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    trace_id: str | None = None

    @property
    def deliverable(self) -> tuple[Song, ...]:
        """Songs worth posting. A failed task may still carry playable partial data; we keep it."""
        return tuple(song for song in self.songs if song.playable)[:MAX_SONGS_PER_RESULT]


def parse_result(body: Any) -> TaskResult:
    """Parse a callback body or a task record's `response` into a `TaskResult`."""
    if not isinstance(body, dict):
        raise MalformedResult("result is not a JSON object")
    data = body.get("data")
    if isinstance(data, dict):
        data = [data]
    items = data if isinstance(data, list) else []
    songs = tuple(song for song in (parse_song(item) for item in items) if song is not None)
    error = body.get("error")
    code: str | None = None
    message: str | None = None
    if isinstance(error, dict):
        code = _str(error.get("code"))
        message = _message(error.get("message"))
    elif isinstance(error, str):
        message = _message(error)
    success_field = body.get("success")
    # `success` is documented on every callback; when absent, judge by what was delivered.
    success = success_field is True or (success_field is None and error is None and bool(songs))
    return TaskResult(
        task_id=_str(body.get("task_id")),
        success=success,
        songs=songs,
        error_code=code,
        error_message=message,
        trace_id=_str(body.get("trace_id")),
    )


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A `/producer/tasks` record. Finished exactly when it carries a final `response`.

    `response` is kept raw: it is what a callback would have carried, and it is stored as is.
    `progress` (0-100) is what a pending record says about its song, when it says anything.
    """

    task_id: str
    response: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    """The body the task was submitted with (callback_url included), when the record carries it."""
    created_at: float | None = None
    progress: int | None = None

    @property
    def finished(self) -> bool:
        return self.response is not None


_PERCENT = re.compile(r"\s*(\d{1,3}(?:\.\d+)?)\s*%?\s*")


def parse_progress(value: Any) -> int | None:
    """A percentage such as `"45%"` (or `"45"`, or the number 45) as a whole number from 0 to 100."""
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value)
        number = float(match[1]) if match else None
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        number = float(value)
    else:
        number = None
    return None if number is None else min(100, max(0, int(number)))


def _items_progress(items: Any) -> int | None:
    """The first `progress` among song items (Producer makes one song per task)."""
    if isinstance(items, dict):
        items = [items]
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and (found := parse_progress(item.get("progress"))) is not None:
            return found
    return None


def _is_final(record: dict[str, Any], response: dict[str, Any]) -> bool:
    """Whether a non-empty `response` is the final one and not a progress report.

    Where a pending record keeps its progress is undocumented; if it is a `response` whose `success`
    is not set yet, it is still running. A final one has `success`, or an `error` (a failure may come
    without `success`), or the record has `finished_at`.
    """
    return response.get("success") is not None or bool(response.get("error")) or record.get("finished_at") is not None


def parse_task_record(record: Any) -> TaskRecord | None:
    """Read a task record; an unknown task comes back as `{}` and yields `None`.

    Completion is decided from the final `response` only: a pending record may already show
    streaming preview `audio_url`s (and even `"progress": "100%"`), which are not the finished song.
    Progress is read from the record's top level, else its song items (`data[]`, or `response.data[]`
    while the response is not final), whichever is present.
    """
    if not isinstance(record, dict):
        return None
    task_id = _str(record.get("id"))
    if task_id is None:
        return None
    request = record.get("request") if isinstance(record.get("request"), dict) else None
    created_at = _duration(record.get("created_at"))  # a finite, non-negative number of seconds
    response = record.get("response")
    finished: dict[str, Any] | None = None
    progress = parse_progress(record.get("progress"))
    if progress is None:
        progress = _items_progress(record.get("data"))
    if isinstance(response, dict) and response:
        if _is_final(record, response):
            finished = response
        elif progress is None:
            progress = _items_progress(response.get("data"))
    elif isinstance(response, str) and response:
        # Seen in the wild: a bare error string where the response object should be.
        finished = {"success": False, "error": response}
    return TaskRecord(task_id=task_id, response=finished, request=request, created_at=created_at, progress=progress)


@dataclass(frozen=True, slots=True)
class Submission:
    """What `/producer/audios` answered: a task id, and the raw final body when it came inline."""

    task_id: str | None
    response: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    """A member's audio registered with `/producer/upload`."""

    audio_id: str
    lyric: str = ""
    audio_url: str | None = None


@dataclass(frozen=True, slots=True)
class Lyrics:
    title: str
    lyrics: str


@dataclass(frozen=True, slots=True)
class WavFile:
    title: str
    file_url: str


@dataclass(frozen=True, slots=True)
class ApiErrorBody:
    """The `{"error": {...}, "trace_id"}` body of an HTTP error, read defensively."""

    code: str = "unknown"
    message: str = ""
    trace_id: str | None = None


def parse_error_body(body: Any) -> ApiErrorBody:
    if not isinstance(body, dict):
        return ApiErrorBody()
    error = body.get("error")
    if isinstance(error, dict):
        return ApiErrorBody(
            code=_str(error.get("code")) or "unknown",
            message=_message(error.get("message")) or "",
            trace_id=_str(body.get("trace_id")),
        )
    if isinstance(error, str):
        return ApiErrorBody(message=_message(error) or "", trace_id=_str(body.get("trace_id")))
    return ApiErrorBody(trace_id=_str(body.get("trace_id")))
