"""The web gallery in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Two journeys, one browser each: a member signs in, browses, searches, plays a song, shares it and
ends the link (with the refusals on the way: a forged state, a replayed code, a POST without the
CSRF token); and the privacy rules (a private channel's song, a member who left).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.fakes.fake_oauth import FakeOAuth
from tests.harness import World, private_channel, reply_text
from tests.voice_helpers import give_audio
from tests.web.helpers import add_song, start_web_bot

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium that may start audio without a click (the test presses nothing to play)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required", "--mute-audio"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def sign_in(page: Page, world: World, oauth: FakeOAuth, user_id: int) -> list[str]:
    """From the home page through Discord's (fake) consent back to "My servers"; the callback URLs seen."""
    oauth.signed_in_as = user_id
    callbacks: list[str] = []
    page.on("request", lambda request: callbacks.append(request.url) if "/auth/callback" in request.url else None)
    await page.goto(world.webhook_base + "/")
    await page.get_by_role("link", name="Sign in with Discord").first.click()
    await page.wait_for_url("**/servers")
    return callbacks


async def test_a_member_listens_shares_and_revokes(world: World, oauth: FakeOAuth, browser: Browser) -> None:
    """Sign in, the gallery, search, a song page whose audio plays, its family tree, a share link
    that works signed out with its OpenGraph tags, and the link revoked; forged and replayed
    sign-ins and a POST without the CSRF token are refused."""
    await start_web_bot(world, oauth)
    for index, (song_id, title) in enumerate((("song-rain", "Rain on Glass"), ("song-sun", "Sunny Day"))):
        await add_song(world, song_id, index, title=title)
        give_audio(world, song_id, 3)
    await add_song(
        world, "song-rain-2", 2, title="Rain on Glass (extended)", parent_song_id="song-rain", action="extend"
    )
    context = await browser.new_context()
    page = await context.new_page()
    callbacks = await sign_in(page, world, oauth, world.member_id)

    await page.get_by_role("link", name="Music Lovers").click()
    await page.wait_for_url(f"**/servers/{world.guild_id}")
    assert await page.locator(".card").count() == 3
    await page.get_by_label("Search songs").fill("sunny")
    await page.get_by_label("Search songs").press("Enter")
    await page.wait_for_url("**q=sunny**")
    assert await page.locator(".card .title").all_inner_texts() == ["Sunny Day"]

    await page.goto(f"{world.webhook_base}/servers/{world.guild_id}?q=rain")
    await page.get_by_role("link", name="Rain on Glass", exact=True).last.click()
    await page.wait_for_url("**/songs/song-rain")
    assert await page.locator("h1").inner_text() == "Rain on Glass"
    assert await page.locator("svg.family a").count() == 1  # the extension, drawn below and linked
    await page.evaluate("document.querySelector('#player').play()")
    await page.wait_for_function("() => document.querySelector('#player').currentTime > 0.3", timeout=15000)
    assert await page.evaluate("document.querySelector('#player').duration") == pytest.approx(3, abs=0.2)

    # A POST without the page's CSRF token changes nothing; the Sign out button (which has it) works.
    status = await page.evaluate("fetch('/logout', {method: 'POST'}).then(response => response.status)")
    assert status == 403
    await page.goto(f"{world.webhook_base}/servers")
    assert page.url.endswith("/servers")

    forged = await page.goto(f"{world.webhook_base}/auth/callback?code=abc&state=forged")
    assert forged is not None and forged.status == 400
    assert "did not start in this browser" in await page.inner_text("main")
    replayed = await page.goto(callbacks[0])
    assert replayed is not None and replayed.status == 400

    interaction = await world.discord.invoke_slash(
        "share", {"song": "song-rain"}, user_id=world.member_id, channel_id=world.channel_id
    )
    link = next(word for word in (await reply_text(world, interaction)).split() if "/s/" in word)
    stranger = await (await browser.new_context()).new_page()
    await stranger.goto(link)
    assert await stranger.locator("h1").inner_text() == "Rain on Glass"
    assert await stranger.get_by_role("link", name="Sign in with Discord").count() == 1  # signed out
    og = {
        name: await stranger.locator(f'meta[property="{name}"], meta[name="{name}"]').get_attribute("content")
        for name in ("og:title", "og:image", "og:audio", "twitter:card")
    }
    assert og == {
        "og:title": "Rain on Glass",
        "og:image": world.producer.media_url("song-rain.jpg"),
        "og:audio": world.producer.media_url("song-rain.mp3"),
        "twitter:card": "player",
    }
    await stranger.evaluate("document.querySelector('#player').play()")
    await stranger.wait_for_function("() => document.querySelector('#player').currentTime > 0.3", timeout=15000)

    await reply_text(
        world,
        await world.discord.invoke_slash(
            "share", {"song": "song-rain", "revoke": True}, user_id=world.member_id, channel_id=world.channel_id
        ),
    )
    gone = await stranger.goto(link)
    assert gone is not None and gone.status == 404

    await page.goto(f"{world.webhook_base}/servers")
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(world.webhook_base + "/")
    assert await page.get_by_role("link", name="Sign in with Discord").count() >= 1


async def test_private_songs_and_members_who_left(world: World, oauth: FakeOAuth, browser: Browser) -> None:
    """A song from a channel the member cannot view is not in their gallery and its page is the
    same 404 as a missing song; once a member leaves, the server's gallery is a 404 too."""
    backstage, _ = private_channel(world)
    await start_web_bot(world, oauth)
    await add_song(world, "song-open", 1, title="Open Song")
    await add_song(world, "song-secret", 2, title="Secret Song", channel_id=backstage)
    page = await (await browser.new_context()).new_page()
    await sign_in(page, world, oauth, world.member_id)
    gallery = f"{world.webhook_base}/servers/{world.guild_id}"
    await page.goto(gallery)
    assert await page.locator(".card .title").all_inner_texts() == ["Open Song"]
    hidden = await page.goto(f"{gallery}/songs/song-secret")
    hidden_text = await page.inner_text("main")
    missing = await page.goto(f"{gallery}/songs/song-nothing")
    assert hidden is not None and missing is not None and hidden.status == missing.status == 404
    assert hidden_text == await page.inner_text("main")

    world.discord.remove_member(world.guild_id, world.member_id)
    world.clock.advance(61)
    refused = await page.goto(gallery)
    assert refused is not None and refused.status == 404
    await page.goto(f"{world.webhook_base}/servers")
    assert await page.get_by_role("link", name="Music Lovers").count() == 0
