"""Song contests: the contest rows (each its own phase timer), entries, secret votes, the leaderboard.

A contest's `due_at` is the end of its current phase. Any process may claim a due contest
(`claim_due_contests`: a lease judged by the database's clock and a new `lease_epoch`), and only
the claim's holder can change its phase (`advance_contest`, fenced by that epoch). The phase change
and its announcement (an outbox step, `kind='contest'`, keyed `contest:<id>:<phase>`) commit
together, so a phase is announced once whichever process changes it and whenever it stops.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from bot.storage.database import Transaction
from bot.storage.models import SONG_COLUMNS, SongRow, song_from_row
from bot.storage.outbox import OutboxRepository, OutboxStep

OPEN_PHASES = ("submitting", "voting")
CONTEST_COLUMNS = (
    "id, guild_id, channel_id, starter_id, theme, rules, max_entries, phase, started_at, submit_until, "
    "vote_seconds, vote_until, voting_started_at, due_at, message_id, vote_message_id, results_message_id, "
    "event_id, event_note, ended_at, lease_epoch"
)
ENTRY_COLUMNS = "contest_id, song_id, member_id, submitted_at, votes, place"
SETTABLE = {"message_id", "vote_message_id", "results_message_id", "event_id", "event_note"}
STEP_KIND = "contest"

EntryOutcome = Literal["added", "closed", "duplicate", "member_full", "full"]


@dataclass(frozen=True, slots=True)
class Contest:
    id: int
    guild_id: int
    channel_id: int
    starter_id: int
    theme: str
    rules: str
    max_entries: int
    phase: str
    """'submitting', 'voting', 'finished' or 'cancelled'."""
    started_at: float
    submit_until: float
    vote_seconds: float
    vote_until: float
    voting_started_at: float | None
    due_at: float
    """When the current phase ends (its timer); meaningless once the contest is over."""
    message_id: int | None
    vote_message_id: int | None
    results_message_id: int | None
    event_id: int | None
    event_note: str | None
    """Why no scheduled event was made (missing permission), shown on the contest message."""
    ended_at: float | None
    lease_epoch: int = 0

    @property
    def is_open(self) -> bool:
        return self.phase in OPEN_PHASES


@dataclass(frozen=True, slots=True)
class ContestEntry:
    contest_id: int
    song_id: str
    member_id: int
    submitted_at: float
    votes: int | None = None
    place: int | None = None


@dataclass(frozen=True, slots=True)
class LeaderRow:
    """One member's line on the leaderboard."""

    member_id: int
    wins: int = 0
    podiums: int = 0
    stars: int = 0
    songs: int = 0


def period_start(period: str, now: float) -> float | None:
    """Where a leaderboard `period` begins: the first of this UTC month for "month", else None (all time)."""
    if period != "month":
        return None
    today = dt.datetime.fromtimestamp(now, dt.UTC)
    return dt.datetime(today.year, today.month, 1, tzinfo=dt.UTC).timestamp()


def contest_step(contest: Contest, what: str) -> OutboxStep:
    """The announcement of `what` ('voting', 'finished', 'cancelled'), queued once for good."""
    return OutboxStep(f"contest:{contest.id}:{what}", STEP_KIND, contest.guild_id, channel_id=contest.channel_id)


def parse_step_key(key: str) -> tuple[int, str]:
    """`contest:<id>:<what>` → (id, what)."""
    _, contest_id, what = key.split(":", 2)
    return int(contest_id), what


def rank(counts: dict[str, int]) -> dict[str, int]:
    """Places by votes, most first; ties share a place and the next place skips ("1, 1, 3")."""
    ordered = sorted(counts.values(), reverse=True)
    return {song: 1 + sum(1 for other in ordered if other > votes) for song, votes in counts.items()}


