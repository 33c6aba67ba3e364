"""Member preferences, lyrics drafts, remembered song copies (WAV, video, DM) and credit charges
for things that are not songs (lyrics).

Only the backend-neutral helpers of `RepositoryBase` and portable SQL, so every method runs
unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from bot.storage.billing import BillingRepository
from bot.storage.models import CreditLimits, Limits, LyricsDraft, Preferences, SongCopy


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


_DRAFT_COLUMNS = "id, guild_id, channel_id, user_id, jam_id, prompt, title, lyrics, used_by, created_at"
_COPY_COLUMNS = "song_id, kind, url, channel_id, message_id, created_at"
_SELECT_DRAFT = (
    "SELECT id, guild_id, channel_id, user_id, jam_id, prompt, title, lyrics, used_by, created_at "
    "FROM lyrics_drafts WHERE id = ?"
)
_SELECT_COPY = (
    "SELECT song_id, kind, url, channel_id, message_id, created_at FROM song_copies WHERE song_id = ? AND kind = ?"
)
_ADD_MEMBER_USE = (
    "INSERT INTO member_usage (guild_id, user_id, day, used) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET used = member_usage.used + excluded.used"
)
_ADD_MEMBER_USE_CAPPED = _ADD_MEMBER_USE + " WHERE member_usage.used + excluded.used <= ?"


def _draft(row: tuple[Any, ...]) -> LyricsDraft:
    return LyricsDraft(*row)


def _copy(row: tuple[Any, ...]) -> SongCopy:
    return SongCopy(*row)


class FeatureRepository(BillingRepository):
    """Preferences, lyrics drafts, song copies and extra charges; mixed into `Repository`."""

    # -- preferences ---------------------------------------------------------------------------

    async def preferences(self, user_id: int) -> Preferences:
        row = await self._fetchone(
            "SELECT user_id, auto_dm, model, style_suffix FROM member_preferences WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return Preferences(user_id=user_id)
        return Preferences(user_id=int(row[0]), auto_dm=bool(row[1]), model=row[2], style_suffix=row[3] or "")

    async def save_preferences(self, prefs: Preferences, at: float) -> None:
        """Store a member's whole set of preferences (all defaults: the row goes)."""
        if prefs.is_default:
            await self._write("DELETE FROM member_preferences WHERE user_id = ?", (prefs.user_id,))
            return
        await self._write(
            "INSERT INTO member_preferences (user_id, auto_dm, model, style_suffix, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET auto_dm = excluded.auto_dm, model = excluded.model, "
            "style_suffix = excluded.style_suffix, updated_at = excluded.updated_at",
            (prefs.user_id, int(prefs.auto_dm), prefs.model, prefs.style_suffix, at),
        )

    # -- lyrics drafts -------------------------------------------------------------------------

    async def add_lyrics_draft(
        self,
        *,
        guild_id: int,
        channel_id: int,
        user_id: int,
        prompt: str,
        title: str,
        lyrics: str,
        at: float,
        jam_id: int | None = None,
    ) -> LyricsDraft:
        row = await self._fetchone(
            "INSERT INTO lyrics_drafts (guild_id, channel_id, user_id, jam_id, prompt, title, lyrics, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING " + _DRAFT_COLUMNS,
            (guild_id, channel_id, user_id, jam_id, prompt, title, lyrics, at),
        )
        assert row is not None
        return _draft(row)

    async def lyrics_draft(self, draft_id: int) -> LyricsDraft | None:
        row = await self._fetchone(_SELECT_DRAFT, (draft_id,))
        return _draft(row) if row else None

    async def use_lyrics_draft(self, draft_id: int, user_id: int) -> bool:
        """Mark a suggestion used by `user_id`; False when someone already used it."""
        changed = await self._write(
            "UPDATE lyrics_drafts SET used_by = ? WHERE id = ? AND used_by IS NULL", (user_id, draft_id)
        )
        return changed == 1

    async def release_lyrics_draft(self, draft_id: int) -> None:
        """Undo `use_lyrics_draft` when nothing could be added after all."""
        await self._write("UPDATE lyrics_drafts SET used_by = NULL WHERE id = ?", (draft_id,))

    # -- song copies ---------------------------------------------------------------------------

    async def song_copy(self, song_id: str, kind: str) -> SongCopy | None:
        row = await self._fetchone(_SELECT_COPY, (song_id, kind))
        return _copy(row) if row else None

    async def save_song_copy(self, song_id: str, kind: str, url: str | None, at: float) -> SongCopy:
        """Remember a copy's URL; the first one stored wins (a concurrent second answer is dropped)."""
        await self._write(
            "INSERT INTO song_copies (song_id, kind, url, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (song_id, kind) DO UPDATE SET url = COALESCE(song_copies.url, excluded.url)",
            (song_id, kind, url, at),
        )
        row = await self._fetchone(_SELECT_COPY, (song_id, kind))
        assert row is not None
        return _copy(row)

    async def claim_song_copy(self, song_id: str, kind: str, at: float) -> bool:
        """Take the one right to make a copy (the auto-DM): False when it was already taken."""
        inserted = await self._write(
            "INSERT INTO song_copies (song_id, kind, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (song_id, kind) DO NOTHING",
            (song_id, kind, at),
        )
        return inserted == 1

    async def set_song_copy_message(self, song_id: str, kind: str, channel_id: int, message_id: int) -> None:
        await self._write(
            "UPDATE song_copies SET channel_id = ?, message_id = ? WHERE song_id = ? AND kind = ?",
            (channel_id, message_id, song_id, kind),
        )

    # -- credits for things that are not songs (lyrics) ------------------------------------------

    async def charge_credits(
        self, guild_id: int, user_id: int, day: str, cost: int, limits: CreditLimits, *, action: str = "lyrics"
    ) -> str | None:
        """Take `cost` credits from the guild's and the member's day, or none at all.

        Returns None when charged, else the reason ("guild", "member" or "budget"). Each daily counter
        moves in one conditional upsert, so concurrent charges never take either over its limit; a
        later refusal rolls the earlier ones back with the transaction. The month's counter (the
        budget) is read and written under the guild's lock, as song charges do.
        """
        if cost <= 0:
            return None
        if cost > limits.daily_allowance:
            return "guild"
        if limits.member_daily_cap is not None and cost > limits.member_daily_cap:
            return "member"
        try:
            async with self._transaction() as tx:
                # Song charges (tasks.py) read the guild's counters and decide under this lock; taking
                # it here too keeps a concurrent lyrics charge from slipping between their read and write.
                await self._lock_guilds(tx, [guild_id])
                guild = await tx.execute(
                    "INSERT INTO quota_usage (guild_id, day, used) VALUES (?, ?, ?) "
                    "ON CONFLICT (guild_id, day) DO UPDATE SET used = quota_usage.used + excluded.used "
                    "WHERE quota_usage.used + excluded.used <= ?",
                    (guild_id, day, cost, limits.daily_allowance),
                )
                if guild != 1:
                    raise _Refused("guild")
                cap = limits.member_daily_cap
                if cap is None:
                    member = await tx.execute(_ADD_MEMBER_USE, (guild_id, user_id, day, cost))
                else:
                    member = await tx.execute(_ADD_MEMBER_USE_CAPPED, (guild_id, user_id, day, cost, cap))
                if member != 1:
                    raise _Refused("member")
                as_limits = Limits(
                    limits.daily_allowance, limits.member_daily_cap, 0, 0, 0, limits.monthly_budget, limits.own_key
                )
                months = await self._read_months(tx, [(guild_id, day)])
                if months.refuses(guild_id, day, cost, as_limits):
                    raise _Refused("budget")
                months.take(guild_id, day, cost, as_limits)
                await self._write_months(tx, months)
                await self._move_credit_usage(tx, guild_id, user_id, day, action, cost)
        except _Refused as refused:
            return refused.reason
        return None

    async def refund_credits(
        self, guild_id: int, user_id: int, day: str, cost: int, *, action: str = "lyrics", own_key: bool = False
    ) -> None:
        """Give back what `charge_credits` took (never below zero)."""
        if cost <= 0:
            return
        async with self._transaction() as tx:
            # Under the guild's lock, so a song charge's read-decide-write cannot overwrite the refund.
            await self._lock_guilds(tx, [guild_id])
            await tx.execute(
                "UPDATE quota_usage SET used = CASE WHEN used > ? THEN used - ? ELSE 0 END "
                "WHERE guild_id = ? AND day = ?",
                (cost, cost, guild_id, day),
            )
            await tx.execute(
                "UPDATE member_usage SET used = CASE WHEN used > ? THEN used - ? ELSE 0 END "
                "WHERE guild_id = ? AND user_id = ? AND day = ?",
                (cost, cost, guild_id, user_id, day),
            )
            await self._move_credit_usage(tx, guild_id, user_id, day, action, -cost, own_key=own_key)
