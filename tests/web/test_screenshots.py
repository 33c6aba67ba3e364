"""Redraws the README's screenshots of the web gallery (not a check; skipped unless asked for):

WEB_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest -q tests/web/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.fakes.fake_oauth import FakeOAuth
from tests.harness import World
from tests.voice_helpers import give_audio
from tests.web.helpers import add_song, start_web_bot
from tests.web.test_browser import browser, sign_in

__all__ = ["browser"]  # the fixture, shared with the browser tests

pytestmark = pytest.mark.skipif(
    not os.environ.get("WEB_SCREENSHOTS"), reason="set WEB_SCREENSHOTS=<folder> to redraw the screenshots"
)

SIZES = {"phone": (390, 844), "desktop": (1280, 860)}
SONGS = [
    ("Neon Rain", "synthwave, neon city, rain on the windshield"),
    ("Untitled", "a cozy lofi beat for a rainy sunday morning with soft piano"),
    ("Lighthouse", "indie folk, warm acoustic guitar, hopeful"),
    ("Paper Planes", "bright pop punk, fast drums"),
    ("Midnight Bakery", "jazzy hip hop, vinyl crackle"),
    ("Untitled", "epic orchestral trailer music with choir"),
    ("Ocean Glass", "dream pop, shimmering guitars"),
    ("Saturday Sprint", "drum and bass, energetic"),
    ("Fox in the Snow", "chamber folk, whispered vocals"),
    ("Golden Hour", "city pop, 80s, funky bass"),
]


async def test_redraw_the_screenshots(world: World, oauth: FakeOAuth, browser: Browser) -> None:
    folder = Path(os.environ["WEB_SCREENSHOTS"])
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    await start_web_bot(world, oauth)
    bob = world.discord.add_user("Bob Marlowe")
    for index, (title, prompt) in enumerate(SONGS):
        await add_song(
            world,
            f"song-{index}",
            index,
            title=title,
            prompt=prompt,
            requester_id=bob if index % 3 == 1 else world.member_id,
            duration=92.0 + index * 17,
        )
        for voter in range(index % 4):
            await world.repo.toggle_star(f"song-{index}", world.guild_id, 1000 + voter, 1.0)
    await add_song(
        world,
        "song-ext",
        11,
        title="Neon Rain (extended)",
        parent_song_id="song-0",
        action="extend",
        requester_id=bob,
        created_at=1_600_000_000.0,
    )
    await add_song(
        world,
        "song-cover",
        12,
        title="Neon Rain, acoustic",
        parent_song_id="song-0",
        action="cover",
        created_at=1_600_000_000.0,
    )
    await add_song(
        world,
        "song-var",
        13,
        title="Neon Rain at dawn",
        parent_song_id="song-ext",
        action="variation",
        created_at=1_600_000_000.0,
    )
    give_audio(world, "song-0", 92)
    for name, (width, height) in SIZES.items():
        page = await (await browser.new_context(viewport={"width": width, "height": height})).new_page()
        await sign_in(page, world, oauth, world.member_id)
        await page.goto(f"{world.webhook_base}/servers/{world.guild_id}")
        await page.screenshot(path=folder / f"gallery-{name}.png")
        await page.goto(f"{world.webhook_base}/servers/{world.guild_id}/songs/song-0")
        await page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
        await page.screenshot(path=folder / f"song-{name}.png", full_page=True)
        await page.goto(f"{world.webhook_base}/servers/{world.guild_id}/leaderboard?period=all")
        await page.screenshot(path=folder / f"leaderboard-{name}.png", full_page=True)
