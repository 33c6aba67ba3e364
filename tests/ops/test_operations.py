"""Watching the bot: a truthful /healthz, /metrics through a song's life, /help, and the owner's DM
when the bot's own Producer account is in trouble. The real bot between the two fakes."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import discord
import pytest
from discord.ext import commands
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.health import GatewayWatch, check_health
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction
from tests.harness import World, free_port, generate, private_reply
from tests.postgres import both_backends


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body


async def wait_for_health(world: World, status: int, timeout: float = 30) -> dict[str, Any]:
    """Ask /healthz until it answers `status`; returns the body."""
    async with asyncio.timeout(timeout):
        while True:
            got, body = await get(f"{world.webhook_base}/healthz")
            if got == status:
                return body
            await asyncio.sleep(0.1)


# -- /healthz ------------------------------------------------------------------------------------


async def test_healthz_follows_the_gateway_down_and_back(world: World) -> None:
    """200 while connected; 503 with the reason once the gateway is gone past the grace; 200 again."""
    bot = await world.start_bot()
    bot.gateway.grace = 0.2
    body = await wait_for_health(world, 200)
    assert body["status"] == "ok" and body["shards"] == {"0": "connected"} and body["reason"] == "ok"

    world.discord.gateway_refused = True  # an outage: reconnecting fails until it ends
    await world.discord.drop_connections()
    body = await wait_for_health(world, 503)
    assert body["status"] == "unavailable" and body["shards"] == {"0": "disconnected"}
    assert body["reason"].startswith("shard 0 without a Discord gateway connection for ")

    identified = world.discord.identify_count
    ready_again = asyncio.ensure_future(bot.wait_for("ready", timeout=30))
    world.discord.gateway_refused = False
    body = await wait_for_health(world, 200)
    assert body["shards"] == {"0": "connected"}
    assert world.discord.identify_count == identified + 1
    await ready_again  # the bot's own start-up of the new session is over before it is stopped


@both_backends
async def test_healthz_is_503_while_the_database_fails(world: World) -> None:
    await world.start_bot()
    assert (await get(f"{world.webhook_base}/healthz"))[0] == 200
    await world.repo._database.close()  # the database goes away under the running bot
    status, body = await get(f"{world.webhook_base}/healthz")
    assert status == 503
    assert body["reason"].startswith("database error (")
    assert body["shards"] == {"0": "connected"}


async def database_answers() -> int:
    return 0


async def test_every_shard_of_an_autosharded_bot_counts() -> None:
    """With AutoShardedBot (several shards in one process) each shard is watched on its own."""
    now = [1000.0]
    client = commands.AutoShardedBot(
        command_prefix="!", intents=discord.Intents.none(), shard_ids=[2, 5], shard_count=8
    )
    watch = GatewayWatch(client, grace=10, clock=lambda: now[0])

    assert watch.state() == ({2: "connecting", 5: "connecting"}, [])
    watch.observe("shard_connect", 2)
    watch.observe("shard_connect", 5)
    assert watch.state() == ({2: "connected", 5: "connected"}, [])
    watch.observe("shard_disconnect", 5)
    now[0] += 5
    assert watch.state() == ({2: "connected", 5: "disconnected"}, [])  # within the grace
    now[0] += 6
    assert watch.state() == ({2: "connected", 5: "disconnected"}, [(5, 11.0)])
    health = await check_health(watch, database_answers)
    assert not health.healthy and health.reason == "shard 5 without a Discord gateway connection for 11 s"
    watch.observe("shard_resumed", 5)
    assert (await check_health(watch, database_answers)).healthy


# -- /metrics ------------------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text → {(sample name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@both_backends
async def test_metrics_count_a_song_through_its_life(world: World) -> None:
    await world.start_bot(callbacks=True, METRICS="true")
    url = f"{world.webhook_base}/metrics"
    status, text = await get(url)
    assert status == 200
    assert value(text, "musicbot_songs_requested_total", action="generate") == 0

    # Requested, generating: in progress.
    world.producer.script(outcome="never")
    await generate(world, "slow one")
    (task,) = await world.producer.wait_for_task_count(1)
    text = (await get(url))[1]
    assert value(text, "musicbot_songs_requested_total", action="generate") == 1
    assert value(text, "musicbot_songs_in_progress") == 1 and value(text, "musicbot_queue_length") == 0
    assert value(text, "musicbot_command_ack_latency_seconds_count") == 1

    # The callback brings the result; the song is posted.
    await world.producer.complete(task.task_id)
    await world.wait_for_song()
    await world.settle()
    text = (await get(url))[1]
    assert value(text, "musicbot_callbacks_total", outcome="stored") == 1
    assert value(text, "musicbot_songs_delivered_total", action="generate") == 1
    assert value(text, "musicbot_delivery_latency_seconds_count") == 1
    assert value(text, "musicbot_songs_in_progress") == 0
    assert ("musicbot_gateway_latency_seconds", (("shard", "0"),)) in samples(text)

    # A refused request: failed, refunded, and the API's error code counted.
    world.producer.fail_next("/producer/audios", status=400, code="bad_request", message="model is invalid.")
    assert "refused the request: model is invalid." in await private_reply(world, await generate(world, "unlucky"))
    text = (await get(url))[1]
    assert value(text, "musicbot_songs_failed_total", action="generate") == 1
    assert value(text, "musicbot_refunds_total") == 1
    assert value(text, "musicbot_api_errors_total", code="bad_request") == 1
    assert value(text, "musicbot_songs_requested_total", action="generate") == 2

    # Discord errors by status, counted where every REST request passes.
    world.discord.fail_next("GET", r"/users/\d+$", status=404, code=10013, message="Unknown User")
    with pytest.raises(discord.NotFound):
        await world.bot.fetch_user(world.member_id)  # type: ignore[union-attr]
    assert value((await get(url))[1], "musicbot_discord_errors_total", status="404") == 1


async def test_metrics_count_polls(world: World) -> None:
    await world.start_bot(METRICS="true", POLL_INTERVAL="1")
    await generate(world, "polled")
    await world.wait_for_song()
    await world.settle()  # the delivery is counted once it is recorded, just after the message appears
    text = (await get(f"{world.webhook_base}/metrics"))[1]
    assert value(text, "musicbot_polls_total") <= len(world.producer.task_requests) - 1  # not the token check
    assert value(text, "musicbot_polls_total") >= 1
    assert value(text, "musicbot_songs_delivered_total", action="generate") == 1


async def test_metrics_are_off_by_default_and_can_have_their_own_port(world: World) -> None:
    await world.start_bot()
    assert (await get(f"{world.webhook_base}/metrics"))[0] == 404
    await world.stop_bot()

    port = free_port()
    await world.start_bot(METRICS="true", METRICS_PORT=str(port))
    assert (await get(f"{world.webhook_base}/metrics"))[0] == 404  # not beside the public callbacks
    status, text = await get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200 and "musicbot_songs_requested_total" in text


# -- /help ---------------------------------------------------------------------------------------


def embed_of(interaction: FakeInteraction) -> dict[str, Any]:
    (embed,) = interaction.responses[0]["data"]["embeds"]
    assert interaction.responses[0]["data"]["flags"] & 64  # private
    return embed


def field_text(embed: dict[str, Any], title: str) -> str:
    return "\n".join(field["value"] for field in embed.get("fields", []) if field["name"].startswith(title))


async def test_help_shows_commands_costs_and_what_is_left(world: World) -> None:
    await world.start_bot(ACTION_COSTS="extend=2,stems=0", GUILD_DAILY_QUOTA="5")
    await generate(world, "first")
    await world.wait_for_song()
    await world.settle()

    member = await world.discord.invoke_slash("help", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: member.responses)
    embed = embed_of(member)
    assert "This server has **4 of 5** credits left today" in embed["description"]
    assert "You have used 1." in embed["description"]
    songs = field_text(embed, "Make songs")
    assert "`/generate` Make a song from a short description. · 1 credit" in songs
    assert "`/extend` " in songs and "· 2 credits" in songs
    assert "`/stems` " in songs and "· free" in songs.split("`/stems` ")[1].splitlines()[0]
    assert "**Extend song** · 2 credits" in field_text(embed, "On a song message")
    assert "`/quota`" in field_text(embed, "More") and "`/help`" in field_text(embed, "More")
    assert "`/lyrics` " in field_text(embed, "More") and "· free" in field_text(embed, "More")
    assert field_text(embed, "For managers") == "" and "/settings" not in str(embed)

    manager = world.discord.add_user("manager")
    world.discord.grant(manager, FakeDiscord.MANAGE_GUILD)
    managed = await world.discord.invoke_slash("help", {}, user_id=manager, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: managed.responses)
    admin = field_text(embed_of(managed), "For managers")
    assert "`/settings` " in admin and "`/allowance` " in admin


# -- the bot's own account in trouble ------------------------------------------------------------


def owner_dms(world: World) -> list[str]:
    """What the bot sent the application's owner (reading `owner_id` makes the owner a known user)."""
    return [
        message.content
        for message in world.discord.messages.get(world.discord.dm_channel_id(world.discord.owner_id), [])
    ]


