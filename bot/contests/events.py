"""The Discord scheduled event for a contest's results: members mark it and Discord reminds them.

An EXTERNAL event (Discord's entity type 3) located at the contest channel, starting when the
results are due. Discord moves an external event SCHEDULED → ACTIVE → COMPLETED (or SCHEDULED →
CANCELED) and may start or end one by itself at its times, so "already active" or "already
finished" answers are normal here. Missing permissions never stop a contest: creating answers
with the reason to show on the contest message instead.

REST through the client's HTTP session (`client.http`), like the composition root's other direct
calls: the results may be announced by a process that does not run the guild's shard.
"""

from __future__ import annotations

import datetime as dt
import logging

import discord

from bot.contests.render import NO_EVENT_PERMISSION
from bot.core.errors import Phrase
from bot.i18n import t
from bot.songs.render import clip
from bot.storage.contests import Contest

log = logging.getLogger(__name__)

EXTERNAL = 3
GUILD_ONLY = 2
ACTIVE = 2
COMPLETED = 3
CANCELED = 4
EVENT_LENGTH = 3600.0
"""An external event needs an end time: the results' event lasts an hour in Discord's list."""


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat()


def event_url(guild_id: int, event_id: int) -> str:
    return f"https://discord.com/events/{guild_id}/{event_id}"


async def create_results_event(
    client: discord.Client, contest: Contest, locale: str | None = None
) -> tuple[int | None, str | None]:
    """(event id, None) or (None, why there is none, in English) for a new contest; the event is
    named in `locale`, the server's language."""
    location = f"https://discord.com/channels/{contest.guild_id}/{contest.channel_id}"
    payload = {
        "name": clip(t(locale, "Contest results: {theme}", theme=contest.theme), 100),
        "description": clip(
            t(locale, "The results of the song contest “{theme}”, announced in the channel.", theme=contest.theme),
            1000,
        ),
        "privacy_level": GUILD_ONLY,
        "entity_type": EXTERNAL,
        "entity_metadata": {"location": location},
        "scheduled_start_time": _iso(contest.vote_until),
        "scheduled_end_time": _iso(contest.vote_until + EVENT_LENGTH),
    }
    try:
        created = await client.http.create_guild_scheduled_event(contest.guild_id, **payload)
    except discord.Forbidden:
        log.info("Contest %d: no scheduled event (missing Create Events permission)", contest.id)
        return None, str(NO_EVENT_PERMISSION)  # stored in English; the contest message translates it
    except discord.HTTPException as exc:
        log.warning("Contest %d: Discord refused the scheduled event (%s %s)", contest.id, exc.status, exc.code)
        return None, str(Phrase("No scheduled event: Discord refused it ({status}).", status=exc.status))
    return int(created["id"]), None


async def _set_status(client: discord.Client, contest: Contest, status: int) -> bool:
    """True when the event took the status; False when Discord says it cannot (already there or
    past it, deleted, or no permission). A fault that may pass (5xx) is raised for a retry."""
    assert contest.event_id is not None
    try:
        await client.http.edit_scheduled_event(contest.guild_id, contest.event_id, status=status)
    except discord.HTTPException as exc:
        if exc.status >= 500:
            raise
        log.info(
            "Contest %d: event %d did not take status %d (%s %s)",
            contest.id,
            contest.event_id,
            status,
            exc.status,
            exc.code,
        )
        return False
    return True


async def reschedule_event(client: discord.Client, contest: Contest) -> None:
    """The results moved (entries were closed early): the event follows, so reminders come on time."""
    if contest.event_id is None:
        return
    try:
        await client.http.edit_scheduled_event(
            contest.guild_id,
            contest.event_id,
            scheduled_start_time=_iso(contest.vote_until),
            scheduled_end_time=_iso(contest.vote_until + EVENT_LENGTH),
        )
    except discord.HTTPException as exc:
        if exc.status >= 500:
            raise
        log.info("Contest %d: event %d was not moved (%s %s)", contest.id, contest.event_id, exc.status, exc.code)


async def complete_event(client: discord.Client, contest: Contest) -> None:
    """The results are out: start the event (if Discord has not), then complete it."""
    if contest.event_id is None:
        return
    await _set_status(client, contest, ACTIVE)
    await _set_status(client, contest, COMPLETED)


async def cancel_event(client: discord.Client, contest: Contest) -> None:
    """No results will come: cancel a scheduled event, or end one already active."""
    if contest.event_id is None:
        return
    if not await _set_status(client, contest, CANCELED):
        await _set_status(client, contest, COMPLETED)
