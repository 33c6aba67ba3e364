"""Fetching the API's audio so it can be attached: streamed, size-capped and time-limited.

A file is spooled to disk past a small in-memory threshold, so a hundred concurrent deliveries of
large songs keep memory bounded (at most `SPOOL_IN_MEMORY` plus one `CHUNK` per download). Any
failure (not an http(s) URL, too big, too slow, wrong type, HTTP error, a broken connection) returns
a reason instead of raising: the caller then posts a link, which is always possible.
"""

from __future__ import annotations

import logging
import posixpath
import re
import tempfile
from dataclasses import dataclass
from typing import IO
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 512 * 1024
AUDIO_EXTENSIONS = {"mp3", "m4a", "wav", "ogg", "opus", "flac", "aac", "zip"}
ALLOWED_TYPES = (
    "audio/",
    "application/octet-stream",
    "application/zip",
    "application/x-zip-compressed",
    "video/mp4",
)


@dataclass(slots=True)
class Download:
    """A fetched file, rewound and ready to hand to `discord.File`. Close it when done."""

    file: IO[bytes]
    size: int
    filename: str

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True, slots=True)
class Skipped:
    """Why a file was not fetched; the song goes out as a link instead."""

    reason: str
    too_large: bool = False


def extension_from_url(url: str, default: str = "mp3") -> str:
    """The file extension from the URL's *path*; CDN URLs carry query strings after it."""
    suffix = posixpath.splitext(urlsplit(url).path)[1].lower().lstrip(".")
    return suffix if suffix in AUDIO_EXTENSIONS else default


def safe_filename(title: str, extension: str) -> str:
    """A file name Discord and every OS accept, from a member-written title."""
    stem = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip().replace(" ", "_")[:60] or "song"
    return f"{stem}.{extension}"


async def download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    filename: str,
    max_bytes: int,
    total_seconds: float = 120.0,
    read_seconds: float = 20.0,
) -> Download | Skipped:
    """Stream `url` into a spooled temporary file, giving up past `max_bytes` or the timeouts."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in {"http", "https"}:
        return Skipped("the file's address is not a web link")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - handed to the caller
    size = 0
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=total_seconds, sock_read=read_seconds), allow_redirects=True
        ) as response:
            if response.status != 200:
                spool.close()
                return Skipped(f"the file server answered HTTP {response.status}")
            content_type = (response.content_type or "").lower()
            if content_type and not content_type.startswith(ALLOWED_TYPES):
                spool.close()
                return Skipped(f"the file server sent {content_type}, not audio")
            if response.content_length is not None and response.content_length > max_bytes:
                spool.close()
                return Skipped("the file is larger than this server's upload limit", too_large=True)
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    spool.close()
                    return Skipped("the file is larger than this server's upload limit", too_large=True)
                spool.write(chunk)
    except TimeoutError:
        spool.close()
        return Skipped("the file took too long to download")
    except (aiohttp.ClientError, ValueError, OSError) as exc:
        # ValueError: a URL yarl cannot parse; OSError: the spool file could not be written.
        spool.close()
        return Skipped(f"the download failed ({type(exc).__name__})")
    spool.seek(0)
    return Download(file=spool, size=size, filename=filename)
