"""The web gallery's test kit: the bot with its web pages on, a signed-in browser, songs in the library."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from bot.core.secrets import new_key
from bot.storage.repository import SongRow
from tests.fakes.fake_oauth import FakeOAuth
from tests.harness import World
from tests.rows import song_row

CLIENT_SECRET = "fake-client-secret"
PALETTE = ("#8a5cf0", "#e56ba4", "#3bb2a0", "#f0a35c", "#5c8af0", "#c05cf0")


def cover_svg(index: int) -> bytes:
    """A small cover picture (an SVG the fake API serves as the song's image)."""
    first, second = PALETTE[index % len(PALETTE)], PALETTE[(index + 2) % len(PALETTE)]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300" viewBox="0 0 300 300">'
        f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{first}"/>'
        f'<stop offset="1" stop-color="{second}"/></linearGradient></defs>'
        '<rect width="300" height="300" fill="url(#g)"/>'
        f'<circle cx="{80 + index * 37 % 140}" cy="{90 + index * 53 % 120}" r="{40 + index % 4 * 12}" '
        'fill="#ffffff33"/>'
        "</svg>"
    ).encode()


async def start_web_bot(world: World, oauth: FakeOAuth, **env: str) -> None:
    """The bot with the web gallery on (PUBLIC_URL = its listener, Discord sign-in at the fake)."""
    await world.start_bot(
        callbacks=True,
        SECRET_KEY=new_key(),
        DISCORD_CLIENT_SECRET=CLIENT_SECRET,
        DISCORD_OAUTH_BASE=oauth.base_url,
        **env,
    )


async def add_song(world: World, song_id: str, index: int = 0, **fields: Any) -> SongRow:
    """A song in the world's guild (channel #jams, by the member unless told), with cover and audio served."""
    world.producer.set_media(f"{song_id}.jpg", cover_svg(index), "image/svg+xml")
    values: dict[str, Any] = {
        "guild_id": world.guild_id,
        "channel_id": world.channel_id,
        "requester_id": world.member_id,
        "title": f"Song {index}",
        "prompt": "lofi, rainy night, soft piano",
        "lyric": "[Verse]\nRain on the window\nLights in the street",
        "duration": 95.0 + index,
        "model": "FUZZ-2.0 Pro",
        "audio_url": world.producer.media_url(f"{song_id}.mp3"),
        "image_url": world.producer.media_url(f"{song_id}.jpg"),
        "created_at": 1_700_000_000.0 + index * 60,
    }
    values.update(fields)
    return await world.repo.add_song(song_row(song_id, **values))


def client() -> aiohttp.ClientSession:
    """A browser without JavaScript: keeps cookies (for 127.0.0.1 too)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(world: World, oauth: FakeOAuth, browser: aiohttp.ClientSession, user_id: int) -> str:
    """Sign `user_id` in through /login; the callback URL Discord sent the browser to (with its code)."""
    oauth.signed_in_as = user_id
    async with browser.get(f"{world.webhook_base}/login") as response:
        assert response.status == 200, await response.text()
        callback = next(str(step.url) for step in response.history if step.url.path == "/auth/callback")
        assert response.url.path == "/servers"
    return callback


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found[1]
