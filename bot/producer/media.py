"""Fetching the API's audio: to attach it (`download`) or to play it as it arrives (`open_stream`).

A download is streamed, size-capped and time-limited, and spooled to disk past a small in-memory
threshold, so a hundred concurrent deliveries of large songs keep memory bounded (at most
`SPOOL_IN_MEMORY` plus one `CHUNK` per download). A stream for a player holds one `CHUNK` at a
time. Both only reach public addresses, checked at every redirect and again at connection time.
Any failure (not an http(s) URL, a private address, too many redirects, too big, too slow, wrong
type, HTTP error, a broken connection) returns a reason instead of raising: the caller then posts a
link, or skips the song, which is always possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import posixpath
import re
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bot.core.errors import Phrase

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
    """Why a file was not fetched; the song goes out as a link instead. `reason` is an English sentence
    made from a catalog `Phrase`, so where it is shown `bot.i18n.t_english` puts it in the reader's language."""

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


_CARRIES_IPV4_IN_LAST_32_BITS = (
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64 (RFC 6052): a translator connects to that IPv4 address
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated), `::a.b.c.d`
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT), `::ffff:0:a.b.c.d`
)
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
"""Local-use NAT64 (RFC 8215): a network's own translators, the IPv4 address anywhere in the suffix."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to when it is a way of reaching IPv4 (mapped, compatible,
    translated, NAT64, 6to4): the connection ends up there, so that is the address to judge."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in network for network in _CARRIES_IPV4_IN_LAST_32_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def _is_public(address: str) -> bool:
    """Whether the bot may connect to `address`: a global unicast address, judged by where it leads.

    `ipaddress` calls `64:ff9b::7f00:1` (NAT64 to 127.0.0.1) or `2002:c0a8:101::` (6to4 to
    192.168.1.1) global, as IPv6 addresses they are; the packets still reach the IPv4 address inside.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        ip = _embedded_ipv4(ip) or ip
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
        return str(Phrase("the file's address is not a web link"))
    if scheme not in {"http", "https"} or not host:
        return str(Phrase("the file's address is not a web link"))
    if allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port or (443 if scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        return str(Phrase("the file's host could not be found"))
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or not all(_is_public(address) for address in addresses):
        return str(Phrase("the file's address is not a public one"))
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
    return Skipped(str(Phrase("the file server redirected too many times")))


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
        return Skipped(str(Phrase("the file took too long to download")))
    except aiohttp.ClientConnectorDNSError:  # no public address this time (PublicResolver), or DNS failed
        spool.close()
        return Skipped(str(Phrase("the file's host could not be reached at a public address")))
    except (aiohttp.ClientError, ValueError, OSError) as exc:
        # ValueError: a URL yarl cannot parse; OSError: the spool file could not be written.
        spool.close()
        return Skipped(str(Phrase("the download failed ({error})", error=type(exc).__name__)))


STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=20.0)
"""A stream has no total limit (a paused song waits for minutes); a host silent for 20 s is asked again."""
RESUME_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0)
"""Seconds before each try, in a row and without a byte gained, to pick a stream up again; then it ends."""
_BROKEN_STREAM = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")


def _span(response: aiohttp.ClientResponse) -> tuple[int, int | None] | None:
    """Where the answer's body starts in the file and the file's length (if said); None if unusable."""
    if response.status == 200:
        return 0, response.content_length
    found = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if response.status != 206 or found is None:
        return None
    return int(found[1]), None if found[2] == "*" else int(found[2])


