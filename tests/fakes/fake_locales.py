"""What Discord checks in a command's localizations, and the locales members and servers speak.

Kept apart from `fake_discord.py`; `FakeDiscord._put_commands` calls `check_localizations` for each
command of a bulk overwrite, and `FakeDiscord` reads `user_locales` / `guild_locales` when it builds
interactions and guilds (both default to en-US, as a fresh Discord account is).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

DISCORD_LOCALES = frozenset(
    [
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    ]
)
"""Every locale Discord accepts as a key of `name_localizations` / `description_localizations`."""

Report = Callable[[tuple[Any, ...], str, str], None]
"""(path, code, message): records a field error like Discord's `Invalid Form Body`."""


def _name_char(char: str) -> bool:
    if char in "-_" or unicodedata.category(char)[0] in "LN":
        return True
    return "\u0900" <= char <= "\u097f" or "\u0e00" <= char <= "\u0e7f"


def valid_slash_name(name: str) -> bool:
    """Discord's `^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`, lowercase where the script has case."""
    return 1 <= len(name) <= 32 and name == name.lower() and all(_name_char(char) for char in name)


def _check_map(
    values: Any, path: tuple[Any, ...], report: Report, valid: Callable[[str], bool], what: str
) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        report(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return {}
    for locale, value in values.items():
        if locale not in DISCORD_LOCALES:
            report((*path, locale), "LOCALE_INVALID", f"Invalid locale: {locale}")
        elif not isinstance(value, str) or not valid(value):
            report((*path, locale), "APPLICATION_COMMAND_INVALID_NAME", f"Invalid {what}")
    return {locale: value for locale, value in values.items() if isinstance(value, str)}


def _description(text: str) -> bool:
    return 1 <= len(text) <= 100


def _options(options: list[dict[str, Any]], path: tuple[Any, ...], report: Report) -> None:
    names: dict[str, dict[str, int]] = {}
    for index, option in enumerate(options):
        where = (*path, index)
        localized = _check_map(
            option.get("name_localizations"), (*where, "name_localizations"), report, valid_slash_name, "name"
        )
        _check_map(
            option.get("description_localizations"),
            (*where, "description_localizations"),
            report,
            _description,
            "description",
        )
        for locale in DISCORD_LOCALES:
            name = localized.get(locale, option.get("name", ""))
            seen = names.setdefault(locale, {})
            if name in seen:
                report(
                    where,
                    "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                    f"Option name {name!r} is already used ({locale})",
                )
            seen[name] = index
        for number, choice in enumerate(option.get("choices") or []):
            _check_map(
                choice.get("name_localizations"),
                (*where, "choices", number, "name_localizations"),
                report,
                _description,
                "name",
            )
        if option.get("type") in (1, 2):
            _options(option.get("options") or [], (*where, "options"), report)


def check_localizations(commands: list[dict[str, Any]], report: Report) -> None:
    """Every localization of a bulk overwrite as Discord checks it: known locales, valid names and
    descriptions, option names unique per locale, and command names unique per locale and type."""
    taken: dict[tuple[int, str], dict[str, int]] = {}
    for index, command in enumerate(commands):
        ctype = command.get("type", 1)
        valid = valid_slash_name if ctype == 1 else (lambda name: 1 <= len(name) <= 32)
        localized = _check_map(command.get("name_localizations"), (index, "name_localizations"), report, valid, "name")
        _check_map(
            command.get("description_localizations"),
            (index, "description_localizations"),
            report,
            _description,
            "description",
        )
        for locale in DISCORD_LOCALES:
            name = localized.get(locale, command.get("name", ""))
            seen = taken.setdefault((ctype, locale), {})
            if name in seen:
                report(
                    (index, "name_localizations"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Command name {name!r} is already used ({locale})",
                )
            seen[name] = index
        _options(command.get("options") or [], (index, "options"), report)
