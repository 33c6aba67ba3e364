"""Localized slash commands: discord.py asks this translator for every name and description at sync.

discord.py wraps every command's name, description, option name and description, and choice name
in `locale_str` itself, so the cogs need no change; `bot.app` sets this translator on the tree.
Names are looked up under a gettext context (`msgctxt`), so a translator knows which strings are
command names (lowercase, no spaces) and a name never collides with a sentence of the same text.
A translated name Discord would refuse is dropped (the English name stays) and logged, so one bad
catalog entry never costs the whole sync.
"""

from __future__ import annotations

import logging
import unicodedata

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n.catalogs import SOURCE_LANGUAGE, languages, resolve, t, tc

log = logging.getLogger(__name__)

SLASH_NAME = "slash command name"
"""The msgctxt of command, group and option names: lowercase, 1–32 letters, digits, - or _."""
MENU_NAME = "app menu name"
"""The msgctxt of right-click (context menu) names: any 1–32 characters."""
_NAMES = {Where.command_name, Where.group_name, Where.parameter_name}


def _allowed(char: str) -> bool:
    """Discord's `[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]`."""
    if char in "-_" or unicodedata.category(char)[0] in "LN":
        return True
    return "\u0900" <= char <= "\u097f" or "\u0e00" <= char <= "\u0e7f"  # Devanagari, Thai


def valid_command_name(name: str) -> bool:
    """Whether Discord accepts `name` for a slash command, group or option (in any locale)."""
    return 1 <= len(name) <= 32 and name == name.lower() and all(_allowed(char) for char in name)


def is_language_choice(context: app_commands.TranslationContextTypes) -> bool:
    """A choice of `/settings language:`: named in its own language, the same for everyone."""
    data = context.data
    return (
        context.location is Where.choice_name
        and isinstance(data, app_commands.Choice)
        and str(data.value) in languages()
    )


def command_name(locale: object, name: str) -> str:
    """A command, group or option name as this member's Discord shows it (for text that names one)."""
    translated = tc(locale, SLASH_NAME, name)
    return translated if translated is not None and valid_command_name(translated) else name


class CommandTranslator(app_commands.Translator):
    """Command names, descriptions and choices from the catalogs, for every shipped language."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if resolve(locale) == SOURCE_LANGUAGE:
            return None
        message = string.message
        if is_language_choice(context):
            return None
        if context.location in _NAMES:
            menu = isinstance(context.data, app_commands.ContextMenu)
            translated = tc(locale, MENU_NAME if menu else SLASH_NAME, message)
            if translated is None:
                return None
            if menu:
                return translated if 1 <= len(translated) <= 32 else None
            if not valid_command_name(translated):
                log.warning("Ignoring the %s name %r for %r: Discord would refuse it", locale, translated, message)
                return None
            return translated
        translated = t(locale, message)
        if translated == message:
            return None
        limit = 100
        return translated if len(translated) <= limit else translated[: limit - 1] + "…"
