"""The web gallery seen from Discord: song messages link to their page and carry 🔗 Share, /song info
links to the page, and a jam's takes form one chain in the family tree."""

from __future__ import annotations

from typing import Any

from bot.storage.repository import Limits, NewTask, Task
from tests.fakes.fake_discord import FakeMessage
from tests.fakes.fake_oauth import FakeOAuth
from tests.harness import World, embed_field, generate, reply_text
from tests.web.helpers import add_song, client, sign_in, start_web_bot


def buttons(message: FakeMessage) -> list[dict[str, Any]]:
    return [component for row in message.components for component in row["components"]]


async def test_song_messages_link_to_their_page_and_share_by_button(world: World, oauth: FakeOAuth) -> None:
    """A delivered song has a "Song page" link and a Share button whose answer is a working public link."""
    await start_web_bot(world, oauth)
    world.producer.script(title="Neon Rain")
    await generate(world, "synthwave in the rain")
    message = await world.wait_for_song()
    song_id = embed_field(message, "Song id").strip("`")
    page = next(button for button in buttons(message) if button.get("label") == "Song page")
    assert page["url"] == f"{world.webhook_base}/servers/{world.guild_id}/songs/{song_id}"
    shared = await world.discord.click_button(message, f"share:{song_id}", user_id=world.member_id)
    text = await reply_text(world, shared)
    link = next(word for word in text.split() if "/s/" in word)
    async with client() as stranger, stranger.get(link) as response:
        assert response.status == 200 and "Neon Rain" in await response.text()
    async with client() as browser:
        await sign_in(world, oauth, browser, world.member_id)
        async with browser.get(page["url"]) as response:
            assert response.status == 200 and "Neon Rain" in await response.text()


async def test_song_info_links_to_the_song_page(world: World, oauth: FakeOAuth) -> None:
    """/song info's embed points at the song's page."""
    await start_web_bot(world, oauth)
    await add_song(world, "song-info", title="Info Song")
    interaction = await world.discord.invoke_slash(
        "song info", {"song": "song-info"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: interaction.responses)
    (embed,) = interaction.responses[0]["data"]["embeds"]
    assert embed["url"] == f"{world.webhook_base}/servers/{world.guild_id}/songs/song-info"


async def test_a_jams_takes_are_one_chain_in_the_family_tree(world: World, oauth: FakeOAuth) -> None:
    """Three takes of one jam: the middle one's page shows the first above and the last below it."""
    await start_web_bot(world, oauth)
    jam = await world.repo.create_jam(
        guild_id=world.guild_id,
        channel_id=world.channel_id,
        starter_id=world.member_id,
        theme="t",
        style="s",
        model="FUZZ-2.0",
        at=1.0,
    )
    assert jam is not None
    for take in range(3):
        task_id = await _jam_task(world, jam.id)
        await add_song(world, f"take-{take}", take, title=f"Take {take}", task_id=task_id)
    async with client() as browser:
        await sign_in(world, oauth, browser, world.member_id)
        async with browser.get(f"{world.webhook_base}/servers/{world.guild_id}/songs/take-1") as response:
            page = await response.text()
    assert page.count('class="edge jam"') == 2
    assert 'href="/servers/' in page and "Take 0" in page and "Take 2" in page


async def _jam_task(world: World, jam_id: int) -> int:
    """A task row of the jam (what /jam finish makes), for its song to belong to."""
    task = await world.repo.enqueue_task(
        NewTask(
            guild_id=world.guild_id,
            channel_id=world.channel_id,
            requester_id=world.member_id,
            action="generate",
            request={"prompt": "x"},
            quota_day="2026-01-01",
            cost=0,
            created_at=1.0,
            deadline_at=10**10,
            jam_id=jam_id,
        ),
        Limits(daily_allowance=100, member_daily_cap=None, max_running=4, max_running_per_member=2, max_queued=20),
    )
    assert isinstance(task, Task)
    return task.id
