"""Quotas under contention, the fair queue, per-guild settings, permissions, and a whole jam."""

from __future__ import annotations

import asyncio

from tests.fakes.fake_discord import FakeDiscord
from tests.harness import World, embed_field, generate, reply_text, set_song_feed, today
from tests.postgres import both_backends

pytestmark = both_backends  # quotas, the queue, jams, the library and exactly-once hold on both databases


async def test_fifty_members_at_once_against_an_allowance_of_five(world: World) -> None:
    """Exactly 5 requests reach the API, 45 members are told why; the next UTC day it is back."""
    await world.start_bot(callbacks=True, GUILD_DAILY_QUOTA="5", MAX_RUNNING_PER_GUILD="10", MAX_QUEUED_PER_GUILD="100")
    members = [world.discord.add_user(f"member{n}") for n in range(50)]
    interactions = await asyncio.gather(*(generate(world, f"song {n}", user) for n, user in enumerate(members)))
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 5, timeout=30)
    texts = await asyncio.gather(*(reply_text(world, interaction) for interaction in interactions))
    refused = [text for text in texts if "has used all 5 songs for today" in text]
    assert len(refused) == 45 and all("<t:" in text for text in refused)
    assert len(world.producer.audio_requests) == 5
    assert await world.repo.quota_used(world.guild_id, today(world)) == 5
    await world.settle()
    assert len(world.songs_in_channel()) == 5

    world.clock.advance(24 * 3600)
    await generate(world, "a new day")
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 6)
    assert len(world.producer.audio_requests) == 6


async def test_member_cap_from_settings(world: World) -> None:
    await world.start_bot(callbacks=True)
    manager = world.discord.add_user("manager")
    world.discord.grant(manager, FakeDiscord.MANAGE_GUILD)
    setting = await world.discord.invoke_slash(
        "settings", {"member_cap": 1}, user_id=manager, channel_id=world.channel_id
    )
    assert "Settings updated" in await reply_text(world, setting)
    await generate(world, "first")
    await world.wait_for_song()
    second = await generate(world, "second")
    text = await reply_text(world, second)
    assert "You have used your 1 song for today" in text and "<t:" in text
    other = world.discord.add_user("other")
    await generate(world, "someone else", other)
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 2)
    assert await world.repo.member_used(world.guild_id, world.member_id, today(world)) == 1


async def test_queue_positions_cancel_and_restart(world: World) -> None:
    """One slot: later songs wait in order, see their place, can be cancelled, and survive a restart."""
    await world.start_bot(callbacks=True, MAX_RUNNING_PER_GUILD="1", MAX_RUNNING_PER_MEMBER="5")
    world.producer.auto_complete = False
    first = await generate(world, "one")
    await world.producer.wait_for_task_count(1)
    waiting = [await generate(world, name) for name in ("two", "three", "four")]
    for place, interaction in enumerate(waiting, start=1):
        await world.discord.wait_for(
            lambda i=interaction, p=place: i.original and f"queued, #{p} in" in i.original.content
        )
    assert len(world.producer.audio_requests) == 1
    assert await world.repo.quota_used(world.guild_id, today(world)) == 4

    status = waiting[0].original
    assert status is not None
    (cancel,) = [c for row in status.components for c in row["components"]]
    click = await world.discord.click_button(status, cancel["custom_id"], user_id=world.member_id)
    assert "Cancelled" in await reply_text(world, click)
    await world.discord.wait_for(lambda: "cancelled" in status.content and not status.components)
    await world.discord.wait_for(lambda: "queued, #1 in" in waiting[1].original.content)  # type: ignore[union-attr]
    await world.discord.wait_for(lambda: "queued, #2 in" in waiting[2].original.content)  # type: ignore[union-attr]
    assert await world.repo.quota_used(world.guild_id, today(world)) == 3

    stranger = world.discord.add_user("stranger")
    nope = await world.discord.click_button(
        waiting[1].original,
        waiting[1].original.components[0]["components"][0]["custom_id"],
        user_id=stranger,  # type: ignore[union-attr]
    )
    assert "Only the member who asked" in await reply_text(world, nope)

    await world.restart_bot()
    assert len(await world.repo.tasks_in_states("queued")) == 2
    (task,) = world.producer.tasks.values()
    await world.producer.complete(task.task_id)
    await world.discord.wait_for(lambda: len(world.producer.audio_requests) == 2, timeout=15)
    assert world.producer.audio_requests[1]["prompt"] == "three"  # the line kept its order
    for pending in list(world.producer.tasks.values())[1:]:
        await world.producer.complete(pending.task_id)
    await world.discord.wait_for(lambda: len(world.producer.audio_requests) == 3, timeout=15)
    assert world.producer.audio_requests[2]["prompt"] == "four"
    await world.producer.complete(list(world.producer.tasks)[-1])
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 3, timeout=15)
    await world.settle()
    assert [t.state for t in await world.repo.tasks_in_states("delivered", "cancelled")].count("delivered") == 3
    assert first.original is not None


