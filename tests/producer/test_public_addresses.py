"""Which addresses the bot fetches media from: IPv6 forms that carry an IPv4 address are judged by that address."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.producer import media
from tests.harness import local_server

REFUSED = [
    # IPv4 that is not the internet
    "127.0.0.1",
    "10.1.2.3",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    # IPv6 that is not the internet
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "ff02::1",
    "2001:db8::1",
    "100::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    # IPv4-mapped
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    # IPv4-compatible (deprecated)
    "::127.0.0.1",
    "::7f00:1",
    "::10.1.2.3",
    "::169.254.169.254",
    # IPv4-translated (SIIT)
    "::ffff:0:127.0.0.1",
    "::ffff:0:c0a8:101",
    # NAT64, the well-known prefix, and local-use NAT64 (a network's own translators)
    "64:ff9b::7f00:1",
    "64:ff9b::127.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::c0a8:101",
    "64:ff9b::e000:1",  # 224.0.0.1, multicast
    "64:ff9b:1::808:808",
    # 6to4
    "2002:c0a8:0101::",
    "2002:c0a8:101::1",
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::",
    "2002:a00:1:ffff::1",
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "::8.8.8.8",
    "::ffff:0:808:808",
    "64:ff9b::808:808",  # an IPv6-only network reaching a public IPv4 host
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_addresses_that_lead_into_a_private_network_are_refused(address: str) -> None:
    """Loopback, private, link-local, reserved and multicast addresses are refused, whichever IPv6 form carries them."""
    assert not media._is_public(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed_whichever_form_carries_them(address: str) -> None:
    """A public IPv4 address inside NAT64, 6to4 or a mapped form is as public as the address itself."""
    assert media._is_public(address)


DISGUISED_LOOPBACK = ["64:ff9b::7f00:1", "::ffff:0:7f00:1", "::7f00:1", "2002:7f00:1::1"]


@pytest.fixture
async def redirect_to(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, list[str]]]:
    """A file host on 127.0.0.1 (public for this test; every other address judged as always) that redirects
    /to/<address> to that IPv6 address; yields its base URL and the paths it was asked for."""
    judged = media._is_public
    monkeypatch.setattr(media, "_is_public", lambda address: address == "127.0.0.1" or judged(address))
    seen: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        raise web.HTTPFound(f"http://[{request.match_info['address']}]:{request.url.port}/a.mp3")

    app = web.Application()
    app.router.add_get("/to/{address}", handle)
    async with local_server(app) as base:
        yield base, seen


@pytest.mark.parametrize("address", DISGUISED_LOOPBACK)
async def test_a_download_or_a_stream_to_a_disguised_loopback_address_is_refused(
    address: str, redirect_to: tuple[str, list[str]]
) -> None:
    """Loopback written as NAT64, IPv4-compatible or -translated, or 6to4: refused before any connection,
    whether the song's URL names it or a redirect leads there, for an attachment and for a listening party."""
    base, seen = redirect_to
    async with media.media_session() as session:
        for url in (f"http://[{address}]:{base.rsplit(':', 1)[1]}/a.mp3", f"{base}/to/{address}"):
            fetched = await media.download(session, url, filename="a.mp3", max_bytes=1024)
            assert isinstance(fetched, media.Skipped), url
            assert fetched.reason == "the file's address is not a public one", (url, fetched.reason)
            played = await media.open_stream(session, url)
            assert isinstance(played, media.Skipped), url
            assert played.reason == "the file's address is not a public one", (url, played.reason)
    assert seen == [f"/to/{address}", f"/to/{address}"]
