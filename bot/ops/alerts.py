"""Trouble with the bot's own Producer account: credits used up, or the API key refused.

Every member request fails the same way then, so the owner hears about it once, by DM, and not
once per failed song; members see it plainly in /quota. The alert is re-armed when the API works
again (a song accepted for credits, any answer for the key), so the next episode is told too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

import discord

from bot.i18n import N_
from bot.producer.client import ProducerError
from bot.storage.repository import Repository

log = logging.getLogger(__name__)

CREDITS, KEY = "credits", "key"
OWNER_DM_LEASE = 6 * 3600.0
"""Seconds one process's owner DM stands for the whole cluster. Every process sees the same API
error, so the DM is claimed through the database (a lease named after the problem): the first
process sends it, the others stay quiet. The holder gives the lease back when its episode ends;
should it die first, the lease runs out after this long."""

MEMBER_TEXT = {
    CREDITS: N_(
        "Songs are paused: the bot's Producer credits are used up. The bot's owner has been told; "
        "nothing is charged meanwhile."
    ),
    KEY: N_(
        "Songs are paused: the music service refused the bot's API key. The bot's owner has been told; "
        "nothing is charged meanwhile."
    ),
}
"""Catalog messages: the cogs show them in the member's language (`t(locale, notice)`)."""
OWNER_TEXT = {
    CREDITS: "Your Producer API credits are used up, so members' songs are failing (their credits are refunded). "
    "Top up at https://platform.acedata.cloud; songs work again at once, no restart needed. "
    "I will not message you again until it has worked once more.",
    KEY: "The Producer API refused PRODUCER_API_TOKEN ({code}), so no song can be made. Copy the token again from "
    "https://platform.acedata.cloud (Credentials), set it in .env or the environment, and restart the bot. "
    "`python -m bot check` tells you when it is right.",
}


def account_problem(error: ProducerError) -> str | None:
    """CREDITS or KEY when the error is about the bot's account rather than one request."""
    if error.code == "used_up":
        return CREDITS
    if error.auth_failed:
        return KEY
    return None


class OwnerContact(Protocol):
    """What alerts need from Discord (`MusicBot` implements it)."""

    async def dm_owner(self, text: str) -> None:
        """DM the bot's owner (a team's owner), once logged in; raises `discord.HTTPException`."""
        ...


class AccountAlerts:
    """Watches every API answer; DMs the owner once per episode; tells /quota what is wrong."""

    def __init__(self, contact: OwnerContact, repo: Repository, instance_id: str) -> None:
        self._contact = contact
        self._repo = repo
        self._instance_id = instance_id
        self._active: dict[str, str] = {}
        """Problem → the error code that raised it, while it lasts."""
        self._told: set[str] = set()
        self._jobs: set[asyncio.Task[None]] = set()

    @property
    def member_notice(self) -> str | None:
        """One plain sentence for members while the account has trouble, else None."""
        for problem in (KEY, CREDITS):
            if problem in self._active:
                return MEMBER_TEXT[problem]
        return None

    def observe(self, path: str, error: ProducerError | None) -> None:
        """An `AccountListener` for `ProducerClient`."""
        if error is None:
            self._end(KEY)
            if path == "/producer/audios":  # only a song accepted proves there are credits again
                self._end(CREDITS)
            return
        problem = account_problem(error)
        if problem is None:
            return
        self._active[problem] = error.code
        if problem in self._told:
            return
        self._told.add(problem)
        if problem == KEY:
            log.error(
                "PRODUCER_API_TOKEN WAS REFUSED by the Producer API (%s): no song can be made until it is fixed "
                "and the bot restarted",
                error.code,
            )
        else:
            log.error("The Producer API account's credits are used up (used_up): songs fail until it is topped up")
        self._spawn(self._tell_owner(problem, OWNER_TEXT[problem].format(code=error.code)))

    def _end(self, problem: str) -> None:
        """The episode is over here: re-arm, and give the cluster-wide DM claim back if this process held it."""
        self._active.pop(problem, None)
        if problem in self._told:
            self._told.discard(problem)
            self._spawn(self._release(f"owner-dm:{problem}"))

    async def _release(self, claim: str) -> None:
        try:
            await self._repo.release_lease(claim, self._instance_id)
        except Exception as exc:  # the lease then runs out by itself
            log.warning("Could not release %s (%s)", claim, type(exc).__name__)

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        job = asyncio.get_running_loop().create_task(work)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _tell_owner(self, problem: str, text: str) -> None:
        try:
            claim = f"owner-dm:{problem}"
            if not await self._repo.try_lease(claim, self._instance_id, OWNER_DM_LEASE):
                log.info("Another process of this bot has told the owner already")
                return
            await self._contact.dm_owner(text)
            log.info("Told the bot's owner about it by DM")
        except discord.HTTPException as exc:
            log.warning(
                "Could not DM the bot's owner (%s %s); the log line above is all they get", exc.status, exc.code
            )
        except Exception:
            log.exception("Could not DM the bot's owner")

    async def close(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