async def test_cancel_a_running_song_refunds_and_ignores_its_result(world: World) -> None:
    await world.start_bot(callbacks=True)
    world.producer.script(outcome="never")
    interaction = await generate(world, "changed my mind")
    (task,) = await world.producer.wait_for_task_count(1)
    await world.discord.wait_for(lambda: interaction.original and interaction.original.components)
    status = interaction.original
    await world.discord.click_button(
        status, status.components[0]["components"][0]["custom_id"], user_id=world.member_id
    )
    await world.discord.wait_for(lambda: "cancelled" in status.content)
    assert await world.repo.quota_used(world.guild_id, today(world)) == 0
    await world.producer.complete(task.task_id)  # the API finishes it anyway
    await world.settle()
    assert world.songs_in_channel() == []


async def test_settings_need_manage_server_and_allowance_needs_the_owner(world: World) -> None:
    await world.start_bot()
    denied = await world.discord.invoke_slash(
        "settings", {"member_cap": 3}, user_id=world.member_id, channel_id=world.channel_id
    )
    assert "Manage Server" in await reply_text(world, denied)
    manager = world.discord.add_user("manager")
    world.discord.grant(manager, FakeDiscord.MANAGE_GUILD)
    view = await world.discord.invoke_slash("settings", {}, user_id=manager, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: view.responses)
    embed = view.responses[0]["data"]["embeds"][0]
    assert {f["name"]: f["value"] for f in embed["fields"]}["Songs per day (server)"] == "20"

    not_owner = await world.discord.invoke_slash(
        "allowance", {"songs_per_day": 99}, user_id=manager, channel_id=world.channel_id
    )
    assert "Only the bot's owner" in await reply_text(world, not_owner)
    owner = await world.discord.invoke_slash(
        "allowance", {"songs_per_day": 2}, user_id=world.discord.owner_id, channel_id=world.channel_id
    )
    assert "may now make 2 songs per day" in await reply_text(world, owner)
    assert (await world.bot.songs.limits(world.guild_id)).daily_allowance == 2  # type: ignore[union-attr]


async def test_song_feed_cross_posts(world: World) -> None:
    await world.start_bot(callbacks=True)
    feed = await set_song_feed(world)
    await generate(world, "for everyone")
    await world.wait_for_song()
    crossposted = await world.wait_for_song(feed)
    assert f"<#{world.channel_id}>" in crossposted.content and crossposted.allowed_mentions["parse"] == []  # type: ignore[index]
    await world.settle()
    menu = await world.discord.invoke_message_command(
        "Make variation", target=crossposted, user_id=world.member_id, channel_id=feed
    )
    await world.discord.wait_for(lambda: menu.responses)
    await world.discord.wait_for(lambda: world.producer.audio_requests[-1]["action"] == "variation")


