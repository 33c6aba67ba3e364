"""A song contest end to end through the fakes, with the bot's clock moved forward instead of waiting."""

from __future__ import annotations

import datetime as dt
import re

from tests.contests.kit import (
    DAY,
    add_manager,
    contest_cmd,
    contest_message,
    field,
    joined_now,
    make_song,
    move_time,
    start_contest,
    titled,
    vote,
    wait_for_results,
    wait_for_vote,
)
from tests.harness import World, embed_field, private_channel, reply_text
from tests.postgres import both_backends


async def test_submissions_follow_the_rules(world: World) -> None:
    """Only the member's own songs, made here since the start, in public channels, up to max_entries."""
    await world.start_bot(callbacks=True)
    alice, bob = world.member_id, world.discord.add_user("bob")
    old = await make_song(world, "an old song", alice, title="Old")
    manager = add_manager(world)
    started = await start_contest(world, manager, rules="Under three minutes, please.")
    assert "contest is on" in started and "scheduled event" in started
    message = contest_message(world)
    assert "Rainy days" in message.embeds[0]["title"]
    assert "Under three minutes" in message.embeds[0]["description"]
    assert field(message, "Phase") == "📝 Taking entries"
    assert "<t:" in field(message, "Entries close")
    assert field(message, "Entries (0)") == "No entries yet."

    mine = await make_song(world, "rain on the window", alice, title="Window")
    second = await make_song(world, "rain again", alice, title="Again")
    theirs = await make_song(world, "bob's rain", bob, title="Bob Rain")
    backstage, insiders = private_channel(world)
    world.discord.give_role(world.guild_id, alice, insiders)
    hidden = await make_song(world, "secret rain", alice, backstage, title="Secret")

    typed = await world.discord.invoke_autocomplete(
        "contest submit", {"song": ""}, "song", user_id=alice, channel_id=world.channel_id
    )
    await world.discord.wait_for(lambda: typed.responses)
    suggested = {choice["value"] for choice in typed.responses[0]["data"]["choices"]}
    assert suggested == {mine, second}  # not the old one, bob's, or the private channel's

    assert "made before this contest started" in await contest_cmd(world, "submit", alice, song=old)
    assert "a song you made yourself" in await contest_cmd(world, "submit", alice, song=theirs)
    assert "private channel" in await contest_cmd(world, "submit", alice, song=hidden)
    assert "is entered" in await contest_cmd(world, "submit", alice, song=mine)
    assert "already entered" in await contest_cmd(world, "submit", alice, song=mine)
    assert "already have 1 entry" in await contest_cmd(world, "submit", alice, song=second)
    assert "is entered" in await contest_cmd(world, "submit", bob, song=theirs)
    await world.discord.wait_for(lambda: "(2)" in str(contest_message(world).embeds[0]["fields"]))
    entries = field(contest_message(world), "Entries (2)")
    assert "**Window**" in entries and f"<@{alice}>" in entries and "**Bob Rain**" in entries

    assert "not one of your entries" in await contest_cmd(world, "withdraw", alice, song=theirs)
    assert "withdrawn" in await contest_cmd(world, "withdraw", alice, song=mine)
    assert "is entered" in await contest_cmd(world, "submit", alice, song=second)
    await world.discord.wait_for(lambda: "Again" in field(contest_message(world), "Entries (2)"))
    assert "Window" not in field(contest_message(world), "Entries (2)")
    assert "already has a contest open" in await contest_cmd(
        world, "start", manager, theme="Another", submit_for="1h", vote_for="1h"
    )
    assert "Manage Server" in await contest_cmd(world, "start", alice, theme="Mine", submit_for="1h", vote_for="1h")


async def test_durations_are_checked(world: World) -> None:
    """2d, 12h, 90m from 1m to 30d; anything else is a clear private message and no contest. What
    the manager wrote shows as typed, never as a link or a ping."""
    await world.start_bot()
    manager = add_manager(world)
    assert "like `2d`, `12h` or `90m`" in await start_contest(world, manager, submit_for="next week")
    assert "between `1m` and `30d`" in await start_contest(world, manager, vote_for="31d")
    assert "between `1m` and `30d`" in await start_contest(world, manager, submit_for="0m")
    assert not titled(world, "🏆")
    theme = "[click](https://evil.example) **now** @everyone"
    assert "contest is on" in await start_contest(world, manager, theme=theme, submit_for="90m", vote_for="12h")
    message = contest_message(world)
    assert "\\[click](https://evil.example) \\*\\*now\\*\\*" in message.embeds[0]["title"]  # shown as typed
    assert message.allowed_mentions["parse"] == []  # type: ignore[index]
    assert "in about 1h 30m" in await contest_cmd(world, "status", manager)


