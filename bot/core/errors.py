"""Errors a member may see.

Anything raised as a `UserError` reaches the member as an ephemeral message through the one
error handler in `bot.app.commands.report_error`; everything else is logged and answered with a
generic line. The message is an English template with named placeholders, the parameters given
by keyword (`InvalidInput("`{name}` is too long.", name=name)`): the handler translates the template
into the member's language (`bot.i18n`) and fills it in, so write it for the catalog, never as an
f-string. `message` is the English text, for logs and for callers that have no member's locale.
"""

from __future__ import annotations

from typing import Any

from discord import app_commands


class Phrase:
    """A sentence for a member, still in English: a catalog template and its parameters.

    For layers below `bot.i18n` (the API's wording, failure reasons stored with a task): they
    cannot translate, so they hand this on and `bot.i18n.t` translates it where it is shown (a
    parameter that is itself a `Phrase` is translated too). `str()` is the English sentence.
    """

    __slots__ = ("count", "params", "plural", "template")

    def __init__(self, template: str, /, **params: Any) -> None:
        self.template = template
        self.params = params
        self.plural: str | None = None
        self.count = 0

    @classmethod
    def counted(cls, singular: str, plural: str, count: int, /, **params: Any) -> Phrase:
        """A sentence with a number in it: the catalog picks the plural form for `count` (`{count}`)."""
        phrase = cls(singular, count=count, **params)
        phrase.plural, phrase.count = plural, count
        return phrase

    def __str__(self) -> str:
        template = self.plural if self.plural is not None and self.count != 1 else self.template
        return template.format(**{name: str(value) for name, value in self.params.items()})

    def __repr__(self) -> str:
        return f"Phrase({self.template!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Phrase):
            return NotImplemented
        mine = (self.template, self.plural, self.count, self.params)
        return mine == (other.template, other.plural, other.count, other.params)

    def __hash__(self) -> int:
        return hash((self.template, self.plural, self.count))


class UserError(app_commands.AppCommandError):
    """A failure whose message is written for the member who caused it (a template, or a `Phrase`)."""

    def __init__(self, template: str | Phrase, /, **params: Any) -> None:
        self.phrase = template if isinstance(template, Phrase) else Phrase(template, **params)
        self.phrase.params.update(params)
        self.message = str(self.phrase) if self.phrase.params else self.phrase.template
        super().__init__(self.message)


class InvalidInput(UserError):
    """Bad options: refused before any credit is charged."""


class QuotaExceeded(UserError):
    """The guild has used its songs for today."""


class QueueFull(UserError):
    """The guild's line of waiting songs is full; nothing was charged."""


class ApiRejected(UserError):
    """The Producer API refused or failed the request; credits were not kept."""