async def test_a_whole_jam(world: World) -> None:
    """Start, lines from three members, finish → the lines are the lyrics, all three credited; a reply extends it."""
    await world.start_bot(callbacks=True)
    bob, carol = world.discord.add_user("bob"), world.discord.add_user("carol")
    start = await world.discord.invoke_slash(
        "jam start",
        {"theme": "Summer nights", "style": "indie folk"},
        user_id=world.member_id,
        channel_id=world.channel_id,
    )
    await world.discord.wait_for(lambda: any(c.name == "Summer nights" for c in world.discord.channels.values()))
    thread = next(c.id for c in world.discord.channels.values() if c.name == "Summer nights")
    assert "started a jam" in await reply_text(world, start)
    jam_message = await world.discord.wait_for_message(thread, lambda m: bool(m.embeds))

    early = await world.discord.invoke_slash("jam finish", {}, user_id=world.member_id, channel_id=thread)
    assert "no lines yet" in await reply_text(world, early)
    await reply_text(
        world,
        await world.discord.invoke_slash(
            "jam add", {"line": "Warm wind on the porch"}, user_id=world.member_id, channel_id=thread
        ),
    )
    await reply_text(
        world,
        await world.discord.invoke_slash("jam add", {"line": "Fireflies @everyone"}, user_id=bob, channel_id=thread),
    )
    mention = await world.discord.post_user_message(thread, "Stars above the lake", user_id=carol, mentions_bot=True)
    await world.discord.wait_for(lambda: "✍️" in mention.reactions)
    await world.discord.wait_for(lambda: "3 of 40" in str(jam_message.embeds[0]))
    assert f"<@{bob}>" in jam_message.embeds[0]["description"]

    not_starter = await world.discord.invoke_slash("jam finish", {}, user_id=bob, channel_id=thread)
    assert "Only the jam's starter" in await reply_text(world, not_starter)
    await world.discord.invoke_slash("jam finish", {}, user_id=world.member_id, channel_id=thread)
    song_message = await world.wait_for_song(thread)
    body = world.producer.audio_requests[-1]
    assert body["lyric"] == "Warm wind on the porch\nFireflies @everyone\nStars above the lake"
    assert (body["title"], body["prompt"], body["custom"]) == ("Summer nights", "indie folk", True)
    assert embed_field(song_message, "Written by") == f"<@{world.member_id}>, <@{bob}>, <@{carol}>"
    assert song_message.allowed_mentions["parse"] == []  # type: ignore[index]
    assert await world.repo.member_used(world.guild_id, world.member_id, today(world)) == 1

    late = await world.discord.invoke_slash("jam add", {"line": "too late"}, user_id=bob, channel_id=thread)
    assert "finished" in await reply_text(world, late)
    await world.discord.wait_for(
        lambda: jam_message.embeds[0].get("fields") and "Latest song" in str(jam_message.embeds[0])
    )
    await world.discord.post_user_message(
        thread, "Dawn comes slowly", user_id=bob, reply_to=song_message, mentions_bot=True
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel(thread)) == 2)
    extend = world.producer.audio_requests[-1]
    first_song = embed_field(song_message, "Song id").strip("`")
    assert (extend["action"], extend["audio_id"], extend["lyric"]) == ("extend", first_song, "Dawn comes slowly")
    second = world.songs_in_channel(thread)[-1]
    assert embed_field(second, "Requested by") == f"<@{bob}>"
    second_id = embed_field(second, "Song id").strip("`")
    await world.discord.wait_for(lambda: second.jump_url in str(jam_message.embeds[0]))  # the jam now points at it

    # The chain goes on from the newest song, whichever song the reply points at.
    await world.discord.post_user_message(
        thread, "Morning light", user_id=carol, reply_to=song_message, mentions_bot=True
    )
    await world.discord.wait_for(lambda: len(world.songs_in_channel(thread)) == 3)
    assert world.producer.audio_requests[-1]["audio_id"] == second_id
    status = await world.discord.invoke_slash("jam status", {}, user_id=carol, channel_id=thread)
    await world.discord.wait_for(lambda: status.responses)
    chain = [f for f in status.responses[0]["data"]["embeds"][0]["fields"] if f["name"].startswith("Chain")]
    assert chain[0]["name"] == "Chain (3 songs)"


async def test_a_refused_request_does_not_strand_the_next_one(world: World) -> None:
    """Two members at once, the first refused by the API: the second is still sent and delivered."""
    await world.start_bot(callbacks=True)
    bob = world.discord.add_user("bob")
    world.producer.fail_next("/producer/audios", status=403, code="forbidden", message="not allowed")
    refused, accepted = await asyncio.gather(generate(world, "first in line"), generate(world, "second", bob))
    await world.wait_for_song()
    texts = [await reply_text(world, refused), await reply_text(world, accepted)]
    assert sum("content filter" in text for text in texts) == 1
    assert len(world.songs_in_channel()) == 1
    assert await world.repo.tasks_in_states("reserved", "pending", "queued") == []


async def test_a_jam_whose_song_failed_can_be_finished_again(world: World) -> None:
    await world.start_bot(callbacks=True)
    started = await world.discord.invoke_slash(
        "jam start", {"theme": "Retry"}, user_id=world.member_id, channel_id=world.channel_id
    )
    await reply_text(world, started)  # the jam is recorded before the starter is told (the thread comes first)
    await world.discord.wait_for(lambda: any(c.name == "Retry" for c in world.discord.channels.values()))
    thread = next(c.id for c in world.discord.channels.values() if c.name == "Retry")
    await reply_text(
        world,
        await world.discord.invoke_slash("jam add", {"line": "Once more"}, user_id=world.member_id, channel_id=thread),
    )
    world.producer.script(outcome="failure", error_message="could not sing")
    await world.discord.invoke_slash("jam finish", {}, user_id=world.member_id, channel_id=thread)
    await world.discord.wait_for_message(thread, lambda m: "could not be made" in m.content and "<@" in m.content)
    again = await world.discord.invoke_slash("jam finish", {}, user_id=world.member_id, channel_id=thread)
    await world.wait_for_song(thread)
    assert "already finished" not in await reply_text(world, again)
