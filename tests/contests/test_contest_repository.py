"""Contest storage on both databases: one open contest per channel, entry limits, one vote each,
leased and fenced phase changes announced once, ranked results with ties, and the leaderboard."""

from __future__ import annotations

import asyncio

import pytest

from bot.contests.durations import describe, parse_duration
from bot.core.errors import InvalidInput
from bot.storage.contests import Contest, parse_step_key, rank
from bot.storage.repository import Repository
from tests.rows import song_row

T0 = 1_000_000.0


async def new_contest(repo: Repository, channel_id: int = 10, **fields: object) -> Contest:
    values: dict[str, object] = {
        "guild_id": 1,
        "channel_id": channel_id,
        "starter_id": 9,
        "theme": "Rain",
        "rules": "",
        "max_entries": 1,
        "started_at": T0,
        "submit_seconds": 100.0,
        "vote_seconds": 50.0,
        **fields,
    }
    contest = await repo.create_contest(**values)  # type: ignore[arg-type]
    assert contest is not None
    return contest


async def to_voting(repo: Repository, contest: Contest) -> Contest:
    (claimed,) = await repo.claim_due_contests("me", 30, contest.due_at)
    advanced = await repo.advance_contest(claimed, contest.due_at)
    assert advanced is not None and advanced.phase == "voting"
    return advanced


async def outbox_keys(repo: Repository) -> list[str]:
    return sorted(item.key for item in await repo.claim_outbox("reader", 30))


def test_durations() -> None:
    """2d, 12h, 90m and combinations, from 1m to 30d; anything else says what is wanted."""
    assert parse_duration("submit_for", "2d") == 2 * 86400
    assert parse_duration("submit_for", " 12H ") == 12 * 3600
    assert parse_duration("submit_for", "90m") == 90 * 60
    assert parse_duration("submit_for", "1d 12h") == 36 * 3600
    assert parse_duration("vote_for", "30d") == 30 * 86400
    for bad, wanted in (("2 weeks", "like `2d`"), ("1s", "like `2d`"), ("", "like `2d`"), ("31d", "between")):
        with pytest.raises(InvalidInput, match=wanted):
            parse_duration("vote_for", bad)
    with pytest.raises(InvalidInput, match="`submit_for` must be between `1m` and `30d`"):
        parse_duration("submit_for", "0m")
    assert describe(90 * 60) == "1h 30m" and describe(2 * 86400) == "2d"


def test_ties_share_a_place() -> None:
    assert rank({"a": 3, "b": 5, "c": 3, "d": 0}) == {"b": 1, "a": 2, "c": 2, "d": 4}
    assert rank({"a": 0, "b": 0}) == {"a": 1, "b": 1}
    assert parse_step_key("contest:12:voting") == (12, "voting")


async def test_one_open_contest_per_channel(repo: Repository) -> None:
    first = await new_contest(repo)
    assert await repo.create_contest(**{**_args(), "channel_id": 10}) is None
    assert await new_contest(repo, channel_id=11)
    assert await repo.cancel_contest(first.id, T0 + 1) is not None
    assert (await new_contest(repo)).id != first.id  # a cancelled one frees the channel
    assert [c.channel_id for c in await repo.open_contests(1)] == [11, 10]


def _args() -> dict[str, object]:
    return {
        "guild_id": 1,
        "channel_id": 10,
        "starter_id": 9,
        "theme": "Rain",
        "rules": "",
        "max_entries": 1,
        "started_at": T0,
        "submit_seconds": 100.0,
        "vote_seconds": 50.0,
    }


async def test_entry_limits_are_atomic(repo: Repository) -> None:
    """Per member and in total, even when a member enters several songs at the same moment."""
    contest = await new_contest(repo, max_entries=2)
    outcomes = await asyncio.gather(
        *(repo.add_contest_entry(contest.id, f"s{n}", 100, T0, max_total=3) for n in range(5))
    )
    assert sorted(outcomes) == ["added", "added", "member_full", "member_full", "member_full"]
    assert await repo.add_contest_entry(contest.id, "s0", 101, T0, max_total=3) == "duplicate"
    assert await repo.add_contest_entry(contest.id, "t1", 101, T0, max_total=3) == "added"
    assert await repo.add_contest_entry(contest.id, "t2", 101, T0, max_total=3) == "full"
    assert not await repo.withdraw_contest_entry(contest.id, "t1", 100)  # not theirs
    assert await repo.withdraw_contest_entry(contest.id, "t1", 101)
    await to_voting(repo, contest)
    assert await repo.add_contest_entry(contest.id, "t3", 102, T0, max_total=3) == "closed"
    assert not await repo.withdraw_contest_entry(contest.id, "s0", 100)


async def test_one_vote_per_member_only_while_voting(repo: Repository) -> None:
    contest = await new_contest(repo)
    await repo.add_contest_entry(contest.id, "a", 100, T0, max_total=25)
    await repo.add_contest_entry(contest.id, "b", 101, T0, max_total=25)
    assert not await repo.cast_vote(contest.id, 200, "a", T0)  # entries still open
    voting = await to_voting(repo, contest)
    assert voting.voting_started_at == contest.due_at and voting.due_at == contest.due_at + 50
    assert await repo.cast_vote(contest.id, 200, "a", T0)
    assert await repo.cast_vote(contest.id, 200, "b", T0)  # changed, not added
    assert not await repo.cast_vote(contest.id, 201, "nope", T0)  # not an entry
    assert await repo.vote_of(contest.id, 200) == "b" and await repo.count_votes(contest.id) == 1


