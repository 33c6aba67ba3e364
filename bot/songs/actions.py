"""The Producer actions that build on a song: their request bodies, times, and song references.

Pure functions, shared by slash commands, buttons, context menus and reply-to-extend, so every way
of asking for an action sends the same body and gets the same checks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from bot.core.errors import InvalidInput
from bot.songs.render import format_duration

UPLOAD_ACTIONS = {"cover": "upload_cover", "extend": "upload_extend", "replace_section": "upload_replace_section"}
"""Actions that also take a member's uploaded audio, and the action name the API wants for it."""


def action_for(action: str, song_kind: str) -> str:
    """The API action for `action` on a song of `song_kind`: the one place that decides it.

    An uploaded file's id is only accepted by the `upload_*` actions; the actions without such a
    form (variation, swap vocals, swap instrumentals, stems) cannot use it at all, which the
    member hears about before anything is charged.
    """
    base = action.removeprefix("upload_")
    if song_kind != "upload":
        return base
    if base not in UPLOAD_ACTIONS:
        raise InvalidInput(
            "That works only on songs the bot made, not on uploaded audio. "
            "Uploaded audio can be extended, covered or have a section replaced."
        )
    return UPLOAD_ACTIONS[base]


MESSAGE_LINK = re.compile(r"https://(?:\w+\.)?discord(?:app)?\.com/channels/(?:\d+|@me)/(\d+)/(\d+)")
TIME = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d+)?)$")


def parse_time(name: str, text: str) -> float:
    """Seconds from `95`, `95.5`, `1:35` or `1:02:03`; a clear error otherwise."""
    # Past a few dozen characters nothing is a time; a huge digit run would also overflow int().
    match = TIME.match(text.strip()) if len(text.strip()) <= 32 else None
    if not match:
        raise InvalidInput(
            "`{name}` must be seconds (`95`, `95.5`) or minutes:seconds (`1:35`); got `{text}`.",
            name=name,
            text=text[:20],
        )
    hours, minutes, seconds = match.groups()
    if (hours or minutes) and float(seconds) >= 60:
        raise InvalidInput("`{name}`: seconds must be below 60 in `{text}`.", name=name, text=text[:20])
    if hours and int(minutes) >= 60:
        raise InvalidInput("`{name}`: minutes must be below 60 in `{text}`.", name=name, text=text[:20])
    value = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)
    if not math.isfinite(value):
        raise InvalidInput("`{name}` is not a time.", name=name)
    return value


END_ROUNDING = 0.5
"""Lengths are shown rounded to the second (2:16 for 135.7 s), so a point up to half a second past
the end, as a member would type it from what they see, means the end."""


def check_point(name: str, seconds: float, duration: float | None) -> float:
    """A point in the song: within [0, duration] when the duration is known."""
    if duration is not None and duration < seconds <= duration + END_ROUNDING:
        seconds = duration
    if duration is not None and not 0 <= seconds <= duration:
        raise InvalidInput(
            "`{name}` must be between 0:00 and {length} (the song is {length} long); got {value}.",
            name=name,
            length=format_duration(duration),
            value=format_duration(seconds),
        )
    return round(seconds, 3)


def check_section(start: float, end: float, duration: float | None) -> tuple[float, float]:
    """`start < end`, both within the song when its length is known."""
    if start >= end:
        raise InvalidInput(
            "`start` ({start}) must be before `end` ({end}).", start=format_duration(start), end=format_duration(end)
        )
    return check_point("start", start, duration), check_point("end", end, duration)


def parse_at_line(text: str) -> tuple[float | None, str]:
    """Split an optional first line `at 1:30` from reply lyrics."""
    first, _, rest = text.partition("\n")
    match = re.fullmatch(r"\s*at\s+(\S+)\s*", first, flags=re.IGNORECASE)
    if match:
        return parse_time("at", match.group(1)), rest
    return None, text


@dataclass(frozen=True, slots=True)
class SongRef:
    """What a member typed for `song`: a full id, or a link to a song message."""

    song_id: str | None = None
    message_id: int | None = None


def parse_song_ref(text: str) -> SongRef:
    text = text.strip()
    link = MESSAGE_LINK.search(text)
    if link:
        return SongRef(message_id=int(link.group(2)))
    if not text or len(text) > 100 or any(ch.isspace() for ch in text):
        raise InvalidInput("`song` must be a song id (shown on every song) or a link to a song message.")
    return SongRef(song_id=text)


def action_body(
    action: str,
    *,
    audio_id: str,
    model: str | None = None,
    lyric: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The JSON body for an action on `audio_id`; unset options are left out for the API's defaults.

    `prompt` and `lyric` are always sent (the spec marks them required), as "" when unused, and
    `custom` is true whenever lyrics are given, as in the vendor guide's examples.
    """
    body: dict[str, Any] = {"action": action, "audio_id": audio_id, "prompt": "", "lyric": lyric or ""}
    if model is not None:
        body["model"] = model
    if lyric:
        body["custom"] = True
    body.update({key: value for key, value in fields.items() if value is not None and value != ""})
    return body
