"""Contests: starting one, entering and voting under the rules, and the phase changes on time.

**How phase changes are timed.** A contest row carries `due_at`, the end of its current phase. Every
process runs `ContestService`'s loop; each pass asks the database for open contests whose `due_at`
has passed by this service's clock (`clock`, injectable so tests move time forward) and leases
them (`Repository.claim_due_contests`: lease expiry by the database's clock, a new `lease_epoch`).
The holder changes the phase with `Repository.advance_contest`, fenced by that epoch, which queues
the announcement (an outbox step) in the same transaction; `FollowUps` then posts it once through
`announce`, in whichever process claims the step. The loop sleeps until the nearest due time (at
most `SWEEP_INTERVAL`), rides out a database outage (`Outage`), and a restart simply finds the
rows again. `/contest end` makes the current phase due now and wakes the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable

import discord

from bot.access.visibility import Visibility
from bot.cluster.leases import Leases
from bot.contests import events, render, wording
from bot.contests.durations import parse_duration
from bot.contests.render import Entry
from bot.core.errors import InvalidInput, Phrase
from bot.core.loops import Outage, stop_task
from bot.i18n import t
from bot.songs.delivery import Delivery
from bot.songs.follow_ups import FollowUps
from bot.songs.render import NO_MENTIONS
from bot.songs.service import SongService
from bot.storage.contests import Contest, LeaderRow, parse_step_key, period_start
from bot.storage.models import DatabaseUnavailable, SongRow
from bot.storage.outbox import OutboxItem
from bot.storage.repository import Repository

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 15.0
"""The longest the loop sleeps: a contest whose end was moved by another process is seen this soon."""
MAX_ENTRIES_TOTAL = 25
"""Entries per contest: the vote menu holds 25 options."""
THEME_MAX = 100
RULES_MAX = 1000
MAX_ENTRIES_PER_MEMBER = 5

VoteView = Callable[[Contest, list[Entry], str], discord.ui.View]


def nonce(key: str) -> str:
    """A stable nonce (Discord takes 25 characters) so a repeated post returns the first message."""
    return hashlib.sha256(key.encode()).hexdigest()[:25]


class ContestService:
    def __init__(
        self,
        repo: Repository,
        client: discord.Client,
        *,
        songs: SongService,
        delivery: Delivery,
        visibility: Visibility,
        follow_ups: FollowUps,
        leases: Leases,
        clock: Callable[[], float],
    ) -> None:
        self._repo = repo
        self._client = client
        self._songs = songs
        self._delivery = delivery
        self._visibility = visibility
        self._follow_ups = follow_ups
        self._leases = leases
        self._clock = clock
        self.vote_view: VoteView | None = None
        """The vote menu under the vote message; set by the contest cog, which owns the UI."""
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def now(self) -> float:
        return self._clock()

    # -- the loop ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="contest-timers")

    async def stop(self) -> None:
        await stop_task(self._runner)
        self._runner = None

    def wake(self) -> None:
        """Look for due contests now (after `/contest end`, or a test moving the clock)."""
        self._wake.set()

    async def _run(self) -> None:
        outage = Outage("Contest timers")
        alone = not self._leases.shared  # then every claim in the database was this process's own
        while True:
            try:
                if alone:
                    await self._repo.release_contest_claims()
                    alone = False
                await self.tick()
                outage.over()
                interval = await self._until_next_due()
            except DatabaseUnavailable as exc:
                interval = outage.seen(exc)
            except Exception:
                log.exception("Contest timers failed; trying again shortly")
                interval = SWEEP_INTERVAL
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()

    async def _until_next_due(self) -> float:
        row = await self._repo.next_contest_due()
        if row is None:
            return SWEEP_INTERVAL
        return min(SWEEP_INTERVAL, max(0.5, row - self.now()))

    async def tick(self) -> int:
        """Change the phase of every contest due by now that this process can lease; how many."""
        claimed = await self._repo.claim_due_contests(self._leases.owner, self._leases.ttl, self.now())
        for contest in claimed:
            try:
                advanced = await self._repo.advance_contest(contest, self.now())
            except DatabaseUnavailable:
                raise
            except Exception:
                log.exception("Contest %d: the phase change failed; it is tried again", contest.id)
                await self._repo.release_contest(contest)
                continue
            if advanced is None:
                log.info("Contest %d changed meanwhile (cancelled, or taken over); nothing done here", contest.id)
            else:
                log.info("Contest %d: %s → %s", contest.id, contest.phase, advanced.phase)
        if claimed:
            self._follow_ups.wake()
        return len(claimed)

    # -- commands ---------------------------------------------------------------------------------

    async def start_contest(
        self,
        *,
        guild_id: int,
        channel_id: int,
        starter_id: int,
        theme: str,
        rules: str,
        submit_for: str,
        vote_for: str,
        max_entries: int,
    ) -> Contest:
        """Create the contest, its results event (or the reason there is none) and its message."""
        submit_seconds = parse_duration("submit_for", submit_for)
        vote_seconds = parse_duration("vote_for", vote_for)
        if not 1 <= max_entries <= MAX_ENTRIES_PER_MEMBER:
            raise InvalidInput(wording.BAD_MAX_ENTRIES, most=MAX_ENTRIES_PER_MEMBER)
        contest = await self._repo.create_contest(
            guild_id=guild_id,
            channel_id=channel_id,
            starter_id=starter_id,
            theme=theme,
            rules=rules,
            max_entries=max_entries,
            started_at=self.now(),
            submit_seconds=submit_seconds,
            vote_seconds=vote_seconds,
        )
        if contest is None:
            raise InvalidInput(wording.CHANNEL_TAKEN)
        locale = await self._delivery.languages.of(guild_id)
        event_id, note = await events.create_results_event(self._client, contest, locale)
        channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        shown = await self._with(contest, event_id=event_id, event_note=note)
        try:
            embed = await self._contest_embed(shown, [])
            message = await channel.send(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("Could not post the message of contest %d (%s); contest discarded", contest.id, exc.code)
            await self._repo.discard_contest(contest.id)
            if event_id is not None:
                with contextlib.suppress(discord.HTTPException):
                    await self._client.http.delete_scheduled_event(guild_id, event_id)
            raise InvalidInput(wording.NOT_POSTED) from None
        await self._repo.update_contest(contest.id, message_id=message.id, event_id=event_id, event_note=note)
        self.wake()  # the loop's sleep now ends at this contest's deadline
        return await self._with(shown, message_id=message.id)

    async def _with(self, contest: Contest, **fields: object) -> Contest:
        """The contest as stored after `update_contest(**fields)` (read back, so nothing drifts)."""
        await self._repo.update_contest(contest.id, **fields)
        fresh = await self._repo.contest(contest.id)
        assert fresh is not None
        return fresh

    async def contest_here(self, guild_id: int, channel_id: int | None) -> Contest:
        """The open contest in this channel, or the server's only open contest."""
        open_ones = await self._repo.open_contests(guild_id)
        here = [contest for contest in open_ones if contest.channel_id == channel_id]
        if here:
            return here[0]
        if len(open_ones) == 1:
            return open_ones[0]
        if open_ones:
            raise InvalidInput(wording.SEVERAL_OPEN)
        raise InvalidInput(wording.NONE_OPEN)

    async def entries(self, contest: Contest) -> list[Entry]:
        listed = []
        for entry in await self._repo.contest_entries(contest.id):
            listed.append(Entry(entry, await self._repo.song(entry.song_id)))
        return listed

    async def submit(self, contest: Contest, member: discord.Member, reference: str) -> SongRow:
        """Enter a song: the member's own, made in this server since the contest started, in a
        channel everyone can view (entries are played to the whole server), within the limits."""
        if contest.phase != "submitting":
            raise InvalidInput(wording.ENTRIES_CLOSED)
        song = await self._songs.find_song(member.guild.id, reference)
        if song.kind != "song":
            raise InvalidInput(wording.NOT_A_BOT_SONG)
        if song.requester_id != member.id and member.id not in (song.credits or []):
            raise InvalidInput(wording.NOT_YOURS)
        if song.created_at < contest.started_at:
            raise InvalidInput(wording.TOO_OLD, started=int(contest.started_at))
        if not await self._visibility.member_can_view(member, song.channel_id):
            raise InvalidInput(wording.CANNOT_SEE)
        if not await self._visibility.everyone_can_view(member.guild, song.channel_id):
            raise InvalidInput(wording.PRIVATE_CHANNEL)
        outcome = await self._repo.add_contest_entry(
            contest.id, song.id, member.id, self.now(), max_total=MAX_ENTRIES_TOTAL
        )
        if outcome == "closed":
            raise InvalidInput(wording.ENTRIES_CLOSED)
        if outcome == "duplicate":
            raise InvalidInput(wording.ALREADY_ENTERED)
        if outcome == "member_full":
            if contest.max_entries == 1:
                raise InvalidInput(wording.MEMBER_FULL_ONE)
            raise InvalidInput(wording.MEMBER_FULL, count=contest.max_entries)
        if outcome == "full":
            raise InvalidInput(wording.CONTEST_FULL, most=MAX_ENTRIES_TOTAL)
        await self.refresh(contest.id)
        return song

    async def withdraw(self, contest: Contest, member: discord.Member, song_id: str) -> None:
        if contest.phase != "submitting":
            raise InvalidInput(wording.WITHDRAW_TOO_LATE)
        if not await self._repo.withdraw_contest_entry(contest.id, song_id, member.id):
            raise InvalidInput(wording.NOT_YOUR_ENTRY)
        await self.refresh(contest.id)

    async def vote(self, contest_id: int, member: discord.Member, song_id: str) -> Phrase:
        """Record the member's one vote (replacing an earlier one); what to tell them, privately."""
        contest = await self._repo.contest(contest_id)
        if contest is None or contest.phase != "voting" or self.now() >= contest.due_at:
            raise InvalidInput(wording.VOTING_CLOSED)
        started = contest.voting_started_at or contest.due_at
        if member.joined_at is None or member.joined_at.timestamp() > started:
            raise InvalidInput(wording.JOINED_LATE)
        entries = {item.entry.song_id: item for item in await self.entries(contest)}
        chosen = entries.get(song_id)
        if chosen is None:
            raise InvalidInput(wording.NOT_AN_ENTRY)
        if chosen.entry.member_id == member.id:
            raise InvalidInput(wording.OWN_SONG)
        previous = await self._repo.vote_of(contest.id, member.id)
        if not await self._repo.cast_vote(contest.id, member.id, song_id, self.now()):
            raise InvalidInput(wording.VOTING_CLOSED)
        if previous == song_id:
            return Phrase(wording.SAME_VOTE, title=chosen.title())
        return Phrase(wording.VOTE_CHANGED if previous else wording.VOTE_IN, title=chosen.title())

    async def end_phase(self, contest: Contest) -> Phrase:
        """`/contest end`: the current phase is due now; the timers change it at once."""
        if not await self._repo.end_phase_now(contest.id, self.now()):
            raise InvalidInput(wording.ALREADY_ENDING)
        self.wake()
        return Phrase(wording.VOTING_STARTS if contest.phase == "submitting" else wording.VOTING_ENDS)

    async def cancel(self, contest: Contest) -> None:
        if await self._repo.cancel_contest(contest.id, self.now()) is None:
            raise InvalidInput(wording.ALREADY_ENDED)
        self._follow_ups.wake()

    async def leaderboard(self, guild_id: int, period: str) -> list[LeaderRow]:
        return await self._repo.leaderboard(guild_id, period_start(period, self.now()))

    # -- the contest message and the announcements (outbox steps) --------------------------------

    async def _contest_embed(self, contest: Contest, entries: list[Entry]) -> discord.Embed:
        url = events.event_url(contest.guild_id, contest.event_id) if contest.event_id else None
        locale = await self._delivery.languages.of(contest.guild_id)  # public: the server's language
        return render.contest_embed(contest, entries, event_url=url, locale=locale)

    async def refresh(self, contest_id: int) -> None:
        """Redraw the contest message from the database."""
        contest = await self._repo.contest(contest_id)
        if contest is None or contest.message_id is None:
            return
        embed = await self._contest_embed(contest, await self.entries(contest))
        message = self._client.get_partial_messageable(contest.channel_id, guild_id=contest.guild_id)
        try:
            await message.get_partial_message(contest.message_id).edit(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            if exc.status >= 500:
                raise
            log.warning("Could not update the message of contest %d (%s)", contest.id, exc.code)

    async def announce(self, item: OutboxItem) -> None:
        """The outbox's `contest` steps: the vote, the results, a cancellation. Each post is
        remembered (or carries a nonce), so a step repeated after a stop posts nothing twice."""
        contest_id, what = parse_step_key(item.key)
        contest = await self._repo.contest(contest_id)
        if contest is None:
            return
        entries = await self.entries(contest)
        channel = self._client.get_partial_messageable(contest.channel_id, guild_id=contest.guild_id)
        locale = await self._delivery.languages.of(contest.guild_id)  # public: the server's language
        if what == "voting" and contest.phase == "voting":
            await self._post_vote(contest, entries, channel, locale)
            if contest.vote_until != contest.submit_until + contest.vote_seconds:  # entries closed early
                await events.reschedule_event(self._client, contest)
        elif what == "finished":
            await self._post_results(contest, entries, channel, locale)
        elif what == "cancelled":
            await self._send(channel, f"contest:{contest.id}:cancelled", render.cancelled_text(contest, locale))
            await self._close_vote(contest, entries, channel, locale)
            await events.cancel_event(self._client, contest)
        await self.refresh(contest.id)

    async def _send(
        self, channel: discord.PartialMessageable, key: str, content: str, **extra: object
    ) -> discord.Message | None:
        try:
            return await channel.send(content, allowed_mentions=NO_MENTIONS, nonce=nonce(key), **extra)  # type: ignore[arg-type]
        except discord.HTTPException as exc:
            if exc.status >= 500:
                raise
            log.warning("Could not post %s (%s %s)", key, exc.status, exc.code)
            return None

    async def _post_vote(
        self, contest: Contest, entries: list[Entry], channel: discord.PartialMessageable, locale: str
    ) -> None:
        if contest.vote_message_id is not None:
            return
        extra: dict[str, object] = {"embed": render.vote_embed(contest, entries, locale)}
        if self.vote_view is not None:
            extra["view"] = self.vote_view(contest, entries, locale)
        text = t(locale, "🗳️ Voting is open for **{theme}**!", theme=discord.utils.escape_markdown(contest.theme))
        message = await self._send(channel, f"contest:{contest.id}:vote", text, **extra)
        if message is not None:
            await self._repo.update_contest(contest.id, vote_message_id=message.id)

    async def _close_vote(
        self, contest: Contest, entries: list[Entry], channel: discord.PartialMessageable, locale: str
    ) -> None:
        """The vote message loses its menu."""
        if contest.vote_message_id is None:
            return
        try:
            await channel.get_partial_message(contest.vote_message_id).edit(
                embed=render.vote_closed_embed(contest, entries, locale), view=None, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            if exc.status >= 500:
                raise
            log.info("Could not close the vote of contest %d (%s)", contest.id, exc.code)

    async def _post_results(
        self, contest: Contest, entries: list[Entry], channel: discord.PartialMessageable, locale: str
    ) -> None:
        if contest.results_message_id is None:
            # Posted with nonces and remembered only after the winners' songs: a step repeated after
            # a stop gets Discord's first messages back instead of posting them again.
            text = render.results_text(contest, entries, locale)
            message = await self._send(
                channel, f"contest:{contest.id}:results", text, embed=render.results_embed(contest, entries, locale)
            )
            if message is None:
                return
            for item in render.winners(entries):
                if item.song is not None:
                    await self._repost(contest, item, locale)
            await self._repo.update_contest(contest.id, results_message_id=message.id)
        await self._close_vote(contest, entries, channel, locale)
        await events.complete_event(self._client, contest)

    async def _repost(self, contest: Contest, item: Entry, locale: str) -> None:
        assert item.song is not None
        try:
            await self._delivery.repost(
                contest.channel_id,
                contest.guild_id,
                item.song,
                content=render.winner_text(item, locale),
                nonce=nonce(f"contest:{contest.id}:winner:{item.song.id}"),
            )
        except discord.HTTPException as exc:
            if exc.status >= 500:
                raise
            log.warning("Could not repost the winning song of contest %d (%s)", contest.id, exc.code)
