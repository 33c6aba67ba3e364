"""Favourites: members' stars on songs, and the one post of a song to its server's favourites channel."""

from __future__ import annotations

from collections.abc import Iterable

from bot.storage.outbox import OutboxRepository, OutboxStep


class FavouriteRepository(OutboxRepository):
    """Stars (one per member per song) and favourites-channel posts (one per song)."""

    async def toggle_star(self, song_id: str, guild_id: int, user_id: int, at: float) -> tuple[bool, int]:
        """Star the song for the member, or take their star back if they had one.

        Returns (starred now, the song's star count), both read in the same transaction, so the
        member who brings a song to a threshold sees exactly that count.
        """
        async with self._transaction() as tx:
            if self.dialect == "postgres":
                # Stars on one song are counted one transaction at a time (SQLite's writer lock does
                # this by itself), so each press sees a count that includes every earlier press.
                await tx.fetchone("SELECT id FROM songs WHERE id = ? FOR UPDATE", (song_id,))
            added = await tx.execute(
                "INSERT INTO song_stars (song_id, user_id, guild_id, starred_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (song_id, user_id) DO NOTHING",
                (song_id, user_id, guild_id, at),
            )
            if not added:
                await tx.execute("DELETE FROM song_stars WHERE song_id = ? AND user_id = ?", (song_id, user_id))
            row = await tx.fetchone("SELECT COUNT(*) FROM song_stars WHERE song_id = ?", (song_id,))
        return bool(added), int(row[0]) if row else 0

    async def star_count(self, song_id: str) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM song_stars WHERE song_id = ?", (song_id,))
        return int(row[0]) if row else 0

    async def star_counts(self, song_ids: Iterable[str], *, since: float | None = None) -> dict[str, int]:
        """Stars per song (only those given since `since`, when set); songs without stars are left out."""
        ids = list(dict.fromkeys(song_ids))
        if not ids:
            return {}
        recent = " AND starred_at >= ?" if since is not None else ""
        rows = await self._fetchall(
            f"SELECT song_id, COUNT(*) FROM song_stars WHERE song_id IN ({', '.join('?' for _ in ids)}){recent} "
            "GROUP BY song_id",
            (*ids, *([since] if since is not None else [])),
        )
        return {str(song_id): int(count) for song_id, count in rows}

    async def queue_favourite_post(
        self, song_id: str, guild_id: int, channel_id: int, at: float, *, stale_after: float = 600.0
    ) -> bool:
        """Claim the song's favourites post and queue it in the outbox, in one transaction.

        True for exactly one caller per song; the post itself is then done once by whichever process
        claims the step (see `bot.storage.outbox`), even if this one stops right after. A claim whose
        post never happened and is no longer queued (its step was given up) may be taken again once
        it is `stale_after` seconds old, so a favourite is not kept from ever being posted.
        """
        async with self._transaction() as tx:
            claimed = await tx.execute(
                "INSERT INTO favourite_posts (song_id, guild_id, channel_id, posted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (song_id) DO UPDATE SET channel_id = excluded.channel_id, "
                "posted_at = excluded.posted_at WHERE favourite_posts.message_id IS NULL "
                "AND favourite_posts.posted_at < ? AND NOT EXISTS (SELECT 1 FROM outbox WHERE "
                "outbox.song_id = favourite_posts.song_id AND outbox.kind = 'favourite' AND outbox.state = 'ready')",
                (song_id, guild_id, channel_id, at, at - stale_after),
            )
            if not claimed:
                return False
            key = f"favourite:{song_id}:{at}"
            await self._queue_steps(
                tx, [OutboxStep(key, "favourite", guild_id, song_id=song_id, channel_id=channel_id)]
            )
        return True

    async def set_favourite_message(self, song_id: str, message_id: int) -> None:
        await self._write("UPDATE favourite_posts SET message_id = ? WHERE song_id = ?", (message_id, song_id))

    async def release_favourite_post(self, song_id: str) -> None:
        """Give the claim back when the post failed, so the next star tries again."""
        await self._write("DELETE FROM favourite_posts WHERE song_id = ? AND message_id IS NULL", (song_id,))
