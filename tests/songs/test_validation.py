"""Member files read over real HTTP: a lyrics file arriving in pieces is read whole."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aiohttp
from aiohttp import web

from bot.songs.validation import read_lyrics_file
from tests.harness import local_server


async def test_lyrics_file_sent_in_pieces_is_read_whole() -> None:
    lyrics = ("[Verse]\n" + "A line that goes on for a while\n" * 60 + "[Chorus]\nThe very last line\n").encode()

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for start in range(0, len(lyrics), 700):
            await response.write(lyrics[start : start + 700])
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/song.txt", slow)
    async with local_server(app) as base:
        attachment = SimpleNamespace(
            filename="song.txt",
            url=f"{base}/song.txt?ex=1",
            size=len(lyrics),
            content_type="text/plain",
        )
        async with aiohttp.ClientSession() as session:
            text = await read_lyrics_file(session, attachment)  # type: ignore[arg-type]
    assert text.endswith("The very last line") and text.count("A line that goes on") == 60
