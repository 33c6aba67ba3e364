"""Trouble with the bot's own Producer account: credits used up, or the API key refused.

Every member request fails the same way then, so the owner hears about it once, by DM, and not
once per failed song; members see it plainly in /quota. The alert is re-armed when the API works
again (a song accepted for credits, any answer for the key), so the next episode is told too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot.producer.client import ProducerError

if TYPE_CHECKING:
    from bot.bot import MusicBot

log = logging.getLogger(__name__)

CREDITS, KEY = "credits", "key"

MEMBER_TEXT = {
    CREDITS: "Songs are paused: the bot's Producer credits are used up. The bot's owner has been told; "
    "nothing is charged meanwhile.",
    KEY: "Songs are paused: the music service refused the bot's API key. The bot's owner has been told; "
    "nothing is charged meanwhile.",
}
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


class AccountAlerts:
    """Watches every API answer; DMs the owner once per episode; tells /quota what is wrong."""

    def __init__(self, bot: MusicBot) -> None:
        self._bot = bot
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
            self._active.pop(KEY, None)
            self._told.discard(KEY)
            if path == "/producer/audios":  # only a song accepted proves there are credits again
                self._active.pop(CREDITS, None)
                self._told.discard(CREDITS)
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
        job = asyncio.get_running_loop().create_task(self._tell_owner(OWNER_TEXT[problem].format(code=error.code)))
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _tell_owner(self, text: str) -> None:
        try:
            await self._bot.wait_until_ready()
            info = await self._bot.application_info()
            owner = info.team.owner if info.team and info.team.owner else info.owner
            await owner.send(text, allowed_mentions=discord.AllowedMentions.none())
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
