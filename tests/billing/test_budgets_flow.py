"""Budgets, role caps and usage, as managers and members meet them: alerts once each, the 100 %
refusal, several roles, the /usage chart and the owner's `python -m bot usage`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib.image
import pytest

from bot.__main__ import build_parser
from bot.billing.usage import run_usage_report
from tests.fakes.fake_discord import FakeDiscord
from tests.harness import World, generate, private_reply, reply_text, today


def manager(world: World) -> int:
    user = world.discord.add_user("treasurer")
    world.discord.grant(user, FakeDiscord.MANAGE_GUILD)
    return user


async def settings(world: World, user: int, **options: object) -> str:
    return await reply_text(
        world, await world.discord.invoke_slash("settings", options, user_id=user, channel_id=world.channel_id)
    )


async def test_budget_alerts_once_each_and_the_full_budget_refuses(world: World) -> None:
    await world.start_bot(callbacks=True)
    alerts = world.discord.add_channel(world.guild_id, "money")
    boss = manager(world)
    assert "Settings updated" in await settings(world, boss, monthly_budget=4, alerts_channel=alerts)
    for n in range(4):
        await generate(world, f"song {n}")
        await world.discord.wait_for(lambda n=n: len(world.songs_in_channel()) == n + 1)
    await world.settle()
    said = [message.content for message in world.discord.messages.get(alerts, [])]
    assert [text.split("% of")[0].rsplit(" ", 2)[-2] for text in said] == ["50", "75", "90", "100"]
    assert "4 of 4 credits" in said[-1] and "<t:" in said[-1]

    refused = await generate(world, "one too many")
    text = await reply_text(world, refused)
    assert "spent its monthly budget of 4 credits" in text and ":D>" in text
    assert len(world.producer.audio_requests) == 4
    await world.settle()
    assert len(world.discord.messages[alerts]) == 4  # no second 100 % alert

    assert "Settings updated" in await settings(world, boss, monthly_budget=0)  # no budget: songs again
    await generate(world, "budget lifted")
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 5)


async def test_a_members_cap_is_the_highest_of_their_roles(world: World) -> None:
    await world.start_bot(callbacks=True, GUILD_DAILY_QUOTA="100", MAX_RUNNING_PER_MEMBER="5")
    boss = manager(world)
    fans = world.discord.add_role(world.guild_id, "fans")
    patrons = world.discord.add_role(world.guild_id, "patrons")
    muted = world.discord.add_role(world.guild_id, "muted")
    for role, cap in ((fans, 1), (patrons, 3), (muted, 0)):
        answer = await world.discord.invoke_slash(
            "limits", {"role": role, "songs_per_day": cap}, user_id=boss, channel_id=world.channel_id
        )
        assert "songs per day" in await private_reply(world, answer)
    assert "Settings updated" in await settings(world, boss, member_cap=2)

    both = world.member_id
    world.discord.give_role(world.guild_id, both, fans)
    world.discord.give_role(world.guild_id, both, patrons)
    quiet = world.discord.add_user("quiet")
    world.discord.give_role(world.guild_id, quiet, muted)
    plain = world.discord.add_user("plain")

    for n in range(3):
        await generate(world, f"patron {n}", both)
    for n in range(2):
        await generate(world, f"plain {n}", plain)
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 5, timeout=20)
    assert "your 3 songs for today" in await reply_text(world, await generate(world, "patron 4", both))
    assert "your 2 songs for today" in await reply_text(world, await generate(world, "plain 3", plain))
    assert "your 0 songs for today" in await reply_text(world, await generate(world, "hush", quiet))

    listing = await world.discord.invoke_slash("limits", {}, user_id=boss, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: listing.responses)
    embed = listing.responses[0]["data"]["embeds"][0]
    assert f"<@&{patrons}>: 3" in embed["description"] and f"<@&{muted}>: 0" in embed["description"]
    cleared = await world.discord.invoke_slash(
        "limits", {"role": muted, "clear": True}, user_id=boss, channel_id=world.channel_id
    )
    assert "Cleared" in await private_reply(world, cleared)
    await generate(world, "free again", quiet)
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 6)
    member_only = await world.discord.invoke_slash(
        "limits", {"role": fans, "songs_per_day": 9}, user_id=plain, channel_id=world.channel_id
    )
    assert "Manage Server" in await private_reply(world, member_only)


async def test_usage_chart_matches_the_stored_usage(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await world.start_bot(callbacks=True, GUILD_DAILY_QUOTA="100", MAX_RUNNING_PER_MEMBER="5")
    boss = manager(world)
    await settings(world, boss, monthly_budget=50)
    bob = world.discord.add_user("bob")
    for n in range(3):
        await generate(world, f"alice {n}")
    await generate(world, "bob 0", bob)
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 4, timeout=20)
    world.clock.advance(24 * 3600)
    await generate(world, "bob 1", bob)
    await world.discord.wait_for(lambda: len(world.songs_in_channel()) == 5, timeout=20)

    asked = await world.discord.invoke_slash("usage", {"period": "7d"}, user_id=boss, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: asked.followups and asked.followups[-1].attachments)
    answer = asked.followups[-1]
    assert answer.ephemeral and answer.attachments[0].filename == "usage.png"
    png = answer.attachments[0].data
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    height, width, _ = matplotlib.image.imread(io.BytesIO(png)).shape
    assert width > 500 and height > 200

    rows = await world.repo.usage_rows(world.guild_id, "2000-01-01", today(world))
    total = sum(row.credits for row in rows)
    assert total == 5
    assert f"This server spent {total} credits" in answer.content
    assert f"<@{world.member_id}> 3" in answer.content and f"<@{bob}> 2" in answer.content
    assert "of a budget of 50" in answer.content

    own = await world.discord.invoke_slash("usage", {"period": "month"}, user_id=bob, channel_id=world.channel_id)
    await world.discord.wait_for(lambda: own.followups and own.followups[-1].attachments)
    assert f"<@{bob}> spent 2 credits" in own.followups[-1].content
    nosy = await world.discord.invoke_slash(
        "usage", {"member": world.member_id}, user_id=bob, channel_id=world.channel_id
    )
    assert "your own usage" in await private_reply(world, nosy)

    assert world.settings is not None
    target = tmp_path / "usage.csv"
    assert build_parser().parse_args(["usage", "--month", "2026-12", "--csv", "x"]).command == "usage"
    month = today(world)[:7]
    assert await run_usage_report(world.settings, month, str(target)) == 0
    printed = capsys.readouterr().out
    assert str(world.guild_id) in printed and "bot" in printed
    (row,) = list(csv.DictReader(target.read_text().splitlines()))
    assert (row["guild_id"], row["month"], row["credits"], row["paid_by"]) == (str(world.guild_id), month, "5", "bot")
    assert await run_usage_report(world.settings, "December", None) == 2
