"""Lyrics from `/producer/lyrics`: for a member (`/lyrics`, Again) and for a jam (`/jam suggest`).

Each answer is stored as a draft, so the buttons under it (Sing it, Again, Add these) find the
full text again by id, after a restart too. Asking costs the `lyrics` price of `ACTION_COSTS`
(0 unless the owner sets one), charged before the call and given back when the API fails.
"""

from __future__ import annotations

import re

from bot.core.errors import ApiRejected, InvalidInput
from bot.producer.client import ProducerClient, ProducerError
from bot.producer.wording import describe_api_error
from bot.songs.quota import Charge
from bot.songs.service import SongService
from bot.songs.validation import LYRICS_MAX, PROMPT_MAX, TITLE_MAX, clean_text
from bot.storage.models import LyricsDraft
from bot.storage.repository import Jam, JamLine, Repository

LYRICS_PROMPT_MAX = PROMPT_MAX
"""`/producer/lyrics` documents no limit of its own; the audio prompt's 200 is the safe guess."""
SUGGESTED_LINES = 4
"""Lines a jam suggestion offers: a verse's worth, so members keep writing most of the song."""
LINE_MAX = 200
"""The jam's own line limit (`/jam add`)."""
_SECTION = re.compile(r"^\s*[\[(][^\])]*[\])]\s*$")


def jam_prompt(theme: str, lines: list[JamLine]) -> str:
    """A lyrics prompt from the jam's theme and its newest lines, within `LYRICS_PROMPT_MAX`."""
    base = f"Next lines for a song about {theme}"
    if not lines:
        return base[:LYRICS_PROMPT_MAX]
    lead = ". So far: "
    room = LYRICS_PROMPT_MAX - len(base) - len(lead)
    kept: list[str] = []
    for line in reversed(lines):
        candidate = [line.line, *kept]
        if len(" / ".join(candidate)) > room:
            if not kept and room > 1:
                kept = [line.line[: room - 1] + "…"]
            break
        kept = candidate
    return base + lead + " / ".join(kept) if kept else base[:LYRICS_PROMPT_MAX]


def next_lines(lyrics: str, existing: list[JamLine], *, count: int = SUGGESTED_LINES) -> list[str]:
    """The first `count` sung lines of `lyrics` that the jam does not have yet.

    Section tags (`[Chorus]`), blank lines and repeats are skipped; each line fits a jam line.
    """
    seen = {line.line.casefold() for line in existing}
    picked: list[str] = []
    for raw in lyrics.splitlines():
        text = clean_text("line", raw, limit=10_000)
        if not text or _SECTION.match(text) or text.casefold() in seen:
            continue
        seen.add(text.casefold())
        picked.append(text if len(text) <= LINE_MAX else text[: LINE_MAX - 1] + "…")
        if len(picked) == count:
            break
    return picked


class LyricsService:
    """Asks the API for lyrics, charges for them, and keeps each answer as a draft."""

    def __init__(self, songs: SongService, repo: Repository, api: ProducerClient) -> None:
        self._songs = songs
        self._repo = repo
        self._api = api

    async def _ask(self, guild_id: int, user_id: int, prompt: str) -> tuple[str, str, Charge]:
        """(title, lyrics, the charge) from the API; nothing charged when the API fails."""
        charge = await self._songs.charge_credits(guild_id, user_id, "lyrics")
        try:
            answer = await self._api.lyrics(prompt, guild_id=guild_id)
        except ProducerError as exc:
            await self._songs.refund_credits(charge)
            raise ApiRejected(describe_api_error(exc)) from None
        lyrics = clean_text("lyrics", answer.lyrics, limit=10 * LYRICS_MAX, multiline=True)
        if not lyrics:
            await self._songs.refund_credits(charge)
            raise ApiRejected("The lyrics writer returned nothing this time; try again. No credit was used.")
        title = clean_text("title", answer.title, limit=10_000)[:TITLE_MAX]
        return title, lyrics[:LYRICS_MAX], charge

    async def write(self, *, guild_id: int, channel_id: int, user_id: int, prompt: str) -> LyricsDraft:
        """`/lyrics prompt:` (and Again): new lyrics, stored as the member's draft."""
        prompt = clean_text("prompt", prompt, limit=LYRICS_PROMPT_MAX, required=True)
        title, lyrics, _ = await self._ask(guild_id, user_id, prompt)
        return await self._repo.add_lyrics_draft(
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            prompt=prompt,
            title=title or prompt[:TITLE_MAX],
            lyrics=lyrics,
            at=self._songs.now(),
        )

    async def draft(self, draft_id: int, user_id: int | None = None) -> LyricsDraft:
        """A stored draft; with `user_id`, only that member's own."""
        draft = await self._repo.lyrics_draft(draft_id)
        if draft is None:
            raise InvalidInput("Those lyrics are no longer stored; ask again with `/lyrics`.")
        if user_id is not None and draft.user_id != user_id:
            raise InvalidInput("Those lyrics were written for someone else; ask for your own with `/lyrics`.")
        return draft

    async def suggest(self, jam: Jam, lines: list[JamLine], *, channel_id: int, user_id: int) -> LyricsDraft:
        """`/jam suggest`: the next lines for `jam`, from its theme and the lines so far."""
        prompt = jam_prompt(jam.theme, lines)
        title, lyrics, charge = await self._ask(jam.guild_id, user_id, prompt)
        suggested = next_lines(lyrics, lines)
        if not suggested:
            await self._songs.refund_credits(charge)
            raise ApiRejected("The lyrics writer had no new lines this time; try again. No credit was used.")
        return await self._repo.add_lyrics_draft(
            guild_id=jam.guild_id,
            channel_id=channel_id,
            user_id=user_id,
            jam_id=jam.id,
            prompt=prompt,
            title=title,
            lyrics="\n".join(suggested),
            at=self._songs.now(),
        )
