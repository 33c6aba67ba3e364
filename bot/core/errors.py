"""Errors a member may see.

Anything raised as a `UserError` reaches the member as an ephemeral message through the one
error handler in `bot.app.errors.MusicTree`; everything else is logged and answered with a generic line.
"""

from __future__ import annotations

from discord import app_commands


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
