"""A member's own defaults (`/prefer`), the same in every server.

* `auto_dm`: every finished song of theirs is also sent to them by DM, once.
* `model`: their default model. Which model a new song uses, first match wins:
  the command's `model` option > the member's `/prefer model` > the server's `/settings
  default_model` > `DEFAULT_MODEL`. The issue words it "under a server's own default only when I
  have not chosen": a server's default fills in only for members who have not chosen one.
  Follow-ups on an existing song (Extend, Cover, …) keep that song's model, as before.
* `style_suffix`: added to the end of every prompt or style the member types (see `add_suffix`).
"""

from __future__ import annotations

import time

from bot.core.errors import InvalidInput
from bot.core.settings import MODELS
from bot.songs.requests import Clock
from bot.songs.service import SongService
from bot.songs.validation import clean_text
from bot.storage.models import Preferences
from bot.storage.repository import Repository

STYLE_SUFFIX_MAX = 100
"""As long as Midjourney's /prefer suffix needs to be, and leaves room in a 200-character prompt."""
TIGHT_PUNCTUATION = ",;.!?)"


def add_suffix(name: str, text: str, suffix: str, *, limit: int) -> str:
    """`text` with the member's suffix at its end (after a space, or straight after when the suffix
    starts with punctuation such as `, lo-fi`); the suffix alone when `text` is empty; `text` as it
    is when it already ends with the suffix.

    Over `limit` is a clear error naming both parts, raised before anything is charged.
    """
    if not suffix or text.endswith(suffix.lstrip(TIGHT_PUNCTUATION + " ")):
        return text  # already there (a form pre-filled with a song's style that has it)
    if not text:
        joined = suffix.lstrip(TIGHT_PUNCTUATION + " ")
    else:
        joined = text + ("" if suffix[0] in TIGHT_PUNCTUATION else " ") + suffix
    if len(joined) > limit:
        raise InvalidInput(
            "`{name}` with your `/prefer style_suffix` added is {length} characters; the limit is {limit}. "
            "Shorten it, or change the suffix with `/prefer`.",
            name=name,
            length=len(joined),
            limit=limit,
        )
    return joined


CACHE_SECONDS = 30.0
"""Preferences are read on every song command, before it is acknowledged, so they are kept in
memory this long. A change through /prefer in this process shows at once; one made through
another bot process (a cluster) shows within this time."""
CACHE_SIZE = 10_000


class PreferenceService:
    """Reads and changes members' preferences; the cogs ask it for a member's model and suffix."""

    def __init__(self, repo: Repository, songs: SongService, *, clock: Clock) -> None:
        self._repo = repo
        self._songs = songs
        self._clock = clock
        self._cache: dict[int, tuple[float, Preferences]] = {}

    async def get(self, user_id: int) -> Preferences:
        now = time.monotonic()
        cached = self._cache.get(user_id)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        prefs = await self._repo.preferences(user_id)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))  # the oldest entry
        self._cache[user_id] = (now, prefs)
        return prefs

    async def model_for(self, guild_id: int, user_id: int) -> str:
        """A new song's model when the command named none: mine, else the server's default."""
        return (await self.get(user_id)).model or await self._songs.default_model(guild_id)

    async def update(
        self,
        user_id: int,
        *,
        auto_dm: bool | None = None,
        model: str | None = None,
        style_suffix: str | None = None,
        reset: bool = False,
    ) -> Preferences:
        """Change the given preferences; `reset` clears all of them first (then applies the rest)."""
        if model is not None and model not in MODELS:
            raise InvalidInput("`model` must be one of: {models}.", models=", ".join(MODELS))
        suffix = clean_text("style_suffix", style_suffix, limit=STYLE_SUFFIX_MAX) if style_suffix is not None else None
        if style_suffix is not None and not suffix:
            raise InvalidInput("`style_suffix` cannot be empty; use `reset:True` to clear your preferences.")
        current = Preferences(user_id=user_id) if reset else await self._repo.preferences(user_id)
        updated = Preferences(
            user_id=user_id,
            auto_dm=current.auto_dm if auto_dm is None else auto_dm,
            model=current.model if model is None else model,
            style_suffix=current.style_suffix if suffix is None else suffix,
        )
        await self._repo.save_preferences(updated, self._clock())
        self._cache.pop(user_id, None)
        return updated

    async def styled(self, user_id: int, name: str, text: str, *, limit: int) -> str:
        """`text` (a prompt or style the member typed) with their suffix added."""
        prefs = await self.get(user_id)
        return add_suffix(name, text, prefs.style_suffix, limit=limit)