async def test_a_due_contest_is_claimed_by_one_process_and_fenced(repo: Repository) -> None:
    """Two processes look at once: one lease; a stale holder (its epoch passed) changes nothing."""
    contest = await new_contest(repo)
    await repo.add_contest_entry(contest.id, "a", 100, T0, max_total=25)
    assert await repo.claim_due_contests("one", 30, contest.due_at - 1) == []  # not due yet
    claims = await asyncio.gather(*(repo.claim_due_contests(o, 30, contest.due_at) for o in ("one", "two")))
    assert sorted(len(claim) for claim in claims) == [0, 1]
    (held,) = claims[0] or claims[1]
    assert await repo.next_contest_due() == contest.due_at
    assert await repo.claim_due_contests("four", 30, contest.due_at) == []  # held
    assert await repo.release_contest_claims() == 1  # alone at start: its own earlier claims come back
    (held,) = await repo.claim_due_contests("one", 30, contest.due_at)
    # The lease ran out meanwhile (released here) and another process took the contest over.
    await repo.release_contest(held)
    (taken,) = await repo.claim_due_contests("three", 30, contest.due_at)
    assert await repo.advance_contest(held, contest.due_at) is None
    advanced = await repo.advance_contest(taken, contest.due_at)
    assert advanced is not None and advanced.phase == "voting"
    assert await repo.advance_contest(taken, contest.due_at) is None  # already moved on
    assert await outbox_keys(repo) == [f"contest:{contest.id}:voting"]


async def test_results_ranked_with_ties_and_announced_once(repo: Repository) -> None:
    contest = await new_contest(repo)
    for song, member in (("a", 100), ("b", 101), ("c", 102)):
        await repo.add_contest_entry(contest.id, song, member, T0, max_total=25)
    voting = await to_voting(repo, contest)
    for voter, song in ((200, "a"), (201, "b"), (202, "a"), (203, "b")):
        await repo.cast_vote(contest.id, voter, song, T0)
    assert await repo.end_phase_now(contest.id, T0 + 110)
    (claimed,) = await repo.claim_due_contests("me", 30, T0 + 110)
    finished = await repo.advance_contest(claimed, T0 + 110)
    assert finished is not None and finished.phase == "finished" and voting.phase == "voting"
    places = {(e.song_id, e.votes, e.place) for e in await repo.contest_entries(contest.id)}
    assert places == {("a", 2, 1), ("b", 2, 1), ("c", 0, 3)}
    assert not await repo.cast_vote(contest.id, 204, "c", T0)
    assert await repo.cancel_contest(contest.id, T0) is None  # over already
    assert await repo.claim_due_contests("me", 30, T0 + 10_000) == []
    assert await outbox_keys(repo) == [f"contest:{contest.id}:finished", f"contest:{contest.id}:voting"]


async def test_no_entries_goes_straight_to_the_end_and_cancel_fences(repo: Repository) -> None:
    empty = await new_contest(repo)
    (claimed,) = await repo.claim_due_contests("me", 30, empty.due_at)
    finished = await repo.advance_contest(claimed, empty.due_at)
    assert finished is not None and finished.phase == "finished"
    other = await new_contest(repo, channel_id=11)
    (claimed,) = await repo.claim_due_contests("me", 30, other.due_at)
    assert await repo.cancel_contest(other.id, T0) is not None
    assert await repo.advance_contest(claimed, other.due_at) is None  # the cancel won
    assert await outbox_keys(repo) == sorted([f"contest:{other.id}:cancelled", f"contest:{empty.id}:finished"])


async def test_leaderboard_counts_wins_podiums_stars_and_songs(repo: Repository) -> None:
    for song_id, member, at in (("a", 100, T0), ("b", 101, T0), ("c", 102, T0), ("old", 100, 10.0)):
        await repo.add_song(song_row(song_id, requester_id=member, created_at=at))
    await repo.toggle_star("a", 1, 101, T0)
    await repo.toggle_star("a", 1, 100, T0)  # one's own star does not count
    contest = await new_contest(repo)
    for song, member in (("a", 100), ("b", 101), ("c", 102)):
        await repo.add_contest_entry(contest.id, song, member, T0, max_total=25)
    await to_voting(repo, contest)
    await repo.cast_vote(contest.id, 201, "a", T0)
    await repo.cast_vote(contest.id, 202, "a", T0)
    await repo.cast_vote(contest.id, 203, "b", T0)
    await repo.end_phase_now(contest.id, T0 + 110)
    (claimed,) = await repo.claim_due_contests("me", 30, T0 + 110)
    await repo.advance_contest(claimed, T0 + 110)
    board = await repo.leaderboard(1)
    assert [(r.member_id, r.wins, r.podiums, r.stars, r.songs) for r in board] == [
        (100, 1, 1, 1, 2),
        (101, 0, 1, 0, 1),
        (102, 0, 0, 0, 1),  # no votes: no podium
    ]
    assert next(r.songs for r in await repo.leaderboard(1, since=T0 - 1)) == 1  # "old" is before the month
    assert await repo.leaderboard(2) == []
    assert [s.id for s in await repo.songs_to_enter(1, 100, T0)] == ["a"]
