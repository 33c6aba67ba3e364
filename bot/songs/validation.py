"""Checks on member input, run again on receipt even where Discord already enforced the bounds.

Discord validates declared option bounds on its side, but modals, attachments and anything a
client fakes are only as safe as what we check here. Each failure is an `InvalidInput` whose text
names the option and the allowed range, and it is raised before any credit is charged.
"""

from __future__ import annotations

import math
import posixpath
import unicodedata
from urllib.parse import urlsplit

import aiohttp
import discord

from bot.core.errors import InvalidInput
from bot.core.settings import MODELS

PROMPT_MAX = 200
"""The API's documented prompt limit."""
TITLE_MAX = 100
STYLE_MAX = 200
"""In custom mode the style is sent as the prompt, so it shares the prompt's limit."""
LYRICS_MODAL_MAX = 4000
"""Discord's limit for a modal text input."""
LYRICS_MAX = 5000
"""Producer documents no lyric limit; 5000 matches the largest its sibling Suno API accepts."""
LYRICS_FILE_MAX_BYTES = 64 * 1024
AUDIO_UPLOAD_EXTENSIONS = {"mp3", "m4a", "wav", "ogg", "opus", "flac", "aac"}
AUDIO_UPLOAD_MAX_BYTES = 25 * 1024 * 1024
"""Members' own audio is passed to the API by URL; a few minutes of audio fit well within this."""


def clean_text(name: str, value: str | None, *, limit: int, required: bool = False, multiline: bool = False) -> str:
    """Strip control characters and surrounding space; check presence and length."""
    text = value or ""
    allowed = {"\n", "\t"} if multiline else set()
    text = "".join(ch for ch in text if ch in allowed or unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.strip()
    if required and not text:
        raise InvalidInput("`{name}` cannot be empty.", name=name)
    if len(text) > limit:
        raise InvalidInput(
            "`{name}` is {length} characters long; the limit is {limit}.", name=name, length=len(text), limit=limit
        )
    return text


def check_range(name: str, value: float | None, low: float, high: float) -> float | None:
    """A number within [low, high], or None when the option was not given."""
    if value is None:
        return None
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInput(
            "`{name}` must be between {low} and {high}; got {value}.",
            name=name,
            low=f"{low:g}",
            high=f"{high:g}",
            value=f"{value:g}",
        )
    return value


def check_model(model: str | None, default: str) -> str:
    chosen = model or default
    if chosen not in MODELS:
        raise InvalidInput("`model` must be one of: {models}.", models=", ".join(MODELS))
    return chosen


def attachment_extension(attachment: discord.Attachment) -> str:
    """The extension from the file name, or from the URL's path (CDN URLs carry query strings)."""
    name = attachment.filename or posixpath.basename(urlsplit(attachment.url).path)
    return posixpath.splitext(name)[1].lower().lstrip(".")


def check_audio_attachment(attachment: discord.Attachment) -> None:
    """A member's audio: an audio extension (from the name or the URL path) and type, within the cap."""
    extension = attachment_extension(attachment)
    content_type = (attachment.content_type or "").split(";")[0].strip().lower()
    if extension not in AUDIO_UPLOAD_EXTENSIONS or (content_type and not content_type.startswith("audio/")):
        kinds = ", ".join(f".{ext}" for ext in sorted(AUDIO_UPLOAD_EXTENSIONS))
        raise InvalidInput(
            "`audio` must be an audio file ({kinds}); `{file}` is not.", kinds=kinds, file=attachment.filename[:60]
        )
    if attachment.size > AUDIO_UPLOAD_MAX_BYTES:
        raise InvalidInput(
            "`audio` is {size} MiB; the limit is {limit} MiB.",
            size=f"{attachment.size / 1048576:.1f}",
            limit=AUDIO_UPLOAD_MAX_BYTES // 1048576,
        )


def check_lyrics_file(attachment: discord.Attachment) -> None:
    """Refuse anything but a small `.txt` before the modal opens."""
    if attachment_extension(attachment) != "txt":
        raise InvalidInput("`lyrics_file` must be a `.txt` file.")
    if attachment.size > LYRICS_FILE_MAX_BYTES:
        raise InvalidInput(
            "`lyrics_file` is too large ({size} bytes); the limit is {limit}.",
            size=attachment.size,
            limit=LYRICS_FILE_MAX_BYTES,
        )


async def read_lyrics_file(session: aiohttp.ClientSession, attachment: discord.Attachment) -> str:
    """Download a lyrics file (capped) and decode it as UTF-8, keeping its line breaks."""
    check_lyrics_file(attachment)
    try:
        async with session.get(attachment.url, timeout=aiohttp.ClientTimeout(total=20)) as response:
            if response.status != 200:
                raise InvalidInput("Could not read `lyrics_file` from Discord; please attach it again.")
            data = b""
            async for chunk in response.content.iter_chunked(16 * 1024):  # read() may return a part
                data += chunk
                if len(data) > LYRICS_FILE_MAX_BYTES:
                    break
    except (TimeoutError, aiohttp.ClientError):
        raise InvalidInput("Could not read `lyrics_file` from Discord; please attach it again.") from None
    if len(data) > LYRICS_FILE_MAX_BYTES:
        raise InvalidInput("`lyrics_file` is larger than {limit} bytes.", limit=LYRICS_FILE_MAX_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("`lyrics_file` must be UTF-8 text.") from None
    return clean_text("lyrics_file", text, limit=LYRICS_MAX, required=True, multiline=True)
