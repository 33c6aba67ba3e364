"""Fetching the API's audio so it can be attached: streamed, size-capped and time-limited.

A file is spooled to disk past a small in-memory threshold, so a hundred concurrent deliveries of
large songs keep memory bounded (at most `SPOOL_IN_MEMORY` plus one `CHUNK` per download). Any
failure (not an http(s) URL, a private address, too many redirects, too big, too slow, wrong type,
HTTP error, a broken connection) returns
a reason instead of raising: the caller then posts a link, which is always possible.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import posixpath
import re
import socket
import tempfile
from dataclasses import dataclass
from typing import IO
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

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


MAX_REDIRECTS = 5
"""Redirects followed per download; a CDN needs one or two."""
REDIRECT_STATUSES = {301, 302, 303, 307, 308}


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicResolver(AbstractResolver):
    """Resolves as aiohttp does, then keeps only public addresses: the connection uses what was checked.

    `refusal` checks a host's addresses before a request, but the connection resolves the name
    again, and a hostile DNS server can answer a public address the first time and 127.0.0.1 the
    second (DNS rebinding). With this resolver in the media session's connector, the address the
    socket connects to is the one that passed the check. (Addresses written in the URL itself skip
    resolvers; `refusal` covers those, with no DNS in between.)
    """

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        public = [info for info in await self._inner.resolve(host, port, family) if _is_public(info["host"])]
        if not public:
            raise OSError(f"{host} has no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


def media_session(*, allow_private: bool = False) -> aiohttp.ClientSession:
    """The session media downloads use: it only ever connects to public addresses (unless allowed)."""
    connector = aiohttp.TCPConnector(resolver=None if allow_private else PublicResolver())
    return aiohttp.ClientSession(connector=connector)


async def refusal(url: str, *, allow_private: bool = False) -> str | None:
    """Why the bot will not fetch `url`, or None when it may.

    Only http(s), and only hosts whose every address is public: a result URL comes from outside,
    so it must not make the bot reach loopback, the private network or link-local addresses
    (cloud metadata lives at 169.254.169.254). Checked on the resolved addresses, and again for
    every redirect. `allow_private` is for tests and private set-ups whose API runs locally. The
    check gives a clear reason; `PublicResolver` makes it hold at connection time too.
    """
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return "the file's address is not a web link"
    if scheme not in {"http", "https"} or not host:
        return "the file's address is not a web link"
    if allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port or (443 if scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        return "the file's host could not be found"
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or not all(_is_public(address) for address in addresses):
        return "the file's address is not a public one"
    return None


async def _get_checked(
    session: aiohttp.ClientSession,
    url: str,
    allow_private: bool,
    max_redirects: int,
    limits: aiohttp.ClientTimeout,
    headers: dict[str, str] | None = None,
) -> tuple[aiohttp.ClientResponse, str] | Skipped:
    """GET `url`, following redirects one at a time so each new address is checked like the first.

    Returns the answer that is not a redirect (the caller releases it: `async with response:`)
    with the address it came from, or why the bot will not go on.
    """
    for _ in range(max_redirects + 1):
        reason = await refusal(url, allow_private=allow_private)
        if reason is not None:
            return Skipped(reason)
        response = await session.get(url, headers=headers, timeout=limits, allow_redirects=False)
        if response.status in REDIRECT_STATUSES and "Location" in response.headers:
            url = urljoin(url, response.headers["Location"])
            response.release()
            continue
        return response, url
    return Skipped("the file server redirected too many times")


async def download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    filename: str,
    max_bytes: int,
    total_seconds: float = 120.0,
    read_seconds: float = 20.0,
    allow_private: bool = False,
    max_redirects: int = MAX_REDIRECTS,
) -> Download | Skipped:
    """Stream `url` into a spooled temporary file, giving up past `max_bytes` or the timeouts.

    Redirects are followed here, one at a time, so each new address is checked like the first.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - handed to the caller
    timeout = aiohttp.ClientTimeout(total=total_seconds, sock_read=read_seconds)
    try:
        opened = await _get_checked(session, url, allow_private, max_redirects, timeout)
        if isinstance(opened, Skipped):
            spool.close()
            return opened
        async with opened[0] as response:
            return await _save(response, spool, filename, max_bytes)
    except TimeoutError:
        spool.close()
        return Skipped("the file took too long to download")
    except aiohttp.ClientConnectorDNSError:  # no public address this time (PublicResolver), or DNS failed
        spool.close()
        return Skipped("the file's host could not be reached at a public address")
    except (aiohttp.ClientError, ValueError, OSError) as exc:
        # ValueError: a URL yarl cannot parse; OSError: the spool file could not be written.
        spool.close()
        return Skipped(f"the download failed ({type(exc).__name__})")


async def final_address(
    session: aiohttp.ClientSession,
    url: str,
    *,
    allow_private: bool = False,
    timeout_seconds: float = 10.0,
    max_redirects: int = MAX_REDIRECTS,
) -> str | Skipped:
    """Where `url` answers after its redirects, each checked like the first; the file is not read.

    For a player that fetches the file itself (ffmpeg, in listening parties): a one-byte ranged GET
    per hop, and the player is handed the final address, so it needs to follow no redirect the bot
    has not checked.
    """
    timeout = aiohttp.ClientTimeout(total=timeout_seconds)
    try:
        opened = await _get_checked(session, url, allow_private, max_redirects, timeout, {"Range": "bytes=0-0"})
        if isinstance(opened, Skipped):
            return opened
        response, final = opened
        async with response:
            if response.status >= 400:
                return Skipped(f"the file server answered HTTP {response.status}")
            return final
    except aiohttp.ClientConnectorDNSError:
        return Skipped("the file's host could not be reached at a public address")
    except TimeoutError:
        return Skipped("the file server did not answer in time")
    except (aiohttp.ClientError, ValueError) as exc:
        return Skipped(f"the file server could not be reached ({type(exc).__name__})")


async def _save(
    response: aiohttp.ClientResponse, spool: IO[bytes], filename: str, max_bytes: int
) -> Download | Skipped:
    """Stream an answered request into `spool`; the checks that make a file worth attaching."""
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
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            spool.close()
            return Skipped("the file is larger than this server's upload limit", too_large=True)
        spool.write(chunk)
    spool.seek(0)
    return Download(file=spool, size=size, filename=filename)