class MediaStream:
    """A file read from its host while it plays, through the checked session, one chunk at a time.

    Hosts drop connections (one that stops reading, as a paused listening party does, above all):
    the rest is then asked for with a byte range, each redirect checked again, so the player gets
    every byte once, in order, from public addresses only.
    """

    def __init__(
        self, session: aiohttp.ClientSession, url: str, response: aiohttp.ClientResponse, *, allow_private: bool
    ) -> None:
        self._session = session
        self._url = url
        self._allow_private = allow_private
        self._response: aiohttp.ClientResponse | None = response
        self.offset = 0
        span = _span(response)
        self.total = span[1] if span is not None else None

    def close(self) -> None:
        """Let go of a stream whose chunks were never read (`chunks` closes its own connections)."""
        if self._response is not None:
            self._response.close()
            self._response = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes in order, each once, until its end or until its host cannot be had any more.

        Use with `contextlib.aclosing`, so stopping early closes the connection at once.
        """
        response, self._response = self._response, None
        failures = 0
        while True:
            if response is not None:
                try:
                    async with contextlib.aclosing(self._body(response)) as body:
                        async for chunk in body:
                            failures = 0
                            yield chunk
                    if self.total is None:  # no length said: the end of the answer is the end of the file
                        return
                except _BROKEN_STREAM as exc:
                    log.info("Audio stream broke at byte %d (%s)", self.offset, type(exc).__name__)
                finally:
                    response.close()
                if self.total is not None and self.offset >= self.total:
                    return
            if failures == len(RESUME_DELAYS):
                log.info("Gave up on an audio stream at byte %d of %s", self.offset, self.total or "?")
                return
            await asyncio.sleep(RESUME_DELAYS[failures])
            failures += 1
            response = await self._rest()

    async def _body(self, response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """One answer's body from `offset` on (a host that ignored the range sends the start again)."""
        span = _span(response)
        position = span[0] if span is not None else 0
        async for chunk in response.content.iter_chunked(CHUNK):
            skip = min(len(chunk), max(0, self.offset - position))
            position += len(chunk)
            if skip < len(chunk):
                self.offset += len(chunk) - skip
                yield chunk[skip:]

    async def _rest(self) -> aiohttp.ClientResponse | None:
        """Ask for the file from `offset` on; None when that failed this time."""
        try:
            opened = await _get_checked(
                self._session,
                self._url,
                self._allow_private,
                MAX_REDIRECTS,
                STREAM_TIMEOUT,
                {"Range": f"bytes={self.offset}-"},
            )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("Could not pick an audio stream up again (%s)", type(exc).__name__)
            return None
        if isinstance(opened, Skipped):
            log.info("Could not pick an audio stream up again: %s", opened.reason)
            return None
        response = opened[0]
        span = _span(response)
        if span is None or span[0] > self.offset or (None not in (span[1], self.total) and span[1] != self.total):
            log.info("Could not pick an audio stream up again (HTTP %d, not the same file)", response.status)
            response.close()
            return None
        return response


async def open_stream(
    session: aiohttp.ClientSession, url: str, *, allow_private: bool = False
) -> MediaStream | Skipped:
    """Start reading `url` for a player that consumes it as it plays (ffmpeg, in listening parties).

    The rules of `download` (http(s), public addresses, each redirect checked, the media session's
    resolver at connection time), without its size cap, since nothing is kept: the player is
    handed the bytes, never an address it would resolve or follow itself.
    """
    try:
        opened = await _get_checked(session, url, allow_private, MAX_REDIRECTS, STREAM_TIMEOUT)
    except aiohttp.ClientConnectorDNSError:
        return Skipped(str(Phrase("the file's host could not be reached at a public address")))
    except TimeoutError:
        return Skipped(str(Phrase("the file server did not answer in time")))
    except (aiohttp.ClientError, ValueError) as exc:
        return Skipped(str(Phrase("the file server could not be reached ({error})", error=type(exc).__name__)))
    if isinstance(opened, Skipped):
        return opened
    response = opened[0]
    content_type = (response.content_type or "").lower()
    if response.status != 200:
        response.close()
        return Skipped(str(Phrase("the file server answered HTTP {status}", status=response.status)))
    if content_type and not content_type.startswith(ALLOWED_TYPES):
        response.close()
        return Skipped(str(Phrase("the file server sent {type}, not audio", type=content_type)))
    return MediaStream(session, url, response, allow_private=allow_private)


async def _save(
    response: aiohttp.ClientResponse, spool: IO[bytes], filename: str, max_bytes: int
) -> Download | Skipped:
    """Stream an answered request into `spool`; the checks that make a file worth attaching."""
    if response.status != 200:
        spool.close()
        return Skipped(str(Phrase("the file server answered HTTP {status}", status=response.status)))
    content_type = (response.content_type or "").lower()
    if content_type and not content_type.startswith(ALLOWED_TYPES):
        spool.close()
        return Skipped(str(Phrase("the file server sent {type}, not audio", type=content_type)))
    if response.content_length is not None and response.content_length > max_bytes:
        spool.close()
        return Skipped(str(Phrase("the file is larger than this server's upload limit")), too_large=True)
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            spool.close()
            return Skipped(str(Phrase("the file is larger than this server's upload limit")), too_large=True)
        spool.write(chunk)
    spool.seek(0)
    return Download(file=spool, size=size, filename=filename)