@both_backends
async def test_a_whole_contest_votes_ties_event_and_leaderboard(world: World) -> None:
    """Entries → the vote at the deadline → secret, changeable votes → ranked results with a tie."""
    await world.start_bot(callbacks=True)
    alice, bob, carol, dave = world.member_id, *(world.discord.add_user(n) for n in ("bob", "carol", "dave"))
    manager = add_manager(world)
    await start_contest(world, manager)
    (event,) = world.discord.events.in_guild(world.guild_id)
    assert event["entity_type"] == 3 and str(world.channel_id) in event["entity_metadata"]["location"]
    assert event["status"] == 1 and "Rainy days" in event["name"]

    songs = {
        member: await make_song(world, f"rain by {name}", member, title=f"{name.title()} Rain")
        for member, name in ((alice, "alice"), (bob, "bob"), (carol, "carol"))
    }
    for member, song in songs.items():
        assert "is entered" in await contest_cmd(world, "submit", member, song=song)

    await move_time(world, 2 * DAY + 1)
    ballot = await wait_for_vote(world)
    listed = ballot.embeds[0]["description"]
    for member in songs:
        assert f"<@{member}>" in listed
    assert "[play](https://discord.com/channels/" in listed
    assert field(contest_message(world), "Phase") == "🗳️ Voting"
    assert "can no longer be withdrawn" in await contest_cmd(world, "withdraw", alice, song=songs[alice])
    dave_song = await make_song(world, "late rain", dave, title="Late")
    assert "Entries for this contest are closed" in await contest_cmd(world, "submit", dave, song=dave_song)

    assert "your own song" in await vote(world, ballot, alice, songs[alice])
    assert "is in for **Bob Rain**" in await vote(world, ballot, alice, songs[bob])
    assert "changed to **Carol Rain**" in await vote(world, ballot, alice, songs[carol])
    assert "is in for" in await vote(world, ballot, bob, songs[carol])
    assert "is in for" in await vote(world, ballot, carol, songs[alice])
    assert "is in for" in await vote(world, ballot, dave, songs[alice])
    erin = world.discord.add_user("erin")
    joined_now(world, erin)
    assert "joined the server after voting started" in await vote(world, ballot, erin, songs[bob])
    assert await world.repo.count_votes(1) == 4
    shown = str([(m.content, m.embeds) for m in world.discord.messages[world.channel_id]])
    assert not re.search(r"\d+ votes?\b", shown)  # no count anywhere until the results

    await move_time(world, DAY + 1)
    results = await wait_for_results(world)
    lines = results.embeds[0]["description"].splitlines()
    assert lines[0].startswith("🥇") and lines[1].startswith("🥇") and lines[2].startswith("🥉")
    assert "**Bob Rain**" in lines[2] and "0 votes" in lines[2]
    assert all("2 votes" in line for line in lines[:2])
    assert field(results, "Winners (a tie)") in (f"<@{alice}>, <@{carol}>", f"<@{carol}>, <@{alice}>")
    assert results.allowed_mentions["parse"] == []  # type: ignore[index]
    reposts = [m for m in world.songs_in_channel() if m.content.startswith("🥇 The winning song")]
    assert sorted(embed_field(m, "Song id").strip("`") for m in reposts) == sorted([songs[alice], songs[carol]])
    assert not ballot.components  # the menu is gone
    assert world.discord.events.status_changes == [(int(event["id"]), 1, 2), (int(event["id"]), 2, 3)]
    assert field(contest_message(world), "Phase") == "🏁 Finished"

    board = await world.discord.invoke_slash("leaderboard", {}, user_id=bob, channel_id=world.channel_id)
    await reply_text(world, board)
    text = board.responses[0]["data"]["embeds"][0]["description"].splitlines()
    assert {text[0].split(" — ")[0][2:].strip(), text[1].split(" — ")[0][2:].strip()} == {f"<@{alice}>", f"<@{carol}>"}
    assert "🏆 1 · 🎖️ 1" in text[0] and "🎵 1" in text[0]
    assert f"<@{bob}> — 🏆 0 · 🎖️ 0 · ⭐ 0 · 🎵 1" in text[2]
    assert "(all time)" in board.responses[0]["data"]["embeds"][0]["title"]
    month = await world.discord.invoke_slash(
        "leaderboard", {"period": "month"}, user_id=bob, channel_id=world.channel_id
    )
    await reply_text(world, month)
    assert "(this month)" in month.responses[0]["data"]["embeds"][0]["title"]


