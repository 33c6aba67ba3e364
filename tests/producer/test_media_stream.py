"""Reading a song as it plays (`media.open_stream`): every byte once, in order, across dropped connections."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest
from aiohttp import web

from bot.producer import media
from tests.harness import local_server

FILE = bytes(range(256)) * 1200  # 300 KB, several chunks


def file_host(
    *, honours_range: bool, drop_after: int, ranges: list[str | None], every_time: bool = False
) -> web.Application:
    """A host that closes the first connection (or `every_time`) after `drop_after` bytes (as hosts do with
    a reader that stalls)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        ranges.append(request.headers.get("Range"))
        wanted = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", ""))
        start = int(wanted[1]) if wanted and honours_range else 0
        response = web.StreamResponse(status=206 if start else 200)
        response.content_type = "audio/mpeg"
        if start:
            response.headers["Content-Range"] = f"bytes {start}-{len(FILE) - 1}/{len(FILE)}"
        response.content_length = len(FILE) - start
        await response.prepare(request)
        dropping = every_time or len(ranges) == 1
        with contextlib.suppress(ConnectionResetError):
            await response.write(FILE[start : start + drop_after] if dropping else FILE[start:])
        if dropping:
            assert request.transport is not None
            request.transport.close()
        return response

    app = web.Application()
    app.router.add_get("/song.mp3", handle)
    return app


async def read_all(url: str, *, pause: float = 0) -> bytes:
    """Everything the stream gives, taking each chunk after `pause` seconds (a player behind the download)."""
    async with media.media_session(allow_private=True) as session:
        stream = await media.open_stream(session, url, allow_private=True)
        assert isinstance(stream, media.MediaStream)
        received = bytearray()
        async with contextlib.aclosing(stream.chunks()) as chunks:
            async for chunk in chunks:
                await asyncio.sleep(pause)
                received += chunk
        return bytes(received)


@pytest.mark.parametrize("honours_range", [True, False])
async def test_a_dropped_stream_is_picked_up_where_it_stopped(honours_range: bool) -> None:
    """The host drops the connection after 100 KB: the rest is asked for with a byte range, and a host that
    ignores the range and starts again from the top is read past what was already had. The file arrives whole."""
    ranges: list[str | None] = []
    async with local_server(file_host(honours_range=honours_range, drop_after=100_000, ranges=ranges)) as base:
        assert await read_all(f"{base}/song.mp3") == FILE
    assert ranges == [None, "bytes=100000-"]


async def test_a_host_that_stops_answering_ends_the_stream_after_a_few_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host gone for good: the stream ends with what it had after `RESUME_DELAYS` tries, not waiting forever."""
    monkeypatch.setattr(media, "RESUME_DELAYS", (0.0, 0.0, 0.0))
    ranges: list[str | None] = []
    async with local_server(file_host(honours_range=True, drop_after=0, ranges=ranges, every_time=True)) as base:
        assert await read_all(f"{base}/song.mp3") == b""
    assert ranges == [None, "bytes=0-", "bytes=0-", "bytes=0-"]


async def test_a_host_that_closes_after_the_last_byte_is_not_asked_again() -> None:
    """The whole file arrived and the host closed the connection abruptly: the stream ends, with no second request."""
    ranges: list[str | None] = []
    async with local_server(file_host(honours_range=True, drop_after=len(FILE), ranges=ranges)) as base:
        assert await read_all(f"{base}/song.mp3", pause=0.01) == FILE
    assert ranges == [None]