async def quota_notice(world: World) -> str | None:
    interaction = await world.discord.invoke_slash("quota", {}, user_id=world.member_id, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: interaction.responses)
    (embed,) = interaction.responses[0]["data"]["embeds"]
    return embed.get("description")


async def test_used_up_credits_dm_the_owner_once_and_quota_says_so(world: World) -> None:
    assert owner_dms(world) == []
    await world.start_bot()
    world.producer.fail_next("/producer/audios", status=403, code="used_up", message="balance used up", times=3)
    for n in range(3):
        reply = await private_reply(world, await generate(world, f"song {n}"))
        assert "credits are used up; the bot's owner has been told" in reply
    await world.discord.wait_for(lambda: owner_dms(world))
    await world.settle()
    (dm,) = owner_dms(world)  # one, not one per failed song
    assert "Producer API credits are used up" in dm and "Top up" in dm
    assert "Songs are paused: the bot's Producer credits are used up" in (await quota_notice(world) or "")

    # Credits are back: a song goes through, the notice goes away, and the alert is armed again.
    await generate(world, "works again")
    await world.wait_for_song()
    assert await quota_notice(world) is None
    world.producer.fail_next("/producer/audios", status=403, code="used_up", times=1)
    await private_reply(world, await generate(world, "used up again"))
    await world.discord.wait_for(lambda: len(owner_dms(world)) == 2)


