"""The leaderboard on the web gallery: the same figures as /leaderboard, for the server's members."""

from __future__ import annotations

import re
import time

from tests.fakes.fake_oauth import FakeOAuth
from tests.harness import World
from tests.web.helpers import add_song, client, sign_in, start_web_bot


async def test_the_gallery_links_a_leaderboard_of_wins_podiums_stars_and_songs(world: World, oauth: FakeOAuth) -> None:
    """A finished contest's winner leads; stars from others and songs made are counted."""
    await start_web_bot(world, oauth)
    alice, bob = world.member_id, world.discord.add_user("bob")
    now = time.time()
    await add_song(world, "song-a", 0, created_at=now)
    await add_song(world, "song-b", 1, requester_id=bob, created_at=now)
    await world.repo.toggle_star("song-a", world.guild_id, bob, now)
    contest = await world.repo.create_contest(
        guild_id=world.guild_id,
        channel_id=world.channel_id,
        starter_id=alice,
        theme="Rain",
        rules="",
        max_entries=1,
        started_at=now - 100,
        submit_seconds=10,
        vote_seconds=10,
    )
    assert contest is not None
    await world.repo.add_contest_entry(contest.id, "song-a", alice, now, max_total=25)
    await world.repo.add_contest_entry(contest.id, "song-b", bob, now, max_total=25)
    (claimed,) = await world.repo.claim_due_contests("test", 30, now)
    await world.repo.advance_contest(claimed, now)
    await world.repo.cast_vote(contest.id, bob, "song-a", now)
    await world.repo.end_phase_now(contest.id, now)
    (claimed,) = await world.repo.claim_due_contests("test", 30, now + 1)
    await world.repo.advance_contest(claimed, now)

    async with client() as browser:
        await sign_in(world, oauth, browser, alice)
        async with browser.get(f"{world.webhook_base}/servers/{world.guild_id}") as response:
            assert f"/servers/{world.guild_id}/leaderboard" in await response.text()
        async with browser.get(f"{world.webhook_base}/servers/{world.guild_id}/leaderboard") as response:
            page = await response.text()
        assert response.status == 200
        async with browser.get(
            f"{world.webhook_base}/servers/{world.guild_id}/leaderboard", params={"period": "month"}
        ) as response:
            month = await response.text()
        async with browser.get(f"{world.webhook_base}/servers/123/leaderboard") as response:
            assert response.status == 404
    rows = [re.sub(r"<[^>]+>", " ", row).split() for row in re.findall(r"<tr><td>.*?</tr>", page)]
    assert rows == [["1", "alice", "1", "1", "1", "1"], ["2", "bob", "0", "0", "0", "1"]]
    assert "<strong>This month</strong>" in month and "alice" in month