async def test_restart_between_phases_changes_each_phase_once(world: World) -> None:
    """The timers are rows: a bot stopped before a deadline changes the phase after it starts again."""
    await world.start_bot(callbacks=True)
    alice, bob = world.member_id, world.discord.add_user("bob")
    manager = add_manager(world)
    await start_contest(world, manager, submit_for="1h", vote_for="1h")
    song = await make_song(world, "rain", alice, title="Rain")
    await contest_cmd(world, "submit", alice, song=song)
    await world.stop_bot()
    world.clock.advance(3600 + 1)
    await world.restart_bot()
    ballot = await wait_for_vote(world)
    assert "is in for" in await vote(world, ballot, bob, song)
    await world.restart_bot()
    await move_time(world, 3600 + 1)
    results = await wait_for_results(world)
    assert "1 vote" in results.embeds[0]["description"]
    await world.restart_bot()
    await world.settle()
    assert len(titled(world, "🗳️ Vote")) == len(titled(world, "🏆 Results")) == 1
    assert len([m for m in world.songs_in_channel() if m.content.startswith("🥇")]) == 1


async def test_end_early_cancel_and_no_event_permission(world: World) -> None:
    """/contest end closes entries now; /contest cancel ends without results; without Create Events
    the contest runs anyway and its message says why there is no event."""
    await world.start_bot(callbacks=True)
    world.discord.events.bot_can_manage_events = False
    alice = world.member_id
    manager = add_manager(world)
    started = await start_contest(world, manager)
    assert "Create Events" in started
    assert "Create Events" in field(contest_message(world), "Reminder")
    assert not world.discord.events.events
    assert "Manage Server" in await contest_cmd(world, "end", alice)
    song = await make_song(world, "rain", alice, title="Rain")
    await contest_cmd(world, "submit", alice, song=song)
    assert "voting starts now" in await contest_cmd(world, "end", manager)
    await wait_for_vote(world)
    assert "Taking entries" not in await contest_cmd(world, "status", alice)
    assert "cancelled" in await contest_cmd(world, "cancel", manager)
    await world.discord.wait_for(
        lambda: any("was cancelled" in m.content for m in world.discord.messages[world.channel_id])
    )
    await world.settle()
    assert field(contest_message(world), "Phase") == "🚫 Cancelled"
    assert not titled(world, "🏆 Results")
    assert "no contest open" in await contest_cmd(world, "status", alice)


async def test_closing_entries_early_moves_the_results_event(world: World) -> None:
    """/contest end during entries: voting starts now for its full length, and the event moves with it."""
    await world.start_bot(callbacks=True)
    manager = add_manager(world)
    await start_contest(world, manager, submit_for="2d", vote_for="1h")
    (event,) = world.discord.events.in_guild(world.guild_id)
    planned = dt.datetime.fromisoformat(event["scheduled_start_time"])
    song = await make_song(world, "rain", world.member_id, title="Rain")
    await contest_cmd(world, "submit", world.member_id, song=song)
    await contest_cmd(world, "end", manager)
    await wait_for_vote(world)
    moved = dt.datetime.fromisoformat(event["scheduled_start_time"])
    assert dt.timedelta(minutes=59) < moved - dt.datetime.fromtimestamp(world.clock(), dt.UTC) <= dt.timedelta(hours=1)
    assert planned - moved > dt.timedelta(days=1)
    assert event["status"] == 1


async def test_cancel_marks_the_event_cancelled(world: World) -> None:
    """A cancelled contest's results event is cancelled at Discord."""
    await world.start_bot()
    manager = add_manager(world)
    await start_contest(world, manager)
    (event,) = world.discord.events.in_guild(world.guild_id)
    await contest_cmd(world, "cancel", manager)
    await world.discord.wait_for(lambda: world.discord.events.status_changes)
    assert world.discord.events.status_changes == [(int(event["id"]), 1, 4)]