async def test_the_owner_dm_is_sent_once_for_the_whole_cluster(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Every process sees the same used-up answer; the one that claimed the DM in the database sends it."""
    caplog.set_level(logging.INFO)
    bot = await world.start_bot()
    assert await bot.repo.try_lease("owner-dm:credits", "another-process", 3600, time.time())
    world.producer.fail_next("/producer/audios", status=403, code="used_up", message="balance used up", times=1)
    reply = await private_reply(world, await generate(world, "song"))
    assert "credits are used up; the bot's owner has been told" in reply
    told = "Another process of this bot has told the owner already"
    await world.discord.wait_for(lambda: any(r.getMessage() == told for r in caplog.records) or owner_dms(world))
    await world.settle()
    assert owner_dms(world) == []  # the other process told the owner
    assert "Songs are paused: the bot's Producer credits are used up" in (await quota_notice(world) or "")


async def test_a_refused_producer_token_is_reported_loudly_at_start(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """No member has to run a command first: the start-up check finds it, logs it, DMs the owner."""
    wrong = "wrong-producer-token-000111222"
    assert owner_dms(world) == []
    with caplog.at_level(logging.INFO):
        await world.start_bot(PRODUCER_API_TOKEN=wrong)
        await world.discord.wait_for(lambda: owner_dms(world))
    (dm,) = owner_dms(world)
    assert "The Producer API refused PRODUCER_API_TOKEN (invalid_token)" in dm and wrong not in dm
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [
        "PRODUCER_API_TOKEN WAS REFUSED by the Producer API (invalid_token): no song can be made until it is fixed "
        "and the bot restarted"
    ]
    assert world.producer.audio_requests == []
    assert "refused the bot's API key" in (await quota_notice(world) or "")