class ContestRepository(OutboxRepository):
    """Contests, entries, votes and the leaderboard."""

    async def create_contest(
        self,
        *,
        guild_id: int,
        channel_id: int,
        starter_id: int,
        theme: str,
        rules: str,
        max_entries: int,
        started_at: float,
        submit_seconds: float,
        vote_seconds: float,
    ) -> Contest | None:
        """A new contest taking submissions in `channel_id`; None while that channel has one open."""
        submit_until = started_at + submit_seconds
        row = await self._fetchone(
            "INSERT INTO contests (guild_id, channel_id, starter_id, theme, rules, max_entries, started_at, "
            "submit_until, vote_seconds, vote_until, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (channel_id) WHERE phase IN ('submitting', 'voting') DO NOTHING RETURNING {CONTEST_COLUMNS}",
            (
                guild_id,
                channel_id,
                starter_id,
                theme,
                rules,
                max_entries,
                started_at,
                submit_until,
                vote_seconds,
                submit_until + vote_seconds,
                submit_until,
            ),
        )
        return Contest(*row) if row else None

    async def discard_contest(self, contest_id: int) -> None:
        """Remove a contest whose message could not be posted (nothing was entered yet)."""
        await self._write("DELETE FROM contests WHERE id = ?", (contest_id,))

    async def update_contest(self, contest_id: int, **fields: Any) -> None:
        """Record what was posted for it: message ids, the scheduled event, why there is none."""
        unknown = set(fields) - SETTABLE
        if unknown:
            raise ValueError(f"not settable: {sorted(unknown)}")
        if fields:
            names = ", ".join(f"{name} = ?" for name in fields)
            await self._write(f"UPDATE contests SET {names} WHERE id = ?", (*fields.values(), contest_id))

    async def contest(self, contest_id: int) -> Contest | None:
        row = await self._fetchone(f"SELECT {CONTEST_COLUMNS} FROM contests WHERE id = ?", (contest_id,))
        return Contest(*row) if row else None

    async def open_contests(self, guild_id: int) -> list[Contest]:
        rows = await self._fetchall(
            f"SELECT {CONTEST_COLUMNS} FROM contests WHERE guild_id = ? AND phase IN ('submitting', 'voting') "
            "ORDER BY id",
            (guild_id,),
        )
        return [Contest(*row) for row in rows]

    async def contest_entries(self, contest_id: int) -> list[ContestEntry]:
        rows = await self._fetchall(
            f"SELECT {ENTRY_COLUMNS} FROM contest_entries WHERE contest_id = ? ORDER BY submitted_at, song_id",
            (contest_id,),
        )
        return [ContestEntry(*row) for row in rows]

    async def _lock_contest(self, tx: Transaction, contest_id: int) -> Contest | None:
        """Read the contest, holding it against concurrent entries and phase changes (PostgreSQL;
        SQLite's writer lock does that by itself)."""
        lock = " FOR UPDATE" if self.dialect == "postgres" else ""
        row = await tx.fetchone(f"SELECT {CONTEST_COLUMNS} FROM contests WHERE id = ?{lock}", (contest_id,))
        return Contest(*row) if row else None

    async def add_contest_entry(
        self, contest_id: int, song_id: str, member_id: int, at: float, *, max_total: int
    ) -> EntryOutcome:
        """Enter a song, within the member's `max_entries` and the contest's `max_total`, atomically."""
        async with self._transaction() as tx:
            contest = await self._lock_contest(tx, contest_id)
            if contest is None or contest.phase != "submitting":
                return "closed"
            rows = await tx.fetchall(
                "SELECT song_id, member_id FROM contest_entries WHERE contest_id = ?", (contest_id,)
            )
            if any(row[0] == song_id for row in rows):
                return "duplicate"
            if sum(1 for row in rows if row[1] == member_id) >= contest.max_entries:
                return "member_full"
            if len(rows) >= max_total:
                return "full"
            await tx.execute(
                "INSERT INTO contest_entries (contest_id, song_id, member_id, submitted_at) VALUES (?, ?, ?, ?)",
                (contest_id, song_id, member_id, at),
            )
        return "added"

    async def withdraw_contest_entry(self, contest_id: int, song_id: str, member_id: int) -> bool:
        """Take a member's entry back; only while submissions are open."""
        changed = await self._write(
            "DELETE FROM contest_entries WHERE contest_id = ? AND song_id = ? AND member_id = ? "
            "AND EXISTS (SELECT 1 FROM contests WHERE id = ? AND phase = 'submitting')",
            (contest_id, song_id, member_id, contest_id),
        )
        return changed == 1

    async def cast_vote(self, contest_id: int, voter_id: int, song_id: str, at: float) -> bool:
        """The member's one vote, replacing an earlier one; only while voting and for an entry."""
        changed = await self._write(
            "INSERT INTO contest_votes (contest_id, voter_id, song_id, voted_at) "
            "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM contests WHERE id = ? AND phase = 'voting') "
            "AND EXISTS (SELECT 1 FROM contest_entries WHERE contest_id = ? AND song_id = ?) "
            "ON CONFLICT (contest_id, voter_id) DO UPDATE SET song_id = excluded.song_id, voted_at = excluded.voted_at",
            (contest_id, voter_id, song_id, at, contest_id, contest_id, song_id),
        )
        return changed > 0

    async def vote_of(self, contest_id: int, voter_id: int) -> str | None:
        row = await self._fetchone(
            "SELECT song_id FROM contest_votes WHERE contest_id = ? AND voter_id = ?", (contest_id, voter_id)
        )
        return str(row[0]) if row else None

    async def count_votes(self, contest_id: int) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM contest_votes WHERE contest_id = ?", (contest_id,))
        return int(row[0]) if row else 0

    async def end_phase_now(self, contest_id: int, now: float) -> bool:
        """`/contest end`: the current phase is due now (housekeeping then changes it)."""
        changed = await self._write(
            "UPDATE contests SET due_at = ? WHERE id = ? AND phase IN ('submitting', 'voting') AND due_at > ?",
            (now, contest_id, now),
        )
        return changed == 1

    async def cancel_contest(self, contest_id: int, at: float) -> Contest | None:
        """End without results; the announcement is queued with it. The epoch rises, so a process
        in the middle of a phase change for this contest writes nothing. None if it was not open."""
        async with self._transaction() as tx:
            row = await tx.fetchone(
                f"UPDATE contests SET phase = 'cancelled', ended_at = ?, lease_owner = NULL, lease_until = NULL, "
                "lease_epoch = lease_epoch + 1 WHERE id = ? AND phase IN ('submitting', 'voting') "
                f"RETURNING {CONTEST_COLUMNS}",
                (at, contest_id),
            )
            if row is None:
                return None
            contest = Contest(*row)
            await self._queue_steps(tx, [contest_step(contest, "cancelled")])
        return contest

    # -- the timers -----------------------------------------------------------------------------

    async def claim_due_contests(self, owner: str, ttl: float, now: float, *, limit: int = 10) -> list[Contest]:
        """Lease open contests whose phase has run out by `now` (the caller's clock) for `ttl`
        seconds by the database's clock; each claim raises the contest's epoch. Contests leased
        by another process whose lease has not run out are left alone (on PostgreSQL rows being
        claimed at this moment are skipped, and the conditions are checked again on locked rows)."""
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgres" else ""
        due = (
            "phase IN ('submitting', 'voting') AND due_at <= ? "
            f"AND (lease_until IS NULL OR lease_until <= {self._db_now})"
        )
        rows = await self._fetchall(
            f"UPDATE contests SET lease_owner = ?, lease_until = {self._db_now} + ?, lease_epoch = lease_epoch + 1 "
            f"WHERE id IN (SELECT id FROM contests WHERE {due} ORDER BY due_at LIMIT ?{skip_locked}) AND {due} "
            f"RETURNING {CONTEST_COLUMNS}",
            (owner, ttl, now, limit, now),
        )
        return sorted((Contest(*row) for row in rows), key=lambda contest: contest.due_at)

    async def next_contest_due(self) -> float | None:
        """The nearest end of an open contest's phase (the timers sleep until then)."""
        row = await self._fetchone("SELECT MIN(due_at) FROM contests WHERE phase IN ('submitting', 'voting')")
        return float(row[0]) if row and row[0] is not None else None

    async def release_contest_claims(self) -> int:
        """Hand every contest claim back at once (a process alone on its database, at start: the
        claims were its own, from before it stopped)."""
        return await self._write(
            "UPDATE contests SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL"
        )

    async def release_contest(self, contest: Contest) -> None:
        """Hand a claim back (the phase change failed on a fault that may pass)."""
        await self._write(
            "UPDATE contests SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_epoch = ?",
            (contest.id, contest.lease_epoch),
        )

    async def advance_contest(self, contest: Contest, now: float) -> Contest | None:
        """Move a claimed contest to its next phase and queue the announcement, in one transaction,
        only under the claim it was leased with. Submissions → voting (from the deadline, for
        `vote_seconds`); with no entries straight to finished. Voting → finished, with every entry's
        votes and place written. None when the claim was lost (another process or a cancel)."""
        async with self._transaction() as tx:
            await self._lock_contest(tx, contest.id)  # no entry slips in between the count and the change
            entries = await tx.fetchall("SELECT song_id FROM contest_entries WHERE contest_id = ?", (contest.id,))
            fence = "WHERE id = ? AND lease_epoch = ? AND phase = ?"
            release = "lease_owner = NULL, lease_until = NULL"
            if contest.phase == "submitting" and entries:
                vote_until = contest.due_at + contest.vote_seconds
                row = await tx.fetchone(
                    f"UPDATE contests SET phase = 'voting', voting_started_at = due_at, vote_until = ?, due_at = ?, "
                    f"{release} {fence} RETURNING {CONTEST_COLUMNS}",
                    (vote_until, vote_until, contest.id, contest.lease_epoch, contest.phase),
                )
                what = "voting"
            else:
                row = await tx.fetchone(
                    f"UPDATE contests SET phase = 'finished', ended_at = ?, {release} {fence} "
                    f"RETURNING {CONTEST_COLUMNS}",
                    (now, contest.id, contest.lease_epoch, contest.phase),
                )
                what = "finished"
                if row is not None and entries:
                    await self._write_results(tx, contest.id, [str(entry[0]) for entry in entries])
            if row is None:
                return None
            advanced = Contest(*row)
            await self._queue_steps(tx, [contest_step(advanced, what)])
        return advanced

    async def _write_results(self, tx: Transaction, contest_id: int, song_ids: list[str]) -> None:
        rows = await tx.fetchall(
            "SELECT song_id, COUNT(*) FROM contest_votes WHERE contest_id = ? GROUP BY song_id", (contest_id,)
        )
        counts = dict.fromkeys(song_ids, 0) | {str(song): int(votes) for song, votes in rows if song in song_ids}
        for song_id, place in rank(counts).items():
            await tx.execute(
                "UPDATE contest_entries SET votes = ?, place = ? WHERE contest_id = ? AND song_id = ?",
                (counts[song_id], place, contest_id, song_id),
            )

    # -- what members enter, and the leaderboard ------------------------------------------------

    async def songs_to_enter(
        self, guild_id: int, member_id: int, since: float, *, text: str = "", limit: int = 25
    ) -> list[SongRow]:
        """A member's own songs in this guild made since `since` (newest first), by title words."""
        like = f"%{text.strip().lower()}%"
        rows = await self._fetchall(
            f"SELECT {SONG_COLUMNS} FROM songs WHERE guild_id = ? AND requester_id = ? AND kind = 'song' "
            "AND created_at >= ? AND (LOWER(title) LIKE ? OR id LIKE ?) ORDER BY created_at DESC, id LIMIT ?",
            (guild_id, member_id, since, like, f"{text.strip()}%", limit),
        )
        return [song_from_row(row) for row in rows]

    async def leaderboard(self, guild_id: int, since: float | None = None, *, limit: int = 15) -> list[LeaderRow]:
        """Per member since `since` (all time without): contest wins and podiums (places 1–3, ties
        included), stars other members gave their songs, and songs made; best first."""
        start = since if since is not None else 0.0
        board: dict[int, dict[str, int]] = {}

        def add(member: int, what: str, amount: int) -> None:
            board.setdefault(int(member), {}).setdefault(what, 0)
            board[int(member)][what] += int(amount)

        for member, place in await self._fetchall(
            "SELECT e.member_id, e.place FROM contest_entries e JOIN contests c ON c.id = e.contest_id "
            "WHERE c.guild_id = ? AND c.phase = 'finished' AND c.ended_at >= ? AND e.place IS NOT NULL "
            "AND e.votes > 0",
            (guild_id, start),
        ):
            add(member, "wins", 1 if place == 1 else 0)
            add(member, "podiums", 1 if place <= 3 else 0)
        for member, stars in await self._fetchall(
            "SELECT s.requester_id, COUNT(*) FROM song_stars st JOIN songs s ON s.id = st.song_id "
            "WHERE st.guild_id = ? AND st.starred_at >= ? AND st.user_id <> s.requester_id GROUP BY s.requester_id",
            (guild_id, start),
        ):
            add(member, "stars", stars)
        for member, songs in await self._fetchall(
            "SELECT requester_id, COUNT(*) FROM songs WHERE guild_id = ? AND kind = 'song' AND created_at >= ? "
            "GROUP BY requester_id",
            (guild_id, start),
        ):
            add(member, "songs", songs)
        rows = [LeaderRow(member, **counts) for member, counts in board.items()]
        rows.sort(key=lambda row: (-row.wins, -row.podiums, -row.stars, -row.songs, row.member_id))
        return rows[:limit]
