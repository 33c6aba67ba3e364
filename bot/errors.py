"""Errors a member may see, and the plain words for each API failure.

Anything raised as a `UserError` reaches the member as an ephemeral message through the one
error handler in `bot.bot.MusicTree`; everything else is logged and answered with a generic line.
"""

from __future__ import annotations

from discord import app_commands

from bot.producer.client import ProducerError


class UserError(app_commands.AppCommandError):
    """A failure whose message is written for the member who caused it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(UserError):
    """Bad options: refused before any credit is charged."""


class QuotaExceeded(UserError):
    """The guild has used its songs for today."""


class QueueFull(UserError):
    """The guild's line of waiting songs is full; nothing was charged."""


class ApiRejected(UserError):
    """The Producer API refused or failed the request; credits were not kept."""


def describe_api_error(error: ProducerError) -> str:
    """Turn an API failure into one sentence for the member, plus what happened to their credit."""
    if error.auth_failed:
        return "The music service refused the bot's API key; the bot's owner has been told. No credit was used."
    if error.code == "used_up":
        return "The bot's Producer credits are used up; the bot's owner has been told. No credit was used."
    if error.code == "too_many_requests":
        return "The music service is busy right now, try again in a minute. No credit was used."
    if error.code == "forbidden":
        detail = f": {error.message}" if error.message else "."
        return f"The API's content filter rejected this request{detail} No credit was used."
    if error.code == "bad_request" or (400 <= error.status < 500):
        detail = error.message or "the request was invalid"
        return f"The music service refused the request: {detail}. No credit was used."
    return "The music service had an error and did not take the request, try again later. No credit was used."
